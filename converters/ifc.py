"""IFC building and infrastructure models (IFC2X3, IFC4, IFC4X3) into the twin.

How a BIM model becomes twin features:

* **Opening**: :mod:`converters.ifc_open` reads IFC2X3, IFC4 and
  IFC4X3_ADD2, and pre-release IFC4.3 headers as IFC4X3_ADD2.
* **Placement**: :mod:`converters.ifc_georef` finds the georeferencing
  (IfcMapConversion, ePSet_MapConversion on the project or the site, IfcSite
  latitude/longitude, or the user's ``--origin``/``--rotation``/``--crs``),
  reports where the sources it did not use would have put the model, and
  every coordinate goes local metres -> map CRS -> twin CRS with pyproj.
* **A re-import** is refused before any geometry is built when the twin
  holds the file's ids already (unless ``--replace``).
* **Geometry**: :mod:`converters.ifc_geometry` converts element shapes with
  a fast kernel and retries the failures with OpenCASCADE, each in a worker
  process. Meshes keep their material per face (as face labels).
* **Streaming**: each element becomes a feature as its mesh comes from the
  kernels and goes on to the store a chunk at a time, inside the import's
  one transaction; memory holds about a chunk of meshes
  (:data:`CHUNK_VERTICES`), not the model's. What needs the whole model
  comes at the end: buildings (their envelope's parts wait on disk),
  spatial elements, network elements and elements without a mesh.
* **Hierarchy**: site, building, storey, space and infrastructure facilities
  become features; each element's parent is the whole it is part of or the
  spatial element that contains it, and elements and spaces name their
  storey (``storey``, ``storey_id``, ``storey_elevation_m``). Ids are
  ``ifc:<GlobalId>``.
* **Layers**: buildings go to ``buildings`` with an LoD1 envelope
  (:mod:`converters.ifc_building`), their elements to ``building_elements``,
  pipes and their nodes to the utility layer of their distribution system
  (:mod:`converters.ifc_semantics`, :mod:`converters.ifc_network`), IFC4.3
  alignments and their segments to ``road_centrelines`` as 3D polylines
  (:mod:`converters.ifc_alignment`).
* **Attributes**: property sets, quantities, type and material
  (:func:`converters.ifc_semantics.attributes_of`).
* **Reported**: elements by class, the georeferencing and its alternatives,
  each element no geometry kernel could convert (imported without a mesh,
  with its reason), the kernels used and their times, and a kernel crash
  with the elements it left.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
from shapely.geometry import Point

from twin.errors import ConversionError, GeometryError
from twin.layers import layer_for_utility_code
from twin.model import Feature, Mesh

from . import ifc_report
from .base import ConversionContext, ConverterSpec
from .ifc_alignment import LAYER as ALIGNMENT_LAYER
from .ifc_alignment import Alignments, alignment_attributes, is_alignment_part, referent_point
from .ifc_building import (
    EnvelopeParts,
    as_polygons,
    building_feature,
    plan_outlines,
)
from .ifc_geometry import DEFAULT_KERNELS, element_meshes
from .ifc_georef import read_georef
from .ifc_model import Model, Placer
from .ifc_network import axis_line, axis_points, network_topology, pipe_diameter
from .ifc_open import open_model, sniff
from .ifc_semantics import (
    SPATIAL_LAYER,
    attributes_of,
    is_network_element,
    is_segment,
    storey_elevation,
    system_of,
    text_name,
    utility_code,
)

NAME = "ifc"
VERSION = "0.2.0"


def _box6(b: Any) -> tuple[float, float, float, float, float, float]:
    """A mesh's bounds as the 3D box a feature keeps."""
    x0, y0, z0, x1, y1, z1 = (float(v) for v in b)
    return x0, y0, z0, x1, y1, z1


def _placed(shapes: dict[int, Any], placer: Placer) -> Iterator[tuple[int, Any]]:
    """``(step id, vertices in the twin CRS)`` of each shape: all placed in one
    call (a transformer call has a fixed cost of about a millisecond)."""
    if not shapes:
        return
    sids = list(shapes)
    placed = placer(np.concatenate([shapes[s].vertices for s in sids]))
    ends = np.cumsum([len(shapes[s].vertices) for s in sids])
    yield from zip(sids, np.split(placed, ends[:-1]))


