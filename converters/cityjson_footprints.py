"""Plan footprints of city objects, from the polygons of their geometry.

A footprint is what a 2D map draws for a city object: the area it covers
seen from above. CityJSON rarely stores one, so it is derived, for a whole
chunk of objects at once, from the polygons of each object's geometry:

* the **ground surfaces** (semantic ``GroundSurface``) of the highest LoD
  that has them: they are the footprint by definition;
* else the polygons of the object's **highest LoD** (the one the twin
  shows), seen in plan: when they close a volume (as much plan area faces
  down as up, the sign of a ring's shoelace area telling which), only the
  downward ones, which cover the footprint once without overlapping (an
  LoD1 block's floor); otherwise all of them (a road, a terrain, a roof
  whose floor is missing).

Polygons are built by shapely in bulk. An object's single polygon is its
footprint as it is; several are merged, as a coverage first (no two
overlap: the floors of a solid, the patches of a terrain), which GEOS does
far faster than a general union, and by a general union otherwise.

Working on the file's polygons rather than on their triangles keeps the
shapes few: an LoD1 building's footprint is its one floor polygon, with no
merging at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from .plan_union import plan_unions, ring_plan_areas, trace_loop
from .ragged import gather, member, offsets, run_starts, search
from .triangulate import clean_rings

#: Plan area (square metres) under which a polygon is taken to have none.
MIN_AREA = 1e-6

#: Edge keys (group, start and end vertex packed in one integer) stay below
#: this many bits; larger files number the vertices in use afresh first.
KEY_BITS = 62


def polygon_plan_areas(ring_area: np.ndarray, poly_rings: np.ndarray) -> np.ndarray:
    """Signed plan areas of polygons ``(p,)`` from those of their rings (the
    first of each polygon is its outer ring, the others holes): the outer
    ring's area less its holes', with the outer ring's sign."""
    n_polys = len(poly_rings)
    out = np.zeros(n_polys)
    has = poly_rings > 0
    if not has.any():
        return out
    outer = ring_area[offsets(poly_rings)[has]]
    every = np.bincount(np.repeat(np.arange(n_polys), poly_rings), weights=np.abs(ring_area),
                        minlength=n_polys)[has]
    holes = every - np.abs(outer)
    out[has] = np.sign(outer) * np.maximum(np.abs(outer) - holes, 0.0)
    return out


def footprint_polygons(poly_area: np.ndarray, poly_group: np.ndarray, group_object: np.ndarray,
                       group_rank: np.ndarray, group_shown: np.ndarray,
                       is_ground: np.ndarray) -> np.ndarray:
    """Which polygons make their object's footprint (a mask over polygons),
    by the rules of the module documentation.

    ``poly_area`` are signed plan areas, ``poly_group`` the geometry group
    (one object and LoD) of each polygon; per group, ``group_object`` its
    object, ``group_rank`` the order of its LoD (higher: more detailed),
    ``group_shown`` whether it became a mesh; ``is_ground`` marks ground
    surfaces."""
    n_groups = len(group_object)
    n_objects = int(group_object.max()) + 1 if n_groups else 0
    pick = np.zeros(len(poly_area), bool)
    if not n_groups:
        return pick
    # per object, the group of the highest rank among candidates (a mask over groups)
    def best(candidate: np.ndarray) -> np.ndarray:
        ids = np.flatnonzero(candidate)
        order = np.lexsort((group_rank[ids], group_object[ids]))
        ids = ids[order]
        last = np.ones(len(ids), bool)
        last[:-1] = group_object[ids][1:] != group_object[ids][:-1]
        out = np.zeros(n_groups, bool)
        out[ids[last]] = True
        return out

    ground_group = np.zeros(n_groups, bool)
    ground_group[poly_group[is_ground]] = True
    grounded = best(ground_group)
    pick |= is_ground & grounded[poly_group]
    has_ground = np.zeros(n_objects, bool)
    has_ground[group_object[grounded]] = True
    shown = best(group_shown & ~has_ground[group_object])
    in_shown = shown[poly_group]
    with_area = np.abs(poly_area) > MIN_AREA
    up = np.bincount(poly_group, weights=np.where(in_shown, np.maximum(poly_area, 0), 0),
                     minlength=n_groups)
    down = np.bincount(poly_group, weights=np.where(in_shown, np.maximum(-poly_area, 0), 0),
                       minlength=n_groups)
    closed = (down > 0) & (np.abs(up - down) <= 1e-3 * np.maximum(up, down))
    down_faces = in_shown & with_area & (poly_area < 0)
    # a closed volume whose downward faces are all too small falls back to every face
    closed &= np.bincount(poly_group[down_faces], minlength=n_groups) > 0
    pick |= in_shown & with_area & (~closed[poly_group] | (poly_area < 0))
    return pick


