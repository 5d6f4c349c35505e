"""GeoJSON GIS layers into the twin.

GIS departments exchange layers as GeoJSON. A FeatureCollection becomes twin
features as follows:

* **CRS**: the ``--crs`` option, else the legacy ``crs`` member
  (``urn:ogc:def:crs:EPSG::4546``), else WGS 84 longitude/latitude as RFC 7946
  says. Coordinates are reprojected into the twin CRS.
* **Layer**: the feature's ``layer`` property, else its CJJ 61 ``utility``
  code (``JS``, ``RL``, ...), else the collection's ``twin.layer`` member,
  else the ``layer`` option. A feature with none is skipped and reported.
* **Id**: ``<prefix>:<id>`` with the feature's ``id`` (member or property);
  the prefix is the ``id_prefix`` option, else the collection's
  ``twin.id_prefix``, else ``geojson:<file stem>``. A feature without one
  (ogr2ogr writes none) gets a generated id from the collection's name, its
  geometry and its properties: the same on every import of the file
  (:mod:`converters.gis_features`). An id that comes twice is skipped the
  second time.
* **Multi-part geometries** in layers of single lines or points
  (MultiLineString in a pipe layer) are split into their parts, with ids
  suffixed ``#1``, ``#2``, ...; points of a utility line layer (manholes
  of ``--layer sewage``) go to ``pipe_nodes`` with their network's code.
  Coordinates that are not finite, plausible numbers skip their feature.
* **Type, name, parent, lod** from the properties of those names; every other
  property becomes an attribute (typed ones are checked, see
  :mod:`twin.attributes`).
* **Meshes**: polygons with ``height`` (or ``storeys``, 3 m each, marked
  ``height_source``) are extruded as LoD1 blocks from ``base_z`` (or their
  own Z, else 0); polygons with Z and no height become surfaces (terrain,
  squares); lines with Z and ``diameter_mm`` (or ``width_mm`` and
  ``height_mm``) become pipes swept along the centreline; points with Z and
  ``depth_m`` in the ``pipe_nodes`` layer become manhole cylinders.
* **Topology**: ``start_node`` and ``end_node`` properties (node ids, same
  prefix) make the line an edge of its network (``network`` property, else
  the layer's CJJ 61 code). GIS layers rarely carry node ids: with the
  ``snap`` option (metres), line ends that lie within that distance of each
  other become one node (``<prefix>:node:<n>``).
* **Heights of 2D pipes**: a utility line without Z gets its heights from the
  twin's terrain, minus its ``depth_m`` cover if given (``depth_source =
  depth_m+terrain``) or the CJJ 61 default cover for its type
  (``depth_source = assumed``); with no terrain under it, it stays 2D
  (``depth_source = unknown``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from twin.attributes import TYPED_ATTRIBUTES, coerce_typed
from twin.crs import parse_crs, transform_xyz
from twin.errors import ConversionError, TwinError
from twin.geometry import (
    circle_profile,
    cylinder,
    extrude_footprint,
    polyline_pipe,
    rect_profile,
    surface_mesh,
)
from twin.layers import UTILITY_LAYER_BY_CODE, layer_for_utility_code
from twin.model import Edge, Feature, Mesh

from .base import MAX_FILE_BYTES, ConversionContext, ConverterSpec
from .gis_features import LAYER_GEOMETRY, content_id, drape, explode, part_ids, snapped_nodes
from .pipe_network import implausible_reason, plausible
from .report import Note

NAME = "geojson"
VERSION = "0.1.0"

#: Properties with a meaning of their own (not copied into attributes).
RESERVED = ("id", "layer", "utility", "type", "name", "parent", "lod", "base_z",
            "start_node", "end_node")
#: Storey height assumed when only a storey count is known.
STOREY_HEIGHT_M = 3.0
#: Manhole diameter assumed when the survey gives none.
DEFAULT_MANHOLE_DIAMETER_MM = 1000.0


def _source_crs(ctx: ConversionContext, doc: dict) -> CRS:
    if ctx.source_crs is not None:
        ctx.report["crs_from"] = "option"
        return ctx.source_crs
    member = doc.get("crs")
    if isinstance(member, dict):
        name = (member.get("properties") or {}).get("name")
        if name:
            ctx.report["crs_from"] = "crs member"
            return parse_crs(name, what=f"{ctx.source.name}: 'crs' member")
    ctx.report["crs_from"] = "RFC 7946 default (WGS 84 lon/lat)"
    return CRS.from_user_input("OGC:CRS84")


def _to_twin(geom: BaseGeometry, src: CRS, dst: CRS, source: str) -> BaseGeometry:
    if src == dst:
        return geom
    has_z = geom.has_z

    def fn(coords: np.ndarray) -> np.ndarray:
        return transform_xyz(src, dst, coords, source=source)

    return shapely.transform(geom, fn, include_z=has_z)


class _WholeFileError(ConversionError):
    """An error found on one feature that condemns the whole file (its CRS)."""


def _check_lonlat(geom: BaseGeometry, fid: str) -> None:
    c = shapely.get_coordinates(geom)
    if len(c) and (np.abs(c[:, 0]).max() > 180 or np.abs(c[:, 1]).max() > 90):
        raise _WholeFileError(
            f"feature {fid!r}: coordinates such as ({c[0, 0]:.1f}, {c[0, 1]:.1f}) are not "
            "longitude/latitude, but the file declares no CRS; pass the file's CRS with --crs "
            "(e.g. --crs EPSG:4546)")


def _snap_edges(feats: list[Feature], tolerance: float, prefix: str) -> list[Feature]:
    """Give lines without topology start and end nodes from their snapped ends
    (node ids from their position: :func:`converters.gis_features.snapped_nodes`)."""
    import dataclasses

    idx = [k for k, f in enumerate(feats) if f.edge is None and f.footprint is not None
           and f.footprint.geom_type == "LineString" and f.layer in UTILITY_LAYER_BY_CODE.values()]
    if not idx:
        return feats
    ends = np.array([[shapely.get_coordinates(feats[k].footprint)[i] for i in (0, -1)]
                     for k in idx]).reshape(-1, 2)
    node_of = snapped_nodes(ends, tolerance)
    out = list(feats)
    for j, k in enumerate(idx):
        f = feats[k]
        network = str(f.attributes.get("network") or f.layer)
        out[k] = dataclasses.replace(f, edge=Edge(network, f"{prefix}:node:{node_of[2 * j]}",
                                                  f"{prefix}:node:{node_of[2 * j + 1]}"))
    return out


def _meshes(layer: str, geom: BaseGeometry, attrs: dict[str, Any], base_z: Any,
            fid: str) -> dict[str, Mesh]:
    kind = geom.geom_type
    if kind in ("Polygon", "MultiPolygon"):
        height = attrs.get("height")
        if height is None and attrs.get("storeys") is not None:
            height = float(coerce_typed("storeys", attrs["storeys"], fid)) * STOREY_HEIGHT_M
            attrs["height"] = height
            attrs["height_source"] = f"storeys x {STOREY_HEIGHT_M:g} m"
        if height is not None:
            height = float(coerce_typed("height", height, fid))
            if base_z is None:
                zs = shapely.get_coordinates(geom, include_z=True)[:, 2] if geom.has_z else [0.0]
                base_z = float(np.nanmin(zs))
            base = float(base_z)
            return {"1": extrude_footprint(shapely.force_2d(geom), base, base + height)}
        if geom.has_z:
            parts = [geom] if kind == "Polygon" else list(geom.geoms)
            meshes = [surface_mesh(p) for p in parts]
            return {"1": _merge(meshes)} if meshes else {}
        return {}
    if kind == "LineString" and geom.has_z:
        d = attrs.get("diameter_mm")
        w, h = attrs.get("width_mm"), attrs.get("height_mm")
        if d is not None:
            prof = circle_profile(float(coerce_typed("diameter_mm", d, fid)) / 2000.0, 12)
        elif w is not None and h is not None:
            prof = rect_profile(float(coerce_typed("width_mm", w, fid)) / 1000.0,
                                float(coerce_typed("height_mm", h, fid)) / 1000.0)
        else:
            return {}
        return {"1": polyline_pipe(shapely.get_coordinates(geom, include_z=True), prof)}
    if kind == "Point" and geom.has_z and layer == "pipe_nodes" and attrs.get("depth_m"):
        depth = float(coerce_typed("depth_m", attrs["depth_m"], fid))
        if depth <= 0:
            return {}
        dia = attrs.get("diameter_mm")
        if dia is None:
            dia = DEFAULT_MANHOLE_DIAMETER_MM
            attrs["size_source"] = "assumed"
        r = float(coerce_typed("diameter_mm", dia, fid)) / 2000.0
        x, y, z = shapely.get_coordinates(geom, include_z=True)[0]
        return {"1": cylinder((x, y), z - depth, z, r)}
    return {}


def _merge(meshes: list[Mesh]) -> Mesh:
    verts, faces, off = [], [], 0
    for m in meshes:
        verts.append(m.vertices)
        faces.append(m.faces + off)
        off += m.n_vertices
    return Mesh(np.vstack(verts), np.vstack(faces))


def _default_type(layer: str, geom_type: str) -> str:
    if layer in UTILITY_LAYER_BY_CODE.values() and geom_type == "LineString":
        return "PipeSegment"
    if layer == "pipe_nodes":
        return "PipeNode"
    return {"buildings": "Building", "roads": "Road", "terrain": "TINRelief",
            "water": "WaterBody", "vegetation": "PlantCover", "landuse": "LandUse"
            }.get(layer, geom_type)


def _layer_of(props: dict, default: str | None) -> str | None:
    if props.get("layer"):
        return str(props["layer"])
    if props.get("utility"):
        return layer_for_utility_code(str(props["utility"]))
    return default


def convert(ctx: ConversionContext) -> Iterator[Feature]:
    """Yield the features of one GeoJSON file (see the module docstring)."""
    path = ctx.source
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ConversionError(f"{path}: {size} bytes is more than the {MAX_FILE_BYTES} bytes "
                              "a GeoJSON file may have", source=str(path))
    try:
        with open(path, "rb") as fh:
            doc = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConversionError(f"{path}: not valid JSON: {exc}", source=str(path)) from None
    if not isinstance(doc, dict) or doc.get("type") not in ("FeatureCollection", "Feature"):
        raise ConversionError(f"{path}: not a GeoJSON FeatureCollection or Feature",
                              source=str(path))
    items = doc.get("features", []) if doc["type"] == "FeatureCollection" else [doc]
    if not isinstance(items, list):
        raise ConversionError(f"{path}: 'features' is not a list", source=str(path))
    given = doc.get("twin")
    meta = given if isinstance(given, dict) else {}
    default_layer = ctx.options.get("layer") or meta.get("layer")
    prefix = ctx.options.get("id_prefix") or meta.get("id_prefix") or f"geojson:{path.stem}"
    default_type = ctx.options.get("type") or meta.get("type")
    src = _source_crs(ctx, doc)
    ctx.report["source_crs"] = src.name
    ctx.report["features_in_file"] = len(items)
    geographic = src.is_geographic
    snap = ctx.options.get("snap")
    if snap is not None:
        snap = float(snap)
        if not snap >= 0:
            raise ConversionError(f"{path}: snap tolerance {snap!r} must be >= 0 metres")
    layer_name = str(doc.get("name") or path.stem)
    feats = _features(ctx, items, prefix, default_layer, default_type, src, geographic, path,
                      layer_name)
    if snap is not None:
        ctx.report["snap_m"] = snap
        yield from _snap_edges(list(feats), snap, prefix)
    else:
        yield from feats


def _content_id(item: Any, name: str) -> str | None:
    """The generated id of a feature without one (see :mod:`converters.gis_features`)."""
    if not isinstance(item, dict):
        return None
    geom = json.dumps(item.get("geometry"), sort_keys=True, separators=(",", ":"))
    given = item.get("properties")
    props = given if isinstance(given, dict) else {}
    return content_id(name, geom.encode("utf-8"), props)


def _features(ctx: ConversionContext, items: list[Any], prefix: str,
              default_layer: str | None, default_type: str | None, src: CRS,
              geographic: bool, path: Path, layer_name: str) -> Iterator[Feature]:
    total = len(items)
    seen: set[str] = set()
    generated = 0
    for i, item in enumerate(items):
        if i % 500 == 0:
            ctx.progress(i, total)
        raw_id = None
        if isinstance(item, dict):
            props = item.get("properties") or {}
            raw_id = item.get("id", props.get("id") if isinstance(props, dict) else None)
        sid = str(raw_id) if raw_id is not None else _content_id(item, layer_name)
        if sid is None:
            ctx.skip(f"#{i}", f"element {i} is not a GeoJSON Feature")
            continue
        if raw_id is None:
            generated += 1
            if sid in seen:  # the same content twice: number the copies
                n = 2
                while f"{sid}-{n}" in seen:
                    n += 1
                sid = f"{sid}-{n}"
        if sid in seen:
            ctx.skip(sid, f"id {sid!r} appears twice in the file; the first is kept")
            continue
        seen.add(sid)
        try:
            yield from _feature(item, i, sid, prefix, default_layer, default_type, src, ctx,
                                geographic)
        except _WholeFileError as exc:
            raise ConversionError(f"{path}: {exc}", source=str(path)) from None
        except (TwinError, ValueError, TypeError) as exc:
            ctx.skip(sid, str(exc))
    if generated:
        ctx.report["generated_ids"] = generated
        ctx.report["ids_generated_from"] = f"layer name {layer_name!r}, geometry and properties"
    ctx.progress(total, total)


def _feature(item: Any, i: int, sid: str, prefix: str, default_layer: str | None,
             default_type: str | None, src: CRS, ctx: ConversionContext,
             geographic: bool) -> list[Feature]:
    if not isinstance(item, dict) or item.get("type") != "Feature":
        raise ConversionError(f"element {i} is not a GeoJSON Feature")
    props = item.get("properties") or {}
    if not isinstance(props, dict):
        raise ConversionError("'properties' is not an object")
    fid = f"{prefix}:{sid}"
    layer = _layer_of(props, default_layer)
    if layer is None:
        raise ConversionError(
            "no layer: give a 'layer' property, a CJJ 61 'utility' code, or --layer")
    gj = item.get("geometry")
    if gj is None:
        raise ConversionError("feature has no geometry")
    geom = shape(gj)
    if geom.is_empty:
        raise ConversionError("feature geometry is empty")
    xyz = shapely.get_coordinates(geom, include_z=geom.has_z)
    ok = plausible(xyz)
    if not ok.all():
        raise ConversionError(implausible_reason("geometry", xyz[int(np.argmin(ok))]))
    if geographic:
        _check_lonlat(geom, fid)
    geom = _to_twin(geom, src, ctx.twin_crs, f"{ctx.source.name} feature {sid!r}")
    if geom.geom_type in ("Point", "MultiPoint") and LAYER_GEOMETRY.get(layer) == "LINESTRING" \
            and layer in UTILITY_LAYER_BY_CODE.values():
        # a utility layer's points (manholes, valves) belong to its network's nodes
        props = {"network": next(c for c, n in UTILITY_LAYER_BY_CODE.items() if n == layer),
                 **props}
        layer = "pipe_nodes"
        ctx.report["points_to_pipe_nodes"] = ctx.report.get("points_to_pipe_nodes", 0) + 1
    parts = explode(geom, layer)
    if parts is not None and len(parts) > 1:
        ctx.report["multipart_features"] = ctx.report.get("multipart_features", 0) + 1
        ctx.report["parts"] = ctx.report.get("parts", 0) + len(parts)
    whole = parts is None or len(parts) == 1
    return [_one(part, pid, psid, props, layer, prefix, default_type, ctx, whole)
            for part, pid, psid in zip(parts or [geom], part_ids(fid, len(parts or [geom])),
                                       part_ids(sid, len(parts or [geom])))]


def _one(geom: BaseGeometry, fid: str, sid: str, props: dict, layer: str, prefix: str,
         default_type: str | None, ctx: ConversionContext, whole: bool = True) -> Feature:
    attrs = {k: v for k, v in props.items() if k not in RESERVED}
    for key in list(attrs):
        if key in TYPED_ATTRIBUTES:
            attrs[key] = coerce_typed(key, attrs[key], fid)
    if layer in UTILITY_LAYER_BY_CODE.values() and "network" not in attrs:
        attrs["network"] = next(c for c, n in UTILITY_LAYER_BY_CODE.items() if n == layer)
    geom = drape(geom, layer, attrs, ctx, fid)
    meshes = _meshes(layer, geom, attrs, props.get("base_z"), fid)
    edge = None
    if whole and props.get("start_node") is not None and props.get("end_node") is not None:
        network = str(attrs.get("network") or layer)
        edge = Edge(network, f"{prefix}:{props['start_node']}", f"{prefix}:{props['end_node']}")
    ftype = props.get("type") or default_type
    if not ftype:
        ftype = _default_type(layer, geom.geom_type)
    parent = props.get("parent")
    return Feature(
        id=fid, layer=layer, type=str(ftype),
        name=str(props["name"]) if props.get("name") is not None else None,
        parent=f"{prefix}:{parent}" if parent is not None else None,
        attributes=attrs, footprint=geom, meshes=meshes, edge=edge, source_id=sid,
    )


def summarise(src: Mapping[str, Any]) -> list[Note]:
    """Generated ids, exploded multi-part features, points moved to pipe_nodes."""
    out: list[Note] = []
    if src.get("generated_ids"):
        out.append(Note(f"{src['generated_ids']} features have no id: ids generated from "
                        f"{src.get('ids_generated_from', 'their content')} (the same on every "
                        "import of this file)", "warn"))
    if src.get("multipart_features"):
        out.append(Note(f"{src['multipart_features']} multi-part features split into "
                        f"{src['parts']} parts (ids suffixed #1, #2, ...)", "warn"))
    if src.get("points_to_pipe_nodes"):
        out.append(Note(f"{src['points_to_pipe_nodes']} points of utility line layers placed in "
                        "pipe_nodes (nodes of their network)"))
    return out


CONVERTERS = (
    ConverterSpec(name=NAME, version=VERSION, format="GeoJSON",
                  extensions=(".geojson", ".geo.json"), run=convert, summarise=summarise,
                  description="GeoJSON GIS layers (buildings, roads, pipes, nodes)"),
)
