"""Ground elevations from the twin's terrain layer.

:class:`TerrainSampler` interpolates the height of the terrain meshes under
plan points (barycentric interpolation in the triangle that contains each
point, found through a shapely STRtree). Points with no terrain under them get
``nan``: callers decide what that means, nothing is guessed here.
"""

from __future__ import annotations

import numpy as np
import shapely

from .query import Query
from .store.base import TwinStore


def _triangles(mesh) -> tuple[np.ndarray, np.ndarray]:
    """The non-vertical triangles of a terrain mesh ``(k, 3, 3)`` and their plan
    polygons; vertical or degenerate ones carry no height information."""
    if mesh is None or not mesh.n_faces:
        return np.zeros((0, 3, 3)), np.array([], dtype=object)
    t = mesh.vertices[mesh.faces]
    a, b, c = t[:, 0, :2], t[:, 1, :2], t[:, 2, :2]
    det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    t = t[np.abs(det) > 1e-12]
    return t, shapely.polygons(np.concatenate([t[:, :, :2], t[:, :1, :2]], axis=1))


class TerrainSampler:
    """Samples the ``terrain`` layer of ``store``; each terrain feature's
    triangles are decoded once and kept for later calls."""

    def __init__(self, store: TwinStore, layer: str = "terrain"):
        self.store = store
        self.layer = layer
        self._has_terrain = store.count(Query(layers=(layer,), limit=1)) > 0
        self._tiles: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def available(self) -> bool:
        return self._has_terrain

    def heights(self, xy: np.ndarray) -> np.ndarray:
        """Ground height at each ``(n, 2)`` plan point (``nan`` where there is none)."""
        pts = np.asarray(xy, float).reshape(-1, 2)
        out = np.full(len(pts), np.nan)
        if not self._has_terrain or len(pts) == 0:
            return out
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        under = [f.id for f in self.store.query(Query(
            layers=(self.layer,), bbox=(lo[0], lo[1], hi[0], hi[1])))]
        missing = [i for i in under if i not in self._tiles]
        if missing:  # decode each terrain feature once per sampler
            for f in self.store.query(Query(ids=tuple(missing), with_meshes=True)):
                self._tiles[f.id] = _triangles(f.mesh)
        parts = [self._tiles[i] for i in under if i in self._tiles and len(self._tiles[i][0])]
        if not parts:
            return out
        t = np.concatenate([p[0] for p in parts])  # (k, 3, 3)
        polys = np.concatenate([p[1] for p in parts])
        tree = shapely.STRtree(polys)
        pi, ti = tree.query(shapely.points(pts), predicate="intersects")
        if len(pi) == 0:
            return out
        tt = t[ti]
        p = pts[pi]
        a, b, c = tt[:, 0], tt[:, 1], tt[:, 2]
        v0, v1, v2 = b[:, :2] - a[:, :2], c[:, :2] - a[:, :2], p - a[:, :2]
        den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
        wb = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
        wc = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
        z = a[:, 2] + wb * (b[:, 2] - a[:, 2]) + wc * (c[:, 2] - a[:, 2])
        out[pi] = z  # a point on a shared edge takes either triangle: same height
        return out
