"""CesiumJS (from npm) in Chromium loads the 3D Tiles a live ``twin serve``
serves, picks features and reads their id, layer and attributes from the
EXT_structural_metadata property tables, and styles them by those attributes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from web_browser import browser

import twin
from viewer.tiles3d import export_3dtiles

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tests" / "tools"
CESIUM = TOOLS / "node_modules" / "cesium" / "Build" / "Cesium"


@pytest.fixture(scope="module")
def served(demo_gpkg, tmp_path_factory):
    """``twin serve`` (the CLI, in its own process) with the demo's tileset."""
    tiles = tmp_path_factory.mktemp("cesium_tiles")
    with twin.open_twin(demo_gpkg, readonly=True) as store:
        export_3dtiles(store, tiles, max_features=600)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")])}
    log = tiles / "serve.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "twin_cli.main", "serve",
                                 str(demo_gpkg), "--tiles", str(tiles), "--port", str(port)],
                                env=env, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "twin serve did not start"
        time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _cesium_files(route):
    """The test page and Cesium's build at /cesium-test/ on the server's origin
    (the page then reads /tiles from the same origin)."""
    path = route.request.url.split("/cesium-test/", 1)[1].split("?", 1)[0]
    if path == "index.html":
        return route.fulfill(path=str(TOOLS / "cesium_pick.html"))
    file = (CESIUM / path.removeprefix("Cesium/")).resolve()
    if not file.is_file() or CESIUM.resolve() not in file.parents:
        return route.fulfill(status=404)
    return route.fulfill(path=str(file))


@pytest.mark.browser
def test_cesium_picks_a_feature_and_reads_its_metadata(served, demo_gpkg, tmp_path):
    assert (CESIUM / "Cesium.js").is_file(), "run 'make tools' (npm installs CesiumJS)"
    with browser() as b:
        page = b.new_page(viewport={"width": 640, "height": 448})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/cesium-test/**", _cesium_files)
        page.goto(f"{served}/cesium-test/index.html")
        page.wait_for_function("window.cesiumTest.ready || window.cesiumTest.error",
                               timeout=240_000)
        assert page.evaluate("window.cesiumTest.error") is None, errors
        found = page.evaluate("window.cesiumTest.pickGrid(40)")
        page.screenshot(path=str(tmp_path / "cesium.png"))
        assert not errors, errors
        assert len(found) >= 10, found
        buildings = {k: v for k, v in found.items() if v["props"]["layer"] == "buildings"}
        assert buildings, sorted({v["props"]["layer"] for v in found.values()})
        with twin.open_twin(demo_gpkg, readonly=True) as store:
            for fid, hit in found.items():
                f = store.get(fid)
                p = hit["props"]
                assert p["layer"] == f.layer and p["type"] == f.type
                assert p.get("name") == f.name
                for k in ("storeys", "year_built", "function", "height"):
                    if k in f.attributes:
                        assert p[k] == pytest.approx(f.attributes[k]), (fid, k)
        tall = [v for v in buildings.values() if v["props"].get("storeys", 0) >= 10]
        low = [v for v in buildings.values() if v["props"].get("storeys", 99) < 10]
        assert tall and low
        assert page.evaluate(f"window.cesiumTest.styleAndRead({tall[0]['x']}, "
                             f"{tall[0]['y']})") == "#ff0000"
        assert page.evaluate(f"window.cesiumTest.styleAndRead({low[0]['x']}, "
                             f"{low[0]['y']})") == "#ffffff"