def object_footprints(verts: np.ndarray, flat: np.ndarray, ring_sizes: np.ndarray,
                      poly_rings: np.ndarray, pick: np.ndarray, poly_object: np.ndarray,
                      poly_area: np.ndarray) -> dict[int, Any]:
    """The footprints of the objects whose polygons ``pick`` selects (a mask
    over polygons; ``poly_object`` their objects, ``poly_area`` their signed
    plan areas), by object.

    Rings are cleaned first (repeated and closing vertices dropped; a ring
    with fewer than three distinct vertices left out, and a polygon without
    its outer ring entirely). Where an object's polygons have no holes and
    form one patch, its outline is traced from the edges no two polygons
    share (:func:`trace_outlines`: numpy, no GEOS); the others are built as
    shapely polygons and merged (:func:`merge`)."""
    ring_poly = np.repeat(np.arange(len(poly_rings)), poly_rings)
    ring_pick = pick[ring_poly]
    sizes = ring_sizes[ring_pick]
    flat, sizes, distinct = clean_rings(flat[gather(offsets(ring_sizes)[ring_pick], sizes)],
                                        sizes)
    polys_of_rings = ring_poly[ring_pick]
    # a polygon needs an outer ring of three distinct vertices; holes too
    dead = polys_of_rings[run_starts(polys_of_rings) & (distinct < 3)]
    ok = (distinct >= 3) & ~member(polys_of_rings, dead)
    if not ok.any():
        return {}
    flat = flat[gather(offsets(sizes)[ok], sizes[ok])]
    sizes = sizes[ok]
    polys_of_rings = polys_of_rings[ok]  # ascending
    owner = poly_object[polys_of_rings]
    new = run_starts(polys_of_rings)
    # one polygon of one ring (an LoD2 building's ground surface) is its own
    # outline; objects with a polygon with holes are no single patch without holes
    one = run_starts(owner)  # rings that start an object and are followed by the next
    one[:-1] &= one[1:]
    simple = ~member(owner, owner[~new]) & ~one
    out = trace_outlines(verts, flat[np.repeat(simple, sizes)], sizes[simple],
                         poly_area[polys_of_rings[simple]] < 0, owner[simple],
                         np.abs(poly_area[polys_of_rings[simple]]))
    rest = ~member(owner, np.fromiter(out, np.int64, len(out)))
    if rest.any():
        rest_flat = flat[np.repeat(rest, sizes)]
        by_obj, united = plan_polygons(verts, rest_flat, sizes[rest], polys_of_rings[rest],
                                       owner[rest])
        if united.any():
            # valid polygons by their vertices' indices (see plan_union)
            rings = united[owner[rest]]
            n_obj = int(owner.max()) + 1
            unions = plan_unions(verts[:, :2], rest_flat[np.repeat(rings, sizes[rest])],
                                 sizes[rest][rings], polys_of_rings[rest][rings],
                                 owner[rest][rings], n_obj)
            for oi in np.flatnonzero(united).tolist():
                by_obj.pop(oi, None)
                if unions[oi] is not None:
                    out[oi] = unions[oi]
        for oi, parts in by_obj.items():
            fp = merge(parts)
            if fp is not None:
                out[oi] = fp
    return out


