"""OGC API - Features - Part 4: writes from GIS clients are import batches.

Each test runs on both store backends (tests/conftest.py). Every refused
request is checked to leave the twin exactly as it was: the same revision
(it grows with every commit), the same batches, the same features.
"""

from __future__ import annotations

import json

import pytest
import shapely
from api_helpers import TOKEN
from builders import X0, Y0
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

import twin
from twin_api.app import create_app
from twin_api.features import CONFORMANCE
from twin_api.settings import ApiSettings
from twin_api.transactions import CONFORMANCE as PART4

AUTH = {"Authorization": f"Bearer {TOKEN}"}
ITEMS = "/collections/buildings/items"
TO_LONLAT = Transformer.from_crs("EPSG:4546", "OGC:CRS84", always_xy=True)


def lonlat_square(x: float, y: float, size: float = 10.0) -> list:
    ring = [(x, y), (x + size, y), (x + size, y + size), (x, y + size), (x, y)]
    return [[list(TO_LONLAT.transform(px, py)) for px, py in ring]]


def building(x: float = X0 + 300, y: float = Y0 + 300, **props) -> dict:
    return {"type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": lonlat_square(x, y)},
            "properties": {"name": "new school", "storeys": 3, "function": "school", **props}}


@pytest.fixture
def writes(city, tmp_path):
    settings = ApiSettings(city.path, token=TOKEN, work_dir=str(tmp_path / "uploads"),
                           rate_limit=0, max_request_bytes=16_000, max_write_features=5)
    with TestClient(create_app(settings)) as client:
        yield client, city.path


def state(path: str) -> tuple:
    """What must not move when a request is refused."""
    with twin.open_twin(path, readonly=True) as s:
        feats = sorted((f.id, f.layer, json.dumps(dict(f.attributes), sort_keys=True),
                        f.footprint.wkb_hex if f.footprint is not None else None)
                       for f in s.query(twin.Query()))
        return s.revision(), [(b.id, b.feature_count) for b in s.batches()], feats


def test_create_replace_update_delete_are_one_batch_each_and_undoable(writes):
    client, path = writes
    r = client.post(ITEMS, json=building(), headers=AUTH)
    assert r.status_code == 201, r.text
    fid = r.json()["ids"][0]
    assert r.headers["Location"].endswith(f"/collections/buildings/items/{fid}")
    created = int(r.headers["X-Twin-Batch"])
    got = client.get(f"{ITEMS}/{fid}")
    assert got.json()["properties"]["storeys"] == 3
    tag = got.headers["ETag"]

    r = client.put(f"{ITEMS}/{fid}", json=building(storeys=4), headers={**AUTH, "If-Match": tag})
    assert r.status_code == 204, r.text
    replaced = int(r.headers["X-Twin-Batch"])
    assert r.headers["ETag"] != tag and client.get(f"{ITEMS}/{fid}").headers["ETag"] == \
        r.headers["ETag"]

    r = client.patch(f"{ITEMS}/{fid}", json={"properties": {"storeys": 5, "function": None}},
                     headers={**AUTH, "If-Match": r.headers["ETag"],
                              "Content-Type": "application/merge-patch+json"})
    assert r.status_code == 204, r.text
    patched = int(r.headers["X-Twin-Batch"])
    props = client.get(f"{ITEMS}/{fid}").json()["properties"]
    assert props["storeys"] == 5 and "function" not in props and props["name"] == "new school"

    r = client.delete(f"{ITEMS}/{fid}", headers=AUTH)
    assert r.status_code == 204, r.text
    deleted = int(r.headers["X-Twin-Batch"])
    assert client.get(f"{ITEMS}/{fid}").status_code == 404
    assert created < replaced < patched < deleted

    with twin.open_twin(path) as s:
        batches = {b.id: b for b in s.batches()}
        assert batches[deleted].source == \
            f"OGC API - Features: DELETE {ITEMS}/{fid} (token:{_token_id()})"
        assert batches[deleted].converter == "ogcapi-features"
        assert batches[deleted].report["update"]["retired_ids"] == [fid]
        assert batches[patched].report["update"]["what_changed"] == {"function": 1,
                                                                     "storeys": 1}
        versions = s.versions_of(fid)
        assert [(v["batch"], v["retired_batch"]) for v in versions] == [
            (created, replaced), (replaced, patched), (patched, deleted)]
        assert [v["feature"].attributes["storeys"] for v in versions] == [3, 4, 5]
        s.remove_batch(deleted)  # undo the DELETE: the patched version is back
    back = client.get(f"{ITEMS}/{fid}")
    assert back.status_code == 200 and back.json()["properties"]["storeys"] == 5


def _token_id() -> str:
    from twin_api.auth import token_id

    return token_id(TOKEN).removeprefix("token:")


