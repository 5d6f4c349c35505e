"""Walking distances along a street network.

The network is a set of centrelines (the ``road_centrelines`` layer, or any
lines), noded where they cross. A place joins the network at the nearest
point of its nearest line: the walk from a home to a facility is the leg from
the home to the network, the shortest path along the network, and the leg
from the network to the facility (to the edge of its footprint, so a park
counts from its gate on the street, not its centre). An area opens onto
every street that passes within :data:`AREA_SLACK` of its nearest one.

One Dijkstra run from all facilities of a kind at once (a virtual source
joined to each facility's access point by its leg) gives every home its
distance to the nearest facility of that kind.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from ..errors import AnalysisError

#: Access points closer than this (m) along a line share one graph node.
_SNAP = 1e-3
#: An area (a park, a school's grounds) opens onto every street this much
#: farther than its nearest one (m): a block has gates on all its sides.
AREA_SLACK = 15.0


@dataclass(frozen=True)
class _Access:
    part: int        # index of the noded line part
    along: float     # distance along that part (m)
    leg: float       # straight distance from the place to the network (m)


class StreetNetwork:
    """A routable network built from centrelines (any CRS in metres)."""

    def __init__(self, lines: list[BaseGeometry]) -> None:
        lines = [g for g in lines if g is not None and not g.is_empty
                 and g.geom_type in ("LineString", "MultiLineString")]
        if not lines:
            raise AnalysisError("a street network needs at least one centreline")
        noded = shapely.node(shapely.force_2d(shapely.MultiLineString(
            list(shapely.get_parts(lines)))))
        parts = [p for p in shapely.get_parts(noded) if p.length > 0]
        self.parts = np.array(parts, dtype=object)
        self.lengths = shapely.length(self.parts)
        self.tree = shapely.STRtree(self.parts)
        self.km = float(self.lengths.sum()) / 1000

    def _node(self, xy) -> tuple[float, float]:
        return (round(float(xy[0]) / _SNAP) * _SNAP, round(float(xy[1]) / _SNAP) * _SNAP)

    def access(self, places: list[BaseGeometry]) -> list[_Access]:
        """Where each place (point or polygon) joins the network."""
        geoms = np.array(places, dtype=object)
        idx, dist = self.tree.query_nearest(geoms, return_distance=True, all_matches=False)
        part_of = np.empty(len(geoms), dtype=np.int64)
        leg = np.empty(len(geoms))
        part_of[idx[0]] = idx[1]
        leg[idx[0]] = dist
        # the point of the line nearest to the place
        near = shapely.get_point(shapely.shortest_line(geoms, self.parts[part_of]), 1)
        along = shapely.line_locate_point(self.parts[part_of], near)
        return [_Access(int(p), float(a), float(g)) for p, a, g in zip(part_of, along, leg)]

    def area_access(self, area: BaseGeometry) -> list[_Access]:
        """Every street an area opens onto (within :data:`AREA_SLACK` of its nearest)."""
        _, d0 = self.tree.query_nearest(area, return_distance=True, all_matches=False)
        parts = self.tree.query(area, predicate="dwithin", distance=float(d0[0]) + AREA_SLACK)
        lines = shapely.shortest_line(area, self.parts[parts])
        near = shapely.get_point(lines, 1)
        along = shapely.line_locate_point(self.parts[parts], near)
        return [_Access(int(p), float(a), float(g))
                for p, a, g in zip(parts, along, shapely.length(lines))]

    def graph(self, accesses: list[_Access]) -> tuple[nx.Graph, list]:
        """The network with a node at every access point; returns the graph and
        each access point's node."""
        on_part: dict[int, list[tuple[float, int]]] = defaultdict(list)
        for k, a in enumerate(accesses):
            on_part[a.part].append((a.along, k))
        g = nx.Graph()
        node_of: list = [None] * len(accesses)
        for i, part in enumerate(self.parts):
            coords = shapely.get_coordinates(part)
            start, end = self._node(coords[0]), self._node(coords[-1])
            stops = sorted(on_part.get(i, []))
            prev: Any = start  # an end node, then access nodes
            prev_at = 0.0
            for along, k in stops:
                if along <= _SNAP:
                    node_of[k] = start
                    continue
                if along >= self.lengths[i] - _SNAP:
                    node_of[k] = end
                    continue
                here = ("access", i, round(along / _SNAP))
                node_of[k] = here
                if here != prev:
                    _join(g, prev, here, along - prev_at)
                    prev, prev_at = here, along
            _join(g, prev, end, float(self.lengths[i]) - prev_at)
        return g, node_of

    def nearest(self, homes: list[BaseGeometry], facilities: dict[str, list[BaseGeometry]]
                ) -> dict[str, np.ndarray]:
        """For each kind of facility, every home's walking distance (m) to the
        nearest facility of that kind (``inf`` where the network does not
        connect them)."""
        n = len(homes)
        fac_acc: dict[str, list[_Access]] = {}
        for k, places in facilities.items():
            fac_acc[k] = [a for f in places for a in (
                self.area_access(f) if f.geom_type in ("Polygon", "MultiPolygon")
                else self.access([f]))]
        home_acc = self.access(list(homes)) if n else []
        acc = home_acc + [a for k in facilities for a in fac_acc[k]]
        g, node_of = self.graph(acc)
        out = {}
        start = n
        for k in facilities:
            src = ("source", k)
            for j in range(start, start + len(fac_acc[k])):
                _join(g, src, node_of[j], acc[j].leg)
            dist = nx.single_source_dijkstra_path_length(g, src, weight="w")
            g.remove_node(src)
            out[k] = np.array([dist.get(node_of[i], np.inf) + acc[i].leg for i in range(n)])
            start += len(fac_acc[k])
        return out


def _join(g: nx.Graph, a, b, w: float) -> None:
    """Add an edge, keeping the shorter of parallel ones."""
    if a == b:
        return
    if not g.has_edge(a, b) or g[a][b]["w"] > w:
        g.add_edge(a, b, w=float(w))
