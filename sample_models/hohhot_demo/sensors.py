"""Synthetic meter readings for the Hohhot demo district, with a leak.

Puts the demo's water network (``JS``) into two district metered areas
(named north, the source's, and south) split by a straight line across the
district: the nodes on the source's side of the line that touch the other
side are marked ``dma_boundary`` (closed boundary valves); the source feeds
the north DMA through its inlet meter, the south DMA has its own inlet meter
on its node nearest the line.
Every service connection in a DMA gets a customer meter (15-minute flow,
m3/h, a daily pattern and noise), each DMA a pressure logger (kPa), and the
inlets read what their customers draw plus background leakage (6%). From
``--leak`` on, a burst in the south DMA adds a constant flow that no
customer meter sees: the leakage indicator, the south inlet's minimum night
flow and ``twin alerts`` show it from that night on.

    python sample_models/hohhot_demo/sensors.py out/demo.gpkg [--start 2025-03-01]
        [--days 61] [--leak 2025-04-01] [--seed 19]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import networkx as nx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import twin  # noqa: E402
from twin.network import network_graph  # noqa: E402
from twin.sensors.model import ENTITY_SETS, to_ms  # noqa: E402
from twin.sensors.store import sensors_of  # noqa: E402

QUARTER = 900_000
M = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
UNITS = {"flow": ("cubic metre per hour", "m3/h", "http://qudt.org/vocab/unit/M3-PER-HR"),
         "pressure": ("kilopascal", "kPa", "http://qudt.org/vocab/unit/KiloPA")}


def pattern(t: np.ndarray) -> np.ndarray:
    """Daily demand pattern (local time, China): low at night, peaks at 7 and 19 h."""
    h = ((t + 8 * 3_600_000) % 86_400_000) / 3_600_000
    return 0.25 + 0.9 * np.exp(-((h - 7.5) / 1.6) ** 2) + 0.8 * np.exp(-((h - 19) / 2.2) ** 2) \
        + 0.35 * ((h > 9) & (h < 17))


def dmas(store) -> tuple[nx.MultiGraph, set[str], str, str]:
    """The boundary nodes of two DMAs split by a straight line (the one of a
    few across the district that parts the network most evenly), the source
    and the south inlet node."""
    g = network_graph(store, "JS")
    pos = {n: d["pos"] for n, d in g.nodes(data=True) if "pos" in d}
    source = next(n for n, d in g.nodes(data=True) if d.get("type") == "Source")
    best = None
    for axis in (0, 1):
        for q in (0.3, 0.4, 0.5, 0.6, 0.7):
            cut = float(np.quantile([p[axis] for p in pos.values()], q))
            side = {n: (p[axis] > cut) == (pos[source][axis] > cut) for n, p in pos.items()}
            boundary = {u for u in g.nodes if side.get(u) and
                        any(not side.get(v, True) for v in g.neighbors(u))}
            comps = list(nx.connected_components(g.subgraph(set(g.nodes) - boundary)))
            home = next((c for c in comps if source in c), set())
            away = max((c for c in comps if source not in c), key=len, default=set())
            score = min(len(home), len(away))
            if best is None or score > best[0]:
                mains = [n for n in away if g.nodes[n].get("type") != "ServiceConnection"]
                near = min(mains, key=lambda n: abs(pos[n][axis] - cut)) if mains else None
                best = (score, boundary, near)
    _, boundary, inlet = best
    return g, boundary, source, inlet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("twin")
    ap.add_argument("--start", default="2025-03-01")
    ap.add_argument("--days", type=int, default=61)
    ap.add_argument("--leak", default="2025-04-01", help="first day of the burst (local)")
    ap.add_argument("--leak-m3h", type=float, default=2.5, help="the burst's flow")
    ap.add_argument("--seed", type=int, default=19)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t = to_ms(f"{args.start}T00:00:00+08:00") + np.arange(args.days * 96, dtype=np.int64) * \
        QUARTER
    leak_from = to_ms(f"{args.leak}T00:00:00+08:00")
    store = twin.open_twin(args.twin)
    g, boundary, source, south_inlet = dmas(store)
    for n in sorted(boundary):
        store.update_attributes(n, {"dma_boundary": True})
    parts = nx.connected_components(g.subgraph(set(g.nodes) - boundary))
    part_of = {n: k for k, comp in enumerate(parts) for n in comp}
    names = {part_of[source]: "north", part_of[south_inlet]: "south"}
    sensors = sensors_of(store)
    shape = pattern(t)
    drawn = {k: np.zeros(len(t)) for k in names}
    with sensors.writing() as w:
        se = {k: w.insert("Sensors", {"name": n, "description": d, "encoding_type": "text/html",
                                      "metadata": "https://example.org/datasheet"})
              for k, n, d in (("flow", "DN20 ultrasonic meter", "customer and inlet flow"),
                              ("pressure", "pressure logger", "gauge pressure"))}
        op = {k: w.insert("ObservedProperties", {"name": k, "description": k,
                                                 "definition": f"urn:twin:{k}"})
              for k in UNITS}

        def stream(feature: str, prop: str, role: str, name: str, dma: str | None = None):
            props = {"role": role, **({"dma": dma} if dma else {})}
            th = w.insert("Things", {"name": name, "description": f"{role} on {feature}",
                                     "feature_id": feature, "properties": props})
            unit = dict(zip(("name", "symbol", "definition"), UNITS[prop]))
            return w.insert("Datastreams", {
                "name": name, "description": f"{prop}, 15 minutes", "observation_type": M,
                "unit": unit, "thing_id": th, "sensor_id": se[prop],
                "observed_property_id": op[prop]})

        for n, d in sorted(g.nodes(data=True)):
            if d.get("type") != "ServiceConnection" or part_of.get(n) not in names:
                continue
            base = rng.uniform(0.04, 0.25)
            q = np.maximum(base * shape * (1 + rng.normal(0, 0.08, len(t))), 0)
            drawn[part_of[n]] += q
            w.add_observations(stream(n, "flow", "customer", f"customer {n}"), t, np.round(q, 4))
        leak = np.where(t >= leak_from, args.leak_m3h, 0.0)
        for node, k in ((source, part_of[source]), (south_inlet, part_of[south_inlet])):
            inflow = drawn[k] * 1.06 + (leak if names[k] == "south" else 0)
            ds = stream(node, "flow", "inlet", f"inlet {names[k]}", names[k])
            w.add_observations(ds, t, np.round(inflow + rng.normal(0, 0.01, len(t)), 4))
            p = 320 - 25 * shape - (np.where(t >= leak_from, 12, 0) if names[k] == "south"
                                    else 0)
            w.add_observations(stream(node, "pressure", "pressure", f"pressure {names[k]}"),
                               t, np.round(p + rng.normal(0, 1, len(t)), 2))
    n = sensors.count(ENTITY_SETS["Observations"])
    print(f"{args.twin}: {len(boundary)} boundary nodes, DMAs north and south, "
          f"{n:,} observations from {args.start} for {args.days} days, leak in the south "
          f"from {args.leak}")
    store.close()


if __name__ == "__main__":
    main()
