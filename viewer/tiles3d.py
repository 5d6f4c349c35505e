"""The twin as OGC 3D Tiles 1.1: a tileset a browser streams, for whole cities.

Features are placed in a quadtree over the twin's plan extent by the centre
of their bounds, splitting a tile while it holds more than ``max_features``;
a split tile keeps its most prominent features (the largest bounding
volumes: towers before sheds) as its own content and hands the rest down,
refined by ``ADD``: from afar a renderer shows the prominent buildings of
the whole city, and fills in the rest only near the camera. Each content is
one GLB (:func:`viewer.gltf.merged_glb`: one mesh per layer, catalogue
colours, ``EXT_mesh_features`` feature ids indexing an
``EXT_structural_metadata`` property table per layer with each feature's
id, layer, type, name and typed key attributes, which CesiumJS reads when a
feature is picked or styled; the same rows in each layer node's ``extras``
for the project's web viewer). The glTF extensions are declared in each
GLB, not in the tileset (3D Tiles lists there only extensions of the
tileset JSON itself).

Placement on the globe: each content's vertices are relative to a local
frame at its centre (x along grid east, y along grid north, z up, metres),
and its glTF nodes carry that frame's rigid transform to Earth-centred
coordinates (EPSG:4978) as their matrix (in double precision, so no float32
jitter). The frame is derived from the twin CRS through pyproj at the
tile's centre, so the map projection's grid convergence and scale are
honoured (the scale, a few 1e-5, is applied to the vertices); across a
tile of a few hundred metres the flat frame departs from the curved Earth by
millimetres (a root tile of a whole city, holding only its most prominent
buildings, by decimetres at its edges). Heights are taken as ellipsoidal:
the twin's orthometric heights (e.g. the 1985 national datum) differ from
them by the local geoid undulation, which no geoid model here corrects (the
``asset.extras`` say so). Every tile is bounded by a ``region`` (radians,
metres).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pyproj import CRS, Transformer

from twin.conflation import hidden_by_conflation
from twin.errors import ExportError
from twin.network import features_by_id
from twin.query import Query
from twin.store.base import TwinStore

from .gltf import merged_glb
from .scene import TwinLookups, drawn_by_children

MAX_DEPTH = 12
#: A tile split for having too many features keeps 1/PROMINENT of them itself.
PROMINENT = 3
#: Geometric error of a tile that has children: its side / ERROR_DIVISOR metres.
ERROR_DIVISOR = 40


@dataclass
class _Node:
    level: int
    x: int
    y: int
    box: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax (twin CRS)
    idx: np.ndarray
    children: list[_Node] = field(default_factory=list)


def local_frame(crs: CRS, point: Sequence[float], step: float = 50.0,
                to_ecef: Transformer | None = None) -> np.ndarray:
    """The 4x4 matrix taking local coordinates at ``point`` (grid east, grid
    north, up; metres) to EPSG:4978, derived numerically from ``crs``
    (``to_ecef``: :func:`ecef_transformer` of ``crs``, made once by callers
    that place many frames)."""
    to_ecef = to_ecef or ecef_transformer(crs)
    p = np.asarray(point, dtype=np.float64)
    pts = np.array([p, p + [step, 0, 0], p + [0, step, 0], p + [0, 0, step]])
    e = np.column_stack(to_ecef.transform(pts[:, 0], pts[:, 1], pts[:, 2]))
    m = np.eye(4)
    m[:3, 0] = (e[1] - e[0]) / step
    m[:3, 1] = (e[2] - e[0]) / step
    m[:3, 2] = (e[3] - e[0]) / step
    m[:3, 3] = e[0]
    return m


def polar(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a = rotation @ stretch`` (stretch symmetric positive definite)."""
    u, sig, vt = np.linalg.svd(a)
    rot = u @ vt
    if np.linalg.det(rot) < 0:  # keep a proper rotation
        u[:, -1] *= -1
        rot = u @ vt
        sig[-1] *= -1
    return rot, vt.T @ np.diag(sig) @ vt


