"""OGC API - Features (Part 1 Core + GeoJSON, Part 2 CRS) over a twin.

Framework-free: each function takes the store, the parsed parameters and the
base URL and returns plain dicts (or a stream of byte chunks for item pages);
:mod:`twin_api.app` adapts them to HTTP. One collection per twin layer;
features carry their footprint, centreline or position as geometry and their
z-range (``zmin``/``zmax``) and attributes as properties.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import numpy as np
import shapely
from pyproj import CRS

from twin import __version__
from twin.attributes import TYPED_ATTRIBUTES
from twin.errors import NotFoundError
from twin.layers import Layer
from twin.model import Feature
from twin.query import Filter, Query, parse_filter
from twin.store.base import TwinStore

from .geo import (
    CRS84,
    CrsChoice,
    bbox_to_crs84,
    bbox_to_twin,
    choose_crs,
    crs_uri,
    reproject_geometries,
    supported_crs,
)
from .problems import bad_request

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    # Part 3 (filtering) and the CQL2 classes it uses: see twin_api/cql2.py
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    # this toolkit's own (twin_api.federation.capabilities reads them)
    "urn:digital-twin-city:conf:items-where",
    "urn:digital-twin-city:conf:indicator-parts",
    "urn:digital-twin-city:conf:etag",
]
#: The link relation of a collection's queryables (Part 3).
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
SCHEMA_JSON = "application/schema+json"

#: Query parameters of ``/items`` that are not property filters.
ITEM_PARAMETERS = frozenset({"bbox", "bbox-crs", "crs", "limit", "offset", "f", "datetime",
                             "where", "filter", "filter-lang", "filter-crs"})
#: Feature fields (besides the typed attributes) usable as ``name=value`` filters.
FILTER_FIELDS = ("type", "name", "parent")

_ITEM_CHUNK = 500
#: Largest offset a page may start at.
MAX_OFFSET = 10**9
#: Pages up to this size are read whole (one answer with a Content-Length);
#: larger ones are streamed.
WHOLE_PAGE = 1000


def json_safe(value: Any) -> Any:
    """JSON-safe values: NaN/inf become null (GeoJSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def feature_properties(f: Feature) -> dict[str, Any]:
    """The GeoJSON properties of a feature: class, hierarchy, z-range, attributes."""
    props: dict[str, Any] = {"layer": f.layer, "type": f.type, "name": f.name,
                             "parent": f.parent, "lod": f.lod}
    if f.bbox is not None:
        z0, z1 = f.bbox[2], f.bbox[5]
        props["zmin"] = z0 if math.isfinite(z0) else None
        props["zmax"] = z1 if math.isfinite(z1) else None
    if f.edge is not None:
        props["network"] = f.edge.network
        props["start_node"], props["end_node"] = f.edge.start, f.edge.end
    for k, v in f.attributes.items():
        props.setdefault(k, v)
    return props


def feature_texts(features: list[Feature], twin_crs: CRS, out: CrsChoice) -> list[str]:
    """GeoJSON features as JSON text, geometry reprojected into ``out``.

    Geometries are written by GEOS in one vectorised call (``to_geojson``,
    Z kept); this is the hot path of every item page."""
    geoms = reproject_geometries([f.footprint for f in features], twin_crs, out)
    gj = shapely.to_geojson(np.array(geoms, dtype=object)) if geoms else []
    texts = []
    for f, g in zip(features, gj):
        props = feature_properties(f)
        ptext = json.dumps(props, ensure_ascii=False, default=str)
        if "NaN" in ptext or "Infinity" in ptext:  # GeoJSON has no NaN: write null
            ptext = json.dumps(json_safe(props), ensure_ascii=False, default=str)
        texts.append(f'{{"type":"Feature","id":{json.dumps(f.id, ensure_ascii=False)},'
                     f'"geometry":{g if g is not None else "null"},"properties":{ptext}}}')
    return texts


def features_geojson(features: list[Feature], twin_crs: CRS, out: CrsChoice) -> list[dict]:
    """GeoJSON features as dicts (see :func:`feature_texts`)."""
    return [json.loads(t) for t in feature_texts(features, twin_crs, out)]


def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def landing(base: str, title: str, description: str) -> dict[str, Any]:
    return {
        "title": title, "description": description, "version": __version__,
        "links": [
            _link(f"{base}/", "self", JSON, "this document"),
            _link(f"{base}/openapi.json", "service-desc", OPENAPI, "the API definition"),
            _link(f"{base}/docs", "service-doc", "text/html", "the API documentation"),
            _link(f"{base}/conformance", "conformance", JSON, "conformance classes"),
            _link(f"{base}/collections", "data", JSON, "the layers of the twin"),
            _link(f"{base}/viewer/", "alternate", "text/html", "the 3D viewer"),
            _link(f"{base}/twin", "describedby", JSON, "summary of the twin"),
        ],
    }


def conformance(writable: bool = False) -> dict[str, Any]:
    """The conformance classes; ``writable``: with Part 4's (a server with a token)."""
    if not writable:
        return {"conformsTo": list(CONFORMANCE)}
    from .transactions import CONFORMANCE as WRITES

    return {"conformsTo": [*CONFORMANCE, *WRITES]}


def collection_json(layer: Layer, extent: tuple | None, twin_crs: CRS, base: str
                    ) -> dict[str, Any]:
    url = f"{base}/collections/{layer.name}"
    out: dict[str, Any] = {
        "id": layer.name, "title": layer.title,
        "description": (f"{layer.title} ({layer.title_zh}), " if layer.title_zh else
                        f"{layer.title}, ") + f"{layer.group.replace('_', ' ')} layer"
                       + (f", CJJ 61 code {layer.code}" if layer.code else ""),
        "itemType": "feature",
        "crs": supported_crs(twin_crs),
        "storageCrs": crs_uri(twin_crs),
        "links": [
            _link(url, "self", JSON),
            _link(f"{url}/items", "items", GEOJSON, f"{layer.title} as GeoJSON"),
            _link(f"{url}/queryables", QUERYABLES_REL, SCHEMA_JSON,
                  "the properties a filter may name"),
            # the same under the draft's relation name, which GDAL 3.6 looks for
            _link(f"{url}/queryables", "queryables", SCHEMA_JSON,
                  "the properties a filter may name"),
        ],
        "style": {"colour": layer.colour, "group": layer.group,
                  "geometry_type": layer.geometry_type},
    }
    if extent is not None:
        out["extent"] = {"spatial": {"bbox": [list(bbox_to_crs84(extent, twin_crs))],
                                     "crs": CRS84}}
    return out


def collections(store: TwinStore, base: str) -> dict[str, Any]:
    extents = store.layer_extents()
    return {
        "links": [_link(f"{base}/collections", "self", JSON)],
        "crs": supported_crs(store.crs),
        "collections": [collection_json(layer, extents.get(layer.name), store.crs, base)
                        for layer in store.layers()],
    }


def collection(store: TwinStore, name: str, base: str) -> dict[str, Any]:
    layer = store.layer(name)
    return collection_json(layer, store.layer_extents().get(name), store.crs, base)


def parse_numbers(text: str, name: str, counts: tuple[int, ...], hint: str = ""
                  ) -> tuple[float, ...]:
    """``"x0,y0,x1,y1"`` (or with z) -> floats; a 400 naming ``name`` unless
    there are ``counts`` finite numbers, each minimum before its maximum."""
    want = " or ".join(map(str, counts))
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise bad_request(f"{name} {text!r} must be {want} comma-separated numbers") from None
    if len(vals) not in counts or not all(math.isfinite(v) for v in vals):
        raise bad_request(f"{name} {text!r} must be {want} comma-separated finite numbers")
    n = len(vals) // 2
    if any(vals[i] > vals[i + n] for i in range(n)):
        raise bad_request(f"{name} {text!r}: each minimum must not exceed its maximum{hint}")
    return vals


def parse_bbox(text: str) -> tuple[float, ...]:
    return parse_numbers(text, "bbox", (4, 6),
                         " (boxes crossing the antimeridian are not supported)")


@dataclass(frozen=True)
class ItemsRequest:
    """The parsed parameters of an ``/items`` request."""

    layer: str
    limit: int
    offset: int
    bbox: tuple[float, ...] | None
    bbox_crs: str | None
    crs: str | None
    filters: tuple[Filter, ...]
    #: a CQL2 filter (Part 3): its text, language and the CRS of its literals
    filter: str | None = None
    filter_lang: str | None = None
    filter_crs: str | None = None
    #: OGC ``datetime`` as given (``None``: now; see :mod:`twin_api.temporal`)
    datetime: str | None = None


def datetime_range(store: TwinStore, text: str | None) -> dict[str, Any]:
    from .temporal import datetime_range as dr

    return dr(store, text)


def parse_items_request(layer: str, params: Mapping[str, list[str]], *, default_limit: int,
                        max_limit: int) -> ItemsRequest:
    """Check an ``/items`` query string; unknown parameters are a 400 as OGC
    API - Features requires, property filters are ``name=value``, and a
    ``limit`` above ``max_limit`` is capped to it, as the standard says."""
    def one(name: str) -> str | None:
        vals = params.get(name)
        if not vals:
            return None
        if len(vals) > 1:
            raise bad_request(f"parameter {name!r} was given {len(vals)} times; give it once")
        return vals[0]

    def integer(name: str, default: int, lo: int, hi: int | None) -> int:
        raw = one(name)
        if raw is None:
            return default
        try:
            v = int(raw)
        except ValueError:
            raise bad_request(f"{name} {raw!r} is not an integer") from None
        if v < lo or (hi is not None and v > hi):
            raise bad_request(f"{name} must be between {lo} and {hi}, got {v}")
        return v

    f = one("f")
    if f is not None and f not in ("json", "geojson"):
        raise bad_request(f"f={f!r} is not offered; use f=json or f=geojson")
    when = one("datetime")
    filters: list[Filter] = []
    for expr in params.get("where", []):
        filters.append(parse_filter(expr))
    for name, vals in params.items():
        if name in ITEM_PARAMETERS:
            continue
        if name not in TYPED_ATTRIBUTES and name not in FILTER_FIELDS:
            raise bad_request(
                f"unknown query parameter {name!r} on /collections/{{collectionId}}/items; "
                f"it takes: {', '.join(sorted(ITEM_PARAMETERS))}, or a property filter on "
                "one of "
                f"{', '.join((*FILTER_FIELDS, *TYPED_ATTRIBUTES))}")
        for v in vals:
            value: Any = v
            spec = TYPED_ATTRIBUTES.get(name)
            if spec is not None and spec.kind in ("real", "integer"):
                try:
                    value = int(v) if spec.kind == "integer" else float(v)
                except ValueError:
                    raise bad_request(f"{name}={v!r}: {name} is a number") from None
            filters.append(Filter(name, "=", value))
    bbox = one("bbox")
    return ItemsRequest(
        layer=layer,
        # a limit above the maximum is capped, not refused (OGC API - Features, 7.15.3)
        limit=min(integer("limit", default_limit, 1, None), max_limit),
        offset=integer("offset", 0, 0, MAX_OFFSET),
        bbox=parse_bbox(bbox) if bbox is not None else None,
        bbox_crs=one("bbox-crs"), crs=one("crs"), filters=tuple(filters), datetime=when,
        filter=one("filter"), filter_lang=one("filter-lang"), filter_crs=one("filter-crs"),
    )


def _query_string(params: Mapping[str, list[str]], **override: Any) -> str:
    pairs = [(k, v) for k, vals in params.items() if k not in override for v in vals]
    pairs += [(k, str(v)) for k, v in override.items()]
    return urlencode(pairs)


def items(store: TwinStore, req: ItemsRequest, params: Mapping[str, list[str]], base: str
          ) -> tuple[dict[str, str], Iterator[bytes]]:
    """A page of features as a GeoJSON FeatureCollection.

    Returns the response headers (``Content-Crs``) and an iterator of byte
    chunks. A page of up to :data:`WHOLE_PAGE` features is read whole before
    this returns (one query, and no count when the page is the last one: most
    map requests); a larger page is streamed, its count made first so that
    ``numberMatched``, the paging links and the first bytes are ready before
    the features are read. An unknown collection is a 404 either way.
    """
    out_crs = choose_crs(req.crs, store.crs, "crs")
    q = Query(layers=(req.layer,), filters=req.filters,
              **datetime_range(store, req.datetime))
    if req.filter is not None:
        q = with_cql2(store, q, req)
    elif req.filter_lang is not None or req.filter_crs is not None:
        raise bad_request("filter-lang and filter-crs need a filter")
    if req.bbox is not None:
        choice = choose_crs(req.bbox_crs, store.crs, "bbox-crs")
        b = req.bbox
        plan = (b[0], b[1], b[3], b[4]) if len(b) == 6 else b
        tb = bbox_to_twin(plan, choice, store.crs)
        q = replace(q, box3d=(tb[0], tb[1], b[2], tb[2], tb[3], b[5])) if len(b) == 6 \
            else replace(q, bbox=tb)
    elif req.bbox_crs is not None:
        choose_crs(req.bbox_crs, store.crs, "bbox-crs")
    page = replace(q, limit=req.limit, offset=req.offset)
    headers = {"Content-Crs": f"<{out_crs.uri}>"}
    if req.limit <= WHOLE_PAGE:
        feats = list(store.query(page))
        last = len(feats) < req.limit and (feats or req.offset == 0)
        matched = req.offset + len(feats) if last else store.count(q)
        if matched == 0:
            store.layer(req.layer)  # 404 for an unknown collection
        text = json.dumps(_page_head(req, params, base, matched, len(feats)),
                          ensure_ascii=False)
        parts = feature_texts(feats, store.crs, out_crs)
        return headers, iter([f'{text[:-1]},"features":[{",".join(parts)}]}}'.encode()])
    store.layer(req.layer)
    matched = store.count(q)
    head = _page_head(req, params, base, matched, max(0, min(req.limit, matched - req.offset)))

    def stream() -> Iterator[bytes]:
        text = json.dumps(head, ensure_ascii=False)
        yield (text[:-1] + ', "features": [').encode()
        first = True
        chunk: list[Feature] = []

        def flush() -> bytes:
            nonlocal first
            parts = feature_texts(chunk, store.crs, out_crs)
            sep = "" if first else ","
            first = False
            return (sep + ",".join(parts)).encode()

        for f in store.query(page):
            chunk.append(f)
            if len(chunk) >= _ITEM_CHUNK:
                yield flush()
                chunk = []
        if chunk:
            yield flush()
        yield b"]}"

    return headers, stream()


def with_cql2(store: TwinStore, q: Query, req: ItemsRequest) -> Query:
    """``q`` restricted by the request's CQL2 filter (Part 3)."""
    from . import cql2

    layer = store.layer(req.layer)  # 404 before any filter error
    tree = cql2.parse_ast(req.filter or "", req.filter_lang)
    choice = choose_crs(req.filter_crs, store.crs, "filter-crs")
    got = cql2.translate(tree, req.layer, cql2.layer_queryables(layer), choice, store.crs)
    if got.geometry is not None:
        q = replace(q, within=got.geometry, predicate=got.predicate)
    return replace(q, where=got.where)


def queryables(store: TwinStore, name: str, base: str) -> dict[str, Any]:
    """The JSON Schema of what a collection's filters may name (Part 3)."""
    from .cql2 import queryables_schema

    return queryables_schema(store.layer(name), f"{base}/collections/{name}/queryables")


def _page_head(req: ItemsRequest, params: Mapping[str, list[str]], base: str, matched: int,
               returned: int) -> dict[str, Any]:
    """A FeatureCollection without its features: counts, time, paging links."""
    url = f"{base}/collections/{req.layer}/items"
    links = [_link(f"{url}?{_query_string(params)}", "self", GEOJSON),
             _link(f"{base}/collections/{req.layer}", "collection", JSON)]
    if req.offset + returned < matched:
        links.append(_link(f"{url}?{_query_string(params, offset=req.offset + req.limit)}",
                           "next", GEOJSON, "next page"))
    if req.offset > 0:
        links.append(_link(
            f"{url}?{_query_string(params, offset=max(0, req.offset - req.limit))}",
            "prev", GEOJSON, "previous page"))
    return {"type": "FeatureCollection", "numberMatched": matched, "numberReturned": returned,
            "timeStamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "links": links}


def item(store: TwinStore, layer: str, feature_id: str, crs: str | None, base: str
         ) -> tuple[dict[str, str], dict[str, Any]]:
    store.layer(layer)
    out_crs = choose_crs(crs, store.crs, "crs")
    f = store.get(feature_id, meshes=False)
    if f.layer != layer:
        raise NotFoundError(f"feature {feature_id!r} is not in collection {layer!r} "
                            f"(it is in {f.layer!r})")
    doc = features_geojson([f], store.crs, out_crs)[0]
    url = f"{base}/collections/{layer}/items/{feature_id}"
    doc["links"] = [_link(url, "self", GEOJSON),
                    _link(f"{base}/collections/{layer}", "collection", JSON),
                    _link(f"{base}/twin/features/{feature_id}", "describedby", JSON,
                          "all of the feature: hierarchy, provenance, meshes")]
    from .transactions import version_tag

    return {"Content-Crs": f"<{out_crs.uri}>", "ETag": version_tag(store.path, f)}, doc


__all__ = ["CONFORMANCE", "collection", "collections", "conformance", "item",
           "items", "landing", "parse_items_request", "queryables"]
