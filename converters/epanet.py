"""EPANET 2 hydraulic models (``.inp``) into the twin's water-supply layer.

Engineers keep water networks as EPANET models. The model is read with wntr
(the EPA's Water Network Tool for Resilience), which converts US units to SI,
and built by :mod:`converters.pipe_network`:

* junctions become ``pipe_nodes`` of type ``Junction``; reservoirs and tanks
  become ``Reservoir`` and ``Tank`` nodes (the supply points of isolation
  analyses); junction and tank elevations are taken as ground elevations;
* a **reservoir has no ground elevation** in EPANET, only the total head of
  its water (a lake level, or a fixed-head boundary tens of metres above the
  pipes): its ground is taken from the junctions and tanks it is linked to
  (their mean elevation, ``ground_source=connected nodes``), or stays unknown
  (a 2D point, and the pipes next to it stay 2D); the head is kept as
  ``head_m``;
* pipes become ``water_supply`` segments with their diameter, length,
  roughness (and the network's head-loss formula), minor loss and status,
  along their vertices; pumps and valves (links in EPANET) become segments
  of type ``Pump`` (head curve or power, speed, status) and ``Valve`` (type,
  setting, diameter, status), points when their two nodes share one
  position; tanks keep their levels and diameter: enough for
  :mod:`twin.analysis.hydraulics` to run the network again from the twin;
* demand **patterns** are kept: a junction keeps its base demand (the sum
  of its demand categories, times the file's demand multiplier) as
  ``base_demand_m3s`` and, when a pattern varies its draw, each category as
  ``demands`` (``[{"base_m3s": ..., "pattern": [multipliers]}]``, the file's
  default pattern resolved) with the pattern's time step and start
  (``pattern_step_s``, ``pattern_start_s``); a reservoir whose head follows a
  pattern keeps it as ``head_pattern``;
* EPANET gives no burial depth: centrelines are placed the profile's default
  cover (1.2 m) below the node elevations and marked ``depth_source=assumed``;
* EPANET coordinates carry no CRS: give it with ``--crs`` (it may be in feet,
  e.g. a US state plane; it is reprojected into the twin CRS). A node that has
  no line in ``[COORDINATES]`` is skipped (wntr would place it at 0, 0).

**Controls** are kept on the links they act on (``controls``,
:mod:`converters.epanet_controls`); rule-based controls (``[RULES]``) are
counted, not kept. A file that the EPANET engine runs may still
hold controls that wntr cannot parse (clock-time conditions such as
``IF SYSTEM CLOCKTIME >= 6 AM`` in ``[RULES]``): the network is then read
without that section and the report names the section, its line and wntr's
reason. Any other error names the file and, where wntr gives one, the line.

Each model is its own network (named after the file, or the ``network`` option).
EPANET names nodes and links in separate namespaces, so ids are
``epanet:<file>:node:<name>`` and ``epanet:<file>:link:<name>``.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from twin.crs import transform_xyz
from twin.errors import ConversionError
from twin.model import Feature

from . import inp_sections
from .base import MAX_FILE_BYTES, ConversionContext, ConverterSpec
from .epanet_controls import link_controls
from .pipe_network import (
    LinkRow,
    NetworkBuilder,
    NetworkIds,
    NodeRow,
    Section,
    centre_below_cover,
    implausible_reason,
    pipe_notes,
    plausible,
)
from .report import Note

NAME = "epanet"
VERSION = "0.4.0"
#: Cover assumed above EPANET pipes (m), as no depth is in the model.
DEFAULT_COVER_M = 1.2
#: Sections that say how the network is operated; read without them if wntr
#: cannot parse them (the twin keeps no controls).
BEHAVIOUR_SECTIONS = ("RULES", "CONTROLS")


def sniff(head: bytes) -> bool:
    """EPANET, not SWMM: both have [JUNCTIONS]; only SWMM has FLOW_UNITS,
    [CONDUITS] or [SUBCATCHMENTS]."""
    from .swmm import sniff as is_swmm

    text = head.decode("latin-1").upper()
    return ("[JUNCTIONS]" in text or "[PIPES]" in text) and not is_swmm(head)


def _reason(exc: BaseException) -> str:
    """wntr's message, with the detail (line number) it keeps in the cause."""
    text = str(exc).strip() or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause).strip() and str(cause).strip() not in text:
        text += f": {str(cause).strip()}"
    return text


def _parse(path: Path, ctx: ConversionContext):
    import wntr

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wn = wntr.network.WaterNetworkModel(str(path))
    if caught:  # reported, never lost
        ctx.report["reader_warnings"] = sorted({str(w.message) for w in caught})
    return wn


