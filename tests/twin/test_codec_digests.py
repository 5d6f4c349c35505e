"""Version digests hash a row's values as the per-value reference does, in
either digest format (twin.store.digests)."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.errors import StoreError
from twin.store.digests import digest_format_of, digest_value, version_digests

numbers = st.one_of(st.integers(-2**70, 2**70), st.floats())
values = st.one_of(st.none(), st.text(max_size=8), numbers, st.binary(max_size=40),
                   st.binary(max_size=8).map(memoryview))


def reference(columns, rows, mesh_rows, edge_rows, fmt):
    """One value at a time through ``digest_value``."""
    skip = {"fid", "batch_id", "tile", "digest", "retired_batch"}
    out = []
    for row in rows:
        h = hashlib.blake2b(digest_size=16)
        for c, v in zip(columns, row):
            if c not in skip:
                digest_value(h, v, fmt)
        fid = row[columns.index("fid")]
        for mr in sorted(mesh_rows.get(fid, ()), key=lambda m: m[1]):
            h.update(b"\x10")
            for v in mr[1:]:
                digest_value(h, v, fmt)
        if fid in edge_rows:
            h.update(b"\x11")
            for v in edge_rows[fid][1:]:
                digest_value(h, v, fmt)
        out.append(h.hexdigest())
    return out


@pytest.mark.parametrize("fmt", [1, 2])
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(values, values, values), min_size=1, max_size=5),
       st.lists(st.tuples(st.text(max_size=3), values, values), max_size=3),
       st.one_of(st.none(), st.tuples(values, values)))
def test_digests_hash_values_as_the_reference(fmt, rows, meshes, edge):
    columns = ["fid", "name", "batch_id", "a", "b"]
    full = [(i, r[0], 7, r[1], r[2]) for i, r in enumerate(rows)]
    mesh_rows = {0: [(0, *m) for m in meshes]}
    edge_rows = {0: (0, *edge)} if edge is not None else {}
    assert version_digests(columns, full, mesh_rows, edge_rows, fmt) == \
        reference(columns, full, mesh_rows, edge_rows, fmt)


@pytest.mark.parametrize("fmt", [1, 2])
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=3), numbers, numbers, st.none() | numbers),
                min_size=1, max_size=6))
def test_runs_of_number_columns_hash_as_the_reference(fmt, rows):
    """Columns of numbers side by side (bounds, mesh origins): format 2
    writes them as one block a row."""
    columns = ["fid", "x", "y", "z", "name"]
    full = [(i, r[1], r[2], r[3], r[0]) for i, r in enumerate(rows)]
    assert version_digests(columns, full, {}, {}, fmt) == reference(columns, full, {}, {}, fmt)


def test_the_formats_hash_numbers_differently_and_all_else_alike():
    row = [(1, "a", b"\x01", None)]
    columns = ("fid", "s", "b", "n")
    assert version_digests(columns, row, {}, {}, 1) == version_digests(columns, row, {}, {}, 2)
    row = [(1, 2.5)]
    assert version_digests(("fid", "x"), row, {}, {}, 1) != \
        version_digests(("fid", "x"), row, {}, {}, 2)
    # a number digests as its double, whichever type it is read back as
    assert version_digests(("fid", "x"), [(1, 10)], {}, {}) == \
        version_digests(("fid", "x"), [(1, 10.0)], {}, {})
    # every NaN alike; -0.0 is not 0.0
    nan2 = struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf8\x7f")[0]
    assert version_digests(("fid", "x"), [(1, nan2)], {}, {}) == \
        version_digests(("fid", "x"), [(1, float("nan"))], {}, {})
    assert version_digests(("fid", "x"), [(1, -0.0)], {}, {}) != \
        version_digests(("fid", "x"), [(1, 0.0)], {}, {})


def test_a_digest_format_this_version_does_not_know_is_refused():
    assert digest_format_of({}) == 1
    assert digest_format_of({"digest_format": "2"}) == 2
    with pytest.raises(StoreError, match="digest format '3'.*upgrade"):
        digest_format_of({"digest_format": "3"})


def test_a_value_of_another_type_is_an_error():
    with pytest.raises(StoreError, match="type bool"):
        version_digests(("fid", "x"), [(1, True)], {}, {})
    with pytest.raises(StoreError, match="type list"):
        version_digests(("fid",), [(1,)], {1: [(1, "lod2", [1])]}, {})


@pytest.mark.parametrize("fmt", [1, 2])
@pytest.mark.parametrize("column", [[2**1030], [None, 2**1030], [2**1030, 1.5]])
def test_an_integer_beyond_a_double_is_a_clear_error(fmt, column):
    rows = [(i, v) for i, v in enumerate(column)]
    with pytest.raises(StoreError, match="too large for a double"):
        version_digests(("fid", "x"), rows, {}, {}, fmt)


@pytest.mark.parametrize("fmt", [1, 2])
def test_long_values_and_columns_of_one_value_hash_as_the_reference(fmt):
    """Texts and blobs past the table of short heads (the byte length
    counts: 600 two-byte letters are 1,200 bytes), and columns that hold the
    same value in every row (hashed once, shared)."""
    long_texts = ["", "a", "x" * 1023, "y" * 1024, "é" * 600, "z" * 5000]
    blobs = [b"", b"\x00", b"b" * 1023, b"c" * 1024, b"d" * 4096, b"e"]
    columns = ["fid", "name", "geom", "layer", "lod", "blob_one"]
    rows = [(i, t, blobs[i], "buildings", None, b"\x01" * 2000)
            for i, t in enumerate(long_texts)]
    rows += [(9, None, None, "buildings", None, b"\x01" * 2000)]
    meshes = {i: [(i, "lod2", 3, b"v" * (i * 700))] for i in range(len(rows))}
    assert version_digests(columns, rows, meshes, {}, fmt) == \
        reference(columns, rows, meshes, {}, fmt)
    one = [(0, "x" * 2000, b"q", "pipes", "lod1", b"")] * 1
    assert version_digests(columns, one, {}, {}, fmt) == reference(columns, one, {}, {}, fmt)
