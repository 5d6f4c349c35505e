"""Hydraulic impact of a burst: what the isolation leaves of the supply.

:mod:`twin.analysis.isolation` says which valves to close and which
segments go out of service when a segment bursts. :func:`burst_impact`
runs the network twice with EPANET (:mod:`twin.analysis.hydraulics`): once
intact, once with the out-of-service segments and the closed valve links
taken out. Nodes that no source reaches any more are **unsupplied** (their
base demand is the unsupplied demand); of the nodes still connected, those
whose pressure falls below the **service pressure** (14 m by default, a
common minimum at the customer's connection) are listed, next to those
already below it in the intact network.
"""

from __future__ import annotations

from dataclasses import dataclass

from .hydraulic_model import HydraulicNetwork, require_connected, unsupplied_parts
from .hydraulics import HydraulicResult, run

#: Minimum pressure at a customer's connection (m of water) unless told.
SERVICE_PRESSURE_M = 14.0


@dataclass(frozen=True)
class BurstImpact:
    """The burst's hydraulic impact (pressures in m, demands in m3/s).

    ``removed_links``: segments out of service and valve links closed;
    ``unsupplied_nodes``: nodes no source reaches after the isolation;
    ``below_service``: supplied junctions under ``service_pressure_m`` after
    the isolation, ``below_service_intact`` before it, ``newly_below``
    those only after it; ``unsupplied_before``: with ``skip_unsupplied``,
    the nodes no source reached before the burst, left out of both runs."""

    segment: str
    service_pressure_m: float
    time_s: int
    removed_links: tuple[str, ...]
    unsupplied_nodes: tuple[str, ...]
    unsupplied_demand_m3s: float
    below_service: tuple[str, ...]
    below_service_intact: tuple[str, ...]
    newly_below: tuple[str, ...]
    demand_below_service_m3s: float
    min_pressure_m: float | None
    min_pressure_intact_m: float | None
    total_demand_m3s: float
    defaulted: dict[str, int]
    warnings: tuple[str, ...] = ()
    unsupplied_before: tuple[str, ...] = ()


def _min_junction_pressure(r: HydraulicResult) -> float | None:
    p = r.pressure_m[r.kinds == "junction"]
    return float(p.min()) if len(p) else None


def burst_impact(net: HydraulicNetwork, segment: str, removed_links, *,
                 service_pressure_m: float = SERVICE_PRESSURE_M, at_s: int = 0,
                 skip_unsupplied: bool = False) -> BurstImpact:
    """Compare ``net`` intact with ``net`` less ``removed_links`` (the
    segments an isolation puts out of service and the valve links it
    closes; see :func:`twin.analysis.isolation.isolation_for`). Parts no
    source reaches even intact are refused, or with ``skip_unsupplied`` left
    out of both runs and listed in ``unsupplied_before``."""
    before: set[str] = set()
    if skip_unsupplied:
        before = set().union(*unsupplied_parts(net))
    else:
        require_connected(net)
    removed = frozenset(k for k in removed_links if k in net.links)
    intact = run(net, at_s, drop_nodes=before)
    dead = set().union(*unsupplied_parts(net, removed)) - before
    below_intact = intact.below(service_pressure_m)
    if any(n.kind == "junction" and k not in dead | before for k, n in net.nodes.items()):
        after = run(net, at_s, without=removed, drop_nodes=dead | before)
        below = after.below(service_pressure_m)
        demand = dict(zip(after.node_ids.tolist(), after.demand_m3s.tolist()))
        lowest, warned = _min_junction_pressure(after), after.warnings
    else:  # the whole network is shut down: nothing left to run
        below, demand, lowest, warned = [], {}, None, ()
    return BurstImpact(
        segment=segment, service_pressure_m=float(service_pressure_m), time_s=int(at_s),
        removed_links=tuple(sorted(removed)), unsupplied_nodes=tuple(sorted(dead)),
        unsupplied_demand_m3s=net.total_demand(dead), below_service=tuple(below),
        below_service_intact=tuple(below_intact),
        newly_below=tuple(sorted(set(below) - set(below_intact))),
        demand_below_service_m3s=float(sum(demand[n] for n in below)),
        min_pressure_m=lowest,
        min_pressure_intact_m=_min_junction_pressure(intact),
        total_demand_m3s=net.total_demand(), defaulted=dict(net.defaulted),
        warnings=tuple(sorted(set(intact.warnings) | set(warned))),
        unsupplied_before=tuple(sorted(before)))