def trace_outlines(verts: np.ndarray, flat: np.ndarray, sizes: np.ndarray,
                   clockwise: np.ndarray, owner: np.ndarray, area: np.ndarray
                   ) -> dict[int, Any]:
    """Plan outlines of groups of rings (``flat`` vertex indices, ``sizes``;
    ``owner`` the group of each ring, ascending) that tile an area without
    overlaps: the edges that no neighbour shares, followed round.

    Each ring is walked counter-clockwise in plan (``clockwise`` ones
    backwards). An inner edge is then walked both ways, by the two rings
    that share it; the others make the outline: closed loops,
    counter-clockwise around the area and clockwise around its holes. A
    group is traced only where every outline vertex has one edge out (the
    loops are simple and touch nowhere) and the polygons they make are
    valid with the rings' total ``area`` (no overlaps, no gaps, vertices
    shared by index); the others are left out of the result, for GEOS to
    merge."""
    if not len(sizes):
        return {}
    starts = offsets(sizes)
    nxt = np.arange(1, len(flat) + 1)
    nxt[starts + sizes - 1] = starts
    ring = np.repeat(np.arange(len(sizes)), sizes)
    back = clockwise[ring]
    grp = owner[ring]
    span = len(verts)
    if (int(grp[-1]) + 1) * span * span >= 1 << KEY_BITS:  # too large: number those in use
        vid, compact = np.unique(flat, return_inverse=True)
        flat, span = compact.reshape(-1), len(vid)
    else:
        vid = None
    start = np.where(back, flat[nxt], flat)
    end = np.where(back, flat, flat[nxt])
    fwd = (grp * span + start) * span + end
    rev = (grp * span + end) * span + start
    # an inner edge is walked both ways (a sorted search: np.isin would hash)
    outer = ~member(fwd, rev)
    if not outer.any():
        return {}
    e_start, e_end, e_grp = start[outer], end[outer], grp[outer]
    order = np.lexsort((e_start, e_grp))
    e_start, e_end, e_grp = e_start[order], e_end[order], e_grp[order]
    key_start = e_grp * span + e_start
    key_end = e_grp * span + e_end
    # one outgoing edge per vertex, or the loops touch (GEOS decides)
    forked = np.zeros(len(key_start), bool)
    forked[1:] = key_start[1:] == key_start[:-1]
    follow = np.minimum(search(key_start, key_end), len(key_start) - 1)
    broken = key_start[follow] != key_end
    bad = set(e_grp[forked | broken].tolist())
    loops, loop_group = _loops(e_grp, follow, bad)
    if not loops:
        return {}
    n = np.array([len(lp) for lp in loops])
    edges = np.concatenate(loops)
    xy = verts[e_start[edges] if vid is None else vid[e_start[edges]], :2]
    loop_area = ring_plan_areas(xy, np.arange(len(xy)), n)
    polys, groups = _loop_polygons(xy, n, loop_area, np.array(loop_group))
    if not len(groups):
        return {}
    owners, inverse = np.unique(owner, return_inverse=True)
    total = np.bincount(inverse, weights=area)[np.searchsorted(owners, groups)]
    good = shapely.is_valid(polys) & (np.abs(shapely.area(polys) - total)
                                      <= 1e-6 * np.maximum(total, 1.0))
    return {g: p for g, p, ok in zip(groups.tolist(), polys, good.tolist()) if ok}


def _loops(e_grp: np.ndarray, follow: np.ndarray, bad: set) -> tuple[list, list]:
    """The closed loops of outline edges (``follow``: the next edge of each),
    as lists of edge indices, with their groups; a group whose edges do not
    all close into loops joins ``bad``."""
    first = np.flatnonzero(run_starts(e_grp))
    counts = np.diff(np.r_[first, len(e_grp)])
    follow_list = follow.tolist()
    seen = bytearray(len(follow_list))
    loops: list[list[int]] = []
    loop_group: list[int] = []
    for g, f, c in zip(e_grp[first].tolist(), first.tolist(), counts.tolist()):
        if g in bad:
            continue
        mine: list[list[int]] = []
        simple = True
        for e0 in range(f, f + c):
            if seen[e0]:
                continue
            seq = trace_loop(follow_list, seen, e0)
            if seq is None:  # ran into another loop: no simple loops
                simple = False
                break
            mine.append(seq)
        if simple and mine:
            loops.extend(mine)
            loop_group.extend([g] * len(mine))
    return loops, loop_group


