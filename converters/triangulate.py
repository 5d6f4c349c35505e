"""Triangulation of planar 3D polygons with holes (CityJSON, IFC faces).

Each polygon is given as rings of vertex indices into one ``(n, 3)`` vertex
array (nested lists, or flat arrays for many polygons at once). Triangles
pass straight through; quadrilaterals are split along their inner diagonal
and convex polygons fanned, all of them at once; the others (concave, or
with holes) are projected onto the coordinate plane their normal is most
aligned with (Newell's method) and cut by earcut (``mapbox_earcut``), which
respects holes. Triangles are then oriented like their polygon
(counter-clockwise seen from the side its normal points to).

Problems are reported, never repaired silently: rings with fewer than three
distinct vertices and polygons with no area are skipped and counted, indices
out of range raise, and non-planar polygons (further than ``planarity_tol``
from their plane) are triangulated but counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain

import mapbox_earcut
import numpy as np

from .ragged import gather, offsets

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

    def add(self, issues: RingIssues, polygons: int, triangles: int,
            name: Callable[[int], str]) -> None:
        """Count what :func:`triangulate_rings` met; ``name(k)`` says where
        polygon ``k`` is, for the first examples."""
        self.polygons += polygons
        self.triangles += triangles
        self.holes += issues.holes
        self.degenerate_rings += len(issues.degenerate_rings)
        self.degenerate_polygons += len(issues.degenerate_polygons)
        self.non_planar += len(issues.non_planar)
        if len(self.examples) >= 20:
            return
        for k in issues.degenerate_rings[:20].tolist():
            self.note(f"{name(k)}: ring with fewer than 3 distinct vertices")
        for k, why in zip(issues.degenerate_polygons[:20].tolist(), issues.reasons):
            if why != "ring with fewer than 3 distinct vertices":  # noted just above
                self.note(f"{name(k)} {'has ' + why if why == 'no area' else why}")
        for k, off in zip(issues.non_planar[:20].tolist(), issues.off_plane.tolist()):
            self.note(f"{name(k)} is not planar ({off:.3f} m off its plane)")


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
    return _turned(t[keep], area2[keep] < 0), own[keep]


def clean_rings(flat: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """Rings (``flat`` indices, ``sizes`` per ring) without their closing vertex
    and without consecutive repeats.

    Returns the cleaned ``flat`` and ``sizes`` and, per ring, its number of
    distinct vertices where that is below three (a ring needs three), else
    its size."""
    n_rings = len(sizes)
    if len(flat) == 0:
        return flat, np.zeros(n_rings, np.int64), np.zeros(n_rings, np.int64)
    ring = np.repeat(np.arange(n_rings), sizes)
    keep = np.ones(len(flat), bool)
    keep[1:] = (flat[1:] != flat[:-1]) | (ring[1:] != ring[:-1])
    sizes = np.bincount(ring[keep], minlength=n_rings)
    flat, ring = flat[keep], ring[keep]
    # the last vertex repeating the first closes the ring: drop it (no two
    # neighbours are equal any more, so one drop is enough)
    starts = offsets(sizes)
    ends = starts + sizes
    closing = (sizes > 1) & (flat[np.maximum(ends - 1, 0)] == flat[np.minimum(starts, len(flat)
                                                                                 - 1)])
    if closing.any():
        keep = np.ones(len(flat), bool)
        keep[ends[closing] - 1] = False
        flat, ring = flat[keep], ring[keep]
        sizes = sizes - closing
    # with no two neighbours equal, a ring has fewer than three distinct
    # vertices only when it goes back and forth between two (a, b, a, b, ...)
    ring = np.repeat(np.arange(n_rings), sizes)
    same2 = np.ones(len(flat), bool)  # vertex i equals vertex i - 2 of its ring
    same2[2:] = (flat[2:] == flat[:-2]) | (ring[2:] != ring[:-2])
    alternating = np.ones(n_rings, bool)
    differs = np.flatnonzero(~same2)
    alternating[ring[differs]] = False
    distinct = np.where(alternating, np.minimum(sizes, 2), sizes)
    return flat, sizes, distinct


@dataclass
class RingIssues:
    """Problems :func:`triangulate_rings` met, per polygon (indices into its
    polygons), for the caller to name and count."""

    degenerate_rings: np.ndarray  # the polygon of each ring with < 3 distinct vertices
    degenerate_polygons: np.ndarray  # polygons skipped
    reasons: list[str]  # why, one per skipped polygon
    non_planar: np.ndarray  # polygons further than the tolerance from their plane
    off_plane: np.ndarray  # how far (m), one per non-planar polygon
    holes: int = 0


def triangulate_rings(vertices: np.ndarray, flat: np.ndarray, ring_sizes: np.ndarray,
                      poly_rings: np.ndarray, *, planarity_tol: float = 0.01
                      ) -> tuple[np.ndarray, np.ndarray, RingIssues]:
    """Triangulate many polygons given as flat arrays: ``flat`` vertex indices
    into ``vertices`` ``(n, 3)``, ring after ring; ``ring_sizes`` per ring;
    ``poly_rings``, the number of rings of each polygon (the first is its
    outer ring, the others holes).

    Rings are cleaned (:func:`clean_rings`); rings with fewer than three
    distinct vertices are dropped (a polygon whose outer ring is such a ring
    is skipped), polygons with no area skipped, polygons further than
    ``planarity_tol`` from their plane triangulated but listed. Triangles pass
    through as they are; quadrilaterals are split along their inner diagonal
    and convex polygons fanned, all at once; the others go through earcut,
    one call each. Every
    triangle turns like its polygon (counter-clockwise seen from the side its
    Newell normal points to).

    Returns ``faces (m, 3)`` (indices into ``vertices``), ``owner (m,)`` (the
    polygon of each triangle, ascending) and the :class:`RingIssues`.
    Indices must be in range (raises ``IndexError``).
    """
    flat = np.asarray(flat, dtype=np.int64)
    ring_sizes = np.asarray(ring_sizes, dtype=np.int64)
    poly_rings = np.asarray(poly_rings, dtype=np.int64)
    n_polys = len(poly_rings)
    if len(flat) and (flat.min() < 0 or flat.max() >= len(vertices)):
        bad = flat[(flat < 0) | (flat >= len(vertices))][0]
        raise IndexError(f"vertex index {int(bad)} out of range (the file has "
                         f"{len(vertices)} vertices)")
    if n_polys == 0:
        return np.zeros((0, 3), np.int64), np.zeros(0, np.int64), RingIssues(
            np.zeros(0, np.int64), np.zeros(0, np.int64), [], np.zeros(0, np.int64),
            np.zeros(0))
    flat, sizes, distinct = clean_rings(flat, ring_sizes)
    poly_of_ring = np.repeat(np.arange(n_polys), poly_rings)
    first_ring = offsets(poly_rings)
    bad_ring = distinct < 3
    has_outer = poly_rings > 0
    bad_poly = ~has_outer.copy()
    bad_poly[has_outer] = bad_ring[first_ring[has_outer]]
    # a skipped polygon's holes are not looked at (nor counted)
    is_outer = np.zeros(len(sizes), bool)
    is_outer[first_ring[has_outer]] = True
    counted = bad_ring & (~bad_poly[poly_of_ring] | is_outer)
    good_ring = ~bad_ring & ~bad_poly[poly_of_ring]
    reasons = ["ring with fewer than 3 distinct vertices"] * int(bad_poly.sum())
    skipped = [np.flatnonzero(bad_poly)]
    n_rings = np.bincount(poly_of_ring[good_ring], minlength=n_polys)
    # rings of the polygons kept
    sizes_g = sizes[good_ring]
    flat_g = flat[gather(offsets(sizes)[good_ring], sizes_g)]
    poly_g = poly_of_ring[good_ring]
    faces: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    # plain triangles
    simple = (n_rings == 1) & ~bad_poly
    simple[simple] = sizes_g[np.searchsorted(poly_g, np.flatnonzero(simple))] == 3
    # per kept polygon: its vertices (all rings) flat_g[vstart:vstart + vcount]
    vcount = np.bincount(poly_g, weights=sizes_g, minlength=n_polys).astype(np.int64)
    vstart = offsets(vcount)
    if simple.any():
        ks = np.flatnonzero(simple)
        faces.append(flat_g[vstart[ks][:, None] + np.arange(3)])
        owners.append(ks)
    general = np.flatnonzero(~bad_poly & ~simple)
    holes = 0
    non_planar = np.zeros(0, np.int64)
    off_plane = np.zeros(0)
    if len(general):
        first_g = np.searchsorted(poly_g, general)  # first kept ring of each polygon
        outer_sizes = sizes_g[first_g]
        outer_flat = flat_g[gather(vstart[general], outer_sizes)]
        normals = _newell(vertices, outer_flat, outer_sizes)
        lengths = np.linalg.norm(normals, axis=1)
        units = normals / np.where(lengths > 0, lengths, 1.0)[:, None]
        # planarity: distance of every vertex of a polygon from its plane
        gc_ = vcount[general]
        gs = offsets(gc_)
        idx_all = flat_g[gather(vstart[general], gc_)]
        pts = vertices[idx_all]
        owner = np.repeat(np.arange(len(general)), gc_)
        centre = np.add.reduceat(pts, gs, axis=0) / gc_[:, None]
        dist = np.abs(np.einsum("ij,ij->i", pts - centre[owner], units[owner]))
        off = np.maximum.reduceat(dist, gs)
        flat_area = lengths < 1e-12
        if flat_area.any():
            skipped.append(general[flat_area])
            reasons += ["no area"] * int(flat_area.sum())
        live = ~flat_area
        planar_bad = live & (off > planarity_tol)
        non_planar, off_plane = general[planar_bad], off[planar_bad]
        quad = live & (n_rings[general] == 1) & (gc_ == 4)
        tri_parts, tri_owner = [], []
        if quad.any():
            ks = np.flatnonzero(quad)
            t, own = _split_quads(vertices, idx_all, gs, ks, units)
            tri_parts.append(t)
            tri_owner.append(own)
        done = quad.copy()
        single = live & ~quad & (n_rings[general] == 1)
        if single.any():  # convex polygons (most roofs and floors): fans, all at once
            ks = np.flatnonzero(single)
            convex = _convex(pts, gs, gc_, ks, units)
            if convex.any():
                t, own = _fans(idx_all, gs, gc_, ks[convex], vertices, units)
                tri_parts.append(t)
                tri_owner.append(own)
                done[ks[convex]] = True
        rest = np.flatnonzero(live & ~done)  # to earcut
        if len(rest):
            holes = int((n_rings[general[rest]] - 1).sum())
            axis = np.argmax(np.abs(units), axis=1)
            keep_cols = np.array([[1, 2], [0, 2], [0, 1]])[axis[owner]]
            plane = np.take_along_axis(pts, keep_cols, axis=1)
            # ring ends relative to their polygon's first vertex, as earcut wants them
            ends_all = (np.cumsum(sizes_g) - vstart[poly_g]).astype(np.uint32)
            # one earcut call per polygon, nothing else in the loop: the indices
            # are shifted and gathered for all of them at once afterwards
            earcut = mapbox_earcut.triangulate_float64
            starts_r = gs[rest].tolist()
            found = [earcut(plane[s:s + c], ends_all[r0:r0 + nr]) for s, c, nr, r0 in zip(
                starts_r, gc_[rest].tolist(), n_rings[general[rest]].tolist(),
                first_g[rest].tolist())]
            n_idx = np.fromiter(map(len, found), np.int64, len(found))
            failed = rest[n_idx == 0]
            if len(failed):
                skipped.append(general[failed])
                reasons += ["could not be triangulated"] * len(failed)
            if n_idx.any():  # earcut turns them either way: turned like their polygon
                local = np.concatenate(found).astype(np.int64)
                t = idx_all[np.repeat(gs[rest], n_idx) + local].reshape(-1, 3)
                own = np.repeat(rest, n_idx // 3)
                a, b, c = vertices[t[:, 0]], vertices[t[:, 1]], vertices[t[:, 2]]
                tri_parts.append(_turned(t, _cross_dot(b - a, c - a, units[own]) < 0))
                tri_owner.append(own)
        if tri_parts:  # quads and fans come turned already
            t = np.concatenate(tri_parts)
            own = np.concatenate(tri_owner)
            faces.append(t)
            owners.append(general[own])
    issues = RingIssues(poly_of_ring[counted], np.concatenate(skipped), reasons,
                        non_planar, off_plane, holes)
    if not faces:
        return np.zeros((0, 3), np.int64), np.zeros(0, np.int64), issues
    f, o = np.concatenate(faces), np.concatenate(owners)
    order = np.argsort(o, kind="stable")  # triangles in the order of their polygons
    return f[order], o[order], issues


def _convex(pts: np.ndarray, starts: np.ndarray, counts: np.ndarray, ks: np.ndarray,
            units: np.ndarray) -> np.ndarray:
    """Which single-ring polygons ``ks`` are convex and simple: every corner
    turns the same way around the normal (straight corners allowed), and the
    turns add up to one full turn (a pentagram turns one way too, twice)."""
    c = counts[ks]
    s = starts[ks]
    pos = gather(s, c)
    own = np.repeat(np.arange(len(ks)), c)
    first = offsets(c)
    local = np.arange(len(pos)) - first[own]
    nxt = pos + np.where(local == c[own] - 1, 1 - c[own], 1)
    p = pts[pos]
    edge = pts[nxt] - p  # edge i leaves vertex i
    prev_edge = np.empty_like(edge)
    prev_edge[1:] = edge[:-1]
    prev_edge[first] = edge[first + c - 1]  # vertex 0's incoming edge is the last one
    n = units[ks][own]
    turn = _cross_dot(prev_edge, edge, n)
    dot = np.einsum("ij,ij->i", prev_edge, edge)
    scale = np.linalg.norm(prev_edge, axis=1) * np.linalg.norm(edge, axis=1)
    left = turn >= -1e-9 * scale
    angle = np.arctan2(turn, dot)
    all_left = np.minimum.reduceat(left, first)
    total = np.add.reduceat(angle, first)
    return all_left.astype(bool) & (np.abs(total - 2 * np.pi) < 1e-6)


def _fans(idx: np.ndarray, starts: np.ndarray, counts: np.ndarray, ks: np.ndarray,
          vertices: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convex polygons ``ks`` as fans from their first vertex; triangles of
    no area (straight corners next to the first vertex) are dropped."""
    n_tri = counts[ks] - 2
    own = np.repeat(ks, n_tri)
    j = np.arange(int(n_tri.sum())) - np.repeat(offsets(n_tri), n_tri) + 1
    s = starts[own]
    t = np.column_stack([idx[s], idx[s + j], idx[s + j + 1]])
    a, b, c = vertices[t[:, 0]], vertices[t[:, 1]], vertices[t[:, 2]]
    u, v = b - a, c - a
    signed = _cross_dot(u, v, units[own])
    # no area: thinner than a micrometre (a straight corner next to the first
    # vertex, whose height is rounding noise at city coordinates)
    longest = np.maximum(np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1))
    keep = np.abs(signed) > 1e-6 * longest
    return _turned(t[keep], signed[keep] < 0), own[keep]


