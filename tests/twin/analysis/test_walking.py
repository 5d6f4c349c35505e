"""Walking distances routed along street centrelines."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import LineString, Point, box

from twin.analysis.walking import StreetNetwork
from twin.errors import TwinError


def _grid(nx=3, ny=2, pitch=100.0):
    """Streets x = 0..nx*pitch and y = 0..ny*pitch, each a single long line."""
    lines = [LineString([(i * pitch, 0), (i * pitch, ny * pitch)]) for i in range(nx + 1)]
    lines += [LineString([(0, j * pitch), (nx * pitch, j * pitch)]) for j in range(ny + 1)]
    return lines


def test_distance_is_the_legs_plus_the_manhattan_path_on_a_grid():
    net = StreetNetwork(_grid())
    homes = [Point(50, 5), Point(150, 95), Point(290, 150)]
    school = [Point(250, 195)]
    d = net.nearest(homes, {"school": school})["school"]
    # (50,5): 5 m to y=0, then 200 east + 200 north... the shortest path from (50,0)
    # to (250,200) on the grid is 400 m; 5 m from the street to the school
    assert d[0] == pytest.approx(5 + 400 + 5)
    # (150,95): 5 m to y=100 at x=150, then 100 east + 100 north, 5 m
    assert d[1] == pytest.approx(5 + 200 + 5)
    # (290,150): 10 m to x=300, 50 north to (300,200), 50 west, 5 m
    assert d[2] == pytest.approx(10 + 100 + 5)
    assert net.km == pytest.approx((4 * 200 + 3 * 300) / 1000)


def test_nearest_of_several_facilities_and_polygons_count_from_their_edge():
    net = StreetNetwork(_grid())
    homes = [Point(10, 50)]
    park = [box(210, 110, 290, 190)]  # a block: its edge is 10 m from every street round it
    clinics = [Point(300, 10), Point(10, 190)]
    d = net.nearest(homes, {"park": park, "clinic": clinics})
    # home joins x=0 at (0,50): 10 m; 50 north and 200 east to the crossing (200,100),
    # then straight to the park's corner (210,110), 10 x sqrt(2); the park opens onto
    # all four streets round it, not only the one that happened to be nearest
    assert d["park"][0] == pytest.approx(10 + 250 + 10 * np.sqrt(2))
    # clinic (10,190) joins x=0 at (0,190): 10 + 140 + 10
    assert d["clinic"][0] == pytest.approx(10 + 140 + 10)


def test_walk_is_never_shorter_than_the_straight_line():
    rng = np.random.default_rng(3)
    net = StreetNetwork(_grid(6, 5, 80.0))
    homes = [Point(p) for p in rng.uniform(0, 400, (200, 2))]
    shops = [Point(p) for p in rng.uniform(0, 400, (5, 2))]
    d = net.nearest(homes, {"shop": shops})["shop"]
    straight = np.array([min(h.distance(s) for s in shops) for h in homes])
    assert np.all(d >= straight - 1e-6)
    # on a grid the walk is at most the Manhattan distance plus twice the half-block legs
    manhattan = np.array([min(abs(h.x - s.x) + abs(h.y - s.y) for s in shops) for h in homes])
    assert np.all(d <= manhattan + 2 * 80.0 + 1e-6)


def test_a_facility_on_a_separate_network_is_unreachable():
    lines = [LineString([(0, 0), (100, 0)]), LineString([(0, 500), (100, 500)])]
    d = StreetNetwork(lines).nearest([Point(50, 5)], {"school": [Point(50, 505)]})["school"]
    assert np.isinf(d[0])


def test_no_lines_is_an_error():
    with pytest.raises(TwinError, match="centreline"):
        StreetNetwork([Point(0, 0)])
