"""CityJSON 1.0, 1.1, 2.0 and CityJSONSeq city models into the twin.

How a city model becomes twin features:

* **Vertices**: quantised integers times ``transform.scale`` plus
  ``translate`` (1.0 files may store real coordinates), reprojected from
  ``metadata.referenceSystem`` (any OGC URL or URN form; ``--crs`` overrides)
  into the twin CRS in one vectorised call.
* **City objects** become features ``cityjson:<id>`` (or ``<id_prefix>:<id>``)
  on the layer of their type (:data:`LAYER_BY_TYPE`; extension types
  ``+Xyz`` go to ``generic`` and keep their type), with ``parents``/
  ``children`` as the feature hierarchy.
* **Geometry**: every geometry type (MultiSurface, CompositeSurface, Solid,
  MultiSolid, CompositeSolid, MultiPoint and MultiLineString as footprints,
  GeometryInstance of a template) is triangulated into one mesh per LoD;
  all LoDs are kept, the highest is shown. Semantic surfaces become
  per-face labels. Objects are converted :data:`CHUNK_OBJECTS` at a time,
  with numpy over the whole chunk (:mod:`converters.cityjson_geometry`).
* **Footprint**: the ground surfaces of the highest LoD that has them, else
  the plan projection of the mesh, for the 2D map; an object without
  geometry of its own takes the union of its children's.
* **Attributes** are kept as they are (extension attributes ``+abc``
  included); ``measuredHeight``, ``storeysAboveGround``,
  ``storeysBelowGround``, ``yearOfConstruction``, ``roofType`` and
  ``function`` also fill the twin's typed attributes.
* **Not imported, but reported**: appearances (materials and textures are
  named and counted in the report) and the metadata beyond the CRS (kept in
  the report).

Before conversion the file is validated against the official CityJSON JSON
schemas (1.1 and 2.0; vendored in ``converters/schemas``;
:mod:`converters.cityjson_schema`). Schema errors and geometric problems
(degenerate rings, non-planar faces) are reported; an object whose geometry
cannot be read (an out-of-range vertex index) is skipped with its reason.

CityJSONSeq (``.jsonl``) is streamed: lines are read until a chunk of
objects is full, so files larger than memory import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import Any

import numpy as np
import shapely

from twin.attributes import coerce_typed
from twin.errors import ConversionError, TwinError
from twin.layers import STANDARD_LAYERS
from twin.model import Edge, Feature

from . import cityjson_report
from .base import ConversionContext, ConverterSpec
from .cityjson_geometry import GeometryReport, ObjectGeometry, VertexSet, chunk_geometry
from .cityjson_read import Model, OutsideGc, load_json, seq_lines
from .cityjson_schema import schema_errors
from .triangulate import TriangulationReport

NAME = "cityjson"
VERSION = "0.1.0"

#: CityJSON object type -> twin layer.
LAYER_BY_TYPE = {
    "Building": "buildings", "BuildingPart": "buildings",
    "BuildingInstallation": "building_elements", "BuildingConstructiveElement":
        "building_elements", "BuildingFurniture": "building_elements",
    "BuildingStorey": "building_elements", "BuildingRoom": "building_elements",
    "BuildingUnit": "building_elements",
    "Bridge": "bridges", "BridgePart": "bridges", "BridgeInstallation": "bridges",
    "BridgeConstructiveElement": "bridges", "BridgeRoom": "bridges",
    "BridgeFurniture": "bridges",
    "Tunnel": "tunnels", "TunnelPart": "tunnels", "TunnelInstallation": "tunnels",
    "TunnelConstructiveElement": "tunnels", "TunnelHollowSpace": "tunnels",
    "TunnelFurniture": "tunnels",
    "CityFurniture": "city_furniture",
    "PlantCover": "vegetation", "SolitaryVegetationObject": "vegetation",
    "TINRelief": "terrain",
    "Road": "roads", "Railway": "roads", "TransportSquare": "roads", "Waterway": "water",
    "WaterBody": "water", "LandUse": "landuse",
    "GenericCityObject": "generic", "OtherConstruction": "generic",
    "CityObjectGroup": "generic",
}

#: CityJSON attribute -> typed twin attribute (both kept on import).
TYPED_FROM_CITYJSON = {
    "measuredHeight": "height", "storeysAboveGround": "storeys",
    "storeysBelowGround": "storeys_below", "yearOfConstruction": "year_built",
    "roofType": "roof_type", "function": "function",
}

def _attributes(obj: dict, fid: str, warnings: list[str]) -> dict[str, Any]:
    attrs = dict(obj.get("attributes") or {})
    for src, dst in TYPED_FROM_CITYJSON.items():
        if src in attrs and dst not in attrs and attrs[src] is not None:
            try:
                attrs[dst] = coerce_typed(dst, attrs[src], fid)
            except TwinError:
                if len(warnings) < 50:
                    warnings.append(f"{fid}: attribute {src}={attrs[src]!r} does not fit the "
                                    f"typed attribute {dst}; kept as {src} only")
    if "address" in obj:
        attrs.setdefault("address", obj["address"])
    return attrs


#: City objects converted together (their geometry in one pass of numpy).
CHUNK_OBJECTS = 2000


class _Features:
    """City objects, chunk by chunk, to twin features.

    An object without geometry of its own (a Building made of BuildingParts)
    takes its children's extent: it waits until they are built (or until the
    end), keeping only their footprints and bounds meanwhile."""

    def __init__(self, model: Model, ctx: ConversionContext):
        self.model, self.ctx = model, ctx
        self.tri = TriangulationReport()
        self.geometry = GeometryReport()
        self.counts: dict[str, int] = {}  # by type, and objects without geometry
        self.warnings = ctx.report.setdefault("warnings", [])
        self.needed: set[str] = set()  # children whose extent a parent will want
        self.extents: dict[str, tuple | None] = {}
        self.waiting: dict[str, tuple[dict, ObjectGeometry]] = {}

    def expect(self, objects: dict) -> None:
        """Note the children that parents without geometry will need."""
        for obj in objects.values():
            if isinstance(obj, dict) and not obj.get("geometry") and obj.get("children"):
                self.needed.update(c for c in obj["children"] if isinstance(c, str))

    def chunk(self, items: list[tuple[str, dict, int, int]], vertices: VertexSet
              ) -> Iterator[Feature]:
        geos, skipped = chunk_geometry(items, vertices, self.model, self.tri, self.geometry)
        for i, (oid, obj, _, _) in enumerate(items):
            geo = geos[i]
            if geo is None:
                self.ctx.skip(oid, skipped[i])
                self._built(oid, None)
                continue
            if not geo.meshes and geo.footprint is None and obj.get("children"):
                self.waiting[oid] = (obj, geo)
                continue
            yield from self._emit(oid, obj, geo)
        yield from self._release(final=False)

    def finish(self) -> Iterator[Feature]:
        yield from self._release(final=True)

    def _built(self, oid: str, geo: ObjectGeometry | None) -> None:
        if oid in self.needed:
            self.extents[oid] = None if geo is None else (geo.footprint, geo.bbox)

    def _release(self, final: bool) -> Iterator[Feature]:
        """Parents whose children are all built (all of them, at the end),
        given the union of their children's footprints and bounds."""
        while self.waiting:
            ready = [oid for oid, (obj, _) in self.waiting.items()
                     if final or all(c in self.extents for c in obj["children"])]
            if not ready:
                return
            if final:  # innermost parents first: their own parents wait for them
                ready = [oid for oid in ready if not any(
                    c in self.waiting for c in self.waiting[oid][0]["children"])] or ready
            for oid in ready:
                obj, geo = self.waiting.pop(oid)
                kids = [self.extents.get(c) for c in obj["children"]]
                for c in obj["children"]:  # kept for this parent only: a stream stays small
                    self.extents.pop(c, None)
                    self.needed.discard(c)
                fps = [k[0] for k in kids if k is not None and k[0] is not None]
                if fps:
                    geo.footprint = shapely.union_all([shapely.force_2d(f) for f in fps])
                boxes = [k[1] for k in kids if k is not None and k[1] is not None]
                if boxes:
                    arr = np.array(boxes)
                    geo.bbox = (*arr[:, :3].min(axis=0).tolist(),
                                *arr[:, 3:].max(axis=0).tolist())
                yield from self._emit(oid, obj, geo)

    def _emit(self, oid: str, obj: dict, geo: ObjectGeometry) -> Iterator[Feature]:
        self._built(oid, geo)
        feat = self._feature(oid, obj, geo)
        if feat is not None:
            yield feat

    def _feature(self, oid: str, obj: dict, geo: ObjectGeometry) -> Feature | None:
        model, counts = self.model, self.counts
        otype = str(obj["type"])
        fid = f"{model.prefix}:{oid}"
        parents = obj.get("parents") or []
        attrs = _attributes(obj, fid, self.warnings)
        # what a twin export recorded about features that are no CityJSON type
        ftype = str(attrs.pop("twin_type", otype))
        layer = str(attrs.pop("twin_layer", LAYER_BY_TYPE.get(otype, "generic")))
        edge_rec = attrs.pop("twin_edge", None)
        lod_names = attrs.pop("twin_lods", None)  # LoDs that CityJSON cannot name ("bim")
        meshes = geo.meshes
        if isinstance(lod_names, dict) and meshes:
            meshes = {str(lod_names.get(k, k)): m for k, m in meshes.items()}
        edge = Edge(*map(str, edge_rec)) if isinstance(edge_rec, list) and \
            len(edge_rec) == 3 else None
        fp, unfit = _map_geometry(geo, layer)
        if unfit is not None:
            self.geometry.leave_out(unfit[0], f"{model.path.name}: object {oid!r}: {unfit[1]}")
        if not meshes and fp is None:
            counts["without_geometry"] = counts.get("without_geometry", 0) + 1
        try:
            feat = Feature(
                id=fid, layer=layer, type=ftype, name=attrs.pop("name", None),
                parent=f"{model.prefix}:{parents[0]}" if parents else None,
                attributes=attrs, footprint=fp, meshes=meshes, source_id=oid,
                bbox=geo.bbox, edge=edge,
            )
        except TwinError as exc:
            self.ctx.skip(oid, str(exc))
            return None
        if otype.startswith("+"):
            counts["extension_objects"] = counts.get("extension_objects", 0) + 1
        counts[otype] = counts.get(otype, 0) + 1
        return feat


