"""SensorThings 1.1: $filter on members of JSON properties
(``properties/kind eq 'pressure'``) and FeaturesOfInterest generated from
the Thing's Location for Observations created without one, on both
backends."""

from __future__ import annotations

import pytest
from test_sta import AUTH, STA, sta, thing  # noqa: F401  (sta: the fixture)

pytestmark = pytest.mark.backends("gpkg", "postgis")


def names(client, path, flt):
    r = client.get(f"{STA}/{path}", params={"$filter": flt})
    assert r.status_code == 200, r.text
    return sorted(e.get("name", e.get("@iot.id")) for e in r.json()["value"])


@pytest.fixture
def things(sta):  # noqa: F811
    """Three more Things whose properties hold text, numbers, booleans,
    nulls and a nested object."""
    for name, props in (
            ("logger north", {"kind": "pressure", "depth": 2.5, "dn": 300, "active": True,
                              "site": {"dma": "north", "zone": 1}}),
            ("logger south", {"kind": "pressure", "depth": 1.2, "dn": "300", "active": False,
                              "site": {"dma": "south", "zone": 2}, "note": None}),
            ("customer 7", {"kind": "flow", "depth": 0, "site": {"dma": "south"}})):
        body = thing(f"test:{name}", name)
        body["properties"] = {**props, "twin_feature_id": f"test:{name}"}
        r = sta.post(f"{STA}/Things", json=body, headers=AUTH)
        assert r.status_code == 201, r.text
    return sta


@pytest.mark.parametrize("flt, want", [
    ("properties/kind eq 'pressure'", ["logger north", "logger south"]),
    # a missing member is null, and null is not equal to 'pressure' (OData)
    ("properties/kind ne 'pressure'", ["customer 7", "inlet meter"]),
    ("properties/depth gt 1", ["logger north", "logger south"]),
    ("properties/depth le 1.2 and properties/depth ge 0", ["customer 7", "logger south"]),
    ("properties/depth add 1 gt 3", ["logger north"]),
    # a JSON number is not a text, and a text not a number
    ("properties/dn eq 300", ["logger north"]),
    ("properties/dn eq '300'", ["logger south"]),
    ("properties/active eq true", ["logger north"]),
    ("properties/active eq false", ["logger south"]),
    ("properties/site/dma eq 'south'", ["customer 7", "logger south"]),
    ("properties/site/zone eq 2", ["logger south"]),
    ("properties/note eq null", ["customer 7", "inlet meter", "logger north",
                                 "logger south"]),
    ("properties/active ne null", ["logger north", "logger south"]),
    ("startswith(properties/kind, 'pre')", ["logger north", "logger south"]),
    ("toupper(properties/site/dma) eq 'NORTH'", ["logger north"]),
    ("properties/serial eq 'EM-1'", ["inlet meter"]),
    ("properties/dn ne 300", ["customer 7", "inlet meter", "logger south"]),
    ("properties/twin_feature_id eq 'test:V1'", ["inlet meter"]),
    ("not (properties/kind eq 'flow')", ["inlet meter", "logger north", "logger south"]),
    # a member alone is a condition where it is true, as a boolean property
    ("properties/active", ["logger north"]),
    ("not properties/active", ["customer 7", "inlet meter", "logger south"]),
    ("properties/active or properties/dn eq '300'", ["logger north", "logger south"]),
    ("properties/kind and properties/active", []),
])
def test_things_filter_on_members_of_their_properties(things, flt, want):
    assert names(things, "Things", flt) == want


def test_members_are_reached_through_links_and_in_other_json_properties(things):
    assert names(things, "Datastreams", "Thing/properties/kind eq 'pressure'") == [
        "flow", "flow"]
    assert names(things, "Datastreams", "unitOfMeasurement/symbol eq 'm3/h'") == [
        "flow"] * 4
    assert names(things, "Datastreams", "unitOfMeasurement/symbol eq 'kPa'") == []
    assert names(things, "Observations",
                 "Datastream/Thing/properties/serial eq 'EM-1' and result ge 14") == [5, 6]
    r = things.get(f"{STA}/Things", params={"$expand": "Datastreams($filter=Thing/properties"
                                                       "/site/dma eq 'north')"})
    got = {t["name"]: len(t["Datastreams"]) for t in r.json()["value"]}
    assert got["logger north"] == 1 and got["logger south"] == 0


@pytest.mark.parametrize("flt, words", [
    ("properties eq 'x'", ["JSON object"]),
    ("properties/a/b/c/d/e/f/g/h/i eq 1", ["deeper than 8"]),
    ("properties/kind add 1", ["must be a condition"]),
    ("Thing/nothing/kind eq 1", ["no navigation link 'nothing' nor a JSON property",
                                 "JSON properties: properties"]),
])
def test_bad_member_filters_are_400s(things, flt, words):
    r = things.get(f"{STA}/Things" if not flt.startswith("Thing/") else f"{STA}/Datastreams",
                   params={"$filter": flt})
    assert r.status_code == 400, r.text
    for w in words:
        assert w in r.json()["detail"]


