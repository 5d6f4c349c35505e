"""Hydraulics of the twin's water network with WNTR and EPANET.

:func:`simulate_twin` builds the hydraulic model of a network from the twin
(:mod:`twin.analysis.hydraulic_model`: what it assumed is counted, never
silent), runs it with WNTR's ``EpanetSimulator`` (the EPANET 2.2 engine) and
returns node pressures and heads and link flows as arrays keyed by the
twin's feature and node ids:

* **steady state** (``at_s=0``): one hydraulic solution with the base
  demands, the reservoirs' heads and the tanks' initial levels;
* **extended period** (``at_s > 0``): the run goes on to that many seconds
  after the start, tanks filling and draining, demands (and reservoir
  heads) following the patterns the twin keeps, and the state at ``at_s``
  is returned. With patterns, the steady state too takes their multipliers
  at the start.

Pressures are metres of water above the node's elevation (1 m = 9.80665 kPa);
at a reservoir (where EPANET reports 0) the pressure is its head above its
elevation: what a logger at the source's outlet reads.
The model is handed to EPANET with short generated names (EPANET ids are
limited to 31 characters, twin ids are longer) and mapped back.

Needs the ``pipes`` extra (wntr).
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import AnalysisError, OptionError
from ..extras import require
from .hydraulic_controls import add_controls
from .hydraulic_model import (
    HydraulicNetwork,
    hydraulic_network,
    require_connected,
    unsupplied_parts,
)

#: Longest extended-period run (s): a week.
MAX_DURATION_S = 7 * 86_400


@dataclass(frozen=True)
class HydraulicResult:
    """One hydraulic state of a network.

    ``node_ids`` ``(n,)``; ``pressure_m``, ``head_m``, ``demand_m3s`` ``(n,)``
    float; ``link_ids`` ``(m,)``; ``flow_m3s`` ``(m,)`` float (positive from
    the link's start node to its end node). ``defaulted`` counts the
    elements that took a default; ``warnings`` are EPANET's (negative
    pressures, an unbalanced system...)."""

    network: str
    time_s: int
    node_ids: np.ndarray
    pressure_m: np.ndarray
    head_m: np.ndarray
    demand_m3s: np.ndarray
    link_ids: np.ndarray
    flow_m3s: np.ndarray
    defaulted: dict[str, int]
    warnings: tuple[str, ...] = ()
    kinds: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    #: nodes of the parts no source reaches, left out of the run
    #: (``skip_unsupplied``); empty when every node was simulated
    unsupplied: tuple[str, ...] = ()

    def pressure(self) -> dict[str, float]:
        """Node id -> pressure (m)."""
        return dict(zip(self.node_ids.tolist(), self.pressure_m.tolist()))

    def below(self, service_pressure_m: float) -> list[str]:
        """Junctions (demand nodes, not sources) under ``service_pressure_m``."""
        mask = (self.pressure_m < service_pressure_m) & (self.kinds == "junction")
        return sorted(self.node_ids[mask].tolist())

    def summary(self) -> dict:
        j = self.kinds == "junction"
        p = self.pressure_m[j]
        return {"network": self.network, "time_s": self.time_s, "nodes": int(len(self.node_ids)),
                "links": int(len(self.link_ids)), "junctions": int(j.sum()),
                "pressure_min_m": float(p.min()) if len(p) else None,
                "pressure_mean_m": float(p.mean()) if len(p) else None,
                "pressure_max_m": float(p.max()) if len(p) else None,
                "demand_m3s": float(self.demand_m3s[j].sum()),
                "defaulted": self.defaulted, "warnings": list(self.warnings),
                "unsupplied": list(self.unsupplied)}


def _timesteps(at_s: int) -> int:
    if not 0 <= at_s <= MAX_DURATION_S:
        raise OptionError(f"simulation time {at_s} s is not between 0 and {MAX_DURATION_S} s "
                          "(a week)")
    return math.gcd(at_s, 3600) if at_s else 3600


def to_wntr(net: HydraulicNetwork, *, without: frozenset[str] | set[str] = frozenset(),
            drop_nodes: frozenset[str] | set[str] = frozenset()):
    """A ``wntr.network.WaterNetworkModel`` of ``net`` (less the links of
    ``without`` and the nodes of ``drop_nodes``, with the links touching
    them), and the names it gives: ``{generated name: twin id}`` for nodes
    and for links."""
    wntr = require("wntr", "a hydraulic simulation")
    wn = wntr.network.WaterNetworkModel()
    with warnings.catch_warnings():  # wntr warns that roughness units do not change:
        warnings.simplefilter("ignore")  # there are no pipes yet, ours are in its units
        wn.options.hydraulic.headloss = net.headloss
    wn.options.hydraulic.demand_model = "DDA"
    wn.options.time.pattern_timestep = net.pattern_step_s
    wn.options.time.pattern_start = net.pattern_start_s
    pattern_name: dict[tuple[float, ...], str] = {}

    def pattern(values: tuple[float, ...] | None) -> str | None:
        if values is None:
            return None
        if values not in pattern_name:
            pattern_name[values] = f"P{len(pattern_name)}"
            wn.add_pattern(pattern_name[values], list(values))
        return pattern_name[values]

    node_name: dict[str, str] = {}
    for k, (nid, n) in enumerate(net.nodes.items()):
        if nid in drop_nodes:
            continue
        name = node_name[nid] = f"N{k}"
        if n.kind == "reservoir":
            wn.add_reservoir(name, base_head=n.params["head"], coordinates=n.xy,
                             head_pattern=pattern(n.head_pattern))
        elif n.kind == "tank":
            p = n.params
            wn.add_tank(name, elevation=n.elevation, init_level=p["init_level_m"],
                        min_level=p["min_level_m"], max_level=p["max_level_m"],
                        diameter=p["tank_diameter_m"], coordinates=n.xy)
        elif n.demands:
            (base, pat), *more = n.demands
            wn.add_junction(name, base_demand=base, demand_pattern=pattern(pat),
                            elevation=n.elevation, coordinates=n.xy)
            for base, pat in more:
                wn.get_node(name).add_demand(base, pattern(pat))
        else:
            wn.add_junction(name, base_demand=n.demand, elevation=n.elevation,
                            coordinates=n.xy)
    link_name: dict[str, str] = {}
    for k, (lid, lk) in enumerate(net.links.items()):
        if lid in without or lk.start in drop_nodes or lk.end in drop_nodes:
            continue
        name = link_name[lid] = f"L{k}"
        s, e, p = node_name[lk.start], node_name[lk.end], lk.params
        if lk.kind == "pipe":
            wn.add_pipe(name, s, e, length=p["length"], diameter=p["diameter"],
                        roughness=p["roughness"], minor_loss=p["minor_loss"],
                        initial_status="CLOSED" if lk.status == "Closed" else "OPEN",
                        check_valve=lk.status == "CV")
        elif lk.kind == "pump":
            if "curve" in p:
                wn.add_curve(f"C{k}", "HEAD", p["curve"])
                wn.add_pump(name, s, e, "HEAD", f"C{k}", speed=p["speed"],
                            initial_status=lk.status.upper())
            else:
                wn.add_pump(name, s, e, "POWER", p["power_w"], speed=p["speed"],
                            initial_status=lk.status.upper())
        else:
            wn.add_valve(name, s, e, diameter=p["diameter"], valve_type=p["valve_type"],
                         minor_loss=p["minor_loss"], initial_setting=p["setting"],
                         initial_status=lk.status.upper())
    add_controls(wn, {k: lk.controls for k, lk in net.links.items() if lk.controls},
                 node_name, link_name)
    return wn, {v: k for k, v in node_name.items()}, {v: k for k, v in link_name.items()}


def run(net: HydraulicNetwork, at_s: int = 0, *,
        without: frozenset[str] | set[str] = frozenset(),
        drop_nodes: frozenset[str] | set[str] = frozenset()) -> HydraulicResult:
    """Run EPANET on ``net`` (see :func:`to_wntr` for ``without`` and
    ``drop_nodes``) and return the state ``at_s`` seconds after the start."""
    step = _timesteps(int(at_s))
    wntr = require("wntr", "a hydraulic simulation")
    wn, nodes, links = to_wntr(net, without=without, drop_nodes=drop_nodes)
    wn.options.time.duration = int(at_s)
    wn.options.time.hydraulic_timestep = step
    wn.options.time.report_timestep = step
    wn.options.time.quality_timestep = step
    with tempfile.TemporaryDirectory(prefix="twin-epanet-") as tmp, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = wntr.sim.EpanetSimulator(wn).run_sim(file_prefix=str(Path(tmp) / "twin"))
        except Exception as exc:  # noqa: BLE001 - EPANET's errors are the network's
            raise AnalysisError(f"network {net.network!r}: EPANET cannot solve it: "
                                f"{_epanet_reason(exc, nodes, links)}") from exc
    node = res.node
    times = node["pressure"].index
    if int(at_s) not in times:
        raise AnalysisError(f"network {net.network!r}: EPANET stopped before {at_s} s "
                            f"(last state at {int(times[-1]) if len(times) else 0} s)")
    names = list(node["pressure"].columns)
    lnames = list(res.link["flowrate"].columns)
    kind = {"reservoir": "reservoir", "tank": "tank"}
    head = node["head"].loc[int(at_s), names].to_numpy(float)
    pressure = node["pressure"].loc[int(at_s), names].to_numpy(float)
    for k, n in enumerate(names):  # EPANET says 0 at a reservoir: its outlet's pressure
        if net.nodes[nodes[n]].kind == "reservoir":
            pressure[k] = head[k] - net.nodes[nodes[n]].elevation
    return HydraulicResult(
        network=net.network, time_s=int(at_s),
        node_ids=np.array([nodes[n] for n in names], dtype=object),
        pressure_m=pressure, head_m=head,
        demand_m3s=node["demand"].loc[int(at_s), names].to_numpy(float),
        link_ids=np.array([links[n] for n in lnames], dtype=object),
        flow_m3s=res.link["flowrate"].loc[int(at_s), lnames].to_numpy(float),
        defaulted=dict(net.defaulted),
        warnings=tuple(sorted({_rename(str(w.message), nodes, links) for w in caught})),
        kinds=np.array([kind.get(net.nodes[nodes[n]].kind, "junction") for n in names],
                       dtype=object))


def _rename(text: str, nodes: dict[str, str], links: dict[str, str]) -> str:
    """EPANET's message with the generated names replaced by twin ids."""
    import re

    def sub(m):
        name = m.group(0)
        return nodes.get(name) or links.get(name) or name

    return re.sub(r"\b[NL]\d+\b", sub, text)


