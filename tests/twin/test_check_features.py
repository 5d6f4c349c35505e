"""A chunk's features checked at once (twin.store.writer.check_features)
give what check_feature gives one by one: the geometries stored, which
polygons become multipolygons, and the first bad feature's own error."""

from __future__ import annotations

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import (
    GeometryCollection,
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
)

import twin
from twin.errors import TwinError
from twin.layers import Layer
from twin.store.writer import check_feature, check_features

LAYERS = {name: Layer(name=name, title=name, group="surface", colour="#888888",
                      geometry_type=kind)
          for name, kind in (("areas", "MULTIPOLYGON"), ("lines", "LINESTRING"),
                             ("points", "POINT"), ("any", "GEOMETRY"))}
SQUARE = [(0, 0), (2, 0), (2, 2), (0, 2)]
GEOMETRIES = [
    None, Polygon(), LineString(), Point(1, 2), Point(1, 2, 3),
    Polygon(SQUARE), Polygon([(x, y, 5.0) for x, y in SQUARE]),
    MultiPolygon([Polygon(SQUARE), Polygon([(5, 5), (6, 5), (6, 6)])]),
    MultiPolygon([Polygon([(x, y, 1.0) for x, y in SQUARE])]),
    LineString([(0, 0, 1), (3, 4, 2)]), LineString([(0, 0), (1, 1)]),
    MultiLineString([[(0, 0, 1), (1, 1, 1)]]),
    MultiLineString([[(0, 0), (1, 1)], [(2, 2), (3, 3)]]),
    MultiPoint([(0, 0), (1, 1)]), GeometryCollection([Point(0, 0)]),
]


def one_by_one(feats):
    try:
        checked = [check_feature(f, LAYERS) for f in feats]
    except TwinError as exc:
        return "error", type(exc), str(exc)
    return [shapely.to_wkb(c[1], output_dimension=3) if c[1] is not None else None
            for c in checked], [c[2] for c in checked]


def at_once(feats):
    try:
        geoms, promote = check_features(feats, LAYERS)
    except TwinError as exc:
        return "error", type(exc), str(exc)
    return [shapely.to_wkb(g, output_dimension=3) if g is not None else None
            for g in geoms], promote.tolist()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(LAYERS) + ["nowhere"]),
                          st.integers(0, len(GEOMETRIES) - 1)), min_size=1, max_size=12))
def test_a_chunk_checked_at_once_is_checked_as_one_by_one(picks):
    feats = [twin.Feature(id=f"f{i}", layer=layer, type="T", footprint=GEOMETRIES[g])
             for i, (layer, g) in enumerate(picks)]
    assert at_once(feats) == one_by_one(feats)


@pytest.mark.parametrize("layer, geom", [("areas", Polygon([(x, y, 5.0) for x, y in SQUARE])),
                                         ("lines", MultiLineString([[(0, 0, 1), (1, 1, 1)]]))])
def test_heights_are_dropped_from_footprints_and_a_line_of_one_part_is_unwrapped(layer, geom):
    geoms, promote = check_features([twin.Feature(id="a", layer=layer, type="T",
                                                  footprint=geom)], LAYERS)
    if layer == "areas":
        assert not shapely.has_z(geoms[0]) and promote.tolist() == [True]
    else:
        assert geoms[0].geom_type == "LineString" and shapely.has_z(geoms[0])
