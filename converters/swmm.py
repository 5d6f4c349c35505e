"""EPA SWMM 5 models (``.inp``) into the twin's drainage layers.

Drainage engineers keep sewer and storm networks as SWMM models. The file is
checked by the SWMM engine itself (swmm-toolkit, the EPA engine's Python
build), which names every line it rejects with its section and line number;
the network tables are then read line by line (:mod:`converters.inp_sections`)
and built by :mod:`converters.pipe_network`:

* junctions become manholes: the invert elevation is the bottom, the rim
  is invert + maximum depth (the point stands on the rim, ``depth_m`` is the
  maximum depth; a maximum depth of 0, SWMM's "up to the highest crown",
  leaves the ground unknown), outfalls become ``Outfall`` nodes, storage
  units ``Storage`` nodes and flow dividers ``Divider`` nodes;
* conduits become pipe segments whose ends sit on the node inverts plus
  the conduit offsets (``LINK_OFFSETS DEPTH`` or ``ELEVATION``), centreline one
  half section height above, along the conduit's vertices; ``depth_source=invert``;
* the cross-section is kept (``CIRCULAR`` diameter, ``RECT_*`` width and
  height; other shapes are meshed as their bounding rectangle and marked
  ``section_approximated``) with the number of barrels;
* pumps, orifices, weirs and outlets become links of those types (no mesh);
* US flow units (CFS, GPM, MGD, and CFS when ``FLOW_UNITS`` is absent, as in
  SWMM itself) mean feet, converted to metres;
* the CRS comes from ``--crs``, else from an ``EPSG:nnnn`` written in
  ``[TITLE]`` (a common convention), else the import fails with a clear message.

**Damaged lines.** A line the engine rejects (too few items, an invalid
number, a duplicate name, an undefined node) or that the network tables
cannot use is not read; the import goes on with the rest and names each such
line (section, line number, reason); elements that depended on it are
skipped with their own reason. A model from which no node could be read is
an error, never an empty success.

Everything lands in the ``drainage`` layer unless ``--layer`` names another
(``rainwater``, ``sewage``).
"""

from __future__ import annotations

import math
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from twin.crs import parse_crs, transform_xyz
from twin.errors import ConversionError
from twin.layers import UTILITY_LAYER_BY_CODE
from twin.model import Feature

from . import inp_sections
from .base import MAX_FILE_BYTES, ConversionContext, ConverterSpec
from .inp_sections import Row
from .pipe_network import (
    LinkRow,
    NetworkBuilder,
    NetworkIds,
    NodeRow,
    Section,
    Shaft,
    Vocabulary,
    implausible_reason,
    network_name,
    pipe_notes,
    plausible,
)
from .report import Note, examples

NAME = "swmm"
VERSION = "0.2.0"
US_FLOW_UNITS = ("CFS", "GPM", "MGD")
FEET = 0.3048
ROUND_SHAPES = ("CIRCULAR", "FORCE_MAIN", "FILLED_CIRCULAR")
RECT_SHAPES = ("RECT_CLOSED", "RECT_OPEN", "RECT_TRIANGULAR", "RECT_ROUND")
#: Manhole diameter assumed for meshes (SWMM does not give it).
MANHOLE_DIAMETER_M = 1.2
#: node sections -> twin node type, and the field of the maximum depth (None: none)
NODE_SECTIONS = {"JUNCTIONS": ("Manhole", 2), "OUTFALLS": ("Outfall", None),
                 "STORAGE": ("Storage", 2), "DIVIDERS": ("Divider", None)}
#: link sections -> twin link type
LINK_SECTIONS = {"CONDUITS": "PipeSegment", "PUMPS": "Pump", "ORIFICES": "Orifice",
                 "WEIRS": "Weir", "OUTLETS": "Outlet"}
#: The SWMM engine keeps global state: one check at a time in this process.
_ENGINE = threading.Lock()
_ENGINE_ERROR = re.compile(r"ERROR\s+(\d+):\s*(.*?)\s+at line\s+(\d+)\s+of\s+\[(\w+)\]")


def sniff(head: bytes) -> bool:
    text = head.decode("latin-1").upper()
    return "[CONDUITS]" in text or "[SUBCATCHMENTS]" in text or "FLOW_UNITS" in text


