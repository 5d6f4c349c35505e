"""The twin's water network as a hydraulic model: what EPANET needs, and
what was assumed where the twin does not say.

A hydraulic model knows, per node, its **elevation** (m), the **base
demand** drawn there (m3/s) and, for the supply points, the total **head**
of a reservoir or the levels of a tank; per link, the **length**,
**diameter** and **roughness** of a pipe (with the network's head-loss
formula, Hazen-Williams ``H-W`` unless the pipes say ``D-W`` or ``C-M``), a
pump's head curve or power, a control valve's type and setting, and which
links are closed. The twin keeps these as attributes of its node and segment
features (the EPANET converter writes all of them). Where a feature lacks
one, :func:`hydraulic_network` takes the default below and **counts it**
(:attr:`HydraulicNetwork.defaulted`), so that a result is never presented as
better founded than it is:

=================================  ==========================================
missing                            assumed
=================================  ==========================================
node elevation (``ground``)        the height of the pipe centreline there
junction ``base_demand_m3s``       0 (no draw)
reservoir / source ``head_m``      its elevation + :data:`SOURCE_HEAD_ABOVE_GROUND_M`
tank levels, ``tank_diameter_m``   :data:`TANK_DEFAULTS`
pipe ``length_m``                  the 3D length of its centreline
pipe ``diameter_mm``               :data:`DEFAULT_DIAMETER_MM`
pipe ``roughness``                 :data:`DEFAULT_ROUGHNESS` of the formula
valve ``valve_type``               an open throttle valve (``TCV``, loss 0)
=================================  ==========================================

What cannot be assumed is an error (:class:`~twin.errors.AnalysisError`,
naming the features): a network with no source, parts of it that no source
can reach, nodes whose height nobody gives, pumps without curve or power.
**Demand patterns** (what the EPANET converter keeps): a junction with
``demands`` (``[{"base_m3s": ..., "pattern": [multipliers]}]``) draws each
category times its pattern's multiplier at the time of the run, a reservoir
with ``head_pattern`` has its head follow it, every pattern stepping at
``pattern_step_s`` from ``pattern_start_s`` (one value for the network:
features that disagree are an error). A junction without ``demands`` draws
its base demand at every time. **Controls** on a link (``controls``: its
status, setting or speed at a time, a clock time, or a node's pressure,
head or tank level; :mod:`twin.analysis.hydraulic_controls`) act during
the run; rule-based controls are not kept.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx

from ..errors import AnalysisError
from .hydraulic_controls import checked_controls

#: Node types that are reservoirs (fixed head) in the hydraulic model.
RESERVOIR_TYPES = ("Reservoir", "Source", "Plant")
TANK_TYPES = ("Tank",)
#: Head of a source without ``head_m``: this many metres above its elevation.
SOURCE_HEAD_ABOVE_GROUND_M = 30.0
#: Levels (m above the tank's bottom) and diameter of a tank that gives none.
TANK_DEFAULTS = {"init_level_m": 2.0, "min_level_m": 0.0, "max_level_m": 5.0,
                 "tank_diameter_m": 10.0}
DEFAULT_DIAMETER_MM = 100.0
#: Roughness by head-loss formula: Hazen-Williams C, Darcy-Weisbach (mm as wntr
#: keeps it), Chezy-Manning n.
DEFAULT_ROUGHNESS = {"H-W": 130.0, "D-W": 0.1, "C-M": 0.011}
VALVE_KINDS = ("PRV", "PSV", "PBV", "FCV", "TCV")
#: Most parts without a source named in an error message.
NAMED_PARTS = 5
#: Time step (s) of patterns whose features give none (EPANET's default).
DEFAULT_PATTERN_STEP_S = 3600
#: Most multipliers of one pattern and most demand categories of one junction.
MAX_PATTERN_VALUES = 10_080
MAX_DEMAND_CATEGORIES = 100

#: A demand category: base demand (m3/s) and its pattern's multipliers, or
#: ``None`` for a constant draw.
Demand = tuple[float, tuple[float, ...] | None]


@dataclass(frozen=True)
class HNode:
    """A node of the hydraulic model: ``kind`` is ``junction``,
    ``reservoir`` or ``tank``; ``params`` holds the head or tank levels."""

    kind: str
    elevation: float
    demand: float = 0.0
    params: dict[str, float] = field(default_factory=dict)
    xy: tuple[float, float] | None = None
    #: demand categories following patterns (empty: ``demand`` at all times)
    demands: tuple[Demand, ...] = ()
    #: a reservoir's head multipliers, or ``None``
    head_pattern: tuple[float, ...] | None = None


@dataclass(frozen=True)
class HLink:
    """A link: ``kind`` is ``pipe``, ``pump`` or ``valve``; ``status`` is
    ``Open``, ``Closed``, ``CV`` (pipe with a check valve) or ``Active``."""

    kind: str
    start: str
    end: str
    status: str = "Open"
    params: dict[str, Any] = field(default_factory=dict)
    #: simple controls acting on it (:mod:`twin.analysis.hydraulic_controls`)
    controls: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class HydraulicNetwork:
    """A twin network ready for EPANET, keyed by twin feature / node ids.

    ``defaulted`` counts the elements that took a default, per attribute
    (``{"junction base_demand_m3s": 412, ...}``): empty when the twin said
    everything."""

    network: str
    headloss: str
    nodes: dict[str, HNode]
    links: dict[str, HLink]
    defaulted: dict[str, int]
    #: the time step and start (s) of every pattern of the network
    pattern_step_s: int = DEFAULT_PATTERN_STEP_S
    pattern_start_s: int = 0

    @property
    def has_patterns(self) -> bool:
        return any(n.demands or n.head_pattern for n in self.nodes.values())

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted(n for n, d in self.nodes.items() if d.kind != "junction"))

    def total_demand(self, nodes=None) -> float:
        """Sum of the base demands (m3/s) of ``nodes`` (default: all)."""
        names = self.nodes if nodes is None else nodes
        return float(sum(self.nodes[n].demand for n in names))


def _num(attrs: dict, key: str) -> float | None:
    v = attrs.get(key)
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _elevation(data: dict, count: Counter) -> float | None:
    if data.get("ground") is not None and math.isfinite(data["ground"]):
        return float(data["ground"])
    pos = data.get("pos")
    if pos is not None and len(pos) > 2 and math.isfinite(pos[2]):
        count["node elevation (from the pipe centreline)"] += 1
        return float(pos[2])
    return None


def _multipliers(key: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or not 0 < len(value) <= MAX_PATTERN_VALUES:
        raise AnalysisError(f"node {key!r}: a pattern must be a list of 1 to "
                            f"{MAX_PATTERN_VALUES} multipliers, got {str(value)[:80]}")
    out = []
    for v in value:
        f = _num({"v": v}, "v")
        if f is None or f < 0:
            raise AnalysisError(f"node {key!r}: pattern multiplier {v!r} is not a number "
                                ">= 0")
        out.append(f)
    return tuple(out)


def _demands(key: str, value: Any) -> tuple[Demand, ...]:
    """The ``demands`` attribute of junction ``key``, checked."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or len(value) > MAX_DEMAND_CATEGORIES:
        raise AnalysisError(f"junction {key!r}: demands must be a list of at most "
                            f"{MAX_DEMAND_CATEGORIES} categories, got {str(value)[:80]}")
    out: list[Demand] = []
    for cat in value:
        base = _num(cat, "base_m3s") if isinstance(cat, dict) else None
        if base is None:
            raise AnalysisError(f"junction {key!r}: demand category {str(cat)[:80]} has "
                                "no numeric base_m3s")
        pattern = cat.get("pattern")
        out.append((base, None if pattern is None else _multipliers(key, pattern)))
    return tuple(out)


