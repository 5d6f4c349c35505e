"""OGC API - Features - Part 4 (create, replace, update, delete) over a twin.

Framework-free, like :mod:`twin_api.features`: the routes
(:mod:`twin_api.routes_transactions`) hand in the parsed request and get
plain values back. Every request is **one import batch** of the twin
(``converter = "ogcapi-features"``, an update by identity,
:mod:`twin.store.versions`): a created feature is *added*, a replaced or
updated one gets a new *version* (the earlier one moves to the history), a
deleted one is *retired* (a new version ends it; nothing is erased). So
``twin history``, ``twin diff`` and ``twin batches --remove N`` treat an edit
from a GIS client exactly as an import of a file.

Everything is checked before anything is written, and a failure is a 400
naming the feature and what is wrong, the twin unchanged:

* the body: a GeoJSON Feature (or, for ``POST``, a FeatureCollection of at
  most ``max_features``);
* the geometry: a valid GeoJSON geometry of the type the layer holds
  (polygons, lines or points), in CRS84 longitude/latitude unless the
  request's ``Content-Crs`` header names one of the collection's CRSs
  (:func:`twin_api.geo.supported_crs`), reprojected into the twin CRS with
  errors checked (:func:`twin.crs.transform_xyz`), and placed where the twin
  CRS is meant to be used (the placement check of every file import,
  :class:`converters.placement.PlacementCheck`, without ``--force``);
* the properties: the typed attributes (``storeys``, ``diameter_mm``, ...)
  must have their type (:func:`twin.attributes.coerce_typed`: the queryables'
  types); ``layer``, when given, must be the collection; ``type``, ``name``,
  ``parent`` and ``lod`` are the feature's own fields; ``zmin``/``zmax`` are
  derived from the geometry and ignored.

Optimistic locking: each feature version has an entity tag
(:func:`version_tag`, the ``ETag`` of ``GET .../items/{featureId}``);
``If-Match`` on ``PUT``/``PATCH``/``DELETE`` is compared inside the write
transaction, so a version changed meanwhile is a ``412``.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from twin import __version__
from twin.attributes import TYPED_ATTRIBUTES, coerce_typed
from twin.crs import transform_xyz
from twin.errors import ConversionError, NotFoundError, TwinError
from twin.geometry import client_geometry_fault
from twin.layers import Layer, default_feature_type, default_network
from twin.model import Edge, Feature
from twin.store.base import TwinStore
from twin.store.writer import check_feature

from .geo import CRS84, CrsChoice, choose_crs
from .problems import ApiProblem, bad_request

#: The converter name of every batch written through this API.
CONVERTER = "ogcapi-features"
FORMAT = "GeoJSON (OGC API - Features - Part 4)"
#: The conformance classes of Part 4 this server implements.
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/optimistic-locking-etags",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
]
#: Properties that are the feature's own fields, not attributes.
FIELDS = ("type", "name", "parent", "lod")
#: Properties a GET answer derives (ignored when a client sends them back).
DERIVED = ("layer", "zmin", "zmax", "start_node", "end_node")
#: Prefix of the ids this server gives features created without one.
NEW_ID_PREFIX = "api:"
_MAX_ID = 256


@dataclass(frozen=True)
class WriteRequest:
    """Who asks what: the HTTP method, the request path (``/collections/...``),
    the id of the client's token, the ``Content-Crs`` header."""

    method: str
    path: str
    who: str
    content_crs: str | None = None
    if_match: str | None = None

    @property
    def source(self) -> str:
        """The batch's source: the API and the client's request (never a path
        of the server's disk)."""
        return f"OGC API - Features: {self.method} {self.path} ({self.who})"


@dataclass
class WriteResult:
    """What a write did: the batch (0 when the request changed nothing) and
    the ids it created, changed or retired."""

    batch: int
    ids: list[str]
    report: dict[str, Any] = field(default_factory=dict)


# -- reading the body ------------------------------------------------------------
def parse_json(body: bytes, content_type: str | None) -> Any:
    """The request body as JSON; 415 for another media type, 400 for bad JSON."""
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if not media.endswith("json"):
        raise ApiProblem(415, "Unsupported media type",
                         f"the body is {media!r}; send application/geo+json (or "
                         "application/json, application/merge-patch+json for PATCH)")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"the body is not valid JSON: {exc}") from None