def _offending_line(section: inp_sections.Section, reason: str) -> int:
    """The first line of ``section`` holding a value the reason quotes, else
    the section's header line."""
    for token in re.findall(r"'([^']+)'", reason):
        for row in section.rows:
            if token.upper() in row.text.upper():
                return row.line
    return section.header_line


def _load(ctx: ConversionContext, text: str, sections: list[inp_sections.Section]):
    try:
        import wntr  # noqa: F401
    except ImportError as exc:  # pragma: no cover - wntr is a dependency
        raise ConversionError(f"reading EPANET needs the 'wntr' package: {exc}") from None
    try:
        return _parse(ctx.source, ctx)
    except Exception as exc:  # noqa: BLE001 - wntr raises many kinds; name the file
        first = _reason(exc)
    present = {s.name for s in sections if s.name in BEHAVIOUR_SECTIONS and s.rows}
    for drop in ({"RULES"}, {"CONTROLS"}, {"RULES", "CONTROLS"}):
        if not drop <= present:
            continue
        with tempfile.TemporaryDirectory(prefix="twin-epanet-") as tmp:
            copy = Path(tmp) / ctx.source.name
            copy.write_text(inp_sections.without_sections(text, sections, drop),
                            encoding="utf-8")
            try:
                wn = _parse(copy, ctx)
            except Exception:  # noqa: BLE001 - the next set of sections, else the first error
                continue
        ctx.report["not_understood"] = [
            {"section": s.name, "line": _offending_line(s, first), "header_line": s.header_line,
             "items": len(s.rows), "reason": first}
            for s in sections if s.name in drop and s.rows]
        return wn
    raise ConversionError(f"{ctx.source}: not a readable EPANET model: {first}",
                          source=str(ctx.source))


def _reservoir_grounds(wn) -> dict[str, float | None]:
    """Ground of each reservoir: the mean elevation of the junctions and tanks
    it is linked to (``None`` when it is linked to none)."""
    out: dict[str, float | None] = {}
    for name in wn.reservoir_name_list:
        elev = []
        for link_name in wn.get_links_for_node(name):
            link = wn.get_link(link_name)
            other = link.end_node_name if link.start_node_name == name else link.start_node_name
            e = getattr(wn.get_node(other), "elevation", None)
            if e is not None and np.isfinite(e):
                elev.append(float(e))
        out[name] = float(np.mean(elev)) if elev else None
    return out


def _nodes(ctx, wn, placed_names: set[str]) -> list[NodeRow]:
    grounds = _reservoir_grounds(wn)
    names, xy = [], []
    for n in wn.node_name_list:
        if n not in placed_names:
            ctx.skip(n, f"node {n!r} has no line in [COORDINATES]")
            continue
        c = wn.get_node(n).coordinates
        names.append(n)
        xy.append((float(c[0]), float(c[1])))
    if not names:
        raise ConversionError(f"{ctx.source}: no node has coordinates", source=str(ctx.source))
    arr = np.array(xy)
    ok = plausible(arr)
    for k in np.flatnonzero(~ok):
        ctx.skip(names[k], implausible_reason(f"node {names[k]!r}", arr[k]))
    names = [n for n, good in zip(names, ok) if good]
    if not names:
        raise ConversionError(f"{ctx.source}: no node has plausible coordinates",
                              source=str(ctx.source))
    pts = transform_xyz(ctx.source_crs, ctx.twin_crs, arr[ok], source=str(ctx.source))
    rows, counts = [], {"from connected nodes": 0, "unknown": 0}
    patterns = varying_patterns(wn, ctx.report)
    for n, (x, y) in zip(names, pts[:, :2]):
        node = wn.get_node(n)
        attrs: dict[str, Any] = {}
        if node.node_type == "Reservoir":
            z = grounds[n]
            attrs["head_m"] = round(float(node.base_head), 3)
            head = patterns.get(node.head_pattern_name or "")
            if head is not None:
                attrs.update(head_pattern=head, **_pattern_times(wn))
            attrs["ground_source"] = "connected nodes" if z is not None else "unknown"
            counts["from connected nodes" if z is not None else "unknown"] += 1
        else:
            z = float(node.elevation)
            if node.node_type == "Junction":
                attrs.update(_junction_demands(wn, node, patterns))
            elif node.node_type == "Tank":
                attrs.update(_tank_attributes(node))
        rows.append(NodeRow(n, node.node_type, float(x), float(y), z, attrs))
    if wn.num_reservoirs:
        ctx.report["reservoir_ground"] = counts
    return rows


