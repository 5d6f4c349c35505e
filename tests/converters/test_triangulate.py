"""Triangulation of 3D polygons with holes: property-based and canonical cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from converters.triangulate import TriangulationReport, triangulate_polygons


def _rotation(a: float, b: float, c: float) -> np.ndarray:
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    rx = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]])
    ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
    rz = np.array([[cc, -sc, 0], [sc, cc, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _areas(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    t = v[f]
    return np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1) / 2


@st.composite
def polygon_with_holes(draw):
    """A star-shaped outer ring (k vertices, radii 5-10 m, no angular gap over
    90 degrees, so every edge stays over 3.5 m from the centre) with 0-3 square
    holes inside the 2.6 m disc, rotated and moved anywhere in 3D, at city
    coordinates."""
    k = draw(st.integers(5, 24))
    radii = draw(st.lists(st.floats(5.0, 10.0), min_size=k, max_size=k))
    # angles on a 0.36 degree grid: vertices at least 3 cm apart, as surveyed
    # data are (earcut is not made for near-coincident vertices)
    steps = draw(st.lists(st.integers(0, 999), min_size=k, max_size=k, unique=True))
    ang = np.sort(np.asarray(steps)) * (2 * np.pi / 1000)
    gaps = np.diff(np.concatenate([ang, [ang[0] + 2 * np.pi]]))
    assume(gaps.max() <= np.pi / 2)
    outer = np.column_stack([np.cos(ang) * radii, np.sin(ang) * radii, np.zeros(k)])
    n_holes = draw(st.integers(0, 3))
    holes = []
    for h in range(n_holes):  # squares of side 0.8 on a row inside the 2.6 m disc
        x0 = -2.5 + 2.1 * h
        sq = np.array([[x0, -0.4, 0], [x0, 0.4, 0], [x0 + 0.8, 0.4, 0], [x0 + 0.8, -0.4, 0]])
        holes.append(sq)  # clockwise, as holes should be
    rot = _rotation(*draw(st.tuples(*[st.floats(0, 2 * np.pi)] * 3)))
    shift = np.array([559000.0, 4520800.0, 1050.0]) + draw(
        st.tuples(*[st.floats(-500, 500)] * 3))
    rings = [outer, *holes]
    pts = np.concatenate(rings) @ rot.T + shift
    idx, start = [], 0
    for r in rings:
        idx.append(list(range(start, start + len(r))))
        start += len(r)
    ang_d = np.diff(np.concatenate([ang, [ang[0] + 2 * np.pi]]))
    area = 0.5 * np.sum(np.asarray(radii) * np.roll(radii, -1) * np.sin(ang_d)) \
        - 0.64 * n_holes
    normal = rot @ np.array([0, 0, 1.0])
    return pts, idx, area, normal


@settings(max_examples=150, deadline=None)
@given(polygon_with_holes())
def test_area_and_orientation_are_preserved(case):
    pts, rings, area, normal = case
    faces, owner = triangulate_polygons(pts, [rings])
    assert faces.min() >= 0 and faces.max() < len(pts)
    assert (owner == 0).all()
    assert _areas(pts, faces).sum() == pytest.approx(area, rel=1e-6)
    t = pts[faces]
    n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    assert (n @ normal > 0).all()  # every triangle faces like the polygon


@settings(max_examples=100, deadline=None)
@given(polygon_with_holes())
def test_no_triangle_lies_in_a_hole(case):
    pts, rings, area, _ = case
    if len(rings) == 1:
        return
    faces, _ = triangulate_polygons(pts, [rings])
    centroids = pts[faces].mean(axis=1)
    for hole in rings[1:]:
        h = pts[hole]
        c = h.mean(axis=0)
        half = np.linalg.norm(h[0] - c) / np.sqrt(2) * 0.999  # inscribed half side
        e1 = (h[1] - h[0]) / np.linalg.norm(h[1] - h[0])
        e2 = (h[3] - h[0]) / np.linalg.norm(h[3] - h[0])
        d = centroids - c
        inside = (np.abs(d @ e1) < half) & (np.abs(d @ e2) < half)
        assert not inside.any()


def test_degenerate_rings_are_counted_not_fatal():
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 2, 2.0]])
    rep = TriangulationReport()
    faces, owner = triangulate_polygons(
        v, [[[0, 1, 2, 3]], [[0, 1, 0]], [[4, 4, 4, 4]], [[0, 1, 2]]], report=rep)
    assert rep.degenerate_rings == 2 and rep.degenerate_polygons == 2
    assert sorted(set(owner.tolist())) == [0, 3] and len(faces) == 3


def test_non_planar_polygons_are_reported():
    v = np.array([[0, 0, 0], [10, 0, 0], [10, 10, 0.5], [0, 10, 0.0]])
    rep = TriangulationReport()
    faces, _ = triangulate_polygons(v, [[[0, 1, 2, 3]]], report=rep)
    assert rep.non_planar == 1 and len(faces) == 2


def test_index_out_of_range_raises_naming_the_place():
    v = np.zeros((3, 3))
    with pytest.raises(IndexError, match="obj 7.*out of range"):
        triangulate_polygons(v, [[[0, 1, 5]]], where="obj 7")


@st.composite
def quadrilateral(draw):
    """A simple quadrilateral, convex or concave (a dart), either orientation,
    rotated anywhere in 3D at city coordinates; with its area and normal."""
    a = draw(st.floats(2.0, 30.0))
    b = draw(st.floats(2.0, 30.0))
    # > 0 pushes vertex 2 inwards: a concave dart; at 0.5 it sits on the 1-3
    # diagonal, a triangle with a straight corner (one triangle, not a quad)
    dent = draw(st.floats(-0.8, 0.8).filter(lambda d: abs(d - 0.5) > 1e-3))
    start = draw(st.integers(0, 3))
    reverse = draw(st.booleans())
    # vertex 2 at (a/2, b(1 - dent)): concave where it falls below the 1-3 diagonal
    # (dent > 0.5), else convex; (a, b) for a plain rectangle
    corner = [a * 0.5, b * (1 - dent)] if dent > 0 else [a, b]
    ring = np.array([[0, 0], [a, 0], corner, [0, b]], dtype=float)
    area = 0.5 * abs(np.dot(ring[:, 0], np.roll(ring[:, 1], -1))
                     - np.dot(ring[:, 1], np.roll(ring[:, 0], -1)))
    order = np.roll(np.arange(4), -start)
    if reverse:
        order = order[::-1]
    sign = -1.0 if reverse else 1.0
    rot = _rotation(*draw(st.tuples(*[st.floats(0, 2 * np.pi)] * 3)))
    pts = np.column_stack([ring, np.zeros(4)])[order] @ rot.T + [559000.0, 4520800.0, 1050.0]
    return pts, [list(range(4))], area, sign * (rot @ np.array([0, 0, 1.0]))


@settings(max_examples=200, deadline=None)
@given(quadrilateral())
def test_quads_split_inside_keeping_area_and_orientation(case):
    """The vectorised quad path (wall faces) against the quad's own area and
    normal: a wrong diagonal of a concave quad adds area outside it."""
    pts, rings, area, normal = case
    faces, owner = triangulate_polygons(pts, [rings])
    assert len(faces) == 2 and (owner == 0).all()
    assert _areas(pts, faces).sum() == pytest.approx(area, rel=1e-6)
    t = pts[faces]
    n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    assert (n @ normal > 0).all()


@st.composite
def convex_polygon(draw):
    """A convex polygon (5-30 vertices on an ellipse, some straight corners
    where a vertex sits on the chord of its neighbours), either orientation,
    rotated anywhere in 3D at city coordinates; with its area and normal."""
    k = draw(st.integers(5, 30))
    steps = draw(st.lists(st.integers(0, 359), min_size=k, max_size=k, unique=True))
    ang = np.radians(np.sort(steps))
    assume(np.diff(np.concatenate([ang, [ang[0] + 2 * np.pi]])).max() <= np.pi / 2)
    a, b = draw(st.floats(3.0, 40.0)), draw(st.floats(3.0, 40.0))
    ring = np.column_stack([a * np.cos(ang), b * np.sin(ang)])
    if draw(st.booleans()):  # a straight corner: the midpoint of an edge
        ring = np.vstack([ring[:1], (ring[0] + ring[1]) / 2, ring[1:]])
    area = 0.5 * abs(np.dot(ring[:, 0], np.roll(ring[:, 1], -1))
                     - np.dot(ring[:, 1], np.roll(ring[:, 0], -1)))
    reverse = draw(st.booleans())
    order = np.arange(len(ring))[::-1] if reverse else np.arange(len(ring))
    rot = _rotation(*draw(st.tuples(*[st.floats(0, 2 * np.pi)] * 3)))
    pts = np.column_stack([ring, np.zeros(len(ring))])[order] @ rot.T \
        + [559000.0, 4520800.0, 1050.0]
    sign = -1.0 if reverse else 1.0
    return pts, [list(range(len(ring)))], area, sign * (rot @ np.array([0, 0, 1.0]))


@settings(max_examples=150, deadline=None)
@given(convex_polygon())
def test_convex_polygons_fan_keeping_area_and_orientation(case):
    pts, rings, area, normal = case
    faces, owner = triangulate_polygons(pts, [rings])
    assert (owner == 0).all() and len(faces) <= len(rings[0]) - 2
    areas = _areas(pts, faces)
    assert areas.sum() == pytest.approx(area, rel=1e-6) and (areas > 1e-9).all()
    t = pts[faces]
    n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    assert (n @ normal > 0).all()


def test_only_simple_convex_rings_count_as_convex():
    from converters.triangulate import _convex

    def convex(xy):
        pts = np.column_stack([np.asarray(xy, float), np.zeros(len(xy))])
        return bool(_convex(pts, np.array([0]), np.array([len(xy)]), np.array([0]),
                            np.array([[0, 0, 1.0]]))[0])

    square = [(0, 0), (4, 0), (4, 4), (0, 4)]
    assert convex(square)
    assert convex([(0, 0), (2, 0), (4, 0), (4, 4), (0, 4)])  # a straight corner
    assert not convex(square[::-1])  # turns the other way round its normal
    assert not convex([(0, 0), (4, 0), (2, 1), (4, 4), (0, 4)])  # a dent
    assert not convex([(0, 0), (4, 0), (6, 0), (4, 0.0001), (4, 4), (0, 4)][:5])
    star = [(np.cos(t), np.sin(t)) for t in np.radians(90 + 144 * np.arange(5))]
    assert not convex(star)  # a pentagram turns one way, but twice round


def _clean_reference(ring):
    """Ring cleaning written the plain way: the closing vertex off, then
    consecutive repeats, then any vertex repeating the first at the end."""
    r = list(ring)
    if len(r) > 1 and r[0] == r[-1]:
        r.pop()
    out = [v for i, v in enumerate(r) if i == 0 or v != r[i - 1]]
    while len(out) > 1 and out[-1] == out[0]:
        out.pop()
    return out


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), max_size=8), min_size=1, max_size=40))
def test_ring_cleaning_matches_the_plain_way(rings):
    from converters.triangulate import clean_rings

    flat = np.array([v for r in rings for v in r], np.int64)
    sizes = np.array([len(r) for r in rings], np.int64)
    out, new_sizes, distinct = clean_rings(flat, sizes)
    pos = 0
    for ring, n, d in zip(rings, new_sizes.tolist(), distinct.tolist()):
        expected = _clean_reference(ring)
        assert out[pos:pos + n].tolist() == expected
        pos += n
        k = len(set(expected))
        assert (d < 3) == (k < 3) and (k >= 3 or d == k)