def engine_check(path: Path) -> tuple[dict[int, str], list[str]]:
    """The lines the SWMM engine rejects (line number -> its message) and its
    other errors, as the engine reports them when it opens ``path``."""
    try:
        from swmm.toolkit import solver
    except ImportError:  # pragma: no cover - swmm-toolkit is a dependency
        return {}, ["the SWMM engine (swmm-toolkit) is not installed: file not checked"]
    with _ENGINE, tempfile.TemporaryDirectory(prefix="twin-swmm-") as tmp:
        rpt, out = Path(tmp) / "check.rpt", Path(tmp) / "check.out"
        try:
            solver.swmm_open(str(path), str(rpt), str(out))
        except Exception:  # noqa: BLE001 - the engine raises on any input error; read the report
            pass
        finally:
            try:
                solver.swmm_close()
            except Exception:  # noqa: BLE001 - nothing was open
                pass
        report = rpt.read_text(encoding="latin-1", errors="replace") if rpt.exists() else ""
    lines: dict[int, str] = {}
    other: list[str] = []
    for raw in report.splitlines():
        text = raw.strip()
        if not text.startswith("ERROR") or text.startswith("ERROR 200"):
            continue
        m = _ENGINE_ERROR.search(text)
        if m:
            lines.setdefault(int(m.group(3)), f"ERROR {m.group(1)}: {m.group(2)}")
        else:
            other.append(text)
    return lines, other


