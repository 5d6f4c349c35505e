"""Values of many datastreams at one time (SensorStore.latest_at and
window_stats), compared with a plain numpy reference, on both backends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sensors_store import QUARTER, T0, add_meter

from twin.errors import QueryError
from twin.sensors.store import sensors_of

pytestmark = pytest.mark.backends("gpkg", "postgis")


def reference_at(t, v, at):
    """The value of the latest time <= at; the last written on equal times."""
    ok = np.flatnonzero(t <= at)
    if not len(ok):
        return None
    best = ok[t[ok] == t[ok].max()][-1]
    return int(t[best]), float(v[best])


series = st.lists(st.integers(0, 40), min_size=0, max_size=30)


@given(data=st.lists(series, min_size=1, max_size=5), at=st.integers(-2, 45))
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_value_at_a_time_is_the_latest_at_or_before_it(empty_twin, data, at):
    sensors = sensors_of(empty_twin)
    ids, ref = [], {}
    for k, steps in enumerate(data):
        ds = add_meter(sensors, feature_id=f"f{k}")
        t = T0 + np.array(steps, dtype=np.int64) * QUARTER
        v = np.arange(len(t), dtype=np.float64) + 100 * k
        with sensors.writing() as w:  # in two writes: the summary is then of both
            w.add_observations(ds, t[: len(t) // 2], v[: len(t) // 2])
            w.add_observations(ds, t[len(t) // 2:], v[len(t) // 2:])
        ids.append(ds)
        r = reference_at(t, v, T0 + at * QUARTER)
        if r is not None:
            ref[ds] = r
    assert sensors.latest_at(ids, T0 + at * QUARTER) == ref


def test_window_statistics_from_rollups_and_from_observations_agree(empty_twin):
    sensors = sensors_of(empty_twin)
    a, b = add_meter(sensors, "f1"), add_meter(sensors, "f2")
    t = T0 + np.arange(96 * 3, dtype=np.int64) * QUARTER
    va = np.sin(np.arange(len(t)) / 7.0) * 10 + 50
    with sensors.writing() as w:
        w.add_observations(a, t, va)
        w.add_observations(b, t[:10], va[:10] * 2)
    # on the hour: from the hourly rollups
    start, end = T0 + 3_600_000 * 5, T0 + 3_600_000 * 29
    got = sensors.window_stats([a, b], start, end)
    sel = (t >= start) & (t < end)
    assert set(got) == {a}
    assert got[a].count == sel.sum()
    assert got[a].mean == pytest.approx(va[sel].mean())
    assert (got[a].min, got[a].max) == (pytest.approx(va[sel].min()),
                                        pytest.approx(va[sel].max()))
    # off the hour: from the observations, the same numbers
    start2, end2 = start + QUARTER, end + QUARTER
    got2 = sensors.window_stats([a, b], start2, end2)
    sel2 = (t >= start2) & (t < end2)
    assert got2[a].count == sel2.sum()
    assert got2[a].mean == pytest.approx(va[sel2].mean())
    early = sensors.window_stats([a, b], T0, T0 + 5 * QUARTER)
    assert early[b].mean == pytest.approx((va[:5] * 2).mean())
    with pytest.raises(QueryError, match="empty"):
        sensors.window_stats([a], end, start)


def test_a_thousand_datastreams_answer_in_one_question(empty_twin):
    sensors = sensors_of(empty_twin)
    with sensors.writing() as w:
        th = w.insert("Things", {"name": "m", "description": "m", "feature_id": "f"})
        se = w.insert("Sensors", {"name": "s", "description": "s", "encoding_type": "text/html",
                                  "metadata": "x"})
        op = w.insert("ObservedProperties", {"name": "flow", "description": "f",
                                             "definition": "x"})
        ids = [w.insert("Datastreams", {"name": f"d{k}", "description": "d",
                                        "observation_type": "x",
                                        "unit": {"name": "u", "symbol": "u", "definition": "u"},
                                        "thing_id": th, "sensor_id": se,
                                        "observed_property_id": op}) for k in range(1000)]
        t = T0 + np.arange(8, dtype=np.int64) * QUARTER
        for k, ds in enumerate(ids):
            w.add_observations(ds, t, np.arange(8.0) + k)
    got = sensors.latest_at(ids, int(t[3]) + 1)
    assert len(got) == 1000
    assert all(got[ds] == (int(t[3]), 3.0 + k) for k, ds in enumerate(ids))
    assert sensors.latest_at(ids, int(t[-1]))[ids[7]] == (int(t[-1]), 14.0)
    with pytest.raises(QueryError, match="at most"):
        sensors.latest_at(range(40_000), T0)