#: Most multipliers kept of one pattern (a week of hourly steps). Each
#: junction keeps its own copy, so a longer pattern (a week at 5 minutes is
#: 2,016) would multiply the twin's size: it is reported, and its junctions
#: keep their base demand only.
MAX_PATTERN_VALUES = 168


def varying_patterns(wn, report: dict[str, Any]) -> dict[str, list[float] | None]:
    """Pattern name -> its multipliers when they vary, ``None`` when they do
    not (all 1: a constant draw) or are too many to keep (counted in
    ``report["patterns_not_kept"]``)."""
    out: dict[str, list[float] | None] = {}
    for name in wn.pattern_name_list:
        values = [float(v) for v in wn.get_pattern(name).multipliers]
        if len(values) > MAX_PATTERN_VALUES:
            report.setdefault("patterns_not_kept", {})[name] = (
                f"{len(values)} multipliers, more than {MAX_PATTERN_VALUES}: its junctions "
                "keep their base demand only")
            values = []
        out[name] = values if any(v != 1.0 for v in values) else None
    return out


def _pattern_times(wn) -> dict[str, int]:
    t = wn.options.time
    return {"pattern_step_s": int(t.pattern_timestep), "pattern_start_s": int(t.pattern_start)}


def _junction_demands(wn, node, patterns: Mapping[str, list[float] | None]) -> dict[str, Any]:
    """A junction's base demand (its categories summed, times the file's
    demand multiplier) and, when a pattern varies it, the categories with
    their multipliers (a category without a pattern follows the file's
    default pattern, as EPANET runs it)."""
    mult = float(wn.options.hydraulic.demand_multiplier or 1.0)
    default = wn.options.hydraulic.pattern
    cats = [(float(d.base_value or 0.0) * mult, patterns.get(d.pattern_name or default or ""))
            for d in node.demand_timeseries_list]
    out: dict[str, Any] = {"base_demand_m3s": float(sum(b for b, _ in cats))}
    if any(p is not None for b, p in cats if b):
        out["demands"] = [{"base_m3s": b, **({"pattern": p} if p is not None else {})}
                          for b, p in cats if b]
        out.update(_pattern_times(wn))
    return out


def _tank_attributes(tank) -> dict[str, Any]:
    """Levels (m above the tank's bottom, its elevation) and diameter of a tank:
    what a hydraulic run of the twin needs. A volume curve is named, not kept."""
    out: dict[str, Any] = {"init_level_m": float(tank.init_level),
                           "min_level_m": float(tank.min_level),
                           "max_level_m": float(tank.max_level),
                           "tank_diameter_m": float(tank.diameter),
                           "min_volume_m3": float(tank.min_vol or 0.0)}
    if tank.vol_curve_name:
        out["volume_curve"] = str(tank.vol_curve_name)
    return out


def _pump_attributes(pump) -> dict[str, Any]:
    """A pump's head curve (``[flow m3/s, head m]`` points) or its power, its
    speed and initial status."""
    out: dict[str, Any] = {"pump_type": str(pump.pump_type),
                           "status": str(pump.initial_status),
                           "speed": float(pump.base_speed)}
    if pump.pump_type == "HEAD":
        out["head_curve"] = [[float(q), float(h)] for q, h in pump.get_pump_curve().points]
    else:
        out["power_kw"] = float(pump.power) / 1000.0
    return out


def _valve_attributes(valve) -> dict[str, Any]:
    """A control valve's type, setting (pressure m, flow m3/s or loss
    coefficient, by type), diameter and initial status."""
    return {"valve_type": str(getattr(valve, "valve_type", "")),
            "setting": float(valve.initial_setting or 0.0),
            "valve_diameter_m": float(valve.diameter or 0.0),
            "minor_loss": float(valve.minor_loss or 0.0),
            "status": str(valve.initial_status)}


