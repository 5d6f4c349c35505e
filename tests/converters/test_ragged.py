"""The ragged-array helpers against numpy's own functions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from converters.ragged import member, search, unique

# small ranges, so that values repeat and fall on keys, between them and beyond them
_INTS = arrays(np.int64, st.integers(0, 300), elements=st.integers(-50, 50))


@settings(max_examples=200, deadline=None)
@given(keys=_INTS, values=_INTS, side=st.sampled_from(["left", "right"]))
def test_search_finds_what_searchsorted_finds(keys, values, side):
    keys = np.sort(keys)
    got = search(keys, values, side)
    assert got.tolist() == np.searchsorted(keys, values, side).tolist()


@settings(max_examples=200, deadline=None)
@given(keys=_INTS, values=_INTS)
def test_member_is_isin(keys, values):
    assert member(values, keys).tolist() == np.isin(values, keys).tolist()
    square = values[: len(values) // 2 * 2].reshape(-1, 2)  # any shape, as isin takes
    assert member(square, keys).tolist() == np.isin(square, keys).tolist()
    assert unique(values).tolist() == np.unique(values).tolist()
