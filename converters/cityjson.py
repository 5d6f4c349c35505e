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
  GeometryInstance of a template) is triangulated (earcut, holes respected)
  into one mesh per LoD; all LoDs are kept, the highest is shown. Semantic
  surfaces become per-face labels.
* **Footprint**: the ground surfaces, else the plan projection of the
  mesh, for the 2D map; an object without geometry of its own takes the
  union of its children's.
* **Attributes** are kept as they are (extension attributes ``+abc``
  included); ``measuredHeight``, ``storeysAboveGround``,
  ``storeysBelowGround``, ``yearOfConstruction``, ``roofType`` and
  ``function`` also fill the twin's typed attributes.
* **Not imported, but reported**: appearances (materials and textures are
  named and counted in the report) and the metadata beyond the CRS (kept in
  the report).

Before conversion the file is validated against the official CityJSON JSON
schemas (1.1 and 2.0; vendored in ``converters/schemas``). Schema errors
and geometric problems (degenerate rings, non-planar faces) are reported;
an out-of-range vertex index skips that object with its reason.

CityJSONSeq (``.jsonl``) is streamed: one line, one feature, so files larger
than memory import.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS

from twin.attributes import coerce_typed
from twin.crs import parse_crs, transform_xyz
from twin.errors import ConversionError, TwinError
from twin.model import Edge, Feature, Mesh, lod_key

from .base import MAX_FILE_BYTES, ConversionContext, ConverterSpec
from .cityjson_schema import schema_errors
from .triangulate import TriangulationReport, triangulate_polygons

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

#: Layers whose map geometry is a polygon (a line or point cannot stand for it).
_POLYGON_LAYERS = ("buildings", "terrain", "roads", "landuse", "vegetation", "water")

_SURFACE_DEPTH = {"MultiSurface": 1, "CompositeSurface": 1, "Solid": 2, "MultiSolid": 3,
                  "CompositeSolid": 3}


