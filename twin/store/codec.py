"""Values to stored columns and back, for every backend (no SQL here).

* **Meshes** are kept as three blobs: vertices as little-endian ``float32``
  relative to the mesh's own minimum corner (the corner itself as three
  doubles: sub-millimetre for objects up to ~1 km across, half the bytes of
  doubles), faces as ``uint16`` where the mesh has at most 65,535 vertices
  (``uint32`` otherwise) and per-face semantic label indices as ``int16``,
  with the label names as a JSON list.
* **Attributes**: the typed ones (:mod:`twin.attributes`) become columns,
  checked on the way in; the free-form ones are one JSON text.
* **Tiles**: the spatial partition key of a feature (see :func:`tile_keys`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ..attributes import STORED_TYPES, TYPED_ATTRIBUTES, coerce_typed, is_stored_as_is
from ..errors import FeatureError, StoreError
from ..model import Edge, Feature, Mesh, Provenance
from .rows import BOUNDS_SLICE, TYPED, TYPED_SLICE, F

#: Position of each typed attribute among the typed columns.
TYPED_INDEX = {name: i for i, name in enumerate(TYPED)}
#: The Python type each typed column stores (by position).
_STORED = [STORED_TYPES[TYPED_ATTRIBUTES[name].kind] for name in TYPED]

#: Side of the square tiles of the default partition key, in metres.
DEFAULT_TILE_SIZE = 1000.0
_TILE_OFFSET = 1 << 20  # tile numbers are shifted to be positive


# -- meshes ---------------------------------------------------------------
def encode_mesh(mesh: Mesh) -> tuple:
    """``(n_vertices, n_faces, ox, oy, oz, vertices, faces, face_labels,
    labels)`` of one mesh (the mesh row without its ``fid`` and ``lod``)."""
    v = mesh.vertices
    o = v.min(axis=0) if len(v) else np.zeros(3)
    rel = (v - o).astype("<f4")
    dtype = "<u2" if len(v) <= 0xFFFF else "<u4"
    fl = mesh.face_labels.astype("<i2").tobytes() if mesh.face_labels is not None else None
    return (len(v), len(mesh.faces), float(o[0]), float(o[1]), float(o[2]), rel.tobytes(),
            mesh.faces.astype(dtype).tobytes(), fl,
            json.dumps(list(mesh.labels)) if mesh.labels else None)


#: Vertices of the meshes :func:`encode_meshes` encodes with one set of numpy
#: calls: larger arrays cost more in first-touched memory than the calls save
#: (an IFC import's first chunk, 505 meshes of 502,000 vertices: 307 ms in
#: one set, 17 ms in sets of 65,536 vertices; later chunks 15 ms either way).
GROUP_VERTICES = 1 << 16


def encode_meshes(meshes: Sequence[Mesh]) -> list[tuple]:
    """:func:`encode_mesh` of many meshes with a handful of numpy calls for
    each run of up to :data:`GROUP_VERTICES` vertices (small meshes dominate
    a city: a block building has 8 vertices)."""
    if not meshes:
        return []
    vs = [m.vertices for m in meshes]  # each read once: no property call a mesh
    nv = np.fromiter(map(len, vs), np.int64, len(vs))
    # a run starts where the vertices before a mesh pass a multiple of GROUP_VERTICES
    run = (np.cumsum(nv) - nv) // GROUP_VERTICES
    cuts = [0, *(np.flatnonzero(np.diff(run)) + 1).tolist(), len(meshes)]
    out: list[tuple] = []
    for a, b in zip(cuts, cuts[1:]):
        out += _encode_group(meshes[a:b], vs[a:b], nv[a:b])
    return out


def _encode_group(meshes: Sequence[Mesh], vs: list[np.ndarray], nv: np.ndarray) -> list[tuple]:
    if nv.max() > 0xFFFF:
        return [encode_mesh(m) for m in meshes]
    starts = np.concatenate([[0], np.cumsum(nv)[:-1]])
    allv = np.concatenate(vs)
    mins = np.minimum.reduceat(allv, starts, axis=0)
    rel = (allv - np.repeat(mins, nv, axis=0)).astype("<f4").tobytes()
    fs = [m.faces for m in meshes]
    nf = np.fromiter(map(len, fs), np.int64, len(fs))
    allf = np.concatenate(fs).astype("<u2").tobytes()
    vpos = np.concatenate([[0], np.cumsum(nv * 12)]).tolist()  # plain ints and floats
    fpos = np.concatenate([[0], np.cumsum(nf * 6)]).tolist()
    label_json: dict[tuple, str | None] = {}
    out = []
    for m, n_v, n_f, o, v0, v1, f0, f1 in zip(meshes, nv.tolist(), nf.tolist(), mins.tolist(),
                                              vpos, vpos[1:], fpos, fpos[1:]):
        labels = m.labels
        if labels not in label_json:
            label_json[labels] = json.dumps(list(labels)) if labels else None
        fl = m.face_labels
        out.append((n_v, n_f, o[0], o[1], o[2], rel[v0:v1], allf[f0:f1],
                    None if fl is None else fl.astype("<i2").tobytes(), label_json[labels]))
    return out


def decode_mesh(nv: int, nf: int, ox: float, oy: float, oz: float, vb: bytes, fb: bytes,
                flb: bytes | None, labels: str | None) -> Mesh:
    """The mesh of one stored row (the inverse of :func:`encode_mesh`)."""
    v = np.frombuffer(vb, dtype="<f4").reshape(nv, 3).astype(np.float64) + (ox, oy, oz)
    dtype = "<u2" if len(fb) == nf * 6 else "<u4"
    f = np.frombuffer(fb, dtype=dtype).reshape(nf, 3).astype(np.int64)
    fl = np.frombuffer(flb, dtype="<i2") if flb is not None else None
    if nf and int(f.max()) >= nv:  # a damaged or forged file, not one a store wrote
        raise StoreError(f"a stored mesh has a face index out of range ({int(f.max())} for "
                         f"{nv} vertices)")
    # written by a store from checked meshes: the other checks are not repeated
    return Mesh.trusted(v, f, fl, label_list(labels) if labels else ())


@lru_cache(maxsize=256)
def label_list(text: str) -> tuple[str, ...]:
    """Semantic label lists, the same few for thousands of meshes."""
    return tuple(json.loads(text))


# -- attributes -------------------------------------------------------------
def json_default(o: Any) -> Any:
    """JSON for the values converters hand us besides JSON's own."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


