"""Burst isolation of pressurised networks (water, gas, heating).

When a segment fails, crews close the nearest valves around it. Walking the
network graph from the failed segment without passing through a valve gives
the **isolated zone**: its segments are out of service and the valves met on
its boundary are the **valves to close**: valve nodes (survey valves,
valve chambers) and valve links (EPANET valves, which the walk does not
cross). If the network's supply points
(sources, plants, reservoirs) are known, any part that the closed valves cut
off from every source is out of service too. Buildings lose supply when a
service pipe that serves them is out of service, or, for buildings without a
service connection, when the segment nearest to them is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import networkx as nx
import numpy as np
import shapely

from ..errors import AnalysisError, NotFoundError

#: Node types that are (or house) valves.
VALVE_TYPES = ("Valve", "ValveChamber")
#: Node types that feed a network.
SOURCE_TYPES = ("Source", "Reservoir", "Tank", "Plant", "HeatSource", "GasStation")


@dataclass(frozen=True)
class IsolationResult:
    failed: str
    valves_to_close: tuple[str, ...]
    isolated_segments: tuple[str, ...]
    cut_off_segments: tuple[str, ...]
    buildings_without_supply: tuple[str, ...]
    sources_known: bool
    note: str = ""
    #: :class:`~twin.analysis.burst.BurstImpact` when asked for (``hydraulics=True``)
    hydraulics: Any = None

    @property
    def out_of_service(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.isolated_segments) | set(self.cut_off_segments)))


def isolate(graph: nx.MultiGraph, failed: str, *, node_types: dict[str, str],  # noqa: C901
            serves: dict[str, str] | None = None,
            nearest_segment: dict[str, str] | None = None) -> IsolationResult:
    """Isolation of the segment ``failed`` in ``graph`` (see :func:`twin.network.network_graph`).

    Parameters
    ----------
    node_types : node id -> type (``Valve``, ``Tee``, ``Source``, ...).
    serves : segment id -> building id, for service pipes.
    nearest_segment : building id -> its nearest segment, for buildings that
        have no service connection.
    """
    ends = [(u, v) for u, v, k in graph.edges(keys=True) if k == failed]
    if not ends:
        raise NotFoundError(f"segment {failed!r} is not an edge of network "
                            f"{graph.graph.get('network', '?')!r}")
    is_valve = {n for n, t in node_types.items() if t in VALVE_TYPES}
    # valves that are links (EPANET TCV, PRV, ... and isolation valves drawn as short
    # segments): closing one stops the zone at the link itself
    valve_links = {k for _u, _v, k, d in graph.edges(keys=True, data=True)
                   if d.get("type") in VALVE_TYPES and k != failed}
    sources = {n for n, t in node_types.items() if t in SOURCE_TYPES and n in graph}
    u0, v0 = ends[0]
    zone_edges = {failed}
    valves: set[str] = set()
    closed_links: set[str] = set()
    stack = []
    for n in (u0, v0):
        if n in is_valve:
            valves.add(n)
        else:
            stack.append(n)
    seen_nodes = set(stack)
    while stack:
        node = stack.pop()
        for _, nb, key in graph.edges(node, keys=True):
            if key in valve_links:
                closed_links.add(key)
                continue
            zone_edges.add(key)
            if nb in is_valve:
                valves.add(nb)
            elif nb not in seen_nodes:
                seen_nodes.add(nb)
                stack.append(nb)
    valves |= closed_links
    cut_off: set[str] = set()
    note = ""
    if not valves:
        note = ("no valve bounds the zone: the whole connected network around the failed "
                "segment must be shut down")
    if sources & seen_nodes:
        note = (note + "; " if note else "") + "a supply point lies inside the isolated zone"
    if sources and not sources & seen_nodes:
        # only what a source fed before the burst can lose its supply (a part of the
        # network with no source at all, like a newly surveyed section, is not cut off)
        fed = set().union(*(c for c in nx.connected_components(graph) if c & sources))
        h = graph.copy()
        h.remove_nodes_from((valves - closed_links) | seen_nodes)
        h.remove_edges_from([(u, v, k) for u, v, k in graph.edges(keys=True)
                             if k in closed_links and h.has_edge(u, v, k)])
        dead: set[str] = set()
        for comp in nx.connected_components(h):
            if not comp & sources:
                dead |= comp & fed
        cut_off |= {k for u, v, k in h.edges(keys=True) if u in dead}
        # segments between a closed valve and a dead part, or between two closed valves
        for valve in valves - closed_links:
            for _, nb, key in graph.edges(valve, keys=True):
                if key not in zone_edges and (nb in dead or nb not in h):
                    cut_off.add(key)
    out = zone_edges | cut_off
    buildings = set()
    for seg_id, bid in (serves or {}).items():
        if seg_id in out and bid:
            buildings.add(bid)
    served = set((serves or {}).values())
    for bid, seg_id in (nearest_segment or {}).items():
        if bid not in served and seg_id in out:
            buildings.add(bid)
    return IsolationResult(failed, tuple(sorted(valves)), tuple(sorted(zone_edges)),
                           tuple(sorted(cut_off - zone_edges)), tuple(sorted(buildings)),
                           bool(sources), note)


def nearest_segments(segment_ids: list[str], lines: list, building_ids: list[str],
                     footprints: list) -> dict[str, str]:
    """Building id -> id of the nearest segment (plan distance), via an STRtree."""
    if not segment_ids or not building_ids:
        return {}
    tree = shapely.STRtree(np.asarray(lines, dtype=object))
    idx = tree.query_nearest(np.asarray(footprints, dtype=object), return_distance=False)
    out: dict[str, str] = {}
    for b, s in zip(idx[0], idx[1]):
        out.setdefault(building_ids[b], segment_ids[s])
    return out


def isolation_for(store, segment_id: str, *, hydraulics: bool = False,
                  service_pressure_m: float = 14.0, at_s: int = 0,
                  skip_unsupplied: bool = False) -> IsolationResult:
    """:func:`isolate` on the twin: the network of ``segment_id``, its node
    types from the node features, service links from the ``serves`` attribute
    of service pipes, and the nearest segment of every other building.

    With ``hydraulics``, the result's ``hydraulics`` holds the burst's
    hydraulic impact (:func:`twin.analysis.burst.burst_impact`: nodes left
    under ``service_pressure_m`` and the unsupplied demand, against the
    intact network; needs the ``pipes`` extra)."""
    from ..network import network_graph
    from ..query import Query

    seg = store.get(segment_id, meshes=False)
    if seg.edge is None:
        raise AnalysisError(f"feature {segment_id!r} is not a network segment (no edge)")
    graph = network_graph(store, seg.edge.network)
    types = {n: d["type"] for n, d in graph.nodes(data=True) if "type" in d}
    serves: dict[str, str] = {}
    lines, ids = [], []
    for _, _, key, data in graph.edges(keys=True, data=True):
        attrs = data.get("attributes") or {}
        if attrs.get("serves"):
            serves[key] = str(attrs["serves"])
        elif data.get("geometry") is not None:
            ids.append(key)
            lines.append(data["geometry"])
    blds = list(store.query(Query(layers=("buildings",))))
    near = nearest_segments(ids, lines, [b.id for b in blds],
                            [b.footprint for b in blds]) if blds else {}
    result = isolate(graph, segment_id, node_types=types, serves=serves, nearest_segment=near)
    if not hydraulics:
        return result
    from .burst import burst_impact
    from .hydraulic_model import hydraulic_network

    net = hydraulic_network(graph)
    removed = set(result.out_of_service) | {v for v in result.valves_to_close if v in net.links}
    return replace(result, hydraulics=burst_impact(
        net, segment_id, removed, service_pressure_m=service_pressure_m, at_s=at_s,
        skip_unsupplied=skip_unsupplied))