# -- reading ------------------------------------------------------------------
def _load_json(path: Path) -> dict:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConversionError(f"{path}: larger than {MAX_FILE_BYTES} bytes; split it or "
                              "convert it to CityJSONSeq (cjio export jsonl)", str(path))
    try:
        with open(path, "rb") as fh, _gc_paused():
            doc = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConversionError(f"{path}: not valid JSON: {exc}", str(path)) from None
    if not isinstance(doc, dict) or doc.get("type") != "CityJSON":
        raise ConversionError(f"{path}: not a CityJSON file (no \"type\": \"CityJSON\")",
                              str(path))
    return doc


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cycle collector off while a document is parsed: a parse makes no
    cycles, but its millions of lists would each trigger collections that
    walk all of them again (two thirds of ``json.load``'s time on a large
    city model)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _seq_lines(path: Path) -> Iterator[tuple[int, dict]]:
    with open(path, encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield no, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConversionError(f"{path}: line {no} is not valid JSON: {exc}",
                                      str(path)) from None


# -- geometry -----------------------------------------------------------------
def _surfaces(geom: dict) -> tuple[list, list[int | None]]:
    """The polygons of a geometry and their semantic value index."""
    gtype = geom.get("type")
    depth = _SURFACE_DEPTH.get(gtype)
    if depth is None:
        return [], []
    b = geom.get("boundaries", [])
    values = (geom.get("semantics") or {}).get("values")
    polys: list = []
    sem: list[int | None] = []
    if depth == 1:
        polys = list(b)
        sem = list(values) if isinstance(values, list) else [None] * len(polys)
    elif depth == 2:
        for si, shell in enumerate(b):
            polys.extend(shell)
            sv = values[si] if isinstance(values, list) and si < len(values) else None
            sem.extend(sv if isinstance(sv, list) else [None] * len(shell))
    else:
        for di, solid in enumerate(b):
            dv = values[di] if isinstance(values, list) and di < len(values) else None
            for si, shell in enumerate(solid):
                polys.extend(shell)
                sv = dv[si] if isinstance(dv, list) and si < len(dv) else None
                sem.extend(sv if isinstance(sv, list) else [None] * len(shell))
    if len(sem) != len(polys):
        sem = (sem + [None] * len(polys))[:len(polys)]
    return polys, sem


class _Model:
    """What a file (or a CityJSONSeq header) says about all of its objects."""

    def __init__(self, header: dict, ctx: ConversionContext, path: Path):
        self.path = path
        self.version = str(header.get("version", "?"))
        if self.version not in ("1.0", "1.1", "2.0"):
            raise ConversionError(
                f"{path}: CityJSON version {self.version!r} is not supported; this converter "
                "reads 1.0, 1.1 and 2.0", str(path))
        tr = header.get("transform")
        self.scale = np.asarray(tr["scale"], float) if tr else np.ones(3)
        self.translate = np.asarray(tr["translate"], float) if tr else np.zeros(3)
        meta = header.get("metadata") or {}
        self.crs = self._crs(meta, ctx)
        self.twin_crs = ctx.twin_crs
        # a compound CRS (RD New + NAP) over the twin's own plan CRS: heights are
        # already in the file's vertical datum, the plan needs no transformation
        plan = self.crs.sub_crs_list[0] if self.crs.is_compound else self.crs
        twin_plan = ctx.twin_crs.sub_crs_list[0] if ctx.twin_crs.is_compound else ctx.twin_crs
        self._same_plan = plan == twin_plan
        self.templates = header.get("geometry-templates")
        self.template_vertices = np.asarray(
            self.templates["vertices-templates"], float) if self.templates else np.zeros((0, 3))
        self.prefix = ctx.options.get("id_prefix") or "cityjson"
        ctx.report["cityjson_version"] = self.version
        ctx.report["metadata"] = {k: v for k, v in meta.items()
                                  if k in ("title", "identifier", "referenceDate",
                                           "datasetTitle", "referenceSystem",
                                           "pointOfContact", "datasetReferenceDate")}
        if header.get("extensions"):
            ctx.report["extensions"] = sorted(header["extensions"])
        extra_root = sorted(k for k in header if k.startswith("+"))
        if extra_root:
            ctx.report["extension_root_properties"] = extra_root

    def _crs(self, meta: dict, ctx: ConversionContext) -> CRS:
        if ctx.source_crs is not None:
            ctx.report["crs_from"] = "option"
            return ctx.source_crs
        ref = meta.get("referenceSystem")
        if ref is None and isinstance(meta.get("crs"), dict):  # pre-1.0 {"crs": {"epsg": N}}
            ref = meta["crs"].get("epsg")
        if ref is None:
            raise ConversionError(
                f"{self.path}: the file names no CRS (metadata.referenceSystem); give the "
                "CRS of its coordinates with --crs", str(self.path))
        ctx.report["crs_from"] = "metadata.referenceSystem"
        return parse_crs(str(ref) if not isinstance(ref, int) else f"EPSG:{ref}",
                         what=f"{self.path}: referenceSystem")

    def vertices(self, raw: list) -> np.ndarray:
        v = np.asarray(raw, dtype=np.float64).reshape(-1, 3)
        v = v * self.scale + self.translate
        return self.reproject(v)

    def reproject(self, v: np.ndarray) -> np.ndarray:
        if len(v) == 0 or self.crs == self.twin_crs or self._same_plan:
            return v
        return transform_xyz(self.crs, self.twin_crs, v, source=str(self.path))


def _instance(model: _Model, geom: dict, src_vertices_raw: np.ndarray) -> tuple[dict, np.ndarray]:
    """A GeometryInstance as a plain geometry over its own world vertices."""
    if not model.templates:
        raise ConversionError("GeometryInstance without geometry-templates")
    tpl = model.templates["templates"][geom["template"]]
    m = np.asarray(geom["transformationMatrix"], float).reshape(4, 4)
    ref = src_vertices_raw[geom["boundaries"][0]]
    tv = model.template_vertices
    world = (np.column_stack([tv, np.ones(len(tv))]) @ m.T)[:, :3] + ref
    return tpl, model.reproject(world)


def _object_meshes(model: _Model, obj: dict, verts: np.ndarray, raw_src: np.ndarray,
                   where: str, tri: TriangulationReport, appearance: dict
                   ) -> tuple[dict[str, Mesh], list, list]:
    """Meshes per LoD, plus 2D ground polygons and other 2D parts."""
    by_lod: dict[str, list] = {}
    ground: list = []
    lines: list = []
    for geom in obj.get("geometry") or []:
        if "material" in geom or "texture" in geom:
            appearance["geometries_with_appearance"] += 1
        gverts = verts
        if geom.get("type") == "GeometryInstance":
            geom, gverts = _instance(model, geom, raw_src)
        lod = str(geom.get("lod", "0"))
        gtype = geom.get("type")
        if gtype == "MultiPoint":
            pts = gverts[np.asarray(geom["boundaries"], dtype=np.int64)]
            lines.append(shapely.points(pts[0]) if len(pts) == 1 else shapely.multipoints(pts))
            continue
        if gtype == "MultiLineString":
            for ls in geom["boundaries"]:
                lines.append(shapely.linestrings(gverts[np.asarray(ls, dtype=np.int64)]))
            continue
        polys, sem = _surfaces(geom)
        if not polys:
            continue
        faces, owner = triangulate_polygons(gverts, polys, where=where, report=tri)
        if not len(faces):
            continue
        surfaces = (geom.get("semantics") or {}).get("surfaces") or []
        labels = [str(s.get("type", "")) for s in surfaces]
        sem_arr = np.array([-1 if s is None else int(s) for s in sem], dtype=np.int64)
        face_sem = sem_arr[owner]
        used, inv = np.unique(faces, return_inverse=True)
        mv = gverts[used]
        mf = inv.reshape(-1, 3)
        by_lod.setdefault(lod, []).append((mv, mf, face_sem, labels))
        gi = {k for k, lab in enumerate(labels) if lab == "GroundSurface"}
        if gi:
            # ground surfaces straight from their rings (no union of triangles)
            for poly, sv in zip(polys, sem):
                if sv in gi:
                    g = _ring_polygon(gverts, poly)
                    if g is not None:
                        ground.append(g)
    meshes = {}
    for lod, parts in by_lod.items():
        labels: list[str] = []
        vs, fs, fl = [], [], []
        base = 0
        for mv, mf, face_sem, labs in parts:
            for x in labs:  # one label list for all geometries of this LoD
                if x not in labels:
                    labels.append(x)
            remap = np.array([labels.index(x) for x in labs], dtype=np.int64)
            fl.append(np.where(face_sem >= 0, remap[np.clip(face_sem, 0, None)]
                               if len(remap) else -1, -1))
            vs.append(mv)
            fs.append(mf + base)
            base += len(mv)
        flabels = np.concatenate(fl).astype(np.int16)
        meshes[lod] = Mesh(np.concatenate(vs), np.concatenate(fs),
                           flabels if labels else None, tuple(labels))
    return meshes, ground, lines


def _ring_polygon(verts: np.ndarray, rings: list):
    """A surface ``[outer, hole, ...]`` (vertex indices) as a valid plan polygon."""
    try:
        shell = verts[np.asarray(rings[0], dtype=np.int64)][:, :2]
        holes = [verts[np.asarray(r, dtype=np.int64)][:, :2] for r in rings[1:]]
    except (IndexError, ValueError, TypeError):
        return None
    if len(shell) < 3:
        return None
    g = shapely.Polygon(shell, [h for h in holes if len(h) >= 3])
    if not g.is_valid:
        g = shapely.make_valid(g)
    return g if g.area > 1e-6 else None


def _plan(triangles: np.ndarray):
    """Union of the plan projection of triangles ``(m, 3, 2)`` with area."""
    if len(triangles) == 0:
        return None
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    area = np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1])
                  - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])) / 2
    t = triangles[area > 1e-6]
    if len(t) == 0:
        return None
    rings = np.concatenate([t, t[:, :1]], axis=1)
    polys = shapely.polygons(rings)
    if len(polys) > 8:
        # surfaces (terrain, land use, roads) are coverages: no two triangles
        # overlap in plan, and GEOS merges those far faster; a coverage's union
        # has exactly the triangles' total area, which tells the two cases apart
        try:
            u = shapely.coverage_union_all(polys)
        except shapely.errors.GEOSException:  # GEOS noticed an overlap itself
            u = None
        total = float(area[area > 1e-6].sum())
        if u is not None and u.is_valid and abs(u.area - total) <= 1e-6 * max(total, 1.0):
            return u
    u = shapely.union_all(polys, grid_size=1e-4)
    return u if not u.is_empty else None


