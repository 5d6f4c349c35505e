"""OGC API - Features Part 3: CQL2 text and JSON filters on ``/items`` and
``/queryables``, on both store backends (tests/api runs on each)."""

from __future__ import annotations

import json

import pytest
from builders import X0, Y0
from pyproj import Transformer

CONF = "http://www.opengis.net/spec/"


def _ids(r) -> list[str]:
    assert r.status_code == 200, r.text
    return sorted(f["id"] for f in r.json()["features"])


def _problem(r, fragment: str) -> str:
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    detail = r.json()["detail"]
    assert fragment in detail, detail
    return detail


def test_conformance_declares_filtering_and_cql2(api):
    got = set(api.get("/conformance").json()["conformsTo"])
    for cls in ("ogcapi-features-3/1.0/conf/filter", "ogcapi-features-3/1.0/conf/features-filter",
                "ogcapi-features-3/1.0/conf/queryables", "cql2/1.0/conf/cql2-text",
                "cql2/1.0/conf/cql2-json", "cql2/1.0/conf/basic-cql2",
                "cql2/1.0/conf/advanced-comparison-operators"):
        assert CONF + cls in got


def test_queryables_are_the_layers_typed_attributes_as_json_schema(api):
    links = api.get("/collections/buildings").json()["links"]
    q = next(x for x in links if x["rel"].endswith("/queryables"))
    r = api.get(q["href"].replace("http://testserver", ""))
    assert r.status_code == 200 and r.headers["content-type"] == "application/schema+json"
    doc = r.json()
    props = doc["properties"]
    assert doc["type"] == "object" and doc["additionalProperties"] is False
    assert props["storeys"]["type"] == "integer" and props["height"]["type"] == "number"
    assert props["height"]["x-ogc-unit"] == "m" and props["function"]["type"] == "string"
    assert props["geometry"]["format"] == "geometry-multipolygon"
    assert "diameter_mm" not in props  # a pipe attribute, not a building one
    pipes = api.get("/collections/heating/queryables").json()["properties"]
    assert pipes["diameter_mm"]["type"] == "number" and "storeys" not in pipes
    assert api.get("/collections/nope/queryables").status_code == 404


@pytest.mark.parametrize("text, want", [
    ("storeys > 5", ["test:B1", "test:B2"]),
    ("storeys > 5 AND function = 'residential'", ["test:B1", "test:B2"]),
    ("storeys < 5 OR year_built >= 2019", ["test:B2", "test:B3"]),
    ("NOT (function = 'residential')", ["test:B3"]),
    ("year_built BETWEEN 1990 AND 2010", ["test:B1", "test:B3"]),
    ("year_built NOT BETWEEN 1990 AND 2010", ["test:B2"]),
    ("function IN ('school', 'office')", ["test:B3"]),
    ("name LIKE 'Building _'", ["test:B1", "test:B2", "test:B3"]),
    ("name LIKE '%2'", ["test:B2"]),
    ("roof_type IS NULL AND id <> 'test:B2'", ["test:B1", "test:B3"]),
    ("roof_type IS NOT NULL", []),
    ("18 < storeys", ["test:B2"]),
    ("NOT (storeys > 5 AND function = 'residential')", ["test:B3"]),
    ("NOT (NOT (name LIKE '%1')) OR function = 'it''s'", ["test:B1"]),
])
def test_cql2_text_filters(api, text, want):
    r = api.get("/collections/buildings/items", params={"filter": text})
    assert _ids(r) == want
    assert r.json()["numberMatched"] == len(want)


def test_cql2_json_gives_what_the_same_text_gives(api):
    doc = {"op": "or", "args": [
        {"op": "<", "args": [{"property": "storeys"}, 5]},
        {"op": "and", "args": [{"op": ">=", "args": [{"property": "year_built"}, 2019]},
                               {"op": "like", "args": [{"property": "name"}, "Build%"]}]}]}
    r = api.get("/collections/buildings/items",
                params={"filter": json.dumps(doc), "filter-lang": "cql2-json"})
    text = api.get("/collections/buildings/items", params={
        "filter": "storeys < 5 OR (year_built >= 2019 AND name LIKE 'Build%')"})
    assert _ids(r) == _ids(text) == ["test:B2", "test:B3"]


