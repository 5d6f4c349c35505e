"""Requests a fair but hostile client sends: every one gets a 4xx problem
document that names what is wrong, never a 500, and the server stays whole."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest
from api_helpers import TOKEN
from builders import X0, Y0, run_sql
from conftest import served
from fastapi.testclient import TestClient

from twin_api.app import create_app
from twin_api.settings import ApiSettings

BIG = 2**63


def _problem(r, status: int, fragment: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert fragment in r.json()["detail"], r.json()["detail"]


@pytest.mark.parametrize("url, fragment", [
    (f"/collections/buildings/items?where=storeys>{BIG}", "range of whole numbers"),
    (f"/collections/buildings/items?storeys={BIG}", "range of whole numbers"),
    (f"/twin/search?bbox={X0},{Y0},{X0 + 1},{Y0 + 1}&where=storeys<{BIG}",
     "range of whole numbers"),
    (f"/twin/search?bbox={X0},{Y0},{X0 + 1},{Y0 + 1}&offset={BIG}", "offset"),
    (f"/twin/features/test:B1/children?offset={BIG}", "offset"),
    (f"/collections/buildings/items?offset={BIG}", "offset"),
    ("/collections/buildings/items?" + "&".join(["where=storeys>1"] * 1000), "filters"),
    ("/collections/buildings/items?" + "&".join(["storeys=1"] * 1000), "filters"),
    ("/twin/search?bbox=0,0,1,1&" + "&".join(["where=storeys>1"] * 1000), "where"),
    ("/twin/analyses/renewal?layers=nope", "layer 'nope' does not exist"),
    ("/twin/analyses/ageing?layers=nope", "layer 'nope' does not exist"),
    ("/twin/search?bbox=0,0,1,1&layers=nope", "layer 'nope' does not exist"),
    ("/twin/around?x=0&y=0&layers=nope", "layer 'nope' does not exist"),
    ("/twin/features/test:B1/below?layers=nope", "layer 'nope' does not exist"),
    ("/twin/around?x=nan&y=0", "x"),
    ("/twin/analyses/highlight?analysis=renewal:99999999999", "between 1800 and 2200"),
    ("/twin/analyses/highlight?analysis=renewal:soon", "must be a number"),
])
def test_out_of_range_values_are_400_problems(api, url, fragment):
    _problem(api.get(url), 400, fragment)


def test_a_limit_above_the_maximum_is_capped(tmp_path, city):
    with TestClient(create_app(ApiSettings(city.path, max_limit=2, default_limit=1))) as c:
        for url in (f"/collections/buildings/items?limit={BIG * 4}",
                    f"/twin/search?bbox={X0 - 50},{Y0 - 50},{X0 + 200},{Y0 + 200}&limit=50"):
            r = c.get(url)
            assert r.status_code == 200 and r.json()["numberReturned"] == 2
        nxt = [x["href"] for x in c.get("/collections/buildings/items?limit=99").json()["links"]
               if x["rel"] == "next"]
        assert nxt and "offset=2" in nxt[0]


def test_bearer_scheme_is_case_insensitive_and_required(writable_api):
    ok = [writable_api.get("/twin/imports", headers={"Authorization": f"{s} {TOKEN}"})
          for s in ("Bearer", "bearer", "BEARER")]
    assert [r.status_code for r in ok] == [200, 200, 200]
    for value in (TOKEN, f"Bearer{TOKEN}", f"Basic {TOKEN}", f"Bearer {TOKEN} extra",
                  f"Bearer {TOKEN[:-1]}", "Bearer"):
        r = writable_api.get("/twin/imports", headers={"Authorization": value})
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("files, data, status, fragment", [
    ([("file", ("a.geojson", b"{}")), ("file", ("b.geojson", b"{}"))], None, 400,
     "two 'file' parts"),
    ([("file", ("a.geojson", b"{}"))], {"colour": "red"}, 400, "unknown form field 'colour'"),
    ([("file", ("a.geojson", b"{}"))], {"crs": "x" * 5000}, 400, "longer than"),
    ([("other", ("a.geojson", b"{}"))], None, 400, "unknown form field 'other'"),
    ([("file", ("", b"{}"))], None, 400, "no filename"),
])
def test_malformed_uploads_are_refused_and_leave_nothing(writable_api, tmp_path, files, data,
                                                         status, fragment):
    r = writable_api.post("/twin/imports", headers=AUTH, files=files, data=data)
    _problem(r, status, fragment)
    assert list((tmp_path / "uploads").iterdir()) == []
    assert writable_api.get("/twin/imports", headers=AUTH).json()["jobs"] == []


def test_an_upload_that_is_not_multipart_is_415(writable_api):
    r = writable_api.post("/twin/imports", headers={**AUTH, "Content-Type": "application/json"},
                          content=b"{}")
    _problem(r, 415, "multipart/form-data")


def test_methods_head_and_trace(api):
    get = api.get("/collections/buildings/items")
    head = api.head("/collections/buildings/items")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]
    assert api.head("/twin/features/test:nope").status_code == 404
    for method in ("TRACE", "DELETE", "PUT"):
        r = api.request(method, "/collections")
        assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
        assert r.json()["status"] == 405 and "GET, HEAD" in r.json()["detail"]


def test_request_size_limits(city):
    with TestClient(create_app(ApiSettings(city.path, max_request_bytes=1000))) as c:
        _problem(c.request("GET", "/collections", content=b"x" * 2000), 413, "at most 1000")
        _problem(c.get("/collections/buildings/items?name=" + "x" * 2000), 414, "longer")
        assert c.get("/collections/buildings/items?name=" + "x" * 500).status_code == 200


def test_rate_limit_per_client_with_retry_after(city):
    with TestClient(create_app(ApiSettings(city.path, rate_limit=1, rate_burst=3))) as c:
        codes = [c.get("/conformance").status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        r = c.get("/conformance")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "requests per second" in r.json()["detail"]
        assert c.get("/health").status_code == 200  # the load balancer is never limited
        time.sleep(1.1)
        assert c.get("/conformance").status_code == 200  # the bucket refills


def test_a_request_past_its_time_limit_is_503_with_retry_after(city):
    app = create_app(ApiSettings(city.path, request_timeout_s=0.3))

    @app.get("/test-only/slow")  # a query that takes too long, as a test makes one
    def slow() -> dict:
        time.sleep(6)  # the answer does not wait for it (the thread sleeps on after the test)
        return {}

    with TestClient(app) as c:
        t0 = time.monotonic()
        r = c.get("/test-only/slow")
        # answered at the limit, not after the work: within half the work's time, which
        # leaves a loaded machine (parallel test workers) 2.7 s to schedule the answer
        assert time.monotonic() - t0 < 3
        _problem(r, 503, "longer than 0.3 s")
        assert r.headers["retry-after"]
        assert c.get("/conformance").status_code == 200


def test_health_says_live_and_ready(city, tmp_path):
    with TestClient(create_app(ApiSettings(city.path))) as c:
        doc = c.get("/health").json()
        assert doc["live"] and doc["ready"] and doc["revision"] == city.revision()
        if city.path.startswith("postgresql://"):  # the twin's tables are gone
            run_sql(city.path, "ALTER TABLE twin_meta RENAME TO twin_meta_gone")
        else:
            (tmp_path / "city.gpkg").rename(tmp_path / "moved.gpkg")
        r = c.get("/health")
        assert r.status_code == 503 and r.json()["ready"] is False
        assert r.headers["retry-after"]


def test_a_500_keeps_the_keep_alive_connection(city):
    app = create_app(ApiSettings(city.path))

    @app.get("/test-only/fails")  # a bug in a route, as a test makes one
    def fails() -> dict:
        raise RuntimeError("a bug")

    with served(app) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for path in ("/test-only/fails", "/conformance", "/test-only/fails", "/twin"):
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                status, body = _read_response(sock)
                if "fails" in path:
                    assert status == 500 and json.loads(body)["title"] == "Internal error"
                    assert "a bug" not in body.decode()  # logged, not shown
                else:
                    assert status == 200


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        assert data, "the server closed the connection"
        buf += data
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(x.split(":")[1]) for x in lines if x.lower().startswith("content-length"))
    while len(body) < length:
        data = sock.recv(65536)
        assert data, "the server closed the connection"
        body += data
    return int(lines[0].split()[1]), body


def test_access_log_is_json_lines_naming_who_imported_what(writable_api, caplog):
    caplog.set_level(logging.INFO, logger="twin_api.access")
    writable_api.get("/conformance")
    r = writable_api.post("/twin/imports", headers=AUTH,
                          files={"file": ("roads.geojson", b'{"type": "FeatureCollection", '
                                                           b'"features": []}')})
    job = r.json()["id"]
    lines = [json.loads(rec.getMessage()) for rec in caplog.records
             if rec.name == "twin_api.access"]
    conf = next(x for x in lines if x["path"] == "/conformance")
    assert {"time", "client", "method", "status", "bytes", "ms"} <= set(conf)
    assert conf["status"] == 200 and conf["bytes"] > 0 and conf["method"] == "GET"
    imp = next(x for x in lines if x["path"] == "/twin/imports")
    assert imp["status"] == 202 and imp["job"] == job and imp["file"] == "roads.geojson"
    assert imp["token"].startswith("token:") and TOKEN not in json.dumps(lines)


def test_feature_provenance_shows_file_names_not_directories(tmp_path, city):
    from builders import building

    with city.import_batch("/srv/gis/private/roads 2024.geojson", "GeoJSON", "geojson", "1"
                           ) as b:
        b.add([building(70, X0 + 500, Y0, 3)])
    with TestClient(create_app(ApiSettings(city.path))) as c:
        prov = c.get("/twin/features/test:B70").json()["provenance"]
    assert prov["source_file"] == "roads 2024.geojson"


def test_results_are_cached_per_twin_revision(city):
    from builders import building

    app = create_app(ApiSettings(city.path))
    cache = app.state.server.cache
    with TestClient(app) as c:
        first = c.get("/twin/layers").json()
        assert c.get("/twin/layers").json() == first
        assert (cache.misses, cache.hits) == (1, 1)
        with city.import_batch("more", "test", "tests", "1") as b:  # a new revision
            b.add([building(71, X0 + 600, Y0, 3)])
        again = c.get("/twin/layers").json()
        counts = {x["name"]: x["features"] for x in again["layers"]}
        assert counts["buildings"] == 4 and cache.misses == 2


@pytest.mark.parametrize("path", ["/viewer/%2e%2e/%2e%2e/twin/query.py",
                                  "/viewer/node_modules/%2e%2e/%2e%2e/%2e%2e/twin/query.py",
                                  "/viewer/..%2f..%2ftwin%2fquery.py"])
def test_the_viewer_folder_cannot_be_left(api, path):
    r = api.get(path)
    assert r.status_code == 404 and b"QueryError" not in r.content
