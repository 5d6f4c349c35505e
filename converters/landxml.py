"""LandXML 1.2 pipe networks (and Finnish Inframodel) into the twin.

A ``PipeNetwork`` holds ``Structs`` (manholes, inlets, chambers: a centre
point, rim and sump elevations, a round or rectangular shell, and one
``Invert`` per connected pipe with its flow direction) and ``Pipes`` (start and
end structure, a round or rectangular section, material). This converter:

* reads the XML with defusedxml (no entities, no external references) and
  matches tags without their namespace, so LandXML 1.2 and Inframodel files
  both work;
* takes LandXML points as **northing easting elevation**;
* places each pipe end at its invert elevation, taken from the structure's
  ``Invert`` that names the pipe (flow out at the start, in at the end), else
  the structure's sump; the centreline lies one inner radius above it;
  ``depth_source=invert``;
* gives round (``CircPipe``) and rectangular pipes their swept section, egg
  and elliptic pipes their bounding rectangle (``section_approximated``), and
  open ditches (``Channel``: ``widthTop``, ``height``, ``widthBottom``, 0 for
  a V ditch) the type ``Channel`` and an open trough mesh whose bottom lies
  on the inverts; a channel without its sizes is counted in the report;
* maps ``pipeNetType`` to the layer: storm -> rainwater (YS), sanitary ->
  sewage (WS), combined -> drainage (PS), water -> water supply (JS),
  gas -> gas (RQ), others -> drainage;
* reads the CRS from ``CoordinateSystem/@epsgCode`` unless ``--crs`` says
  otherwise, and the units from ``Units`` (metres or feet).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from twin.crs import parse_crs, transform_xyz
from twin.errors import ConversionError
from twin.model import Feature

from .base import MAX_FILE_BYTES, ConversionContext, ConverterSpec
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
from .report import Note

NAME = "landxml"
VERSION = "0.1.0"
NETWORK_CODE = {"storm": "YS", "sanitary": "WS", "combined": "PS", "water": "JS", "gas": "RQ"}
FEET = 0.3048


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el, name: str):
    return [c for c in el if _local(c.tag) == name]


def _first(el, name: str):
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _float(el, attr: str) -> float | None:
    v = el.get(attr) if el is not None else None
    if v is None or v == "":
        return None
    try:
        return float(v)
    except ValueError:
        raise ConversionError(f"{_local(el.tag)} {el.get('name')!r}: {attr}={v!r} is not a "
                              "number") from None


def sniff(head: bytes) -> bool:
    return b"LandXML" in head or b"landxml" in head


def convert(ctx: ConversionContext) -> Iterator[Feature]:
    path = ctx.source
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConversionError(f"{path}: too large", source=str(path))
    try:
        root = ElementTree.parse(str(path)).getroot()
    except DefusedXmlException as exc:
        raise ConversionError(f"{path}: refused unsafe XML ({type(exc).__name__})",
                              source=str(path)) from None
    except ElementTree.ParseError as exc:
        raise ConversionError(f"{path}: not well-formed XML: {exc}", source=str(path)) from None
    if _local(root.tag) != "LandXML":
        raise ConversionError(f"{path}: the root element is {_local(root.tag)!r}, not LandXML",
                              source=str(path))
    scale = 1.0
    units = _first(root, "Units")
    if units is not None and _first(units, "Imperial") is not None:
        scale = FEET
    src = ctx.source_crs
    if src is None:
        cs = _first(root, "CoordinateSystem")
        code = cs.get("epsgCode") if cs is not None else None
        if not code:
            raise ConversionError(f"{path}: no CoordinateSystem/@epsgCode; give the CRS with "
                                  "--crs", source=str(path))
        src = parse_crs(f"EPSG:{code}", what=f"{path.name} CoordinateSystem")
        ctx.report["crs_from"] = "CoordinateSystem/@epsgCode"
    else:
        ctx.report["crs_from"] = "option"
    ctx.report["source_crs"] = src.name
    ids = NetworkIds(ctx.options.get("id_prefix") or f"landxml:{path.stem}", node_part="",
                     link_part="pipe:")
    networks = [n for pn in _children(root, "PipeNetworks") for n in _children(pn, "PipeNetwork")]
    if not networks:
        raise ConversionError(f"{path}: no PipeNetworks/PipeNetwork", source=str(path))
    for k, net in enumerate(networks):
        yield from _network(ctx, net, k, ids, src, scale)


def _point(el, scale: float) -> tuple[float, float, float | None]:
    vals = [float(v) for v in (el.text or "").split()]
    if len(vals) < 2:
        raise ConversionError(f"point {el.text!r} needs northing and easting")
    n, e = vals[0] * scale, vals[1] * scale
    z = vals[2] * scale if len(vals) > 2 else None
    return e, n, z


def _section(p, scale: float) -> tuple[Section | None, dict[str, Any], str]:
    """The pipe's cross-section, its attributes and the feature type: a round
    ``CircPipe``, a ``RectPipe`` (egg and elliptic pipes by their bounding
    rectangle), or an open ``Channel`` (ditch: top width, depth, bottom width)."""
    attrs: dict[str, Any] = {}
    circ, chan = _first(p, "CircPipe"), _first(p, "Channel")
    rect = _first(p, "RectPipe") or _first(p, "EggPipe") or _first(p, "ElliPipe")
    if circ is not None:
        sec, el, ftype = Section.round((_float(circ, "diameter") or 0.0) * scale), circ, \
            "PipeSegment"
    elif rect is not None:
        sec, el, ftype = Section.rect((_float(rect, "width") or 0.0) * scale,
                                      (_float(rect, "height") or 0.0) * scale), rect, "PipeSegment"
        if _local(rect.tag) != "RectPipe" and sec is not None:
            attrs["section_approximated"] = True
    elif chan is not None:
        top, h = _float(chan, "widthTop"), _float(chan, "height")
        bottom = _float(chan, "widthBottom")
        sec = Section.channel((top or 0.0) * scale, (h or 0.0) * scale,
                              (bottom if bottom is not None and bottom == bottom else 0.0) * scale)
        el, ftype = chan, "Channel"
        if sec is None:
            attrs["section_missing"] = "Channel needs widthTop and height"
    else:
        sec, el, ftype = None, None, "PipeSegment"
    if el is not None and el.get("material"):
        attrs["material"] = el.get("material")
    if el is not None and el.get("desc"):
        attrs["description"] = el.get("desc")
    return sec, attrs, ftype


def _network(ctx, net, k, ids, src, scale) -> Iterator[Feature]:
    ntype = (net.get("pipeNetType") or "other").lower()
    code = NETWORK_CODE.get(ntype, "PS")
    layer = {"YS": "rainwater", "WS": "sewage", "PS": "drainage", "JS": "water_supply",
             "RQ": "gas"}[code]
    name = net.get("name") or f"network {k + 1}"
    network = ctx.options.get("network") or network_name(code, ctx.source.stem, k + 1)
    builder = NetworkBuilder(ctx, ids, network, Vocabulary("pipe", "structure", "not found"))
    raw = []
    for s in [s for ss in _children(net, "Structs") for s in _children(ss, "Struct")]:
        sname = s.get("name")
        centre = _first(s, "Center")
        if not sname or centre is None:
            ctx.skip(sname or "?", "structure without name or Center")
            continue
        try:
            e, n, z = _point(centre, scale)
        except (ConversionError, ValueError) as exc:
            ctx.skip(sname, f"structure {sname!r}: {exc}")
            continue
        if not plausible(np.array([(e, n)]))[0]:
            ctx.skip(sname, implausible_reason(f"structure {sname!r}", (e, n)))
            continue
        raw.append((sname, s, e, n))
    xy = transform_xyz(src, ctx.twin_crs, np.array([(r[2], r[3]) for r in raw]),
                       source=str(ctx.source)) if raw else np.zeros((0, 2))
    nodes, inverts = [], {}
    for (sname, s, _e, _n), (x, y) in zip(raw, xy[:, :2]):
        rim, sump = _float(s, "elevRim"), _float(s, "elevSump")
        rim = rim * scale if rim is not None else None
        sump = sump * scale if sump is not None else None
        inv = {}
        for el in _children(s, "Invert"):
            elev = _float(el, "elev")
            if elev is not None and el.get("refPipe"):
                inv[(el.get("refPipe"), el.get("flowDir", ""))] = elev * scale
        inverts[sname] = (inv, sump)
        attrs: dict[str, Any] = {}
        shaft = None
        circ, rect = _first(s, "CircStruct"), _first(s, "RectStruct")
        if circ is not None:
            attrs["diameter_mm"] = (_float(circ, "diameter") or 0) * scale * 1000
            if circ.get("material"):
                attrs["material"] = circ.get("material")
        if rim is not None and sump is not None:
            attrs["depth_m"] = round(rim - sump, 3)
            if circ is not None and attrs.get("diameter_mm"):
                shaft = Shaft(sump, Section(diameter=attrs["diameter_mm"] / 1000))
            elif rect is not None:
                shaft = Shaft(sump, Section(width=(_float(rect, "length") or 1.0) * scale,
                                            height=(_float(rect, "width") or 1.0) * scale))
        if s.get("desc"):
            attrs["description"] = s.get("desc")
        nodes.append(NodeRow(sname, "Manhole", float(x), float(y), rim, attrs, shaft,
                             label=s.get("desc")))
    yield from builder.nodes(nodes)
    links = []
    for p in [p for ps in _children(net, "Pipes") for p in _children(ps, "Pipe")]:
        pname = p.get("name") or "?"
        a, b = p.get("refStart", ""), p.get("refEnd", "")
        section, attrs, ftype = _section(p, scale)
        if ftype == "Channel":
            ctx.report["channels"] = ctx.report.get("channels", 0) + 1
            if section is None:
                ctx.report["channels_without_section"] = ctx.report.get(
                    "channels_without_section", 0) + 1
        half = section.half_height if section is not None else 0.0
        ia, sa = inverts.get(a, ({}, None))
        ib, sb = inverts.get(b, ({}, None))
        za = ia.get((pname, "out"), ia.get((pname, "in"), sa))
        zb = ib.get((pname, "in"), ib.get((pname, "out"), sb))
        if za is not None and zb is not None:
            attrs["start_invert_m"], attrs["end_invert_m"] = za, zb
        links.append(LinkRow(pname, ftype, layer, a, b,
                             z_start=za + half if za is not None else None,
                             z_end=zb + half if zb is not None else None,
                             depth_source="invert", section=section, attributes=attrs,
                             label=name))
    yield from builder.links(links)
    builder.record()


def summarise(src: Mapping[str, Any]) -> list[Note]:
    """Open channels and where the pipe heights came from."""
    out: list[Note] = []
    if src.get("channels"):
        missing = src.get("channels_without_section", 0)
        out.append(Note(f"{src['channels']} open channels (ditches) meshed as open troughs"
                        + (f"; {missing} without widthTop/height: no section, no mesh"
                           if missing else ""), "warn" if missing else "info"))
    return out + pipe_notes(src)


CONVERTERS = (
    ConverterSpec(name=NAME, version=VERSION, format="LandXML 1.2 pipe network",
                  extensions=(".xml", ".landxml"), run=convert, sniff=sniff,
                  summarise=summarise,
                  description="LandXML / Inframodel PipeNetworks (structures, pipes, inverts)"),
)