#: ``json.dumps(..., default=json_default, ensure_ascii=False, allow_nan=False)``
#: made once: ``json.dumps`` with options builds an encoder per call (0.6 us of
#: the 1.9 us a feature's few attributes take)
_FREE_ENCODER = json.JSONEncoder(default=json_default, ensure_ascii=False, allow_nan=False)


def free_json(free: dict[str, Any], feature_id: str) -> str | None:
    """The free-form attributes as stored (JSON text), or a clear error."""
    try:
        return _FREE_ENCODER.encode(free) if free else None
    except ValueError as exc:
        raise FeatureError(f"feature {feature_id!r}: attribute value not storable: {exc}",
                           feature_id) from None


def split_attributes(attributes: Any, feature_id: str) -> tuple[list[Any], str | None]:
    """``(typed column values, free-form JSON)`` of a feature's attributes;
    typed values are checked and converted (:func:`twin.attributes.coerce_typed`)."""
    typed: list[Any] = [None] * len(TYPED)
    free = {}
    for key, val in attributes.items():
        idx = TYPED_INDEX.get(key)
        if idx is None:
            free[key] = val
        elif is_stored_as_is(val, _STORED[idx]):  # coerce_typed's test, without its look-ups
            typed[idx] = val
        else:
            typed[idx] = coerce_typed(key, val, feature_id)
    return typed, free_json(free, feature_id)


def report_json(report: dict[str, Any]) -> str:
    """An import report as stored with its batch."""
    return json.dumps(report, default=json_default, ensure_ascii=False)


# -- partition key ------------------------------------------------------------
def tile_keys(bounds: np.ndarray, size: float = DEFAULT_TILE_SIZE) -> np.ndarray:
    """The partition key of features from their bounds.

    The twin's plane is cut into squares of ``size`` metres; a feature
    belongs to the square holding the centre of its plan bounds, numbered
    ``column * 2**21 + row`` with column and row counted from far outside any
    projected CRS (so every key is a positive 64-bit integer, and features
    close together share a key). Features without bounds get key 0.

    Parameters
    ----------
    bounds : (n, 6) float
        ``xmin, ymin, zmin, xmax, ymax, zmax``; rows of NaN for no bounds.

    >>> int(tile_keys(np.array([[1500.0, 200.0, 0, 1700.0, 400.0, 9]]))[0])
    2199026401280
    """
    b = np.asarray(bounds, dtype=np.float64).reshape(-1, 6)
    cx = (b[:, 0] + b[:, 3]) / 2
    cy = (b[:, 1] + b[:, 4]) / 2
    known = np.isfinite(cx) & np.isfinite(cy)
    out = np.zeros(len(b), np.int64)
    col = np.floor(cx[known] / size).astype(np.int64) + _TILE_OFFSET
    row = np.floor(cy[known] / size).astype(np.int64) + _TILE_OFFSET
    out[known] = col * (1 << 21) + row
    return out


# -- rows to features ---------------------------------------------------------
def rows_to_features(rows: Sequence[Sequence[Any]], geoms: Sequence[Any] | np.ndarray,
                     meshes: dict[int, dict[str, Mesh]], with_meshes: bool,
                     free_attributes: bool,
                     provenance: Callable[[int, str | None], Provenance]) -> list[Feature]:
    """Features from read rows (:data:`twin.store.rows.SELECT_COLUMNS`), their
    decoded geometries and meshes (``fid -> {lod: mesh}``)."""
    out = []
    typed_slice, bounds_slice = TYPED_SLICE, BOUNDS_SLICE
    i_net = F.edge_network
    for row, geom in zip(rows, geoms):
        attrs: dict[str, Any] = {
            name: val for name, val in zip(TYPED, row[typed_slice]) if val is not None}
        free = row[F.attributes]
        if free and free_attributes:
            attrs.update(json.loads(free))
        bbox = None
        if row[F.min_x] is not None:
            bbox = tuple(math.nan if v is None else v for v in row[bounds_slice])
        edge = Edge(row[i_net], row[i_net + 1], row[i_net + 2]) if row[i_net] is not None \
            else None
        fid = row[F.fid]
        out.append(Feature(
            id=row[F.feature_id], layer=row[F.layer], type=row[F.type], name=row[F.name],
            parent=row[F.parent_id], attributes=attrs, footprint=geom,
            meshes=meshes.get(fid, {}),
            lod=row[F.lod] if (fid in meshes or not with_meshes) else None,
            edge=edge, source_id=row[F.source_id],
            provenance=provenance(row[F.batch_id], row[F.source_id]),
            bbox=bbox,  # type: ignore[arg-type]
        ))
    return out
