"""Property-based requests generated from the app's own OpenAPI document
(schemathesis): whatever a client sends, the server never answers 5xx, and
every answer matches the document."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from twin_api.app import create_app
from twin_api.settings import ApiSettings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    import twin
    from builders import small_city

    path = tmp_path_factory.mktemp("fuzz") / "city.gpkg"
    with twin.create_twin(path, "EPSG:4546") as store:
        with store.import_batch("small_city", "test", "tests", "1") as b:
            b.add(small_city())
    app = create_app(ApiSettings(str(path), max_limit=500))
    with TestClient(app):  # runs the lifespan: the store is open
        yield app


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def test_no_server_errors(fuzz_schema):
    operations = [r.ok() for r in fuzz_schema.get_all_operations()]
    assert len(operations) >= 20  # every endpoint of the document is exercised
    calls: dict[str, int] = {}
    for op in operations:
        @given(case=op.as_strategy())
        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call()
            calls[op.label] = calls.get(op.label, 0) + 1
            case.validate_response(response, checks=(not_a_server_error,))

        check()
    assert len(calls) == len(operations) and sum(calls.values()) > 10 * len(operations)
