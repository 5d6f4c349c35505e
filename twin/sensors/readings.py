"""Readings on the twin's features at one time: what the viewers colour.

A *reading* is the value an observed property (``flow``, ``pressure``) had
on a twin feature at a time: the latest observation at or before it of the
feature's datastream of that property (its Thing's ``feature_id``), or a
statistic of its observations over a window ending there. Both come from
:mod:`twin.sensors.asof`, one statement for all the datastreams.

A feature with several datastreams of one property (two meters on a node)
reads the one with the lowest id that has a value: a reading is one number,
and summing or averaging meters is the water balance's job, not the map's.

>>> parse_duration("PT15M"), parse_duration("P1DT12H")
(900000, 129600000)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import QueryError
from .asof import MAX_DATASTREAMS
from .store import SensorStore

#: the longest window a reading may summarise (a year and a day)
MAX_WINDOW_MS = 366 * 86_400_000
#: statistics of a window
STATS = ("mean", "min", "max")

_DURATION = re.compile(r"P(?:([0-9]{1,4})D)?(?:T(?:([0-9]{1,5})H)?(?:([0-9]{1,6})M)?"
                       r"(?:([0-9]{1,7})S)?)?")


def parse_duration(text: str, *, what: str = "window") -> int:
    """An ISO 8601 duration of days, hours, minutes and seconds (``PT1H``,
    ``P1D``, ``P1DT6H``) as milliseconds, more than 0 and at most 366 days.
    Months and years are refused: their length depends on the calendar."""
    m = _DURATION.fullmatch(str(text).strip().upper())
    if m is None or not any(m.groups()) or str(text).strip().upper().endswith("T"):
        raise QueryError(f"{what} {text!r} is not an ISO 8601 duration of days, hours, "
                         "minutes or seconds (e.g. PT1H, P1D, P1DT12H)")
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    ms = (((d * 24 + h) * 60 + mi) * 60 + s) * 1000
    if not 0 < ms <= MAX_WINDOW_MS:
        raise QueryError(f"{what} {text!r} must be longer than 0 and at most 366 days")
    return ms


@dataclass(frozen=True)
class PropertyStreams:
    """The datastreams of one observed property that sit on twin features."""

    name: str
    datastreams: tuple[int, ...]      # ascending ids
    feature_of: dict[int, str]        # datastream id -> feature id
    unit_of: dict[int, str]           # datastream id -> unit symbol
    start: int | None                 # first phenomenon time (ms) of any of them
    end: int | None                   # last

    @property
    def unit(self) -> str | None:
        """The unit symbol, when all its datastreams share one."""
        units = set(self.unit_of.values())
        return units.pop() if len(units) == 1 else None

    @property
    def features(self) -> int:
        return len(set(self.feature_of.values()))


def properties_on_features(sensors: SensorStore) -> dict[str, PropertyStreams]:
    """Every observed property measured on twin features, by name."""
    rows = sensors.datastreams_linked()
    if len(rows) > MAX_DATASTREAMS:
        raise QueryError(f"{len(rows)} datastreams on features; the readings serve at most "
                         f"{MAX_DATASTREAMS}")
    acc: dict[str, dict[str, Any]] = {}
    for r in rows:
        ds, u, lo, hi = int(r["id"]), r["unit"], r["phenomenon_start"], r["phenomenon_end"]
        a = acc.setdefault(r["observed_property"],
                           {"ids": [], "f": {}, "u": {}, "lo": None, "hi": None})
        a["ids"].append(ds)
        a["f"][ds] = r["feature_id"]
        a["u"][ds] = u.get("symbol") or u.get("name") or ""
        if lo is not None:
            a["lo"] = lo if a["lo"] is None else min(a["lo"], lo)
        if hi is not None:
            a["hi"] = hi if a["hi"] is None else max(a["hi"], hi)
    return {n: PropertyStreams(n, tuple(a["ids"]), a["f"], a["u"], a["lo"], a["hi"])
            for n, a in sorted(acc.items())}


def choose(props: dict[str, PropertyStreams], name: str) -> PropertyStreams:
    """The property called ``name``, or a QueryError naming those there are."""
    if name not in props:
        raise QueryError(f"observed property {name!r} is not measured on any twin feature; "
                         f"must be one of: {', '.join(props) or '(none)'}")
    return props[name]


@dataclass(frozen=True)
class Reading:
    """One feature's reading: ``value`` with its ``unit``; ``time`` (ms) of
    the observation, or ``start``..``end`` of the window summarised."""

    feature_id: str
    datastream: int
    value: Any
    unit: str
    time: int | None = None
    start: int | None = None
    end: int | None = None
    count: int | None = None


def readings_at(sensors: SensorStore, prop: PropertyStreams, at: int,
                window_ms: int | None = None, stat: str = "mean") -> dict[str, Reading]:
    """``feature id -> Reading`` of ``prop`` at ``at`` (ms): the latest value
    at or before it, or with ``window_ms`` the ``stat`` of the numeric results
    in ``at - window_ms <= time < at``."""
    if stat not in STATS:
        raise QueryError(f"stat {stat!r} is not valid, must be one of {', '.join(STATS)}")
    out: dict[str, Reading] = {}
    ids: Sequence[int] = prop.datastreams
    if window_ms is None:
        for ds, (t, v) in sorted(sensors.latest_at(ids, at).items()):
            fid = prop.feature_of[ds]
            if fid not in out:
                out[fid] = Reading(fid, ds, v, prop.unit_of[ds], time=t)
        return out
    start = at - int(window_ms)
    for ds, s in sorted(sensors.window_stats(ids, start, at).items()):
        fid = prop.feature_of[ds]
        if fid not in out:
            out[fid] = Reading(fid, ds, getattr(s, stat), prop.unit_of[ds], start=start,
                               end=at, count=s.count)
    return out


def value_range(sensors: SensorStore, prop: PropertyStreams) -> tuple[float, float] | None:
    """The smallest and largest numeric result of the property over all its
    time (from the hourly rollups): a colour scale that stays put while the
    time moves, so that colours compare across times."""
    lo = hi = None
    ids = list(prop.datastreams)
    for k in range(0, len(ids), 5_000):
        batch = ids[k:k + 5_000]
        row = sensors.store._read(
            "SELECT MIN(minimum), MAX(maximum) FROM twin_sta_hourly WHERE datastream_id IN "
            f"({', '.join('?' * len(batch))})", batch)[0]
        if row[0] is not None:
            lo = row[0] if lo is None else min(lo, row[0])
            hi = row[1] if hi is None else max(hi, row[1])
    return None if lo is None or hi is None else (float(lo), float(hi))