def _mesh(shape: Any, vertices: np.ndarray) -> Mesh:
    labels = shape.materials
    fl = shape.material_index if labels else None
    return Mesh(vertices, shape.faces, fl, labels)


def _refuse_existing(ctx: ConversionContext, ids: list[str]) -> None:
    """Refuse a re-import at once, before the geometry kernels run."""
    if ctx.existing_ids is None or not ids:
        return
    clash = ctx.existing_ids(ids)
    if clash:
        first = sorted(clash)[:5]
        raise ConversionError(
            f"{ctx.source}: {len(clash)} of its {len(ids)} elements are in the twin already "
            f"({', '.join(first)}{' ...' if len(clash) > 5 else ''}): was it imported before? "
            "Remove that batch (twin batches) or import with --replace", source=str(ctx.source))


def _kernel_run(run: dict[str, Any], m: Model) -> dict[str, Any]:
    """A kernel run's record with the elements it crashed on named (id, class, name)."""
    if run.get("crashed_on"):
        named = []
        for sid in run["crashed_on"]:
            e = m.model.by_id(sid)
            named.append(f"{m.fid(e)} ({e.is_a()} {text_name(e)!r})")
        run["crashed_on"] = named
    return run


#: Element meshes placed and turned into features at once: an import holds
#: about one such chunk of meshes (and the store's chunk of features), not
#: the model's. The ``chunk_vertices`` option overrides it.
CHUNK_VERTICES = 250_000


def _chunks(meshes: Iterator[Any], limit: int) -> Iterator[list[Any]]:
    """The kernel's meshes in chunks of about ``limit`` vertices."""
    chunk: list[Any] = []
    size = 0
    for mesh in meshes:
        chunk.append(mesh)
        size += len(mesh.vertices)
        if size >= limit:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def convert(ctx: ConversionContext) -> Iterator[Feature]:
    """The model's features, streamed: each element is built and yielded as
    its mesh comes from the kernels (a chunk at a time). What needs more
    than one element waits for the end: spatial elements and buildings (the
    envelope: see :class:`converters.ifc_building.EnvelopeParts`), network
    elements (the topology), elements without a mesh."""
    src = str(ctx.source)
    model, _ = open_model(ctx.source, ctx.report)
    ctx.report["schema"] = model.schema_identifier if hasattr(model, "schema_identifier") \
        else model.schema
    georef = read_georef(model, src, crs=ctx.source_crs, origin=ctx.options.get("origin"),
                         rotation=ctx.options.get("rotation"), twin_crs=ctx.twin_crs)
    ctx.report["georeferencing"] = georef.describe(ctx.twin_crs)
    m = Model(model, ctx, georef)
    ctx.report["elements_by_class"] = dict(Counter(p.is_a() for p in m.products).most_common())
    _refuse_existing(ctx, [m.fid(p) for p in m.products])
    try:
        yield from _convert(ctx, m)
    finally:
        for parts in m.envelopes.values():
            parts.close()


def _network_codes(ctx: ConversionContext, m: Model) -> dict[int, str | None]:
    """The utility code of each network element (``None``: no known system)."""
    utility_opt = ctx.options.get("utility")
    codes: dict[int, str | None] = {}
    unclassified = 0
    for e in m.elements:
        if is_network_element(e):
            code = utility_code(e) or (utility_opt.upper() if utility_opt else None)
            codes[e.id()] = code
            unclassified += code is None
    if unclassified:
        ctx.report["unclassified_network_elements"] = (
            f"{unclassified} pipe or cable elements belong to no system of a known type; kept "
            "on building_elements (pass --utility CODE to put them on a utility layer)")
    return codes


