"""The tables of a PostGIS twin, their creation and their upgrades.

The tables mirror the GeoPackage layout (:mod:`twin.store.gpkg.schema`,
same names and columns, same schema version numbers), in one PostgreSQL
schema (``public`` unless the URL names another):

* ``twin_features`` with ``geom geometry`` (the SRID of the twin; 2D
  footprints, lines and points with their heights), the exact 3D bounds
  ``min_x`` .. ``max_z``, typed attributes as columns (``double precision``,
  ``bigint``, ``text``), free-form ones as ``json`` (kept as written) and the
  partition key ``tile``; ids, layers and types in byte order (``COLLATE
  "C"``, :data:`KEY_TEXT`). Indexes: a GiST index over the plan bounds (the
  twin's bbox and 3D-box queries, refined against the exact bounds), the
  unique feature id, layer and type, parent, batch.
* ``twin_meshes``, ``twin_edges`` (with ``tile``, so that they can live in
  the partition of their feature), ``twin_batches``, ``twin_layers`` (with
  each layer's plan extent), ``twin_meta``, ``twin_migrations`` and the
  sequence ``twin_fid_seq`` that hands out feature keys (concurrent imports
  draw from it without waiting for each other).
* One **view per layer**, named as the layer, for QGIS and GDAL: its
  ``geom`` is cast to the layer's type and SRID (``MultiPolygon``; lines,
  points and mixed layers as ``...Z``: a line stored without heights shows
  ``z = 0`` there, the twin itself keeps it 2D), so PostGIS's
  ``geometry_columns`` registers it with type, dimension and SRID. Partial
  GiST indexes over exactly those expressions (:func:`spatial_indexes`)
  answer QGIS's ``geom && box`` on a view.
* The GiST indexes are built after the first import's rows are committed
  (a sorted build, far cheaper than keeping them up to date row by row
  while a city is loaded), in a transaction of their own that blocks no
  reader; later imports keep them up to date.

**Partitioned layout** (``?partitions=N`` at creation): ``twin_features``,
``twin_meshes`` and ``twin_edges`` are split by ``HASH (tile)`` into N
partitions each, their keys become ``(tile, fid)``, and feature ids are kept
unique across partitions by ``twin_ids (feature_id PRIMARY KEY, tile,
fid)`` (PostgreSQL cannot enforce a unique column that does not include the
partition key). The same key lets Citus distribute the three tables,
co-located: see ``docs/store.md``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ...attributes import TYPED_ATTRIBUTES
from ...layers import Layer
from ...sensors import schema as sensors
from ..migrate import Migration
from ..rows import layer_view_columns
from ..versions import HEALTH_CHECKS_TABLE, fill_digests
from .connection import quote_ident

FORMAT_NAME = "digital-twin-postgis"

_PG_TYPES = {"real": "double precision", "integer": "bigint", "text": "text"}

#: Ids, layers, types, LoDs and network nodes: text in byte order, as the
#: GeoPackage compares them. Their B-trees then compare with ``memcmp``
#: instead of the database locale's rules (with a UTF-8 locale, about a tenth
#: of the server's time in a bulk load), and ``LIKE 'prefix%'`` can use them.
#: Twins created before keep the database's collation: equal for equality,
#: an order that may differ only past ASCII.
KEY_TEXT = 'text COLLATE "C"'

#: GIS type of each layer geometry type, and whether the view forces Z.
_GIS_TYPES = {"MULTIPOLYGON": ("MultiPolygon", False), "LINESTRING": ("LineStringZ", True),
              "POINT": ("PointZ", True), "GEOMETRY": ("GeometryZ", True)}

#: Secondary B-tree indexes of the features and edges: name -> definition.
#: The spatial (GiST) ones come from :func:`spatial_indexes`.
FEATURE_INDEXES = {
    "twin_features_layer_type": "CREATE INDEX twin_features_layer_type ON "
                                "twin_features (layer, type)",
    "twin_features_parent": "CREATE INDEX twin_features_parent ON twin_features (parent_id) "
                            "WHERE parent_id IS NOT NULL",
    "twin_features_batch": "CREATE INDEX twin_features_batch ON twin_features (batch_id)",
    "twin_edges_network": "CREATE INDEX twin_edges_network ON twin_edges (network)",
    "twin_edges_start": "CREATE INDEX twin_edges_start ON twin_edges (start_node)",
    "twin_edges_end": "CREATE INDEX twin_edges_end ON twin_edges (end_node)",
}


def id_index_sql(partitioned: bool) -> str:
    """Feature ids: unique in the plain layout; in the partitioned one an
    index per partition (``twin_ids`` keeps them unique)."""
    if partitioned:
        return "CREATE INDEX twin_features_id ON twin_features (feature_id)"
    return "CREATE UNIQUE INDEX twin_features_id ON twin_features (feature_id)"


def schema_statements(partitions: int) -> list[str]:
    """The statements that create an empty twin's tables (not its layers)."""
    typed = ", ".join(f"{a.name} {_PG_TYPES[a.kind]}" for a in TYPED_ATTRIBUTES.values())
    part = partitions > 0
    key = "(tile, fid)" if part else "(fid)"
    by = " PARTITION BY HASH (tile)" if part else ""
    out = [
        "CREATE TABLE twin_meta (key text PRIMARY KEY, value text)",
        "CREATE TABLE twin_migrations (version integer PRIMARY KEY, applied text NOT NULL, "
        "toolkit_version text NOT NULL, description text NOT NULL)",
        "CREATE TABLE twin_layers (name text PRIMARY KEY, title text NOT NULL, title_zh text, "
        "grp text NOT NULL, colour text NOT NULL, geometry_type text NOT NULL, code text, "
        "attributes text NOT NULL, standard boolean NOT NULL, position integer NOT NULL, "
        "min_x double precision, min_y double precision, max_x double precision, "
        "max_y double precision)",
        "CREATE TABLE twin_batches (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
        "source text NOT NULL, format text NOT NULL, converter text NOT NULL, "
        "converter_version text NOT NULL, started text NOT NULL, finished text, "
        "status text NOT NULL, feature_count bigint NOT NULL DEFAULT 0, report text, "
        "fid_min bigint, fid_max bigint)",
        "CREATE SEQUENCE twin_fid_seq",
        f"CREATE TABLE twin_features (fid bigint NOT NULL, feature_id {KEY_TEXT} NOT NULL, "
        f"layer {KEY_TEXT} NOT NULL, type {KEY_TEXT} NOT NULL, name text, "
        f"parent_id {KEY_TEXT}, lod text, "
        f"geom geometry, min_x double precision, min_y double precision, "
        f"min_z double precision, max_x double precision, max_y double precision, "
        f"max_z double precision, source_id text, batch_id bigint NOT NULL, attributes json, "
        f"{typed}, tile bigint NOT NULL DEFAULT 0, digest text, PRIMARY KEY {key}){by}",
        f"CREATE TABLE twin_meshes (fid bigint NOT NULL, lod {KEY_TEXT} NOT NULL, "
        f"n_vertices integer NOT NULL, n_faces integer NOT NULL, ox double precision NOT NULL, "
        f"oy double precision NOT NULL, oz double precision NOT NULL, vertices bytea NOT NULL, "
        f"faces bytea NOT NULL, face_labels bytea, labels text, tile bigint NOT NULL, "
        f"PRIMARY KEY ({'tile, ' if part else ''}fid, lod)){by}",
        f"CREATE TABLE twin_edges (fid bigint NOT NULL, network {KEY_TEXT} NOT NULL, "
        f"start_node {KEY_TEXT} NOT NULL, end_node {KEY_TEXT} NOT NULL, "
        f"tile bigint NOT NULL, "
        f"PRIMARY KEY {key}){by}",
    ]
    if part:
        out.append(f"CREATE TABLE twin_ids (feature_id {KEY_TEXT} PRIMARY KEY, "
                   "tile bigint NOT NULL, fid bigint NOT NULL)")
        for table in ("twin_features", "twin_meshes", "twin_edges"):
            for r in range(partitions):
                out.append(f"CREATE TABLE {table}_p{r} PARTITION OF {table} "
                           f"FOR VALUES WITH (MODULUS {partitions}, REMAINDER {r})")
    out.append(id_index_sql(part))
    out += list(FEATURE_INDEXES.values())
    return out + history_statements() + sensors.sensor_statements("postgis")


