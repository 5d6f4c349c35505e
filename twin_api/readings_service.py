"""The viewers' readings (``/twin/viewer/readings``), framework-free: per
feature the value of an observed property at a time (the latest at or before
it, or a statistic over a window ending there), with the time range and the
properties there are, for a time slider. See :mod:`twin.sensors.readings`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twin.errors import QueryError
from twin.sensors import readings as rd
from twin.sensors.model import iso, to_ms
from twin.sensors.store import sensors_of
from twin.store.base import TwinStore

from .features import json_safe


def _property_json(p: rd.PropertyStreams) -> dict[str, Any]:
    return {"name": p.name, "unit": p.unit, "datastreams": len(p.datastreams),
            "features": p.features, "time_range": [iso(p.start), iso(p.end)]}


def readings(store: TwinStore, prop: str | None, at: str | None = None,
             window: str | None = None, stat: str = "mean",
             value_range: Callable[[rd.PropertyStreams], Any] | None = None,
             properties: Callable[[], dict[str, rd.PropertyStreams]] | None = None
             ) -> dict[str, Any]:
    """The readings document. Without ``prop`` only the properties and the
    time range (what a viewer needs to offer a choice and a slider).
    ``value_range(p)`` gives the property's value range (a caller may keep
    it per twin revision); by default it is read from the rollups; so are
    ``properties()``, the datastreams of each property."""
    sensors = sensors_of(store)
    props = properties() if properties else rd.properties_on_features(sensors)
    starts = [p.start for p in props.values() if p.start is not None]
    ends = [p.end for p in props.values() if p.end is not None]
    out: dict[str, Any] = {
        "properties": [_property_json(p) for p in props.values()],
        "time_range": [iso(min(starts)) if starts else None, iso(max(ends)) if ends else None],
        "property": None, "unit": None, "at": None, "window": None, "stat": None,
        "value_range": None, "features": {}}
    window_ms = rd.parse_duration(window) if window is not None else None
    at_ms = to_ms(at, what="at") if at is not None else None
    if stat not in rd.STATS:
        raise QueryError(f"stat {stat!r} is not valid, must be one of {', '.join(rd.STATS)}")
    if prop is None:
        return out
    p = rd.choose(props, prop)
    if at_ms is None:
        at_ms = p.end if p.end is not None else 0
        if window_ms is not None:
            at_ms += 1  # the window then ends just after the latest reading
    got = rd.readings_at(sensors, p, at_ms, window_ms, stat)
    times = _Times()
    vr = (value_range or (lambda q: rd.value_range(sensors, q)))(p)
    out.update({"property": p.name, "unit": p.unit, "at": iso(at_ms),
                "window": window.strip().upper() if window is not None else None,
                "stat": stat if window_ms is not None else None,
                "time_range": [iso(p.start), iso(p.end)],
                "value_range": list(vr) if vr else None,
                "features": {fid: _reading_json(r, times) for fid, r in sorted(got.items())}})
    return out


class _Times(dict[int | None, str | None]):
    """ISO texts of times, each made once (1,000 meters read at a few times)."""

    def __missing__(self, ms: int | None) -> str | None:
        text = self[ms] = iso(ms)
        return text


def _reading_json(r: rd.Reading, times: _Times) -> dict[str, Any]:
    d: dict[str, Any] = {"value": json_safe(r.value), "unit": r.unit, "datastream": r.datastream}
    if r.time is not None:
        d["time"] = times[r.time]
    else:
        d["time"] = f"{times[r.start]}/{times[r.end]}"
        d["count"] = r.count
    return d