def _footprint(meshes: dict[str, Mesh], ground: list, lines: list):
    if ground:
        fp = ground[0] if len(ground) == 1 else shapely.union_all(ground, grid_size=1e-4)
        if fp is not None and not fp.is_empty:
            return _as_area(fp)
    if meshes:
        m = meshes[max(meshes, key=lod_key)]
        tris = m.vertices[m.faces]
        # a closed solid's downward faces cover its footprint once, without overlaps:
        # closed when they project to as much area as its upward faces do
        nz = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])[:, 2]
        up, down = nz[nz > 0].sum(), -nz[nz < 0].sum()
        closed = down > 0 and abs(up - down) <= 1e-3 * max(up, down)
        fp = _plan(tris[nz < 0][:, :, :2]) if closed else None
        if fp is None:
            fp = _plan(tris[:, :, :2])
        if fp is not None:
            return fp
    if lines:
        return shapely.union_all(lines) if len(lines) > 1 else lines[0]
    return None


def _as_area(g):
    """Polygons of ``g`` (make_valid may add lines or points)."""
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else None


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


def _convert_objects(model: _Model, objects: dict, raw_vertices: list, ctx: ConversionContext,
                     tri: TriangulationReport, appearance: dict, counts: dict
                     ) -> Iterator[Feature]:
    raw_src = np.asarray(raw_vertices, dtype=np.float64).reshape(-1, 3) * model.scale \
        + model.translate
    verts = model.reproject(raw_src)
    built: dict[str, dict] = {}
    order = list(objects)
    warnings = ctx.report.setdefault("warnings", [])
    for oid in order:
        obj = objects[oid]
        where = f"{model.path.name}: object {oid!r}"
        otype = str(obj.get("type", ""))
        if not otype:
            ctx.skip(oid, "city object without a type")
            continue
        layer = LAYER_BY_TYPE.get(otype, "generic")
        if otype.startswith("+"):
            counts["extension_objects"] = counts.get("extension_objects", 0) + 1
        try:
            meshes, ground, lines = _object_meshes(model, obj, verts, raw_src, where, tri,
                                                   appearance)
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            ctx.skip(oid, f"geometry cannot be read: {exc}")
            continue
        built[oid] = {"type": otype, "layer": layer, "meshes": meshes,
                      "footprint": _footprint(meshes, ground, lines),
                      "lines": (lines[0] if len(lines) == 1 else shapely.union_all(lines))
                      if lines else None}
    # objects without geometry of their own take their children's extent
    for oid in reversed(order):
        b = built.get(oid)
        if b is None or b["meshes"] or b["footprint"] is not None:
            continue
        kids = [built[c] for c in objects[oid].get("children") or [] if c in built]
        fps = [k["footprint"] for k in kids if k["footprint"] is not None]
        if fps:
            b["footprint"] = shapely.union_all([shapely.force_2d(f) for f in fps])
            boxes = [m.bounds for k in kids for m in k["meshes"].values()]
            if boxes:
                arr = np.array(boxes)
                b["bbox"] = (*arr[:, :3].min(axis=0), *arr[:, 3:].max(axis=0))
    for oid in order:
        b = built.get(oid)
        if b is None:
            continue
        obj = objects[oid]
        fid = f"{model.prefix}:{oid}"
        if not b["meshes"] and b["footprint"] is None:
            counts["without_geometry"] = counts.get("without_geometry", 0) + 1
        parents = obj.get("parents") or []
        attrs = _attributes(obj, fid, warnings)
        # what a twin export recorded about features that are no CityJSON type
        ftype = str(attrs.pop("twin_type", b["type"]))
        layer = str(attrs.pop("twin_layer", b["layer"]))
        edge_rec = attrs.pop("twin_edge", None)
        lod_names = attrs.pop("twin_lods", None)  # LoDs that CityJSON cannot name ("bim")
        if isinstance(lod_names, dict) and b["meshes"]:
            b["meshes"] = {str(lod_names.get(k, k)): m for k, m in b["meshes"].items()}
        edge = Edge(*map(str, edge_rec)) if isinstance(edge_rec, list) and \
            len(edge_rec) == 3 else None
        fp = b["lines"] if b["lines"] is not None and layer not in _POLYGON_LAYERS \
            else b["footprint"]
        if fp is not None and layer in _POLYGON_LAYERS and \
                fp.geom_type not in ("Polygon", "MultiPolygon"):
            fp = None  # a line or point cannot stand for these layers' polygons
        if fp is not None and fp.geom_type == "GeometryCollection":
            polys = [g for g in shapely.get_parts(fp) if g.geom_type in ("Polygon",
                                                                          "MultiPolygon")]
            fp = shapely.union_all(polys) if polys else None
        try:
            feat = Feature(
                id=fid, layer=layer, type=ftype, name=attrs.pop("name", None),
                parent=f"{model.prefix}:{parents[0]}" if parents else None,
                attributes=attrs, footprint=fp, meshes=b["meshes"], source_id=oid,
                bbox=b.get("bbox"), edge=edge,
            )
        except TwinError as exc:
            ctx.skip(oid, str(exc))
            continue
        counts[b["type"]] = counts.get(b["type"], 0) + 1
        yield feat


