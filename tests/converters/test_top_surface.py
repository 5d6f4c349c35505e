"""The top surface of triangles over plan points: the vectorised sampler
against a plain reference, on random meshes and on a gabled house."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from converters.top_surface import grid_in, top_heights


def reference_top(vertices: np.ndarray, faces: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Point by point, triangle by triangle: the highest plane height above it."""
    out = np.full(len(xy), np.nan)
    for k, (x, y) in enumerate(xy):
        for f in faces:
            a, b, c = vertices[f]
            det = (b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])
            if abs(det) < 1e-9:
                continue
            l1 = ((x - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (y - a[1])) / det
            l2 = ((b[0] - a[0]) * (y - a[1]) - (x - a[0]) * (b[1] - a[1])) / det
            if l1 >= -1e-9 and l2 >= -1e-9 and l1 + l2 <= 1 + 1e-9:
                z = a[2] + l1 * (b[2] - a[2]) + l2 * (c[2] - a[2])
                out[k] = z if np.isnan(out[k]) else max(out[k], z)
    return out


coords = st.floats(0.0, 20.0, allow_nan=False).map(lambda v: round(v, 1))


@st.composite
def meshes(draw):
    n = draw(st.integers(3, 9))
    verts = np.array([[draw(coords), draw(coords), draw(coords)] for _ in range(n)])
    m = draw(st.integers(1, 8))
    faces = np.array([draw(st.lists(st.integers(0, n - 1), min_size=3, max_size=3,
                                    unique=True)) for _ in range(m)])
    return verts, faces


@settings(max_examples=150, deadline=None)
@given(meshes(), st.sampled_from([0.7, 1.0, 2.5]))
def test_grid_sampling_matches_the_plain_reference(mesh, cell):
    verts, faces = mesh
    pts = grid_in(box(-1.0, -1.0, 21.0, 21.0), cell)
    got = top_heights(verts, faces, pts, cell=cell)
    want = reference_top(verts, faces, pts)
    # points on an edge may or may not count, depending on rounding: compare
    # where both found a triangle, and require the same coverage elsewhere but
    # for a handful of edge points
    both = np.isfinite(got) & np.isfinite(want)
    assert np.allclose(got[both], want[both], atol=1e-6)
    assert np.sum(np.isfinite(got) != np.isfinite(want)) <= 0.05 * len(pts) + 2
    # the search without the grid layout gives the same heights
    free = top_heights(verts, faces, pts)
    assert np.array_equal(np.isfinite(free), np.isfinite(got))
    assert np.allclose(free[both], got[both])


def test_gabled_house_top_is_the_roof_not_the_floor():
    # a 10 m x 8 m house: floor slab at 0-0.3 m, eaves at 6 m, ridge at 9 m along x
    v = np.array([
        [0, 0, 0.3], [10, 0, 0.3], [10, 8, 0.3], [0, 8, 0.3],      # floor top
        [0, 0, 6.0], [10, 0, 6.0], [10, 4, 9.0], [0, 4, 9.0],      # south roof plane
        [10, 8, 6.0], [0, 8, 6.0],                                 # north eaves
    ], dtype=float)
    f = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7], [7, 6, 8], [7, 8, 9]])
    pts = grid_in(box(0, 0, 10, 8), 0.5)
    z = top_heights(v, f, pts, cell=0.5)
    assert np.isfinite(z).all()
    assert z.min() == pytest.approx(6.0 + 3.0 * 0.25 / 4, abs=1e-9)  # first cell centre
    assert z.max() == pytest.approx(9.0 - 3.0 * 0.25 / 4, abs=1e-9)
    # the median of a symmetric gable is half-way between eaves and ridge
    assert np.median(z) == pytest.approx(7.5, abs=0.2)


def test_points_outside_every_triangle_are_nan_and_vertical_faces_are_ignored():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 0, 5], [0, 1, 1], [1, 1, 1]], dtype=float)
    f = np.array([[0, 1, 2], [0, 1, 3]])  # a vertical wall, a sloping slab
    z = top_heights(v, f, np.array([[0.2, 0.2], [3.0, 3.0]]))
    assert z[0] == pytest.approx(0.2) and np.isnan(z[1])


@settings(max_examples=100, deadline=None)
@given(st.lists(meshes(), min_size=1, max_size=5), st.sampled_from([0.7, 1.0, 2.5]))
def test_chunk_by_chunk_with_the_whole_plan_scale_is_the_whole(parts, cell):
    """An import streams an envelope's meshes and samples them a chunk at a
    time: the np.fmax of the chunks' heights, each with the plan extent of
    all, is exactly the heights of all the meshes at once."""
    pts = grid_in(box(-1.0, -1.0, 21.0, 21.0), cell)
    offsets = np.cumsum([0] + [len(v) for v, _ in parts[:-1]])
    verts = np.concatenate([v for v, _ in parts])
    faces = np.concatenate([f + o for (_, f), o in zip(parts, offsets)])
    whole = top_heights(verts, faces, pts, cell=cell)
    xy = verts[faces.ravel(), :2]
    scale = float(np.maximum(np.ptp(xy, axis=0).max(), 1.0))
    z = np.full(len(pts), np.nan)
    for v, f in parts:
        z = np.fmax(z, top_heights(v, f, pts, cell=cell, plan_scale=scale))
    assert np.array_equal(z, whole, equal_nan=True)
