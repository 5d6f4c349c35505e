"""The SensorThings query options under generated input: $filter, $orderby,
$select, $expand, $top/$skip and entity paths built from the grammar's
pieces (names that exist and names that do not, every operator and
function, literals at and past the edges: huge and non-ASCII numbers,
dates, quotes) never make the server fail. Every answer is a 200 with
entities or a 400 problem that says what is wrong; never a 5xx."""

from __future__ import annotations

import urllib.parse

import pytest
from api_helpers import TOKEN
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twin
from twin_api.app import create_app
from twin_api.settings import ApiSettings

STA = "/sta/v1.1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
M = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
SETS = ["Things", "Locations", "HistoricalLocations", "Sensors", "ObservedProperties",
        "Datastreams", "FeaturesOfInterest", "Observations"]
PROPS = ["result", "phenomenonTime", "resultTime", "name", "description", "id", "@iot.id",
         "properties/kind", "unitOfMeasurement/symbol", "Datastream/name",
         "Datastream/Thing/name", "Thing/Locations/name", "Datastream/ObservedProperty/name",
         "location", "encodingType", "colour", "Observations/result", "validTime"]
FUNCS = ["substringof", "startswith", "endswith", "length", "tolower", "toupper", "trim",
         "concat", "indexof", "substring", "year", "month", "day", "hour", "minute", "second",
         "date", "time", "round", "floor", "ceiling", "geo.distance", "st_within", "now",
         "mindatetime", "frobnicate"]
LITERALS = ["1", "-1", "0", "1.5", "1e308", "1e309", "-1e400", "9" * 30, "2" * 19,
            "\u00b2", "\u0663", "'flow'", "'it''s'", "''", "'", "null", "true", "false",
            "2024-05-01T00:00:00Z", "2024-05-01T00:00:00+08:00", "2024-13-45T99:99:99Z",
            "2024-05-01", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
            "2024-05-01T00:00:00Z/2024-05-02T00:00:00Z", "nan", "inf", "-0", ".5", "5."]
OPS = ["eq", "ne", "gt", "ge", "lt", "le", "add", "sub", "mul", "div", "mod"]


@st.composite
def expression(draw, depth=0):
    kind = draw(st.integers(0, 5 if depth < 3 else 1))
    if kind == 0:
        return draw(st.sampled_from(PROPS + LITERALS))
    if kind == 1:
        return (f"{draw(st.sampled_from(PROPS))} {draw(st.sampled_from(OPS))} "
                f"{draw(st.sampled_from(LITERALS + PROPS))}")
    if kind == 2:
        args = draw(st.lists(expression(depth + 1), min_size=0, max_size=3))
        return f"{draw(st.sampled_from(FUNCS))}({', '.join(args)})"
    if kind == 3:
        a, b = draw(expression(depth + 1)), draw(expression(depth + 1))
        return f"{a} {draw(st.sampled_from(['and', 'or']))} {b}"
    if kind == 4:
        return f"not ({draw(expression(depth + 1))})"
    return f"({draw(expression(depth + 1))})"


def noise() -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)


def option_value(name: str) -> st.SearchStrategy[str]:
    if name == "$filter":
        return st.one_of(expression(), noise())
    if name == "$orderby":
        return st.lists(st.tuples(st.sampled_from(PROPS), st.sampled_from(["", " asc", " desc",
                                                                           " up"])),
                        min_size=1, max_size=3).map(lambda xs: ",".join(p + d for p, d in xs))
    if name == "$select":
        return st.lists(st.sampled_from(PROPS + ["*", ""]), max_size=4).map(",".join)
    if name == "$expand":
        inner = st.sampled_from(["", "($top=1)", "($select=name)", "($filter=result gt 1)",
                                 "($expand=Thing($top=0))", "($orderby=id desc;$skip=2)",
                                 "($top=x)", "(", ")", "($count=true)"])
        return st.lists(st.tuples(st.sampled_from(
            ["Datastream", "Datastreams", "Thing", "Locations", "Observations",
             "Datastream/Thing", "Sensor", "ObservedProperty", "FeatureOfInterest", "Nope"]),
            inner), max_size=3).map(lambda xs: ",".join(a + b for a, b in xs))
    if name in ("$top", "$skip"):
        return st.one_of(st.sampled_from(["0", "1", "-1", "\u00b2", "\u0663", "1.5", "",
                                          "9" * 13, "9" * 30, " 1"]),
                         st.integers(0, 10**6).map(str))
    if name == "$count":
        return st.sampled_from(["true", "false", "TRUE", "1", ""])
    return st.sampled_from(["dataArray", "json", "xml", ""])


@st.composite
def query(draw) -> str:
    names = draw(st.lists(st.sampled_from(["$filter", "$orderby", "$select", "$expand",
                                           "$top", "$skip", "$count", "$resultFormat"]),
                          min_size=1, max_size=4, unique=True))
    return urllib.parse.urlencode({n: draw(option_value(n)) for n in names},
                                  quote_via=urllib.parse.quote)


@st.composite
def path(draw) -> str:
    head = draw(st.sampled_from(SETS))
    # mostly paths that exist, so the options are read; the rest at the edges
    key = draw(st.sampled_from(["", "", "", "(1)", "(1)", "(2)", "(0)", "(-1)",
                                "(99999999999999999999)", "(\u00b2)", "('a')", "(1", "()"]))
    tail = draw(st.sampled_from(["", "", "", "", "/Datastreams", "/Observations", "/Thing",
                                 "/Locations",
                                 "/Datastream/Thing", "/name", "/name/$value", "/$ref",
                                 "/Sensor/name/$value", "/properties", "/Nope"]))
    return f"{STA}/{head}{key}{tail}"


@pytest.fixture(scope="module")
def sta_client(tmp_path_factory):
    from builders import small_city
    from test_sta import thing

    place = tmp_path_factory.mktemp("sta-fuzz")
    store = twin.create_twin(place / "city.gpkg", "EPSG:4546")
    with store.import_batch("small_city", "test", "tests", "1") as b:
        b.add(small_city())
    store.close()
    app = create_app(ApiSettings(str(place / "city.gpkg"), token=TOKEN, rate_limit=0,
                                 work_dir=str(place / "uploads")))
    with TestClient(app) as client:
        assert client.post(f"{STA}/Things", json=thing(), headers=AUTH).status_code == 201
        r = client.post(f"{STA}/CreateObservations", headers=AUTH, json=[{
            "Datastream": {"@iot.id": 1}, "components": ["phenomenonTime", "result"],
            "dataArray": [[f"2024-05-01T{h:02d}:00:00+08:00", 10.0 + h] for h in range(6)]}])
        assert r.status_code == 201
        yield client


def check(response) -> None:
    assert response.status_code < 500, (response.request.url, response.text)
    if response.status_code == 400:
        doc = response.json()
        assert doc["status"] == 400 and doc["detail"], doc


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(p=path(), q=query())
def test_generated_queries_are_answered_or_refused_never_a_server_error(sta_client, p, q):
    check(sta_client.get(f"{p}?{q}"))


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(q=query())
def test_generated_observation_queries_with_a_count_agree_with_their_pages(sta_client, q):
    r = sta_client.get(f"{STA}/Observations?{q}")
    check(r)
    if r.status_code == 200 and "@iot.count" in r.json():
        doc = r.json()
        assert len(doc["value"]) <= doc["@iot.count"], doc
