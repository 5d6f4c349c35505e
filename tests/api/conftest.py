"""Fixtures of the API tests: in-process clients and a real server on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from api_helpers import TOKEN
from builders import REPO
from fastapi.testclient import TestClient

from twin_api.app import create_app
from twin_api.settings import ApiSettings


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


@contextmanager
def served(app):
    """``app`` under uvicorn on 127.0.0.1, in a thread: real HTTP; yields the URL."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def live_server(demo_twin):
    """``twin serve``'s app under uvicorn on 127.0.0.1, in a thread: real HTTP."""
    with served(create_app(ApiSettings(str(demo_twin)))) as url:
        yield url


@contextmanager
def twin_serve(twin_path, *options: str, env: dict[str, str] | None = None,
               code: Path | None = None):
    """``twin serve TWIN OPTIONS`` in its own process group (the real command,
    worker processes and all); yields ``(url, process)``. ``code``: the
    toolkit's code to run (another release's, from ``git archive``), else
    this checkout's."""
    port = _free_port()
    path = str(code) if code is not None else \
        os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": path}
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin_cli.main", "serve", str(twin_path), "--port", str(port),
         "--log-level", "warning", "--access-log", "off", *options],
        env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True, cwd=code)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("twin serve did not start: " + proc.stderr.read().decode())
            time.sleep(0.1)
        yield url, proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        proc.stderr.close()
