"""Pure geometry functions over numpy arrays (no store, no I/O).

Shapes in the docstrings: ``(n, 3) float`` is an array of ``n`` points.
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import ArrayLike
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


def box_mesh(lo: ArrayLike, hi: ArrayLike) -> Mesh:
    """An axis-aligned box from corner ``lo`` (3,) to ``hi`` (3,), 12 triangles."""
    a = np.asarray(lo, float)
    b = np.asarray(hi, float)
    c = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], float)
    verts = a + c * (b - a)
    faces = np.array([
        [0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
        [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5],
    ])
    return Mesh(verts, faces)


def circle_profile(radius: float, sides: int = 12) -> np.ndarray:
    """``(sides, 2)`` offsets of a round pipe's cross-section."""
    ang = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    return np.column_stack([np.cos(ang), np.sin(ang)]) * radius


def rect_profile(width: float, height: float) -> np.ndarray:
    """``(4, 2)`` offsets of a duct or culvert cross-section (width across,
    height vertical)."""
    w, h = width / 2, height / 2
    return np.array([[-w, -h], [w, -h], [w, h], [-w, h]], float)


def sweep_segments(starts: np.ndarray, ends: np.ndarray, profiles: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Sweep a cross-section along many straight segments at once (open ends).

    Parameters
    ----------
    starts, ends : (k, 3) float
        Segment end points (pipe centreline).
    profiles : (k, s, 2) or (s, 2) float
        Cross-section offsets in the segment's frame: first coordinate across
        the pipe (horizontal), second up (vertical, for non-vertical pipes).

    Returns
    -------
    vertices : (k, 2*s, 3) float
        Ring at the start, then ring at the end, per segment.
    faces : (2*s, 3) int
        Local faces, the same for every segment.
    """
    starts = np.asarray(starts, float).reshape(-1, 3)
    ends = np.asarray(ends, float).reshape(-1, 3)
    prof = np.asarray(profiles, float)
    if prof.ndim == 2:
        prof = np.broadcast_to(prof, (len(starts), *prof.shape))
    s = prof.shape[1]
    axis = ends - starts
    length = np.linalg.norm(axis, axis=1)
    if np.any(length <= 0):
        bad = int(np.argmax(length <= 0))
        raise GeometryError(f"segment {bad} has zero length; cannot sweep a pipe along it")
    d = axis / length[:, None]
    vertical = np.abs(d[:, 2]) > 0.999
    helper = np.where(vertical[:, None], [[1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0]])
    across = np.cross(d, helper)
    across /= np.linalg.norm(across, axis=1)[:, None]
    up = np.cross(across, d)
    ring = prof[:, :, 0:1] * across[:, None, :] + prof[:, :, 1:2] * up[:, None, :]
    verts = np.concatenate([starts[:, None, :] + ring, ends[:, None, :] + ring], axis=1)
    i = np.arange(s)
    j = (i + 1) % s
    faces = np.concatenate([np.column_stack([i, j, s + j]), np.column_stack([i, s + j, s + i])])
    return verts, faces


def polyline_pipe(coords: np.ndarray, profile: np.ndarray) -> Mesh:
    """One mesh for a pipe along a 3D polyline ``(n, 3)`` with one cross-section."""
    c = np.asarray(coords, float)
    keep = np.concatenate([[True], np.any(np.diff(c, axis=0) != 0, axis=1)])
    c = c[keep]
    if len(c) < 2:
        raise GeometryError("pipe centreline has fewer than two distinct points")
    verts, faces = sweep_segments(c[:-1], c[1:], profile)
    k, nv = verts.shape[0], verts.shape[1]
    all_faces = (faces[None, :, :] + (np.arange(k) * nv)[:, None, None]).reshape(-1, 3)
    return Mesh(verts.reshape(-1, 3), all_faces)


def graded_polyline(plan: np.ndarray, z_start: float, z_end: float
                    ) -> tuple[np.ndarray, float]:
    """A 3D centreline along the plan polyline ``(n, 2)``, its height graded
    linearly by plan distance from ``z_start`` to ``z_end`` (a pipe laid at
    constant slope between its two ends).

    Returns
    -------
    coords : (n, 3) float
    plan_length : float
        Zero for a degenerate line (all points equal in plan).
    """
    p = np.asarray(plan, float).reshape(-1, 2)
    seg = np.hypot(*np.diff(p, axis=0).T)
    length = float(seg.sum())
    frac = np.concatenate([[0.0], np.cumsum(seg)]) / max(length, 1e-9)
    return np.column_stack([p, z_start + frac * (z_end - z_start)]), length


def cylinder(centre_xy: tuple[float, float], z0: float, z1: float, radius: float,
             sides: int = 16) -> Mesh:
    """A closed vertical cylinder (manholes, chambers) from ``z0`` up to ``z1``."""
    if z1 <= z0:
        raise GeometryError(f"cylinder from {z0} to {z1}: top must be above bottom")
    prof = circle_profile(radius, sides)
    ring = np.column_stack([prof + centre_xy, np.full(sides, z0)])
    top = ring + [0, 0, z1 - z0]
    verts = np.vstack([ring, top, [[*centre_xy, z0], [*centre_xy, z1]]])
    i = np.arange(sides)
    j = (i + 1) % sides
    walls = np.concatenate([np.column_stack([i, j, sides + j]),
                            np.column_stack([i, sides + j, sides + i])])
    bottom = np.column_stack([np.full(sides, 2 * sides), j, i])
    cap = np.column_stack([np.full(sides, 2 * sides + 1), sides + i, sides + j])
    return Mesh(verts, np.vstack([walls, bottom, cap]))


def surface_mesh(polygon: Polygon) -> Mesh:
    """A surface (terrain patch, road, square) from a polygon whose vertices
    carry Z: triangulated in plan, each vertex keeping its own height."""
    if not polygon.has_z:
        raise GeometryError("surface polygon has no Z values")
    v2, faces = triangulate_polygon(polygon)
    rings = [polygon.exterior, *polygon.interiors]
    xyz = np.vstack([np.asarray(r.coords)[:-1] for r in rings])
    lookup = {(float(x), float(y)): float(z) for x, y, z in xyz}
    try:
        z = np.array([lookup[(float(x), float(y))] for x, y in v2])
    except KeyError:
        raise GeometryError("surface triangulation introduced a vertex without height") from None
    return Mesh(np.column_stack([v2, z]), faces)


def mesh_area(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Total area of the triangles ``faces`` (m, 3) over ``vertices`` (n, 3)."""
    v = np.asarray(vertices, float)
    f = np.asarray(faces)
    if f.size == 0:
        return 0.0
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())


def mesh_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume of a closed, outward-oriented triangle mesh."""
    v = np.asarray(vertices, float)
    f = np.asarray(faces)
    if f.size == 0:
        return 0.0
    o = v.mean(axis=0)
    a, b, c = v[f[:, 0]] - o, v[f[:, 1]] - o, v[f[:, 2]] - o
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def client_geometry_fault(geom: BaseGeometry) -> str | None:
    """What is wrong with a geometry a client wrote (an API request, an
    edit saved from a GIS), or ``None``: coordinates that are not finite
    numbers, or a polygon that is not valid (with GEOS's reason)."""
    xy = shapely.get_coordinates(geom)
    if not bool(np.isfinite(xy).all()):
        return "the geometry has coordinates that are not finite numbers"
    if geom.geom_type in ("Polygon", "MultiPolygon") and not geom.is_valid:
        return f"the polygon is not valid: {shapely.is_valid_reason(geom)}"
    return None
