"""Water balance and leakage of district metered areas (DMAs).

A **DMA** is a part of the water network closed off by boundary valves and
fed through metered inlets. On the twin:

* a **boundary valve** is a node feature of the network with the attribute
  ``dma_boundary = true`` (a valve kept closed); removing them splits the
  network graph into parts;
* **meters** are SensorThings Things on twin features (``twin.sensors``);
  their ``properties.role`` says what they measure: ``inlet`` (into the
  area), ``outlet`` (out of it, to a neighbour), ``customer`` (billed
  consumption) or anything else (pressure loggers: not counted). A meter
  on a node counts in that node's part; on a building, in the part of the
  building's nearest pipe; on a pipe, in the part of its start node;
* every part with an inlet is a DMA, named by its inlet Thing's
  ``properties.dma`` (else by its first inlet's node).

Per DMA and for the city, over a period: **system input volume** (inlets
minus outlets), **billed consumption** (customer meters), **non-revenue
water** (their difference) and the **leakage rate**
(综合漏损率, CJJ 92-2016: non-revenue water / system input; apparent losses
and unbilled authorised use are not separated), the **minimum night flow**
of each night (02:00-04:00 local, the lowest hourly mean inflow) and its
trend, and the **data coverage** (hours of the period with inlet readings).

Volumes come from the hourly rollups (:mod:`twin.sensors.rollup`): a flow
meter's hourly mean times one hour, or a volume meter's hourly sum. Flow
units: ``m3/h``, ``m3/d``, ``L/s``; volume units: ``m3``, ``L``; any other
unit is refused with the datastream named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from ..errors import AnalysisError
from ..network import features_by_id, network_graph
from ..query import Query
from ..sensors.rollup import HOUR
from ..sensors.store import sensors_of

DAY = 86_400_000
#: flow units -> m3/h
FLOW_UNITS = {"m3/h": 1.0, "m³/h": 1.0, "m3/d": 1 / 24, "L/s": 3.6, "l/s": 3.6}
#: volume units -> m3
VOLUME_UNITS = {"m3": 1.0, "m³": 1.0, "L": 0.001, "l": 0.001}
ROLES = ("inlet", "outlet", "customer")
NIGHT_HOURS = (2, 3)  # local hours of the minimum night flow
#: leakage target of the health check (%), and the national one for 2025
TARGET, TARGET_2025 = 10.0, 9.0


@dataclass(frozen=True)
class Meter:
    datastream: int
    thing: int
    feature: str
    role: str
    unit: str
    dma: str | None


@dataclass(frozen=True)
class Balance:
    """The water balance of one DMA (or of the city: ``name="city"``).

    ``night_flow``: ``(night start ms, m3/h)`` per night with inlet data;
    ``night_trend``: its slope, m3/h per day; ``night_rise``: the first night
    from which the minimum night flow stayed above its baseline (the median
    of the first ``baseline_nights``) by more than ``rise_share``, or None."""

    name: str
    nodes: int
    inlets: tuple[int, ...]
    customers: tuple[int, ...]
    system_input_m3: float
    billed_m3: float
    coverage: float
    night_flow: tuple[tuple[int, float], ...] = ()
    night_trend: float | None = None
    night_rise: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def non_revenue_m3(self) -> float:
        return self.system_input_m3 - self.billed_m3

    @property
    def leakage_rate(self) -> float | None:
        """Non-revenue water as % of system input (None without input)."""
        if self.system_input_m3 <= 0:
            return None
        return 100.0 * self.non_revenue_m3 / self.system_input_m3

    def to_dict(self) -> dict[str, Any]:
        from ..sensors.model import iso

        return {"name": self.name, "nodes": self.nodes, "inlets": list(self.inlets),
                "customers": list(self.customers),
                "system_input_m3": round(self.system_input_m3, 3),
                "billed_m3": round(self.billed_m3, 3),
                "non_revenue_m3": round(self.non_revenue_m3, 3),
                "leakage_rate": None if self.leakage_rate is None else
                round(self.leakage_rate, 2), "coverage": round(self.coverage, 4),
                "night_flow": [[iso(t), round(v, 3)] for t, v in self.night_flow],
                "night_trend_m3h_per_day": self.night_trend,
                "night_rise_since": iso(self.night_rise), **self.details}


def meters(store: Any) -> list[Meter]:
    """The datastreams of Things with a role on a twin feature."""
    rows = store._read(
        "SELECT d.id, t.id, t.feature_id, t.properties, d.unit FROM twin_sta_datastreams d "
        "JOIN twin_sta_things t ON t.id = d.thing_id WHERE t.feature_id IS NOT NULL "
        "ORDER BY d.id")
    import json

    out = []
    for ds, th, fid, props, unit in rows:
        p = json.loads(props) if props else {}
        role = p.get("role") if isinstance(p, dict) else None
        if role in ROLES:
            u = json.loads(unit) if unit else {}
            out.append(Meter(int(ds), int(th), fid, role, str(u.get("symbol") or ""),
                             p.get("dma")))
    return out


def _parts(store: Any, network: str) -> tuple[nx.MultiGraph, dict[str, int]]:
    """The network graph and node -> part number, boundary valves removed."""
    g = network_graph(store, network)
    boundary = {f.id for f in features_by_id(store, list(g.nodes))
                if f.attributes.get("dma_boundary") in (True, 1, "true", "yes")}
    open_graph = g.copy()
    open_graph.remove_nodes_from(boundary)
    part = {}
    for k, comp in enumerate(sorted(nx.connected_components(open_graph),
                                    key=lambda c: min(c))):
        for n in comp:
            part[n] = k
    return g, part


def _meter_parts(store: Any, g: nx.MultiGraph, part: dict[str, int], ms: list[Meter]
                 ) -> dict[int, int]:
    """Datastream -> part, for the meters that sit in this network."""
    from .isolation import nearest_segments

    out: dict[int, int] = {}
    edges = {k: (u, v) for u, v, k in g.edges(keys=True)}
    buildings: dict[str, list[int]] = {}
    for m in ms:
        if m.feature in part:
            out[m.datastream] = part[m.feature]
        elif m.feature in edges:
            a, b = edges[m.feature]
            p = part.get(a, part.get(b))
            if p is not None:
                out[m.datastream] = p
        else:
            buildings.setdefault(m.feature, []).append(m.datastream)
    if buildings:
        feats = list(store.query(Query(ids=tuple(buildings))))
        seg_ids = [k for k, d in edges.items() if g.edges[d[0], d[1], k].get("geometry")
                   is not None]
        lines = [g.edges[edges[k][0], edges[k][1], k]["geometry"] for k in seg_ids]
        near = nearest_segments(seg_ids, lines, [f.id for f in feats if f.footprint is not None],
                                [f.footprint for f in feats if f.footprint is not None])
        for bid, seg in near.items():
            a, b = edges[seg]
            p = part.get(a, part.get(b))
            if p is not None:
                for ds in buildings[bid]:
                    out[ds] = p
    return out


def _hourly_m3(sensors: Any, m: Meter, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Hours (ms) with readings and the volume of each (m3)."""
    rows = sensors.store._read(
        "SELECT hour, n, total FROM twin_sta_hourly WHERE datastream_id = ? AND hour >= ? "
        "AND hour < ? ORDER BY hour", (m.datastream, start, end))
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0)
    a = np.array(rows, dtype=np.float64)
    hours = np.array([r[0] for r in rows], dtype=np.int64)
    if m.unit in FLOW_UNITS:
        return hours, a[:, 2] / a[:, 1] * FLOW_UNITS[m.unit]  # hourly mean flow x 1 h
    if m.unit in VOLUME_UNITS:
        return hours, a[:, 2] * VOLUME_UNITS[m.unit]
    raise AnalysisError(f"datastream {m.datastream} ({m.role} meter on {m.feature}): unit "
                        f"{m.unit!r} is neither a flow ({', '.join(FLOW_UNITS)}) nor a volume "
                        f"({', '.join(VOLUME_UNITS)})")


