"""``twin observations import``: meter exports (CSV, Parquet) into datastreams."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from builders import dump_twin
from click.testing import CliRunner

import twin
from converters.observations import Mapping, import_observations
from twin.sensors.model import ENTITY_SETS, to_ms
from twin.sensors.store import sensors_of
from twin_cli.main import cli

pytestmark = pytest.mark.backends("gpkg", "postgis")


def add_meter(sensors, name, symbol):
    with sensors.writing() as w:
        th = w.insert("Things", {"name": name, "description": "meter", "feature_id": None})
        se = w.insert("Sensors", {"name": "s", "description": "s", "encoding_type": "text/plain",
                                  "metadata": "none"})
        op = w.insert("ObservedProperties", {"name": "flow", "description": "flow",
                                             "definition": "urn:flow"})
        return w.insert("Datastreams", {
            "name": name, "description": "d", "observation_type": "OM_Measurement",
            "unit": {"name": "cubic metre per hour", "symbol": symbol, "definition": "m3/h"},
            "thing_id": th, "sensor_id": se, "observed_property_id": op})


@pytest.fixture
def meters(empty_twin):
    s = sensors_of(empty_twin)
    return empty_twin, add_meter(s, "M-001", "m3/h"), add_meter(s, "M-002", "m3/h")


CSV = """meter,ts,reading,unit
M-001,2024-03-01 00:00:00,10.5,m3/h
M-001,2024-03-01 00:15:00,11.0,m3/h
M-002,2024-03-01T00:00:00Z,3.25,m3/h
M-002,2024-03-01 00:15:00,,m3/h
M-009,2024-03-01 00:15:00,1.0,m3/h
M-001,2024-03-01 00:30:00,abc,m3/h
M-002,2024-03-01 00:30:00,4.0,L/s
"""


def test_a_csv_export_lands_with_its_zone_and_bad_rows_are_named(meters, tmp_path):
    store, m1, m2 = meters
    f = tmp_path / "readings.csv"
    f.write_text(CSV)
    r = CliRunner().invoke(cli, [
        "observations", "import", str(f), "--twin", store.path, "--datastream-column", "meter",
        "--time-column", "ts", "--value-column", "reading", "--unit-column", "unit",
        "--timezone", "Asia/Shanghai", "--json"])
    assert r.exit_code == 0, r.output
    import json

    report = json.loads(r.output)
    assert report["observations"] == 3 and report["rows"] == 7
    assert report["datastreams"] == {str(m1): 2, str(m2): 1}
    assert report["skipped_rows"] == [
        {"row": 5, "reason": "no value"},
        {"row": 6, "reason": "unknown datastream 'M-009'"},
        {"row": 7, "reason": "value 'abc' is not a number"},
        {"row": 8, "reason": "unit 'L/s' is not the unit of datastream 'M-002' "
                             "(cubic metre per hour / m3/h)"}]
    s = sensors_of(store).observations(m1)
    assert list(s.times) == [to_ms("2024-02-29T16:00:00Z"), to_ms("2024-02-29T16:15:00Z")]
    assert list(sensors_of(store).observations(m2).times) == [to_ms("2024-03-01T00:00:00Z")]


def test_times_without_a_zone_are_refused_and_nothing_lands(meters, tmp_path):
    store, m1, _ = meters
    f = tmp_path / "readings.csv"
    f.write_text(CSV)
    before = dump_twin(store.path)
    r = CliRunner().invoke(cli, [
        "observations", "import", str(f), "--twin", store.path, "--datastream-column", "meter",
        "--time-column", "ts", "--value-column", "reading"])
    assert r.exit_code == 2
    assert "row 2: time '2024-03-01 00:00:00' has no offset and no time zone" in r.output
    assert dump_twin(store.path) == before


def test_a_parquet_export_with_a_profile(meters, tmp_path):
    store, m1, m2 = meters
    zone = ZoneInfo("Asia/Shanghai")
    stamps = [datetime(2024, 3, 1, h, tzinfo=zone) for h in range(4)]
    pq.write_table(pa.table({"MeterNo": [str(m1), str(m1), "M-002", "M-002"],
                             "At": pa.array(stamps, pa.timestamp("ms", tz="Asia/Shanghai")),
                             "Q": pa.array([1.0, 2.0, 3.0, 4.0])}), tmp_path / "r.parquet")
    prof = tmp_path / "meters.toml"
    prof.write_text('[observations]\ntime = "At"\nvalue = "Q"\ndatastream = "MeterNo"\n')
    from converters.observations import load_profile

    report = import_observations(store, tmp_path / "r.parquet", load_profile(prof))
    assert report["observations"] == 4 and report["skipped"] == 0
    got = sensors_of(store).observations(m2)
    assert list(got.times) == [to_ms(s) for s in stamps[2:]]
    np.testing.assert_array_equal(got.values, [3.0, 4.0])
    assert sensors_of(store).latest([m1]) == {m1: (to_ms(stamps[1]), 2.0)}


def test_a_file_unit_that_is_not_the_datastreams_skips_every_row_and_fails(meters, tmp_path):
    store, m1, _ = meters
    f = tmp_path / "r.csv"
    f.write_text("ts,v\n2024-03-01T00:00:00Z,1\n2024-03-01T00:15:00Z,2\n")
    before = dump_twin(store.path)
    with pytest.raises(twin.ImportFailedError, match=r"every row was skipped \(2\), the first, "
                                                     r"row 2: unit 'L/s' is not the unit"):
        import_observations(store, f, Mapping(time="ts", value="v", datastream=str(m1),
                                              unit="L/s"))
    with pytest.raises(twin.ImportFailedError, match="no column 'time'"):
        import_observations(store, f, Mapping(value="v", datastream=str(m1)))
    assert dump_twin(store.path) == before


def test_imported_observations_get_the_feature_of_interest_of_their_things_location(
        meters, tmp_path):
    """As the API does for an Observation posted without one: the
    FeatureOfInterest made from the Thing's Location, one for all of a
    datastream's readings, the same one the API then reuses. A Thing
    without a Location: imported without one, counted and named."""
    store, m1, m2 = meters
    s = sensors_of(store)
    point = {"type": "Point", "coordinates": [111.7, 40.8]}
    with s.writing() as w:
        thing = w.tx.execute("SELECT thing_id FROM twin_sta_datastreams WHERE id = ?",
                             (m1,)).fetchone()[0]
        loc = w.insert("Locations", {"name": "pit 1", "description": "meter pit",
                                     "encoding_type": "application/geo+json",
                                     "location": point})
        w.link("twin_sta_thing_locations", "thing_id", "location_id", thing, loc)
    f = tmp_path / "readings.csv"
    f.write_text("meter,ts,reading\nM-001,2024-03-01T00:00:00Z,1.5\n"
                 "M-001,2024-03-01T00:15:00Z,1.75\nM-002,2024-03-01T00:00:00Z,3.0\n")
    r = CliRunner().invoke(cli, [
        "observations", "import", str(f), "--twin", store.path, "--datastream-column", "meter",
        "--time-column", "ts", "--value-column", "reading"])
    assert r.exit_code == 0, r.output
    assert "1 observations have no FeatureOfInterest" in r.output and str(m2) in r.output
    rows = s.select(ENTITY_SETS["Observations"])
    foi = {(o["datastream_id"], o["result"]): o["foi_id"] for o in rows}
    (made,) = {v for (ds, _), v in foi.items() if ds == m1}
    assert made is not None and foi[(m2, 3.0)] is None
    (feature,) = [x for x in s.select(ENTITY_SETS["FeaturesOfInterest"]) if x["id"] == made]
    assert feature["feature"] == point and feature["properties"]["twin_location_id"] == loc
    # a second file reuses it: one FeatureOfInterest per Location
    f.write_text("meter,ts,reading\nM-001,2024-03-01T00:30:00Z,2.0\n")
    report = import_observations(store, f, Mapping(datastream_column="meter", time="ts",
                                                   value="reading"))
    assert report["features_of_interest"] == {str(m1): made}
    assert report["without_feature_of_interest"] == 0
