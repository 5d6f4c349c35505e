"""Pipeline survey tables (CJJ 61 and others) into the twin, in 3D.

A pipeline survey delivers two tables: **points** (point id, coordinates,
ground elevation, feature or accessory such as a manhole or valve, depth) and
**lines** (start and end point ids, burial depth or invert elevation at each
end, utility type code, size, material, pressure, cables, year, owner, burial
method). A *profile* (TOML, see ``converters/profiles/cjj61.toml``) maps the
tables' column names to these fields; the CJJ 61 profile is the default.

Import the lines table and name the points table with the ``points`` option
(``twin import lines.csv --points points.csv --crs EPSG:4546``); a table with no
start/end columns is imported as points only. Tables are CSV (UTF-8 or GBK) or
GeoPackage / Shapefile layers, or attribute-only ``.dbf`` tables (the CRS of
either table is used unless ``--crs`` is given; point geometries stand in for
missing coordinate columns).

3D reconstruction of each line end, in this order (``depth_source``):

1. ``invert``: the invert elevation given in the table (centre = invert + radius);
2. ``surveyed``: ground elevation of the end point minus the burial depth, with
   the depth measured to the inner bottom for drainage and to the outer top for
   other pipes, as CJJ 61 prescribes;
3. ``assumed``: ground minus the profile's default depth for the utility type,
   so that nobody mistakes it for surveyed data;

(a point without a ground elevation in the table takes it from ``--dem`` or
the twin's terrain layer, and its node says ``ground_source``)
4. no ground elevation at all: the line stays 2D (no mesh) and is counted.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from twin.crs import parse_crs, transform_xyz
from twin.errors import ConversionError, GeometryError
from twin.layers import layer_for_utility_code
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
    pipe_notes,
)
from .report import Note

NAME = "survey"
VERSION = "0.1.0"
#: Most rows a survey table may have.
MAX_ROWS = 5_000_000
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*[xX×*]\s*(\d+(?:\.\d+)?)")
_NUM_RE = re.compile(r"\d+(?:\.\d+)?")
_YEAR_RE = re.compile(r"(1[89]\d\d|20\d\d)")


@dataclass(frozen=True)
class Profile:
    name: str
    points: dict[str, list[str]]
    lines: dict[str, list[str]]
    depth_reference: dict[str, str]
    default_depth_m: dict[str, float]
    node_types: dict[str, str]
    units: dict[str, str] = field(default_factory=dict)


def load_profile(name_or_path: str | None) -> Profile:
    """The named shipped profile (``cjj61``) or a TOML file of the same form."""
    key = name_or_path or "cjj61"
    try:
        if Path(key).suffix.lower() == ".toml":
            text = Path(key).read_text(encoding="utf-8")
        else:
            text = resources.files("converters").joinpath(f"profiles/{key}.toml").read_text(
                encoding="utf-8")
        doc = tomllib.loads(text)
    except FileNotFoundError:
        raise ConversionError(f"survey profile {key!r} not found: give a shipped name (cjj61) "
                              "or the path of a .toml file") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConversionError(f"survey profile {key!r} cannot be read: {exc}") from None
    as_lists = lambda d: {k: [v] if isinstance(v, str) else list(v) for k, v in d.items()}  # noqa
    return Profile(
        name=doc.get("name", key), points=as_lists(doc.get("points", {})),
        lines=as_lists(doc.get("lines", {})),
        depth_reference=dict(doc.get("depth_reference", {"default": "top"})),
        default_depth_m={k: float(v) for k, v in doc.get("default_depth_m", {}).items()},
        node_types=dict(doc.get("node_types", {})),
        units={k: str(v).lower() for k, v in doc.get("units", {}).items()})


GIS_TABLES = (".gpkg", ".shp", ".dbf", ".geojson", ".fgb")


def read_gis_table(path: Path, layer: str | None = None
                   ) -> tuple[list[str], list[dict[str, str]], Any]:
    """Header, rows and CRS of a GeoPackage, Shapefile, GeoJSON or FlatGeobuf
    layer (through GDAL).

    Point geometries also give ``easting``/``northing`` columns, used when the
    table has no coordinate columns of its own.
    """
    import pyogrio
    import shapely

    try:
        meta, _fids, geoms, fields = pyogrio.raw.read(str(path), layer=layer)
    except Exception as exc:  # noqa: BLE001 - GDAL errors come in many kinds
        raise ConversionError(f"{path}: cannot be read as a GIS table: {exc}",
                              source=str(path)) from None
    names = [str(n) for n in meta["fields"]]
    n = len(fields[0]) if len(fields) else (len(geoms) if geoms is not None else 0)
    if n > MAX_ROWS:
        raise ConversionError(f"{path}: more than {MAX_ROWS} rows", source=str(path))
    cols = [[("" if v is None or (isinstance(v, float) and np.isnan(v)) else
              (str(int(v)) if isinstance(v, float) and v.is_integer() and name.lower() not in
               ("x", "y") else str(v))) for v in col] for name, col in zip(names, fields)]
    header = list(names)
    if geoms is not None and len(geoms):
        g = shapely.from_wkb(geoms)
        if np.all(shapely.get_type_id(g[~shapely.is_missing(g)]) == 0):  # points
            xy = shapely.get_coordinates(g)
            header += ["easting", "northing"]
            cols += [[repr(float(v)) for v in xy[:, 0]], [repr(float(v)) for v in xy[:, 1]]]
    rows = [{h: col[k] for h, col in zip(header, cols)} for k in range(n)]
    return header, rows, meta.get("crs")


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]], Any]:
    """Header, rows and CRS (``None`` for CSV) of a table: CSV (UTF-8 with or
    without BOM, else GB 18030) or a GIS layer (:func:`read_gis_table`)."""
    if path.suffix.lower() in GIS_TABLES:
        return read_gis_table(path)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ConversionError(f"{path}: {size} bytes is more than a table may have",
                              source=str(path))
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise ConversionError(f"{path}: neither UTF-8 nor GBK text", source=str(path))
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise ConversionError(f"{path}: the table has no header row", source=str(path))
    rows = []
    for k, row in enumerate(reader):
        if k >= MAX_ROWS:
            raise ConversionError(f"{path}: more than {MAX_ROWS} rows", source=str(path))
        rows.append({(key or "").strip(): (val or "").strip() for key, val in row.items()
                     if key is not None})
    return header, rows, None


def _columns(header: list[str], mapping: dict[str, list[str]]) -> dict[str, str]:
    """Canonical field -> the table's column, for the fields present."""
    lower = {h.lower(): h for h in header}
    out = {}
    for key, names in mapping.items():
        for n in names:
            if n in header:
                out[key] = n
                break
            if n.lower() in lower:
                out[key] = lower[n.lower()]
                break
    return out