def test_spatial_filters_in_crs84_and_in_the_twin_crs(api):
    # building 1 spans X0..X0+20, Y0..Y0+12 in EPSG:4546 (northing first in its URI)
    to84 = Transformer.from_crs("EPSG:4546", "OGC:CRS84", always_xy=True)
    lon0, lat0 = to84.transform(X0 + 5, Y0 + 3)
    lon1, lat1 = to84.transform(X0 + 8, Y0 + 6)
    text = f"S_INTERSECTS(geometry, BBOX({lon0}, {lat0}, {lon1}, {lat1}))"
    assert _ids(api.get("/collections/buildings/items", params={"filter": text})) == [
        "test:B1"]
    doc = {"op": "s_intersects", "args": [{"property": "geometry"},
                                          {"bbox": [lon0, lat0, lon1, lat1]}]}
    assert _ids(api.get("/collections/buildings/items", params={
        "filter": json.dumps(doc), "filter-lang": "cql2-json"})) == ["test:B1"]
    # the twin CRS: axis order northing, easting
    poly = (f"POLYGON(({Y0 + 1} {X0 + 41}, {Y0 + 1} {X0 + 45}, {Y0 + 5} {X0 + 45}, "
            f"{Y0 + 5} {X0 + 41}, {Y0 + 1} {X0 + 41}))")
    r = api.get("/collections/buildings/items", params={
        "filter": f"S_INTERSECTS(geometry, {poly}) AND storeys > 1",
        "filter-crs": "http://www.opengis.net/def/crs/EPSG/0/4546"})
    assert _ids(r) == ["test:B2"]
    # a box beside every building selects none (the exact test, not only the index)
    far = f"S_WITHIN(geometry, BBOX({lon0 - 1}, {lat0 - 1}, {lon0 - 0.5}, {lat0 - 0.5}))"
    assert _ids(api.get("/collections/buildings/items", params={"filter": far})) == []


@pytest.mark.parametrize("params, fragment", [
    ({"filter": "storeys >"}, "not CQL2 text at line 1, column 10: expected"),
    ({"filter": "colour = 'grey'"}, "'colour' is not a queryable; queryables: geometry, id"),
    ({"filter": "diameter_mm > 3"}, "'diameter_mm' is not a queryable"),
    ({"filter": "storeys = 'six'"}, "'storeys' is an integer; 'six' is text"),
    ({"filter": "storeys = height"}, "comparing two properties"),
    ({"filter": "CASEI(name) = 'x'"}, "expected a property"),
    ({"filter": "storeys > 1 OR S_INTERSECTS(geometry, BBOX(0,0,1,1))"},
     "top-level AND"),
    ({"filter": "S_INTERSECTS(geometry, POINT(1 2))"}, "polygons or a BBOX, got a Point"),
    ({"filter": "{", "filter-lang": "cql2-json"}, "filter is not JSON"),
    ({"filter": '{"op": "nope", "args": []}', "filter-lang": "cql2-json"},
     "filter is not CQL2 JSON"),
    ({"filter": "storeys > 1", "filter-lang": "cql3"}, "filter-lang"),
    ({"filter": "storeys > 1", "filter-crs": "EPSG:3857"}, "filter-crs"),
    ({"filter-lang": "cql2-text"}, "need a filter"),
    ({"filter": "storeys > 1 AND " * 120 + "storeys > 1"}, "121 comparisons; at most 100"),
    ({"filter": "(" * 60 + "storeys > 1" + ")" * 60}, "nests brackets more than"),
    ({"filter": "name = '" + "x" * 20_000 + "'"}, "at most 16384 are allowed"),
])
def test_bad_filters_are_400s_that_say_what_is_wrong(api, params, fragment):
    _problem(api.get("/collections/buildings/items", params=params), fragment)


