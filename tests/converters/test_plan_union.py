"""Plan unions by shared edges (converters/plan_union.py) against GEOS's
``union_all``, the plain reference: the same region on triangle soups,
tilings, meshes with holes and loops that touch; the same bytes where
the union's vertices are the triangles' own."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from converters import plan_union
from converters.ifc_building import plan_outline, plan_outlines
from converters.plan_union import plan_unions, triangle_unions


def _no_geos(*args, **kwargs):
    raise AssertionError("GEOS was asked to unite what the loops decide")


def reference(xy: np.ndarray, faces: np.ndarray, group: np.ndarray, n: int) -> list:
    """GEOS's union of each group's triangles (``None`` without any)."""
    out: list = []
    for g in range(n):
        tri = xy[faces[group == g]]
        if not len(tri):
            out.append(None)
            continue
        polys = shapely.polygons(np.concatenate([tri, tri[:, :1]], axis=1))
        polys = polys[shapely.area(polys) > 0]
        out.append(shapely.union_all(polys) if len(polys) else None)
    return out


def assert_same_region(got, want, rel: float = 1e-9) -> None:
    if want is None or want.is_empty:
        assert got is None
        return
    assert got is not None and got.is_valid
    assert got.geom_type in ("Polygon", "MultiPolygon")
    diff = shapely.symmetric_difference(got, want).area
    assert diff <= rel * want.area + 1e-12, (diff, want.area)


def grid_tiling(nx: int, ny: int, x0: float = 0.0, y0: float = 0.0) -> tuple:
    """An nx x ny grid of unit squares, each split into two triangles that
    share the squares' corners: vertices (n, 2), faces (m, 3)."""
    ix, iy = np.meshgrid(np.arange(nx + 1), np.arange(ny + 1), indexing="ij")
    xy = np.stack([ix.ravel() + x0, iy.ravel() + y0], axis=1).astype(float)
    vid = np.arange((nx + 1) * (ny + 1)).reshape(nx + 1, ny + 1)
    a, b = vid[:-1, :-1].ravel(), vid[1:, :-1].ravel()
    c, d = vid[1:, 1:].ravel(), vid[:-1, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return xy, faces


@st.composite
def triangle_soups(draw):
    """Triangles over a few shared points (on a coarse grid, so that edges
    are shared, meet and cross), turned either way, in a few groups."""
    n_pts = draw(st.integers(3, 14))
    pts = draw(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)),
                        min_size=n_pts, max_size=n_pts, unique=True))
    xy = np.array(pts, float) * 0.5 + np.array([500_000.0, 4_000_000.0])
    n_tri = draw(st.integers(1, 24))
    faces = np.array(draw(st.lists(
        st.lists(st.integers(0, n_pts - 1), min_size=3, max_size=3, unique=True),
        min_size=n_tri, max_size=n_tri)), np.int64)
    n_groups = draw(st.integers(1, 3))
    group = np.array(draw(st.lists(st.integers(0, n_groups - 1), min_size=n_tri,
                                   max_size=n_tri)), np.int64)
    return xy, faces, group, n_groups


@settings(max_examples=300, deadline=None)
@given(triangle_soups())
def test_triangle_unions_cover_what_geos_covers(soup):
    xy, faces, group, n = soup
    got = triangle_unions(xy, faces, group, n)
    for g, want in zip(got, reference(xy, faces, group, n)):
        assert_same_region(g, want)


@st.composite
def holed_tilings(draw):
    """A grid tiling with some squares taken out (holes, separate parts,
    parts that touch at a corner), shifted far from the origin."""
    nx, ny = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    xy, faces = grid_tiling(nx, ny, 300_000.0, 5_000_000.0)
    squares = nx * ny
    keep = np.array(draw(st.lists(st.booleans(), min_size=squares, max_size=squares)))
    keep = np.concatenate([keep, keep])
    return xy, faces[keep]


