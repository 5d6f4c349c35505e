"""The twin (or a selection of it) to CityJSON 2.0 and CityJSONSeq.

* Every selected feature with a mesh or a footprint becomes a city object.
  Its CityJSON type is its own when it is one (features imported from
  CityJSON keep theirs), else the type of its layer (:data:`TYPE_BY_LAYER`);
  the twin type and layer are then kept as ``twin_type``/``twin_layer``
  attributes, and a network edge as ``twin_edge`` ``[network, start, end]``,
  so that an import of the export gives back the same features.
* Each LoD mesh becomes a ``Solid`` when it closes a volume (LoD1 blocks,
  the envelopes of IFC buildings), else a ``MultiSurface``, of its
  triangles with the semantic surfaces of its face labels; vertices are
  quantised with a millimetre ``transform``. Where the object's type does
  not allow that geometry type (the schema's rules, read by
  :func:`~converters.cityjson_schema.object_rules`), the next it allows is
  written: a ``LandUse`` volume as a ``MultiSurface``, a ``TINRelief`` as
  the ``CompositeSurface`` it must be. Points and lines go where the type
  allows them; elsewhere they are left out and counted in the report.
* IFC buildings keep their structure: storeys become ``BuildingStorey``,
  spaces ``BuildingRoom``, walls, slabs, columns, doors and windows
  ``BuildingConstructiveElement``, each under its nearest selected ancestor;
  an inner object exported without any ancestor becomes a
  ``GenericCityObject`` (CityJSON requires a parent for inner objects).
* Ids: a feature imported from CityJSON gets back its id in that file; any
  other keeps its twin id. ``parents``/``children`` link the selected
  features.
* CityJSONSeq writes the header line, then one ``CityJSONFeature`` per
  top-level object with its descendants, each with its own vertices:
  memory stays bounded by one feature.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from twin.errors import ExportError, TwinError
from twin.model import Feature
from twin.network import features_by_id
from twin.query import Query
from twin.store.base import TwinStore

from .cityjson import LAYER_BY_TYPE, TYPED_FROM_CITYJSON
from .cityjson_schema import ObjectRule, object_rules

SCALE = 0.001

#: Twin layer -> the CityJSON type its features become (when their own type is not one).
TYPE_BY_LAYER = {
    "buildings": "Building", "building_elements": "BuildingInstallation",
    "bridges": "Bridge", "tunnels": "Tunnel", "city_furniture": "CityFurniture",
    "vegetation": "PlantCover", "terrain": "TINRelief", "roads": "Road",
    "landuse": "LandUse", "water": "WaterBody",
}
_SEMANTIC_TYPES = frozenset({
    "RoofSurface", "GroundSurface", "WallSurface", "ClosureSurface", "OuterCeilingSurface",
    "OuterFloorSurface", "Window", "Door", "InteriorWallSurface", "CeilingSurface",
    "FloorSurface", "WaterSurface", "WaterGroundSurface", "WaterClosureSurface",
    "TrafficArea", "AuxiliaryTrafficArea", "TransportationMarking", "TransportationHole",
})
_TYPED_TO_CITYJSON = {v: k for k, v in TYPED_FROM_CITYJSON.items()}

#: IFC class -> CityJSON 2.0 type of the building's inner objects.
TYPE_BY_IFC_CLASS = {"IfcBuilding": "Building", "IfcBuildingStorey": "BuildingStorey",
                     "IfcSpace": "BuildingRoom", "IfcFurnishingElement": "BuildingFurniture",
                     "IfcFurniture": "BuildingFurniture"}
_IFC_CONSTRUCTIVE = ("IfcWall", "IfcSlab", "IfcColumn", "IfcBeam", "IfcRoof", "IfcStair",
                     "IfcRamp", "IfcRailing", "IfcCovering", "IfcCurtainWall", "IfcPlate",
                     "IfcMember", "IfcFooting", "IfcPile", "IfcDoor", "IfcWindow",
                     "IfcChimney", "IfcBuildingElementProxy")
#: An extension type as CityJSON 2.0 writes one (``+`` and a capital letter).
_EXTENSION_TYPE = re.compile(r"^\+[A-Z]\w+$")


def _crs_url(store: TwinStore) -> str | None:
    auth = store.crs.to_authority(min_confidence=90)
    if auth is None:
        return None
    return f"https://www.opengis.net/def/crs/{auth[0]}/0/{auth[1]}"


def _object_id(f: Feature) -> str:
    if f.provenance is not None and f.provenance.source_format in ("CityJSON", "CityJSONSeq") \
            and f.source_id:
        return f.source_id
    return f.id


def _rule(ctype: str) -> ObjectRule:
    rules = object_rules("2.0")
    return rules["ExtensionObject"] if ctype.startswith("+") else rules[ctype]


def _cityjson_type(f: Feature, has_parent: bool = True) -> str:
    if f.type in LAYER_BY_TYPE or _EXTENSION_TYPE.match(f.type):
        t = f.type
    elif isinstance(f.attributes.get("ifc_class"), str):
        ifc = f.attributes["ifc_class"]
        t = TYPE_BY_IFC_CLASS.get(ifc) or (
            "BuildingConstructiveElement" if ifc.startswith(_IFC_CONSTRUCTIVE)
            else TYPE_BY_LAYER.get(f.layer, "GenericCityObject"))
    else:
        t = TYPE_BY_LAYER.get(f.layer, "GenericCityObject")
    # an inner object exported without any of its ancestors stands on its own
    return "GenericCityObject" if _rule(t).needs_parent and not has_parent else t


_LOD = re.compile(r"^[0-3](\.[0-3])?$")


def cityjson_lod(lod: str) -> str:
    """A twin LoD as CityJSON can name it: ``"bim"`` (IFC element geometry) and
    other free names become ``"3"`` (architectural detail)."""
    return lod if _LOD.match(lod) else "3"


def weld(vertices: np.ndarray, faces: np.ndarray, tol: float = SCALE / 2
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge vertices closer than ``tol`` (on a grid); faces renumbered, and
    faces that collapse dropped (``kept`` tells which)."""
    key = np.rint(np.asarray(vertices, dtype=np.float64) / (2 * tol)).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    f = inverse.reshape(-1)[np.asarray(faces)]
    ok = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    return np.asarray(vertices)[first], f[ok], ok


