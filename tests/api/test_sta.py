"""OGC SensorThings API 1.1 under /sta/v1.1: the entity model, the query
options with the specification's examples, writes with the token, and a
real client library (frost-sta-client) against a live server."""

from __future__ import annotations

import pytest
from api_helpers import TOKEN
from conftest import served
from fastapi.testclient import TestClient

from twin.sensors.model import to_ms
from twin.sensors.store import sensors_of
from twin_api.app import create_app
from twin_api.settings import ApiSettings

AUTH = {"Authorization": f"Bearer {TOKEN}"}
M = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
STA = "/sta/v1.1"


def thing(feature="test:V1", name="inlet meter"):
    """A Thing with its Location and one Datastream, inline (spec 10.2.1.1 style)."""
    return {
        "name": name, "description": "DMA inlet meter",
        "properties": {"serial": "EM-1", "twin_feature_id": feature},
        "Locations": [{"name": "chamber", "description": "valve chamber",
                       "encodingType": "application/geo+json",
                       "location": {"type": "Point", "coordinates": [111.70, 40.80]}}],
        "Datastreams": [{
            "name": "flow", "description": "15-minute mean flow", "observationType": M,
            "unitOfMeasurement": {"name": "cubic metre per hour", "symbol": "m3/h",
                                  "definition": "http://qudt.org/vocab/unit/M3-PER-HR"},
            "Sensor": {"name": "EM flow meter", "description": "electromagnetic",
                       "encodingType": "application/pdf", "metadata": "https://x.example/em.pdf"},
            "ObservedProperty": {"name": "flow", "description": "volume flow rate",
                                 "definition": "http://qudt.org/vocab/quantitykind/"
                                               "VolumeFlowRate"}}]}


@pytest.fixture
def sta(city, tmp_path):
    settings = ApiSettings(city.path, token=TOKEN, work_dir=str(tmp_path / "uploads"))
    with TestClient(create_app(settings)) as client:
        r = client.post(f"{STA}/Things", json=thing(), headers=AUTH)
        assert r.status_code == 201, r.text
        r = client.post(f"{STA}/CreateObservations", headers=AUTH, json=[{
            "Datastream": {"@iot.id": 1}, "components": ["phenomenonTime", "result"],
            "dataArray": [[f"2024-05-01T{h:02d}:00:00+08:00", 10.0 + h] for h in range(6)]}])
        assert r.status_code == 201 and len(r.json()) == 6, r.text
        yield client


def test_the_service_root_lists_the_entity_sets_and_conformance(sta):
    doc = sta.get(STA).json()
    assert [v["name"] for v in doc["value"]] == [
        "Things", "Locations", "HistoricalLocations", "Sensors", "ObservedProperties",
        "Datastreams", "FeaturesOfInterest", "Observations"]
    assert all(v["url"].endswith(f"{STA}/{v['name']}") for v in doc["value"])
    assert any(c.endswith("/data-array/data-array") for c in
               doc["serverSettings"]["conformance"])


def test_a_deep_insert_makes_every_entity_with_links_and_a_historical_location(sta):
    t = sta.get(f"{STA}/Things(1)").json()
    assert t["@iot.selfLink"].endswith(f"{STA}/Things(1)")
    assert t["Datastreams@iot.navigationLink"].endswith(f"{STA}/Things(1)/Datastreams")
    assert t["properties"] == {"serial": "EM-1", "twin_feature_id": "test:V1"}
    for path, n in (("Locations", 1), ("HistoricalLocations", 1), ("Datastreams", 1)):
        assert len(sta.get(f"{STA}/Things(1)/{path}").json()["value"]) == n
    hl = sta.get(f"{STA}/HistoricalLocations(1)/Locations").json()["value"]
    assert hl[0]["name"] == "chamber"
    assert sta.get(f"{STA}/Datastreams(1)/Sensor/name/$value").text == "EM flow meter"
    assert sta.get(f"{STA}/Datastreams(1)/unitOfMeasurement").json() == {"unitOfMeasurement": {
        "name": "cubic metre per hour", "symbol": "m3/h",
        "definition": "http://qudt.org/vocab/unit/M3-PER-HR"}}
    ds = sta.get(f"{STA}/Datastreams(1)").json()
    assert ds["phenomenonTime"] == "2024-04-30T16:00:00Z/2024-04-30T21:00:00Z"