@settings(max_examples=200, deadline=None)
@given(holed_tilings())
def test_tilings_trace_to_geos_bytes(tiling):
    xy, faces = tiling
    group = np.zeros(len(faces), np.int64)
    with pytest.MonkeyPatch.context() as mp:  # a tiling needs no overlay
        mp.setattr(plan_union, "_geos", _no_geos)
        got = triangle_unions(xy, faces, group, 1)[0]
    want = reference(xy, faces, group, 1)[0]
    assert_same_region(got, want, rel=0.0)
    if want is not None:
        # the same vertices as GEOS's union: the same bytes once normalised
        assert got.wkb == shapely.normalize(want).wkb


def test_squares_touching_at_a_corner_stay_two_polygons(monkeypatch):
    monkeypatch.setattr(plan_union, "_geos", _no_geos)  # the loops part at the corner
    xy = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [2, 1], [2, 2], [1, 2]], float)
    faces = np.array([[0, 1, 2], [0, 2, 3], [2, 4, 5], [2, 5, 6]])
    got = triangle_unions(xy, faces, np.zeros(4, np.int64), 1)[0]
    assert got.geom_type == "MultiPolygon" and len(got.geoms) == 2
    assert got.area == 2.0


def test_overlapping_patches_are_united_by_geos():
    # two tiled squares, one over the other's corner (a flange over a web)
    xy1, f1 = grid_tiling(2, 2)
    xy2, f2 = grid_tiling(2, 2, 1.5, 1.5)
    xy = np.concatenate([xy1, xy2])
    faces = np.concatenate([f1, f2 + len(xy1)])
    got = triangle_unions(xy, faces, np.zeros(len(faces), np.int64), 1)[0]
    assert got.area == pytest.approx(8.0 - 0.25)
    assert_same_region(got, reference(xy, faces, np.zeros(len(faces), np.int64), 1)[0])


def test_plan_unions_of_polygons_with_holes():
    # a square with a square hole, and a small square inside the hole
    xy = np.array([[0, 0], [4, 0], [4, 4], [0, 4], [1, 1], [1, 3], [3, 3], [3, 1],
                   [1.5, 1.5], [2.5, 1.5], [2.5, 2.5], [1.5, 2.5]], float)
    flat = np.arange(12)
    got = plan_unions(xy, flat, np.array([4, 4, 4]), np.array([0, 0, 1]),
                      np.array([0, 0, 0]), 1)[0]
    assert got.geom_type == "MultiPolygon" and got.area == pytest.approx(16 - 4 + 1)


def test_plan_outline_of_a_box_is_its_floor():
    # a closed 1 x 2 x 3 box: 12 triangles, 4 of them horizontal
    v = np.array([[x, y, z] for z in (0, 3) for y in (0, 2) for x in (0, 1)], float)
    f = np.array([[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
                  [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5]])
    out = plan_outline(v, f)
    assert out.equals(shapely.box(0, 0, 1, 2)) and out.wkb == shapely.normalize(out).wkb


def test_plan_outlines_in_one_pass_equal_one_by_one():
    rng = np.random.default_rng(5)
    meshes = []
    for k in range(12):
        xy, faces = grid_tiling(1 + k % 4, 1 + k % 3, 10.0 * k)
        z = rng.uniform(0, 1, len(xy))
        meshes.append((np.column_stack([xy, z]), faces))
    together = plan_outlines(meshes)
    assert [g.wkb for g in together] == [plan_outline(v, f).wkb for v, f in meshes]


def test_many_vertices_are_numbered_afresh(monkeypatch):
    # edge keys that would overflow number the vertices in use afresh: the same unions
    xy1, f1 = grid_tiling(3, 2)
    xy2, f2 = grid_tiling(2, 2, 1.5, 0.5)
    xy = np.concatenate([np.zeros((50, 2)), xy1, xy2])  # vertices no triangle uses
    faces = np.concatenate([f1 + 50, f2 + 50 + len(xy1)])
    group = np.r_[np.zeros(len(f1), np.int64), np.ones(len(f2), np.int64),
                  np.zeros(2, np.int64)]
    faces = np.concatenate([faces, f2[:2] + 50 + len(xy1)])
    want = [g.wkb for g in triangle_unions(xy, faces, group, 2)]
    monkeypatch.setattr(plan_union, "KEY_BITS", 12)
    assert [g.wkb for g in triangle_unions(xy, faces, group, 2)] == want
