"""Plan unions of many small polygons that share vertices, many shapes at once.

A ground projection (the shadow of a mesh: the union of its upward
triangles seen from above) and a footprint made of a city object's facets
are unions of many small polygons. GEOS's ``union_all`` is exact but costs
about 0.1 ms a triangle, most of it finding out again what the mesh
already says: which triangles are neighbours.

The polygons are given by their vertices' indices, each turned to face
up (counter-clockwise in plan, its holes clockwise). An edge that one
polygon walks from ``a`` to ``b`` and a neighbour from ``b`` to ``a`` lies
inside their union; the edges left over, followed round, are closed
loops. How many polygons cover a point is the sum of the loops' winding
numbers around it (each polygon's boundary winds once around it; the
shared edges cancel), so the loops decide the union where they are
simple:

* one counter-clockwise loop, with clockwise loops inside it, making a
  valid polygon: that polygon is the union (a slab's top, a wall's top,
  a plate with an opening). Its vertices are the polygons' own.
* several counter-clockwise loops (patches that overlap, as a steel
  profile's upper flange over its lower flanges: their vertices differ in
  height, so no edge is shared), each with the clockwise loops that lie in
  it alone: GEOS unites these few polygons instead of the many. A
  clockwise loop inside more counter-clockwise ones than there are
  clockwise loops is covered at every point (a frame's opening under the
  glass) and left out.
* where loops meet at a vertex, each goes on along the edge that turns
  most to the left, and a loop that passes a vertex twice is parted there,
  so that loops touch without crossing (valid polygons: a hole may touch
  its shell at a vertex).
* loops that enclose less than :data:`SLIVER` (three vertices of
  neighbours on one line) are left out.
* anything else (an edge walked twice the same way, a hole in no loop):
  GEOS unites the polygons, as before.

Every result is ``shapely.normalize``-d (shells clockwise, holes
counter-clockwise, each ring from its lowest vertex, rings and parts in a
fixed order), so the bytes of a shape depend neither on the route that
made it nor on the order of its polygons.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from .ragged import member, offsets, run_starts, search, unique

#: Loops that enclose less than this (square metres) are slivers, left out.
SLIVER = 1e-10

#: Most rounds of parting loops that pass a vertex twice.
_MOST_SPLITS = 8

#: Edge keys (group, start and end vertex packed in one integer) stay below
#: this many bits; larger inputs number the vertices in use afresh first.
KEY_BITS = 62


def plan_unions(xy: np.ndarray, flat: np.ndarray, ring_sizes: np.ndarray,
                ring_poly: np.ndarray, ring_group: np.ndarray, n_groups: int) -> np.ndarray:
    """The plan union of each group of polygons, ``(n_groups,)`` object
    (a normalised Polygon or MultiPolygon, ``None`` for a group without
    area).

    ``xy`` ``(n, 2)`` float are the vertices; ``flat`` their indices, ring
    after ring (``ring_sizes``, unclosed); ``ring_poly`` the polygon of each
    ring (ascending, its outer ring first); ``ring_group`` the group of
    each ring (all rings of a polygon in the same group). Polygons must be
    valid in plan and have area; they may turn either way (a polygon whose
    outer ring turns clockwise is walked backwards).
    """
    out = np.full(n_groups, None, dtype=object)
    if not len(ring_sizes):
        return out
    bad = np.zeros(n_groups, bool)
    e_a, e_b, e_grp, pxy, span = _outline_edges(xy, flat, ring_sizes, ring_poly, ring_group,
                                                n_groups, bad)
    k_a, k_b = e_grp * span + e_a, e_grp * span + e_b
    follow = np.minimum(search(k_a, k_b), max(len(k_a) - 1, 0))
    if len(k_a):
        bad[e_grp[k_a[follow] != k_b]] = True  # an edge that ends where none starts
        _turn_left_at_forks(follow, k_a, k_b, pxy[e_a], pxy[e_b], e_grp, bad)
    loops, loop_group = _loops(e_grp, follow, bad)
    for _ in range(_MOST_SPLITS):
        # a loop that passes a vertex twice parts there into two (a hole
        # that touches the outline at a vertex)
        if not _split_self_touching(loops, follow, k_b):
            break
        loops, loop_group = _loops(e_grp, follow, bad.copy())
    decided = np.zeros(n_groups, bool)
    if loops:
        n = np.array([len(lp) for lp in loops])
        lxy = pxy[e_a[np.concatenate(loops)]]
        decided = _from_loops(out, lxy, n, np.array(loop_group, np.int64), n_groups)
    has = np.zeros(n_groups, bool)
    has[ring_group] = True
    rest = has & ~decided
    if rest.any():
        _geos(out, xy, flat, ring_sizes, ring_poly, ring_group, rest)
    have = out != None  # noqa: E711 (element-wise)
    if have.any():
        out[have] = shapely.normalize(out[have].astype(object))
    return out


def _outline_edges(xy: np.ndarray, flat: np.ndarray, ring_sizes: np.ndarray,
                   ring_poly: np.ndarray, ring_group: np.ndarray, n_groups: int,
                   bad: np.ndarray) -> tuple:
    """The edges that no neighbour walks back, each polygon turned to face
    up: start and end vertices, groups (sorted by group and start), the
    vertices they index and their count. Groups with an edge walked twice
    the same way (an overlap that shares the edge) join ``bad``."""
    starts = offsets(ring_sizes)
    ring = np.repeat(np.arange(len(ring_sizes)), ring_sizes)
    nxt = np.arange(1, len(flat) + 1)
    nxt[starts + ring_sizes - 1] = starts
    area = ring_plan_areas(xy, flat, ring_sizes)
    outer = run_starts(ring_poly)
    rings_per_poly = np.diff(np.r_[np.flatnonzero(outer), len(ring_poly)])
    back = np.repeat(area[outer] < 0, rings_per_poly)[ring]
    grp = ring_group[ring]
    a = np.where(back, flat[nxt], flat)
    b = np.where(back, flat, flat[nxt])
    span, pxy = len(xy), xy
    if n_groups * span * span >= 1 << KEY_BITS:
        used = unique(flat)  # number the vertices in use afresh
        a, b = search(used, a), search(used, b)
        pxy, span = xy[used], len(used)
    fwd = np.sort((grp * span + a) * span + b)
    bad[(fwd[1:][fwd[1:] == fwd[:-1]] // span) // span] = True
    rev = (grp * span + b) * span + a
    at = np.minimum(search(fwd, rev), len(fwd) - 1)
    left = fwd[at] != rev
    o = np.lexsort((a[left], grp[left]))
    return a[left][o], b[left][o], grp[left][o], pxy, span


def triangle_unions(xy: np.ndarray, faces: np.ndarray, group: np.ndarray,
                    n_groups: int) -> np.ndarray:
    """:func:`plan_unions` of triangles ``faces`` ``(m, 3)`` (indices into
    ``xy`` ``(n, 2)``), ``group`` ``(m,)`` the group of each. Triangles
    without plan area are left out.

    >>> xy = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5], [2, 0.5], [2, 2]], float)
    >>> tiles = np.array([[0, 1, 2], [0, 2, 3]])
    >>> [g.wkt for g in triangle_unions(xy, tiles, np.array([0, 0]), 1)]
    ['POLYGON ((0 0, 0 1, 1 1, 1 0, 0 0))']
    >>> over = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6]])  # a triangle over a corner
    >>> triangle_unions(xy, over, np.array([0, 0, 0]), 1)[0].area
    2.0
    """
    faces = np.asarray(faces, np.int64).reshape(-1, 3)
    group = np.asarray(group, np.int64)
    p0, p1, p2 = xy[faces[:, 0]], xy[faces[:, 1]], xy[faces[:, 2]]
    cross = ((p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1])
             - (p2[:, 0] - p0[:, 0]) * (p1[:, 1] - p0[:, 1]))
    keep = cross != 0
    faces, group = faces[keep], group[keep]
    return plan_unions(xy, faces.reshape(-1), np.full(len(faces), 3), np.arange(len(faces)),
                       group, n_groups)


def _turn_left_at_forks(follow: np.ndarray, k_a: np.ndarray, k_b: np.ndarray,
                        start: np.ndarray, end: np.ndarray, e_grp: np.ndarray,
                        bad: np.ndarray) -> None:
    """Where outline loops meet at a vertex (several edges leave it), each
    edge arriving there goes on along the edge that turns most to the left,
    so that the loops touch without crossing (two squares that touch at a
    corner stay two loops); ``follow`` is updated in place. A group where
    two edges would go on along the same one joins ``bad``."""
    again = ~run_starts(k_a)  # an edge that leaves the vertex the one before it left
    if not again.any():
        return
    arriving = np.flatnonzero(member(k_b, unique(k_a[again])))
    lo = np.searchsorted(k_a, k_b[arriving], "left")
    hi = np.searchsorted(k_a, k_b[arriving], "right")
    for e, a, b in zip(arriving.tolist(), lo.tolist(), hi.tolist()):
        d_in = end[e] - start[e]
        d_out = end[a:b] - start[a:b]
        angle = np.arctan2(d_in[0] * d_out[:, 1] - d_in[1] * d_out[:, 0], d_out @ d_in)
        follow[e] = a + int(np.argmax(angle))
    taken = np.sort(follow[arriving])
    bad[e_grp[taken[1:][taken[1:] == taken[:-1]]]] = True


def _split_self_touching(loops: list[list[int]], follow: np.ndarray, k_b: np.ndarray) -> bool:
    """For each loop that arrives at a vertex twice, swap where its two
    edges arriving there go on (``follow``, in place): the loop parts into
    two that touch at that vertex. Whether any loop did."""
    if not loops:
        return False
    lens = np.array([len(lp) for lp in loops])
    edges = np.concatenate(loops)
    lid = np.repeat(np.arange(len(loops)), lens)
    keys = k_b[edges]
    o = np.lexsort((keys, lid))
    twice = np.flatnonzero((lid[o][1:] == lid[o][:-1]) & (keys[o][1:] == keys[o][:-1]))
    if not len(twice):
        return False
    first = twice[run_starts(lid[o][twice])]  # one vertex per loop
    e1, e2 = edges[o[first]], edges[o[first + 1]]
    follow[e1], follow[e2] = follow[e2], follow[e1].copy()
    return True


def ring_plan_areas(verts: np.ndarray, flat: np.ndarray, ring_sizes: np.ndarray
                    ) -> np.ndarray:
    """Signed plan areas ``(r,)`` of rings given flat: ``flat`` indices into
    ``verts`` ``(n, 2+)``, ``ring_sizes`` per ring; positive where a ring
    turns counter-clockwise seen from above (its polygon faces up).

    The shoelace sum runs relative to each ring's first vertex, so that the
    large coordinates of a projected CRS do not cancel out the small area of
    a ring; a closing vertex that repeats the first adds nothing.

    >>> sq = np.array([[0.0, 0], [2, 0], [2, 2], [0, 2]])
    >>> ring_plan_areas(sq, np.array([0, 1, 2, 3, 3, 2, 1, 0]), np.array([4, 4])).tolist()
    [4.0, -4.0]
    """
    n_rings = len(ring_sizes)
    if n_rings == 0 or len(flat) == 0:
        return np.zeros(n_rings)
    starts = offsets(ring_sizes)
    ring = np.repeat(np.arange(n_rings), ring_sizes)
    nxt = np.arange(1, len(flat) + 1)
    full = ring_sizes > 0
    nxt[(starts + ring_sizes - 1)[full]] = starts[full]  # each ring's last wraps to its first
    first = flat[starts][ring]
    x = verts[flat, 0] - verts[first, 0]
    y = verts[flat, 1] - verts[first, 1]
    cross = x * y[nxt] - x[nxt] * y
    return np.bincount(ring, weights=cross, minlength=n_rings) / 2


def _loops(e_grp: np.ndarray, follow: np.ndarray, bad: np.ndarray) -> tuple[list, list]:
    """The closed loops of outline edges (``follow``: the next edge of
    each) of the groups not ``bad``, as lists of edge indices, with their
    groups."""
    follow_list = follow.tolist()
    seen = bytearray(len(follow_list))
    loops: list[list[int]] = []
    loop_group: list[int] = []
    for e0, g in enumerate(e_grp.tolist()):
        if seen[e0] or bad[g]:
            continue
        seq = trace_loop(follow_list, seen, e0)
        if seq is None:  # ran into another loop (cannot happen without forks)
            bad[g] = True
            continue
        loops.append(seq)
        loop_group.append(g)
    keep = [i for i, g in enumerate(loop_group) if not bad[g]]
    return [loops[i] for i in keep], [loop_group[i] for i in keep]


def trace_loop(follow: list[int], seen: bytearray, e0: int) -> list[int] | None:
    """The edges from ``e0``, each followed by ``follow[e]``, until the walk
    comes back to ``e0`` (each marked in ``seen``); ``None`` where it runs
    into an edge already walked first (another loop: a fork)."""
    seq = [e0]
    seen[e0] = 1
    e = follow[e0]
    while e != e0 and not seen[e]:
        seen[e] = 1
        seq.append(e)
        e = follow[e]
    return seq if e == e0 else None


def _from_loops(out: np.ndarray, xy: np.ndarray, n: np.ndarray, lg: np.ndarray,
                n_groups: int) -> np.ndarray:
    """Fill ``out`` for the groups whose loops decide their union (see the
    module documentation); returns which groups are decided. Loops that
    enclose less than :data:`SLIVER` (where three vertices of neighbours
    lie on one line) are left out: they change the cover of no more."""
    decided = np.zeros(n_groups, bool)
    area = ring_plan_areas(xy, np.arange(len(xy)), n)
    rings = shapely.linearrings(xy, indices=np.repeat(np.arange(len(n)), n))
    decided[lg] = True  # loops that are all slivers: no area
    live = np.flatnonzero(np.abs(area) > SLIVER)
    decided[lg[live]] = False
    lg, ccw, rings = lg[live], area[live] > 0, rings[live]
    n_ccw = np.bincount(lg[ccw], minlength=n_groups)
    # one outer loop and its holes: one polygon
    one = (n_ccw == 1)[lg]
    if one.any():
        ids = np.flatnonzero(one)
        ids = ids[np.lexsort((~ccw[ids], lg[ids]))]  # the outer loop first
        g = lg[ids]
        new = run_starts(g)
        polys = shapely.polygons(rings[ids], indices=np.cumsum(new) - 1)
        ok = shapely.is_valid(polys)
        gs = g[new]
        out[gs[ok]] = polys[ok]
        decided[gs[ok]] = True
    # several outer loops: each with the holes inside it, then their union
    many = (n_ccw > 1)[lg]
    if many.any():
        shell_ids = np.flatnonzero(many & ccw)
        shells = shapely.polygons(rings[shell_ids])
        holes: list[list[Any]] = [[] for _ in shell_ids]
        failed = np.zeros(n_groups, bool)
        hole_ids = np.flatnonzero(many & ~ccw)
        n_holes = np.bincount(lg[hole_ids], minlength=n_groups)
        for h, gi in zip(hole_ids.tolist(), lg[hole_ids].tolist()):
            mine = np.flatnonzero(lg[shell_ids] == gi)
            inside = mine[shapely.contains(shells[mine], rings[h])]
            if len(inside) == 1:  # a hole of that outer loop
                holes[int(inside[0])].append(rings[h])
            elif len(inside) <= n_holes[gi]:  # in none, or not surely covered: GEOS decides
                failed[gi] = True
            # else inside more outer loops than there are holes: covered
            # wherever it is (each point of it more often than uncovered)
        polys = np.array([shapely.Polygon(sh.exterior, hs) if hs else sh
                          for sh, hs in zip(shells, holes)], dtype=object)
        g = lg[shell_ids]
        failed[g[~shapely.is_valid(polys)]] = True
        ok = ~failed[g]
        if ok.any():
            gs, unions = _grouped_union(polys[ok], g[ok])
            out[gs] = unions
            decided[gs] = True
    return decided


def _grouped_union(polys: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GEOS's union of ``polys`` by group ``g``, in one call (a table with a
    row per group, padded with ``None``): the groups and their unions."""
    order = np.argsort(g, kind="stable")
    polys, g = polys[order], g[order]
    firsts = np.flatnonzero(run_starts(g))
    counts = np.diff(np.r_[firsts, len(g)])
    table = np.full((len(firsts), int(counts.max())), None, dtype=object)
    row = np.repeat(np.arange(len(firsts)), counts)
    table[row, np.arange(len(g)) - np.repeat(firsts, counts)] = polys
    return g[firsts], shapely.union_all(table, axis=1)


def _geos(out: np.ndarray, xy: np.ndarray, flat: np.ndarray, ring_sizes: np.ndarray,
          ring_poly: np.ndarray, ring_group: np.ndarray, which: np.ndarray) -> None:
    """GEOS's union of the polygons of the groups ``which`` selects."""
    pick = which[ring_group]
    sizes = ring_sizes[pick]
    pos = np.repeat(pick, ring_sizes)
    coords = xy[flat[pos]]
    # close each ring
    starts = offsets(sizes)
    closed = np.insert(coords, np.r_[starts[1:], len(coords)], coords[starts], axis=0)
    rings = shapely.linearrings(closed, indices=np.repeat(np.arange(len(sizes)), sizes + 1))
    rp = ring_poly[pick]
    new = run_starts(rp)
    polys = shapely.polygons(rings, indices=np.cumsum(new) - 1)
    gs, unions = _grouped_union(polys, ring_group[pick][new])
    with_area = ~shapely.is_empty(unions)
    out[gs[with_area]] = unions[with_area]