def test_a_feature_collection_is_one_batch_and_ids_are_kept(writes):
    client, path = writes
    body = {"type": "FeatureCollection",
            "features": [{**building(X0 + 300), "id": "survey:S-1"},
                         {**building(X0 + 330), "id": "survey:S-2"}]}
    r = client.post(ITEMS, json=body, headers=AUTH)
    assert r.status_code == 201 and "Location" not in r.headers
    assert r.json()["ids"] == ["survey:S-1", "survey:S-2"]
    with twin.open_twin(path, readonly=True) as s:
        last = s.batches()[-1]
        assert last.id == r.json()["batch"] and last.feature_count == 2
        assert last.report["request"]["method"] == "POST"
    # the same id again is a conflict, and nothing is written
    before = state(path)
    again = client.post(ITEMS, json={**building(), "id": "survey:S-2"}, headers=AUTH)
    assert again.status_code == 409 and "survey:S-2" in again.json()["detail"]
    assert state(path) == before


def test_content_crs_names_the_twin_crs_in_its_axis_order(writes):
    client, path = writes
    x, y = X0 + 500.0, Y0 + 500.0
    ring = [(x, y), (x + 8, y), (x + 8, y + 6), (x, y)]
    # EPSG:4546 is northing first (OGC API - Features Part 2 axis order)
    body = {"type": "Feature", "geometry": {"type": "Polygon",
                                            "coordinates": [[[py, px] for px, py in ring]]},
            "properties": {"storeys": 2}}
    crs = "<http://www.opengis.net/def/crs/EPSG/0/4546>"
    r = client.post(ITEMS, json=body, headers={**AUTH, "Content-Crs": crs})
    assert r.status_code == 201, r.text
    with twin.open_twin(path, readonly=True) as s:
        f = s.get(r.json()["ids"][0])
    assert shapely.equals_exact(f.footprint, shapely.MultiPolygon([shapely.Polygon(ring)]),
                                1e-6)
    bad = client.post(ITEMS, json=body, headers={**AUTH, "Content-Crs": "<EPSG:3857>"})
    assert bad.status_code == 400 and "Content-Crs" in bad.json()["detail"]


def test_put_of_the_same_feature_makes_no_batch(writes):
    client, path = writes
    fid = client.post(ITEMS, json=building(), headers=AUTH).json()["ids"][0]
    before = state(path)
    r = client.put(f"{ITEMS}/{fid}", json=building(), headers=AUTH)
    assert r.status_code == 204 and "X-Twin-Batch" not in r.headers
    assert state(path) == before


def test_patch_of_a_pipe_keeps_its_geometry_and_topology(writes):
    client, path = writes
    r = client.patch("/collections/heating/items/test:P1",
                     json={"properties": {"material": "PE-Xa", "status": "planned"}},
                     headers=AUTH)
    assert r.status_code == 204, r.text
    with twin.open_twin(path, readonly=True) as s:
        versions = s.versions_of("test:P1")
        old, new = versions[0]["feature"], versions[1]["feature"]
    assert new.attributes["material"] == "PE-Xa" and new.attributes["status"] == "planned"
    assert new.footprint.equals(old.footprint) and new.edge == old.edge
    assert set(new.meshes) == set(old.meshes)


@pytest.mark.parametrize(("method", "target", "body", "headers", "status", "says"), [
    ("post", ITEMS, {**building(), "geometry": {"type": "Point", "coordinates": [111.7, 40.8]}},
     {}, 400, "holds polygons, got a Point"),
    ("post", ITEMS, building(storeys="many"), {}, 400, "'storeys' must be a number"),
    ("post", ITEMS, building(layer="roads"), {}, 400, "collection 'buildings'"),
    ("post", "/collections/nowhere/items", building(), {}, 404, "nowhere"),
    ("post", ITEMS, building(), {"Authorization": None}, 401, "Bearer"),
    ("post", ITEMS, building(), {"Authorization": "Bearer wrong-token-0123456789"}, 401,
     "Bearer"),
    ("post", ITEMS, {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[
        [500000.0, 4500000.0], [500010.0, 4500000.0], [500010.0, 4500010.0],
        [500000.0, 4500000.0]]]}, "properties": {}}, {}, 400, "not longitude/latitude"),
    ("post", ITEMS, {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[
        [2.35, 48.85], [2.36, 48.85], [2.36, 48.86], [2.35, 48.85]]]}, "properties": {}},
     {}, 400, "area of use"),  # Paris, in a twin of Hohhot
    ("post", ITEMS, {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[
        [111.70, 40.80], [111.701, 40.801], [111.701, 40.80], [111.70, 40.801],
        [111.70, 40.80]]]}, "properties": {}}, {}, 400, "not valid: Self-intersection"),
    ("post", ITEMS, {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": 7}},
     {}, 400, "not a valid GeoJSON Polygon"),
    ("post", ITEMS, {"type": "Point"}, {}, 400, "GeoJSON Feature"),
    ("post", ITEMS, {"type": "FeatureCollection", "features": [building()] * 6}, {}, 413,
     "at most 5"),
    ("post", ITEMS, {**building(), "properties": {"pad": "x" * 20_000}}, {}, 413,
     "at most 16000 bytes"),
    ("put", f"{ITEMS}/test:B1", building(), {"If-Match": '"v0"'}, 412, "has changed"),
    ("patch", f"{ITEMS}/test:B1", {"properties": {"storeys": 2}}, {"If-Match": 'W/"x"'}, 412,
     "has changed"),
    ("delete", f"{ITEMS}/test:B1", None, {"If-Match": '"v0"'}, 412, "has changed"),
    ("delete", f"{ITEMS}/test:P1", None, {}, 404, "not in collection 'buildings'"),
    ("put", f"{ITEMS}/test:B1", {**building(), "id": "test:B2"}, {}, 400, "not the feature"),
    ("patch", f"{ITEMS}/test:B1", {"properties": {"year_built": 19.5}}, {}, 400,
     "whole number"),
    ("patch", f"{ITEMS}/test:B1", {"properties": {"storeys": 10**30}}, {}, 400, "64-bit"),
])
def test_a_refused_write_names_the_problem_and_leaves_the_twin_unchanged(
        writes, method, target, body, headers, status, says):
    client, path = writes
    before = state(path)
    hdrs = {k: v for k, v in {**AUTH, **headers}.items() if v is not None}
    kw = {"content": json.dumps(body), "headers": {**hdrs, "Content-Type": "application/json"}} \
        if body is not None else {"headers": hdrs}
    r = client.request(method.upper(), target, **kw)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert says in r.json()["detail"]
    assert state(path) == before


