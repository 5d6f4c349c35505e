"""Twin features to per-layer arrays a renderer draws in one call each.

Pure functions over numpy arrays: each layer's feature meshes (their default
LoD) are merged into one vertex and triangle array, vertices relative to the
twin's local origin (float32-safe), with a per-triangle index into the
layer's feature id list, so that a merged layer can still be picked feature
by feature. Line features without a mesh (road centrelines) become
polylines with the same indexing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

from twin.model import Feature


@dataclass
class LayerArrays:
    """One layer, merged. ``cell_feature[k]`` indexes ``ids`` for triangle
    ``k``; ``line_feature[k]`` for polyline ``k``."""

    name: str
    ids: list[str] = field(default_factory=list)
    vertices: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    faces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    cell_feature: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lines: list[np.ndarray] = field(default_factory=list)
    line_feature: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_faces(self) -> int:
        return len(self.faces)


@dataclass
class SceneArrays:
    origin: tuple[float, float, float]
    layers: dict[str, LayerArrays]
    skipped: int  # features with neither a mesh nor a line to draw

    def bounds(self) -> np.ndarray:
        """``[xmin, ymin, zmin, xmax, ymax, zmax]`` relative to the origin."""
        pts = [la.vertices for la in self.layers.values() if len(la.vertices)]
        pts += [ln for la in self.layers.values() for ln in la.lines]
        if not pts:
            return np.zeros(6)
        allp = np.concatenate(pts)
        return np.concatenate([allp.min(axis=0), allp.max(axis=0)])


def merge_meshes(vertices: Sequence[np.ndarray], faces: Sequence[np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate meshes: ``(vertices, faces, owner)``, faces renumbered and
    ``owner[k]`` the input index of triangle ``k``."""
    if not vertices:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64)
    n_v = np.array([len(v) for v in vertices])
    n_f = np.array([len(f) for f in faces])
    offsets = np.concatenate([[0], np.cumsum(n_v)[:-1]])
    all_faces = np.concatenate(faces).astype(np.int64) + np.repeat(offsets, n_f)[:, None]
    owner = np.repeat(np.arange(len(faces)), n_f)
    return np.concatenate(vertices), all_faces, owner


def scene_arrays(features: Iterable[Feature], origin: Sequence[float]) -> SceneArrays:
    """Merge ``features`` per layer, relative to ``origin``."""
    o = np.asarray(origin, dtype=np.float64)
    raw: dict[str, dict] = {}
    skipped = 0
    for f in features:
        r = raw.setdefault(f.layer, {"ids": [], "v": [], "f": [], "own": [], "lines": [],
                                     "line_own": []})
        mesh = f.mesh
        if mesh is not None and mesh.n_faces:
            r["own"].append(len(r["ids"]))
            r["v"].append(mesh.vertices - o)
            r["f"].append(mesh.faces)
            r["ids"].append(f.id)
            continue
        fp = f.footprint
        if fp is not None and fp.geom_type in ("LineString", "MultiLineString") and fp.has_z:
            k = len(r["ids"])
            r["ids"].append(f.id)
            for part in shapely.get_parts(fp):
                r["lines"].append(shapely.get_coordinates(part, include_z=True) - o)
                r["line_own"].append(k)
            continue
        skipped += 1
    layers = {}
    for name, r in raw.items():
        if not r["ids"]:
            continue
        v, faces, owner = merge_meshes(r["v"], r["f"])
        own = np.asarray(r["own"], dtype=np.int64)
        layers[name] = LayerArrays(
            name, r["ids"], v, faces, own[owner] if len(owner) else owner, r["lines"],
            np.asarray(r["line_own"], dtype=np.int64))
    return SceneArrays(tuple(float(x) for x in o), layers, skipped)