def body_features(doc: Any, max_features: int, *, collection_allowed: bool) -> list[dict]:
    """The GeoJSON features of a body: one Feature, or (``POST``) a
    FeatureCollection of 1 to ``max_features``."""
    if not isinstance(doc, dict) or doc.get("type") not in ("Feature", "FeatureCollection"):
        raise bad_request("the body must be a GeoJSON Feature"
                          + (" or FeatureCollection" if collection_allowed else "")
                          + " (an object with \"type\": \"Feature\")")
    if doc["type"] == "Feature":
        return [doc]
    if not collection_allowed:
        raise bad_request("the body must be one GeoJSON Feature, not a FeatureCollection")
    feats = doc.get("features")
    if not isinstance(feats, list) or not feats:
        raise bad_request("the FeatureCollection's 'features' must be a non-empty list")
    if len(feats) > max_features:
        raise ApiProblem(413, "Too many features",
                         f"the FeatureCollection holds {len(feats)} features; one request may "
                         f"write at most {max_features}")
    for i, f in enumerate(feats):
        if not isinstance(f, dict) or f.get("type") != "Feature":
            raise bad_request(f"features[{i}] is not a GeoJSON Feature")
    return feats


def feature_id_of(doc: Mapping[str, Any], where: str) -> str | None:
    """The ``id`` member of a GeoJSON feature (a string or an integer), or ``None``."""
    raw = doc.get("id")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise bad_request(f"{where}: 'id' must be a string or an integer, got {raw!r}")
    text = str(raw)
    if not text.strip() or len(text) > _MAX_ID:
        raise bad_request(f"{where}: 'id' must be 1 to {_MAX_ID} characters")
    return text


# -- geometry ------------------------------------------------------------------------
def source_crs(header: str | None, twin_crs: CRS) -> CrsChoice:
    """The CRS of the body's coordinates: CRS84 unless ``Content-Crs`` names
    one the collection offers (Part 2's list: CRS84, EPSG:4326, the twin's)."""
    if header is None or not header.strip():
        return choose_crs(None, twin_crs)
    return choose_crs(header, twin_crs, "Content-Crs")


def geometry_in_twin(gj: Any, src: CrsChoice, twin_crs: CRS, where: str) -> BaseGeometry | None:
    """A GeoJSON geometry as a shapely geometry in the twin CRS, or a 400."""
    if gj is None:
        return None
    if not isinstance(gj, dict) or not isinstance(gj.get("type"), str):
        raise bad_request(f"{where}: 'geometry' must be a GeoJSON geometry object or null")
    try:
        geom = shape(gj)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError,
            shapely.errors.GEOSException) as exc:
        raise bad_request(f"{where}: 'geometry' is not a valid GeoJSON "
                          f"{gj.get('type')}: {exc}") from None
    if geom.is_empty:
        raise bad_request(f"{where}: the geometry is empty")
    fault = client_geometry_fault(geom)
    if fault:
        raise bad_request(f"{where}: {fault}")
    xyz = shapely.get_coordinates(geom, include_z=geom.has_z)
    if src.swap:
        xyz[:, [0, 1]] = xyz[:, [1, 0]]
    if src.uri == CRS84 or src.crs.is_geographic:
        bad = (np.abs(xyz[:, 0]) > 180) | (np.abs(xyz[:, 1]) > 90)
        if bad.any():
            x, y = xyz[int(np.argmax(bad)), :2]
            raise bad_request(
                f"{where}: coordinates such as ({x:g}, {y:g}) are not longitude/latitude; "
                "without a Content-Crs header the body is in CRS84 (send "
                "'Content-Crs: <URI of the twin CRS>' for the twin's own coordinates)")
    try:
        out = transform_xyz(src.crs, twin_crs, xyz, source=where)
    except TwinError as exc:
        raise bad_request(str(exc)) from None
    geom = shapely.set_coordinates(geom, out[:, :geom.has_z + 2]) if geom.has_z else \
        shapely.set_coordinates(geom, out[:, :2])
    return geom


# -- properties -----------------------------------------------------------------------
def _text(props: Mapping[str, Any], name: str, where: str) -> str | None:
    v = props.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise bad_request(f"{where}: property {name!r} must be text, got {v!r}")
    return str(v)


def _named(exc: Exception, fid: str, where: str) -> str:
    """An error's message, prefixed by ``where`` unless it names the feature."""
    text = str(exc)
    return text if repr(fid) in text else f"{where}: {text}"


