"""CQL2 filters from real clients against a real server on 127.0.0.1: OWSLib
(CQL2 text and JSON) and GDAL's OGC API - Features driver (the one QGIS
uses), which turns an OGR attribute filter into a server-side CQL filter."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from owslib.ogcapi.features import Features

import twin
from twin.query import Condition, Filter


def _expected(demo_twin, where: Condition) -> set[str]:
    with twin.open_twin(demo_twin, readonly=True) as store:
        return {f.id for f in store.query(twin.Query(layers=("buildings",), where=where))}


def test_owslib_reads_queryables_and_filters_in_cql2_text_and_json(live_server, demo_twin):
    api = Features(live_server)
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in \
        api.conformance()["conformsTo"]
    props = api.collection_queryables("buildings")["properties"]
    assert props["storeys"]["type"] == "integer"
    want = _expected(demo_twin, Condition("or", (Filter("storeys", ">=", 12),
                                                 Filter("height", "<", 4))))
    assert want  # the demo district has both
    text = api.collection_items("buildings", filter="storeys >= 12 OR height < 4",
                                limit=10_000)
    assert {f["id"] for f in text["features"]} == want
    assert text["numberMatched"] == len(want)
    doc = {"op": "or", "args": [{"op": ">=", "args": [{"property": "storeys"}, 12]},
                                {"op": "<", "args": [{"property": "height"}, 4]}]}
    js = api.collection_items("buildings", filter=json.dumps(doc), limit=10_000,
                              **{"filter-lang": "cql2-json"})
    assert {f["id"] for f in js["features"]} == want


@pytest.mark.gdal
@pytest.mark.skipif(shutil.which("ogrinfo") is None,
                    reason="ogrinfo comes from Debian's gdal-bin, which .ci/run installs")
def test_gdal_sends_an_attribute_filter_to_the_server_as_cql(live_server, demo_twin):
    want = _expected(demo_twin, Condition("and", (Filter("storeys", ">", 9),
                                                  Filter("storeys", "<=", 15))))
    assert want
    out = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-q", "--debug", "on", f"OAPIF:{live_server}", "buildings",
         "-where", "storeys > 9 AND storeys <= 15"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    # the filter went to the server (not evaluated by GDAL after reading everything)
    assert "filter=(storeys%20%3E%209)%20AND%20(storeys%20%3C%3D%2015)" in out.stderr, \
        out.stderr[-3000:]
    assert "evaluated on client side" not in out.stderr
    got = {line.split("=", 1)[1].strip() for line in out.stdout.splitlines()
           if line.strip().startswith("id (String) =")}
    assert got == want
