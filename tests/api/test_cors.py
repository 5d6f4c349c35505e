"""CORS: off unless configured; with ``--cors-origin`` a page on that origin
may read the API (and the tiles), preflights included, errors too."""

from __future__ import annotations

import httpx2 as httpx
import pytest
from conftest import twin_serve
from fastapi.testclient import TestClient

from twin.errors import ConfigError
from twin_api.app import create_app
from twin_api.settings import ApiSettings

pytestmark = pytest.mark.backends("gpkg")  # the HTTP layer, not the store

PAGE = "https://maps.example.org"
PREFLIGHT = {"Origin": PAGE, "Access-Control-Request-Method": "GET"}


def test_without_configuration_no_origin_is_allowed(api):
    r = api.get("/collections", headers={"Origin": PAGE})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    pre = api.options("/collections", headers=PREFLIGHT)
    assert pre.status_code == 405 and "access-control-allow-origin" not in pre.headers


def test_a_configured_origin_reads_answers_errors_and_preflights(city):
    app = create_app(ApiSettings(city.path, cors_origins=f"{PAGE},http://127.0.0.1:5173"))
    with TestClient(app) as c:
        r = c.get("/collections/buildings/items", headers={"Origin": PAGE})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == PAGE
        assert "Content-Crs" in r.headers["access-control-expose-headers"]
        err = c.get("/collections/nope", headers={"Origin": PAGE})
        assert err.status_code == 404 and err.headers["access-control-allow-origin"] == PAGE
        bad = c.get("/twin/search", params={"bogus": 1}, headers={"Origin": PAGE})
        assert bad.status_code == 400 and bad.headers["access-control-allow-origin"] == PAGE
        pre = c.options("/twin/scene.glb", headers=PREFLIGHT)
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == PAGE
        assert "GET" in pre.headers["access-control-allow-methods"]
        other = c.get("/collections", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        assert c.options("/collections", headers={**PREFLIGHT, "Origin": "https://evil.example"}
                         ).status_code == 400


def test_any_origin_and_bad_origins(city):
    with TestClient(create_app(ApiSettings(city.path, cors_origins="*"))) as c:
        r = c.get("/twin", headers={"Origin": "https://anyone.example"})
        assert r.headers["access-control-allow-origin"] == "*"
    for bad in ("maps.example.org", "https://maps.example.org/path", "ftp://x"):
        with pytest.raises(ConfigError, match="is not an origin"):
            ApiSettings(city.path, cors_origins=bad)


def test_twin_serve_cors_origin_option(city):
    with twin_serve(city.path, "--cors-origin", PAGE) as (url, _):
        with httpx.Client(base_url=url, timeout=30) as c:
            r = c.get("/conformance", headers={"Origin": PAGE})
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == PAGE
            pre = c.options("/collections", headers=PREFLIGHT)
            assert pre.status_code == 200