#: The 2D geometry each standard layer holds (other layers hold any).
_LAYER_GEOMETRY = {layer.name: layer.geometry_type for layer in STANDARD_LAYERS}


#: Why points or lines were left out of the map, as the report counts it.
LINES_ON_AREAS = "points or lines of an object on a layer of areas"
NOT_ONE_LINE = "not one line or point, on a layer of lines or points"


def _map_geometry(geo: ObjectGeometry, layer: str
                  ) -> tuple[Any, tuple[str, str] | None]:
    """The map geometry of an object on ``layer``, and where the layer
    cannot hold its points or lines, why they were left out (a reason the
    report counts, and the details).

    A layer of areas takes the footprint (points and lines cannot stand for
    an area); a layer of lines or points takes the object's one line or
    point; other layers take its points and lines where it has any (a pipe,
    a pole), else its footprint."""
    fp, lines = geo.footprint, geo.lines
    if fp is not None and fp.geom_type == "GeometryCollection":
        polys = [g for g in shapely.get_parts(fp) if g.geom_type in ("Polygon",
                                                                      "MultiPolygon")]
        fp = shapely.union_all(polys) if polys else None
    kind = _LAYER_GEOMETRY.get(layer, "GEOMETRY")
    if kind == "MULTIPOLYGON":
        area = fp if fp is not None and fp.geom_type in ("Polygon", "MultiPolygon") else None
        return area, (None if lines is None else (
            LINES_ON_AREAS, f"{lines.geom_type} left out: the layer {layer!r} holds areas"))
    if kind in ("LINESTRING", "POINT"):
        want = "LineString" if kind == "LINESTRING" else "Point"
        one = lines if lines is not None else fp
        if one is not None and one.geom_type == f"Multi{want}" and len(one.geoms) == 1:
            one = one.geoms[0]
        if one is None or one.geom_type == want:
            return one, None
        return None, (NOT_ONE_LINE,
                      f"{one.geom_type} left out: the layer {layer!r} holds one {want} each")
    return (lines if lines is not None else fp), None


