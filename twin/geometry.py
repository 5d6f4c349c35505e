"""Pure geometry functions over numpy arrays (no store, no I/O).

Shapes in the docstrings: ``(n, 3) float`` is an array of ``n`` points.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from .errors import GeometryError
from .model import Mesh

#: Semantic labels of an extruded (LoD1) block, as CityJSON names them.
BLOCK_LABELS = ("GroundSurface", "WallSurface", "RoofSurface")


def triangulate_polygon(polygon: Polygon) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate a 2D polygon with holes.

    Returns
    -------
    vertices : (n, 2) float
        The polygon's ring vertices (closing points dropped).
    faces : (m, 3) int
        Counter-clockwise triangles (seen from +z) indexing ``vertices``.

    Uses GEOS' constrained Delaunay triangulation, which respects holes.
    """
    if polygon.is_empty:
        return np.zeros((0, 2)), np.zeros((0, 3), dtype=np.int64)
    tri = shapely.constrained_delaunay_triangles(shapely.force_2d(polygon))
    parts = shapely.get_parts(tri)
    if len(parts) == 0:
        return np.zeros((0, 2)), np.zeros((0, 3), dtype=np.int64)
    # each triangle: 4 coords (closed ring)
    coords = shapely.get_coordinates(shapely.get_exterior_ring(parts)).reshape(-1, 4, 2)[:, :3]
    pts = coords.reshape(-1, 2)
    verts, inverse = np.unique(pts, axis=0, return_inverse=True)
    faces = inverse.reshape(-1, 3).astype(np.int64)
    # orient counter-clockwise
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    cw = cross < 0
    faces[cw] = faces[cw][:, [0, 2, 1]]
    return verts, faces


def extrude_footprint(footprint: BaseGeometry, base: float, top: float) -> Mesh:
    """An LoD1 block: ``footprint`` extruded from height ``base`` to ``top``.

    Faces are labelled ``GroundSurface`` (facing down), ``WallSurface`` and
    ``RoofSurface`` (facing up). Holes (courtyards) get inner walls.
    """
    if not (np.isfinite(base) and np.isfinite(top)) or top <= base:
        raise GeometryError(f"cannot extrude from {base} to {top}: top must be above base")
    if isinstance(footprint, Polygon):
        polys = [footprint]
    elif isinstance(footprint, MultiPolygon):
        polys = list(footprint.geoms)
    else:
        raise GeometryError(f"cannot extrude a {footprint.geom_type}; a polygon is needed")
    all_v, all_f, all_l = [], [], []
    offset = 0
    for poly in polys:
        poly = shapely.geometry.polygon.orient(poly, 1.0)
        v2, tri = triangulate_polygon(poly)
        n = len(v2)
        if n == 0:
            continue
        bottom = np.column_stack([v2, np.full(n, base)])
        upper = np.column_stack([v2, np.full(n, top)])
        verts = [bottom, upper]
        faces = [tri[:, [0, 2, 1]] + offset, tri + offset + n]
        labels = [np.zeros(len(tri), np.int16), np.full(len(tri), 2, np.int16)]
        k = offset + 2 * n
        for ring in [poly.exterior, *poly.interiors]:
            r = np.asarray(ring.coords)[:-1, :2]
            m = len(r)
            wb = np.column_stack([r, np.full(m, base)])
            wt = np.column_stack([r, np.full(m, top)])
            i = np.arange(m)
            j = (i + 1) % m
            # exterior is CCW, interiors CW after orient(): outward normals either way
            quads_a = np.column_stack([i, j, m + j]) + k
            quads_b = np.column_stack([i, m + j, m + i]) + k
            verts += [wb, wt]
            faces += [quads_a, quads_b]
            labels += [np.ones(m, np.int16), np.ones(m, np.int16)]
            k += 2 * m
        all_v.append(np.vstack(verts))
        all_f.append(np.vstack(faces))
        all_l.append(np.concatenate(labels))
        offset = k
    if not all_v:
        raise GeometryError("footprint is empty")
    return Mesh(np.vstack(all_v), np.vstack(all_f), np.concatenate(all_l), BLOCK_LABELS)


def box_mesh(lo: np.ndarray, hi: np.ndarray) -> Mesh:
    """An axis-aligned box from corner ``lo`` (3,) to ``hi`` (3,), 12 triangles."""
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    c = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], float)
    verts = lo + c * (hi - lo)
    faces = np.array([
        [0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
        [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5],
    ])
    return Mesh(verts, faces)


def tube_meshes(
    starts: np.ndarray, ends: np.ndarray, radii: np.ndarray, sides: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Open-ended tubes around straight segments, all at once.

    Parameters
    ----------
    starts, ends : (k, 3) float
        Segment end points.
    radii : (k,) float
        Outer radius of each tube.
    sides : int
        Vertices around the circumference.

    Returns
    -------
    vertices : (k, 2*sides, 3) float
    faces : (2*sides, 3) int
        The same local face array for every tube (index into its own vertices).
    """
    starts = np.asarray(starts, float)
    ends = np.asarray(ends, float)
    radii = np.asarray(radii, float).reshape(-1)
    axis = ends - starts
    length = np.linalg.norm(axis, axis=1)
    if np.any(length <= 0):
        bad = int(np.argmax(length <= 0))
        raise GeometryError(f"segment {bad} has zero length; cannot build a tube")
    d = axis / length[:, None]
    # a helper vector not parallel to d
    helper = np.where(np.abs(d[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    u = np.cross(d, helper)
    u /= np.linalg.norm(u, axis=1)[:, None]
    w = np.cross(d, u)
    ang = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    ring = (np.cos(ang)[None, :, None] * u[:, None, :] + np.sin(ang)[None, :, None] * w[:, None, :])
    ring = ring * radii[:, None, None]
    verts = np.concatenate([starts[:, None, :] + ring, ends[:, None, :] + ring], axis=1)
    i = np.arange(sides)
    j = (i + 1) % sides
    faces = np.concatenate([np.column_stack([i, j, sides + j]),
                            np.column_stack([i, sides + j, sides + i])])
    return verts, faces