@pytest.mark.parametrize("query, results", [
    ("$filter=result gt 13", [14.0, 15.0]),
    ("$filter=result ge 12 and result le 13", [12.0, 13.0]),
    ("$filter=result lt 11 or result eq 15", [10.0, 15.0]),
    ("$filter=not (result lt 14)", [14.0, 15.0]),
    ("$filter=phenomenonTime ge 2024-04-30T19:00:00Z", [13.0, 14.0, 15.0]),
    ("$filter=phenomenonTime lt 2024-05-01T02:00:00%2B08:00", [10.0, 11.0]),
    ("$filter=result add 1 gt 15", [15.0]),
    ("$filter=result mod 2 eq 0", [10.0, 12.0, 14.0]),
    ("$filter=Datastream/ObservedProperty/name eq 'flow'&$top=2", [10.0, 11.0]),
    ("$filter=substringof('flow', Datastream/name) and result gt 14", [15.0]),
    ("$filter=startswith(Datastream/Thing/name, 'inlet') and result lt 11", [10.0]),
    ("$orderby=result desc&$top=3", [15.0, 14.0, 13.0]),
    ("$orderby=phenomenonTime desc&$skip=4", [11.0, 10.0]),
])
def test_query_options_of_the_specification(sta, query, results):
    r = sta.get(f"{STA}/Observations?{query}")
    assert r.status_code == 200, r.text
    assert [o["result"] for o in r.json()["value"]] == results


def test_count_select_expand_and_next_link(sta):
    doc = sta.get(f"{STA}/Observations?$count=true&$top=4&$select=result,phenomenonTime"
                  ).json()
    assert doc["@iot.count"] == 6 and len(doc["value"]) == 4
    assert set(doc["value"][0]) == {"result", "phenomenonTime"}
    nxt = doc["@iot.nextLink"]
    rest = sta.get(nxt.replace("http://testserver", "")).json()
    assert [o["result"] for o in rest["value"]] == [14.0, 15.0] and "@iot.nextLink" not in rest
    doc = sta.get(f"{STA}/Things?$expand=Datastreams($select=name;$expand=Observations("
                  "$orderby=phenomenonTime desc;$top=1;$count=true)),Locations").json()
    ds = doc["value"][0]["Datastreams"][0]
    assert ds["name"] == "flow" and [o["result"] for o in ds["Observations"]] == [15.0]
    assert ds["Observations@iot.count"] == 6
    assert doc["value"][0]["Locations"][0]["location"]["type"] == "Point"
    doc = sta.get(f"{STA}/Observations(1)?$expand=Datastream/Thing").json()
    assert doc["Datastream"]["Thing"]["name"] == "inlet meter"
    arr = sta.get(f"{STA}/Datastreams(1)/Observations?$resultFormat=dataArray&$top=2").json()
    assert arr["value"][0]["components"] == ["id", "phenomenonTime", "result"]
    assert arr["value"][0]["dataArray"] == [[1, "2024-04-30T16:00:00Z", 10.0],
                                            [2, "2024-04-30T17:00:00Z", 11.0]]