def _convert(ctx: ConversionContext, m: Model) -> Iterator[Feature]:
    model, src = m.model, str(ctx.source)
    spatial_ids = {p.id() for p in m.spatial}

    # --- geometry, streamed -------------------------------------------------
    alignments = Alignments(model, m.unit, m.placer)
    kernels = tuple(ctx.options.get("kernels") or DEFAULT_KERNELS)
    want = [p.id() for p in m.products if p.Representation is not None
            and (p.id() not in spatial_ids or p.is_a("IfcSpace") or p.is_a("IfcSite"))
            and not is_alignment_part(p)]
    total = len(want)
    codes = _network_codes(ctx, m)
    # meshes kept to the end: spatial elements' and network elements'
    keep = spatial_ids | {sid for sid, code in codes.items() if code is not None}
    by_id = {e.id(): e for e in m.elements}
    done: set[int] = set()
    ctx.progress(0, total)
    geom = element_meshes(src, want, kernels=kernels, model=model,
                          threads=ctx.options.get("threads"),
                          progress=lambda n: ctx.progress(n, total), stream=True,
                          # a server's import job runs beside other threads: no fork there
                          spawn=ctx.options.get("workers") == "spawn")
    limit = int(ctx.options.get("chunk_vertices") or CHUNK_VERTICES)
    out_count = 0
    for chunk in _chunks(iter(geom), limit):
        for sid, mesh, outline in _placed_chunk(chunk, m):
            if sid in keep:
                m.meshes[sid], m.outlines[sid] = mesh, outline
            else:
                done.add(sid)
                out_count += 1
                yield _element_feature(by_id[sid], m, codes, {}, {}, alignments, mesh, outline)
    result = geom.result
    ctx.report["geometry"] = {
        "requested": total, "converted": geom.converted,
        "failed": len(result.failed), "triangles": int(geom.triangles),
        "kernels": [_kernel_run(r.describe(), m) for r in result.runs],
    }
    if result.spawned:  # option workers="spawn" (an API server's import job)
        ctx.report["geometry"]["workers"] = "spawned (the file parsed again)"
    if alignments.lines or alignments.failed:
        ctx.report["alignments"] = {"curves": len(alignments.lines),
                                    "failed": len(alignments.failed)}
    axes: dict[int, np.ndarray] = {}
    failed = dict(result.failed)
    failed.update(alignments.failed)
    for sid, reason in failed.items():
        e = model.by_id(sid)
        axis = axis_points(e, m.unit)
        if axis is not None:
            axes[sid] = m.placer(axis)
            reason = "no body representation: imported with its Axis curve only"
        ctx.report.setdefault("no_geometry", []).append(
            {"id": m.fid(e), "class": e.is_a(), "name": text_name(e), "reason": reason})

    # --- networks, then what waited for the whole model ----------------------
    net_features, edges = network_topology(model, m.elements, codes, m.meshes, m.placer,
                                           m.unit, m.prefix, ctx, axes)
    for sp in m.spatial:
        feat = _spatial_feature(sp, m)
        if feat is not None:
            out_count += 1
            yield feat
    for e in m.elements:
        if e.id() not in done:
            sid = e.id()
            yield _element_feature(e, m, codes, edges, net_features, alignments,
                                   m.meshes.get(sid), m.outlines.get(sid))
            out_count += 1
    for f in net_features.get("junctions", []):
        out_count += 1
        yield f
    ctx.report["features"] = out_count


def _placed_chunk(chunk: list[Any], m: Model) -> Iterator[tuple[int, Mesh, Any]]:
    """``(step id, mesh in the twin CRS, ground projection)`` of a chunk of
    the kernel's meshes, placed in one call; the envelope's share of each
    is handed to its building's :class:`EnvelopeParts` on the way."""
    shapes = {s.step_id: s for s in chunk}
    meshes: list[tuple[int, Mesh]] = []
    for sid, vertices in _placed(shapes, m.placer):
        try:
            meshes.append((sid, _mesh(shapes[sid], vertices)))
        except GeometryError as exc:
            e = m.model.by_id(sid)
            m.ctx.skip(m.fid(e), f"{e.is_a()} {e.Name!r}: geometry unusable: {exc}")
    outlines = plan_outlines([(mesh.vertices, mesh.faces) for _, mesh in meshes])
    for (sid, mesh), outline in zip(meshes, outlines):
        b = m.building_of.get(sid)
        if b is not None and m.shapes_envelope(sid):
            m.envelopes.setdefault(b, EnvelopeParts()).add(m.rank[sid], mesh, outline)
        yield sid, mesh, outline