def history_statements() -> list[str]:
    """The history of versions (schema 3): earlier versions of features, the
    feature row and the batch that ended it, with a GiST index over the plan
    bounds (as-of box queries) and B-trees on id, batches."""
    return [
        "CREATE TABLE twin_history (LIKE twin_features INCLUDING DEFAULTS, "
        "retired_batch bigint NOT NULL, PRIMARY KEY (fid))",
        "CREATE INDEX twin_history_id ON twin_history (feature_id)",
        "CREATE INDEX twin_history_retired ON twin_history (retired_batch)",
        "CREATE INDEX twin_history_batch ON twin_history (batch_id)",
        "CREATE INDEX twin_history_bounds ON twin_history USING gist "
        "(ST_MakeEnvelope(min_x, min_y, max_x, max_y))",
        HEALTH_CHECKS_TABLE,
    ]


def gis_geometry_sql(layer: Layer, srid: int) -> str:
    """The expression a layer's view shows as ``geom`` (typed, with SRID)."""
    kind, force_z = _GIS_TYPES[layer.geometry_type]
    inner = "ST_Force3DZ(geom)" if force_z else "geom"
    return f"({inner})::geometry({kind}, {int(srid)})"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: Refuses writes into a layer view with a message saying how to change the
#: twin (PostgreSQL makes a simple view writable: an edit saved from QGIS
#: would change ``twin_features`` past batches, checks and the revision).
READ_ONLY_FUNCTION = (
    "CREATE OR REPLACE FUNCTION twin_read_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION '% is a read-only view of the twin: change features by "
    "importing them (twin import) so that each change is a batch, validated and undoable', "
    "TG_TABLE_NAME USING ERRCODE = 'read_only_sql_transaction'; END $$")


