"""Warnings as data: threshold, rate of change, night-flow rise and silent
meters, from the CLI (twin alerts) and the API (/twin/alerts)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import twin
from twin.sensors.alerts import evaluate, load_rules, parse_rules
from twin.sensors.model import iso, to_ms
from twin.sensors.store import sensors_of
from twin_api.app import create_app
from twin_api.settings import ApiSettings
from twin_cli.main import cli

START = to_ms("2024-03-01T00:00:00+08:00")
DAY = 86_400_000
T = START + np.arange(14 * 96, dtype=np.int64) * 900_000
AS_OF = int(T[-1]) + 900_000
DROP = int(T[-20])  # pressure falls here
LEAK = START + 8 * DAY


def stream(w, feature, prop, unit, role=None):
    th = w.insert("Things", {"name": f"{prop} {feature}", "description": "-",
                             "feature_id": feature,
                             "properties": {"role": role} if role else {}})
    se = w.insert("Sensors", {"name": "s", "description": "-", "encoding_type": "text/plain",
                              "metadata": "-"})
    op = w.insert("ObservedProperties", {"name": prop, "description": "-",
                                         "definition": f"urn:{prop}"})
    return w.insert("Datastreams", {"name": f"{prop} at {feature}", "description": "-",
                                    "observation_type": "OM_Measurement",
                                    "unit": {"name": unit, "symbol": unit, "definition": "-"},
                                    "thing_id": th, "sensor_id": se, "observed_property_id": op})


@pytest.fixture
def sensed(city):
    night = np.isin(((T + 8 * 3_600_000) % DAY) // 3_600_000, (2, 3))
    with sensors_of(city).writing() as w:
        p = stream(w, "test:V1", "pressure", "kPa")
        w.add_observations(p, T, np.where(T >= DROP, 120.0, 300.0))
        q = stream(w, "test:V2", "pressure", "kPa")  # fine, but silent for the last 10 hours
        w.add_observations(q, T[:-40], np.full(len(T) - 40, 310.0))
        f = stream(w, "test:V1", "flow", "m3/h", role="inlet")
        w.add_observations(f, T, np.where(night, 5.0, 20.0) + np.where(T >= LEAK, 4.0, 0.0))
        g = stream(w, "test:V2", "flow", "m3/h", role="inlet")  # steady: no rise
        w.add_observations(g, T, np.where(night, 5.0, 20.0))
    return city


def test_the_default_rules_fire_with_feature_values_and_since(sensed):
    fired = evaluate(sensors_of(sensed), load_rules(), AS_OF)
    got = {(a.rule, a.datastream): a for a in fired}
    assert sorted(got) == [("low service pressure", 1), ("meter silent", 2),
                           ("night flow rise (leak)", 3), ("pressure surge", 1)]
    low = got[("low service pressure", 1)]
    assert low.feature_id == "test:V1" and low.since == DROP and low.values["latest"] == 120.0
    assert got[("pressure surge", 1)].since == DROP
    assert got[("pressure surge", 1)].values["max_change_per_hour"] == pytest.approx(720.0)
    silent = got[("meter silent", 2)]
    assert silent.since == int(T[-41]) and silent.values["silent_hours"] == 10.25
    leak = got[("night flow rise (leak)", 3)]
    assert leak.since == LEAK and leak.values == {"baseline": 5.0, "latest_night": 9.0}
    # before the drop and the leak, nothing but the silence of nothing yet
    early = evaluate(sensors_of(sensed), load_rules(), START + 6 * DAY)
    assert {a.rule for a in early} == set()


def test_twin_alerts_and_the_api_list_the_same(sensed):
    r = CliRunner().invoke(cli, ["alerts", sensed.path, "--as-of", iso(AS_OF), "--json"])
    assert r.exit_code == 0, r.output
    cli_alerts = json.loads(r.output)
    with TestClient(create_app(ApiSettings(sensed.path))) as c:
        doc = c.get("/twin/alerts", params={"as_of": iso(AS_OF)}).json()
        assert c.get("/twin/alerts", params={"as_of": "2024-03-01T00:00"}).status_code == 400
    assert doc["alerts"] == cli_alerts and len(cli_alerts) == 4
    assert {a["since"] for a in cli_alerts} >= {iso(LEAK), iso(DROP)}


@pytest.mark.parametrize("text, says", [
    ('[[rule]]\nname = "x"\nkind = "sometimes"', "kind 'sometimes' is not valid"),
    ('[[rule]]\nname = "x"\nkind = "rate"', "needs max_change_per_hour"),
    ('[[rule]]\nname = "x"\nkind = "threshold"\nbelow = "low"', "below must be a number"),
    ('[[rule]]\nname = "x"\nkind = "silent"\nmax_silence_hours = 1\ncolour = 2',
     "unknown keys ['colour']"),
    ('[[rule]\n', "not valid TOML"),
])
def test_bad_rules_are_refused_naming_file_and_rule(text, says):
    with pytest.raises(twin.ConfigError, match="rules.toml") as e:
        parse_rules(text, "rules.toml")
    assert says in str(e.value)
