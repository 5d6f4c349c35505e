"""A feature's attributes split into typed columns and free JSON
(twin.store.codec.split_attributes) as coerce_typed says, value by value."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from twin.attributes import TYPED_ATTRIBUTES, coerce_typed
from twin.errors import FeatureError
from twin.store.codec import TYPED_INDEX, free_json, split_attributes

names = st.sampled_from(sorted(TYPED_ATTRIBUTES) + ["colour", "note"])
values = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
                   st.text(max_size=4), st.sampled_from(["6", " 2.5 ", "1e3", "x"]))


def reference(attributes, fid):
    typed = [None] * len(TYPED_INDEX)
    free = {}
    for key, val in attributes.items():
        if key in TYPED_INDEX:
            typed[TYPED_INDEX[key]] = coerce_typed(key, val, fid)
        else:
            free[key] = val
    return typed, free_json(free, fid)


def outcome(fn, attributes):
    try:
        typed, free = fn(attributes, "f1")
    except FeatureError as exc:
        return "error", str(exc)
    # types too: 6 and 6.0 are equal, the stored columns are not
    return [(type(v), v) for v in typed], free


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(names, values, max_size=6))
def test_typed_values_are_kept_converted_or_refused_as_coerce_typed_says(attributes):
    got, want = outcome(split_attributes, attributes), outcome(reference, attributes)
    if got[0] == "error" or want[0] == "error":
        assert got == want
        return
    # NaN is not equal to itself: compare the types and the text
    assert [(t, repr(v)) for t, v in got[0]] == [(t, repr(v)) for t, v in want[0]]
    assert got[1] == want[1]