def layer_statements(layer: Layer, srid: int) -> list[str]:
    """A layer's view, read-only for clients (its GiST index:
    :func:`spatial_indexes`)."""
    geom = gis_geometry_sql(layer, srid)
    cols = [f"{geom} AS geom" if c == "geom" else c for c in layer_view_columns(layer)]
    view = quote_ident(layer.name)
    return [
        f"CREATE VIEW {view} AS SELECT {', '.join(cols)} "
        f"FROM twin_features WHERE layer = {_literal(layer.name)}",
        f"COMMENT ON VIEW {view} IS " + _literal(f"{layer.title} {layer.title_zh}".strip()),
        READ_ONLY_FUNCTION,
        f"CREATE TRIGGER {quote_ident(layer.name + '_read_only')} INSTEAD OF INSERT OR UPDATE "
        f"OR DELETE ON {view} FOR EACH ROW EXECUTE FUNCTION twin_read_only()",
    ]


def spatial_indexes(layers: list[Layer], srid: int) -> dict[str, str]:
    """The GiST indexes of a twin: name -> ``CREATE INDEX IF NOT EXISTS``.

    * ``twin_features_bounds``: the plan bounds, for the twin's own bbox and
      3D-box queries;
    * the layers' GIS geometry, partial indexes over exactly the expression
      each view shows, so that a GIS client's ``geom && box`` on a view is an
      index search: one per geometry type for the standard layers (``WHERE
      layer = ANY(...)``, which PostgreSQL proves from a view's ``layer = 'x'``)
      and one per user layer.
    """
    out = {"twin_features_bounds": "CREATE INDEX IF NOT EXISTS twin_features_bounds ON "
                                   "twin_features USING gist "
                                   "(ST_MakeEnvelope(min_x, min_y, max_x, max_y))"}
    groups: dict[str, list[Layer]] = {}
    for layer in layers:
        if layer.standard:
            groups.setdefault(layer.geometry_type, []).append(layer)
        else:
            name = f"twin_gis_layer_{layer.name}"
            if len(name) > 63:
                name = (f"twin_gis_layer_{layer.name[:30]}_"
                        f"{hashlib.sha1(layer.name.encode()).hexdigest()[:8]}")
            out[name] = (f"CREATE INDEX IF NOT EXISTS {quote_ident(name)} ON twin_features "
                         f"USING gist (({gis_geometry_sql(layer, srid)})) "
                         f"WHERE layer = {_literal(layer.name)}")
    for gtype, members in groups.items():
        names = "{" + ",".join(m.name for m in members) + "}"
        name = f"twin_gis_type_{gtype.lower()}"
        out[name] = (f"CREATE INDEX IF NOT EXISTS {name} ON twin_features USING gist "
                     f"(({gis_geometry_sql(members[0], srid)})) "
                     f"WHERE layer = ANY({_literal(names)}::text[])")
    return out