def _epanet_reason(exc: BaseException, nodes, links) -> str:
    return _rename(str(exc).strip() or type(exc).__name__, nodes, links)


def simulate(net: HydraulicNetwork, at_s: int = 0, *, skip_unsupplied: bool = False
             ) -> HydraulicResult:
    """:func:`run` on a network that every node of which a source reaches
    (else :class:`~twin.errors.AnalysisError` naming the parts); with
    ``skip_unsupplied`` the parts no source reaches (a new survey delivery
    not yet connected, say) are left out of the run and listed in the
    result's ``unsupplied``."""
    if not skip_unsupplied:
        require_connected(net)
        return run(net, at_s)
    dead = set().union(*unsupplied_parts(net))
    return dataclasses.replace(run(net, at_s, drop_nodes=dead), unsupplied=tuple(sorted(dead)))


def water_networks(store) -> list[str]:
    """The networks whose segments lie in the ``water_supply`` layer."""
    from ..query import Query

    found = set()
    for f in store.query(Query(layers=("water_supply",), free_attributes=False)):
        if f.edge is not None:
            found.add(f.edge.network)
    return sorted(found)


def pick_network(store, network: str | None) -> str:
    """``network``, checked; or the twin's one water network."""
    from ..network import networks

    if network is not None:
        known = networks(store)
        if network not in known:
            raise AnalysisError(f"network {network!r} does not exist; networks: "
                                f"{', '.join(known) or 'none'}")
        return network
    water = water_networks(store)
    if len(water) != 1:
        raise AnalysisError("the twin has " + (
            f"{len(water)} water networks ({', '.join(water)}); name one" if water else
            "no water network (no water_supply segment with topology)"))
    return water[0]


def twin_network(store, network: str | None = None) -> HydraulicNetwork:
    """The hydraulic model of a network of the twin (its one water network
    by default)."""
    from ..network import network_graph

    return hydraulic_network(network_graph(store, pick_network(store, network)))


def simulate_twin(store, network: str | None = None, at_s: int = 0, *,
                  skip_unsupplied: bool = False) -> HydraulicResult:
    """Simulate a network of the twin: see the module's documentation."""
    return simulate(twin_network(store, network), at_s, skip_unsupplied=skip_unsupplied)
