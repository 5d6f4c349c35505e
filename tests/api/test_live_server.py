"""A real server on 127.0.0.1: HTTP clients, concurrency, and GDAL's OGC API
- Features driver making the requests QGIS makes."""

from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import pytest

import twin


def test_http_client_reads_landing_collections_and_items(live_server, demo_twin):
    with httpx.Client(base_url=live_server, timeout=30) as c:
        assert c.get("/").json()["links"]
        cols = c.get("/collections").json()["collections"]
        assert len(cols) == len(twin.STANDARD_LAYERS)
        r = c.get("/collections/heating/items", params={"limit": 1000})
        assert r.headers["content-type"].startswith("application/geo+json")
        with twin.open_twin(demo_twin, readonly=True) as store:
            expected = store.count(twin.Query(layers=("heating",)))
        assert r.json()["numberMatched"] == expected == len(r.json()["features"])


def test_concurrent_clients_get_consistent_pages(live_server):
    def page(offset: int) -> list[str]:
        with httpx.Client(base_url=live_server, timeout=30) as c:
            doc = c.get("/collections/pipe_nodes/items",
                        params={"limit": 100, "offset": offset}).json()
            return [f["id"] for f in doc["features"]]

    offsets = list(range(0, 2000, 100))
    with ThreadPoolExecutor(8) as pool:
        pages = list(pool.map(page, offsets))
    ids = [i for p in pages for i in p]
    assert len(ids) == len(set(ids)) == 2000


def test_scene_over_http_is_a_glb(live_server):
    with httpx.Client(base_url=live_server, timeout=30) as c:
        origin = c.get("/twin").json()["origin"]
        x, y = origin[0], origin[1]
        r = c.get("/twin/scene.glb", params={"bbox": f"{x - 150},{y - 150},{x + 150},{y + 150}"})
        assert r.status_code == 200 and r.content[:4] == b"glTF"
        assert int(r.headers["x-feature-count"]) > 50


@pytest.mark.gdal
@pytest.mark.skipif(shutil.which("ogrinfo") is None,
                    reason="ogrinfo comes from Debian's gdal-bin, which .ci/run installs")
def test_gdal_ogc_api_features_driver_lists_and_reads_the_layers(live_server, demo_twin):
    """QGIS's "OGC API - Features" connection goes through this same GDAL driver."""
    url = f"OAPIF:{live_server}"
    listing = subprocess.run(["ogrinfo", "-ro", "-q", url], capture_output=True, text=True,
                             timeout=120)
    assert listing.returncode == 0, listing.stderr
    for name in ("buildings", "heating", "pipe_nodes"):
        assert f": {name} (title:" in listing.stdout
    summary = subprocess.run(["ogrinfo", "-ro", "-so", url, "heating"], capture_output=True,
                             text=True, timeout=120)
    with twin.open_twin(demo_twin, readonly=True) as store:
        n = store.count(twin.Query(layers=("heating",)))
        pipe = next(store.query(twin.Query(layers=("heating",), limit=1)))
    assert f"Feature Count: {n}" in summary.stdout, summary.stdout + summary.stderr
    assert "install_year: Integer" in summary.stdout
    # read every feature as GeoJSON through GDAL: all pages, every attribute
    out = subprocess.run(["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", url, "heating"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    feats = json.loads(out.stdout)["features"]
    assert len(feats) == n
    got = next(f for f in feats if f["properties"]["id"] == pipe.id)
    assert got["properties"]["install_year"] == pipe.attributes["install_year"]
