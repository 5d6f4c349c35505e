"""EPA SWMM 5 models (``.inp``) into the twin's drainage layers.

Drainage engineers keep sewer and storm networks as SWMM models. The model is
read with swmmio; this converter then:

* turns junctions into manholes: the invert elevation is the bottom, the rim
  is invert + maximum depth (the point stands on the rim, ``depth_m`` is the
  maximum depth; a maximum depth of 0, SWMM's "up to the highest crown",
  leaves the ground unknown), outfalls into ``Outfall`` nodes and storage
  units into ``Storage`` nodes;
* turns conduits into pipe segments whose ends sit on the node inverts plus
  the conduit offsets (``LINK_OFFSETS DEPTH`` or ``ELEVATION``), centreline one
  half section height above, along the conduit's vertices; ``depth_source=invert``;
* keeps the cross-section (``CIRCULAR`` diameter, ``RECT_*`` width and height;
  other shapes are meshed as their bounding rectangle and marked
  ``section_approximated``) and the number of barrels;
* pumps, orifices, weirs and outlets become links of those types (no mesh);
* converts US units (CFS, GPM, MGD flow units: feet) to metres;
* takes the CRS from ``--crs``, else from an ``EPSG:nnnn`` written in
  ``[TITLE]`` (a common convention), else fails with a clear message.

Everything lands in the ``drainage`` layer unless ``--layer`` names another
(``rainwater``, ``sewage``).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator

import numpy as np
from shapely.geometry import LineString, Point

from twin.crs import parse_crs, transform_xyz
from twin.errors import ConversionError
from twin.geometry import circle_profile, cylinder, graded_polyline, polyline_pipe, rect_profile
from twin.layers import UTILITY_LAYER_BY_CODE
from twin.model import Edge, Feature

from .base import MAX_FILE_BYTES, ConversionContext, ConverterSpec

NAME = "swmm"
VERSION = "0.1.0"
US_FLOW_UNITS = ("CFS", "GPM", "MGD")
FEET = 0.3048
ROUND_SHAPES = ("CIRCULAR", "FORCE_MAIN", "FILLED_CIRCULAR")
RECT_SHAPES = ("RECT_CLOSED", "RECT_OPEN", "RECT_TRIANGULAR", "RECT_ROUND")
#: Manhole diameter assumed for meshes (SWMM does not give it).
MANHOLE_DIAMETER_M = 1.2


def sniff(head: bytes) -> bool:
    text = head.decode("latin-1").upper()
    return "[CONDUITS]" in text or "[SUBCATCHMENTS]" in text or "FLOW_UNITS" in text


def _frame(model, name: str):
    try:
        return getattr(model.inp, name)
    except Exception:  # noqa: BLE001 - swmmio raises on absent sections in some versions
        return None


def _name(v) -> str:
    """Element names as SWMM wrote them: pandas may read ``9`` as ``9.0`` in one
    table and ``9`` in another, so integral numbers lose their ``.0``."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _rows(df) -> list[tuple[str, dict]]:
    if df is None or len(df) == 0:
        return []
    return [(_name(idx), row.to_dict()) for idx, row in df.iterrows()]


def _num(v, default: float = 0.0) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return default
    return f if math.isfinite(f) else default


