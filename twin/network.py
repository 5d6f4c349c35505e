"""Pipe-network topology as networkx graphs.

Each linear network feature carries an :class:`~twin.model.Edge`
(``network``, ``start`` node id, ``end`` node id). :func:`network_graph`
turns the edges of one network into an undirected ``networkx.MultiGraph``
(parallel pipes between the same two nodes are real and kept apart) whose
edges know their feature id and whose nodes know their position when a node
feature (manhole, valve, junction) or a centreline end gives one.
:func:`validate_network` reports what a survey or model got wrong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import shapely

from .model import Feature
from .query import Query
from .store.base import TwinStore


def features_by_id(store: TwinStore, ids: list[str], chunk: int = 500, *,
                   meshes: bool = False) -> Iterator[Feature]:
    """The features of ``ids`` that exist (with their meshes if asked),
    queried a chunk at a time."""
    for i in range(0, len(ids), chunk):
        yield from store.query(Query(ids=tuple(ids[i:i + chunk]), with_meshes=meshes))


def network_graph(store: TwinStore, network: str) -> nx.MultiGraph:
    """The topology of ``network`` (e.g. ``"RL"`` or a model's network name).

    Node attributes: ``pos`` ``(x, y, z)`` when known; ``type`` and
    ``attributes`` for nodes that are features; for point features also
    ``feature`` and ``ground`` (their Z). Edge keys are feature ids;
    edge attributes: ``feature``, ``type``, ``attributes``, ``geometry``,
    ``start``/``end`` (the feature's own direction), and for centrelines
    ``length`` (3D where known), ``ends`` and ``half_height``.
    """
    g = nx.MultiGraph(network=network)
    seg_ids: list[str] = []
    for fid, _net, start, end in store.edges(network):
        g.add_edge(start, end, key=fid, feature=fid)
        seg_ids.append(fid)
    if not seg_ids:
        return g
    # node features that carry the node ids
    for f in features_by_id(store, list(g.nodes)):
        g.nodes[f.id]["type"] = f.type
        g.nodes[f.id]["attributes"] = f.attributes
        if f.footprint is not None and f.footprint.geom_type == "Point":
            c = shapely.get_coordinates(f.footprint, include_z=True)[0]
            g.nodes[f.id]["pos"] = tuple(float(v) for v in c)
            g.nodes[f.id]["feature"] = f.id
            if f.footprint.has_z:  # node features stand on the ground
                g.nodes[f.id]["ground"] = float(c[2])
    # the segments: what they are, and their centreline ends and lengths
    for f in features_by_id(store, seg_ids):
        if f.edge is None:
            continue
        data = g.edges[f.edge.start, f.edge.end, f.id]
        data["start"], data["end"] = f.edge.start, f.edge.end  # undirected graph: keep order
        data["type"] = f.type
        data["attributes"] = f.attributes
        data["geometry"] = f.footprint
        if f.footprint is None or f.footprint.geom_type != "LineString":
            continue
        c = shapely.get_coordinates(f.footprint, include_z=True)
        if not f.footprint.has_z:
            c[:, 2] = np.nan
        d = np.diff(c, axis=0)
        data["length"] = float(np.sqrt(np.nansum(d * d, axis=1)).sum())
        data["ends"] = (tuple(map(float, c[0])), tuple(map(float, c[-1])))
        a = f.attributes
        size = a.get("diameter_mm") if a.get("diameter_mm") is not None else a.get("height_mm")
        data["half_height"] = float(size) / 2000.0 if size is not None else 0.0
        for node, xyz in ((f.edge.start, c[0]), (f.edge.end, c[-1])):
            g.nodes[node].setdefault("pos", tuple(float(v) for v in xyz))
    return g


@dataclass(frozen=True)
class NetworkReport:
    """What :func:`validate_network` found."""

    network: str
    nodes: int
    edges: int
    components: int
    dangling_ends: tuple[str, ...] = ()
    self_loops: tuple[str, ...] = ()
    duplicate_segments: tuple[tuple[str, ...], ...] = ()
    unplaced_nodes: tuple[str, ...] = ()
    zero_length: tuple[str, ...] = ()
    ends_off_node: tuple[tuple[str, str, float], ...] = ()
    against_slope: tuple[str, ...] = ()
    above_ground: tuple[str, ...] = ()
    too_deep: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not (self.self_loops or self.duplicate_segments or self.unplaced_nodes
                    or self.zero_length or self.ends_off_node or self.against_slope
                    or self.above_ground or self.too_deep)


#: Node types that a pipe passes through; one pipe ending there is suspicious.
PASS_THROUGH_TYPES = ("Junction", "Bend", "Tee", "Cross", "Reducer", "MaterialChange")

#: Networks that flow by gravity: their segments must fall from start to end.
GRAVITY_NETWORKS = ("PS", "YS", "WS")


def _duplicate_groups(g: nx.MultiGraph) -> tuple[tuple[str, ...], ...]:
    """Groups of two or more segments of the same type joining the same two
    nodes (a weir or pump beside a conduit is a real parallel link)."""
    pairs: Counter = Counter()
    members: dict[tuple, list[str]] = {}
    for u, v, k in g.edges(keys=True):
        if u == v:
            continue
        key = ((u, v) if str(u) <= str(v) else (v, u), g.edges[u, v, k].get("type") or "")
        pairs[key] += 1
        members.setdefault(key, []).append(k)
    return tuple(tuple(sorted(members[p])) for p, c in sorted(pairs.items()) if c > 1)


def validate_network(g: nx.MultiGraph, *, tolerance: float = 0.05, max_depth: float = 10.0,
                     gravity: bool | None = None) -> NetworkReport:
    """Check a network graph and report (never repair).

    * dangling ends: nodes with one pipe that are bare line ends or pass-through
      points (junction, bend, tee: see :data:`PASS_THROUGH_TYPES`); a manhole,
      valve, outfall, stub or service connection ends a line legitimately;
    * self loops: segments that start and end at the same node;
    * duplicate segments: two or more segments of the same type joining the
      same two nodes (the same pipe surveyed twice?); a weir or pump beside a
      conduit is not a duplicate;
    * unplaced nodes: nodes whose position nobody gives;
    * components: the number of disconnected parts;
    * zero-length segments (shorter than ``tolerance``);
    * ends off their node: a centreline end more than ``tolerance`` (plan)
      from the node feature it names;
    * against the slope: in a gravity network (drainage by default, or
      ``gravity=True``), a segment whose end lies higher than its start;
    * above ground / too deep: the pipe's top above the ground of its end
      node, or its centre more than ``max_depth`` below it.
    """
    if gravity is None:
        # "YS" or "YS:<file>:<system>": the CJJ 61 code comes first
        gravity = str(g.graph.get("network", "")).split(":")[0] in GRAVITY_NETWORKS
    zero, off, uphill, above, deep = [], [], [], [], []
    for _u, _v, k, data in g.edges(keys=True, data=True):
        if data.get("length") is not None and data["length"] < tolerance:
            zero.append(k)
        ends = data.get("ends")
        if ends is None:
            continue
        for node, xyz in ((data["start"], ends[0]), (data["end"], ends[1])):
            nd = g.nodes[node]
            if "feature" in nd:
                dist = float(np.hypot(xyz[0] - nd["pos"][0], xyz[1] - nd["pos"][1]))
                if dist > tolerance:
                    off.append((k, node, round(dist, 3)))
            ground = nd.get("ground")
            if ground is not None and not np.isnan(xyz[2]):
                if xyz[2] + data.get("half_height", 0.0) > ground + tolerance:
                    above.append(k)
                elif ground - xyz[2] > max_depth:
                    deep.append(k)
        if gravity and not (np.isnan(ends[0][2]) or np.isnan(ends[1][2])):
            if ends[1][2] > ends[0][2] + tolerance:
                uphill.append(k)
    dangling = sorted(n for n, deg in g.degree() if deg == 1 and (
        "feature" not in g.nodes[n] or g.nodes[n].get("type") in PASS_THROUGH_TYPES))
    loops = sorted(k for u, v, k in g.edges(keys=True) if u == v)
    dups = _duplicate_groups(g)
    unplaced = sorted(n for n in g.nodes if "pos" not in g.nodes[n])
    comps = nx.number_connected_components(g) if g.number_of_nodes() else 0
    problems = []
    if comps > 1:
        problems.append(f"{comps} disconnected components")
    if dangling:
        problems.append(f"{len(dangling)} dangling ends")
    if loops:
        problems.append(f"{len(loops)} self loops")
    if dups:
        problems.append(f"{len(dups)} duplicate segment groups")
    if unplaced:
        problems.append(f"{len(unplaced)} nodes without position")
    for items, what in ((zero, "zero-length segments"), (off, "segment ends off their node"),
                        (uphill, "gravity segments sloping against the flow"),
                        (sorted(set(above)), "segments above ground"),
                        (sorted(set(deep)), f"segments deeper than {max_depth:g} m")):
        if items:
            problems.append(f"{len(items)} {what}")
    return NetworkReport(
        network=g.graph.get("network", "?"), nodes=g.number_of_nodes(),
        edges=g.number_of_edges(), components=comps, dangling_ends=tuple(dangling),
        self_loops=tuple(loops), duplicate_segments=dups, unplaced_nodes=tuple(unplaced),
        zero_length=tuple(sorted(zero)), ends_off_node=tuple(sorted(off)),
        against_slope=tuple(sorted(uphill)), above_ground=tuple(sorted(set(above))),
        too_deep=tuple(sorted(set(deep))), problems=tuple(problems),
    )


def networks(store: TwinStore) -> list[str]:
    """The names of the networks that have edges in the twin."""
    return sorted({e[1] for e in store.edges()})
