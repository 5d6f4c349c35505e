"""DMA water balance on a hand-made network with known volumes, and a leak
injected from a known date found in the minimum night flow."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import LineString, Point

import twin
from twin.analysis.indicators import health_check
from twin.analysis.water_balance import water_balance
from twin.sensors.model import to_ms
from twin.sensors.store import sensors_of

X0, Y0, Z = 500_000.0, 4_500_000.0, 1000.0
START = to_ms("2024-03-01T00:00:00+08:00")
DAYS = 14
LEAK_DAY = 8
T = START + np.arange(DAYS * 96, dtype=np.int64) * 900_000


def network() -> list[twin.Feature]:
    """A-B-C-D-E-F along a street; C is a closed boundary valve: two DMAs."""
    names = "ABCDEF"
    feats = [twin.Feature(id=f"w:{n}", layer="pipe_nodes", type="Valve" if n == "C" else
                          "Junction", footprint=Point(X0 + 100 * k, Y0, Z),
                          attributes={"network": "JS", **({"dma_boundary": True}
                                                          if n == "C" else {})})
             for k, n in enumerate(names)]
    for k in range(len(names) - 1):
        a, b = names[k], names[k + 1]
        feats.append(twin.Feature(
            id=f"w:{a}{b}", layer="water_supply", type="PipeSegment",
            footprint=LineString([(X0 + 100 * k, Y0, Z - 1.2), (X0 + 100 * (k + 1), Y0, Z - 1.2)]),
            attributes={"network": "JS", "diameter_mm": 200},
            edge=twin.Edge("JS", f"w:{a}", f"w:{b}")))
    return feats


def add_meter(w, feature, role, dma=None, unit="m3/h"):
    th = w.insert("Things", {"name": f"{role} {feature}", "description": "meter",
                             "feature_id": feature,
                             "properties": {"role": role, **({"dma": dma} if dma else {})}})
    se = w.insert("Sensors", {"name": "m", "description": "m", "encoding_type": "text/plain",
                              "metadata": "-"})
    op = w.insert("ObservedProperties", {"name": "flow", "description": "flow",
                                         "definition": "urn:flow"})
    return w.insert("Datastreams", {
        "name": f"{role} {feature}", "description": "d", "observation_type": "OM_Measurement",
        "unit": {"name": unit, "symbol": unit, "definition": "-"}, "thing_id": th,
        "sensor_id": se, "observed_property_id": op})


def local_hour(t):
    return ((t + 8 * 3_600_000) % 86_400_000) // 3_600_000


@pytest.fixture
def district(empty_twin):
    with empty_twin.import_batch("network", "test", "tests", "1") as b:
        b.add(network())
    s = sensors_of(empty_twin)
    night = np.isin(local_hour(T), (2, 3))
    leak = np.where(T >= START + LEAK_DAY * 86_400_000, 3.0, 0.0)
    with s.writing() as w:
        a = add_meter(w, "w:A", "inlet", "north")
        b = add_meter(w, "w:B", "customer")
        d = add_meter(w, "w:D", "inlet", "south")
        e = add_meter(w, "w:E", "customer")
        f = add_meter(w, "w:EF", "customer", unit="L/s")  # on a pipe, in litres per second
        add_meter(w, "w:F", "pressure")  # not counted
        w.add_observations(a, T, np.full(len(T), 10.0))
        w.add_observations(b, T, np.full(len(T), 9.0))
        w.add_observations(d, T, np.where(night, 5.0, 20.0) + leak)
        w.add_observations(e, T, np.where(night, 2.0, 8.0))
        w.add_observations(f, T, np.where(night, 2.0, 8.0) / 3.6)
    return empty_twin


def test_dma_balance_with_known_volumes(district):
    end = START + DAYS * 86_400_000
    north, south, city = water_balance(district, START, end)
    hours = DAYS * 24
    assert north.name == "north" and north.nodes == 2
    assert north.system_input_m3 == pytest.approx(10 * hours)
    assert north.billed_m3 == pytest.approx(9 * hours)
    assert north.leakage_rate == pytest.approx(10.0) and north.coverage == 1.0
    assert south.name == "south" and south.nodes == 3
    n_night = 2 * DAYS
    south_in = 5 * n_night + 20 * (hours - n_night) + 3 * 24 * (DAYS - LEAK_DAY)
    south_billed = 2 * (2 * n_night + 8 * (hours - n_night))
    assert south.system_input_m3 == pytest.approx(south_in)
    assert south.billed_m3 == pytest.approx(south_billed, rel=1e-9)
    assert south.leakage_rate == pytest.approx(100 * (south_in - south_billed) / south_in)
    assert city.system_input_m3 == pytest.approx(10 * hours + south_in)
    assert city.leakage_rate == pytest.approx(
        100 * (10 * hours + south_in - 9 * hours - south_billed) / (10 * hours + south_in))


def test_the_injected_leak_is_found_from_the_night_it_starts(district):
    north, south, _ = water_balance(district, START, START + DAYS * 86_400_000)
    assert [v for _, v in south.night_flow] == [5.0] * LEAK_DAY + [8.0] * (DAYS - LEAK_DAY)
    assert south.night_rise == START + LEAK_DAY * 86_400_000
    assert south.night_trend > 0
    assert north.night_rise is None and north.night_trend == pytest.approx(0, abs=1e-9)


def test_the_health_check_reports_leakage_with_its_coverage(district):
    ind = health_check(district, year=2024)["water_leakage"]
    assert ind.target == "< 10%" and ind.status == "not met"
    assert "2 DMAs" in ind.coverage and ind.details["dmas"][0]["name"] == "north"


def test_no_meters_no_data(city):
    ind = health_check(city, year=2024)["water_leakage"]
    assert ind.status == "no data"


@pytest.mark.backends("gpkg")
def test_an_outlet_meter_takes_its_volume_from_the_system_input(empty_twin):
    with empty_twin.import_batch("network", "test", "tests", "1") as b:
        b.add(network())
    s = sensors_of(empty_twin)
    with s.writing() as w:
        a = add_meter(w, "w:A", "inlet", "north")
        o = add_meter(w, "w:B", "outlet", unit="m3")  # a volume meter: m3 per reading
        c = add_meter(w, "w:B", "customer")
        w.add_observations(a, T, np.full(len(T), 12.0))
        w.add_observations(o, T, np.full(len(T), 0.5))  # 2 m3/h out to the neighbour
        w.add_observations(c, T, np.full(len(T), 9.0))
        bad = add_meter(w, "w:B", "customer", unit="kPa")
        w.add_observations(bad, T[:1], [1.0])
    end = START + DAYS * 86_400_000
    with pytest.raises(twin.AnalysisError, match="unit 'kPa' is neither a flow"):
        water_balance(empty_twin, START, end)
    with s.writing() as w:
        w.delete("Datastreams", bad)
    north, city = water_balance(empty_twin, START, end)
    assert north.system_input_m3 == pytest.approx(10 * DAYS * 24)
    assert north.leakage_rate == pytest.approx(10.0)
