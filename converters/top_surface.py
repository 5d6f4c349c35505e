"""The top surface of a set of triangles, sampled on a grid: what a lidar
flight would see of a building from above.

An LoD1 block needs one roof height. The highest point of a model is a poor
one (a gable wall, a chimney, a lift shaft make the block as tall as its
highest detail); CityGML 3.0 lets the producer say which height it took
(``highestRoofEdge``, ``lowestRoofEdge``, ``generalRoof``, ...) and 3D BAG
publishes the 50th and 70th percentiles and the maximum of each building's
roof points. :func:`top_heights` gives the same kind of sample for a BIM
model: the highest triangle above each grid cell centre, so that a
percentile of it is an honest roof height.

>>> import numpy as np
>>> v = np.array([[0, 0, 3.0], [10, 0, 3.0], [10, 10, 3.0], [0, 10, 3.0]])
>>> f = np.array([[0, 1, 2], [0, 2, 3]])
>>> xy = np.array([[5.0, 5.0], [20.0, 20.0]])
>>> top_heights(v, f, xy).tolist()
[3.0, nan]
"""

from __future__ import annotations

import numpy as np

#: Most (triangle, point) pairs tested at once, to bound memory.
_CHUNK_PAIRS = 250_000


def top_heights(vertices: np.ndarray, faces: np.ndarray, xy: np.ndarray,
                cell: float | None = None, plan_scale: float | None = None) -> np.ndarray:
    """The height of the highest triangle above each plan point.

    Parameters
    ----------
    vertices : (n, 3) float
    faces : (m, 3) int
        Triangles; vertical ones (no plan area) are ignored.
    xy : (k, 2) float
        Plan points. With ``cell`` they must be the centres of a regular
        grid of that spacing whose origin is ``xy.min(axis=0)``; the
        triangles then find their points by index instead of by search.

    Returns
    -------
    (k,) float
        The highest height above each point, ``nan`` where no triangle is.
    """
    v = np.asarray(vertices, dtype=np.float64)
    tri = v[np.asarray(faces, dtype=np.int64)]
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    out = np.full(len(pts), -np.inf)
    if len(tri) == 0 or len(pts) == 0:
        return np.full(len(pts), np.nan)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    scale = plan_scale if plan_scale is not None else \
        np.maximum(np.ptp(tri[:, :, :2].reshape(-1, 2), axis=0).max(), 1.0)
    keep = np.abs(det) > 1e-12 * scale * scale
    tri, det = tri[keep], det[keep]
    if len(tri) == 0:
        return np.full(len(pts), np.nan)
    lo, hi = tri[:, :, :2].min(axis=1), tri[:, :, :2].max(axis=1)
    if cell is not None:
        origin = pts.min(axis=0)
        shape = np.round((pts.max(axis=0) - origin) / cell).astype(np.int64) + 1
        index = np.full(int(shape[0] * shape[1]), -1, dtype=np.int64)
        ij = np.round((pts - origin) / cell).astype(np.int64)
        index[ij[:, 0] * shape[1] + ij[:, 1]] = np.arange(len(pts))
        i0 = np.clip(np.ceil((lo - origin) / cell - 1e-9).astype(np.int64), 0, shape - 1)
        i1 = np.clip(np.floor((hi - origin) / cell + 1e-9).astype(np.int64), -1, shape - 1)
        nx = np.maximum(i1[:, 0] - i0[:, 0] + 1, 0)
        ny = np.maximum(i1[:, 1] - i0[:, 1] + 1, 0)
        # triangles whose box misses the grid cover no cell
        nx[(hi[:, 0] < origin[0]) | (hi[:, 1] < origin[1])] = 0
        counts = nx * ny
    else:
        counts = np.full(len(tri), len(pts), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    t = 0
    while t < len(tri):
        # triangles t..u make at most _CHUNK_PAIRS pairs (at least one triangle)
        u = max(t + 1, int(np.searchsorted(starts, starts[t] + _CHUNK_PAIRS, side="right")) - 1)
        u = min(u, len(tri))
        n = counts[t:u]
        total = int(n.sum())
        if total:
            which = np.repeat(np.arange(t, u), n)
            k = np.arange(total) - np.repeat(starts[t:u] - starts[t], n)
            if cell is not None:
                gi = i0[which, 0] + k // ny[which]
                gj = i0[which, 1] + k % ny[which]
                p = index[gi * shape[1] + gj]
                ok = p >= 0
                which, p = which[ok], p[ok]
            else:
                p = k
            _highest(tri, det, which, p, pts, out)
        t = u
    out[~np.isfinite(out)] = np.nan
    return out


def _highest(tri: np.ndarray, det: np.ndarray, which: np.ndarray, p: np.ndarray,
             pts: np.ndarray, out: np.ndarray) -> None:
    """For the pairs (triangle ``which``, point ``p``): where the point lies
    in the triangle's plan (edges included), raise ``out[p]`` to the
    triangle's height there."""
    a, b, c = tri[which, 0], tri[which, 1], tri[which, 2]
    q = pts[p]
    d = det[which]
    l1 = ((q[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (q[:, 1] - a[:, 1])) / d
    l2 = ((b[:, 0] - a[:, 0]) * (q[:, 1] - a[:, 1]) - (q[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])) / d
    eps = 1e-9
    inside = (l1 >= -eps) & (l2 >= -eps) & (l1 + l2 <= 1 + eps)
    z = a[:, 2] + l1 * (b[:, 2] - a[:, 2]) + l2 * (c[:, 2] - a[:, 2])
    np.maximum.at(out, p[inside], z[inside])


def grid_in(polygon, cell: float) -> np.ndarray:
    """``(k, 2)`` centres of a ``cell``-spaced grid that fall in ``polygon``
    (a shapely polygon), on a grid whose origin is the polygon's lower-left
    bound (the layout :func:`top_heights` expects with ``cell``)."""
    import shapely

    x0, y0, x1, y1 = polygon.bounds
    xs = np.arange(x0 + cell / 2, x1, cell)
    ys = np.arange(y0 + cell / 2, y1, cell)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    return pts[shapely.contains_xy(polygon, pts[:, 0], pts[:, 1])]