def _appearance_report(doc: dict, appearance: dict, ctx: ConversionContext) -> None:
    app = doc.get("appearance") or {}
    if app or appearance["geometries_with_appearance"]:
        ctx.report["appearance_not_imported"] = {
            "materials": len(app.get("materials", [])),
            "textures": len(app.get("textures", [])),
            "geometries_with_appearance": appearance["geometries_with_appearance"],
            "note": "the twin keeps no materials or textures; layers are coloured by the "
                    "catalogue",
        }


def convert(ctx: ConversionContext) -> Iterator[Feature]:
    """Convert a CityJSON file (see the module documentation)."""
    path = ctx.source
    doc = _load_json(path)
    model = _Model(doc, ctx, path)
    tri = TriangulationReport()
    appearance = {"geometries_with_appearance": 0}
    counts: dict[str, int] = {}
    if ctx.options.get("validate", True):
        errs = schema_errors(doc, model.version)
        ctx.report["schema"] = ("no schema for CityJSON 1.0: geometric checks only"
                                if errs is None else (errs or "valid"))
        if errs and ctx.strict:
            raise ConversionError(f"{path}: not valid CityJSON {model.version}: {errs[0]}",
                                  str(path))
    objects = doc.get("CityObjects") or {}
    total = len(objects)
    done = 0
    for f in _convert_objects(model, objects, doc.get("vertices") or [], ctx, tri, appearance,
                              counts):
        done += 1
        if done % 200 == 0:
            ctx.progress(done, total)
        yield f
    ctx.progress(total, total)
    _finish(ctx, doc, tri, appearance, counts)