@pytest.mark.parametrize("query, says", [
    ("$filter=result gt", "ends too early"),
    ("$filter=colour eq 1", "Observation has no property 'colour'"),
    ("$filter=Datastream/Observations/result gt 1", "leads to many entities"),
    ("$filter=Datastream/Colour/name eq 'x'", "no navigation link 'Colour'"),
    ("$filter=phenomenonTime gt 2024-01-01T00:00:00", "cannot read"),
    ("$filter=frobnicate(result)", "function frobnicate() is not supported"),
    ("$top=-1", "whole number"),
    ("$orderby=result sideways", "property [asc|desc]"),
    ("$expand=Datastream($top=1", "unbalanced"),
    ("$format=xml", "'$format' is not known"),
    ("$filter=result div 0 eq 1&$top=0", None),  # null, never a database error
    ("$filter=Datastream/name gt 5", "compares a text with a number"),
    ("$filter=tolower(result) eq 'a'", "tolower() takes text"),
    ("$filter=" + "(" * 1000 + "true" + ")" * 1000, "nested deeper than 50"),
    ("$filter=" + "not " * 900 + "true", "nested deeper than 50"),
    ("$skip=99999999999999999999", "too large"),
])
def test_bad_query_options_are_400_naming_the_fault(sta, query, says):
    r = sta.get(f"{STA}/Observations?{query}")
    if says is None:
        assert r.status_code == 200 and r.json()["value"] == [], r.text
        return
    assert r.status_code == 400 and says in r.json()["detail"], r.text


def test_unknown_entities_are_404(sta):
    assert sta.get(f"{STA}/Things(99)").status_code == 404
    assert sta.get(f"{STA}/Thingies").status_code == 404
    assert sta.get(f"{STA}/Things(1)/Datastreams(7)").status_code == 404


def test_writes_need_the_token_and_a_read_only_server_refuses_them(sta, city):
    assert sta.post(f"{STA}/Things", json=thing()).status_code == 401
    assert sta.post(f"{STA}/Things", json=thing(),
                    headers={"Authorization": "Bearer wrong-token-0123456789"}
                    ).status_code == 401
    with TestClient(create_app(ApiSettings(city.path))) as ro:
        assert ro.post(f"{STA}/Things", json=thing(), headers=AUTH).status_code == 403
        assert ro.get(f"{STA}/Things(1)").status_code == 200


def test_patch_delete_and_the_datastream_summary(sta, city):
    r = sta.post(f"{STA}/Datastreams(1)/Observations", headers=AUTH,
                 json={"phenomenonTime": "2024-05-01T09:00:00Z", "result": 99.5})
    assert r.status_code == 201 and r.headers["location"].endswith(f"{STA}/Observations(7)")
    assert sensors_of(city).latest([1]) == {1: (to_ms("2024-05-01T09:00:00Z"), 99.5)}
    r = sta.patch(f"{STA}/Observations(7)", headers=AUTH, json={"result": 50})
    assert r.status_code == 200 and r.json()["result"] == 50
    assert sensors_of(city).latest([1])[1][1] == 50
    assert sta.delete(f"{STA}/Observations(7)", headers=AUTH).status_code == 200
    assert sensors_of(city).latest([1]) == {1: (to_ms("2024-05-01T05:00:00+08:00"), 15.0)}
    r = sta.patch(f"{STA}/Things(1)", headers=AUTH, json={"name": "renamed"})
    assert r.json()["name"] == "renamed"
    assert sta.delete(f"{STA}/Things(1)", headers=AUTH).status_code == 200
    assert sta.get(f"{STA}/Datastreams").json()["value"] == []
    assert sta.get(f"{STA}/Observations").json()["value"] == []


@pytest.mark.parametrize("body, says", [
    ({"name": "x"}, "needs 'description'"),
    ({"name": "x", "description": "y", "colour": 1}, "no property 'colour'"),
    ({"name": "x", "description": "y", "Datastreams": [{"name": "d"}]}, "needs 'description'"),
])
def test_bad_entities_are_refused_and_nothing_lands(sta, city, body, says):
    r = sta.post(f"{STA}/Things", headers=AUTH, json=body)
    assert r.status_code == 400 and says in r.json()["detail"], r.text
    assert sta.get(f"{STA}/Things?$count=true").json()["@iot.count"] == 1