def attributes_of(props: Mapping[str, Any], fid: str, where: str) -> dict[str, Any]:
    """The attributes among ``props``, typed ones checked (a 400 names the
    feature, the attribute and the value)."""
    attrs: dict[str, Any] = {}
    for k, v in props.items():
        if k in FIELDS or k in DERIVED:
            continue
        if k in TYPED_ATTRIBUTES:
            try:
                v = coerce_typed(k, v, fid)
            except TwinError as exc:
                spec = TYPED_ATTRIBUTES[k]
                raise bad_request(f"{_named(exc, fid, where)} (the queryable {k!r} is "
                                  f"{'a number' if spec.kind == 'real' else spec.kind})") \
                    from None
            if v is None:
                continue
            if isinstance(v, int) and not -2**63 <= v < 2**63:
                raise bad_request(f"{where}: attribute {k!r} = {v} does not fit a 64-bit "
                                  "integer")
        elif isinstance(v, float) and not math.isfinite(v):
            raise bad_request(f"{where}: attribute {k!r} is not a finite number")
        attrs[k] = v
    return attrs


def build_feature(doc: Mapping[str, Any], fid: str, layer: Layer, src: CrsChoice,
                  twin_crs: CRS, where: str, current: Feature | None = None) -> Feature:
    """A twin feature from a GeoJSON feature (``PUT``/``POST``): what the body
    holds replaces the feature whole (its meshes included: a GeoJSON feature
    carries none; topology from ``start_node``/``end_node``)."""
    props = doc.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise bad_request(f"{where}: 'properties' must be an object or null")
    given_layer = props.get("layer")
    if given_layer is not None and given_layer != layer.name:
        raise bad_request(f"{where}: property 'layer' is {given_layer!r}, but the feature is "
                          f"sent to collection {layer.name!r}")
    geom = geometry_in_twin(doc.get("geometry"), src, twin_crs, where)
    attrs = attributes_of(props, fid, where)
    network = default_network(layer.name)
    if network is not None and "network" not in attrs:
        attrs["network"] = network
    edge = None
    start, end = props.get("start_node"), props.get("end_node")
    if start is not None and end is not None:
        edge = Edge(str(attrs.get("network") or layer.name), str(start), str(end))
    ftype = _text(props, "type", where) or (current.type if current is not None else
                                           default_feature_type(
                                               layer.name,
                                               geom.geom_type if geom is not None else None))
    feature = _feature(fid, layer, ftype, _text(props, "name", where),
                       _text(props, "parent", where), attrs, geom, _text(props, "lod", where),
                       edge, where)
    return feature


def _feature(fid: str, layer: Layer, ftype: str, name: str | None, parent: str | None,
             attrs: dict[str, Any], geom: BaseGeometry | None, lod: str | None,
             edge: Edge | None, where: str, meshes: Mapping | None = None) -> Feature:
    try:
        f = Feature(id=fid, layer=layer.name, type=ftype, name=name, parent=parent,
                    attributes=attrs, footprint=geom, meshes=dict(meshes or {}), lod=lod,
                    edge=edge, source_id=fid)
        check_feature(f, {layer.name: layer})
    except TwinError as exc:
        raise bad_request(_named(exc, fid, where)) from None
    return f


def merge_patch(current: Feature, doc: Any, src: CrsChoice, twin_crs: CRS, layer: Layer,
                where: str) -> Feature:
    """``PATCH``: the current feature with a JSON merge patch (RFC 7396)
    applied to its properties (``null`` removes an attribute) and, when the
    patch has one, a new geometry (its meshes then go: they belonged to the
    old one; they stay in the earlier version's history)."""
    if not isinstance(doc, dict):
        raise bad_request("a PATCH body must be a JSON object (a merge patch of the feature)")
    unknown = set(doc) - {"type", "id", "properties", "geometry", "links", "bbox"}
    if unknown:
        raise bad_request(f"a PATCH body may hold 'properties' and 'geometry'; "
                          f"{', '.join(sorted(unknown))} cannot be patched")
    if doc.get("id") is not None and str(doc["id"]) != current.id:
        raise bad_request(f"{where}: the patch's id {doc['id']!r} is not the feature's")
    patch = doc.get("properties") or {}
    if not isinstance(patch, dict):
        raise bad_request(f"{where}: 'properties' of a patch must be an object")
    if patch.get("layer") is not None and patch["layer"] != layer.name:
        raise bad_request(f"{where}: a feature cannot move to layer {patch['layer']!r} "
                          f"(it is in {layer.name!r}); delete it and create it there")
    attrs = dict(current.attributes)
    for k, v in attributes_of({k: v for k, v in patch.items() if v is not None},
                              current.id, where).items():
        attrs[k] = v
    for k, v in patch.items():
        if v is None and k not in FIELDS:
            attrs.pop(k, None)
    fields = {k: (current.type, current.name, current.parent, current.lod)[i]
              for i, k in enumerate(FIELDS)}
    for k in FIELDS:
        if k in patch:
            fields[k] = _text(patch, k, where)
    if not fields["type"]:
        raise bad_request(f"{where}: 'type' cannot be removed")
    geom, meshes = current.footprint, current.meshes
    if "geometry" in doc:
        geom = geometry_in_twin(doc["geometry"], src, twin_crs, where)
        meshes = {}
    return _feature(current.id, layer, str(fields["type"]), fields["name"], fields["parent"],
                    attrs, geom, fields["lod"] if meshes else None, current.edge, where,
                    meshes)


