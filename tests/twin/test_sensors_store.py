"""Time series in the twin store: entities, bulk observations, ranges,
aggregates, latest values and upgrades, on both backends."""

from __future__ import annotations

import numpy as np
import pyogrio
import pytest
from builders import back_to_schema_2, dump_twin, run_sql
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twin
from twin.sensors.model import iso, to_ms
from twin.sensors.schema import SENSOR_TABLES
from twin.sensors.store import sensors_of

pytestmark = pytest.mark.backends("gpkg", "postgis")

T0 = to_ms("2024-01-01T00:00:00+08:00")
QUARTER = 900_000


def add_meter(sensors, feature_id="hohhot:node:1", unit="m3/h"):
    """A Thing on a feature with one flow datastream; returns the datastream id."""
    with sensors.writing() as w:
        th = w.insert("Things", {"name": "inlet meter", "description": "DMA inlet",
                                 "feature_id": feature_id, "properties": {"serial": "A1"}})
        se = w.insert("Sensors", {"name": "EM flow meter", "description": "electromagnetic",
                                  "encoding_type": "text/html", "metadata": "https://x.example"})
        op = w.insert("ObservedProperties", {"name": "flow", "description": "volume flow",
                                             "definition": "http://qudt.org/vocab/quantitykind/"
                                                           "VolumeFlowRate"})
        return w.insert("Datastreams", {
            "name": "inlet flow", "description": "15-minute mean flow",
            "observation_type": "http://www.opengis.net/def/observationType/OGC-OM/2.0/"
                                "OM_Measurement",
            "unit": {"name": "cubic metre per hour", "symbol": unit, "definition": "m3/h"},
            "thing_id": th, "sensor_id": se, "observed_property_id": op})


def reference_buckets(t, v, width, offset_ms):
    keys = t - np.mod(t + offset_ms, width)
    out = {}
    for k in np.unique(keys):
        sel = v[keys == k]
        out[int(k)] = (len(sel), sel.min(), sel.max(), sel.mean())
    return out