def _num(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        m = _NUM_RE.search(text)
        if m is None:
            raise ValueError(f"{text!r} is not a number") from None
        return float(m.group())


def parse_size(text: str) -> tuple[float | None, float | None, float | None]:
    """``(diameter_mm, width_mm, height_mm)`` from ``300``, ``DN300``, ``Φ300``,
    ``De110``, ``600x400``, ``600×400``.

    >>> parse_size("600×400")
    (None, 600.0, 400.0)
    >>> parse_size("DN300")
    (300.0, None, None)
    """
    t = text.strip()
    if not t:
        return None, None, None
    m = _SIZE_RE.search(t)
    if m:
        return None, float(m.group(1)), float(m.group(2))
    n = _NUM_RE.search(t)
    if n is None:
        raise ValueError(f"size {text!r} is neither a diameter nor W x H")
    return float(n.group()), None, None


def _code_of(value: str | None, point_id: str | None) -> str | None:
    if value:
        return value.strip().upper()
    if point_id:  # survey point ids usually start with the type code: JS123, RL-0045
        m = re.match(r"([A-Za-z]{2})", point_id)
        if m:
            return m.group(1).upper()
    return None


def convert(ctx: ConversionContext) -> Iterator[Feature]:
    """Yield the nodes and pipe segments of one survey (see the module docstring)."""
    profile = load_profile(ctx.options.get("profile"))
    ctx.report["profile"] = profile.name
    header, rows, file_crs = read_table(ctx.source)
    line_cols = _columns(header, profile.lines)
    is_lines = "start" in line_cols and "end" in line_cols
    points_path = ctx.options.get("points")
    if is_lines:
        if not points_path:
            raise ConversionError(
                f"{ctx.source}: a line table needs its point table: give it with --points",
                source=str(ctx.source))
        p_source = Path(points_path)
        p_header, p_rows, p_crs = read_table(p_source)
    else:
        p_header, p_rows, p_crs, p_source = header, rows, None, ctx.source
    src_crs = ctx.source_crs
    for table, crs_text in ((ctx.source, file_crs), (p_source, p_crs)):
        if src_crs is None and crs_text:
            src_crs = parse_crs(crs_text, what=f"{table.name} CRS")
            ctx.report["crs_from"] = f"file {table.name}"
    if src_crs is None:
        raise ConversionError(
            f"{ctx.source}: survey tables carry no CRS; give it with --crs (e.g. EPSG:4546)",
            source=str(ctx.source))
    ctx.report["source_crs"] = src_crs.name
    ctx.report.setdefault("crs_from", "option")
    prefix = ctx.options.get("id_prefix") or "survey"
    pcols = _columns(p_header, profile.points)
    missing = [f for f in ("id", "easting", "northing") if f not in pcols]
    if missing:
        raise ConversionError(
            f"{p_source}: no column for {', '.join(missing)} (profile {profile.name!r} looks "
            f"for {', '.join(n for f in missing for n in profile.points.get(f, []))}); the "
            f"table has {', '.join(p_header)}", source=str(p_source))
    points = _read_points(ctx, profile, pcols, p_rows, src_crs, p_source)
    ctx.report["points"] = len(points)
    ids = NetworkIds(prefix, node_part="", link_part="{network}:")
    builder = NetworkBuilder(ctx, ids, None, Vocabulary("line", "point",
                                                        "is not in the point table"))
    total = len(points) + (len(rows) if is_lines else 0)
    nodes = []
    for pid, pt in points.items():
        try:
            nodes.append(_node(pid, pt, profile))
        except (GeometryError, ValueError) as exc:
            ctx.skip(pid, str(exc))
    for k, f in enumerate(builder.nodes(nodes)):
        yield f
        if k % 1000 == 0:
            ctx.progress(k, total)
    if not is_lines:
        ctx.progress(total, total)
        return

    def links() -> Iterator[LinkRow]:
        for row in rows:
            sid = row.get(line_cols.get("id", ""), "") or \
                f"{row.get(line_cols['start'], '')}-{row.get(line_cols['end'], '')}"
            try:
                yield _segment(sid, row, line_cols, points, profile)
            except (GeometryError, ValueError, ConversionError) as exc:
                ctx.skip(sid, str(exc))

    for k, f in enumerate(builder.links(links())):
        yield f
        if k % 1000 == 0:
            ctx.progress(len(points) + k, total)
    builder.record()
    ctx.progress(total, total)


def _read_points(ctx, profile, cols, rows, src_crs, path) -> dict[str, dict[str, Any]]:
    ids, xyz, keep = [], [], []
    for k, row in enumerate(rows):
        pid = row.get(cols["id"], "")
        if not pid:
            ctx.skip(f"{path.name} row {k + 2}", "point without id")
            continue
        try:
            e, n = _num(row.get(cols["easting"])), _num(row.get(cols["northing"]))
            g = _num(row.get(cols["ground_z"])) if "ground_z" in cols else None
        except ValueError as exc:
            ctx.skip(pid, f"point {pid!r}: {exc}")
            continue
        if e is None or n is None:
            ctx.skip(pid, f"point {pid!r} has no coordinates")
            continue
        ids.append(pid)
        xyz.append((e, n, g if g is not None else np.nan))
        keep.append(row)
    if not ids:
        return {}
    arr = transform_xyz(src_crs, ctx.twin_crs, np.array(xyz), source=str(path))
    # points surveyed without a ground elevation take it from the DEM or the terrain
    from_ground = np.zeros(len(arr), dtype=bool)
    gap = np.isnan(arr[:, 2])
    if gap.any() and ctx.ground is not None:
        arr[gap, 2] = ctx.ground(arr[gap, :2])
        from_ground[gap] = ~np.isnan(arr[gap, 2])
        if from_ground.any():
            ctx.report["ground_used"] = ctx.report.get("ground_used", 0) + int(
                from_ground.sum())
    out: dict[str, dict[str, Any]] = {}
    for pid, (x, y, g), row, by_ground in zip(ids, arr, keep, from_ground):
        if pid in out:
            ctx.skip(pid, f"point {pid!r} appears twice in {path.name}; the first is kept")
            continue
        out[pid] = {
            "x": float(x), "y": float(y), "ground": None if np.isnan(g) else float(g),
            "feature": row.get(cols.get("feature", ""), ""),
            "accessory": row.get(cols.get("accessory", ""), ""),
            "depth": row.get(cols.get("depth", ""), ""),
            "code": _code_of(row.get(cols.get("code", ""), ""), pid),
            "ground_source": "dem or terrain" if by_ground else "surveyed",
        }
    return out


def _node(pid: str, pt: dict[str, Any], profile: Profile) -> NodeRow:
    label = pt["accessory"] or pt["feature"]
    ntype = profile.node_types.get(label, "Junction" if not label else label)
    attrs: dict[str, Any] = {}
    if pt["code"]:
        attrs["network"] = pt["code"]
    if pt["accessory"]:
        attrs["accessory"] = pt["accessory"]
    if pt["feature"]:
        attrs["feature"] = pt["feature"]
    if pt["ground"] is not None and pt.get("ground_source") != "surveyed":
        attrs["ground_source"] = pt["ground_source"]
    shaft = None
    depth = _num(pt["depth"]) if pt["depth"] else None
    if depth is not None:
        attrs["depth_m"] = depth
    if pt["ground"] is not None and depth and depth > 0 and ntype in (
            "Manhole", "ValveChamber", "CableWell", "MeterChamber"):
        shaft = Shaft(pt["ground"] - depth, Section(diameter=1.0 if ntype != "CableWell" else 1.2),
                      assumed=True)
    return NodeRow(pid, ntype, pt["x"], pt["y"], pt["ground"], attrs, shaft)


def _segment(sid, row, cols, points, profile) -> LinkRow:
    a_id, b_id = row.get(cols["start"], ""), row.get(cols["end"], "")
    a, b = points.get(a_id, {"ground": None}), points.get(b_id, {"ground": None})
    code = _code_of(row.get(cols.get("code", ""), ""), a_id)
    if not code:
        raise ConversionError(f"line {sid!r}: no utility type code")
    layer = layer_for_utility_code(code)
    dia, width, height = parse_size(row.get(cols.get("size", ""), ""))
    half_h = (dia if dia is not None else height or 0.0) / 2000.0
    reference = profile.depth_reference.get(code, profile.depth_reference.get("default", "top"))
    zs: list[float | None] = []
    how: list[str] = []
    for end, pt in (("start", a), ("end", b)):
        inv = _num(row.get(cols.get(f"{end}_invert", ""), ""))
        depth = _num(row.get(cols.get(f"{end}_depth", ""), ""))
        if inv is not None:
            zs.append(inv + half_h)
            how.append("invert")
        elif depth is not None and pt["ground"] is not None:
            zs.append(pt["ground"] - depth + half_h if reference == "invert"
                      else pt["ground"] - depth - half_h)
            how.append("surveyed")
        elif pt["ground"] is not None and code in profile.default_depth_m:
            zs.append(pt["ground"] - profile.default_depth_m[code] - half_h)
            how.append("assumed")
        else:
            zs.append(None)
            how.append("unknown")
    attrs: dict[str, Any] = {"network": code}
    if dia is not None:
        attrs["diameter_mm"] = dia
    if width is not None:
        attrs["width_mm"], attrs["height_mm"] = width, height
    for column, key in (("material", "material"), ("pressure", "pressure_class"),
                        ("owner", "owner"), ("burial", "burial")):
        val = row.get(cols.get(column, ""), "")
        if val:
            attrs[key] = val
    cables = _num(row.get(cols.get("cables", ""), "") or None)
    if cables is not None:
        attrs["cable_count"] = int(cables)
    year_text = row.get(cols.get("year", ""), "")
    if year_text:
        m = _YEAR_RE.search(year_text)
        if m is None:
            raise ValueError(f"line {sid!r}: build year {year_text!r} is not a year")
        attrs["install_year"] = int(m.group())
    for end, depth_key in (("start", "start_depth"), ("end", "end_depth")):
        val = _num(row.get(cols.get(depth_key, ""), ""))
        if val is not None:
            attrs[f"{end}_depth_m"] = val
    section = (Section.round(dia / 1000.0) if dia else
               Section.rect(width / 1000.0, height / 1000.0) if width and height else None)
    return LinkRow(sid, "PipeSegment", layer, a_id, b_id, z_start=zs[0], z_end=zs[1],
                   depth_source=(how[0], how[1]), section=section, attributes=attrs,
                   network=code)


def summarise(src: Mapping[str, Any]) -> list[Note]:
    """Where the heights of the line ends came from (measured, or assumed)."""
    return pipe_notes(src)


CONVERTERS = (
    ConverterSpec(name=NAME, version=VERSION,
                  format="pipeline survey table (CSV, GeoPackage, Shapefile; GeoJSON "
                         "and FlatGeobuf with --points or --format survey)",
                  extensions=(".csv", ".gpkg", ".shp", ".dbf", ".fgb"), run=convert,
                  summarise=summarise,
                  description="CJJ 61 or profile-mapped survey point and line tables"),
)