def _links(ctx, wn, ground: dict[str, float | None], ids: NetworkIds) -> Iterator[LinkRow]:
    controls = link_controls(wn, ids.node, ctx.report)
    for name in wn.link_name_list:
        link = wn.get_link(name)
        a, b = link.start_node_name, link.end_node_name
        verts = np.array([tuple(v) for v in (link.vertices or [])], float).reshape(-1, 2)
        if len(verts):
            if not plausible(verts).all():
                ctx.skip(name, implausible_reason(f"link {name!r} vertex", verts[
                    int(np.argmin(plausible(verts)))]))
                continue
            verts = transform_xyz(ctx.source_crs, ctx.twin_crs, verts,
                                  source=str(ctx.source))[:, :2]
        dia = float(getattr(link, "diameter", 0.0) or 0.0)
        section = Section.round(dia)
        ltype = link.link_type  # Pipe, Pump, Valve (or a valve subtype)
        ftype = "PipeSegment" if ltype == "Pipe" else ("Pump" if ltype == "Pump" else "Valve")
        attrs: dict[str, Any] = {}
        if ltype == "Pipe":
            attrs["length_m"] = float(link.length)
            attrs["roughness"] = float(link.roughness)
            attrs["headloss_formula"] = str(wn.options.hydraulic.headloss)
            attrs["minor_loss"] = float(link.minor_loss)
            attrs["status"] = str(link.initial_status)
            if link.check_valve:
                attrs["check_valve"] = True
        else:
            attrs.update(_pump_attributes(link) if ftype == "Pump" else _valve_attributes(link))
        if name in controls:
            attrs["controls"] = controls[name]
        yield LinkRow(name, ftype, "water_supply", a, b,
                      z_start=centre_below_cover(ground.get(a), DEFAULT_COVER_M, section),
                      z_end=centre_below_cover(ground.get(b), DEFAULT_COVER_M, section),
                      depth_source="assumed", section=section, vertices=verts,
                      attributes=attrs)


def convert(ctx: ConversionContext) -> Iterator[Feature]:
    if ctx.source_crs is None:
        raise ConversionError(
            f"{ctx.source}: EPANET models carry no CRS; give the CRS of its coordinates with "
            "--crs", source=str(ctx.source))
    size = ctx.source.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ConversionError(f"{ctx.source}: {size} bytes is too large", source=str(ctx.source))
    text = ctx.source.read_bytes().decode("latin-1")
    sections = inp_sections.scan(text)
    wn = _load(ctx, text, sections)
    stem = ctx.source.stem
    network = ctx.options.get("network") or stem
    ids = NetworkIds(ctx.options.get("id_prefix") or f"epanet:{stem}")
    ctx.report.update({"source_crs": ctx.source_crs.name, "crs_from": "option",
                       "network": network, "junctions": wn.num_junctions,
                       "reservoirs": wn.num_reservoirs, "tanks": wn.num_tanks,
                       "pipes": wn.num_pipes, "pumps": wn.num_pumps, "valves": wn.num_valves})
    placed = {r.fields[0] for r in inp_sections.rows_of(sections, "COORDINATES") if r.fields}
    nodes = _nodes(ctx, wn, placed)
    total = len(nodes) + wn.num_links
    builder = NetworkBuilder(ctx, ids, network)
    for k, f in enumerate(builder.nodes(nodes)):
        yield f
        if k % 1000 == 0:
            ctx.progress(k, total)
    ground = {n.name: n.z for n in nodes}
    for k, f in enumerate(builder.links(_links(ctx, wn, ground, ids))):
        yield f
        if k % 1000 == 0:
            ctx.progress(len(nodes) + k, total)
    builder.record()
    ctx.progress(total, total)


def summarise(src: Mapping[str, Any]) -> list[Note]:
    """Sections read without, reservoir grounds, patterns not kept, and where
    the pipe heights came from."""
    out: list[Note] = []
    for s in src.get("not_understood", []):
        out.append(Note(f"[{s['section']}] (line {s['line']}, {s['items']} lines from line "
                        f"{s['header_line']}) not understood by wntr: {s['reason']}; the "
                        "network was read without it (the twin keeps no controls)", "warn"))
    g = src.get("reservoir_ground")
    if g:
        text = (f"reservoirs have a head, not a ground elevation: ground of "
                f"{g['from connected nodes']} taken from the nodes they feed")
        if g["unknown"]:
            text += f", {g['unknown']} left unknown (2D, with the pipes next to them)"
        out.append(Note(text, "warn" if g["unknown"] else "info"))
    for name, why in sorted((src.get("patterns_not_kept") or {}).items()):
        out.append(Note(f"pattern {name!r} not kept ({why}): runs of the twin draw "
                        "those junctions' base demand at every hour", "warn"))
    if src.get("rules_not_kept"):
        out.append(Note(f"{src['rules_not_kept']} rule-based controls ([RULES]) not kept: "
                        "runs of the twin keep the simple controls only", "warn"))
    nk = src.get("controls_not_kept")
    if nk:
        out.append(Note(f"{nk['count']} simple controls not kept, as {'; '.join(nk['first'])}",
                        "warn"))
    for w in src.get("reader_warnings", []):
        out.append(Note(f"wntr: {w}", "warn"))
    return out + pipe_notes(src)


CONVERTERS = (
    ConverterSpec(name=NAME, version=VERSION, format="EPANET 2 model (.inp)",
                  extensions=(".inp",), run=convert, sniff=sniff, summarise=summarise,
                  description="EPANET water distribution models, read with wntr"),
)