def _loop_polygons(xy: np.ndarray, n: np.ndarray, loop_area: np.ndarray,
                   loop_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Polygons of traced loops (coordinates ``xy`` loop after loop, ``n``
    per loop), one per group: counter-clockwise loops bound the area,
    clockwise ones are its holes. A group with one outer loop is built in
    bulk; one with several puts each hole in the outer loop around it."""
    rings = shapely.linearrings(xy, indices=np.repeat(np.arange(len(n)), n))
    is_outer = loop_area > 0
    outers = np.bincount(loop_group[is_outer], minlength=int(loop_group.max()) + 1)
    single = outers[loop_group] == 1
    polys: list = []
    groups: list[int] = []
    if single.any():
        ids = np.flatnonzero(single)
        ids = ids[np.lexsort((~is_outer[ids], loop_group[ids]))]  # outer loop first
        g = loop_group[ids]
        new = run_starts(g)
        polys.extend(shapely.polygons(rings[ids], indices=np.cumsum(new) - 1))
        groups.extend(g[new].tolist())
    for gi in sorted(set(loop_group[outers[loop_group] > 1].tolist())):
        mine = np.flatnonzero(loop_group == gi)
        shells = shapely.polygons(rings[mine[is_outer[mine]]])
        holes = mine[~is_outer[mine]]
        inside = [np.flatnonzero(shapely.contains_xy(shells, *xy[int(offsets(n)[h])]))
                  for h in holes.tolist()]
        if any(len(k) != 1 for k in inside):
            continue  # a hole in no shell, or in two: GEOS decides
        parts = [shapely.Polygon(shapely.get_exterior_ring(sh),
                                 [rings[h] for h, k in zip(holes.tolist(), inside) if k[0] == i])
                 for i, sh in enumerate(shells)]
        polys.append(shapely.MultiPolygon(parts))
        groups.append(gi)
    return np.array(polys, dtype=object), np.array(groups, np.int64)


def plan_polygons(verts: np.ndarray, flat: np.ndarray, sizes: np.ndarray,
                  ring_poly: np.ndarray, owner: np.ndarray) -> tuple[dict[int, list], np.ndarray]:
    """Plan polygons of clean rings (``flat``, ``sizes``; ``ring_poly`` the
    polygon of each ring, ascending, its first ring the outer one; ``owner``
    the object of each ring), built in bulk, by object; invalid polygons
    made valid, those without area dropped. Also a mask over objects: those
    of several polygons, every one valid and with area, which
    :func:`converters.plan_union.plan_unions` unites by their vertices."""
    coords = verts[flat][:, :2]
    rings = shapely.linearrings(coords, indices=np.repeat(np.arange(len(sizes)), sizes))
    new = run_starts(ring_poly)
    polys = shapely.polygons(rings, indices=np.cumsum(new) - 1)
    owners = owner[new]
    invalid = ~shapely.is_valid(polys)
    if invalid.any():
        polys[invalid] = shapely.make_valid(polys[invalid])
    area = shapely.area(polys)
    by_obj: dict[int, list] = {}
    for oi, p in zip(owners[area > MIN_AREA].tolist(), polys[area > MIN_AREA]):
        by_obj.setdefault(oi, []).append(p)
    n_obj = int(owner.max()) + 1 if len(owner) else 0
    united = np.bincount(owners, minlength=n_obj) > 1
    united[owners[invalid | (area <= MIN_AREA)]] = False
    return by_obj, united


def merge(parts: list) -> Any:
    """One plan geometry of an object's polygons (``None`` when nothing with
    area is left): a single polygon as it is, several merged."""
    fp = parts[0] if len(parts) == 1 else plan_union(np.array(parts, dtype=object))
    if fp is None or fp.is_empty:
        return None
    return as_area(fp)


def as_area(g: Any) -> Any:
    """The polygons of ``g`` (``make_valid`` may add lines or points)."""
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else None


def plan_union(polys: np.ndarray) -> Any:
    """The union of plan polygons.

    Floors, terrains and roads are coverages (no two polygons overlap in
    plan) and GEOS merges those far faster; a coverage's union has exactly
    the polygons' total area, which tells the two cases apart."""
    if len(polys) == 1:
        return polys[0]
    total = float(shapely.area(polys).sum())
    try:
        u = shapely.coverage_union_all(polys)
    except shapely.errors.GEOSException:  # GEOS noticed an overlap itself
        u = None
    if u is not None and u.is_valid and abs(u.area - total) <= 1e-6 * max(total, 1.0):
        return u
    try:  # GEOS's overlay (robust by itself; a fixed grid costs five times as much)
        u = shapely.union_all(polys)
    except shapely.errors.GEOSException:
        u = None
    if u is None or not u.is_valid:
        u = shapely.union_all(polys, grid_size=1e-4)
    return u if not u.is_empty else None