def convert_seq(ctx: ConversionContext) -> Iterator[Feature]:
    """Convert a CityJSONSeq file line by line (constant memory)."""
    path = ctx.source
    lines = _seq_lines(path)
    try:
        _, header = next(lines)
    except StopIteration:
        raise ConversionError(f"{path}: empty CityJSONSeq file", str(path)) from None
    if header.get("type") != "CityJSON":
        raise ConversionError(f"{path}: the first line must be the CityJSON header object",
                              str(path))
    model = _Model(header, ctx, path)
    tri = TriangulationReport()
    appearance = {"geometries_with_appearance": 0}
    counts: dict[str, int] = {}
    validate = ctx.options.get("validate", True)
    invalid: list[str] = []
    for no, feat in lines:
        if feat.get("type") != "CityJSONFeature":
            ctx.skip(f"line {no}", f"not a CityJSONFeature (type {feat.get('type')!r})")
            continue
        if validate and len(invalid) < 20:
            errs = schema_errors(feat, model.version, "cityjsonfeature", limit=3)
            if errs:
                invalid += [f"line {no}: {e}" for e in errs]
                if ctx.strict:
                    raise ConversionError(f"{path}: line {no}: {errs[0]}", str(path))
        for f in _convert_objects(model, feat.get("CityObjects") or {},
                                  feat.get("vertices") or [], ctx, tri, appearance, counts):
            yield f
        ctx.progress(no, None)
    if validate:
        ctx.report["schema"] = invalid or ("valid" if model.version != "1.0" else
                                           "no schema for CityJSON 1.0: geometric checks only")
    _finish(ctx, header, tri, appearance, counts)


def _finish(ctx: ConversionContext, doc: dict, tri: TriangulationReport, appearance: dict,
            counts: dict) -> None:
    ctx.report["objects_without_geometry"] = counts.pop("without_geometry", 0)
    ctx.report["objects_by_type"] = dict(sorted(counts.items()))
    ctx.report["triangulation"] = {
        "polygons": tri.polygons, "triangles": tri.triangles, "holes": tri.holes,
        "degenerate_rings": tri.degenerate_rings,
        "degenerate_polygons": tri.degenerate_polygons, "non_planar": tri.non_planar,
        "examples": tri.examples,
    }
    _appearance_report(doc, appearance, ctx)


def _sniff(head: bytes) -> bool:
    return b'"CityJSON"' in head or b'"CityObjects"' in head


CONVERTERS = (
    ConverterSpec(name=NAME, version=VERSION, format="CityJSON",
                  extensions=(".city.json", ".json"), run=convert, sniff=_sniff,
                  description="CityJSON 1.0, 1.1 and 2.0 city models"),
    ConverterSpec(name="cityjsonseq", version=VERSION, format="CityJSONSeq",
                  extensions=(".city.jsonl", ".jsonl"), run=convert_seq, sniff=_sniff,
                  description="CityJSON Text Sequences (streamed)"),
)
