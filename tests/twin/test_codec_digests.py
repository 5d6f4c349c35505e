"""Version digests hash a row's values as the per-value reference does."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.errors import StoreError
from twin.store.codec import _digest_value, version_digests

values = st.one_of(st.none(), st.text(max_size=8), st.integers(-2**40, 2**40),
                   st.floats(allow_nan=False), st.binary(max_size=40),
                   st.binary(max_size=8).map(memoryview))


def reference(columns, rows, mesh_rows, edge_rows):
    """One value at a time through ``_digest_value``."""
    skip = {"fid", "batch_id", "tile", "digest", "retired_batch"}
    out = []
    for row in rows:
        h = hashlib.blake2b(digest_size=16)
        for c, v in zip(columns, row):
            if c not in skip:
                _digest_value(h, v)
        fid = row[columns.index("fid")]
        for mr in sorted(mesh_rows.get(fid, ()), key=lambda m: m[1]):
            h.update(b"\x10")
            for v in mr[1:]:
                _digest_value(h, v)
        if fid in edge_rows:
            h.update(b"\x11")
            for v in edge_rows[fid][1:]:
                _digest_value(h, v)
        out.append(h.hexdigest())
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(values, values, values), min_size=1, max_size=5),
       st.lists(st.tuples(st.text(max_size=3), values, values), max_size=3),
       st.one_of(st.none(), st.tuples(values, values)))
def test_digests_hash_values_as_the_reference(rows, meshes, edge):
    columns = ["fid", "name", "batch_id", "a", "b"]
    full = [(i, r[0], 7, r[1], r[2]) for i, r in enumerate(rows)]
    mesh_rows = {0: [(0, *m) for m in meshes]}
    edge_rows = {0: (0, *edge)} if edge is not None else {}
    assert version_digests(columns, full, mesh_rows, edge_rows) == \
        reference(columns, full, mesh_rows, edge_rows)


def test_a_value_of_another_type_is_an_error():
    with pytest.raises(StoreError, match="type bool"):
        version_digests(("fid", "x"), [(1, True)], {}, {})
    with pytest.raises(StoreError, match="type list"):
        version_digests(("fid",), [(1,)], {1: [(1, "lod2", [1])]}, {})
