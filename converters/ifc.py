"""IFC building and infrastructure models (IFC2X3, IFC4, IFC4X3) into the twin.

How a BIM model becomes twin features:

* **Opening**: ifcopenshell reads IFC2X3, IFC4 and IFC4X3_ADD2. Files whose
  header names a pre-release IFC4.3 schema (``IFC4X3_RC1`` .. ``RC4``, common
  in infrastructure pilots) are read as IFC4X3_ADD2 and the report says so;
  if that fails the error names the schema.
* **Placement**: :mod:`converters.ifc_georef` finds the georeferencing
  (IfcMapConversion, ePSet_MapConversion, IfcSite latitude/longitude, or the
  user's ``--origin``/``--rotation``/``--crs``), and every coordinate goes
  local metres -> map CRS -> twin CRS with pyproj.
* **Geometry**: :mod:`converters.ifc_geometry` converts element shapes with
  a fast kernel and retries the failures with OpenCASCADE, each in a worker
  process. Meshes keep their material per face (as face labels).
* **Hierarchy**: site, building, storey, space and infrastructure facilities
  become features; each element's parent is the whole it is part of or the
  spatial element that contains it. Ids are ``ifc:<GlobalId>``.
* **Layers**: buildings go to ``buildings`` with an LoD1 envelope (the
  ground projection of their elements, from the lowest to the highest
  point; storeys and height derived), their elements to
  ``building_elements``, pipes and their nodes to the utility layer of their
  distribution system (see :mod:`converters.ifc_semantics`).
* **Networks**: segments become edges between the chambers, fittings or
  valves their ports connect to (``IfcRelConnectsPorts`` via
  ``IfcRelNests`` or ``IfcRelConnectsPortToElement``); where two segments
  meet directly, or a port is free, a junction or end node is made at the
  port.
* **Attributes**: property sets, quantities, type and material
  (:func:`converters.ifc_semantics.attributes_of`).
* **Reported**: elements by class, the georeferencing method, each element
  no geometry kernel could convert (imported without a mesh, with its
  reason), the kernels used and their times.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point

from twin.attributes import coerce_typed
from twin.conflation import match_footprint
from twin.crs import transform_xyz
from twin.errors import ConversionError, GeometryError, TwinError
from twin.geometry import extrude_footprint
from twin.layers import layer_for_utility_code
from twin.model import Edge, Feature, Mesh

from . import ifc_report
from .base import MAX_FILE_BYTES, ConversionContext, ConverterSpec
from .ifc_geometry import DEFAULT_KERNELS, EXCLUDED_CLASSES, element_meshes
from .ifc_georef import Georef, local_origin, read_georef
from .ifc_semantics import (
    SPATIAL_LAYER,
    attributes_of,
    fix_text,
    is_network_element,
    is_segment,
    parent_of,
    storey_elevation,
    system_of,
    utility_code,
)

NAME = "ifc"
VERSION = "0.1.0"

_PRERELEASE = re.compile(rb"FILE_SCHEMA\s*\(\s*\(\s*'(IFC4X3_RC[1-4])'\s*\)\s*\)", re.I)
_SCHEMA = re.compile(rb"FILE_SCHEMA\s*\(\s*\(\s*'([^']*)'", re.I)
#: A building element lower than this below the storey at elevation 0 counts
#: as below ground when counting storeys.
_GROUND_TOLERANCE = 0.5
#: Elements that do not shape a building's envelope.
_NOT_ENVELOPE = ("IfcFurnishingElement", "IfcSpace", "IfcDistributionElement",
                 "IfcFurniture", "IfcSystemFurnitureElement")


def sniff(head: bytes) -> bool:
    return head.lstrip()[:13].upper() == b"ISO-10303-21;"


def open_model(path: Path, report: dict[str, Any]) -> tuple[Any, str | None]:
    """Open an IFC-SPF file; returns the model and, when the file had to be
    rewritten to be read (a pre-release IFC4.3 schema), its rewritten text."""
    import ifcopenshell

    src = str(path)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ConversionError(f"{path}: {size} bytes is over the limit of {MAX_FILE_BYTES}",
                              source=src)
    with open(path, "rb") as fh:
        head = fh.read(8192)
        fh.seek(max(0, size - 4096))
        tail = fh.read()
    if not sniff(head):
        raise ConversionError(f"{path}: not an IFC-SPF file (no ISO-10303-21 header)",
                              source=src)
    if b"END-ISO-10303-21" not in tail.upper():
        # ifcopenshell reads a cut-off file up to the cut without a word
        raise ConversionError(
            f"{path}: the file is incomplete: it does not end with 'END-ISO-10303-21;' "
            f"({size} bytes; an interrupted download or export?)", source=src)
    schema = _SCHEMA.search(head)
    report["schema_in_file"] = schema.group(1).decode(errors="replace") if schema else None
    pre = _PRERELEASE.search(head)
    if pre is not None:
        name = pre.group(1).decode()
        data = path.read_bytes()
        text = _PRERELEASE.sub(b"FILE_SCHEMA(('IFC4X3_ADD2'))", data, count=1)
        decoded = text.decode("latin-1")
        try:
            model = ifcopenshell.file.from_string(decoded)
        except Exception as exc:
            raise ConversionError(
                f"{path}: the header names the pre-release schema {name}, which cannot be "
                f"read as IFC4X3_ADD2 ({exc})", source=src) from None
        report["schema_note"] = f"header names the pre-release schema {name}; read as IFC4X3_ADD2"
        return model, decoded
    try:
        return ifcopenshell.open(src), None
    except Exception as exc:
        what = report["schema_in_file"]
        raise ConversionError(f"{path}: cannot be read as IFC (schema {what!r}): {exc}",
                              source=src) from None


class _Placer:
    """Local metres -> twin CRS, vectorised."""

    def __init__(self, georef: Georef, ctx: ConversionContext) -> None:
        self.georef, self.ctx = georef, ctx

    def __call__(self, xyz: np.ndarray) -> np.ndarray:
        return transform_xyz(self.georef.crs, self.ctx.twin_crs, self.georef.to_map(xyz),
                             source=str(self.ctx.source))


def _plan_outline(vertices: np.ndarray, faces: np.ndarray) -> Any:
    """The ground projection of a mesh ``(n, 3)``/``(m, 3)``: the union of the
    shadows of its upward-facing triangles (a closed solid's downward faces
    cast the same shadow). Meshes of more than 400 such triangles (curved
    furniture, fittings) get their convex hull instead, to bound the time."""
    tri = vertices[faces]
    normal_z = ((tri[:, 1, 0] - tri[:, 0, 0]) * (tri[:, 2, 1] - tri[:, 0, 1])
                - (tri[:, 2, 0] - tri[:, 0, 0]) * (tri[:, 1, 1] - tri[:, 0, 1]))
    up = tri[np.abs(normal_z) > 2e-6][:, :, :2]
    if len(up) == 0 or len(up) > 400:
        hull = shapely.convex_hull(shapely.multipoints(vertices[:, :2]))
        return hull if hull.geom_type == "Polygon" else None
    if len(up) > 8:
        upward = normal_z[np.abs(normal_z) > 2e-6] > 0
        if upward.any():
            up = up[upward]
    rings = np.concatenate([up, up[:, :1]], axis=1)
    return shapely.union_all(shapely.polygons(rings))


def _as_polygons(geom: Any) -> Any:
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [g for g in getattr(geom, "geoms", []) if g.geom_type == "Polygon"]
    return shapely.MultiPolygon(polys) if polys else None


def _mesh(shape: Any, placer: _Placer) -> Mesh:
    labels = shape.materials
    fl = shape.material_index if labels else None
    return Mesh(placer(shape.vertices), shape.faces, fl, labels)


def convert(ctx: ConversionContext) -> Iterator[Feature]:
    src = str(ctx.source)
    model, text = open_model(ctx.source, ctx.report)
    ctx.report["schema"] = model.schema_identifier if hasattr(model, "schema_identifier") \
        else model.schema
    origin = ctx.options.get("origin")
    georef = read_georef(model, src, crs=ctx.source_crs, origin=origin,
                         rotation=ctx.options.get("rotation"), twin_crs=ctx.twin_crs)
    ctx.report["georeferencing"] = georef.describe()
    placer = _Placer(georef, ctx)
    prefix = ctx.options.get("id_prefix") or "ifc"
    unit = _unit_scale(model)

    def fid(entity: Any) -> str:
        return f"{prefix}:{entity.GlobalId}"

    products = [p for p in model.by_type("IfcProduct")
                if not any(p.is_a(c) for c in EXCLUDED_CLASSES) and not p.is_a("IfcPort")]
    ctx.report["elements_by_class"] = dict(Counter(p.is_a() for p in products).most_common())
    spatial = [p for p in products if p.is_a("IfcSpatialElement") or
               p.is_a("IfcSpatialStructureElement")]
    spatial_ids = {p.id() for p in spatial}
    elements = [p for p in products if p.id() not in spatial_ids]

    # --- geometry -----------------------------------------------------------
    kernels = tuple(ctx.options.get("kernels") or DEFAULT_KERNELS)
    want = [p.id() for p in products if p.Representation is not None
            and (p.id() not in spatial_ids or p.is_a("IfcSpace") or p.is_a("IfcSite"))]
    total = len(want)
    ctx.progress(0, total)
    geom = element_meshes(src, want, kernels=kernels, text=text,
                          threads=ctx.options.get("threads"),
                          progress=lambda n: ctx.progress(n, total))
    ctx.report["geometry"] = {
        "requested": total, "converted": len(geom.meshes), "failed": len(geom.failed),
        "triangles": int(sum(len(m.faces) for m in geom.meshes.values())),
        "kernels": [{"kernel": r.kernel, "requested": r.requested, "converted": r.converted,
                     "seconds": round(r.seconds, 3), "crashed": r.crashed} for r in geom.runs],
    }
    axes: dict[int, np.ndarray] = {}
    for sid, reason in geom.failed.items():
        e = model.by_id(sid)
        axis = _axis_points(e, unit)
        if axis is not None:
            axes[sid] = placer(axis)
            reason = "no body representation: imported with its Axis curve only"
        ctx.report.setdefault("no_geometry", []).append(
            {"id": fid(e), "class": e.is_a(), "name": _name(e), "reason": reason})

    meshes: dict[int, Mesh] = {}
    for sid, shape in geom.meshes.items():
        try:
            meshes[sid] = _mesh(shape, placer)
        except GeometryError as exc:
            e = model.by_id(sid)
            ctx.skip(fid(e), f"{e.is_a()} {e.Name!r}: geometry unusable: {exc}")
    # ground projections, once per element (element footprints and envelopes)
    outlines = {sid: _plan_outline(m.vertices, m.faces) for sid, m in meshes.items()}

    # --- networks -----------------------------------------------------------
    utility_opt = ctx.options.get("utility")
    codes: dict[int, str | None] = {}
    unclassified = 0
    for e in elements:
        if is_network_element(e):
            code = utility_code(e) or (utility_opt.upper() if utility_opt else None)
            codes[e.id()] = code
            unclassified += code is None
    if unclassified:
        ctx.report["unclassified_network_elements"] = (
            f"{unclassified} pipe or cable elements belong to no system of a known type; kept "
            "on building_elements (pass --utility CODE to put them on a utility layer)")
    net_features, edges = _network_topology(model, elements, codes, meshes, placer, unit,
                                            prefix, ctx, axes)

    # --- buildings: envelope --------------------------------------------------
    building_of: dict[int, int] = {}
    for e in products:
        b = _building_of(e)
        if b is not None:
            building_of[e.id()] = b.id()

    known = frozenset(p.id() for p in products)
    out_count = 0
    for sp in spatial:
        feat = _spatial_feature(sp, fid, meshes, outlines, products, building_of, model, unit,
                                georef, ctx)
        if feat is not None:
            out_count += 1
            yield feat
    for e in elements:
        sid = e.id()
        attrs = attributes_of(e)
        parent = parent_of(e)
        container = _storey_of(e)
        if container is not None and container.Name:
            attrs["storey"] = _name(container)
        mesh = meshes.get(sid)
        code = codes.get(sid)
        layer = "building_elements"
        footprint = None
        edge = edges.get(sid)
        if code is not None:
            segment = is_segment(e)
            layer = layer_for_utility_code(code) if segment else "pipe_nodes"
            attrs["network"] = edge.network if edge is not None else \
                net_features.get(("network", sid), code)
            system = system_of(e)
            if system is not None and system.Name:
                attrs["system"] = _name(system)
            footprint = net_features.get(("line", sid)) or net_features.get(("point", sid))
            if footprint is None and mesh is not None:
                footprint = _axis_line(mesh.vertices) if segment else \
                    Point(mesh.vertices.mean(axis=0))
            if footprint is None:
                layer, edge = "building_elements", None
        if edge is not None and mesh is not None and "diameter_mm" not in attrs:
            d = _pipe_diameter(attrs, mesh.vertices)
            if d is not None:
                attrs["diameter_mm"], attrs["diameter_source"] = d
        if layer == "building_elements" and mesh is not None:
            footprint = _as_polygons(outlines.get(sid))
        yield Feature(id=fid(e), layer=layer, type=e.is_a(), name=_name(e),
                      parent=fid(parent) if parent is not None and parent.id() in known
                      else None,
                      attributes=attrs, footprint=footprint,
                      meshes={"bim": mesh} if mesh is not None else {},
                      edge=edge if layer != "building_elements" else None,
                      source_id=e.GlobalId)
        out_count += 1
    for f in net_features.get("junctions", []):
        out_count += 1
        yield f
    ctx.report["features"] = out_count


def _name(entity: Any) -> str | None:
    return fix_text(entity.Name) if getattr(entity, "Name", None) else None


def _unit_scale(model: Any) -> float:
    import ifcopenshell.util.unit as uu

    return float(uu.calculate_unit_scale(model))


def _storey_of(e: Any) -> Any | None:
    import ifcopenshell.util.element as ue

    c = ue.get_container(e)
    while c is not None and not c.is_a("IfcBuildingStorey"):
        c = ue.get_aggregate(c) if not c.is_a("IfcBuilding") else None
    return c


def _building_of(e: Any) -> Any | None:
    import ifcopenshell.util.element as ue

    seen = 0
    cur = e
    while cur is not None and seen < 64:
        if cur.is_a("IfcBuilding"):
            return cur
        nxt = ue.get_aggregate(cur)
        if nxt is None:
            nxt = ue.get_container(cur)
        cur = nxt
        seen += 1
    return None


def _spatial_feature(sp: Any, fid, meshes, outlines, products, building_of, model, unit,
                     georef, ctx: ConversionContext) -> Feature | None:
    import ifcopenshell.util.element as ue

    attrs = attributes_of(sp)
    whole = ue.get_aggregate(sp)
    parent = fid(whole) if whole is not None and not whole.is_a("IfcProject") else None
    mesh = meshes.get(sp.id())
    if sp.is_a("IfcBuilding"):
        return _building_feature(sp, parent, attrs, meshes, outlines, products, building_of,
                                 model, unit, georef, ctx, fid)
    if sp.is_a("IfcBuildingStorey"):
        elev = storey_elevation(sp, unit)
        if elev is not None:
            attrs["elevation_m"] = round(elev, 4)
        return Feature(id=fid(sp), layer="building_elements", type=sp.is_a(),
                       name=_name(sp), parent=parent, attributes=attrs,
                       source_id=sp.GlobalId)
    if sp.is_a("IfcSpace"):
        fp = _as_polygons(outlines.get(sp.id()))
        return Feature(id=fid(sp), layer="building_elements", type="IfcSpace",
                       name=_name(sp), parent=parent, attributes=attrs, footprint=fp,
                       source_id=sp.GlobalId,
                       bbox=tuple(mesh.bounds) if mesh is not None else None)
    layer = next((lay for cls, lay in SPATIAL_LAYER.items() if sp.is_a(cls)), "generic")
    fp = _as_polygons(outlines.get(sp.id()))
    return Feature(id=fid(sp), layer=layer, type=sp.is_a(), name=_name(sp),
                   parent=parent, attributes=attrs, footprint=fp,
                   meshes={"bim": mesh} if mesh is not None else {}, source_id=sp.GlobalId)


def _conflate(feature_id: str, name: str | None, footprint, attrs: dict,
              ctx: ConversionContext) -> None:
    """Link the BIM building to the GIS buildings it stands on (see twin.conflation)."""
    m = match_footprint(footprint, ctx.buildings_near(footprint))
    rec = {"bim": feature_id, "name": name, "gis": list(m.gis_ids), "iou": m.iou,
           "partial": [list(p) for p in m.partial]}
    if m.linked:
        attrs.update(same_as=list(m.gis_ids), conflation_iou=m.iou, map_geometry="bim")
    if m.linked or m.partial:
        ctx.report.setdefault("conflation", []).append(rec)


#: Pset_BuildingCommon property -> typed twin attribute (both kept).
TYPED_FROM_PSET = {"Pset_BuildingCommon.YearOfConstruction": "year_built",
                   "Pset_BuildingCommon.OccupancyType": "function"}


def _typed_from_pset(attrs: dict, feature_id: str, ctx: ConversionContext) -> None:
    for src, dst in TYPED_FROM_PSET.items():
        value = attrs.get(src)
        if value in (None, "") or dst in attrs:
            continue
        try:
            attrs[dst] = coerce_typed(dst, value, feature_id)
        except TwinError:
            ctx.report.setdefault("warnings", []).append(
                f"{feature_id}: {src}={value!r} does not fit the typed attribute {dst}; "
                f"kept as {src} only")


def _building_feature(b, parent, attrs, meshes, outlines, products, building_of, model, unit,
                      georef, ctx, fid) -> Feature:
    """An IfcBuilding with an LoD1 envelope: the union of its elements' ground
    projections, extruded from their lowest to their highest point."""
    mine = [p for p in products if building_of.get(p.id()) == b.id() and p.id() in meshes
            and not any(p.is_a(c) for c in _NOT_ENVELOPE)]
    shadows = []
    zmin, zmax = np.inf, -np.inf
    for p in mine:
        m = meshes[p.id()]
        outline = outlines.get(p.id())
        if outline is not None and not outline.is_empty:
            shadows.append(outline)
        zmin = min(zmin, float(m.vertices[:, 2].min()))
        zmax = max(zmax, float(m.vertices[:, 2].max()))
    storeys = [s for s in model.by_type("IfcBuildingStorey") if building_of.get(s.id()) == b.id()]
    elevs = sorted(e for e in (storey_elevation(s, unit) for s in storeys) if e is not None)
    if elevs:
        attrs["storeys"] = sum(1 for e in elevs if e >= -_GROUND_TOLERANCE)
        below = sum(1 for e in elevs if e < -_GROUND_TOLERANCE)
        if below:
            attrs["storeys_below"] = below
    meshes_out: dict[str, Mesh] = {}
    footprint = None
    if shadows:
        merged = shapely.union_all(shadows, grid_size=1e-3)
        # close the hairline gaps between walls, then drop slivers
        merged = merged.buffer(0.05, join_style="mitre").buffer(-0.05, join_style="mitre")
        footprint = _as_polygons(shapely.simplify(merged, 0.01))
    if footprint is not None and zmax > zmin:
        ground = zmin
        above = [e for e in elevs if e >= -_GROUND_TOLERANCE]
        if above and len(above) < len(elevs):
            # basements: the height is measured from the ground floor's level
            ground = max(zmin, georef.origin[2] + above[0])
        attrs["height"] = round(zmax - ground, 3)
        attrs["base_m"], attrs["top_m"] = round(zmin, 3), round(zmax, 3)
        try:
            meshes_out["1"] = extrude_footprint(footprint, zmin, zmax)
        except GeometryError as exc:
            ctx.skip(fid(b), f"building envelope could not be built: {exc}")
    attrs["envelope"] = "LoD1 from the ground projection of the BIM elements"
    _typed_from_pset(attrs, fid(b), ctx)
    if footprint is not None and ctx.buildings_near is not None:
        _conflate(fid(b), _name(b), footprint, attrs, ctx)
    return Feature(id=fid(b), layer="buildings", type="Building", name=_name(b),
                   parent=parent, attributes=attrs, footprint=footprint, meshes=meshes_out,
                   source_id=b.GlobalId)


def _network_topology(model, elements, codes, meshes, placer, unit, prefix, ctx, axes):
    """Edges for segments and positions for nodes, from the port connections.

    Ports of segments that connect directly to each other (no chamber or
    fitting between them) are grouped into one junction node.
    """
    import ifcopenshell.util.system as us
    import networkx as nx

    out: dict[Any, Any] = {"junctions": []}
    edges: dict[int, Edge] = {}
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
            if owner is not None and owner.id() not in node_ids:
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
    names = Counter(_name(sy) for sy in systems)

    def network_of(e: Any) -> str:
        """``CODE:file:system``; systems that share a name are told apart by GlobalId."""
        system = system_of(e)
        if system is None:
            return f"{codes[e.id()]}:{stem}"
        name = _name(system)
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
            out[("line", e_id)] = _axis_line(meshes[e_id].vertices)
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


def _axis_points(element: Any, unit: float) -> np.ndarray | None:
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


def _pipe_diameter(attrs: dict[str, Any], vertices: np.ndarray) -> tuple[float, str] | None:
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


def _axis_line(vertices: np.ndarray) -> LineString:
    """The long axis of a segment's mesh, end to end (no ports to go by)."""
    c, axis = _principal_axis(vertices)
    t = (vertices - c) @ axis
    return LineString([c + axis * t.min(), c + axis * t.max()])


CONVERTERS = (
    ConverterSpec(name=NAME, version=VERSION, format="IFC (IFC2X3, IFC4, IFC4X3)",
                  extensions=(".ifc",), run=convert, sniff=sniff, summarise=ifc_report.summarise,
                  description="IFC building and infrastructure models (ifcopenshell)"),
)
