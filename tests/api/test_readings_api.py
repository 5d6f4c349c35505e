"""/twin/viewer/readings: per feature the value of an observed property at a
time, or a statistic over a window, checked against the stored series, and
its bad requests, on both backends."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from twin.sensors.model import iso, to_ms
from twin.sensors.store import sensors_of
from twin_api.app import create_app
from twin_api.settings import ApiSettings

pytestmark = pytest.mark.backends("gpkg", "postgis")

T0 = to_ms("2025-03-31T22:00:00+08:00")
Q = 900_000
N = 24  # six hours of 15-minute readings
M = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


def add_meters(store):
    """Pressure loggers on the valves V1 and V2, a flow meter on building B1
    (and one more flow meter on B1, read only when the first has nothing);
    returns {datastream: (feature, times, values)}."""
    sensors = sensors_of(store)
    t = T0 + np.arange(N, dtype=np.int64) * Q
    out = {}
    with sensors.writing() as w:
        se = w.insert("Sensors", {"name": "s", "description": "s", "encoding_type": "text/html",
                                  "metadata": "x"})
        ops = {k: w.insert("ObservedProperties", {"name": k, "description": k,
                                                  "definition": f"urn:{k}"})
               for k in ("pressure", "flow")}
        for k, (fid, prop, unit, base) in enumerate((
                ("test:V1", "pressure", "kPa", 320.0), ("test:V2", "pressure", "kPa", 300.0),
                ("test:B1", "flow", "m3/h", 2.0), ("test:B1", "flow", "m3/h", 50.0))):
            th = w.insert("Things", {"name": f"m{k}", "description": "m", "feature_id": fid})
            ds = w.insert("Datastreams", {
                "name": f"d{k}", "description": "d", "observation_type": M,
                "unit": {"name": unit, "symbol": unit, "definition": unit}, "thing_id": th,
                "sensor_id": se, "observed_property_id": ops[prop]})
            v = base + np.arange(N) * (k + 1) * 0.5
            tt = t if k < 3 else t[N // 2:]
            w.add_observations(ds, tt, v[: len(tt)])
            out[ds] = (fid, tt, v[: len(tt)])
    return out


@pytest.fixture
def api(city, tmp_path):
    meters = add_meters(city)
    settings = ApiSettings(city.path, work_dir=str(tmp_path / "uploads"))
    with TestClient(create_app(settings)) as client:
        yield client, meters


def get(client, **params):
    r = client.get("/twin/viewer/readings", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_without_a_property_it_lists_the_properties_and_the_time_range(api):
    client, _ = api
    doc = get(client)
    assert doc["features"] == {} and doc["property"] is None
    assert doc["time_range"] == [iso(T0), iso(T0 + (N - 1) * Q)]
    by = {p["name"]: p for p in doc["properties"]}
    assert by["pressure"] == {"name": "pressure", "unit": "kPa", "datastreams": 2,
                              "features": 2, "time_range": [iso(T0), iso(T0 + (N - 1) * Q)]}
    assert by["flow"]["datastreams"] == 2 and by["flow"]["features"] == 1


@pytest.mark.parametrize("step", [0, 3, 7.5, 23, 40])
def test_each_feature_reads_the_latest_value_at_or_before_the_time(api, step):
    client, meters = api
    at = T0 + int(step * Q)
    doc = get(client, property="pressure", at=iso(at))
    assert doc["unit"] == "kPa" and doc["at"] == iso(at)
    want = {}
    for ds, (fid, t, v) in meters.items():
        if fid.startswith("test:V"):
            k = np.flatnonzero(t <= at)[-1]
            want[fid] = {"value": pytest.approx(v[k]), "unit": "kPa", "datastream": ds,
                         "time": iso(int(t[k]))}
    assert doc["features"] == want
    lo = min(v.min() for f, _, v in meters.values() if f.startswith("test:V"))
    hi = max(v.max() for f, _, v in meters.values() if f.startswith("test:V"))
    assert doc["value_range"] == [pytest.approx(lo), pytest.approx(hi)]


def test_before_the_first_reading_there_is_nothing_and_the_default_time_is_the_latest(api):
    client, _ = api
    assert get(client, property="pressure", at=iso(T0 - 1))["features"] == {}
    doc = get(client, property="pressure")
    assert doc["at"] == iso(T0 + (N - 1) * Q) and len(doc["features"]) == 2


def test_a_feature_with_two_meters_reads_the_first_that_has_a_value(api):
    client, meters = api
    first, second = sorted(ds for ds, m in meters.items() if m[0] == "test:B1")
    early = get(client, property="flow", at=iso(T0 + 2 * Q))["features"]["test:B1"]
    assert early["datastream"] == first
    assert get(client, property="flow", at=iso(T0 + 20 * Q))["features"]["test:B1"][
        "datastream"] == first


@pytest.mark.parametrize("stat", ["mean", "min", "max"])
def test_a_window_gives_the_statistic_of_its_readings(api, stat):
    client, meters = api
    at = T0 + 3_600_000 * 4 + 2 * Q  # off the hour: from the observations
    for window, ms in (("PT1H", 3_600_000), ("PT2H30M", 9_000_000), ("P1D", 86_400_000)):
        doc = get(client, property="pressure", at=iso(at), window=window, stat=stat)
        assert doc["window"] == window and doc["stat"] == stat
        for fid, t, v in (m for m in meters.values() if m[0].startswith("test:V")):
            sel = (t >= at - ms) & (t < at)
            got = doc["features"][fid]
            assert got["value"] == pytest.approx(getattr(np, stat)(v[sel]))
            assert got["count"] == sel.sum()
            assert got["time"] == f"{iso(at - ms)}/{iso(at)}"


@pytest.mark.parametrize("params, words", [
    ({"property": "temperature"}, ["'temperature'", "flow, pressure"]),
    ({"property": "pressure", "at": "2025-04-01T00:00:00"}, ["no time zone"]),
    ({"property": "pressure", "at": "yesterday"}, ["'yesterday'", "ISO 8601"]),
    ({"property": "pressure", "window": "P1M"}, ["'P1M'", "duration"]),
    ({"property": "pressure", "window": "PT"}, ["'PT'"]),
    ({"property": "pressure", "window": "PT0S"}, ["longer than 0"]),
    ({"property": "pressure", "window": "P400D"}, ["366 days"]),
    ({"property": "pressure", "window": "P\u0661D"}, ["duration"]),
    ({"property": "pressure", "window": "PT1H", "stat": "median"}, ["stat"]),
])
def test_bad_requests_are_400s_naming_the_value(api, params, words):
    client, _ = api
    r = client.get("/twin/viewer/readings", params=params)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    for w in words:
        assert w in detail, detail
