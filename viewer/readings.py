"""Sensor readings as highlight sets: the desktop viewer's readings mode
(``twin view --readings pressure --at 2025-04-01T03:00:00+08:00``).

The features carrying a datastream of the property are put into five
classes of equal width over the property's whole value range (so that two
times compare: the same colour is the same value), coloured with the web
viewer's ramp (``viewer/web/js/readings.js``: blue low, red high); the rest
of the scene is faded as for any highlight. Values are the latest reading at
or before the time (:mod:`twin.sensors.readings`).
"""

from __future__ import annotations

from twin.sensors import readings as rd
from twin.sensors.model import iso, to_ms
from twin.sensors.store import sensors_of
from twin.store.base import TwinStore

from .highlight import Highlight, HighlightGroup

#: low -> high, as the web viewer's READING_RAMP
RAMP = ("#2c7bb6", "#abd9e9", "#ffffbf", "#fdae61", "#d7191c")


def _number(v: float, unit: str) -> str:
    text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()


def readings_highlight(store: TwinStore, prop: str, at: str | None = None) -> Highlight:
    """The features with a reading of ``prop`` at ``at`` (ISO 8601 with its
    offset; default the latest reading) in five colour classes."""
    sensors = sensors_of(store)
    p = rd.choose(rd.properties_on_features(sensors), prop)
    at_ms = to_ms(at, what="--at") if at is not None else (p.end or 0)
    got = rd.readings_at(sensors, p, at_ms)
    vr = rd.value_range(sensors, p)
    unit = p.unit or ""
    lo, hi = vr if vr else (0.0, 1.0)
    width = (hi - lo) / len(RAMP) or 1.0
    classes: list[set[str]] = [set() for _ in RAMP]
    for fid, r in got.items():
        if isinstance(r.value, (int, float)) and not isinstance(r.value, bool):
            k = min(len(RAMP) - 1, max(0, int((float(r.value) - lo) // width)))
            classes[k].add(fid)
    groups = tuple(HighlightGroup(f"{_number(lo + k * width, unit)} – "
                                  f"{_number(lo + (k + 1) * width, unit)}", RAMP[k],
                                  frozenset(ids))
                   for k, ids in reversed(list(enumerate(classes))))
    title = f"{p.name} at {iso(at_ms)}: {len(got)} of {p.features} features read"
    return Highlight(f"readings:{p.name}@{iso(at_ms)}", title, groups)