def layer_row(layer: Layer, position: int) -> tuple:
    return (layer.name, layer.title, layer.title_zh, layer.group, layer.colour,
            layer.geometry_type, layer.code, json.dumps(list(layer.attributes)),
            bool(layer.standard), position)


LAYER_INSERT = ("INSERT INTO twin_layers (name, title, title_zh, grp, colour, geometry_type, "
                "code, attributes, standard, position) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)")

#: Tables of a twin (dropped when ``twin init --force`` replaces one).
TWIN_TABLES = ("twin_features", "twin_history", "twin_health_checks", "twin_meshes",
               "twin_edges", "twin_ids", "twin_batches", "twin_layers", "twin_meta",
               "twin_migrations", "twin_jobs", *sensors.SENSOR_TABLES)


def recompute_extents(conn: Any) -> None:
    """Every layer's plan extent from its features (after features were
    removed); the layer rows are locked in name order first, as every
    writer does, so that two writers never wait for each other in a cycle."""
    conn.execute("SELECT name FROM twin_layers ORDER BY name FOR UPDATE")
    conn.execute(
        "UPDATE twin_layers l SET min_x = e.a, min_y = e.b, max_x = e.c, max_y = e.d "
        "FROM (SELECT n.name, MIN(f.min_x) a, MIN(f.min_y) b, MAX(f.max_x) c, "
        "MAX(f.max_y) d FROM twin_layers n LEFT JOIN twin_features f ON f.layer = n.name "
        "GROUP BY n.name) e WHERE l.name = e.name")


def grow_extents(conn: Any, extents: dict[str, Any]) -> None:
    """Widen the extents of the layers an import added to (in name order)."""
    for name in sorted(extents):
        e = extents[name]
        conn.execute(
            "UPDATE twin_layers SET min_x = LEAST(min_x, %s), min_y = LEAST(min_y, %s), "
            "max_x = GREATEST(max_x, %s), max_y = GREATEST(max_y, %s) WHERE name = %s",
            (float(e[0]), float(e[1]), float(e[3]), float(e[4]), name))


def _v3(conn: Any, meta: dict[str, str]) -> None:
    """Version 2 -> 3: feature versions: a digest per current row (computed
    from the stored values, as an import computes it) and the history table."""
    conn.execute("ALTER TABLE twin_features ADD COLUMN digest text")
    for stmt in history_statements():
        conn.execute(stmt)
    fill_digests(conn.execute_binary)


#: Upgrade steps of PostGIS twins: the first ones were written at schema 2;
#: the next version adds its step here (and in the GeoPackage's list).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(3, "feature versions: digests and the history table", _v3),
    Migration(sensors.VERSION, sensors.DESCRIPTION, sensors.migrate_postgis),)