def _node(key: str, ntype: str | None, attrs: dict, z: float, xy, count: Counter) -> HNode:
    if ntype in RESERVOIR_TYPES:
        head = _num(attrs, "head_m")
        if head is None:
            count["source head_m"] += 1
            head = z + SOURCE_HEAD_ABOVE_GROUND_M
        hp = attrs.get("head_pattern")
        return HNode("reservoir", z, params={"head": head}, xy=xy,
                     head_pattern=None if hp is None else _multipliers(key, hp))
    if ntype in TANK_TYPES:
        params = {}
        for key, default in TANK_DEFAULTS.items():
            v = _num(attrs, key)
            if v is None:
                count[f"tank {key}"] += 1
                v = default
            params[key] = v
        return HNode("tank", z, params=params, xy=xy)
    demands = _demands(key, attrs.get("demands"))
    demand = _num(attrs, "base_demand_m3s")
    if demand is None:
        if demands:
            demand = float(sum(b for b, _ in demands))
        else:
            count["junction base_demand_m3s"] += 1
            demand = 0.0
    return HNode("junction", z, demand=demand, xy=xy, demands=demands)


def _pattern_times(graph: nx.MultiGraph, nodes: dict[str, HNode], count: Counter
                   ) -> tuple[int, int]:
    """The network's pattern step and start (s), from the nodes with patterns."""
    seen: dict[tuple[int, int], list[str]] = {}
    for n, data in graph.nodes(data=True):
        node = nodes.get(n)
        if node is None or not (node.demands or node.head_pattern):
            continue
        attrs = data.get("attributes") or {}
        step, start = _num(attrs, "pattern_step_s"), _num(attrs, "pattern_start_s")
        if step is None:
            count["pattern_step_s (1 h)"] += 1
        if step is not None and not 0 < step <= 86_400:
            raise AnalysisError(f"node {n!r}: pattern_step_s {step} is not between 1 s and "
                                "a day")
        key = (int(step or DEFAULT_PATTERN_STEP_S), int(start or 0))
        seen.setdefault(key, []).append(n)
    if len(seen) > 1:
        which = "; ".join(f"step {k[0]} s, start {k[1]} s at {', '.join(sorted(v)[:3])}"
                          for k, v in sorted(seen.items()))
        raise AnalysisError(f"network {graph.graph.get('network')!r}: its patterns disagree "
                            f"on their time step or start ({which}); one network has one")
    return next(iter(seen), (DEFAULT_PATTERN_STEP_S, 0))