def _num(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


class _Damage:
    """Damaged lines: rejected by the engine or unusable for the network."""

    def __init__(self, engine: dict[int, str], sections: list[inp_sections.Section],
                 strict: bool = False, source: str = ""):
        self.engine = engine
        self.strict, self.source = strict, source
        self.where = {r.line: s.name for s in sections for r in s.rows}
        self.lines: dict[int, dict[str, Any]] = {}

    def rejected(self, row: Row) -> bool:
        if row.line in self.engine:
            self.add(row, self.engine[row.line])
            return True
        return False

    def add(self, row: Row, reason: str) -> None:
        if self.strict:
            raise ConversionError(f"{self.source}: [{self.where.get(row.line, '?')}] line "
                                  f"{row.line}: {reason}", source=self.source)
        self.lines.setdefault(row.line, {"section": self.where.get(row.line, "?"),
                                         "line": row.line, "reason": reason,
                                         "text": " ".join(row.text.split())[:120]})


def _table(sections, name: str, damage: _Damage, fields: int,
           numbers: tuple[int, ...] = ()) -> list[Row]:
    """The usable rows of a section: not rejected by the engine, at least
    ``fields`` fields, numbers where ``numbers`` says."""
    out = []
    for row in inp_sections.rows_of(sections, name):
        if damage.rejected(row):
            continue
        if len(row.fields) < fields:
            damage.add(row, f"too few items ({len(row.fields)}, {name} needs {fields})")
            continue
        bad = next((k for k in numbers if _num(row.fields[k]) is None), None)
        if bad is not None:
            damage.add(row, f"{row.fields[bad]!r} is not a number")
            continue
        out.append(row)
    return out


def _source_crs(ctx: ConversionContext, sections) -> Any:
    if ctx.source_crs is not None:
        ctx.report["crs_from"] = "option"
        return ctx.source_crs
    title = " ".join(r.text for r in inp_sections.rows_of(sections, "TITLE"))
    m = re.search(r"EPSG:(\d{4,6})", title, re.IGNORECASE)
    if m is None:
        raise ConversionError(f"{ctx.source}: SWMM models carry no CRS; give it with --crs",
                              source=str(ctx.source))
    ctx.report["crs_from"] = "[TITLE]"
    return parse_crs(f"EPSG:{m.group(1)}", what=f"{ctx.source.name} [TITLE]")


def convert(ctx: ConversionContext) -> Iterator[Feature]:
    path = ctx.source
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConversionError(f"{path}: too large", source=str(path))
    text = path.read_bytes().decode("latin-1")
    sections = inp_sections.scan(text)
    engine_lines, engine_other = engine_check(path)
    damage = _Damage(engine_lines, sections, ctx.strict, str(path))
    read = {"OPTIONS", "COORDINATES", "VERTICES", "XSECTIONS", *NODE_SECTIONS, *LINK_SECTIONS}
    if ctx.strict:  # the first damaged line of the tables read, in file order
        first = min((k for k in engine_lines if damage.where.get(k) in read), default=None)
        if first is not None:
            raise ConversionError(f"{path}: [{damage.where[first]}] line {first}: "
                                  f"{engine_lines[first]}", source=str(path))
    opts = {r.fields[0].upper(): r.fields[1].upper() if len(r.fields) > 1 else ""
            for r in _table(sections, "OPTIONS", damage, 2)}
    units = opts.get("FLOW_UNITS")
    if units is None:
        ctx.report["flow_units_assumed"] = "CFS"
    scale = FEET if (units or "CFS") in US_FLOW_UNITS else 1.0
    offsets_are_elevations = opts.get("LINK_OFFSETS", "DEPTH") == "ELEVATION"
    src = _source_crs(ctx, sections)
    ctx.report.update({"source_crs": src.name, "units": "feet" if scale != 1 else "metres",
                       "link_offsets": "elevation" if offsets_are_elevations else "depth"})
    layer = ctx.options.get("layer") or "drainage"
    code = next((c for c, n in UTILITY_LAYER_BY_CODE.items() if n == layer), "PS")
    network = ctx.options.get("network") or network_name(code, path.stem)
    ids = NetworkIds(ctx.options.get("id_prefix") or f"swmm:{path.stem}")
    builder = NetworkBuilder(ctx, ids, network, Vocabulary(
        node="node", missing="is missing or has no position"))

    coords: dict[str, tuple[float, float]] = {}
    for r in _table(sections, "COORDINATES", damage, 3, (1, 2)):
        coords.setdefault(r.fields[0], (float(r.fields[1]), float(r.fields[2])))
    nodes, invert = _nodes(ctx, sections, damage, coords, scale, src)
    for f in builder.nodes(nodes):
        yield f
    invert = {n: z for n, z in invert.items() if n in builder.positions}
    links = _links(ctx, sections, damage, scale, offsets_are_elevations, src, invert, layer)
    for f in builder.links(links):
        yield f
    builder.record()
    ctx.report["damaged_lines"] = sorted(damage.lines.values(), key=lambda d: d["line"])
    elsewhere = sorted(set(engine_lines) - set(damage.lines))
    if elsewhere:  # lines of sections the twin does not read (hydrology, controls, ...)
        ctx.report["engine_rejects_elsewhere"] = [
            {"section": damage.where.get(k, "?"), "line": k, "reason": engine_lines[k]}
            for k in elsewhere]
    if engine_other:
        ctx.report["engine_errors"] = engine_other
    if not builder.positions:
        shown = "; ".join(f"[{d['section']}] line {d['line']}: {d['reason']}"
                          for d in ctx.report["damaged_lines"][:5])
        raise ConversionError(f"{path}: no node of the model could be read"
                              + (f" (damaged lines: {shown})" if shown else ""), source=str(path))


def _nodes(ctx, sections, damage, coords, scale, src) -> tuple[list[NodeRow], dict[str, float]]:
    raw = []
    for sec, (ntype, depth_at) in NODE_SECTIONS.items():
        for r in _table(sections, sec, damage, 2, (1,)):
            name = r.fields[0]
            if name not in coords:
                ctx.skip(name, f"node {name!r} has no coordinates")
                continue
            depth = _num(r.fields[depth_at]) if depth_at is not None and len(
                r.fields) > depth_at else None
            raw.append((name, ntype, float(r.fields[1]) * scale, (depth or 0.0) * scale))
    if not raw:
        return [], {}
    xy = np.array([coords[r[0]] for r in raw])
    ok = plausible(xy)
    for k in np.flatnonzero(~ok):
        ctx.skip(raw[k][0], implausible_reason(f"node {raw[k][0]!r}", xy[k]))
    raw = [r for r, good in zip(raw, ok) if good]
    pts = transform_xyz(src, ctx.twin_crs, xy[ok], source=str(ctx.source)) if raw else xy[:0]
    rows: list[NodeRow] = []
    invert: dict[str, float] = {}
    for (name, ntype, inv, depth), (x, y) in zip(raw, pts[:, :2]):
        attrs: dict[str, Any] = {"invert_m": inv}
        shaft = None
        if depth > 0:  # MaxDepth 0 means "up to the highest connected crown": ground unknown
            attrs["depth_m"] = depth
            shaft = Shaft(inv, Section(diameter=MANHOLE_DIAMETER_M), assumed=True)
        invert.setdefault(name, inv)
        rows.append(NodeRow(name, ntype, float(x), float(y), inv + depth if depth > 0 else None,
                            attrs, shaft))
    return rows, invert


def _section(xs: Row | None, scale: float) -> tuple[Section | None, dict[str, Any], float]:
    """Section, attributes and height of a conduit's [XSECTIONS] row."""
    if xs is None:
        return None, {"shape": "unknown"}, 0.0
    shape = xs.fields[1].upper()
    g1 = (_num(xs.fields[2]) or 0.0) * scale if len(xs.fields) > 2 else 0.0
    g2 = (_num(xs.fields[3]) or 0.0) * scale if len(xs.fields) > 3 else 0.0
    barrels = _num(xs.fields[6]) if len(xs.fields) > 6 else None
    attrs: dict[str, Any] = {"shape": shape, "barrels": int(barrels or 1)}
    if shape in ROUND_SHAPES:
        return Section.round(g1), attrs, g1
    sec = Section.rect(g2 if g2 > 0 else g1, g1)
    if sec is not None and shape not in RECT_SHAPES:
        attrs["section_approximated"] = True
    return sec, attrs, g1


def _links(ctx, sections, damage, scale, offsets_are_elevations, src, invert, layer
           ) -> Iterator[LinkRow]:
    xsections: dict[str, Row] = {}
    for r in _table(sections, "XSECTIONS", damage, 3):
        xsections.setdefault(r.fields[0], r)
    verts: dict[str, list[tuple[float, float]]] = {}
    for r in _table(sections, "VERTICES", damage, 3, (1, 2)):
        verts.setdefault(r.fields[0], []).append((float(r.fields[1]), float(r.fields[2])))
    for sec, ltype in LINK_SECTIONS.items():
        noun = sec.lower().rstrip("s")
        for r in _table(sections, sec, damage, 3):
            name, a, b = r.fields[:3]
            if a not in invert or b not in invert:
                ctx.skip(name, f"{noun} {name!r}: node {a if a not in invert else b!r} is "
                               "missing or has no position")
                continue
            mid = np.array(verts.get(name, []), float).reshape(-1, 2)
            if len(mid):
                if not plausible(mid).all():
                    ctx.skip(name, implausible_reason(f"{noun} {name!r} vertex",
                                                      mid[int(np.argmin(plausible(mid)))]))
                    continue
                mid = transform_xyz(src, ctx.twin_crs, mid, source=str(ctx.source))[:, :2]
            attrs: dict[str, Any] = {}
            za, zb = invert[a], invert[b]
            section, height = None, 0.0
            if ltype == "PipeSegment":
                section, xattrs, height = _section(xsections.get(name), scale)
                attrs.update(xattrs)
                f = r.fields
                off_a = (_num(f[5]) or 0.0) * scale if len(f) > 5 else 0.0
                off_b = (_num(f[6]) or 0.0) * scale if len(f) > 6 else 0.0
                za = off_a if offsets_are_elevations else invert[a] + off_a
                zb = off_b if offsets_are_elevations else invert[b] + off_b
                attrs.update({"length_m": (_num(f[3]) or 0.0) * scale if len(f) > 3 else 0.0,
                              "roughness": (_num(f[4]) or 0.0) if len(f) > 4 else 0.0,
                              "start_invert_m": za, "end_invert_m": zb})
            yield LinkRow(name, ltype, layer, a, b, z_start=za + height / 2,
                          z_end=zb + height / 2, depth_source="invert", section=section,
                          vertices=mid, attributes=attrs)


def summarise(src: Mapping[str, Any]) -> list[Note]:
    """Damaged lines, the engine's other errors, units assumed, pipe heights."""
    out: list[Note] = []
    dmg = list(src.get("damaged_lines", []))
    if dmg:
        shown, more = examples(dmg)
        out.append(Note(f"{len(dmg)} damaged lines not read (the rest was imported):", "warn"))
        out += [Note(f"[{d['section']}] line {d['line']}: {d['reason']}: {d['text']}", depth=2)
                for d in shown]
        out += [more] if more else []
    other = list(src.get("engine_rejects_elsewhere", []))
    if other:
        shown, more = examples(other)
        out.append(Note(f"the SWMM engine rejects {len(other)} lines of sections the twin does "
                        "not read (the model would not run as it is):", "warn"))
        out += [Note(f"[{d['section']}] line {d['line']}: {d['reason']}", depth=2) for d in shown]
        out += [more] if more else []
    for e in src.get("engine_errors", []):
        out.append(Note(f"SWMM engine: {e}", "warn"))
    if src.get("flow_units_assumed"):
        out.append(Note("no FLOW_UNITS in [OPTIONS]: SWMM's default CFS assumed (lengths in "
                        "feet)", "warn"))
    return out + pipe_notes(src)


CONVERTERS = (
    ConverterSpec(name=NAME, version=VERSION, format="EPA SWMM 5 model (.inp)",
                  extensions=(".inp",), run=convert, sniff=sniff, summarise=summarise,
                  description="SWMM sewer and storm models, checked by the SWMM engine"),
)