def night_flow(hours: np.ndarray, flow: np.ndarray, offset_ms: int
               ) -> tuple[tuple[int, float], ...]:
    """Per local night, the lowest hourly inflow (m3/h) in :data:`NIGHT_HOURS`."""
    local = hours + offset_ms
    hod = (local % DAY) // HOUR
    sel = np.isin(hod, NIGHT_HOURS)
    if not sel.any():
        return ()
    day = (local[sel] - np.mod(local[sel], DAY)) - offset_ms
    out: dict[int, float] = {}
    for d, v in zip(day.tolist(), flow[sel].tolist()):
        out[d] = min(out.get(d, np.inf), v)
    return tuple(sorted(out.items()))


def night_rise(nights: tuple[tuple[int, float], ...], baseline_nights: int = 7,
               rise_share: float = 0.2) -> int | None:
    """The first night from which the minimum night flow stayed above the
    baseline (median of the first nights) by more than ``rise_share``."""
    if len(nights) <= baseline_nights:
        return None
    v = np.array([x[1] for x in nights])
    base = float(np.median(v[:baseline_nights]))
    high = v > base * (1 + rise_share) + 1e-9
    if not high[-1]:
        return None
    k = len(high) - 1
    while k > 0 and high[k - 1]:
        k -= 1
    return nights[k][0] if k >= baseline_nights else None


