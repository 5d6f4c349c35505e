import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon, box

from twin.geometry import (
    circle_profile,
    cylinder,
    extrude_footprint,
    mesh_area,
    mesh_volume,
    polyline_pipe,
    rect_profile,
    surface_mesh,
    triangulate_polygon,
)


@st.composite
def polygons_with_holes(draw):
    """Star-shaped outer rings with up to 2 rectangular holes inside."""
    n = draw(st.integers(5, 14))
    radii = draw(st.lists(st.floats(40, 100), min_size=n, max_size=n))
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    cx, cy = draw(st.floats(-1e3, 1e3)), draw(st.floats(-1e3, 1e3))
    outer = [(cx + r * np.cos(a), cy + r * np.sin(a)) for r, a in zip(radii, ang)]
    holes = []
    for k in range(draw(st.integers(0, 2))):
        hx = cx - 25 + 30 * k
        holes.append([(hx, cy - 8), (hx + 15, cy - 8), (hx + 15, cy + 8), (hx, cy + 8)])
    return Polygon(outer, holes)


@settings(max_examples=60, deadline=None)
@given(polygons_with_holes())
def test_triangulation_preserves_area_and_respects_holes(poly):
    v, f = triangulate_polygon(poly)
    assert f.min() >= 0 and f.max() < len(v)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    assert np.all(cross > 0)  # counter-clockwise
    assert 0.5 * cross.sum() == pytest.approx(poly.area, rel=1e-9)
    centroids = (a + b + c) / 3
    inside = shapely.contains_xy(poly, centroids[:, 0], centroids[:, 1])
    assert inside.all()  # no triangle in a hole or outside


@settings(max_examples=40, deadline=None)
@given(polygons_with_holes(), st.floats(1, 100))
def test_extrusion_is_closed_and_outward(poly, height):
    m = extrude_footprint(poly, 1000.0, 1000.0 + height)
    assert mesh_volume(m.vertices, m.faces) == pytest.approx(poly.area * height, rel=1e-6)
    counts = m.label_counts()
    assert counts["GroundSurface"] == counts["RoofSurface"]
    assert counts["WallSurface"] == 2 * sum(len(r.coords) - 1 for r in
                                            [poly.exterior, *poly.interiors])


def test_pipe_surface_matches_cylinder_area():
    r, length = 0.15, 40.0
    m = polyline_pipe(np.array([[0, 0, -2], [40, 0, -2]]), circle_profile(r, 64))
    assert mesh_area(m.vertices, m.faces) == pytest.approx(2 * np.pi * r * length, rel=2e-3)
    assert m.bounds[2] == pytest.approx(-2 - r)


def test_duct_is_a_box_section_with_vertical_height():
    m = polyline_pipe(np.array([[0, 0, 0], [0, 10, 0]]), rect_profile(0.6, 0.4))
    xmin, ymin, zmin, xmax, ymax, zmax = m.bounds
    assert (xmax - xmin, zmax - zmin) == pytest.approx((0.6, 0.4))


def test_polyline_pipe_drops_repeated_points_and_refuses_degenerate():
    m = polyline_pipe(np.array([[0, 0, 0], [0, 0, 0], [5, 0, 0], [5, 5, 0]]), rect_profile(1, 1))
    assert m.n_faces == 2 * 8
    with pytest.raises(ValueError, match="two distinct points"):
        polyline_pipe(np.array([[1, 1, 1], [1, 1, 1]]), rect_profile(1, 1))


def test_cylinder_volume():
    c = cylinder((10.0, 20.0), -3.0, 0.0, 0.5, sides=128)
    assert mesh_volume(c.vertices, c.faces) == pytest.approx(np.pi * 0.25 * 3, rel=1e-3)


def test_surface_mesh_keeps_vertex_heights():
    p = Polygon([(0, 0, 1), (10, 0, 2), (10, 10, 3), (0, 10, 2)])
    m = surface_mesh(p)
    assert sorted(set(m.vertices[:, 2])) == [1, 2, 3]
    flat = np.column_stack([m.vertices[:, :2], np.zeros(m.n_vertices)])
    assert mesh_area(flat, m.faces) == pytest.approx(100.0)  # plan area of the square


def test_extrude_refuses_top_below_base():
    with pytest.raises(ValueError, match="top must be above base"):
        extrude_footprint(box(0, 0, 1, 1), 5, 5)


def test_graded_polyline_slopes_by_plan_distance():
    from twin.geometry import graded_polyline

    coords, length = graded_polyline(np.array([[0, 0], [30, 0], [30, 10]]), 10.0, 6.0)
    assert length == 40.0
    np.testing.assert_allclose(coords[:, 2], [10.0, 7.0, 6.0])
    _, zero = graded_polyline(np.array([[5, 5], [5, 5]]), 1.0, 2.0)
    assert zero == 0.0
