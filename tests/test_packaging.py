"""The package as users install it: a wheel built from this checkout, installed
into a fresh virtual environment outside it, with only the core and the API
extra. The core works, a part whose extra is left out says which extra to
install, and the installed wheel serves the web viewer (package data, not the
source tree)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx2 as httpx
import pytest

from twin.extras import EXTRAS, install_hint

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out),
         str(REPO), cwd=out)
    (whl,) = out.glob("digital_twin_city-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv (no access to this checkout) with the wheel and its API extra."""
    venv = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", str(venv), cwd=venv)
    # --no-compile: Python compiles what the test imports as it imports it; pip's
    # byte-compiling of every module of every dependency was most of this install
    # without PYTHONPATH: a checkout on it (where 'pip wheel' leaves its egg-info)
    # would make pip take the package as installed and add only its dependencies
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run(str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile",
         "--disable-pip-version-check", f"{wheel}[api]", cwd=venv, env=env)
    return venv


def test_the_wheel_ships_the_web_viewer_and_no_tests(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("viewer/web/index.html", "viewer/web/main.js", "viewer/web/js/stage.js",
                   "viewer/web/node_modules/three/build/three.module.js",
                   "viewer/web/node_modules/three/examples/jsm/loaders/GLTFLoader.js",
                   "twin/data/clearance_gb50289.toml", "converters/profiles/cjj61.toml"):
        assert needed in names, needed
    assert not any(n.startswith(("tests/", "bench/", "sample_models/")) for n in names)
    # every import map entry of the page resolves inside the wheel
    html = zipfile.ZipFile(wheel).read("viewer/web/index.html").decode()
    for target in ("./node_modules/three/build/three.module.js",
                   "./node_modules/3d-tiles-renderer/build/index.three.js",
                   "./node_modules/suncalc/index.js"):
        assert target in html and "viewer/web/" + target[2:] in names, target


def test_an_installed_wheel_runs_the_core_refuses_missing_extras_and_serves_the_viewer(
        installed, tmp_path):
    bin_ = installed / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    work = tmp_path / "elsewhere"
    work.mkdir()
    # nothing of the checkout is importable: the wheel's modules are used
    where = _run(str(bin_ / "python"), "-c", "import twin, viewer; print(twin.__file__)",
                 cwd=work, env=env).stdout
    assert str(installed) in where and str(REPO) not in where
    # the core only: no IFC kernel, no VTK in this venv
    missing = _run(str(bin_ / "python"), "-c",
                   "import importlib.util as u; print([m for m in ('ifcopenshell', 'pyvista', "
                   "'wntr', 'rasterio', 'psycopg') if u.find_spec(m)])", cwd=work, env=env)
    assert missing.stdout.strip() == "[]"
    _run(str(bin_ / "twin"), "init", "t.gpkg", "--crs", "EPSG:4546", cwd=work, env=env)
    ifc = REPO / "sample_models" / "hohhot_demo" / "community_centre.ifc"
    refused = _run(str(bin_ / "twin"), "import", str(ifc), "--twin", "t.gpkg", cwd=work,
                   env=env, check=False)
    assert refused.returncode == 2, refused.stderr
    assert install_hint("ifcopenshell") in " ".join(refused.stderr.split())
    assert EXTRAS["ifcopenshell"] == "ifc" and "internal error" not in refused.stderr
    geojson = REPO / "sample_models" / "hohhot_demo" / "roads.geojson"
    _run(str(bin_ / "twin"), "import", str(geojson), "--twin", "t.gpkg", cwd=work, env=env)

    port = _free_port()
    proc = subprocess.Popen([str(bin_ / "twin"), "serve", "t.gpkg", "--port", str(port),
                             "--log-level", "warning"], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.2)
        page = httpx.get(url + "/viewer/", timeout=10)
        assert page.status_code == 200 and "importmap" in page.text
        three = httpx.get(url + "/viewer/node_modules/three/build/three.module.js", timeout=10)
        assert three.status_code == 200 and len(three.content) > 100_000
        items = httpx.get(url + "/collections/roads/items?limit=1", timeout=10).json()
        assert items["numberMatched"] >= 1
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        proc.stderr.close()
