"""Nested conditions (AND, OR, NOT of filters, what a CQL2 filter becomes):
both backends select exactly what SQL's three-valued logic says, checked
against a plain Python evaluation over random conditions."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

import twin
from twin.errors import QueryError
from twin.query import MAX_DEPTH, Condition, Filter, Query

pytestmark = pytest.mark.backends("gpkg", "postgis")

FUNCTIONS = ("residential", "school", "Office", None)
COLOURS = ("grey", "red", None)


def _features() -> list[twin.Feature]:
    feats = []
    for i in range(24):
        attrs: dict = {"height": 3.0 * (i % 9) + 0.5}
        if i % 5:
            attrs["storeys"] = i % 9
        if FUNCTIONS[i % 4] is not None:
            attrs["function"] = FUNCTIONS[i % 4]
        if COLOURS[i % 3] is not None:
            attrs["colour"] = COLOURS[i % 3]  # a free attribute, kept as JSON
        x = 500_000 + 30 * i
        feats.append(twin.Feature(id=f"c:{i}", layer="buildings", type="Building",
                                  name=f"Building {i}", footprint=box(x, 3_000_000, x + 20,
                                                                      3_000_012),
                                  attributes=attrs))
    return feats


FEATURES = _features()


@pytest.fixture
def cond_city(empty_twin):
    with empty_twin.import_batch("conditions", "test", "tests", "1") as b:
        b.add(FEATURES)
    return empty_twin


def _value(f: twin.Feature, field: str):
    return f.name if field == "name" else f.attributes.get(field)


def _like(pattern: str, text: str) -> bool:
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, text, re.IGNORECASE | re.DOTALL) is not None


def _test(flt: Filter, f: twin.Feature) -> bool | None:
    """SQL's answer: ``None`` (unknown) when the field has no value."""
    v = _value(f, flt.field)
    if flt.op == "isnull":
        return v is None
    if v is None:
        return None
    if flt.op == "like":
        return _like(flt.value, str(v))
    if flt.op == "in":
        return v in flt.value
    return {"=": v == flt.value, "!=": v != flt.value, "<": v < flt.value,
            "<=": v <= flt.value, ">": v > flt.value, ">=": v >= flt.value}[flt.op]


def _eval(c: Condition | Filter, f: twin.Feature) -> bool | None:
    if isinstance(c, Filter):
        return _test(c, f)
    vals = [_eval(a, f) for a in c.args]
    if c.op == "not":
        return None if vals[0] is None else not vals[0]
    if c.op == "and":
        return False if False in vals else None if None in vals else True
    return True if True in vals else None if None in vals else False


_filters = st.one_of(
    st.builds(Filter, st.just("storeys"), st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
              st.integers(0, 9)),
    st.builds(Filter, st.just("height"), st.sampled_from(["<", ">="]),
              st.floats(0, 30, allow_nan=False)),
    st.builds(Filter, st.just("function"), st.sampled_from(["=", "!="]),
              st.sampled_from(["residential", "school", "Office"])),
    st.builds(Filter, st.just("function"), st.just("like"), st.sampled_from(
        ["%o%", "s%", "office", "_chool"])),
    st.builds(Filter, st.just("storeys"), st.just("in"),
              st.lists(st.integers(0, 9), min_size=1, max_size=4).map(tuple)),
    st.builds(Filter, st.sampled_from(["storeys", "function", "colour"]), st.just("isnull"),
              st.none()),
    st.builds(Filter, st.just("colour"), st.sampled_from(["=", "!="]),
              st.sampled_from(["grey", "red"])),
    st.builds(Filter, st.just("name"), st.just("like"), st.sampled_from(["%1%", "building 2"])),
)
_conditions = st.recursive(
    _filters,
    lambda inner: st.one_of(
        st.builds(Condition, st.sampled_from(["and", "or"]),
                  st.lists(inner, min_size=1, max_size=3).map(tuple)),
        st.builds(Condition, st.just("not"), st.tuples(inner))),
    max_leaves=8)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cond=_conditions)
def test_nested_conditions_select_what_three_valued_logic_says(cond_city, cond):
    where = cond if isinstance(cond, Condition) else Condition("and", (cond,))
    got = sorted(f.id for f in cond_city.query(Query(layers=("buildings",), where=where)))
    want = sorted(f.id for f in FEATURES if _eval(where, f) is True)
    assert got == want, where
    assert cond_city.count(Query(layers=("buildings",), where=where)) == len(want)


def test_a_condition_combines_with_the_other_parts_of_a_query(cond_city):
    where = Condition("or", (Filter("storeys", ">=", 7), Filter("function", "isnull", None)))
    q = Query(layers=("buildings",), filters=(Filter("height", ">", 10),), where=where,
              bbox=(500_000, 3_000_000, 500_000 + 30 * 12, 3_000_012), limit=100)
    got = {f.id for f in cond_city.query(q)}
    want = {f.id for f in FEATURES[:13] if f.attributes["height"] > 10 and _eval(where, f)}
    assert got == want and got


def test_conditions_are_bounded_and_well_formed():
    deep: Condition | Filter = Filter("storeys", "=", 1)
    for _ in range(MAX_DEPTH - 1):
        deep = Condition("not", (deep,))
    Condition("not", (deep,))  # MAX_DEPTH levels: fine
    with pytest.raises(QueryError, match="nested 21 deep"):
        Condition("not", (Condition("not", (deep,)),))
    with pytest.raises(QueryError, match="NOT needs exactly one part"):
        Condition("not", (Filter("storeys", "=", 1), Filter("storeys", "=", 2)))
    with pytest.raises(QueryError, match="combination 'xor' is not valid"):
        Condition("xor", (Filter("storeys", "=", 1),))
    many = Condition("or", tuple(Filter("storeys", "=", i) for i in range(101)))
    with pytest.raises(QueryError, match="101 filters in one query"):
        Query(where=many)
