"""Fixtures of the API tests: in-process clients and a real server on loopback."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from fastapi.testclient import TestClient

from twin_api.app import create_app
from twin_api.settings import ApiSettings

from api_helpers import TOKEN


@pytest.fixture
def api(city):
    """A read-only API over the small hand-checked city."""
    with TestClient(create_app(ApiSettings(city.path))) as client:
        yield client


@pytest.fixture
def writable_api(city, tmp_path):
    """An API with imports enabled by a token, uploads kept in tmp_path."""
    settings = ApiSettings(city.path, token=TOKEN, work_dir=str(tmp_path / "uploads"),
                           max_upload_bytes=200_000)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def demo_api(demo_twin):
    with TestClient(create_app(ApiSettings(str(demo_twin), default_limit=50))) as client:
        yield client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_server(demo_twin):
    """``twin serve``'s app under uvicorn on 127.0.0.1, in a thread: real HTTP."""
    port = _free_port()
    config = uvicorn.Config(create_app(ApiSettings(str(demo_twin))), host="127.0.0.1",
                            port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
