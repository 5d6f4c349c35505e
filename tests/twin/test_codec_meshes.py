"""Meshes encoded many at a time (twin.store.codec.encode_meshes) as one
at a time (encode_mesh), runs of meshes and large meshes included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import twin.store.codec as codec
from twin.model import Mesh
from twin.store.codec import decode_mesh, encode_mesh, encode_meshes


def _mesh(seed: int, n: int, labelled: bool) -> Mesh:
    rng = np.random.default_rng(seed)
    v = rng.uniform(-1e3, 1e3, (n, 3)) + (500_000.0, 4_000_000.0, 50.0)
    f = rng.integers(0, n, (2 * n, 3))
    if not labelled:
        return Mesh(v, f)
    return Mesh(v, f, rng.integers(-1, 2, 2 * n), ("RoofSurface", "WallSurface"))


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.tuples(st.integers(1, 40), st.booleans()), min_size=1, max_size=30),
       group=st.integers(1, 120), seed=st.integers(0, 2**16))
def test_many_at_once_as_one_at_a_time(sizes, group, seed):
    meshes = [_mesh(seed + k, n, lab) for k, (n, lab) in enumerate(sizes)]
    saved, codec.GROUP_VERTICES = codec.GROUP_VERTICES, group  # runs split anywhere
    try:
        got = encode_meshes(meshes)
    finally:
        codec.GROUP_VERTICES = saved
    assert got == [encode_mesh(m) for m in meshes]
    for m, row in zip(meshes, got):
        back = decode_mesh(*row)
        assert np.allclose(back.vertices, m.vertices, atol=1e-3)
        assert back.faces.tolist() == m.faces.tolist()


def test_a_mesh_over_65535_vertices_among_small_ones():
    meshes = [_mesh(1, 8, True), _mesh(2, 70_000, False), _mesh(3, 5, False)]
    got = encode_meshes(meshes)
    assert got == [encode_mesh(m) for m in meshes]
    assert len(got[1][6]) == 4 * 3 * 140_000  # its faces as uint32

