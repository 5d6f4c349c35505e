"""Warnings from the sensors: rules as data (TOML), evaluated on the twin.

A rules file holds ``[[rule]]`` tables. Every rule has a ``name``, a
``kind`` and a selection of datastreams: ``observed_property`` (its name),
``role`` (the Thing's ``properties.role``: inlet, customer, ...) or
``datastreams`` (ids); none selects every datastream. Kinds:

* ``threshold``: the latest value is ``below`` and/or ``above`` a limit;
  fires *since* the first reading of the current run of violations;
* ``rate``: two consecutive readings within ``lookback_hours`` change by
  more than ``max_change_per_hour`` (in the datastream's unit per hour);
  since the first such change;
* ``night_flow_rise``: the minimum night flow (02:00-04:00 local) of the
  last ``lookback_days`` nights stayed above the median of the first
  ``baseline_nights`` by more than ``rise_share`` (a leak's signature);
  since the first night of the rise;
* ``silent``: no reading for more than ``max_silence_hours`` (a meter or its
  link has failed); since its last reading.

Each :class:`Alert` names the rule, the datastream, the twin feature its
Thing sits on, the values that fired and since when. The toolkit ships
``twin/data/alert_rules.toml`` (what ``/twin/alerts`` uses).

>>> rules = parse_rules('[[rule]]\\nname = "low"\\nkind = "threshold"\\nbelow = 1', "x")
>>> rules[0].kind, rules[0].params["below"]
('threshold', 1)
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .model import iso
from .rollup import HOUR

KINDS = {"threshold": ("below", "above"), "rate": ("max_change_per_hour", "lookback_hours"),
         "night_flow_rise": ("rise_share", "baseline_nights", "lookback_days"),
         "silent": ("max_silence_hours",)}
_SELECT = ("observed_property", "role", "datastreams")
MAX_RULES = 1000
DEFAULT_RULES = "alert_rules.toml"


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    select: dict[str, Any]
    params: dict[str, Any]


@dataclass(frozen=True)
class Alert:
    rule: str
    kind: str
    datastream: int
    datastream_name: str
    feature_id: str | None
    since: int | None
    values: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "kind": self.kind, "datastream": self.datastream,
                "datastream_name": self.datastream_name, "feature_id": self.feature_id,
                "since": iso(self.since), "values": self.values, "message": self.message}


def parse_rules(text: str, source: str) -> list[Rule]:
    """Rules from TOML text; a clear :class:`ConfigError` naming ``source``
    and the rule for anything wrong."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    items = doc.get("rule", [])
    if not isinstance(items, list) or len(items) > MAX_RULES:
        raise ConfigError(f"{source}: [[rule]] tables expected (at most {MAX_RULES})")
    out = []
    for k, r in enumerate(items):
        where = f"{source}: rule {k + 1} ({r.get('name', 'unnamed')!r})"
        kind = r.get("kind")
        if kind not in KINDS:
            raise ConfigError(f"{where}: kind {kind!r} is not valid, must be one of "
                              f"{', '.join(KINDS)}")
        if not isinstance(r.get("name"), str) or not r["name"]:
            raise ConfigError(f"{where}: needs a name")
        unknown = set(r) - {"name", "kind", *_SELECT, *KINDS[kind]}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; a {kind} rule takes "
                              f"{', '.join((*KINDS[kind], *_SELECT))}")
        params = {p: r[p] for p in KINDS[kind] if p in r}
        for p, v in params.items():
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
                raise ConfigError(f"{where}: {p} must be a number")
        if kind == "threshold" and not params:
            raise ConfigError(f"{where}: a threshold rule needs below and/or above")
        need = {"rate": "max_change_per_hour", "silent": "max_silence_hours"}.get(kind)
        if need and need not in params:
            raise ConfigError(f"{where}: a {kind} rule needs {need}")
        out.append(Rule(r["name"], kind, {s: r[s] for s in _SELECT if s in r}, params))
    return out


def load_rules(path: str | Path | None = None) -> list[Rule]:
    """Rules from a TOML file, or the toolkit's defaults."""
    if path is None:
        text = resources.files("twin").joinpath(f"data/{DEFAULT_RULES}").read_text("utf-8")
        return parse_rules(text, DEFAULT_RULES)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"alert rules {path}: cannot be read: {exc}") from None
    return parse_rules(text, str(path))


def _streams(sensors: Any) -> list[dict[str, Any]]:
    rows = sensors.store._read(
        "SELECT d.id, d.name, t.feature_id, t.properties, p.name, d.last_time, d.last_result "
        "FROM twin_sta_datastreams d JOIN twin_sta_things t ON t.id = d.thing_id "
        "JOIN twin_sta_observed_properties p ON p.id = d.observed_property_id ORDER BY d.id")
    out = []
    for ds, name, fid, props, prop, last_t, last_v in rows:
        p = json.loads(props) if props else {}
        out.append({"id": int(ds), "name": name, "feature_id": fid, "property": prop,
                    "role": p.get("role") if isinstance(p, dict) else None,
                    "last_time": last_t, "last_result": last_v})
    return out


