"""The stored shape of a feature: its columns, by name, in both backends.

A feature is kept as one row of ``twin_features`` (plus rows of
``twin_meshes`` and, for a network link, one of ``twin_edges``). Both stores
read and write those rows as plain tuples in the column orders below; code
reads a value by name through :data:`F` (``row[F.source_id]``), never by a
bare number.

Feature row (``FEATURE_COLUMNS``, as written):

* ``fid``: the store's integer key; also the insertion order.
* ``feature_id``: the feature's stable id (``cityjson:...``, ``ifc:...``).
* ``layer``, ``type``, ``name``, ``parent_id``, ``lod``.
* ``geom``: the 2D geometry GIS tools see (footprint, centreline, point).
* ``min_x`` .. ``max_z``: the exact 3D bounds (``min_z``/``max_z`` null
  where the heights are unknown); the spatial indexes are built over these.
  (Not ``xmin``: PostgreSQL keeps that name for a system column.)
* ``source_id``, ``batch_id``: where the feature came from.
* ``attributes``: the free-form attributes as JSON text.
* one column per typed attribute (:data:`twin.attributes.TYPED_ATTRIBUTES`).
* ``tile``: the spatial partition key (:func:`twin.store.codec.tile_keys`).
* ``digest``: a hash of everything the version holds (row, meshes, edge;
  :func:`twin.store.digests.version_digests`): a re-import compares it to tell
  an unchanged feature from a changed one without reading the feature.

Earlier versions of features (schema 3) are kept in ``twin_history``: the
same columns followed by ``retired_batch``, the import that replaced or
retired the version (``HISTORY_COLUMNS``).

Read rows (``SELECT_COLUMNS``) are the feature row followed by the edge's
``network``, ``start_node`` and ``end_node``, read as ``edge_network``,
``edge_start`` and ``edge_end`` (null for features without an edge; the
typed attribute ``network`` is another column).
"""

from __future__ import annotations

from ..attributes import TYPED_ATTRIBUTES
from ..layers import Layer


class RowPositions:
    """Positions of named columns in a row tuple: ``row[F.fid]``."""

    def __init__(self, columns: tuple[str, ...]):
        if len(set(columns)) != len(columns):
            raise ValueError(f"column names repeat: {columns}")
        self.columns = columns
        for i, name in enumerate(columns):
            setattr(self, name, i)

    def __len__(self) -> int:
        return len(self.columns)

    def __getattr__(self, name: str) -> int:
        # only reached for a name that is not a column (columns are set above);
        # declared so that type checkers know every column is an int
        raise AttributeError(f"no column {name!r} among {self.columns}")


#: The typed attributes, in column order.
TYPED = tuple(TYPED_ATTRIBUTES)

CORE_COLUMNS = (
    "fid", "feature_id", "layer", "type", "name", "parent_id", "lod", "geom",
    "min_x", "min_y", "min_z", "max_x", "max_y", "max_z", "source_id", "batch_id", "attributes",
)
FEATURE_COLUMNS = CORE_COLUMNS + TYPED + ("tile", "digest")
#: The columns of ``twin_history``: a feature row and the batch that ended it.
HISTORY_COLUMNS = FEATURE_COLUMNS + ("retired_batch",)
EDGE_COLUMNS = ("network", "start_node", "end_node")
SELECT_COLUMNS = FEATURE_COLUMNS + ("edge_network", "edge_start", "edge_end")

#: Positions in a read row (the written row is its prefix).
F = RowPositions(SELECT_COLUMNS)
#: The typed attributes' slice of a row.
TYPED_SLICE = slice(len(CORE_COLUMNS), len(CORE_COLUMNS) + len(TYPED))
#: The bounds' slice of a row (``min_x, min_y, min_z, max_x, max_y, max_z``).
BOUNDS_SLICE = slice(CORE_COLUMNS.index("min_x"), CORE_COLUMNS.index("max_z") + 1)

MESH_COLUMNS = ("fid", "lod", "n_vertices", "n_faces", "ox", "oy", "oz", "vertices", "faces",
                "face_labels", "labels")
#: Positions in a mesh row.
M = RowPositions(MESH_COLUMNS)

EDGE_ROW_COLUMNS = ("fid",) + EDGE_COLUMNS

BATCH_COLUMNS = ("id", "source", "format", "converter", "converter_version", "started",
                 "finished", "status", "feature_count", "report")

#: The SQL expression of each core query field (``Query`` filters, ``order``).
CORE_FIELD_SQL = {
    "id": "f.feature_id", "layer": "f.layer", "type": "f.type", "name": "f.name",
    "parent": "f.parent_id", "lod": "f.lod", "batch": "f.batch_id",
    "source_id": "f.source_id",
}


def layer_view_columns(layer: Layer) -> list[str]:
    """The columns of a layer's view, as GIS users see them (both backends):
    the bounds' heights keep the names ``zmin``/``zmax`` of the first layout."""
    return ["fid", "geom", "feature_id", "type", "name", "parent_id", "lod", "min_z AS zmin",
            "max_z AS zmax", *layer.attributes, "attributes", "source_id", "batch_id"]
