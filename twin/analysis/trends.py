"""The health check over the years: trends, warnings and the five-year evaluation.

The policy asks for one health check a year and one evaluation every five
years (一年一体检、五年一评估). Each year's check can be kept in the twin
(``store.save_health_check``, ``twin health-check --save``); from the kept
years this module makes, for every indicator:

* its **trend**: the value of each stored year;
* **warnings** (预警) on the latest year: the indicator got **worse** than the
  year before (in the direction that counts: a larger share of old pipes is
  worse, a larger share of green buildings better), or it **crossed its
  target** (met the year before, not met now);
* the **evaluation** of a period: the first and the last year of it side by
  side, the change, better or worse.

Checks are the JSON of :meth:`twin.analysis.indicators.HealthCheck.to_dict`.

>>> checks = [{"year": 2024, "indicators": [{"key": "heating_renewal", "title": "Old pipes",
...            "title_zh": "", "unit": "%", "value": 10.0, "status": "met"}]},
...           {"year": 2025, "indicators": [{"key": "heating_renewal", "title": "Old pipes",
...            "title_zh": "", "unit": "%", "value": 12.0, "status": "not met"}]}]
>>> t = trends(checks)[0]
>>> t.points, t.warnings
(((2024, 10.0, 'met'), (2025, 12.0, 'not met')), ('worse', 'crossed target'))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

#: Indicators where a smaller value is better; for the others a larger one is.
LOWER_IS_BETTER = frozenset({
    "heating_renewal", "gas_age", "water_supply_age", "residential_over_18_storeys",
    "clearance_violations",
})


@dataclass(frozen=True)
class Trend:
    """One indicator over the stored years. ``points``: ``(year, value,
    status)`` in year order (``value`` ``None`` without data); ``warnings``:
    ``"worse"`` and/or ``"crossed target"`` on the latest year."""

    key: str
    title: str
    title_zh: str
    unit: str
    points: tuple[tuple[int, float | None, str], ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "title_zh": self.title_zh,
                "unit": self.unit, "points": [list(p) for p in self.points],
                "warnings": list(self.warnings)}


def better(key: str, old: float, new: float) -> bool | None:
    """Whether ``new`` is better than ``old`` for indicator ``key`` (``None``: equal)."""
    if new == old:
        return None
    return (new < old) if key in LOWER_IS_BETTER else (new > old)


def trends(checks: Sequence[dict[str, Any]]) -> list[Trend]:
    """The trend and warnings of every indicator over ``checks`` (any order)."""
    checks = sorted(checks, key=lambda c: int(c["year"]))
    order: list[str] = []
    meta: dict[str, dict[str, Any]] = {}
    series: dict[str, list[tuple[int, float | None, str]]] = {}
    for c in checks:
        for ind in c["indicators"]:
            k = ind["key"]
            if k not in meta:
                order.append(k)
            meta[k] = ind  # the latest title and unit
            series.setdefault(k, []).append((int(c["year"]), ind.get("value"),
                                             ind.get("status", "")))
    out = []
    for k in order:
        pts = series[k]
        warn: list[str] = []
        if len(pts) >= 2:
            (_, v0, s0), (_, v1, s1) = pts[-2], pts[-1]
            if v0 is not None and v1 is not None and better(k, v0, v1) is False:
                warn.append("worse")
            if s0 == "met" and s1 == "not met":
                warn.append("crossed target")
        m = meta[k]
        out.append(Trend(k, m.get("title", k), m.get("title_zh", ""), m.get("unit", ""),
                         tuple(pts), tuple(warn)))
    return out


def evaluation(checks: Sequence[dict[str, Any]], first: int, last: int) -> list[dict[str, Any]]:
    """The evaluation of the period ``first`` .. ``last`` (五年一评估): for
    every indicator its value in the first and the last stored year of the
    period, the change and whether it is better."""
    inside = [c for c in checks if first <= int(c["year"]) <= last]
    if not inside:
        return []
    rows: list[dict[str, Any]] = []
    for t in trends(inside):
        known = [p for p in t.points if p[1] is not None]
        if not known:
            rows.append({"key": t.key, "title": t.title, "from": None, "to": None,
                         "change": None, "better": None})
            continue
        (y0, v0_, _), (y1, v1_, _) = known[0], known[-1]
        v0, v1 = cast(float, v0_), cast(float, v1_)  # known points only
        rows.append({"key": t.key, "title": t.title, "unit": t.unit, "from_year": y0,
                     "from": v0, "to_year": y1, "to": v1, "change": v1 - v0,
                     "better": better(t.key, v0, v1)})
    return rows