def _status(attrs: dict) -> str:
    text = str(attrs.get("status") or "Open").strip().capitalize()
    return text if text in ("Open", "Closed", "Active", "Cv") else "Open"


def _pipe(key: str, data: dict, attrs: dict, formula: str, count: Counter) -> HLink:
    length = _num(attrs, "length_m")
    if length is None:
        length = data.get("length")
        if length is None or not length > 0:
            raise AnalysisError(f"pipe {key!r} has neither a length_m attribute nor a "
                                "centreline to measure")
        count["pipe length_m (from the centreline)"] += 1
    dia = _num(attrs, "diameter_mm")
    if dia is None or dia <= 0:
        count["pipe diameter_mm"] += 1
        dia = DEFAULT_DIAMETER_MM
    rough = _num(attrs, "roughness")
    if rough is None or rough <= 0:
        count["pipe roughness"] += 1
        rough = DEFAULT_ROUGHNESS[formula]
    status = _status(attrs)
    if attrs.get("check_valve") is True or status == "Cv":
        status = "CV"
    return HLink("pipe", data["start"], data["end"], "Closed" if status == "Closed" else
                 ("CV" if status == "CV" else "Open"),
                 {"length": max(float(length), 0.01), "diameter": dia / 1000.0,
                  "roughness": rough, "minor_loss": _num(attrs, "minor_loss") or 0.0})


def _pump(key: str, data: dict, attrs: dict) -> HLink:
    curve = attrs.get("head_curve")
    power = _num(attrs, "power_kw")
    params: dict[str, Any] = {"speed": _num(attrs, "speed") or 1.0}
    if isinstance(curve, (list, tuple)) and curve:
        try:
            params["curve"] = [(float(q), float(h)) for q, h in curve]
        except (TypeError, ValueError):
            raise AnalysisError(f"pump {key!r}: head_curve must be [flow m3/s, head m] "
                                f"pairs, got {curve!r}") from None
    elif power is not None and power > 0:
        params["power_w"] = power * 1000.0
    else:
        raise AnalysisError(f"pump {key!r} has neither a head_curve nor a power_kw "
                            "attribute: a pump cannot be simulated without one")
    status = _status(attrs)
    return HLink("pump", data["start"], data["end"],
                 "Closed" if status == "Closed" else "Open", params)


def _valve(key: str, data: dict, attrs: dict, count: Counter) -> HLink:
    vtype = str(attrs.get("valve_type") or "").upper()
    setting = _num(attrs, "setting")
    if vtype not in VALVE_KINDS:
        if vtype:
            raise AnalysisError(f"valve {key!r}: type {vtype!r} cannot be simulated from "
                                f"the twin; types: {', '.join(VALVE_KINDS)}")
        count["valve valve_type (open TCV)"] += 1
        vtype, setting = "TCV", 0.0
    dia = _num(attrs, "valve_diameter_m")
    if dia is None:
        mm = _num(attrs, "diameter_mm")
        if mm is None or mm <= 0:
            count["valve diameter"] += 1
            mm = DEFAULT_DIAMETER_MM
        dia = mm / 1000.0
    status = _status(attrs)
    return HLink("valve", data["start"], data["end"],
                 status if status in ("Open", "Closed") else "Active",
                 {"valve_type": vtype, "setting": setting or 0.0, "diameter": dia,
                  "minor_loss": _num(attrs, "minor_loss") or 0.0})


