"""Triangulation of planar 3D polygons with holes (CityJSON, IFC faces).

Each polygon is given as rings of vertex indices into one ``(n, 3)`` vertex
array. A polygon is projected onto the coordinate plane its normal is most
aligned with (Newell's method) and cut into triangles by earcut
(``mapbox_earcut``), which respects holes; triangles are then oriented like
the polygon (counter-clockwise seen from the side its normal points to).
Triangles pass straight through; polygons are processed in one loop without
per-polygon object creation.

Problems are reported, never repaired silently: rings with fewer than three
distinct vertices and polygons with no area are skipped and counted, indices
out of range raise, and non-planar polygons (further than ``planarity_tol``
from their plane) are triangulated but counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import mapbox_earcut
import numpy as np

Ring = Sequence[int]
Polygon = Sequence[Ring]


@dataclass
class TriangulationReport:
    """What :func:`triangulate_polygons` met: counts, not exceptions."""

    polygons: int = 0
    triangles: int = 0
    degenerate_rings: int = 0
    degenerate_polygons: int = 0
    non_planar: int = 0
    holes: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.examples) < 20:
            self.examples.append(text)

    def merge(self, other: TriangulationReport) -> None:
        for k in ("polygons", "triangles", "degenerate_rings", "degenerate_polygons",
                  "non_planar", "holes"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        for e in other.examples:
            self.note(e)


def _clean_ring(ring: Ring) -> list[int]:
    """A ring without its closing vertex and without consecutive repeats."""
    r = list(ring)
    if len(r) > 1 and r[0] == r[-1]:
        r.pop()
    out = [v for i, v in enumerate(r) if i == 0 or v != r[i - 1]]
    while len(out) > 1 and out[-1] == out[0]:
        out.pop()
    return out


def newell_normals(vertices: np.ndarray, rings: Sequence[Sequence[int]]) -> np.ndarray:
    """Newell normals ``(r, 3)`` of many rings of indices into ``vertices``, at once."""
    sizes = np.fromiter((len(r) for r in rings), np.int64, len(rings))
    idx = np.fromiter((i for r in rings for i in r), np.int64, int(sizes.sum()))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    nxt = np.arange(len(idx)) + 1
    ends = starts + sizes
    nxt[ends - 1] = starts  # each ring's last vertex wraps to its first
    p = vertices[idx]
    q = p[nxt]
    terms = np.column_stack([
        (p[:, 1] - q[:, 1]) * (p[:, 2] + q[:, 2]),
        (p[:, 2] - q[:, 2]) * (p[:, 0] + q[:, 0]),
        (p[:, 0] - q[:, 0]) * (p[:, 1] + q[:, 1]),
    ])
    return np.add.reduceat(terms, starts, axis=0)


def _cross_dot(u: np.ndarray, v: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``(u x v) . n`` row by row, for (m, 3) arrays (np.cross costs more on the
    many small arrays of one city object)."""
    return ((u[:, 1] * v[:, 2] - u[:, 2] * v[:, 1]) * n[:, 0]
            + (u[:, 2] * v[:, 0] - u[:, 0] * v[:, 2]) * n[:, 1]
            + (u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]) * n[:, 2])