def closed_shell(faces: np.ndarray) -> bool:
    """Whether triangles ``(n, 3)`` close a volume: every edge is used exactly
    twice, once in each direction (consistently oriented, watertight)."""
    if len(faces) < 4:
        return False
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    directed, counts = np.unique(e, axis=0, return_counts=True)
    if (counts != 1).any():
        return False
    rev = np.unique(e[:, ::-1], axis=0)
    return len(rev) == len(directed) and bool((rev == directed).all())


def _attributes(f: Feature, ctype: str) -> dict[str, Any]:
    attrs = dict(f.attributes)
    renamed = {cityjson_lod(k): k for k in f.meshes if cityjson_lod(k) != k}
    if renamed:  # so that an import of the export gives the twin's LoD names back
        attrs["twin_lods"] = renamed
    for twin_name, cj_name in _TYPED_TO_CITYJSON.items():
        if twin_name in attrs:
            value = attrs.pop(twin_name)
            attrs.setdefault(cj_name, value)
    if ctype != f.type:
        attrs["twin_type"] = f.type
    if LAYER_BY_TYPE.get(ctype, "generic") != f.layer:
        attrs["twin_layer"] = f.layer
    if f.edge is not None:
        attrs["twin_edge"] = [f.edge.network, f.edge.start, f.edge.end]
    if f.name and "name" not in attrs:
        attrs["name"] = f.name
    return attrs


class _Vertices:
    """Quantised vertices of one document or one CityJSONFeature."""

    def __init__(self, translate: np.ndarray):
        self.translate = translate
        self.parts: list[np.ndarray] = []
        self.n = 0

    def add(self, v: np.ndarray) -> int:
        q = np.rint((v - self.translate) / SCALE).astype(np.int64)
        self.parts.append(q)
        base = self.n
        self.n += len(q)
        return base

    def tolist(self) -> list:
        return np.concatenate(self.parts).tolist() if self.parts else []


#: The surface geometry types a mesh may become, by preference: a closed mesh
#: a Solid where allowed; a TINRelief must be a CompositeSurface.
_CLOSED = ("Solid", "MultiSurface", "CompositeSurface")
_OPEN = ("MultiSurface", "CompositeSurface")