def test_a_year_of_readings_gives_ranges_daily_aggregates_and_the_latest(empty_twin):
    sensors = sensors_of(empty_twin)
    ds = add_meter(sensors)
    n = 366 * 96  # 2024 is a leap year: 366 days of 15-minute readings
    t = T0 + np.arange(n, dtype=np.int64) * QUARTER
    v = 40 + 10 * np.sin(np.arange(n) / 96 * 2 * np.pi) + np.arange(n) * 1e-4
    with sensors.writing() as w:
        assert w.add_observations(ds, t[n // 2:], v[n // 2:]) == n - n // 2
    with sensors.writing() as w:  # the older half later: the latest stays the newest
        w.add_observations(ds, t[:n // 2], v[:n // 2])
    d = sensors.get("Datastreams", ds)
    assert d["observation_count"] == n
    assert (d["phenomenon_start"], d["phenomenon_end"]) == (t[0], t[-1])
    assert sensors.latest([ds]) == {ds: (int(t[-1]), pytest.approx(v[-1]))}

    day = sensors.aggregate(ds, "day", utc_offset_minutes=480)
    assert len(day.start) == 366 and iso(day.start[0]) == "2023-12-31T16:00:00Z"
    assert (day.count == 96).all()
    ref = reference_buckets(t, v, 86_400_000, 480 * 60_000)
    assert [int(k) for k in day.start] == sorted(ref)
    np.testing.assert_allclose(day.mean, [ref[k][3] for k in sorted(ref)])
    np.testing.assert_allclose(day.min, [ref[k][1] for k in sorted(ref)])
    np.testing.assert_allclose(day.max, [ref[k][2] for k in sorted(ref)])

    hour = sensors.aggregate(ds, "hour", t[4], t[12])
    assert list(hour.count) == [4, 4] and list(hour.start) == [t[4], t[8]]
    s = sensors.observations(ds, t[100], t[110])
    assert list(s.times) == list(t[100:110])
    np.testing.assert_allclose(s.values, v[100:110])


@given(times=st.lists(st.integers(-10**12, 10**13), min_size=1, max_size=60),
       interval=st.sampled_from(["hour", "day"]),
       offset=st.one_of(st.integers(-14, 14).map(lambda h: h * 60), st.integers(-840, 840)))
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.backends("gpkg")
def test_aggregates_match_a_plain_reference(tmp_path_factory, times, interval, offset):
    store = twin.create_twin(tmp_path_factory.mktemp("agg") / "t.gpkg", "EPSG:4546")
    try:
        sensors = sensors_of(store)
        ds = add_meter(sensors)
        t = np.array(times, dtype=np.int64)
        v = np.arange(len(t), dtype=np.float64) * 1.5 - 7
        with sensors.writing() as w:
            w.add_observations(ds, t, v)
        got = sensors.aggregate(ds, interval, utc_offset_minutes=offset)
        width = {"hour": 3_600_000, "day": 86_400_000}[interval]
        ref = reference_buckets(t, v, width, offset * 60_000)
        assert [int(k) for k in got.start] == sorted(ref)
        assert list(got.count) == [ref[k][0] for k in sorted(ref)]
        np.testing.assert_allclose(got.mean, [ref[k][3] for k in sorted(ref)])
        last = int(np.flatnonzero(t == t.max())[-1])
        assert sensors.latest()[ds] == (int(t.max()), v[last])
    finally:
        store.close()


def test_hourly_rollups_stay_exact_through_single_writes_and_deletes(empty_twin):
    sensors = sensors_of(empty_twin)
    ds = add_meter(sensors)
    t = T0 + np.arange(400, dtype=np.int64) * QUARTER
    v = np.arange(400, dtype=np.float64) % 17
    with sensors.writing() as w:
        w.add_observations(ds, t[::2], v[::2])
        w.add_observations(ds, t[1::2], v[1::2])  # the same hours again: merged
    with sensors.writing() as w:
        w.add_observation(ds, {"phenomenon_time": int(t[5]) + 1, "result": 100.0})
        w.update_observation(1, {"result": -5.0})
        w.delete("Observations", 3)
    s = sensors.observations(ds)
    assert len(s.times) == 400
    for interval, width in (("hour", 3_600_000), ("day", 86_400_000)):
        got = sensors.aggregate(ds, interval, utc_offset_minutes=480)
        ref = reference_buckets(s.times, s.values, width, 480 * 60_000)
        assert [int(k) for k in got.start] == sorted(ref)
        assert list(got.count) == [ref[k][0] for k in sorted(ref)]
        np.testing.assert_allclose(got.min, [ref[k][1] for k in sorted(ref)])
        np.testing.assert_allclose(got.max, [ref[k][2] for k in sorted(ref)])
        np.testing.assert_allclose(got.mean, [ref[k][3] for k in sorted(ref)])
    assert sensors.aggregate(ds, "hour", int(t[4]) + 60_000, int(t[12])).count.tolist() == \
        [4, 4]  # a range off the hour: from the observations (t[4] is excluded)


def test_a_failed_write_of_observations_leaves_the_twin_as_it_was(empty_twin):
    sensors = sensors_of(empty_twin)
    ds = add_meter(sensors)
    with sensors.writing() as w:
        w.add_observations(ds, [T0, T0 + QUARTER], [1.0, 2.0])
    before = dump_twin(empty_twin.path)
    with pytest.raises(twin.FeatureError, match="not a finite number"):
        with sensors.writing() as w:
            w.add_observations(ds, [T0 + 2 * QUARTER], [3.0])
            w.add_observations(ds, [T0 + 3 * QUARTER], [float("nan")])
    with pytest.raises(twin.NotFoundError, match="datastream 99 does not exist"):
        with sensors.writing() as w:
            w.add_observations(ds, [T0 + 2 * QUARTER], [3.0])
            w.add_observations(99, [T0], [1.0])
    assert dump_twin(empty_twin.path) == before
    assert sensors.latest([ds]) == {ds: (T0 + QUARTER, 2.0)}


def test_a_feature_lists_its_datastreams_with_their_latest_values(empty_twin):
    sensors = sensors_of(empty_twin)
    ds = add_meter(sensors, "hohhot:node:7")
    add_meter(sensors, "hohhot:node:8")
    with sensors.writing() as w:
        w.add_observations(ds, [T0, T0 + QUARTER], [12.5, 13.0])
    got = sensors.datastreams_of_feature("hohhot:node:7")
    assert [(g["id"], g["observed_property"], g["latest_time"], g["latest_result"],
             g["unit"]["symbol"]) for g in got] == [(ds, "flow", T0 + QUARTER, 13.0, "m3/h")]
    assert sensors.datastreams_of_feature("hohhot:node:9") == []


def test_deleting_a_datastream_takes_its_observations(empty_twin):
    sensors = sensors_of(empty_twin)
    ds = add_meter(sensors)
    with sensors.writing() as w:
        w.add_observations(ds, [T0, T0 + QUARTER], [1.0, 2.0])
    with sensors.writing() as w:
        w.delete("Datastreams", ds)
    assert run_sql(empty_twin.path, "SELECT COUNT(*) FROM twin_sta_observations") == [(0,)]


def test_times_need_their_zone():
    assert to_ms("2024-01-01T00:00:00Z") == 1704067200000
    with pytest.raises(twin.QueryError, match="no time zone"):
        to_ms("2024-01-01T00:00:00")


@pytest.mark.backends("gpkg")
def test_gis_clients_do_not_list_the_sensing_tables(empty_twin):
    ds = add_meter(sensors_of(empty_twin))
    with sensors_of(empty_twin).writing() as w:
        w.add_observations(ds, [T0], [1.0])
    listed = {name for name, _ in pyogrio.list_layers(empty_twin.path)}
    assert not listed & set(SENSOR_TABLES) and "buildings" in listed


@pytest.mark.backends("postgis")
def test_a_schema_2_server_twin_gets_the_sensing_tables_on_upgrade(empty_twin):
    url = empty_twin.path
    empty_twin.close()
    back_to_schema_2(url)
    with twin.open_twin(url) as store:
        assert store.info().schema_version == 4
        ds = add_meter(sensors_of(store))
        with sensors_of(store).writing() as w:
            w.add_observations(ds, [T0], [1.0])
    assert run_sql(url, "SELECT version FROM twin_migrations") == [(3,), (4,)]
    assert run_sql(url, "SELECT COUNT(*) FROM pg_indexes WHERE indexname = "
                        "'twin_sta_observations_time' AND schemaname = current_schema() "
                        "AND indexdef LIKE ?", ("%brin%",)) == [(1,)]


@pytest.mark.backends("postgis")
def test_twin_copy_takes_the_sensing_tables_both_ways(empty_twin, tmp_path, pg_database):
    from pgcluster import drop_schema, new_schema_name, with_params

    from twin.store.copy import copy_twin

    sensors = sensors_of(empty_twin)
    ds = add_meter(sensors)
    t = T0 + np.arange(500, dtype=np.int64) * QUARTER
    with sensors.writing() as w:
        w.add_observations(ds, t, np.arange(500) * 0.5)
        w.add_observation(ds, {"phenomenon_time": int(t[-1]) + QUARTER, "result": "broken"})
    with copy_twin(empty_twin, str(tmp_path / "copy.gpkg")) as local:
        schema = new_schema_name()
        back_url = with_params(pg_database, schema=schema)
        with copy_twin(local, back_url, overwrite=True) as back:
            for store in (local, back):
                s = sensors_of(store)
                assert s.latest([ds]) == {ds: (int(t[-1]) + QUARTER, "broken")}
                np.testing.assert_array_equal(s.observations(ds).times[:500], t)
                assert s.aggregate(ds, "day").count.tolist() == \
                    sensors.aggregate(ds, "day").count.tolist()
                assert s.datastreams_of_feature("hohhot:node:1")[0]["id"] == ds
            with sensors_of(back).writing() as w:  # the ids go on after the copied ones
                assert add_meter(sensors_of(back)) == ds + 1
                w.add_observations(ds, [int(t[-1]) + 2 * QUARTER], [1.0])
        drop_schema(pg_database, schema)