def _turned(t: np.ndarray, backwards: np.ndarray) -> np.ndarray:
    """Triangles ``t`` with those turning ``backwards`` (clockwise about
    their polygon's normal) reversed."""
    if backwards.any():
        t[backwards] = t[backwards][:, [0, 2, 1]]
    return t


def _newell(vertices: np.ndarray, idx: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Newell normals ``(r, 3)`` of rings given flat (``idx``, ``sizes``)."""
    starts = offsets(sizes)
    nxt = np.arange(len(idx)) + 1
    nxt[starts + sizes - 1] = starts  # each ring's last vertex wraps to its first
    p = vertices[idx]
    q = p[nxt]
    terms = np.column_stack([
        (p[:, 1] - q[:, 1]) * (p[:, 2] + q[:, 2]),
        (p[:, 2] - q[:, 2]) * (p[:, 0] + q[:, 0]),
        (p[:, 0] - q[:, 0]) * (p[:, 1] + q[:, 1]),
    ])
    return np.add.reduceat(terms, starts, axis=0)


def flatten_polygons(polygons: Sequence[Polygon]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nested polygons (lists of rings of indices) as the flat arrays of
    :func:`triangulate_rings`: ``flat``, ``ring_sizes``, ``poly_rings``."""
    rings = list(chain.from_iterable(polygons))
    sizes = np.fromiter(map(len, rings), np.int64, len(rings))
    flat = np.fromiter(chain.from_iterable(rings), np.int64, int(sizes.sum()))
    poly_rings = np.fromiter(map(len, polygons), np.int64, len(polygons))
    return flat, sizes, poly_rings


def triangulate_polygons(vertices: np.ndarray, polygons: Sequence[Polygon], *,
                         planarity_tol: float = 0.01, where: str = "",
                         report: TriangulationReport | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate polygons whose rings index ``vertices`` ``(n, 3)``
    (:func:`triangulate_rings` over nested lists).

    Returns
    -------
    faces : (m, 3) int64
        Triangles as indices into ``vertices``.
    polygon_of_face : (m,) int64
        The index of the polygon each triangle came from (to carry semantic
        labels over); skipped polygons have no triangles.
    """
    rep = report if report is not None else TriangulationReport()
    flat, sizes, poly_rings = flatten_polygons(polygons)
    try:
        faces, owner, issues = triangulate_rings(vertices, flat, sizes, poly_rings,
                                                 planarity_tol=planarity_tol)
    except IndexError as exc:
        raise IndexError(f"{where}: {exc}") from None
    rep.add(issues, len(poly_rings), len(faces), lambda k: f"{where}: polygon {k}")
    return faces, owner