def _allowed(rule: ObjectRule, gtype: str) -> bool:
    return rule.geometry_types is None or gtype in rule.geometry_types


def _geometry(f: Feature, verts: _Vertices, ctype: str, left_out: dict[str, int]
              ) -> list[dict]:
    """The CityJSON geometries of a feature as an object of type ``ctype``;
    what that type cannot hold is counted in ``left_out`` (by geometry
    type)."""
    rule = _rule(ctype)
    out = []
    fp = f.footprint
    if fp is not None and fp.has_z and fp.geom_type in ("LineString", "Point"):
        # centrelines and node positions travel as LoD 0 lines and points
        gtype = "MultiLineString" if fp.geom_type == "LineString" else "MultiPoint"
        if _allowed(rule, gtype):
            coords = np.asarray(fp.coords, dtype=np.float64)
            base = verts.add(coords)
            idx = list(range(base, base + len(coords)))
            out.append({"type": gtype, "lod": "0",
                        "boundaries": [idx] if gtype == "MultiLineString" else idx})
        else:
            left_out[gtype] = left_out.get(gtype, 0) + 1
    for twin_lod, mesh in sorted(f.meshes.items()):
        if mesh.n_faces == 0:
            continue
        lod = cityjson_lod(twin_lod)
        # a closed, consistently oriented mesh (an LoD1 envelope, a block) is a Solid,
        # its coincident vertices welded so that neighbouring faces share them
        wv, wf, kept = weld(mesh.vertices, mesh.faces)
        closed = closed_shell(wf)
        mesh_type = next((t for t in (_CLOSED if closed else _OPEN) if _allowed(rule, t)),
                         None)
        if mesh_type is None:
            left_out["mesh"] = left_out.get("mesh", 0) + 1
            continue
        solid = mesh_type == "Solid"
        v_out, f_out = (wv, wf) if solid else (mesh.vertices, mesh.faces)
        face_labels = mesh.face_labels
        if solid and face_labels is not None:
            face_labels = face_labels[kept]
        base = verts.add(v_out)
        faces = (np.asarray(f_out) + base).tolist()
        surfaces = [[tri] for tri in faces]
        g: dict[str, Any] = {"type": mesh_type, "lod": lod,
                             "boundaries": [surfaces] if solid else surfaces}
        labels = mesh.labels
        if face_labels is not None and labels and all(x in _SEMANTIC_TYPES for x in labels):
            values = [None if v < 0 else int(v) for v in face_labels.tolist()]
            g["semantics"] = {"surfaces": [{"type": x} for x in labels],
                              "values": [values] if solid else values}
        out.append(g)
    return out


def _city_object(f: Feature, verts: _Vertices, ids: dict[str, str],
                 children: dict[str, list[str]], parent: str | None,
                 left_out: dict[str, int]) -> dict[str, Any]:
    ctype = _cityjson_type(f, parent is not None)
    obj: dict[str, Any] = {"type": ctype}
    attrs = _attributes(f, ctype)
    if attrs:
        obj["attributes"] = attrs
    geom = _geometry(f, verts, ctype, left_out)
    if geom:
        obj["geometry"] = geom
    if parent is not None:
        obj["parents"] = [ids[parent]]
    if isinstance(attrs.get("same_as"), list):  # conflation links, as ids of this file
        attrs["same_as"] = [ids.get(x, x) for x in attrs["same_as"]]
    kids = [ids[c] for c in children.get(f.id, ()) if c in ids]
    if kids:
        obj["children"] = kids
    return obj


def _plan(store: TwinStore, query: Query) -> tuple[list[tuple[str, str | None, str]],
                                                   np.ndarray, np.ndarray]:
    """Ids, parents and CityJSON ids of the selection, and its 3D bounds (one
    pass, no meshes)."""
    q = replace(query, with_meshes=False)
    rows = []
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for f in store.query(q):
        rows.append((f.id, f.parent, _object_id(f)))
        if f.bbox is not None:
            b = np.asarray(f.bbox, float)
            lo = np.fmin(lo, b[:3])
            hi = np.fmax(hi, b[3:])
    lo = np.where(np.isfinite(lo), lo, 0.0)
    hi = np.where(np.isfinite(hi), hi, 0.0)
    return rows, lo, hi