def ecef_transformer(crs: CRS) -> Transformer:
    """The twin CRS to EPSG:4978 (WGS 84 Earth-centred, what 3D Tiles use),
    through pyproj's datum handling; the twin's heights go through as heights
    above the ellipsoid (no geoid model)."""
    return Transformer.from_crs(crs.to_3d(), "EPSG:4978", always_xy=True)


def _region(to_lonlat: Transformer, box, zmin: float, zmax: float) -> list[float]:
    xs = np.linspace(box[0], box[2], 5)
    ys = np.linspace(box[1], box[3], 5)
    gx, gy = np.meshgrid(xs, ys)
    lon, lat = to_lonlat.transform(gx.ravel(), gy.ravel())
    lon, lat = np.radians(lon), np.radians(lat)
    pad = 1e-7  # about a centimetre: the edges' curvature between the samples
    return [float(lon.min() - pad), float(lat.min() - pad), float(lon.max() + pad),
            float(lat.max() + pad), float(zmin), float(zmax)]


def _split(node: _Node, centres: np.ndarray, weight: np.ndarray, max_features: int) -> None:
    """Quadtree by centres. A tile with too many features keeps its most
    prominent ones (largest bounding volume) as its own content, shown from
    afar, and hands the rest to its children (``ADD`` refinement)."""
    if len(node.idx) <= max_features or node.level >= MAX_DEPTH:
        return
    order = node.idx[np.argsort(-weight[node.idx], kind="stable")]
    keep = max(1, max_features // PROMINENT)
    own, rest = order[:keep], np.sort(order[keep:])
    x0, y0, x1, y1 = node.box
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    c = centres[rest]
    east, north = c[:, 0] >= xm, c[:, 1] >= ym
    for dx, dy, box in ((0, 0, (x0, y0, xm, ym)), (1, 0, (xm, y0, x1, ym)),
                        (0, 1, (x0, ym, xm, y1)), (1, 1, (xm, ym, x1, y1))):
        sel = rest[(east == bool(dx)) & (north == bool(dy))]
        if len(sel):
            child = _Node(node.level + 1, 2 * node.x + dx, 2 * node.y + dy, box, sel)
            _split(child, centres, weight, max_features)
            node.children.append(child)
    node.idx = np.sort(own)


#: glTF's y-up axes to 3D Tiles' z-up ones (what renderers apply to glTF content).
_Y_UP_TO_Z_UP = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], float)


@dataclass(frozen=True)
class TilesetReport:
    tiles: int
    features: int
    levels: int
    bytes: int
    skipped: int