def _typed(ctx: ConversionContext, oid: str, obj: Any) -> bool:
    """Whether a city object can be converted at all (else it is skipped)."""
    if not isinstance(obj, dict):
        ctx.skip(oid, "city object is not a JSON object")
        return False
    if not obj.get("type") or not isinstance(obj["type"], str):
        ctx.skip(oid, "city object without a type")
        return False
    for key in ("parents", "children"):
        ids = obj.get(key)
        if ids is not None and not (isinstance(ids, list) and
                                    all(isinstance(i, str) for i in ids)):
            ctx.skip(oid, f"\"{key}\" is not a list of object ids")
            return False
    if not isinstance(obj.get("attributes") or {}, dict):
        ctx.skip(oid, "\"attributes\" is not a JSON object")
        return False
    return True


def _appearance_report(doc: dict, geometry: GeometryReport, ctx: ConversionContext) -> None:
    app = doc.get("appearance") or {}
    if not isinstance(app, dict):
        app = {}
    if app or geometry.with_appearance:
        ctx.report["appearance_not_imported"] = {
            "materials": _count(app.get("materials")),
            "textures": _count(app.get("textures")),
            "geometries_with_appearance": geometry.with_appearance,
            "note": "the twin keeps no materials or textures; layers are coloured by the "
                    "catalogue",
        }


