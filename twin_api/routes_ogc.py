"""OGC API - Features routes: HTTP in, :mod:`twin_api.features` out."""

# no "from __future__ import annotations": FastAPI reads the annotations of the
# routes, which name types defined inside the router functions

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi import Query as Q
from fastapi.responses import Response, StreamingResponse

from twin.store.base import TwinStore

from . import features as ogc
from .conditional import revision_tag
from .encoding import JSON, json_response
from .problems import responses
from .server_state import ServerState

GEOJSON = ogc.GEOJSON
#: Largest offset a page may start at.
MAX_OFFSET = ogc.MAX_OFFSET


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def multi_params(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        out.setdefault(k, []).append(v)
    return out


def ogc_router(state: ServerState) -> APIRouter:
    settings = state.settings

    async def store() -> TwinStore:
        return state.get_store()

    Store = Annotated[TwinStore, Depends(store)]
    blocking = state.blocking
    r = APIRouter(tags=["OGC API - Features"])

    @r.get("/", summary="Landing page", response_model=dict)
    @blocking
    def landing(request: Request, f: str | None = None) -> Response:
        return json_response(ogc.landing(
            base_url(request), settings.title,
            "Buildings, public space and underground pipe networks on one map"))

    @r.get("/conformance", summary="Conformance classes", response_model=dict)
    @blocking
    def conformance(f: str | None = None) -> Response:
        return json_response(ogc.conformance(writable=settings.token is not None))

    @r.get("/collections", summary="The layers of the twin", response_model=dict)
    @blocking
    def collections(request: Request, s: Store, f: str | None = None) -> Response:
        return json_response(ogc.collections(s, base_url(request)))

    @r.get("/collections/{collectionId}", summary="One layer", response_model=dict,
           responses=responses(404))
    @blocking
    def collection(request: Request, s: Store, collectionId: str, f: str | None = None
                   ) -> Response:
        return json_response(ogc.collection(s, collectionId, base_url(request)))

    @r.get("/collections/{collectionId}/items", summary="Features of a layer",
           response_class=StreamingResponse,
           responses={200: {"content": {GEOJSON: {}}, "description": "FeatureCollection"},
                      **responses(400, 404)})
    @blocking
    def items(
        request: Request, s: Store, collectionId: str,
        limit: Annotated[int, Q(ge=1, description=f"page size; above {settings.max_limit} "
                                "it is capped to that (as OGC API - Features says)")]
        = settings.default_limit,
        offset: Annotated[int, Q(ge=0, le=MAX_OFFSET)] = 0,
        bbox: Annotated[str | None, Q(description="minx,miny,maxx,maxy (or 6 values with z)")]
        = None,
        bbox_crs: Annotated[str | None, Q(alias="bbox-crs")] = None,
        crs: str | None = None,
        datetime: str | None = None,
        where: Annotated[list[str] | None, Q(description="filter such as 'storeys>18'")]
        = None,
        type: str | None = None, name: str | None = None,
        f: str | None = None,
        # Part 3: CQL2 filters (twin_api/cql2.py)
        filter: Annotated[str | None, Q(description=(
            "CQL2 filter on the collection's queryables, e.g. \"storeys > 18 AND "
            "material = 'PE'\" or S_INTERSECTS(geometry, BBOX(...))"))] = None,
        filter_lang: Annotated[Literal["cql2-text", "cql2-json", "cql-text"] | None,
                               Q(alias="filter-lang", description=(
                                   "cql2-text (default) or cql2-json; cql-text, the draft's "
                                   "name that GDAL 3.6 sends, is read as cql2-text"))] = None,
        filter_crs: Annotated[str | None, Q(alias="filter-crs", description=(
            "CRS of the filter's spatial literals (default CRS84)"))] = None,
    ) -> Response:
        """Features of one layer, paged. Any typed attribute (``storeys``,
        ``install_year``, ``diameter_mm``, ...) may also be given as a
        ``name=value`` filter."""
        params = multi_params(request)
        req = ogc.parse_items_request(collectionId, params, default_limit=settings.default_limit,
                                      max_limit=settings.max_limit)
        tag = revision_tag(settings.twin_path, s.revision())  # before: never newer than the body
        headers, body = ogc.items(s, req, params, base_url(request))
        headers["ETag"] = tag
        if req.limit <= ogc.WHOLE_PAGE:
            return Response(b"".join(body), media_type=GEOJSON, headers=headers)
        return StreamingResponse(state.stream(body), media_type=GEOJSON, headers=headers)

    @r.get("/collections/{collectionId}/queryables",
           summary="What a filter on the layer may name (JSON Schema)",
           responses={200: {"content": {"application/schema+json": {}, JSON: {}},
                            "description": "JSON Schema of the queryables"},
                      **responses(404)})
    @blocking
    def queryables(request: Request, s: Store, collectionId: str, f: str | None = None
                   ) -> Response:
        # JSON Schema's own media type, unless the client asks for JSON only (GDAL 3.6)
        accept = request.headers.get("accept", "*/*")
        media = ogc.SCHEMA_JSON if ogc.SCHEMA_JSON in accept or "*/*" in accept or \
            JSON not in accept else JSON
        return json_response(ogc.queryables(s, collectionId, base_url(request)),
                             media_type=media)

    @r.get("/collections/{collectionId}/items/{featureId:path}", summary="One feature",
           responses={200: {"content": {GEOJSON: {}}, "description": "Feature"},
                      **responses(400, 404)})
    @blocking
    def item(request: Request, s: Store, collectionId: str, featureId: str,
             crs: str | None = None, f: str | None = None) -> Response:
        headers, doc = ogc.item(s, collectionId, featureId, crs, base_url(request))
        return json_response(doc, media_type=GEOJSON, headers=headers)

    return r


__all__ = ["JSON", "MAX_OFFSET", "ogc_router"]