def convert(ctx: ConversionContext) -> Iterator[Feature]:
    try:
        import swmmio
    except ImportError as exc:  # pragma: no cover - swmmio is a dependency
        raise ConversionError(f"reading SWMM needs the 'swmmio' package: {exc}") from None
    path = ctx.source
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConversionError(f"{path}: too large", source=str(path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = swmmio.Model(str(path))
            options = _frame(model, "options")
            nodes = {"Junction": _rows(_frame(model, "junctions")),
                     "Outfall": _rows(_frame(model, "outfalls")),
                     "Storage": _rows(_frame(model, "storage"))}
            conduits = _rows(_frame(model, "conduits"))
            xsections = dict(_rows(_frame(model, "xsections")))
            coords = dict(_rows(_frame(model, "coordinates")))
            vertices_df = _frame(model, "vertices")
            others = {t: _rows(_frame(model, f)) for t, f in
                      (("Pump", "pumps"), ("Orifice", "orifices"), ("Weir", "weirs"),
                       ("Outlet", "outlets"))}
        except ConversionError:
            raise
        except Exception as exc:  # noqa: BLE001 - name the file whatever swmmio raised
            raise ConversionError(f"{path}: not a readable SWMM model: {exc}",
                                  source=str(path)) from None
    notes = sorted({str(w.message) for w in caught if "section not found" not in str(w.message)})
    if notes:
        ctx.report["reader_warnings"] = notes
    opts = {str(k).upper(): str(v["Value"]).upper() for k, v in _rows(options)} if \
        options is not None else {}
    scale = FEET if opts.get("FLOW_UNITS", "CMS") in US_FLOW_UNITS else 1.0
    offsets_are_elevations = opts.get("LINK_OFFSETS", "DEPTH") == "ELEVATION"
    src = ctx.source_crs
    if src is None:
        title = path.read_text(encoding="latin-1", errors="replace").split("[", 2)
        m = re.search(r"EPSG:(\d{4,6})", title[1] if len(title) > 1 and
                      title[1].upper().startswith("TITLE") else "", re.IGNORECASE)
        if m is None:
            raise ConversionError(f"{path}: SWMM models carry no CRS; give it with --crs",
                                  source=str(path))
        src = parse_crs(f"EPSG:{m.group(1)}", what=f"{path.name} [TITLE]")
        ctx.report["crs_from"] = "[TITLE]"
    else:
        ctx.report["crs_from"] = "option"
    ctx.report.update({"source_crs": src.name, "units": "feet" if scale != 1 else "metres",
                       "link_offsets": "elevation" if offsets_are_elevations else "depth"})
    layer = ctx.options.get("layer") or "drainage"
    code = next((c for c, n in UTILITY_LAYER_BY_CODE.items() if n == layer), "PS")
    network = ctx.options.get("network") or f"{code}:{path.stem}"
    prefix = ctx.options.get("id_prefix") or f"swmm:{path.stem}"

    # nodes
    names, xy = [], []
    for name, c in coords.items():
        names.append(name)
        xy.append((_num(c.get("X")), _num(c.get("Y"))))
    pos = {}
    if names:
        pts = transform_xyz(src, ctx.twin_crs, np.array(xy), source=str(path))
        pos = {n: (float(p[0]), float(p[1])) for n, p in zip(names, pts)}
    invert: dict[str, float] = {}
    total = sum(len(v) for v in nodes.values()) + len(conduits)
    done = 0
    for ntype, rows in nodes.items():
        for name, row in rows:
            done += 1
            inv = _num(row.get("InvertElev"), math.nan) * scale
            depth = _num(row.get("MaxDepth", row.get("MaxD")), 0.0) * scale
            if name not in pos:
                ctx.skip(name, f"node {name!r} has no coordinates")
                continue
            if math.isnan(inv):
                ctx.skip(name, f"node {name!r} has no invert elevation")
                continue
            invert[name] = inv
            x, y = pos[name]
            attrs = {"network": network, "invert_m": inv}
            meshes = {}
            top = inv + depth
            if depth > 0:
                attrs["depth_m"] = depth
                meshes["1"] = cylinder((x, y), inv, top, MANHOLE_DIAMETER_M / 2)
                attrs["size_source"] = "assumed"
            # MaxDepth 0 means "up to the highest connected crown": the ground is unknown
            where = Point(x, y, top) if depth > 0 else Point(x, y)
            yield Feature(id=f"{prefix}:node:{name}", layer="pipe_nodes",
                          type="Manhole" if ntype == "Junction" else ntype,
                          footprint=where, attributes=attrs, meshes=meshes, source_id=name)
    ctx.progress(done, total)

    verts: dict[str, list[tuple[float, float]]] = {}
    if vertices_df is not None and len(vertices_df):
        for name, row in vertices_df.iterrows():
            verts.setdefault(_name(name), []).append((_num(row["X"]), _num(row["Y"])))

    def line_for(name: str, a: str, b: str, za: float, zb: float) -> tuple[np.ndarray, float]:
        mid = np.array(verts.get(name, []), float).reshape(-1, 2)
        if len(mid):
            mid = transform_xyz(src, ctx.twin_crs, mid, source=str(path))[:, :2]
        plan = np.vstack([pos[a], mid, pos[b]]) if len(mid) else np.array([pos[a], pos[b]])
        return graded_polyline(plan, za, zb)

    for name, row in conduits:
        done += 1
        if done % 1000 == 0:
            ctx.progress(done, total)
        a, b = _name(row.get("InletNode")), _name(row.get("OutletNode"))
        if a not in invert or b not in invert:
            ctx.skip(name, f"conduit {name!r}: node {a if a not in invert else b!r} is missing "
                     "or has no position")
            continue
        xs = xsections.get(name, {})
        shape = str(xs.get("Shape", "")).upper()
        g1, g2 = _num(xs.get("Geom1")) * scale, _num(xs.get("Geom2")) * scale
        off_a, off_b = _num(row.get("InOffset")) * scale, _num(row.get("OutOffset")) * scale
        za = off_a if offsets_are_elevations else invert[a] + off_a
        zb = off_b if offsets_are_elevations else invert[b] + off_b
        attrs = {"network": network, "depth_source": "invert", "shape": shape or "unknown",
                 "length_m": _num(row.get("Length")) * scale,
                 "roughness": _num(row.get("Roughness")), "start_invert_m": za,
                 "end_invert_m": zb, "barrels": int(_num(xs.get("Barrels"), 1) or 1)}
        if shape in ROUND_SHAPES and g1 > 0:
            attrs["diameter_mm"] = round(g1 * 1000, 3)
            prof = circle_profile(g1 / 2, 12)
        elif g1 > 0:
            width = g2 if g2 > 0 else g1
            attrs["width_mm"], attrs["height_mm"] = round(width * 1000, 3), round(g1 * 1000, 3)
            prof = rect_profile(width, g1)
            if shape not in RECT_SHAPES:
                attrs["section_approximated"] = True
        else:
            prof = None
        coords3, plan_len = line_for(name, a, b, za + g1 / 2, zb + g1 / 2)
        if plan_len == 0:
            ctx.skip(name, f"conduit {name!r} has zero length in plan")
            continue
        meshes = {"1": polyline_pipe(coords3, prof)} if prof is not None else {}
        yield Feature(id=f"{prefix}:link:{name}", layer=layer, type="PipeSegment",
                      footprint=LineString(coords3), attributes=attrs, meshes=meshes,
                      source_id=name, edge=Edge(network, f"{prefix}:node:{a}",
                                                f"{prefix}:node:{b}"))
    for ltype, rows in others.items():
        for name, row in rows:
            a = _name(row.get("InletNode", row.get("FromNode", "")))
            b = _name(row.get("OutletNode", row.get("ToNode", "")))
            if a not in invert or b not in invert:
                ctx.skip(name, f"{ltype.lower()} {name!r}: node missing or without position")
                continue
            coords3, plan_len = line_for(name, a, b, invert[a], invert[b])
            if plan_len == 0:
                ctx.skip(name, f"{ltype.lower()} {name!r} has zero length in plan")
                continue
            yield Feature(id=f"{prefix}:link:{name}", layer=layer, type=ltype,
                          footprint=LineString(coords3), attributes={"network": network},
                          source_id=name, edge=Edge(network, f"{prefix}:node:{a}",
                                                    f"{prefix}:node:{b}"))
    ctx.progress(total, total)


CONVERTERS = (
    ConverterSpec(name=NAME, version=VERSION, format="EPA SWMM 5 model (.inp)",
                  extensions=(".inp",), run=convert, sniff=sniff,
                  description="SWMM sewer and storm models, read with swmmio"),
)