def test_a_bad_data_array_lands_nothing(sta):
    r = sta.post(f"{STA}/CreateObservations", headers=AUTH, json=[{
        "Datastream": {"@iot.id": 1}, "components": ["phenomenonTime", "result"],
        "dataArray": [["2024-06-01T00:00:00Z", 1], ["2024-06-01T00:15:00", 2]]}])
    assert r.status_code == 400 and "no time zone" in r.json()["detail"]
    assert sta.get(f"{STA}/Observations?$count=true").json()["@iot.count"] == 6


def test_the_feature_detail_lists_its_datastreams_with_latest_values(sta):
    doc = sta.get("/twin/features/test:V1").json()
    assert doc["datastreams"] == [{
        "id": 1, "name": "flow", "unit": {"name": "cubic metre per hour", "symbol": "m3/h",
                                          "definition": "http://qudt.org/vocab/unit/M3-PER-HR"},
        "observed_property": "flow", "latest_time": "2024-04-30T21:00:00Z",
        "latest_result": 15.0, "observation_count": 6, "thing_id": 1,
        "link": f"{STA}/Datastreams(1)"}]
    assert sta.get("/twin/features/test:B1").json()["datastreams"] == []


@pytest.mark.backends("gpkg")
@pytest.mark.filterwarnings("ignore:furl.pathstr is deprecated:DeprecationWarning")  # the client's
def test_frost_sta_client_round_trip_against_a_live_server(city, tmp_path):
    """The FROST Python client (PyPI frost-sta-client) creates, lists, filters,
    expands and deletes against the server on 127.0.0.1."""
    import frost_sta_client as fsc

    class Bearer(fsc.service.auth_handler.AuthHandler):  # the client's hook: RFC 6750 here
        def add_auth_header(self):
            def auth(request):
                request.headers["Authorization"] = f"Bearer {TOKEN}"
                return request
            return auth

    settings = ApiSettings(city.path, token=TOKEN, work_dir=str(tmp_path / "uploads"))
    with served(create_app(settings)) as url:
        service = fsc.SensorThingsService(f"{url}{STA}", auth_handler=Bearer())
        loc = fsc.Location(name="chamber", description="valve chamber",
                           encoding_type="application/geo+json",
                           location={"type": "Point", "coordinates": [111.7, 40.8]})
        t = fsc.Thing(name="pressure logger", description="on the main",
                      properties={"twin_feature_id": "test:V1"}, locations=[loc])
        service.create(t)
        assert isinstance(t.id, int)
        sensor = fsc.Sensor(name="PT-1", description="pressure transducer",
                            encoding_type="application/pdf", metadata="https://x.example/pt")
        prop = fsc.ObservedProperty(name="pressure", description="gauge pressure",
                                    definition="http://qudt.org/vocab/quantitykind/Pressure")
        ds = fsc.Datastream(name="pressure", description="gauge pressure", observation_type=M,
                            unit_of_measurement=fsc.UnitOfMeasurement(
                                name="kilopascal", symbol="kPa",
                                definition="http://qudt.org/vocab/unit/KiloPA"),
                            thing=t, sensor=sensor, observed_property=prop)
        service.create(ds)
        for k in range(5):
            service.create(fsc.Observation(result=300.0 + k, datastream=ds,
                                           phenomenon_time=f"2024-05-01T0{k}:00:00Z"))
        got = service.datastreams().find(ds.id)
        assert got.name == "pressure" and got.unit_of_measurement.symbol == "kPa"
        high = service.observations().query().filter("result ge 303").orderby(
            "phenomenonTime", "ASC").list()
        assert [o.result for o in high] == [303.0, 304.0]
        things = service.things().query().expand("Datastreams").list()
        assert [x.name for x in things] == ["pressure logger"]
        assert [d.name for d in things.entities[0].datastreams] == ["pressure"]
        obs = service.observations().find(1)
        service.delete(obs)
        assert len(service.observations().query().list().entities) == 4
    assert sensors_of(city).latest([ds.id])[ds.id] == (to_ms("2024-05-01T04:00:00Z"), 304.0)
