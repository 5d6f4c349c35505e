"""EPANET 2 hydraulic models (``.inp``) into the twin's water-supply layer.

Engineers keep water networks as EPANET models. The model is read with wntr
(the EPA's Water Network Tool for Resilience), which converts US units to SI:

* junctions become ``pipe_nodes`` of type ``Junction``; reservoirs and tanks
  become ``Reservoir`` and ``Tank`` nodes (the supply points of isolation
  analyses); node elevations are taken as ground elevations;
* pipes become ``water_supply`` segments with their diameter, length,
  roughness and status, along their vertices; pumps and valves (links in
  EPANET) become segments of type ``Pump`` and ``Valve``;
* EPANET gives no burial depth: centrelines are placed the profile's default
  cover (1.2 m) below the node elevations and marked ``depth_source=assumed``;
* EPANET coordinates carry no CRS: give it with ``--crs`` (it may be in feet,
  e.g. a US state plane; it is reprojected into the twin CRS).

Each model is its own network (named after the file, or the ``network`` option).
EPANET names nodes and links in separate namespaces, so ids are
``epanet:<file>:node:<name>`` and ``epanet:<file>:link:<name>``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
from shapely.geometry import LineString, Point

from twin.crs import transform_xyz
from twin.errors import ConversionError
from twin.geometry import circle_profile, graded_polyline, polyline_pipe
from twin.model import Edge, Feature

from .base import MAX_FILE_BYTES, ConversionContext, ConverterSpec

NAME = "epanet"
VERSION = "0.1.0"
#: Cover assumed above EPANET pipes (m), as no depth is in the model.
DEFAULT_COVER_M = 1.2


def sniff(head: bytes) -> bool:
    """EPANET, not SWMM: both have [JUNCTIONS]; only SWMM has FLOW_UNITS,
    [CONDUITS] or [SUBCATCHMENTS]."""
    from .swmm import sniff as is_swmm

    text = head.decode("latin-1").upper()
    return ("[JUNCTIONS]" in text or "[PIPES]" in text) and not is_swmm(head)


def _load(ctx: ConversionContext):
    try:
        import wntr
    except ImportError as exc:  # pragma: no cover - wntr is a dependency
        raise ConversionError(f"reading EPANET needs the 'wntr' package: {exc}") from None
    size = ctx.source.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ConversionError(f"{ctx.source}: {size} bytes is too large", source=str(ctx.source))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            wn = wntr.network.WaterNetworkModel(str(ctx.source))
        if caught:  # reported, never lost
            ctx.report["reader_warnings"] = sorted({str(w.message) for w in caught})
        return wn
    except Exception as exc:  # noqa: BLE001 - wntr raises many kinds; name the file
        raise ConversionError(f"{ctx.source}: not a readable EPANET model: {exc}",
                              source=str(ctx.source)) from None


def convert(ctx: ConversionContext) -> Iterator[Feature]:
    if ctx.source_crs is None:
        raise ConversionError(
            f"{ctx.source}: EPANET models carry no CRS; give the CRS of its coordinates with "
            "--crs", source=str(ctx.source))
    wn = _load(ctx)
    stem = ctx.source.stem
    prefix = ctx.options.get("id_prefix") or f"epanet:{stem}"
    network = ctx.options.get("network") or stem
    ctx.report.update({"source_crs": ctx.source_crs.name, "crs_from": "option",
                       "network": network, "junctions": wn.num_junctions,
                       "reservoirs": wn.num_reservoirs, "tanks": wn.num_tanks,
                       "pipes": wn.num_pipes, "pumps": wn.num_pumps, "valves": wn.num_valves})
    names = list(wn.node_name_list)
    xy = []
    placed = []
    for n in names:
        node = wn.get_node(n)
        c = node.coordinates
        if c is None or len(c) < 2:
            ctx.skip(n, f"node {n!r} has no coordinates")
            continue
        e = getattr(node, "elevation", None)
        if e is None:  # reservoirs have a head, not an elevation
            e = float(node.base_head) if hasattr(node, "base_head") else np.nan
        placed.append(n)
        xy.append((float(c[0]), float(c[1]), float(e)))
    if not placed:
        raise ConversionError(f"{ctx.source}: no node has coordinates", source=str(ctx.source))
    pts = transform_xyz(ctx.source_crs, ctx.twin_crs, np.array(xy), source=str(ctx.source))
    pos = {n: p for n, p in zip(placed, pts)}
    total = len(placed) + wn.num_links
    kinds = {"Junction": "Junction", "Reservoir": "Reservoir", "Tank": "Tank"}
    for k, n in enumerate(placed):
        node = wn.get_node(n)
        x, y, z = pos[n]
        attrs = {"network": network}
        if node.node_type == "Junction":
            attrs["base_demand_m3s"] = float(node.base_demand or 0.0)
        yield Feature(id=f"{prefix}:node:{n}", layer="pipe_nodes", type=kinds[node.node_type],
                      footprint=Point(x, y, z) if np.isfinite(z) else Point(x, y),
                      attributes=attrs, source_id=n)
        if k % 1000 == 0:
            ctx.progress(k, total)
    done = len(placed)
    for name in wn.link_name_list:
        link = wn.get_link(name)
        a, b = link.start_node_name, link.end_node_name
        done += 1
        if done % 1000 == 0:
            ctx.progress(done, total)
        if a not in pos or b not in pos:
            ctx.skip(name, f"link {name!r}: node {a if a not in pos else b!r} has no position")
            continue
        verts = [tuple(v) for v in (link.vertices or [])]
        mid = transform_xyz(ctx.source_crs, ctx.twin_crs, np.array(verts, float),
                            source=str(ctx.source))[:, :2] if verts else np.zeros((0, 2))
        dia = float(getattr(link, "diameter", 0.0) or 0.0)
        r = dia / 2 if dia > 0 else 0.05
        za, zb = pos[a][2] - DEFAULT_COVER_M - r, pos[b][2] - DEFAULT_COVER_M - r
        plan = np.vstack([pos[a][:2], mid, pos[b][:2]])
        coords, plan_len = graded_polyline(plan, za, zb)
        if plan_len == 0:
            ctx.skip(name, f"link {name!r} has zero length in plan")
            continue
        ltype = link.link_type  # Pipe, Pump, Valve (or a valve subtype)
        ftype = "PipeSegment" if ltype == "Pipe" else ("Pump" if ltype == "Pump" else "Valve")
        attrs = {"network": network, "depth_source": "assumed"}
        if dia > 0:
            attrs["diameter_mm"] = round(dia * 1000.0, 3)
        if ltype == "Pipe":
            attrs["length_m"] = float(link.length)
            attrs["roughness"] = float(link.roughness)
            attrs["status"] = str(link.initial_status)
        elif ftype == "Valve":
            attrs["valve_type"] = str(getattr(link, "valve_type", ""))
        meshes = {}
        if np.all(np.isfinite(coords)):
            line = LineString(coords)
            if dia > 0:
                meshes["1"] = polyline_pipe(coords, circle_profile(r, 8))
        else:  # a reservoir end without elevation: heights unknown
            line = LineString(plan)
        yield Feature(id=f"{prefix}:link:{name}", layer="water_supply", type=ftype,
                      footprint=line, attributes=attrs, meshes=meshes, source_id=name,
                      edge=Edge(network, f"{prefix}:node:{a}", f"{prefix}:node:{b}"))
    ctx.progress(total, total)


CONVERTERS = (
    ConverterSpec(name=NAME, version=VERSION, format="EPANET 2 model (.inp)",
                  extensions=(".inp",), run=convert, sniff=sniff,
                  description="EPANET water distribution models, read with wntr"),
)