def export_3dtiles(store: TwinStore, out_dir: str | Path, *, layers: Sequence[str] = (),
                   max_features: int = 1500,
                   progress: Callable[[int, int | None], None] | None = None,
                   metadata: bool = True) -> TilesetReport:
    """Write ``tileset.json`` and ``tiles/*.glb`` under ``out_dir``
    (``metadata=False``: without the property tables, see
    :func:`viewer.gltf.merged_glb`)."""
    progress = progress or (lambda d, t: None)
    out = Path(out_dir)
    (out / "tiles").mkdir(parents=True, exist_ok=True)
    hidden = hidden_by_conflation(store)
    listed = [f for f in store.query(Query(layers=tuple(layers), free_attributes=False))
              if f.id not in hidden]
    # as in every scene, a building whose parts are drawn is not drawn itself
    # (read without meshes: a feature with a default LoD has one)
    hidden = hidden | drawn_by_children(listed, TwinLookups.of(store).parent_of,
                                        has_mesh=lambda f: f.lod is not None)
    ids, boxes = [], []
    for f in listed:
        if f.bbox is None or f.id in hidden or any(np.isnan(f.bbox)):
            continue
        ids.append(f.id)
        boxes.append(f.bbox)
    if not ids:
        raise ExportError("nothing to tile: no feature with bounds"
                        + (f" in layers {', '.join(layers)}" if layers else ""))
    b = np.asarray(boxes, dtype=np.float64)
    centres = (b[:, :2] + b[:, 3:5]) / 2
    lo, hi = b[:, :2].min(axis=0), b[:, 3:5].max(axis=0)
    side = float(max(hi - lo)) or 1.0
    weight = np.prod(np.maximum(b[:, 3:] - b[:, :3], 0.1), axis=1)
    root = _Node(0, 0, 0, (lo[0], lo[1], lo[0] + side, lo[1] + side), np.arange(len(ids)))
    _split(root, centres, weight, max_features)
    n_tiles = 0

    def count(n: _Node) -> None:
        nonlocal n_tiles
        n_tiles += bool(len(n.idx))
        for c in n.children:
            count(c)

    count(root)
    colours = {la.name: la.colour for la in store.layers()}
    crs = store.crs
    # made once: a transformer costs more than the tile it places
    to_ecef = ecef_transformer(crs)
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    written = 0
    total_bytes = 0
    skipped = 0
    levels = 0

    def content(n: _Node) -> dict | None:
        """Write the tile's own features; their rigid frame goes in each glTF
        node's matrix (no tile transforms: they would compound down the tree)."""
        nonlocal written, total_bytes, skipped
        sel = n.idx
        feats = [f for f in features_by_id(store, [ids[i] for i in sel], meshes=True)
                 if f.mesh is not None and f.mesh.n_faces]
        skipped += len(sel) - len(feats)
        if not feats:
            return None
        centre = ((b[sel, 0].min() + b[sel, 3].max()) / 2, (b[sel, 1].min() + b[sel, 4].max()) / 2,
                  (b[sel, 2].min() + b[sel, 5].max()) / 2)
        frame = local_frame(crs, centre, to_ecef=to_ecef)
        rot, stretch = polar(frame[:3, :3])
        rigid = np.eye(4)
        rigid[:3, :3], rigid[:3, 3] = rot, frame[:3, 3]
        node_matrix = np.linalg.inv(_Y_UP_TO_Z_UP) @ rigid @ _Y_UP_TO_Z_UP
        glb, _table = merged_glb(feats, centre, colours, crs=crs.to_string(),
                                 extras={"tile": [n.level, n.x, n.y]}, linear=stretch,
                                 node_matrix=[float(v) for v in node_matrix.T.ravel()],
                                 metadata=metadata)
        name = f"tiles/{n.level}_{n.x}_{n.y}.glb"
        (out / name).write_bytes(glb)
        written += 1
        total_bytes += len(glb)
        progress(written, n_tiles)
        return {"uri": name}

    def build(n: _Node) -> dict:
        nonlocal levels
        levels = max(levels, n.level + 1)
        sub = _all_idx(n)
        box = (float(b[sub, 0].min()), float(b[sub, 1].min()),
               float(b[sub, 3].max()), float(b[sub, 4].max()))
        t: dict = {"boundingVolume": {"region": _region(
                       to_lonlat, box, float(b[sub, 2].min()), float(b[sub, 5].max()))},
                   "geometricError": float((n.box[2] - n.box[0]) / ERROR_DIVISOR)
                   if n.children else 0.0,
                   "refine": "ADD"}
        c = content(n) if len(n.idx) else None
        if c is not None:
            t["content"] = c
        if n.children:
            t["children"] = [build(k) for k in n.children]
        return t

    def _all_idx(n: _Node) -> np.ndarray:
        return np.concatenate([n.idx] + [_all_idx(c) for c in n.children])

    tree = build(root)
    z0 = float(b[:, 2].min())
    origin = store.origin or (float(lo[0]), float(lo[1]), z0)
    tileset = {
        "asset": {"version": "1.1", "generator": "digital-twin-city",
                  "extras": {"crs": crs.to_string(), "origin": [float(v) for v in origin],
                             "local_frame": [float(v) for v in
                                             local_frame(crs, origin, to_ecef=to_ecef)
                                             .T.ravel()],
                             "heights": "twin heights used as ellipsoidal heights (no geoid "
                                        "model): offset by the local geoid undulation"}},
        "geometricError": float(side / 4),
        "root": tree,
    }
    (out / "tileset.json").write_text(json.dumps(tileset), encoding="utf-8")
    return TilesetReport(tiles=written, features=len(ids) - skipped, levels=levels,
                         bytes=total_bytes, skipped=skipped)
