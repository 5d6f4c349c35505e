"""Imports over the API: token, upload bounds, background job, rollback."""

from __future__ import annotations

import json
import time

from api_helpers import TOKEN
from builders import X0, Y0, dump_twin

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _geojson(n: int = 2) -> bytes:
    feats = [{"type": "Feature", "id": f"K{i}", "properties": {"storeys": 3 + i},
              "geometry": {"type": "Polygon", "coordinates": [[
                  [X0 + 200 + 30 * i, Y0], [X0 + 220 + 30 * i, Y0],
                  [X0 + 220 + 30 * i, Y0 + 10], [X0 + 200 + 30 * i, Y0]]]}}
             for i in range(n)]
    return json.dumps({"type": "FeatureCollection", "twin": {"layer": "buildings"},
                       "crs": {"type": "name",
                               "properties": {"name": "urn:ogc:def:crs:EPSG::4546"}},
                       "features": feats}).encode()


def _wait(client, url: str, seconds: float = 30.0) -> dict:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        job = client.get(url, headers=AUTH).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {url} did not finish in {seconds:g} s")


def test_read_only_server_refuses_imports(api):
    r = api.post("/twin/imports", files={"file": ("a.geojson", _geojson())})
    assert r.status_code == 403 and "token" in r.json()["detail"]


def test_imports_need_the_token(writable_api):
    r = writable_api.post("/twin/imports", files={"file": ("a.geojson", _geojson())})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r = writable_api.post("/twin/imports", files={"file": ("a.geojson", _geojson())},
                          headers={"Authorization": "Bearer wrong-token-wrong-token"})
    assert r.status_code == 401
    assert writable_api.get("/twin/imports").status_code == 401


def test_upload_runs_as_a_job_and_lands_in_the_twin(writable_api, tmp_path):
    r = writable_api.post("/twin/imports", headers=AUTH,
                          files={"file": ("../../etc/new buildings.geojson", _geojson())})
    assert r.status_code == 202
    job = _wait(writable_api, r.headers["location"])
    assert job["status"] == "succeeded", job
    assert job["result"]["features"] == 2 and job["file"] == "new buildings.geojson"
    assert job["progress"]["done"] >= 0
    items = writable_api.get("/collections/buildings/items").json()
    assert items["numberMatched"] == 5
    # the upload was stored under a server-chosen name and removed afterwards
    assert list((tmp_path / "uploads").iterdir()) == []
    assert not (tmp_path / "etc").exists()
    listed = writable_api.get("/twin/imports", headers=AUTH).json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]]


def test_failed_import_leaves_the_twin_unchanged(writable_api, city):
    before = dump_twin(city.path)
    bad = b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": '
    r = writable_api.post("/twin/imports", headers=AUTH, files={"file": ("broken.geojson", bad)})
    job = _wait(writable_api, r.headers["location"])
    assert job["status"] == "failed" and "broken.geojson" in job["error"]
    assert "uploads" not in job["error"]  # the server's own path is not shown
    assert dump_twin(city.path) == before


def test_upload_bounds(writable_api):
    r = writable_api.post("/twin/imports", headers=AUTH,
                          files={"file": ("big.geojson", b" " * 300_000)})
    assert r.status_code == 413
    r = writable_api.post("/twin/imports", headers=AUTH, files={"file": ("run.sh", b"echo")})
    assert r.status_code == 415 and ".geojson" in r.json()["detail"]
    r = writable_api.post("/twin/imports", headers=AUTH, files={"file": ("e.geojson", b"")})
    assert r.status_code == 400
    assert writable_api.get("/twin/imports/nope", headers=AUTH).status_code == 404


def test_a_refused_placement_fails_the_job_until_forced(writable_api, city):
    """Local coordinates (a model near 0,0) in an EPSG:4546 twin: the job fails
    naming the check and --force's API twin; force=true imports it."""
    doc = json.loads(_geojson())
    for f in doc["features"]:
        ring = f["geometry"]["coordinates"][0]
        f["geometry"]["coordinates"][0] = [[x - X0, y - Y0] for x, y in ring]
    data = json.dumps(doc).encode()
    before = dump_twin(city.path)
    r = writable_api.post("/twin/imports", headers=AUTH, files={"file": ("local.geojson", data)})
    job = _wait(writable_api, r.headers["location"])
    assert job["status"] == "failed" and "area of use" in job["error"], job
    assert "--force" in job["error"] and "uploads" not in job["error"]
    assert dump_twin(city.path) == before
    r = writable_api.post("/twin/imports", headers=AUTH, data={"force": "true"},
                          files={"file": ("local.geojson", data)})
    job = _wait(writable_api, r.headers["location"])
    assert job["status"] == "succeeded" and job["result"]["features"] == 2, job
    assert any("placement check overridden" in n["text"] for n in job["result"]["notes"])


def test_an_ifc_upload_converts_with_spawned_workers(writable_api, city):
    """The server runs other threads, so an IFC import job asks for workers
    from a fresh interpreter (no fork of the server): the demo's community
    centre lands whole, and the batch's report says how its workers came."""
    from builders import DEMO_DIR

    data = (DEMO_DIR / "community_centre.ifc").read_bytes()
    r = writable_api.post("/twin/imports", headers=AUTH,
                          files={"file": ("community_centre.ifc", data)})
    job = _wait(writable_api, r.headers["location"], 180)  # an interpreter starts, parses
    assert job["status"] == "succeeded", job
    (batch,) = [b for b in city.batches() if b.id == job["result"]["batch"]]
    geo = batch.report["source"]["geometry"]
    assert geo["workers"].startswith("spawned")
    assert geo["converted"] == geo["requested"] > 10 and geo["failed"] == 0
    assert job["result"]["features"] == batch.feature_count > geo["converted"]