def _formula(graph: nx.MultiGraph, count: Counter) -> str:
    named = {str(d["attributes"]["headloss_formula"]).upper()
             for _u, _v, d in graph.edges(data=True)
             if (d.get("attributes") or {}).get("headloss_formula")}
    if len(named) > 1:
        raise AnalysisError(f"network {graph.graph.get('network')!r} mixes head-loss formulas "
                            f"({', '.join(sorted(named))}); one network has one formula")
    if not named:
        count["head-loss formula (H-W)"] += 1
        return "H-W"
    formula = named.pop()
    if formula not in DEFAULT_ROUGHNESS:
        raise AnalysisError(f"head-loss formula {formula!r} is not known; formulas: "
                            f"{', '.join(DEFAULT_ROUGHNESS)}")
    return formula


def hydraulic_network(graph: nx.MultiGraph) -> HydraulicNetwork:
    """The hydraulic model of ``graph`` (:func:`twin.network.network_graph`):
    every node and link with its parameters, the defaults counted. Raises
    :class:`~twin.errors.AnalysisError` for what cannot be assumed."""
    network = str(graph.graph.get("network", "?"))
    count: Counter = Counter()
    nodes: dict[str, HNode] = {}
    no_height = []
    for n, data in graph.nodes(data=True):
        z = _elevation(data, count)
        if z is None:
            no_height.append(n)
            continue
        pos = data.get("pos")
        nodes[n] = _node(n, data.get("type"), dict(data.get("attributes") or {}), z,
                         (pos[0], pos[1]) if pos else None, count)
    if no_height:
        named = ", ".join(sorted(no_height)[:10])
        raise AnalysisError(f"network {network!r}: {len(no_height)} nodes have no height "
                            f"(no ground, no 3D centreline end): {named}"
                            f"{' ...' if len(no_height) > 10 else ''}")
    formula = _formula(graph, count)
    links: dict[str, HLink] = {}
    for u, v, key, data in graph.edges(keys=True, data=True):
        if u == v:
            raise AnalysisError(f"network {network!r}: segment {key!r} starts and ends at "
                                f"node {u!r}; a hydraulic model cannot hold it")
        data = {**data, "start": data.get("start", u), "end": data.get("end", v)}
        attrs = dict(data.get("attributes") or {})
        kind = data.get("type")
        if kind == "Pump":
            links[key] = _pump(key, data, attrs)
        elif kind == "Valve":
            links[key] = _valve(key, data, attrs, count)
        else:
            links[key] = _pipe(key, data, attrs, formula, count)
        if attrs.get("controls") is not None:
            links[key] = replace(links[key], controls=checked_controls(
                key, links[key].kind, attrs["controls"], nodes))
    step, start = _pattern_times(graph, nodes, count)
    net = HydraulicNetwork(network, formula, nodes, links, dict(sorted(count.items())),
                           pattern_step_s=step, pattern_start_s=start)
    if not net.sources:
        raise AnalysisError(f"network {network!r} has no source: no node of type "
                            f"{', '.join(RESERVOIR_TYPES + TANK_TYPES)}; a hydraulic run "
                            "needs a reservoir or tank to feed it")
    return net


def unsupplied_parts(net: HydraulicNetwork, without: frozenset[str] | set[str] = frozenset()
                     ) -> list[set[str]]:
    """The connected parts of ``net`` (with the links of ``without`` taken
    out) that hold no reservoir or tank, largest first."""
    g = nx.Graph()
    g.add_nodes_from(net.nodes)
    g.add_edges_from((lk.start, lk.end) for k, lk in net.links.items() if k not in without)
    sources = set(net.sources)
    parts = [c for c in nx.connected_components(g) if not c & sources]
    return sorted(parts, key=lambda c: (-len(c), min(c)))


def require_connected(net: HydraulicNetwork) -> None:
    """Raise :class:`~twin.errors.AnalysisError` naming the parts of the
    network that no source reaches."""
    parts = unsupplied_parts(net)
    if not parts:
        return
    named = "; ".join(f"{len(p)} nodes ({', '.join(sorted(p)[:3])}"
                      f"{' ...' if len(p) > 3 else ''})" for p in parts[:NAMED_PARTS])
    what = "part that no source reaches" if len(parts) == 1 else \
        "parts that no source reaches"
    raise AnalysisError(f"network {net.network!r} has {len(parts)} {what}: {named}"
                        f"{' ...' if len(parts) > NAMED_PARTS else ''}; skipping unsupplied "
                        "parts (--skip-unsupplied, skip_unsupplied=true) simulates the rest "
                        "and lists them")
