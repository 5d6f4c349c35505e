"""Plan footprints of city objects from their polygons: which polygons are
taken (ground surfaces, the downward faces of a closed volume, else every
face) and the outlines traced from shared edges, checked against a plain
shapely union."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon

from converters.cityjson_footprints import (
    footprint_polygons,
    object_footprints,
    polygon_plan_areas,
    trace_outlines,
)
from converters.plan_union import ring_plan_areas

# Delft, in metres: areas must survive coordinates of this size
X0, Y0 = 85_000.0, 447_000.0


def _flat(polygons: list[list[list[int]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rings = [r for p in polygons for r in p]
    return (np.array([i for r in rings for i in r], np.int64),
            np.array([len(r) for r in rings], np.int64),
            np.array([len(p) for p in polygons], np.int64))


def _footprint(verts: np.ndarray, polygons: list, ground: list[bool] | None = None):
    """The footprint of one object made of ``polygons`` (one LoD)."""
    flat, sizes, poly_rings = _flat(polygons)
    area = polygon_plan_areas(ring_plan_areas(verts, flat, sizes), poly_rings)
    n = len(polygons)
    pick = footprint_polygons(area, np.zeros(n, np.int64), np.zeros(1, np.int64),
                              np.zeros(1, np.int64), np.ones(1, bool),
                              np.array(ground if ground else [False] * n))
    return pick, object_footprints(verts, flat, sizes, poly_rings, pick,
                                   np.zeros(n, np.int64), area).get(0)


def _prism(outline: list[tuple[float, float]], z0: float, z1: float
           ) -> tuple[np.ndarray, list, list]:
    """Vertices, the floor and roof, and the walls of a prism over a
    counter-clockwise outline, every face turned outwards."""
    n = len(outline)
    verts = np.array([(X0 + x, Y0 + y, z) for z in (z0, z1) for x, y in outline])
    floor = [list(range(n))[::-1]]  # seen from above: clockwise, facing down
    roof = [list(range(n, 2 * n))]
    walls = [[[i, (i + 1) % n, n + (i + 1) % n, n + i]] for i in range(n)]
    return verts, [floor, roof], walls


ELL = [(0, 0), (10, 0), (10, 4), (4, 4), (4, 9), (0, 9)]


def test_a_closed_volume_stands_on_its_downward_faces_only():
    verts, (floor, roof), walls = _prism(ELL, 0.0, 6.0)
    ell = shapely.affinity.translate(Polygon(ELL), X0, Y0)
    pick, fp = _footprint(verts, [floor, roof, *walls])
    assert pick.tolist() == [True] + [False] * 7
    assert fp.symmetric_difference(ell).area < 1e-6
    # sheared (its roof 0.5 m east of its floor): the walls under the roof's
    # overhang face down too, and with the floor cover the volume's plan once
    verts[6:, 0] += 0.5
    pick, fp = _footprint(verts, [floor, roof, *walls])
    assert pick[0] and not pick[1] and pick[2:].sum() == 2
    swept = shapely.union_all([ell, shapely.affinity.translate(ell, 0.5)])
    assert fp.symmetric_difference(swept).area < 1e-6


def test_an_open_shell_takes_every_face_with_plan_area():
    """Walls and a roof without a floor, plus a small overhang facing down:
    the overhang alone must not be taken for the footprint."""
    verts, (_floor, roof), walls = _prism(ELL, 0.0, 6.0)
    over = len(verts)
    verts = np.vstack([verts, [[X0, Y0, 3.0], [X0 + 1, Y0, 3.0], [X0, Y0 + 1, 3.0]]])
    overhang = [[over, over + 2, over + 1]]  # clockwise from above: facing down
    pick, fp = _footprint(verts, [roof, *walls, overhang])
    assert pick.tolist() == [True] + [False] * 6 + [True]
    assert fp.area == np.float64(Polygon(ELL).area)


def test_ground_surfaces_are_the_footprint_even_under_a_wider_roof():
    verts, (floor, roof), walls = _prism([(0, 0), (8, 0), (8, 5), (0, 5)], 0.0, 3.0)
    verts[4:, :2] = (verts[4:, :2] - [X0 + 4, Y0 + 2.5]) * 1.5 + [X0 + 4, Y0 + 2.5]
    pick, fp = _footprint(verts, [floor, roof, *walls], ground=[True] + [False] * 5)
    assert pick.tolist() == [True] + [False] * 5
    assert abs(fp.area - 40.0) < 1e-6


def test_signed_plan_areas_subtract_holes_and_keep_their_sign():
    sq = [(0, 0), (4, 0), (4, 4), (0, 4)]
    hole = [(1, 1), (1, 2), (2, 2), (2, 1)]
    verts = np.array([(X0 + x, Y0 + y, 0.0) for x, y in sq + hole])
    flat, sizes, poly_rings = _flat([[[0, 1, 2, 3], [4, 5, 6, 7]],
                                     [[3, 2, 1, 0], [7, 6, 5, 4]]])
    area = polygon_plan_areas(ring_plan_areas(verts, flat, sizes), poly_rings)
    assert area.tolist() == [15.0, -15.0]


def _grid(cells: set[tuple[int, int]], split: dict, down: dict, n: int):
    """Unit squares of an n x n grid, sharing their corners by index; some
    cut into two triangles, some turned to face down."""
    verts = np.array([(X0 + i, Y0 + j, 0.0) for i in range(n + 1) for j in range(n + 1)])

    def v(i, j):
        return i * (n + 1) + j

    polys = []
    for i, j in sorted(cells):
        a, b, c, d = v(i, j), v(i + 1, j), v(i + 1, j + 1), v(i, j + 1)
        parts = [[a, b, c], [a, c, d]] if split.get((i, j)) else [[a, b, c, d]]
        polys += [[p[::-1] if down.get((i, j)) else p] for p in parts]
    return verts, polys


def _pinched(cells: set[tuple[int, int]], n: int) -> bool:
    """Whether two cells meet at a corner only (the outline touches itself)."""
    for i in range(1, n):
        for j in range(1, n):
            around = [(i - 1, j - 1) in cells, (i, j - 1) in cells, (i, j) in cells,
                      (i - 1, j) in cells]
            if around in ([True, False, True, False], [False, True, False, True]):
                return True
    return False


N = 5
CELLS = st.sets(st.tuples(st.integers(0, N - 1), st.integers(0, N - 1)), min_size=1)


@settings(max_examples=150, deadline=None)
@given(cells=CELLS, data=st.data(), key_bits=st.sampled_from([62, 8]))
def test_footprints_traced_or_merged_equal_a_plain_union(cells, data, key_bits):
    """Patches of unit squares (holes, several parts, triangles, faces turned
    down): the footprint is the union of the squares; it is traced without
    GEOS unless two squares meet at a corner only. (Few key bits: vertices
    numbered afresh, as for a file of many millions.)"""
    from converters import cityjson_footprints

    cityjson_footprints.KEY_BITS = key_bits
    try:
        split = {c: data.draw(st.booleans()) for c in cells}
        down = {c: data.draw(st.booleans()) for c in cells}
        verts, polys = _grid(cells, split, down, N)
        flat, sizes, poly_rings = _flat(polys)
        area = polygon_plan_areas(ring_plan_areas(verts, flat, sizes), poly_rings)
        owner = np.zeros(len(polys), np.int64)
        expected = shapely.union_all([Polygon([(X0 + i, Y0 + j), (X0 + i + 1, Y0 + j),
                                               (X0 + i + 1, Y0 + j + 1), (X0 + i, Y0 + j + 1)])
                                      for i, j in cells])
        fp = object_footprints(verts, flat, sizes, poly_rings, np.ones(len(polys), bool), owner,
                               area)[0]
        assert fp.symmetric_difference(expected).area < 1e-9
        traced = trace_outlines(verts, flat, sizes, area < 0, owner, np.abs(area))
        assert (0 in traced) == (not _pinched(cells, N))
        if traced:
            assert traced[0].symmetric_difference(expected).area < 1e-9
            assert traced[0].area == len(cells)
    finally:
        cityjson_footprints.KEY_BITS = 62
