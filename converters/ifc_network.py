"""IFC pipe networks: segments as edges between the nodes their ports connect to.

Distribution elements are joined through ports: a segment's ports are
nested in it (``IfcRelNests``, IFC4) or attached to it
(``IfcRelConnectsPortToElement``, IFC2X3), and two ports are joined by
``IfcRelConnectsPorts``. A segment becomes an edge from the chamber, fitting
or valve behind its SINK port (where the flow enters) to the one behind its
SOURCE port. Where two segments meet directly, or a port is free, a
junction or end node is made at the port, named after the smallest GlobalId
among the ports it joins.

Infrastructure pipes are often delivered as an 'Axis' polyline without a
body (:func:`axis_points`); their centreline is that polyline, else the line
between their ports, else the long axis of their mesh.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from shapely.geometry import LineString, Point

from twin.model import Edge, Feature

from .ifc_georef import local_origin
from .ifc_semantics import is_segment, system_of, text_name


def network_topology(model: Any, elements: Any, codes: Any, meshes: Any, placer: Any,  # noqa: C901
                     unit: Any, prefix: Any, ctx: Any, axes: Any
                     ) -> tuple[dict[Any, Any], dict[int, Edge]]:
    """Edges for segments and positions for nodes, from the port connections.

    Ports of segments that connect directly to each other (no chamber or
    fitting between them) are grouped into one junction node.
    """
    out: dict[Any, Any] = {"junctions": []}
    edges: dict[int, Edge] = {}
    if all(codes.get(e.id()) is None for e in elements):
        return out, edges  # no network (and no networkx to import: half a second)
    import ifcopenshell.util.system as us
    import networkx as nx

    stem = ctx.source.stem
    node_ids = {e.id() for e in elements if codes.get(e.id()) is not None
                and not is_segment(e)}
    seg_ports: dict[int, list[Any]] = {}
    # port id -> (the port it connects to, that port's element), looked up once
    link: dict[int, tuple[Any, Any]] = {}
    groups = nx.utils.UnionFind()
    local: dict[int, np.ndarray] = {}
    for e in elements:
        if codes.get(e.id()) is None or e.id() in node_ids:
            continue
        ports = list(us.get_ports(e))
        seg_ports[e.id()] = ports
        for p in ports:
            origin = local_origin(p, unit)
            if origin is not None:
                local[p.id()] = origin
            other = us.get_connected_port(p)
            owner = us.get_port_element(other) if other is not None else None
            link[p.id()] = (other, owner)
            groups.union(p.id())
            if other is not None and owner is not None and owner.id() not in node_ids:
                groups.union(p.id(), other.id())
    # every port position in one transformation
    placed = placer(np.array(list(local.values()))) if local else np.empty((0, 3))
    port_pos = dict(zip(local, placed))
    # a junction is named after the smallest GlobalId among its ports
    junction_name: dict[int, str] = {}
    for members in groups.to_sets():
        name = min(model.by_id(q).GlobalId for q in members)
        for q in members:
            junction_name[q] = f"{prefix}:node:{name}"
    made: set[str] = set()
    systems = model.by_type("IfcSystem")
    names = Counter(text_name(sy) for sy in systems)

    def network_of(e: Any) -> str:
        """``CODE:file:system``; systems that share a name are told apart by GlobalId."""
        system = system_of(e)
        if system is None:
            return f"{codes[e.id()]}:{stem}"
        name = text_name(system)
        label = name if name and names[name] == 1 else f"{name or 'system'}#{system.GlobalId}"
        return f"{codes[e.id()]}:{stem}:{label}"

    for e_id, ports in seg_ports.items():
        e = model.by_id(e_id)
        network = network_of(e)
        ends: list[tuple[str, np.ndarray | None, str]] = []
        for p in ports:
            other, owner = link[p.id()]
            flow = str(getattr(p, "FlowDirection", "") or "")
            if owner is not None and owner.id() in node_ids:
                ends.append((f"{prefix}:{owner.GlobalId}", port_pos.get(p.id()), flow))
                continue
            jid = junction_name[p.id()]
            if jid not in made:
                made.add(jid)
                pos = port_pos.get(p.id())
                kind = "Junction" if other is not None else "PipeEnd"
                if pos is not None:  # in plan only: a junction is not on the ground
                    out["junctions"].append(Feature(
                        id=jid, layer="pipe_nodes", type=kind, footprint=Point(pos[:2]),
                        attributes={"network": network, "ifc_port": p.GlobalId}))
            ends.append((jid, port_pos.get(p.id()), flow))
        if len(ends) < 2:
            continue
        # a segment runs from its SINK port (flow enters) to its SOURCE port
        ends.sort(key=lambda t: {"SINK": 0, "SOURCE": 2}.get(t[2], 1))
        (a, pa, _), (b, pb, _) = ends[0], ends[-1]
        edges[e_id] = Edge(network, a, b)
        if e_id in axes and len(axes[e_id]) >= 2:
            line = axes[e_id]
            if pa is not None and np.linalg.norm(line[-1] - pa) < np.linalg.norm(line[0] - pa):
                line = line[::-1]
            out[("line", e_id)] = LineString(line)
        elif pa is not None and pb is not None and np.any(pa != pb):
            out[("line", e_id)] = LineString([pa, pb])
        elif e_id in meshes:
            out[("line", e_id)] = axis_line(meshes[e_id].vertices)
    for e in elements:
        if e.id() in node_ids:
            out[("network", e.id())] = network_of(e)
            mesh = meshes.get(e.id())
            origin = local_origin(e, unit)
            if origin is not None:
                x, y, z = placer(origin.reshape(1, 3))[0]
                # a node stands on the ground: its top (a chamber's cover) is its Z
                top = float(mesh.vertices[:, 2].max()) if mesh is not None else z
                out[("point", e.id())] = Point(x, y, max(z, top))
    return out, edges


def axis_points(element: Any, unit: float) -> np.ndarray | None:
    """``(n, 3)`` local metres of an element's 'Axis' polyline, if it has one
    (infrastructure pipes are often delivered as axes without a body)."""
    rep = element.Representation
    if rep is None:
        return None
    import ifcopenshell.util.placement as up

    for r in rep.Representations:
        if (r.RepresentationIdentifier or "") != "Axis":
            continue
        for item in r.Items:
            if item.is_a("IfcPolyline"):
                pts = [tuple(p.Coordinates) + (0.0,) * (3 - len(p.Coordinates))
                       for p in item.Points]
            elif item.is_a("IfcIndexedPolyCurve"):
                pts = [tuple(c) + (0.0,) * (3 - len(c)) for c in item.Points.CoordList]
            else:
                continue
            local = np.asarray(pts, dtype=np.float64)
            m = (up.get_local_placement(element.ObjectPlacement)
                 if element.ObjectPlacement is not None else np.eye(4))
            world = local @ m[:3, :3].T + m[:3, 3]
            return world * unit
    return None


_DIAMETER_PROPS = ("NominalDiameter", "OuterDiameter", "InnerDiameter")


def pipe_diameter(attrs: dict[str, Any], vertices: np.ndarray) -> tuple[float, str] | None:
    """A pipe's diameter in mm: from its property sets, else twice the
    largest distance of its mesh from its axis (the outer diameter)."""
    for key, value in attrs.items():
        if key.rsplit(".", 1)[-1] in _DIAMETER_PROPS and isinstance(value, (int, float)) \
                and value > 0:
            metres = value if value < 10 else value / 1000.0  # metres or millimetres
            return round(metres * 1000.0, 1), f"property {key}"
    if len(vertices) < 3:
        return None
    c, axis = _principal_axis(vertices)
    rel = vertices - c
    radial = rel - np.outer(rel @ axis, axis)
    r = float(np.sqrt((radial * radial).sum(axis=1)).max())
    return (round(2000.0 * r, 1), "geometry (outer)") if r > 0 else None


def _principal_axis(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroid ``(3,)`` and unit direction ``(3,)`` of the longest extent of ``(n, 3)`` points."""
    c = vertices.mean(axis=0)
    _, _, vt = np.linalg.svd(vertices - c, full_matrices=False)
    return c, vt[0]


def axis_line(vertices: np.ndarray) -> LineString:
    """The long axis of a segment's mesh, end to end (no ports to go by)."""
    c, axis = _principal_axis(vertices)
    t = (vertices - c) @ axis
    return LineString([c + axis * t.min(), c + axis * t.max()])
