"""Query values: what a store can be asked, and the clear error for what it cannot."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import twin
from twin.errors import QueryError
from twin.query import (
    INT64_MAX,
    INT64_MIN,
    MAX_FILTER_VALUES,
    MAX_FILTERS,
    Filter,
    Query,
    parse_filter,
)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(2**80), max_value=2**80))
def test_whole_number_filters_fit_in_64_bits_or_are_refused(value):
    inside = INT64_MIN <= value <= INT64_MAX
    try:
        flt = parse_filter(f"storeys>{value}")
    except QueryError as exc:
        assert not inside and "range of whole numbers" in str(exc)
    else:
        assert inside and flt.value == value


@pytest.mark.parametrize("text", ["nan", "inf", "-Infinity", "1e999"])
def test_values_that_are_no_finite_number_stay_text(text):
    assert parse_filter(f"name={text}").value == text


def test_non_finite_numbers_are_refused():
    with pytest.raises(QueryError, match="not a finite number"):
        Filter("height", ">", float("inf"))


def test_the_store_answers_at_the_edges_of_the_range(city):
    """The largest accepted values reach SQLite without an overflow."""
    assert city.count(Query(filters=(f"storeys<{INT64_MAX}",))) == 3
    assert city.count(Query(filters=(f"storeys>{INT64_MIN}",))) == 3
    assert list(city.query(Query(offset=INT64_MAX, limit=INT64_MAX))) == []
    assert city.count(Query(offset=INT64_MAX)) == 0


@pytest.mark.parametrize("kw", [{"offset": 2**63}, {"limit": 2**63}, {"offset": -1}])
def test_paging_beyond_64_bits_is_refused(kw):
    name = next(iter(kw))
    with pytest.raises(QueryError, match=f"{name} must be between 0 and {INT64_MAX}"):
        Query(**kw)


def test_too_many_filters_are_refused_before_any_sql(city):
    ok = Query(filters=("storeys>0",) * MAX_FILTERS)
    assert city.count(ok) == 3
    with pytest.raises(QueryError, match=f"at most {MAX_FILTERS}"):
        Query(filters=("storeys>0",) * (MAX_FILTERS + 1))
    many = ",".join(str(i) for i in range(1000))
    with pytest.raises(QueryError, match=f"at most {MAX_FILTER_VALUES}"):
        Query(filters=(f"storeys in {many}",) * 11)
    assert city.count(Query(filters=(f"storeys in {many}",) * 10)) == 3


def test_query_errors_are_value_errors():
    with pytest.raises(ValueError):
        Query(offset=2**64)
    assert issubclass(QueryError, twin.TwinError)