# -- FeaturesOfInterest made from the Thing's Location ----------------------------------
def fois(client):
    return client.get(f"{STA}/FeaturesOfInterest").json()["value"]


def post_obs(client, t, ds=1):
    r = client.post(f"{STA}/Observations", headers=AUTH, json={
        "phenomenonTime": t, "result": 1.5, "Datastream": {"@iot.id": ds}})
    assert r.status_code == 201, r.text
    return client.get(r.headers["Location"] + "/FeatureOfInterest").json()


def test_an_observation_without_a_feature_of_interest_gets_the_things_location(sta):  # noqa: F811
    loc = sta.get(f"{STA}/Things(1)/Locations").json()["value"][0]
    # the fixture's six observations (dataArray, no FeatureOfInterest) made one already
    made = fois(sta)
    assert len(made) == 1
    f = made[0]
    assert f["feature"] == loc["location"] and f["encodingType"] == loc["encodingType"]
    assert f["name"] == loc["name"] and f["properties"] == {"twin_location_id": loc["@iot.id"]}
    obs = sta.get(f"{STA}/Observations", params={"$expand": "FeatureOfInterest"}).json()
    assert {o["FeatureOfInterest"]["@iot.id"] for o in obs["value"]} == {f["@iot.id"]}
    # reused while the location does not change
    assert post_obs(sta, "2024-05-02T00:00:00Z")["@iot.id"] == f["@iot.id"]
    r = sta.post(f"{STA}/Datastreams(1)/Observations", headers=AUTH,
                 json={"phenomenonTime": "2024-05-02T01:00:00Z", "result": 2})
    assert r.status_code == 201
    assert sta.get(r.headers["Location"] + "/FeatureOfInterest").json()["@iot.id"] == \
        f["@iot.id"]
    assert len(fois(sta)) == 1


def test_a_moved_thing_gets_a_new_feature_of_interest_and_old_observations_keep_theirs(
        sta):  # noqa: F811
    first = post_obs(sta, "2024-05-02T00:00:00Z")
    loc_id = sta.get(f"{STA}/Things(1)/Locations").json()["value"][0]["@iot.id"]
    moved = {"type": "Point", "coordinates": [111.71, 40.81]}
    r = sta.patch(f"{STA}/Locations({loc_id})", headers=AUTH, json={"location": moved})
    assert r.status_code == 200, r.text
    second = post_obs(sta, "2024-05-03T00:00:00Z")
    assert second["@iot.id"] != first["@iot.id"] and second["feature"] == moved
    assert len(fois(sta)) == 2
    old = sta.get(f"{STA}/Observations", params={
        "$filter": "phenomenonTime lt 2024-05-02T12:00:00Z", "$expand": "FeatureOfInterest"})
    assert {o["FeatureOfInterest"]["@iot.id"] for o in old.json()["value"]} == {
        first["@iot.id"]}


def test_a_given_feature_of_interest_is_kept_and_none_is_generated(sta):  # noqa: F811
    r = sta.post(f"{STA}/Observations", headers=AUTH, json={
        "phenomenonTime": "2024-05-02T00:00:00Z", "result": 3, "Datastream": {"@iot.id": 1},
        "FeatureOfInterest": {"name": "tap", "description": "kitchen tap",
                              "encodingType": "application/geo+json",
                              "feature": {"type": "Point", "coordinates": [111.7, 40.8]}}})
    assert r.status_code == 201
    assert sta.get(r.headers["Location"] + "/FeatureOfInterest").json()["name"] == "tap"
    assert len(fois(sta)) == 2  # the fixture's generated one and the tap


def test_an_observation_of_a_thing_without_location_and_without_foi_is_refused(sta):  # noqa: F811
    body = thing("test:V2", "no place")
    del body["Locations"]
    r = sta.post(f"{STA}/Things", json=body, headers=AUTH)
    assert r.status_code == 201
    ds = sta.get(f"{STA}/Things", params={"$filter": "name eq 'no place'",
                                          "$expand": "Datastreams"}).json()["value"][0][
        "Datastreams"][0]["@iot.id"]
    before = sta.get(f"{STA}/Observations", params={"$count": "true"}).json()["@iot.count"]
    r = sta.post(f"{STA}/Observations", headers=AUTH, json={
        "phenomenonTime": "2024-05-02T00:00:00Z", "result": 3, "Datastream": {"@iot.id": ds}})
    assert r.status_code == 400
    assert f"Datastream {ds}" in r.json()["detail"] and "no Location" in r.json()["detail"]
    assert sta.get(f"{STA}/Observations", params={"$count": "true"}).json()[
        "@iot.count"] == before