def _split_quads(vertices: np.ndarray, flat: np.ndarray, starts: np.ndarray, ks: np.ndarray,
                 units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quadrilaterals ``ks`` (4 ring indices from ``flat[starts[k]:]``) into two
    triangles each, along the diagonal inside the quad (the one whose two
    triangles both turn the way of the quad's normal: right for concave quads
    too); triangles of no area are dropped, as earcut would."""
    q = flat[starts[ks][:, None] + np.arange(4)]
    p = vertices[q]
    n = units[ks]

    def turn(a: int, b: int, c: int) -> np.ndarray:
        return _cross_dot(p[:, b] - p[:, a], p[:, c] - p[:, a], n)

    t1, t2, t3, t4 = turn(0, 1, 2), turn(0, 2, 3), turn(1, 2, 3), turn(1, 3, 0)
    d02 = (t1 > 0) & (t2 > 0)
    first = np.where(d02[:, None], q[:, [0, 1, 2]], q[:, [1, 2, 3]])
    second = np.where(d02[:, None], q[:, [0, 2, 3]], q[:, [1, 3, 0]])
    t = np.concatenate([first, second])
    own = np.concatenate([ks, ks])
    # twice the triangles' areas (projected on the normal): drop those of none
    area2 = np.concatenate([np.where(d02, t1, t3), np.where(d02, t2, t4)])
    keep = np.abs(area2) > 1e-12
    return t[keep], own[keep]


def triangulate_polygons(vertices: np.ndarray, polygons: Sequence[Polygon], *,
                         planarity_tol: float = 0.01, where: str = "",
                         report: TriangulationReport | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate polygons whose rings index ``vertices`` ``(n, 3)``.

    Returns
    -------
    faces : (m, 3) int64
        Triangles as indices into ``vertices``.
    polygon_of_face : (m,) int64
        The index of the polygon each triangle came from (to carry semantic
        labels over); skipped polygons have no triangles.
    """
    rep = report if report is not None else TriangulationReport()
    n_vertices = len(vertices)
    faces: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    # fast path: plain triangles (most faces of LoD1-2 models) in one array
    simple_tri: list = []
    simple_owner: list[int] = []
    rest: list[int] = []
    for pi, poly in enumerate(polygons):
        if len(poly) == 1:
            r = poly[0]
            if len(r) == 4 and r[0] == r[3]:
                r = r[:3]
            if len(r) == 3 and r[0] != r[1] and r[1] != r[2] and r[0] != r[2]:
                simple_tri.append(r)
                simple_owner.append(pi)
                continue
        rest.append(pi)
    if simple_tri:
        t = np.asarray(simple_tri, dtype=np.int64)
        if t.min() < 0 or t.max() >= n_vertices:
            raise IndexError(f"{where}: vertex index {int(t.max())} out of range "
                             f"(the file has {n_vertices} vertices)")
        faces.append(t)
        owners.append(np.asarray(simple_owner, dtype=np.int64))
        rep.polygons += len(t)
        rep.triangles += len(t)
    # general polygons: clean rings in plain Python, then normals, planarity
    # and orientation for all of them at once; only earcut runs per polygon
    polys_ok: list[int] = []
    ring_lists: list[list[list[int]]] = []
    for pi in rest:
        rep.polygons += 1
        rings = []
        for ring in polygons[pi]:
            r = _clean_ring(ring)
            if len(set(r)) < 3:
                rep.degenerate_rings += 1
                rep.note(f"{where}: polygon {pi}: ring with fewer than 3 distinct vertices")
                if not rings:  # no outer ring: the polygon is unusable
                    break
                continue
            rings.append(r)
        if not rings:
            rep.degenerate_polygons += 1
            continue
        polys_ok.append(pi)
        ring_lists.append(rings)
    if ring_lists:
        outer = [rings[0] for rings in ring_lists]
        flat_all = np.fromiter((i for rings in ring_lists for r in rings for i in r), np.int64)
        if flat_all.min() < 0 or flat_all.max() >= n_vertices:
            raise IndexError(f"{where}: vertex index {int(flat_all.max())} out of range "
                             f"(the file has {n_vertices} vertices)")
        normals = newell_normals(vertices, outer)
        lengths = np.linalg.norm(normals, axis=1)
        units = normals / np.where(lengths > 0, lengths, 1.0)[:, None]
        # planarity: distance of every vertex of a polygon from its plane
        sizes = np.array([sum(len(r) for r in rings) for rings in ring_lists])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        pts = vertices[flat_all]
        owner = np.repeat(np.arange(len(ring_lists)), sizes)
        centre = np.add.reduceat(pts, starts, axis=0) / sizes[:, None]
        dist = np.abs(np.einsum("ij,ij->i", pts - centre[owner], units[owner]))
        off = np.maximum.reduceat(dist, starts)
        tri_parts, tri_owner = [], []
        quads: list[int] = []
        for k, (pi, rings) in enumerate(zip(polys_ok, ring_lists)):
            if lengths[k] < 1e-12:
                rep.degenerate_polygons += 1
                rep.note(f"{where}: polygon {pi} has no area")
                continue
            if off[k] > planarity_tol:
                rep.non_planar += 1
                rep.note(f"{where}: polygon {pi} is not planar ({off[k]:.3f} m off its plane)")
            if len(rings) == 1 and sizes[k] == 4:
                quads.append(k)  # most wall faces: split all of them at once below
                continue
            rep.holes += len(rings) - 1
            idx = flat_all[starts[k]:starts[k] + sizes[k]]
            axis = int(np.argmax(np.abs(units[k])))
            flat = vertices[idx][:, [a for a in range(3) if a != axis]]
            ends = np.cumsum([len(r) for r in rings]).astype(np.uint32)
            tri = mapbox_earcut.triangulate_float64(np.ascontiguousarray(flat), ends)
            if len(tri) == 0:
                rep.degenerate_polygons += 1
                rep.note(f"{where}: polygon {pi} could not be triangulated")
                continue
            tri_parts.append(idx[tri.reshape(-1, 3).astype(np.int64)])
            tri_owner.append(np.full(len(tri) // 3, k))
        if quads:
            t, own = _split_quads(vertices, flat_all, starts, np.asarray(quads), units)
            tri_parts.append(t)
            tri_owner.append(own)
        if tri_parts:
            t = np.concatenate(tri_parts)
            own = np.concatenate(tri_owner)
            a, b, c = vertices[t[:, 0]], vertices[t[:, 1]], vertices[t[:, 2]]
            flip = _cross_dot(b - a, c - a, units[own]) < 0
            t[flip] = t[flip][:, [0, 2, 1]]
            faces.append(t)
            owners.append(np.asarray(polys_ok, dtype=np.int64)[own])
            rep.triangles += len(t)
    if not faces:
        return np.zeros((0, 3), np.int64), np.zeros(0, np.int64)
    f, o = np.concatenate(faces), np.concatenate(owners)
    order = np.argsort(o, kind="stable")  # triangles in the order of their polygons
    return f[order], o[order]