def _selected_ancestor(store: TwinStore, parent: str | None, selected: set[str],
                       max_depth: int = 32) -> str | None:
    seen = 0
    while parent is not None and parent not in selected and seen < max_depth:
        try:
            parent = store.get(parent, meshes=False).parent
        except TwinError:  # a parent that is not in the twin
            return None
        seen += 1
    return parent if parent in selected else None


def _header(store: TwinStore, lo: np.ndarray, hi: np.ndarray, translate: np.ndarray
            ) -> dict[str, Any]:
    meta: dict[str, Any] = {"geographicalExtent": [*map(float, lo), *map(float, hi)],
                            "title": f"Export of {Path(store.path).name}"}
    url = _crs_url(store)
    if url:
        meta["referenceSystem"] = url
    return {"type": "CityJSON", "version": "2.0",
            "transform": {"scale": [SCALE] * 3, "translate": [float(x) for x in translate]},
            "metadata": meta}


def export_cityjson(store: TwinStore, out: str | Path | IO[str], query: Query | None = None,
                    *, seq: bool = False,
                    progress: Callable[[int, int | None], None] | None = None
                    ) -> dict[str, Any]:
    """Write the features ``query`` selects (default: all) as CityJSON 2.0
    (``seq=False``) or CityJSONSeq. Returns a small report: ``objects``,
    ``by_type``, and ``left_out``, the geometries that the CityJSON type of
    their object cannot hold (points or lines on a building, by geometry
    type)."""
    query = query or Query()
    progress = progress or (lambda d, t: None)
    rows, lo, hi = _plan(store, query)
    translate = np.floor(lo)
    ids_in = {fid for fid, _, _ in rows}
    # each object's nearest selected ancestor (elements of a building whose storeys
    # are not selected hang on the building)
    rows = [(fid, _selected_ancestor(store, parent, ids_in), cid) for fid, parent, cid in rows]
    parent_of = {fid: parent for fid, parent, _ in rows}
    children: dict[str, list[str]] = {}
    for fid, parent, _ in rows:
        if parent is not None:
            children.setdefault(parent, []).append(fid)
    header = _header(store, lo, hi, translate)
    report: dict[str, Any] = {"objects": 0, "by_type": {}, "left_out": {}}

    def features(ids: list[str]) -> Iterator[Feature]:
        return features_by_id(store, ids, meshes=True)

    cj_ids = {fid: cid for fid, _, cid in rows}
    used = set()
    for cid in cj_ids.values():
        if cid in used:
            raise ExportError(f"two selected features export to the same CityJSON id {cid!r}")
        used.add(cid)

    def count(obj: dict) -> None:
        report["objects"] += 1
        report["by_type"][obj["type"]] = report["by_type"].get(obj["type"], 0) + 1
        progress(report["objects"], len(rows))

    fh: IO[str]
    if isinstance(out, str | Path):  # a path: the file is ours to open and close
        own = True
        fh = open(out, "w", encoding="utf-8")  # closed below
    else:
        own = False
        fh = out
    try:
        if not seq:
            verts = _Vertices(translate)
            objects = {}
            for f in features([r[0] for r in rows]):
                obj = _city_object(f, verts, cj_ids, children, parent_of[f.id],
                                   report["left_out"])
                objects[cj_ids[f.id]] = obj
                count(obj)
            doc = {**header, "CityObjects": objects, "vertices": verts.tolist()}
            json.dump(doc, fh, ensure_ascii=False, separators=(",", ":"))
        else:
            fh.write(json.dumps({**header, "CityObjects": {}, "vertices": []},
                                ensure_ascii=False, separators=(",", ":")) + "\n")
            roots = [fid for fid, parent, _ in rows if parent is None]
            for root in roots:
                family = [root]
                k = 0
                while k < len(family):
                    family += children.get(family[k], [])
                    k += 1
                verts = _Vertices(translate)
                objects = {}
                for f in features(family):
                    obj = _city_object(f, verts, cj_ids, children, parent_of[f.id],
                                       report["left_out"])
                    objects[cj_ids[f.id]] = obj
                    count(obj)
                line = {"type": "CityJSONFeature", "id": cj_ids[root], "CityObjects": objects,
                        "vertices": verts.tolist()}
                fh.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    finally:
        if own:
            fh.close()
    return report