def test_a_body_that_is_no_json_is_refused(writes):
    client, path = writes
    before = state(path)
    r = client.post(ITEMS, content=b"<Feature/>", headers={**AUTH, "Content-Type": "text/xml"})
    assert r.status_code == 415
    r = client.post(ITEMS, content=b"{not json", headers={**AUTH,
                                                          "Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    assert state(path) == before


def test_etag_names_the_version_in_every_crs_and_answers_304(writes):
    client, _ = writes
    a = client.get(f"{ITEMS}/test:B1")
    b = client.get(f"{ITEMS}/test:B1",
                   params={"crs": "http://www.opengis.net/def/crs/EPSG/0/4546"})
    assert a.headers["ETag"] == b.headers["ETag"] and not a.headers["ETag"].startswith("W/")
    assert client.get(f"{ITEMS}/test:B1",
                      headers={"If-None-Match": a.headers["ETag"]}).status_code == 304
    assert client.get(f"{ITEMS}/test:B2").headers["ETag"] != a.headers["ETag"]
    ok = client.patch(f"{ITEMS}/test:B1", json={"properties": {"storeys": 9}},
                      headers={**AUTH, "If-Match": a.headers["ETag"]})
    assert ok.status_code == 204
    assert client.get(f"{ITEMS}/test:B1").headers["ETag"] == ok.headers["ETag"] != \
        a.headers["ETag"]


def test_conformance_and_openapi_list_the_writes_only_with_a_token(writes, api):
    client, _ = writes
    assert set(PART4) <= set(client.get("/conformance").json()["conformsTo"])
    ops = client.get("/openapi.json").json()["paths"]
    assert {"post"} <= set(ops["/collections/{collectionId}/items"])
    assert {"get", "put", "patch", "delete"} <= set(
        ops["/collections/{collectionId}/items/{featureId}"])
    assert api.get("/conformance").json()["conformsTo"] == CONFORMANCE
    assert "post" not in api.get("/openapi.json").json()["paths"][
        "/collections/{collectionId}/items"]


def test_a_read_only_server_answers_writes_405(api):
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        target = ITEMS if method == "POST" else f"{ITEMS}/test:B1"
        r = api.request(method, target, content=json.dumps(building()), headers=AUTH)
        assert r.status_code == 405, (method, r.text)
        assert "GET" in r.headers["Allow"] and method not in r.headers["Allow"]


@pytest.mark.backends("gpkg")
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patch=st.dictionaries(
    st.sampled_from(["colour", "owner", "note", "storeys", "function"]),
    st.one_of(st.none(), st.text(alphabet="abcxyz 城市", min_size=1, max_size=8),
              st.integers(1, 60)), max_size=4))
def test_patch_is_a_json_merge_patch_of_the_properties(writes, patch):
    client, _ = writes
    if isinstance(patch.get("storeys"), str):
        patch["storeys"] = len(patch["storeys"])
    for text in ("owner", "function"):  # typed text: a number would be stored as text
        if isinstance(patch.get(text), int):
            patch[text] = str(patch[text])
    before = client.get(f"{ITEMS}/test:B2").json()["properties"]
    r = client.patch(f"{ITEMS}/test:B2", json={"properties": patch}, headers=AUTH)
    assert r.status_code == 204, r.text
    after = client.get(f"{ITEMS}/test:B2").json()["properties"]
    assert all(after.get(k) == v for k, v in before.items() if k not in patch)
    assert all(after.get(k) == v for k, v in patch.items() if v is not None), (patch, after)
    assert all(k not in after for k, v in patch.items() if v is None)
