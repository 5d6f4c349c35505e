"""The twin (or a selection of it) to CityJSON 2.0 and CityJSONSeq.

* Every selected feature with a mesh or a footprint becomes a city object.
  Its CityJSON type is its own when it is one (features imported from
  CityJSON keep theirs), else the type of its layer (:data:`TYPE_BY_LAYER`);
  the twin type and layer are then kept as ``twin_type``/``twin_layer``
  attributes, and a network edge as ``twin_edge`` ``[network, start, end]``,
  so that an import of the export gives back the same features.
* Each LoD mesh becomes a ``MultiSurface`` of its triangles with the
  semantic surfaces of its face labels; vertices are quantised with a
  millimetre ``transform``.
* Ids: a feature imported from CityJSON gets back its id in that file; any
  other keeps its twin id. ``parents``/``children`` link the selected
  features.
* CityJSONSeq writes the header line, then one ``CityJSONFeature`` per
  top-level object with its descendants, each with its own vertices:
  memory stays bounded by one feature.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from twin.errors import TwinError
from twin.model import Feature
from twin.network import features_by_id
from twin.query import Query
from twin.store.base import TwinStore

from .cityjson import LAYER_BY_TYPE, TYPED_FROM_CITYJSON

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


def _cityjson_type(f: Feature) -> str:
    if f.type in LAYER_BY_TYPE or f.type.startswith("+"):
        return f.type
    return TYPE_BY_LAYER.get(f.layer, "GenericCityObject")


def _attributes(f: Feature, ctype: str) -> dict[str, Any]:
    attrs = dict(f.attributes)
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


def _geometry(f: Feature, verts: _Vertices) -> list[dict]:
    out = []
    fp = f.footprint
    if fp is not None and fp.has_z and fp.geom_type in ("LineString", "Point"):
        # centrelines and node positions travel as LoD 0 lines and points
        coords = np.asarray(fp.coords, dtype=np.float64)
        base = verts.add(coords)
        idx = list(range(base, base + len(coords)))
        out.append({"type": "MultiLineString", "lod": "0", "boundaries": [idx]}
                   if fp.geom_type == "LineString" else
                   {"type": "MultiPoint", "lod": "0", "boundaries": idx})
    for lod, mesh in sorted(f.meshes.items()):
        if mesh.n_faces == 0:
            continue
        base = verts.add(mesh.vertices)
        faces = (mesh.faces + base).tolist()
        g: dict[str, Any] = {"type": "MultiSurface", "lod": lod,
                             "boundaries": [[tri] for tri in faces]}
        labels = mesh.labels
        if mesh.face_labels is not None and labels and all(x in _SEMANTIC_TYPES
                                                           for x in labels):
            g["semantics"] = {"surfaces": [{"type": x} for x in labels],
                              "values": [None if v < 0 else int(v)
                                         for v in mesh.face_labels.tolist()]}
        out.append(g)
    return out


def _city_object(f: Feature, verts: _Vertices, ids: dict[str, str],
                 children: dict[str, list[str]]) -> dict[str, Any]:
    ctype = _cityjson_type(f)
    obj: dict[str, Any] = {"type": ctype}
    attrs = _attributes(f, ctype)
    if attrs:
        obj["attributes"] = attrs
    geom = _geometry(f, verts)
    if geom:
        obj["geometry"] = geom
    if f.parent is not None and f.parent in ids:
        obj["parents"] = [ids[f.parent]]
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
    (``seq=False``) or CityJSONSeq. Returns a small report (counts, types)."""
    query = query or Query()
    progress = progress or (lambda d, t: None)
    rows, lo, hi = _plan(store, query)
    translate = np.floor(lo)
    ids_in = {fid for fid, _, _ in rows}
    children: dict[str, list[str]] = {}
    for fid, parent, _ in rows:
        if parent in ids_in:
            children.setdefault(parent, []).append(fid)
    header = _header(store, lo, hi, translate)
    report: dict[str, Any] = {"objects": 0, "by_type": {}}

    def features(ids: list[str]) -> Iterator[Feature]:
        return features_by_id(store, ids, meshes=True)

    cj_ids = {fid: cid for fid, _, cid in rows}
    used = set()
    for fid, cid in cj_ids.items():
        if cid in used:
            raise TwinError(f"two selected features export to the same CityJSON id {cid!r}")
        used.add(cid)

    def count(obj: dict) -> None:
        report["objects"] += 1
        report["by_type"][obj["type"]] = report["by_type"].get(obj["type"], 0) + 1
        progress(report["objects"], len(rows))

    own = not hasattr(out, "write")
    fh: IO[str] = open(out, "w", encoding="utf-8") if own else out  # type: ignore[arg-type]
    try:
        if not seq:
            verts = _Vertices(translate)
            objects = {}
            for f in features([r[0] for r in rows]):
                obj = _city_object(f, verts, cj_ids, children)
                objects[cj_ids[f.id]] = obj
                count(obj)
            doc = {**header, "CityObjects": objects, "vertices": verts.tolist()}
            json.dump(doc, fh, ensure_ascii=False, separators=(",", ":"))
        else:
            fh.write(json.dumps({**header, "CityObjects": {}, "vertices": []},
                                ensure_ascii=False, separators=(",", ":")) + "\n")
            roots = [fid for fid, parent, _ in rows if parent not in ids_in]
            for root in roots:
                family = [root]
                k = 0
                while k < len(family):
                    family += children.get(family[k], [])
                    k += 1
                verts = _Vertices(translate)
                objects = {}
                for f in features(family):
                    obj = _city_object(f, verts, cj_ids, children)
                    objects[cj_ids[f.id]] = obj
                    count(obj)
                line = {"type": "CityJSONFeature", "id": cj_ids[root], "CityObjects": objects,
                        "vertices": verts.tolist()}
                fh.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    finally:
        if own:
            fh.close()
    return report
