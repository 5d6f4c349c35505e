"""A real client writes through OGC API - Features - Part 4: OWSLib against
``twin serve`` on 127.0.0.1 (its own process, the real command), then the
command line sees the three edits as three import batches and undoes the
last one."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from api_helpers import TOKEN
from builders import REPO, X0, Y0
from conftest import twin_serve
from federation_helpers import token_file
from owslib.ogcapi.features import Features
from pyproj import Transformer

TO_LONLAT = Transformer.from_crs("EPSG:4546", "OGC:CRS84", always_xy=True)


def twin_cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "twin_cli.main", *args], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def square(x: float, y: float) -> list:
    ring = [(x, y), (x + 12, y), (x + 12, y + 9), (x, y + 9), (x, y)]
    return [[list(TO_LONLAT.transform(px, py)) for px, py in ring]]


def test_owslib_creates_updates_and_deletes_and_the_cli_undoes_the_delete(city, tmp_path):
    feature = {"type": "Feature", "geometry": {"type": "Polygon",
                                               "coordinates": square(X0 + 400, Y0 + 400)},
               "properties": {"name": "kindergarten", "storeys": 2, "function": "education"}}
    with twin_serve(city.path, "--token-file", str(token_file(tmp_path))) as (url, _):
        api = Features(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete" \
            in api.conformance()["conformsTo"]
        assert api.collection_item_create("buildings", feature) is True
        location = api.response_headers["Location"]
        fid = location.rsplit("/items/", 1)[1]
        assert api.collection_item("buildings", fid)["properties"]["storeys"] == 2

        changed = {**feature, "properties": {**feature["properties"], "storeys": 3}}
        assert api.collection_item_update("buildings", fid, changed) is True
        assert api.collection_item("buildings", fid)["properties"]["storeys"] == 3

        assert api.collection_item_delete("buildings", fid) is True
        with pytest.raises(RuntimeError, match="does not exist"):
            api.collection_item("buildings", fid)

        history = json.loads(twin_cli("history", city.path, fid, "--json"))
        # two versions and three batches: created, replaced, and the one that retired it
        assert [h["changes"] for h in history] == [["added"], ["storeys", "then retired"]]
        batches = [history[0]["batch"], history[1]["batch"], history[1]["retired_batch"]]
        assert history[0]["retired_batch"] == batches[1] and batches == sorted(set(batches))
        listed = json.loads(twin_cli("batches", city.path, "--json"))
        api_batches = [b for b in listed if b["converter"] == "ogcapi-features"]
        assert len(api_batches) == 3
        assert all(b["source"].startswith("OGC API - Features: ") and str(tmp_path)
                   not in b["source"] for b in api_batches)

        twin_cli("batches", city.path, "--remove", str(batches[-1]))
        back = api.collection_item("buildings", fid)
        assert back["properties"]["storeys"] == 3 and back["properties"]["name"] == \
            "kindergarten"