def check_placement(features: list[Feature], twin_crs: CRS, source: str) -> None:
    """The placement check of file imports: absurd coordinates and features
    far outside the twin CRS's area of use are a 400 (there is no ``force``)."""
    from converters.placement import PlacementCheck

    check = PlacementCheck(twin_crs, source)
    refused: list[str] = []
    list(check.screen(features, lambda fid, why: refused.append(f"feature {fid!r}: {why}")))
    if refused:
        raise bad_request("refused, placed where it cannot belong: " + "; ".join(refused[:5]))
    try:
        check.verdict({})
    except ConversionError as exc:
        detail = str(exc).replace(" or pass --force to import it anyway", "").replace(
            "(--crs, --origin)", "(the coordinates, or the Content-Crs header)")
        raise bad_request(detail) from None


# -- versions and entity tags ----------------------------------------------------------
def version_tag(twin_id: str, f: Feature) -> str:
    """The strong entity tag of a feature's current version: its id, the
    batch that wrote it and its content (an in-place attribute edit changes it
    too). The same version has the same tag in every representation (``crs``)."""
    from .features import feature_properties

    batch = f.provenance.batch_id if f.provenance is not None else 0
    geom = f.footprint.wkb_hex if f.footprint is not None else ""
    props = json.dumps(feature_properties(f), sort_keys=True, default=str)
    key = f"{twin_id}|{f.id}|{batch}|{geom}|{props}".encode()
    return '"v' + hashlib.blake2b(key, digest_size=12).hexdigest() + '"'


def check_if_match(if_match: str | None, tag: str, fid: str) -> None:
    """RFC 9110 ``If-Match`` (strong comparison): ``412`` when the current
    version's tag is not among the listed ones."""
    if if_match is None:
        return
    tags = [t.strip() for t in if_match.split(",") if t.strip()]
    if "*" in tags or tag in tags:
        return
    raise ApiProblem(412, "Precondition failed",
                     f"feature {fid!r} has changed: its current version is {tag}, the request's "
                     f"If-Match names {if_match}; GET it again and retry")


# -- the writes ---------------------------------------------------------------------------
def new_id() -> str:
    return NEW_ID_PREFIX + uuid.uuid4().hex


def current_feature(store: TwinStore, layer: str, fid: str) -> Feature:
    """The current version of ``fid`` in collection ``layer``, or a 404."""
    try:
        f = store.get(fid, meshes=True)
    except NotFoundError:
        raise ApiProblem(404, "Not found", f"feature {fid!r} does not exist in collection "
                         f"{layer!r}") from None
    if f.layer != layer:
        raise ApiProblem(404, "Not found", f"feature {fid!r} is not in collection {layer!r} "
                         f"(it is in {f.layer!r})")
    return f


def write(store: TwinStore, req: WriteRequest, *, add: Sequence[Feature] = (),
          retire: Sequence[str] = (), before: Callable[[TwinStore], None] | None = None,
          report: dict[str, Any] | None = None) -> WriteResult:
    """One batch: ``add`` (new features or new versions) and ``retire``;
    ``before(store)`` runs inside the transaction first (existence and
    ``If-Match`` checks, under the twin's write lock). A write that changes
    nothing leaves no batch (``batch == 0``)."""
    with store.import_batch(req.source, FORMAT, CONVERTER, __version__,
                            on_conflict="update") as batch:
        if before is not None:
            try:
                before(store)
            except NotFoundError as exc:  # inside the batch it would read as a failed import
                raise ApiProblem(404, "Not found", str(exc)) from None
        batch.report.update({"request": {"method": req.method, "path": req.path,
                                         "client": req.who,
                                         "content_crs": req.content_crs or CRS84},
                             **(report or {})})
        if add:
            batch.add(add)
        if retire:
            missing = batch.retire(retire)
            if missing:
                raise ApiProblem(404, "Not found", f"feature {missing[0]!r} does not exist")
    return WriteResult(batch.id, [f.id for f in add] + list(retire), dict(batch.report))


__all__ = ["CONFORMANCE", "CONVERTER", "WriteRequest", "WriteResult", "body_features",
           "build_feature", "check_if_match", "check_placement", "merge_patch", "parse_json",
           "source_crs", "version_tag", "write"]