def convert(ctx: ConversionContext) -> Iterator[Feature]:
    """Convert a CityJSON file (see the module documentation)."""
    path = ctx.source
    with OutsideGc() as outside_gc:
        doc = load_json(path)
        outside_gc.parsed()
        model = Model(doc, ctx, path)
        features = _Features(model, ctx)
        if ctx.options.get("validate", True):
            errs = schema_errors(doc, model.version)
            ctx.report["schema"] = ("no schema for CityJSON 1.0: geometric checks only"
                                    if errs is None else (errs or "valid"))
            if errs and ctx.strict:
                raise ConversionError(f"{path}: not valid CityJSON {model.version}: {errs[0]}",
                                      str(path))
        yield from _convert_doc(ctx, doc, model, features)
    _finish(ctx, doc, features)


def _convert_doc(ctx: ConversionContext, doc: dict, model: Model, features: _Features
                 ) -> Iterator[Feature]:
    path = ctx.source
    objects = doc.get("CityObjects") or {}
    if not isinstance(objects, dict):
        raise ConversionError(f"{path}: \"CityObjects\" must be a JSON object", str(path))
    source = model.source_vertices(doc.get("vertices"), str(path))
    vertices = VertexSet(model.reproject(source), source)
    n = len(source)
    features.expect(objects)
    total = len(objects)
    items: list[tuple[str, dict, int, int]] = []
    done = 0
    for oid, obj in objects.items():
        done += 1
        if _typed(ctx, oid, obj):
            items.append((oid, obj, 0, n))
        if len(items) >= CHUNK_OBJECTS:
            yield from features.chunk(items, vertices)
            items = []
            ctx.progress(done, total)
    yield from features.chunk(items, vertices)
    yield from features.finish()
    ctx.progress(total, total)


def convert_seq(ctx: ConversionContext) -> Iterator[Feature]:
    """Convert a CityJSONSeq file line by line (memory for one chunk of lines)."""
    with closing(seq_lines(ctx.source)) as lines:  # its collector freeze ends here
        yield from _convert_seq(ctx, lines)