def _selected(rule: Rule, s: dict[str, Any]) -> bool:
    sel = rule.select
    if "observed_property" in sel and s["property"] != sel["observed_property"]:
        return False
    if "role" in sel and s["role"] != sel["role"]:
        return False
    return "datastreams" not in sel or s["id"] in sel["datastreams"]


def evaluate(sensors: Any, rules: list[Rule], as_of: int) -> list[Alert]:
    """The alerts firing at ``as_of`` (ms since 1970 UTC)."""
    out: list[Alert] = []
    streams = _streams(sensors)
    for rule in rules:
        for s in streams:
            if _selected(rule, s):
                a = _CHECKS[rule.kind](sensors, rule, s, as_of)
                if a is not None:
                    out.append(a)
    return out


def _alert(rule: Rule, s: dict[str, Any], since: int | None, values: dict[str, Any],
           message: str) -> Alert:
    return Alert(rule.name, rule.kind, s["id"], s["name"], s["feature_id"], since, values,
                 message)


def _threshold(sensors: Any, rule: Rule, s: dict[str, Any], as_of: int) -> Alert | None:
    lo, hi = rule.params.get("below"), rule.params.get("above")
    series = sensors.observations(s["id"], as_of - 31 * 24 * HOUR, as_of + 1)
    if not len(series.times):
        return None
    v = series.values
    bad = np.zeros(len(v), bool)
    if lo is not None:
        bad |= v < lo
    if hi is not None:
        bad |= v > hi
    if not bad[-1]:
        return None
    k = len(bad) - 1
    while k > 0 and bad[k - 1]:
        k -= 1
    latest = float(v[-1])
    limit = f"below {lo}" if lo is not None and latest < lo else f"above {hi}"
    return _alert(rule, s, int(series.times[k]), {"latest": latest, "below": lo, "above": hi},
                  f"{s['name']}: {latest:g} is {limit} since {iso(int(series.times[k]))}")


def _rate(sensors: Any, rule: Rule, s: dict[str, Any], as_of: int) -> Alert | None:
    window = float(rule.params.get("lookback_hours", 24)) * HOUR
    series = sensors.observations(s["id"], int(as_of - window), as_of + 1)
    if len(series.times) < 2:
        return None
    dt = np.diff(series.times) / HOUR
    rate = np.abs(np.diff(series.values)) / np.where(dt > 0, dt, np.nan)
    over = np.flatnonzero(rate > rule.params["max_change_per_hour"])
    if not len(over):
        return None
    k = int(over[0]) + 1
    worst = float(np.nanmax(rate))
    return _alert(rule, s, int(series.times[k]), {"max_change_per_hour": worst,
                                                  "limit": rule.params["max_change_per_hour"]},
                  f"{s['name']}: changed {worst:g} per hour (limit "
                  f"{rule.params['max_change_per_hour']:g})")


def _night_rise(sensors: Any, rule: Rule, s: dict[str, Any], as_of: int) -> Alert | None:
    from ..analysis.water_balance import night_flow, night_rise

    days = float(rule.params.get("lookback_days", 30))
    rows = sensors.store._read(
        "SELECT hour, n, total FROM twin_sta_hourly WHERE datastream_id = ? AND hour >= ? AND "
        "hour < ? ORDER BY hour", (s["id"], int(as_of - days * 24 * HOUR), as_of))
    if not rows:
        return None
    hours = np.array([r[0] for r in rows], dtype=np.int64)
    flow = np.array([r[2] / r[1] for r in rows], dtype=np.float64)
    nights = night_flow(hours, flow, 8 * HOUR)
    since = night_rise(nights, int(rule.params.get("baseline_nights", 7)),
                       float(rule.params.get("rise_share", 0.2)))
    if since is None:
        return None
    base = float(np.median([v for _, v in nights[:int(rule.params.get("baseline_nights", 7))]]))
    return _alert(rule, s, since, {"baseline": base, "latest_night": nights[-1][1]},
                  f"{s['name']}: minimum night flow {nights[-1][1]:g} against a baseline of "
                  f"{base:g} since {iso(since)}")


def _silent(sensors: Any, rule: Rule, s: dict[str, Any], as_of: int) -> Alert | None:
    limit = float(rule.params["max_silence_hours"]) * HOUR
    last = s["last_time"]
    if last is not None and as_of - last <= limit:
        return None
    hours = None if last is None else round((as_of - last) / HOUR, 2)
    return _alert(rule, s, last, {"silent_hours": hours,
                                  "limit_hours": rule.params["max_silence_hours"]},
                  f"{s['name']}: no reading " + ("ever" if last is None else
                                                 f"for {hours:g} hours"))


_CHECKS = {"threshold": _threshold, "rate": _rate, "night_flow_rise": _night_rise,
           "silent": _silent}