def _element_feature(e: Any, m: Model, codes: dict, edges: dict, net_features: dict,
                     alignments: Alignments, mesh: Mesh | None, outline: Any) -> Feature:
    sid = e.id()
    attrs = attributes_of(e, m.psets)
    m.storey_attributes(e, attrs)
    code = codes.get(sid)
    layer = "building_elements"
    footprint = None
    edge = edges.get(sid)
    if is_alignment_part(e):
        attrs.update(alignment_attributes(e, alignments))
        return Feature(id=m.fid(e), layer=ALIGNMENT_LAYER, type=e.is_a(), name=text_name(e),
                       parent=m.parent_id(e), attributes=attrs,
                       footprint=alignments.lines.get(sid), source_id=e.GlobalId)
    if e.is_a("IfcReferent"):
        return Feature(id=m.fid(e), layer="generic", type=e.is_a(), name=text_name(e),
                       parent=m.parent_id(e), attributes=attrs,
                       footprint=referent_point(e, m.unit, m.placer), source_id=e.GlobalId)
    if code is not None:
        segment = is_segment(e)
        layer = layer_for_utility_code(code) if segment else "pipe_nodes"
        attrs["network"] = edge.network if edge is not None else \
            net_features.get(("network", sid), code)
        system = system_of(e)
        if system is not None and system.Name:
            attrs["system"] = text_name(system)
        footprint = net_features.get(("line", sid)) or net_features.get(("point", sid))
        if footprint is None and mesh is not None:
            footprint = axis_line(mesh.vertices) if segment else \
                Point(mesh.vertices.mean(axis=0))
        if footprint is None:
            layer, edge = "building_elements", None
    if edge is not None and mesh is not None and "diameter_mm" not in attrs:
        d = pipe_diameter(attrs, mesh.vertices)
        if d is not None:
            attrs["diameter_mm"], attrs["diameter_source"] = d
    if layer == "building_elements" and mesh is not None:
        footprint = as_polygons(outline)
    return Feature(id=m.fid(e), layer=layer, type=e.is_a(), name=text_name(e),
                   parent=m.parent_id(e), attributes=attrs, footprint=footprint,
                   meshes={"bim": mesh} if mesh is not None else {},
                   edge=edge if layer != "building_elements" else None, source_id=e.GlobalId)


def _spatial_feature(sp: Any, m: Model) -> Feature | None:
    import ifcopenshell.util.element as ue

    attrs = attributes_of(sp, m.psets)
    whole = ue.get_aggregate(sp)
    parent = m.fid(whole) if whole is not None and not whole.is_a("IfcProject") else None
    mesh = m.meshes.get(sp.id())
    if sp.is_a("IfcBuilding"):
        return _building(sp, parent, attrs, m)
    if sp.is_a("IfcBuildingStorey"):
        elev = storey_elevation(sp, m.unit)
        if elev is not None:
            attrs["elevation_m"] = round(elev, 4)
        return Feature(id=m.fid(sp), layer="building_elements", type=sp.is_a(),
                       name=text_name(sp), parent=parent, attributes=attrs,
                       source_id=sp.GlobalId)
    if sp.is_a("IfcSpace"):
        m.storey_attributes(sp, attrs)
        fp = as_polygons(m.outlines.get(sp.id()))
        return Feature(id=m.fid(sp), layer="building_elements", type="IfcSpace",
                       name=text_name(sp), parent=parent, attributes=attrs, footprint=fp,
                       source_id=sp.GlobalId,
                       bbox=_box6(mesh.bounds) if mesh is not None else None)
    layer = next((lay for cls, lay in SPATIAL_LAYER.items() if sp.is_a(cls)), "generic")
    fp = as_polygons(m.outlines.get(sp.id()))
    return Feature(id=m.fid(sp), layer=layer, type=sp.is_a(), name=text_name(sp),
                   parent=parent, attributes=attrs, footprint=fp,
                   meshes={"bim": mesh} if mesh is not None else {}, source_id=sp.GlobalId)


def _building(b: Any, parent: str | None, attrs: dict[str, Any], m: Model) -> Feature:
    storeys = [s for s in m.model.by_type("IfcBuildingStorey")
               if m.building_of.get(s.id()) == b.id()]
    elevs = [e for e in (storey_elevation(s, m.unit) for s in storeys) if e is not None]
    parts = m.envelopes.get(b.id()) or EnvelopeParts()
    return building_feature(m.fid(b), text_name(b), parent, b.GlobalId, attrs, parts, elevs,
                            m.georef.origin[2], m.ctx)


__all__ = ["CONVERTERS", "convert", "open_model", "sniff"]

CONVERTERS = (
    ConverterSpec(name=NAME, version=VERSION, format="IFC (IFC2X3, IFC4, IFC4X3)",
                  extensions=(".ifc",), run=convert, sniff=sniff, summarise=ifc_report.summarise,
                  description="IFC building and infrastructure models (ifcopenshell)"),
)