def water_balance(store: Any, start: int, end: int, *, network: str = "JS",
                  utc_offset_minutes: int = 480) -> list[Balance]:
    """The balance of every DMA of ``network`` over ``start <= t < end`` (ms),
    then the city's (all DMAs together) last."""
    if end <= start:
        raise AnalysisError("the period of a water balance must end after it starts")
    sensors = sensors_of(store)
    ms = meters(store)
    g, part = _parts(store, network)
    where = _meter_parts(store, g, part, ms)
    off = int(utc_offset_minutes) * 60_000
    hours_in = (end - start) / HOUR
    by_part: dict[int, list[Meter]] = {}
    for m in ms:
        if m.datastream in where:
            by_part.setdefault(where[m.datastream], []).append(m)
    out, all_in, city_nodes = [], [], 0
    for p, group in sorted(by_part.items()):
        inlets = [m for m in group if m.role == "inlet"]
        if not inlets:
            continue
        inflow: dict[int, float] = {}
        for m in group:
            if m.role in ("inlet", "outlet"):
                hours, vol = _hourly_m3(sensors, m, start, end)
                sign = 1.0 if m.role == "inlet" else -1.0
                for h, v in zip(hours.tolist(), vol.tolist()):
                    inflow[h] = inflow.get(h, 0.0) + sign * v
        covered = [len(_hourly_m3(sensors, m, start, end)[0]) for m in inlets]
        billed = sum(float(_hourly_m3(sensors, m, start, end)[1].sum())
                     for m in group if m.role == "customer")
        h = np.array(sorted(inflow), dtype=np.int64)
        f = np.array([inflow[k] for k in sorted(inflow)])
        nights = night_flow(h, f, off)
        trend = float(np.polyfit([n[0] / DAY for n in nights], [n[1] for n in nights], 1)[0]) \
            if len(nights) >= 3 else None
        nodes = sum(1 for v in part.values() if v == p)
        name = next((m.dma for m in inlets if m.dma), None) or f"DMA {inlets[0].feature}"
        out.append(Balance(name, nodes, tuple(m.datastream for m in inlets),
                           tuple(m.datastream for m in group if m.role == "customer"),
                           float(f.sum()), billed, min(covered) / hours_in, nights, trend,
                           night_rise(nights)))
        all_in.append((h, f))
        city_nodes += nodes
    if out:
        out.append(Balance("city", city_nodes, tuple(i for b in out for i in b.inlets),
                           tuple(c for b in out for c in b.customers),
                           sum(b.system_input_m3 for b in out), sum(b.billed_m3 for b in out),
                           min(b.coverage for b in out),
                           details={"dmas": len(out)}))
    return out
