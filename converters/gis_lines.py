"""Pipe line layers of a utility's GIS, from any vector format GDAL reads.

The most common delivery of a pipe network is a GIS layer of lines: a
Shapefile, a GeoPackage, a FlatGeobuf or a GeoJSON of mains with attribute
columns. This converter reads one such layer with pyogrio (GDAL) and builds
its pipes with :mod:`converters.pipe_network`:

* **Fields** are found by a mapping (``converters/profiles/gis.toml`` by
  default; ``--profile`` for another, ``--field KEY=COLUMN`` to name single
  columns): ``id``, ``layer`` or ``code`` (CJJ 61 utility code), ``diameter``
  (or ``size`` as ``DN300`` / ``600x400``, or ``width`` and ``height``),
  ``material``, ``year`` (install year, from a number or a date), ``depth``
  (cover above the pipe), ``pressure``, ``owner``, ``start``/``end`` (node
  ids), ``name``. Units of sizes and depths come from the profile's
  ``[units]``. Every column is also kept as an attribute.
* **Layer**: the mapped ``layer``, else the layer of the ``code``, else
  ``--layer``; a line with none is skipped with its reason.
* **Ids**: ``<prefix>:<id>`` from the id column when it is complete and
  unique; otherwise generated from the layer name, the geometry and the
  attributes (stable across re-imports; see :mod:`converters.gis_features`),
  and the summary says so. The prefix is ``--id-prefix``, else
  ``gis:<file stem>``.
* **Multi-part lines** are split into their parts (ids ``#1``, ``#2``, ...).
* **Heights**: a line with Z keeps it as its centreline; a 2D line is draped
  on ``--dem`` or the twin's terrain, its ``depth`` (or the CJJ 61 default
  cover, ``depth_source=assumed``) below the ground; elsewhere it stays 2D.
* **Topology**: ``start``/``end`` columns give the edge's nodes
  (``<prefix>:<value>``); otherwise line ends that coincide (within
  ``--snap`` metres, exactly by default) become one node, named after its
  position.
* **CRS**: ``--crs``, else the layer's own (a Shapefile's ``.prj``).

The GeoJSON converter keeps GeoJSON files with their own conventions
(``layer``/``utility`` properties); a GeoJSON goes through this converter with
``--format gis-lines``, or when a field mapping is given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from twin.attributes import TYPED_ATTRIBUTES, coerce_typed
from twin.crs import parse_crs, transform_xyz
from twin.errors import ConversionError, TwinError
from twin.layers import UTILITY_LAYER_BY_CODE, layer_for_utility_code
from twin.model import Feature

from .base import ConversionContext, ConverterSpec
from .gis_features import assign_ids, drape, explode, part_ids, snapped_nodes
from .pipe_network import (
    LinkRow,
    NetworkBuilder,
    NetworkIds,
    Section,
    implausible_reason,
    pipe_notes,
    plausible,
)
from .report import Note

NAME = "gis-lines"
VERSION = "0.1.0"
#: Most features a layer may have.
MAX_FEATURES = 5_000_000
#: File types read as GIS line layers (when they hold lines).
EXTENSIONS = (".shp", ".gpkg", ".fgb", ".gml", ".kml", ".sqlite", ".geojson", ".json",
              ".geojsonl", ".geojsons")
LENGTH_UNITS = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "in": 25.4}
DEPTH_UNITS = {"m": 1.0, "ft": 0.3048}
_YEAR_RE = re.compile(r"(1[89]\d\d|20\d\d)")
_NUM_RE = re.compile(r"-?\d+(?:\.\d+)?")


def line_layers(path: str | Path) -> list[str]:
    """The layers of ``path`` that hold lines (GDAL geometry types)."""
    import pyogrio

    try:
        layers = pyogrio.list_layers(str(path))
    except Exception:  # noqa: BLE001 - not something GDAL reads: not a line layer
        return []
    return [str(name) for name, gtype in layers if gtype and "LINE" in str(gtype).upper()]


def _choose_layer(path: Path, wanted: str | None) -> str:
    import pyogrio

    try:
        layers = [str(n) for n, _ in pyogrio.list_layers(str(path))]
    except Exception as exc:  # noqa: BLE001 - GDAL errors come in many kinds
        raise ConversionError(f"{path}: cannot be read as a GIS layer: {exc}",
                              source=str(path)) from None
    if wanted:
        if wanted not in layers:
            raise ConversionError(f"{path}: no layer {wanted!r}; it has {', '.join(layers)}",
                                  source=str(path))
        return wanted
    lines = line_layers(path)
    if len(lines) == 1:
        return lines[0]
    if not lines:
        raise ConversionError(f"{path}: no layer of lines (layers: {', '.join(layers)})",
                              source=str(path))
    raise ConversionError(f"{path}: {len(lines)} line layers ({', '.join(lines)}): choose one "
                          "with --source-layer", source=str(path))


def _mapping(ctx: ConversionContext, names: list[str]) -> tuple[dict[str, str], Any]:
    """Canonical field -> column, from the profile and ``--field`` options."""
    from .survey import load_profile

    profile = load_profile(ctx.options.get("profile") or "gis")
    lower = {n.lower(): n for n in names}
    out: dict[str, str] = {}
    for key, candidates in profile.lines.items():
        for c in candidates:
            if c.lower() in lower:
                out[key] = lower[c.lower()]
                break
    for key, col in (ctx.options.get("fields") or {}).items():
        if col not in names and col.lower() not in lower:
            raise ConversionError(f"{ctx.source}: --field {key}={col}: no column {col!r}; the "
                                  f"layer has {', '.join(names)}", source=str(ctx.source))
        out[key] = col if col in names else lower[col.lower()]
    return out, profile


def _plain(v: Any) -> Any:
    """Field values as JSON-able Python values (dates as ISO text)."""
    if v is None:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, bytes):
        return v.hex()
    if not isinstance(v, (str, int, float, bool)):
        return str(v)
    return v


def _number(v: Any) -> float | None:
    if v is None or v == "":
        return None
    if isinstance(v, (int, float)):
        return float(v)
    m = _NUM_RE.search(str(v))
    return float(m.group()) if m else None


def _typed(row: Mapping[str, Any], cols: dict[str, str], units: dict[str, str], fid: str
           ) -> tuple[dict[str, Any], Section | None, str | None, str | None]:
    """Typed attributes, section, layer and code of one row."""
    from .survey import parse_size

    scale = LENGTH_UNITS.get(units.get("diameter", "mm"))
    dscale = DEPTH_UNITS.get(units.get("depth", "m"))
    if scale is None or dscale is None:
        raise ConversionError(f"profile [units]: diameter must be one of {', '.join(LENGTH_UNITS)}"
                              f", depth one of {', '.join(DEPTH_UNITS)}")
    get = lambda key: row.get(cols[key]) if key in cols else None  # noqa: E731
    attrs: dict[str, Any] = {}
    dia = _number(get("diameter"))
    width, height = _number(get("width")), _number(get("height"))
    if dia is None and width is None and get("size") not in (None, ""):
        d, w, h = parse_size(str(get("size")))
        dia, width, height = d, w, h
    section = None
    if dia is not None and dia > 0:
        section = Section.round(dia * scale / 1000.0)
    elif width and height:
        section = Section.rect(width * scale / 1000.0, height * scale / 1000.0)
    year = get("year")
    if year not in (None, ""):
        m = _YEAR_RE.search(str(year))
        if m is None:
            raise ValueError(f"install year {year!r} is not a year")
        attrs["install_year"] = int(m.group())
    depth = _number(get("depth"))
    if depth is not None:
        attrs["depth_m"] = round(depth * dscale, 3)
    for key, attr in (("material", "material"), ("pressure", "pressure_class"),
                      ("owner", "owner")):
        if get(key) not in (None, ""):
            attrs[attr] = str(get(key))
    code = str(get("code")).strip().upper() if get("code") not in (None, "") else None
    layer = str(get("layer")) if get("layer") not in (None, "") else None
    if layer is None and code is not None:
        layer = layer_for_utility_code(code)
    return attrs, section, layer, code


def convert(ctx: ConversionContext) -> Iterator[Feature]:
    import pyogrio

    path = ctx.source
    layer_name = _choose_layer(path, ctx.options.get("source_layer"))
    try:
        info = pyogrio.read_info(str(path), layer=layer_name)
        if int(info.get("features") or 0) > MAX_FEATURES:
            raise ConversionError(f"{path}: more than {MAX_FEATURES} features",
                                  source=str(path))
        meta, _fids, wkbs, columns = pyogrio.raw.read(str(path), layer=layer_name)
    except ConversionError:
        raise
    except Exception as exc:  # noqa: BLE001 - GDAL errors come in many kinds
        raise ConversionError(f"{path}: cannot be read as a GIS layer: {exc}",
                              source=str(path)) from None
    names = [str(n) for n in meta["fields"]]
    src = ctx.source_crs
    if src is None:
        if not meta.get("crs"):
            raise ConversionError(f"{path}: layer {layer_name!r} has no CRS (a Shapefile "
                                  "without .prj?); give it with --crs", source=str(path))
        src = parse_crs(meta["crs"], what=f"{path.name} CRS")
        ctx.report["crs_from"] = f"layer {layer_name}"
    else:
        ctx.report["crs_from"] = "option"
    cols, profile = _mapping(ctx, names)
    n = len(wkbs) if wkbs is not None else 0
    rows = [{name: _plain(col[k]) for name, col in zip(names, columns)} for k in range(n)]
    ctx.report.update({"source_crs": src.name, "ogr_layer": layer_name,
                       "driver": info.get("driver"), "features_in_layer": n,
                       "profile": profile.name, "fields": cols})
    prefix = ctx.options.get("id_prefix") or f"gis:{path.stem}"
    ids_, how = assign_ids([r.get(cols["id"]) for r in rows] if "id" in cols else None,
                           cols.get("id"), layer_name, [bytes(w or b"") for w in wkbs], rows)
    ctx.report["ids"] = how
    default_layer = ctx.options.get("layer")
    snap = float(ctx.options.get("snap") or 0.0)
    if not snap >= 0:
        raise ConversionError(f"{path}: snap tolerance {snap!r} must be >= 0 metres",
                              source=str(path))
    links: list[LinkRow] = []
    for k, (row, sid) in enumerate(zip(rows, ids_)):
        if k % 1000 == 0:
            ctx.progress(k, n)
        try:
            links.extend(_lines(ctx, row, sid, wkbs[k], cols, profile, default_layer, src,
                                prefix))
        except (TwinError, ValueError, TypeError) as exc:
            ctx.skip(sid, str(exc))
    links = _topology(links, snap)
    ctx.report["snap_m"] = snap
    builder = NetworkBuilder(ctx, NetworkIds(prefix, node_part="", link_part=""), None)
    yield from builder.links(links)
    builder.record()
    ctx.progress(n, n)


def _lines(ctx, row, sid, wkb, cols, profile, default_layer, src, prefix) -> list[LinkRow]:
    if wkb is None:
        raise ConversionError("feature has no geometry")
    geom = shapely.from_wkb(wkb)
    if geom.is_empty:
        raise ConversionError("feature geometry is empty")
    attrs, section, layer, code = _typed(row, cols, profile.units, sid)
    layer = layer or default_layer
    if layer is None:
        raise ConversionError("no layer: map a utility code or layer column (--field code=..., "
                              "--field layer=...) or give --layer")
    if layer not in UTILITY_LAYER_BY_CODE.values():
        raise ConversionError(f"layer {layer!r} is not a utility layer (one of "
                              f"{', '.join(UTILITY_LAYER_BY_CODE.values())})")
    code = code or next(c for c, name in UTILITY_LAYER_BY_CODE.items() if name == layer)
    parts = explode(geom, layer) or [geom]
    if any(p.geom_type != "LineString" for p in parts):
        raise ConversionError(f"a {geom.geom_type} is not a line")
    if len(parts) > 1:
        ctx.report["multipart_features"] = ctx.report.get("multipart_features", 0) + 1
        ctx.report["parts"] = ctx.report.get("parts", 0) + len(parts)
    free = {k: v for k, v in row.items() if v is not None and v != ""}
    for key in list(free):
        if key in TYPED_ATTRIBUTES:
            free[key] = coerce_typed(key, free[key], sid)
    out = []
    for part, psid in zip(parts, part_ids(sid, len(parts))):
        xyz = shapely.get_coordinates(part, include_z=part.has_z)
        ok = plausible(xyz)
        if not ok.all():
            raise ConversionError(implausible_reason("geometry", xyz[int(np.argmin(ok))]))
        xyz = transform_xyz(src, ctx.twin_crs, xyz, source=f"{ctx.source.name} feature {sid!r}")
        a = {**free, **attrs, "network": code}
        if section is not None:
            a.update(section.attributes())
        line = shapely.linestrings(xyz)
        if not part.has_z:
            line = drape(line, layer, a, ctx, psid)
        elif "depth_source" not in a:
            a["depth_source"] = "source_z"
        coords = shapely.get_coordinates(line, include_z=line.has_z)
        src_tag = a.pop("depth_source", "unknown")
        start = row.get(cols["start"]) if "start" in cols else None
        end = row.get(cols["end"]) if "end" in cols else None
        whole = len(parts) == 1 and start not in (None, "") and end not in (None, "")
        out.append(LinkRow(psid, "PipeSegment", layer, str(start) if whole else None,
                           str(end) if whole else None, depth_source=src_tag,
                           section=section, geometry=coords, attributes=a,
                           label=str(row[cols["name"]]) if row.get(cols.get("name", "")) else None,
                           network=code, id=f"{prefix}:{psid}"))
    return out


def _topology(links: list[LinkRow], snap: float) -> list[LinkRow]:
    """Start and end nodes for lines without them: coinciding ends (within
    ``snap``) share a node named after its position."""
    import dataclasses

    idx = [k for k, link in enumerate(links) if link.start is None]
    if not idx:
        return links
    pairs = []
    for k in idx:
        g = links[k].geometry
        if g is None:  # never: every link read from a line layer has its centreline
            raise RuntimeError(f"line {links[k].name!r} has no centreline")
        pairs.append([g[0, :2], g[-1, :2]])
    ends = np.array(pairs).reshape(-1, 2)
    names = snapped_nodes(ends, snap)
    out = list(links)
    for j, k in enumerate(idx):
        out[k] = dataclasses.replace(links[k], start=f"node:{names[2 * j]}",
                                     end=f"node:{names[2 * j + 1]}")
    return out


def summarise(src: Mapping[str, Any]) -> list[Note]:
    """Layer and fields read, how ids were made, parts, heights."""
    out = [Note(f"layer {src.get('ogr_layer')!r} ({src.get('driver')}): "
                f"{src.get('features_in_layer', 0)} features; fields "
                + (", ".join(f"{k}={v}" for k, v in sorted(src.get("fields", {}).items()))
                   or "none mapped"))]
    ids = src.get("ids") or {}
    if ids.get("ids_from") == "generated":
        out.append(Note(f"ids generated from the {ids['ids_generated_from']} "
                        f"({ids['ids_generated_because']}): the same on every import of this "
                        "data; map an id column with --field id=COLUMN", "warn"))
    elif ids.get("ids_from"):
        out.append(Note(f"ids from {ids['ids_from']}"))
    if src.get("multipart_features"):
        out.append(Note(f"{src['multipart_features']} multi-part lines split into "
                        f"{src['parts']} parts (ids suffixed #1, #2, ...)", "warn"))
    how = ("start/end columns" if "start" in src.get("fields", {})
           else f"line ends within {src.get('snap_m', 0.0):g} m")
    out.append(Note(f"topology from {how}"))
    return out + pipe_notes(src)


CONVERTERS = (
    ConverterSpec(name=NAME, version=VERSION,
                  format="GIS pipe line layer (Shapefile, GeoPackage, FlatGeobuf, GeoJSON, ...)",
                  extensions=(".shp", ".gpkg", ".fgb", ".gml", ".kml", ".sqlite"), run=convert,
                  summarise=summarise,
                  description="utility line layers from any OGR format, with a field mapping"),
)