def _convert_seq(ctx: ConversionContext, lines: Iterator[tuple[int, Any]]
                 ) -> Iterator[Feature]:
    path = ctx.source
    try:
        _, header = next(lines)
    except StopIteration:
        raise ConversionError(f"{path}: empty CityJSONSeq file", str(path)) from None
    if not isinstance(header, dict) or header.get("type") != "CityJSON":
        raise ConversionError(f"{path}: the first line must be the CityJSON header object",
                              str(path))
    model = Model(header, ctx, path, what="the CityJSONSeq header (line 1)")
    validate = ctx.options.get("validate", True)
    invalid: list[str] = []
    header_errors: list[str] = []
    if validate:  # the header is a CityJSON document without objects
        errs = schema_errors(header, model.version, limit=5)
        header_errors = [f"line 1 (header): {e}" for e in errs or ()]
        if errs and ctx.strict:
            raise ConversionError(f"{path}: line 1 (header): {errs[0]}", str(path))
    features = _Features(model, ctx)
    items: list[tuple[str, dict, int, int]] = []
    sources: list[np.ndarray] = []
    n = 0

    def flush() -> Iterator[Feature]:
        nonlocal items, sources, n
        source = np.concatenate(sources) if sources else np.zeros((0, 3))
        yield from features.chunk(items, VertexSet(model.reproject(source), source))
        items, sources, n = [], [], 0

    no = 1
    for no, feat in lines:
        if not isinstance(feat, dict) or feat.get("type") != "CityJSONFeature":
            kind = feat.get("type") if isinstance(feat, dict) else type(feat).__name__
            ctx.skip(f"line {no}", f"not a CityJSONFeature (type {kind!r})")
            continue
        if validate and len(invalid) < 20 - len(header_errors):
            errs = schema_errors(feat, model.version, "cityjsonfeature", limit=3)
            if errs:
                invalid += [f"line {no}: {e}" for e in errs]
                if ctx.strict:
                    raise ConversionError(f"{path}: line {no}: {errs[0]}", str(path))
        objects = feat.get("CityObjects") or {}
        if not isinstance(objects, dict):
            ctx.skip(f"line {no}", "\"CityObjects\" is not a JSON object")
            continue
        source = model.source_vertices(feat.get("vertices"), f"{path}: line {no}")
        features.expect(objects)
        items.extend((oid, obj, n, len(source)) for oid, obj in objects.items()
                     if _typed(ctx, oid, obj))
        sources.append(source)
        n += len(source)
        if len(items) >= CHUNK_OBJECTS:
            yield from flush()
            ctx.progress(no, None)
    yield from flush()
    yield from features.finish()
    ctx.progress(no, None)
    if validate:
        # the features' first errors, then the header's (20 in all at most)
        invalid = invalid[:20 - len(header_errors)] + header_errors
        ctx.report["schema"] = invalid or ("valid" if model.version != "1.0" else
                                           "no schema for CityJSON 1.0: geometric checks only")
    _finish(ctx, header, features)


def _finish(ctx: ConversionContext, doc: dict, features: _Features) -> None:
    tri, counts = features.tri, features.counts
    ctx.report["objects_without_geometry"] = counts.pop("without_geometry", 0)
    ctx.report["objects_by_type"] = dict(sorted(counts.items()))
    ctx.report["triangulation"] = {
        "polygons": tri.polygons, "triangles": tri.triangles, "holes": tri.holes,
        "degenerate_rings": tri.degenerate_rings,
        "degenerate_polygons": tri.degenerate_polygons, "non_planar": tri.non_planar,
        "examples": tri.examples,
    }
    geometry = features.geometry
    if geometry.left_out:
        ctx.report["geometries_left_out"] = {
            "count": sum(geometry.left_out.values()), "by_reason": dict(geometry.left_out),
            "examples": list(geometry.examples)}
    _appearance_report(doc, geometry, ctx)


def _count(x: Any) -> int:
    return len(x) if isinstance(x, list) else 0


def _sniff(head: bytes) -> bool:
    return b'"CityJSON"' in head or b'"CityObjects"' in head


CONVERTERS = (
    ConverterSpec(name=NAME, version=VERSION, format="CityJSON",
                  extensions=(".city.json", ".json"), run=convert, sniff=_sniff,
                  summarise=cityjson_report.summarise,
                  description="CityJSON 1.0, 1.1 and 2.0 city models"),
    ConverterSpec(name="cityjsonseq", version=VERSION, format="CityJSONSeq",
                  extensions=(".city.jsonl", ".jsonl"), run=convert_seq, sniff=_sniff,
                  summarise=cityjson_report.summarise,
                  description="CityJSON Text Sequences (streamed)"),
)
