"""Time on the API: ``as_of`` on the twin endpoints, OGC ``datetime`` on
items (instants and intervals: the features whose validity intersects)."""

from __future__ import annotations

import pytest
from builders import X0, Y0, second_year, small_city, update
from fastapi.testclient import TestClient

from twin_api.app import create_app
from twin_api.settings import ApiSettings


@pytest.fixture
def history_api(empty_twin):
    first = update(empty_twin, small_city())
    second = update(empty_twin, second_year(), retire="layers")
    with TestClient(create_app(ApiSettings(empty_twin.path))) as client:
        yield client, first.id, second.id


def building_storeys(doc) -> list[tuple]:
    return sorted((f["id"], f["properties"]["storeys"]) for f in doc["features"])


def test_items_datetime_instants_and_intervals(history_api):
    client, first, second = history_api
    url = "/collections/buildings/items"
    now = client.get(url).json()
    assert building_storeys(now) == [("test:B1", 7), ("test:B2", 20), ("test:B4", 3)]
    then = client.get(url, params={"datetime": str(first)}).json()
    assert building_storeys(then) == [("test:B1", 6), ("test:B2", 20), ("test:B3", 4)]
    assert then["numberMatched"] == 3
    assert client.get(url, params={"datetime": "2000-01-01T00:00:00Z"}).json()[
        "features"] == []
    assert building_storeys(client.get(url, params={"datetime": "2999-12-31"}).json()) == \
        building_storeys(now)
    # an interval: every version valid at some moment of it, both of building 1
    every = client.get(url, params={"datetime": "../2999-12-31"}).json()
    assert building_storeys(every) == [("test:B1", 6), ("test:B1", 7), ("test:B2", 20),
                                       ("test:B3", 4), ("test:B4", 3)]
    since = client.get(url, params={"datetime": f"{first}/.."}).json()
    assert building_storeys(since) == building_storeys(every)  # ended after batch 1
    later = client.get(url, params={"datetime": f"{second}/.."}).json()
    assert building_storeys(later) == building_storeys(now)
    bad = client.get(url, params={"datetime": "yesterday"})
    assert bad.status_code == 400 and "neither an import batch" in bad.text


def test_twin_endpoints_take_as_of(history_api):
    client, first, _second = history_api
    f = client.get("/twin/features/test:B1", params={"as_of": str(first)}).json()
    assert f["attributes"]["storeys"] == 6
    assert client.get("/twin/features/test:B1").json()["attributes"]["storeys"] == 7
    assert client.get("/twin/features/test:B3").status_code == 404
    box = f"{X0 + 70},{Y0 + 20},{X0 + 90},{Y0 + 40}"
    hits = client.get("/twin/search", params={"bbox": box, "as_of": str(first)}).json()
    assert [h["id"] for h in hits["features"]] == ["test:B3"]
    assert client.get("/twin/search", params={"bbox": box}).json()["features"] == []
    assert client.get("/twin/search", params={"bbox": box, "as_of": "99"}).status_code == 400
    # digits that are not ASCII digits (a superscript two passes str.isdigit) are refused
    for odd in ("\u00b2", "\u0663", "1\u00b2"):
        bad = client.get("/twin/search", params={"bbox": box, "as_of": odd})
        assert bad.status_code == 400 and "neither an import batch" in bad.text, odd


def test_a_server_as_of_a_batch_shows_that_state_everywhere(empty_twin):
    from api_helpers import TOKEN

    from twin.errors import ConfigError

    first = update(empty_twin, small_city())
    update(empty_twin, second_year(), retire="layers")
    with TestClient(create_app(ApiSettings(empty_twin.path, as_of=first.id))) as client:
        items = client.get("/collections/buildings/items").json()
        assert building_storeys(items) == [("test:B1", 6), ("test:B2", 20), ("test:B3", 4)]
        assert client.get("/twin/features/test:B3").status_code == 200
    with pytest.raises(ConfigError, match="read-only"):
        ApiSettings(empty_twin.path, as_of=first.id, token=TOKEN)
    env = ApiSettings(empty_twin.path, as_of=first.id).to_env()
    assert ApiSettings.from_env(env).as_of == first.id  # what every worker reads


def test_analyses_and_indicators_take_as_of(history_api):
    client, first, _second = history_api
    then = client.get("/indicators", params={"year": 2025, "as_of": str(first)}).json()
    now = client.get("/indicators", params={"year": 2025}).json()
    green = {d["key"]: d["coverage"] for d in then["indicators"]}["green_building_share"]
    assert green.startswith("0 of 0 new buildings")  # building 4 (2024) came later
    green = {d["key"]: d["coverage"] for d in now["indicators"]}["green_building_share"]
    assert green.startswith("0 of 1 new buildings")
    hl = client.get("/twin/analyses/highlight", params={"analysis": f"changes:{first}"}).json()
    assert {g["label"]: g["ids"] for g in hl["groups"]} == {
        "added": ["test:B4"], "changed": ["test:B1", "test:V2"], "removed": ["test:B3"]}
    none = client.get("/twin/analyses/highlight", params={"analysis": f"changes:{first}",
                                                           "as_of": str(first)}).json()
    assert [g["ids"] for g in none["groups"]] == [[], [], []]


def test_the_timeline_lists_the_batches_with_what_each_update_changed(history_api):
    from builders import small_city

    client, first, second = history_api
    doc = client.get("/twin/batches").json()
    assert [b["id"] for b in doc["batches"]] == [first, second]
    assert doc["numberMatched"] == doc["numberReturned"] == 2
    one, two = doc["batches"]
    assert one["update"] == {"added": len(small_city()), "changed": 0, "unchanged": 0,
                             "retired": 0}
    # a year later: B4 new, B1 (a storey, moved) and V2 (renamed) changed, B3 demolished
    assert two["update"] == {"added": 1, "changed": 2, "unchanged": len(small_city()) - 3,
                             "retired": 1}
    assert two["status"] == "complete" and two["source"] == "city"
    assert two["features"] == 3  # the versions it wrote: the new and the changed
    newest = client.get("/twin/batches", params={"order": "newest", "limit": 1}).json()
    assert [b["id"] for b in newest["batches"]] == [second] and newest["numberMatched"] == 2
    assert client.get("/twin/batches", params={"offset": 1}).json()["batches"] == [two]
    # as of the first batch the twin had one batch
    then = client.get("/twin/batches", params={"as_of": str(first)}).json()
    assert [b["id"] for b in then["batches"]] == [first]
    # the moments it lists are those changes: names; its counts are the diff's
    hl = client.get("/twin/analyses/highlight", params={"analysis": f"changes:{first}"}).json()
    sizes = {g["label"]: len(g["ids"]) for g in hl["groups"]}
    assert sizes == {"added": 1, "changed": 2, "removed": 1}
    bad = client.get("/twin/batches", params={"order": "sideways"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith(
        "application/problem+json")


def test_the_timeline_shows_file_names_not_the_importing_machines_folders(empty_twin):
    with empty_twin.import_batch("/srv/private/deliveries/2026/pipes.geojson", "GeoJSON",
                                 "geojson", "1") as b:
        b.add(small_city())
    with TestClient(create_app(ApiSettings(empty_twin.path))) as client:
        doc = client.get("/twin/batches").json()
    assert doc["batches"][0]["source"] == "pipes.geojson"
    assert "/srv" not in str(doc)
