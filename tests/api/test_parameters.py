"""One rule for query parameters on every endpoint, walked over the whole
OpenAPI document: a parameter the operation does not declare is a 400
problem naming it, for GET and HEAD alike, and the document says so."""

from __future__ import annotations

import re

import pytest
from api_helpers import TOKEN
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from twin_api.app import create_app
from twin_api.settings import ApiSettings


@pytest.fixture(scope="module")
def every_route_app(tmp_path_factory):
    from builders import small_city

    import twin

    path = tmp_path_factory.mktemp("params") / "city.gpkg"
    with twin.create_twin(path, "EPSG:4546") as store:
        with store.import_batch("small_city", "test", "tests", "1") as b:
            b.add(small_city())
    app = create_app(ApiSettings(str(path), token=TOKEN, rate_limit=0,
                                 work_dir=str(tmp_path_factory.mktemp("uploads"))))
    with TestClient(app) as client:
        yield client


def _operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            url = re.sub(r"\{[^}]+\}", "x", path)
            yield path, method, url, op


def test_every_operation_refuses_an_unknown_parameter_with_a_documented_400(every_route_app):
    doc = every_route_app.get("/openapi.json").json()
    validate(doc)
    ops = list(_operations(doc))
    assert len(ops) >= 25
    for path, method, url, op in ops:
        assert "422" not in op["responses"], path
        assert "400" in op["responses"], (path, method)
        if path.startswith("/sta/"):  # OData: its own options ($...), checked below
            continue
        methods = [method.upper()] + (["HEAD"] if method == "get" else [])
        for m in methods:
            r = every_route_app.request(m, url, params={"bogus_param": "1"},
                                        headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 400, (m, path, r.status_code, r.text)
            if m != "HEAD":
                assert r.headers["content-type"] == "application/problem+json"
                detail = r.json()["detail"]
                assert "'bogus_param'" in detail and path in detail, detail
                declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
                for name in declared:  # the answer lists what the endpoint takes
                    assert name in detail, (path, name, detail)


def test_sensorthings_refuses_unknown_odata_options_and_ignores_custom_ones(every_route_app):
    """The SensorThings API reads its query options itself (OData): an unknown
    ``$`` option is a 400 naming it; a custom option without ``$`` is ignored,
    as OData says."""
    c = every_route_app
    r = c.get("/sta/v1.1/Things", params={"$bogus": "1"})
    assert r.status_code == 400 and "'$bogus'" in r.json()["detail"]
    assert c.get("/sta/v1.1/Things", params={"custom": "1"}).status_code == 200


def test_declared_parameters_and_property_filters_are_still_taken(every_route_app):
    c = every_route_app
    assert c.get("/collections", params={"f": "json"}).status_code == 200
    assert c.get("/twin/search", params={"bbox": "0,0,1e7,1e7", "limit": 1}).status_code == 200
    # /items: a typed attribute is a property filter, anything else is refused
    assert c.get("/collections/buildings/items", params={"storeys": 3}).status_code == 200
    r = c.get("/collections/buildings/items", params={"storeyz": 3})
    assert r.status_code == 400 and "'storeyz'" in r.json()["detail"]
    r = c.get("/twin/search", params={"layer": "buildings"})  # 'layers' misspelt
    assert r.status_code == 400 and "'layer'" in r.json()["detail"]
