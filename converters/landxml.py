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
* maps ``pipeNetType`` to the layer: storm -> rainwater (YS), sanitary ->
  sewage (WS), combined -> drainage (PS), water -> water supply (JS),
  gas -> gas (RQ), others -> drainage;
* reads the CRS from ``CoordinateSystem/@epsgCode`` unless ``--crs`` says
  otherwise, and the units from ``Units`` (metres or feet).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from shapely.geometry import LineString, Point

from twin.crs import parse_crs, transform_xyz
from twin.errors import ConversionError
from twin.geometry import box_mesh, circle_profile, cylinder, polyline_pipe, rect_profile
from twin.model import Edge, Feature

from .base import MAX_FILE_BYTES, ConversionContext, ConverterSpec

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
    prefix = ctx.options.get("id_prefix") or f"landxml:{path.stem}"
    networks = [n for pn in _children(root, "PipeNetworks") for n in _children(pn, "PipeNetwork")]
    if not networks:
        raise ConversionError(f"{path}: no PipeNetworks/PipeNetwork", source=str(path))
    for k, net in enumerate(networks):
        yield from _network(ctx, net, k, prefix, src, scale)


def _point(el, scale: float) -> tuple[float, float, float | None]:
    vals = [float(v) for v in (el.text or "").split()]
    if len(vals) < 2:
        raise ConversionError(f"point {el.text!r} needs northing and easting")
    n, e = vals[0] * scale, vals[1] * scale
    z = vals[2] * scale if len(vals) > 2 else None
    return e, n, z


def _network(ctx, net, k, prefix, src, scale) -> Iterator[Feature]:
    ntype = (net.get("pipeNetType") or "other").lower()
    code = NETWORK_CODE.get(ntype, "PS")
    layer = {"YS": "rainwater", "WS": "sewage", "PS": "drainage", "JS": "water_supply",
             "RQ": "gas"}[code]
    name = net.get("name") or f"network {k + 1}"
    network = ctx.options.get("network") or f"{code}:{ctx.source.stem}:{k + 1}"
    structs: dict[str, dict] = {}
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
        raw.append((sname, s, e, n))
    if raw:
        xy = transform_xyz(src, ctx.twin_crs, np.array([(r[2], r[3]) for r in raw]),
                           source=str(ctx.source))
    for (sname, s, _e, _n), (x, y) in zip(raw, xy[:, :2] if raw else []):
        rim, sump = _float(s, "elevRim"), _float(s, "elevSump")
        rim = rim * scale if rim is not None else None
        sump = sump * scale if sump is not None else None
        inverts = {}
        for inv in _children(s, "Invert"):
            elev = _float(inv, "elev")
            if elev is not None and inv.get("refPipe"):
                inverts[(inv.get("refPipe"), inv.get("flowDir", ""))] = elev * scale
        structs[sname] = {"x": float(x), "y": float(y), "rim": rim, "sump": sump,
                          "inverts": inverts}
        attrs = {"network": network}
        meshes = {}
        circ, rect = _first(s, "CircStruct"), _first(s, "RectStruct")
        if circ is not None:
            attrs["diameter_mm"] = (_float(circ, "diameter") or 0) * scale * 1000
            if circ.get("material"):
                attrs["material"] = circ.get("material")
        if rim is not None and sump is not None:
            attrs["depth_m"] = round(rim - sump, 3)
            if rim > sump:
                if circ is not None and attrs.get("diameter_mm"):
                    meshes["1"] = cylinder((x, y), sump, rim, attrs["diameter_mm"] / 2000)
                elif rect is not None:
                    ln = (_float(rect, "length") or 1.0) * scale
                    wd = (_float(rect, "width") or 1.0) * scale
                    meshes["1"] = box_mesh((x - ln / 2, y - wd / 2, sump), (x + ln / 2, y + wd / 2,
                                                                            rim))
        if s.get("desc"):
            attrs["description"] = s.get("desc")
        yield Feature(id=f"{prefix}:{sname}", layer="pipe_nodes", type="Manhole",
                      name=s.get("desc"), footprint=Point(x, y, rim) if rim is not None
                      else Point(x, y), attributes=attrs, meshes=meshes, source_id=sname)
    for p in [p for ps in _children(net, "Pipes") for p in _children(ps, "Pipe")]:
        pname = p.get("name") or "?"
        a, b = structs.get(p.get("refStart", "")), structs.get(p.get("refEnd", ""))
        if a is None or b is None:
            missing = p.get("refStart") if a is None else p.get("refEnd")
            ctx.skip(pname, f"pipe {pname!r}: structure {missing!r} not found")
            continue
        circ = _first(p, "CircPipe")
        rect = _first(p, "RectPipe") or _first(p, "EggPipe") or _first(p, "ElliPipe")
        attrs = {"network": network, "depth_source": "invert"}
        if circ is not None:
            dia = (_float(circ, "diameter") or 0.0) * scale
            attrs["diameter_mm"] = round(dia * 1000, 3)
            half, prof = dia / 2, circle_profile(dia / 2, 12) if dia > 0 else None
            sec = circ
        elif rect is not None:
            w = (_float(rect, "width") or 0.0) * scale
            h = (_float(rect, "height") or 0.0) * scale
            attrs["width_mm"], attrs["height_mm"] = round(w * 1000, 3), round(h * 1000, 3)
            half, prof = h / 2, rect_profile(w, h) if w > 0 and h > 0 else None
            sec = rect
        else:
            half, prof, sec = 0.0, None, None
        if sec is not None and sec.get("material"):
            attrs["material"] = sec.get("material")
        za = a["inverts"].get((pname, "out"), a["inverts"].get((pname, "in"), a["sump"]))
        zb = b["inverts"].get((pname, "in"), b["inverts"].get((pname, "out"), b["sump"]))
        meshes = {}
        if za is None or zb is None:
            line = LineString([(a["x"], a["y"]), (b["x"], b["y"])])
            attrs["depth_source"] = "unknown"
        else:
            coords = np.array([(a["x"], a["y"], za + half), (b["x"], b["y"], zb + half)])
            line = LineString(coords)
            attrs["start_invert_m"], attrs["end_invert_m"] = za, zb
            if prof is not None and np.any(coords[0] != coords[1]):
                meshes["1"] = polyline_pipe(coords, prof)
        yield Feature(id=f"{prefix}:pipe:{pname}", layer=layer, type="PipeSegment",
                      name=name, footprint=line, attributes=attrs, meshes=meshes,
                      source_id=pname, edge=Edge(network, f"{prefix}:{p.get('refStart')}",
                                                 f"{prefix}:{p.get('refEnd')}"))


CONVERTERS = (
    ConverterSpec(name=NAME, version=VERSION, format="LandXML 1.2 pipe network",
                  extensions=(".xml", ".landxml"), run=convert, sniff=sniff,
                  description="LandXML / Inframodel PipeNetworks (structures, pipes, inverts)"),
)