def test_deep_json_filters_are_refused_before_parsing(api):
    doc: dict = {"op": "=", "args": [{"property": "id"}, "x"]}
    for _ in range(60):
        doc = {"op": "not", "args": [doc]}
    _problem(api.get("/collections/buildings/items",
                     params={"filter": json.dumps(doc), "filter-lang": "cql2-json"}),
             "nests objects and lists more than")


def test_a_filter_on_an_unknown_collection_is_404(api):
    r = api.get("/collections/nope/items", params={"filter": "x = 1"})
    assert r.status_code == 404


# -- any condition, written in both encodings, selects what the store selects ------

_OPS_TEXT = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _lit(v) -> str:
    return f"'{v}'" if isinstance(v, str) else repr(v)


def _text(c) -> str:
    from twin.query import Filter

    if isinstance(c, Filter):
        if c.op == "isnull":
            return f"{c.field} IS NULL"
        if c.op == "in":
            return f"{c.field} IN ({', '.join(map(_lit, c.value))})"
        if c.op == "like":
            return f"{c.field} LIKE {_lit(c.value)}"
        return f"{c.field} {_OPS_TEXT[c.op]} {_lit(c.value)}"
    if c.op == "not":
        return f"NOT ({_text(c.args[0])})"
    return "(" + f" {c.op.upper()} ".join(_text(a) for a in c.args) + ")"


def _json(c) -> dict:
    from twin.query import Filter

    if isinstance(c, Filter):
        prop = {"property": c.field}
        if c.op == "isnull":
            return {"op": "isNull", "args": [prop]}
        if c.op == "in":
            return {"op": "in", "args": [prop, list(c.value)]}
        op = {"!=": "<>"}.get(c.op, c.op)
        return {"op": op, "args": [prop, c.value]}
    return {"op": c.op, "args": [_json(a) for a in c.args]}


def _conditions():
    from hypothesis import strategies as st

    from twin.query import Condition, Filter

    leaves = st.one_of(
        st.builds(Filter, st.sampled_from(["storeys", "year_built"]),
                  st.sampled_from(list(_OPS_TEXT)), st.integers(0, 2030)),
        st.builds(Filter, st.just("height"), st.sampled_from(["<", ">="]),
                  st.floats(0, 70, allow_nan=False).map(lambda v: round(v, 2))),
        st.builds(Filter, st.sampled_from(["function", "name"]), st.sampled_from(["=", "!="]),
                  st.sampled_from(["residential", "school", "Building 2"])),
        st.builds(Filter, st.just("name"), st.just("like"),
                  st.sampled_from(["Building _", "%3", "b%"])),
        st.builds(Filter, st.just("storeys"), st.just("in"),
                  st.lists(st.sampled_from([4, 6, 20, 7]), min_size=1, max_size=3).map(tuple)),
        st.builds(Filter, st.sampled_from(["roof_type", "function"]), st.just("isnull"),
                  st.none()),
    )
    return st.recursive(leaves, lambda inner: st.one_of(
        st.builds(Condition, st.sampled_from(["and", "or"]),
                  st.lists(inner, min_size=2, max_size=3).map(tuple)),
        st.builds(Condition, st.just("not"), st.tuples(inner))), max_leaves=6)


def test_any_condition_in_text_and_json_selects_what_the_store_selects(api, city):
    from hypothesis import HealthCheck, given, settings

    import twin
    from twin.query import Condition

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(cond=_conditions())
    def check(cond):
        where = cond if isinstance(cond, Condition) else Condition("and", (cond,))
        want = sorted(f.id for f in city.query(twin.Query(layers=("buildings",),
                                                           where=where)))
        text = api.get("/collections/buildings/items", params={"filter": _text(cond)})
        js = api.get("/collections/buildings/items", params={
            "filter": json.dumps(_json(cond)), "filter-lang": "cql2-json"})
        assert _ids(text) == want, _text(cond)
        assert _ids(js) == want, _json(cond)

    check()
