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


class TerrainSampler:
    """Samples the ``terrain`` layer of ``store`` (loaded once per call's area)."""

    def __init__(self, store: TwinStore, layer: str = "terrain"):
        self.store = store
        self.layer = layer
        self._has_terrain = store.count(Query(layers=(layer,), limit=1)) > 0

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
        tris = []
        for f in self.store.query(Query(layers=(self.layer,), bbox=(lo[0], lo[1], hi[0], hi[1]),
                                        with_meshes=True)):
            m = f.mesh
            if m is not None and m.n_faces:
                tris.append(m.vertices[m.faces])
        if not tris:
            return out
        t = np.concatenate(tris)  # (k, 3, 3)
        # drop vertical or degenerate triangles: they carry no height information
        a, b, c = t[:, 0, :2], t[:, 1, :2], t[:, 2, :2]
        det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
        t = t[np.abs(det) > 1e-12]
        polys = shapely.polygons(np.concatenate([t[:, :, :2], t[:, :1, :2]], axis=1))
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
