"""The FastAPI adapter: HTTP in, service functions, HTTP out.

``create_app(settings)`` builds an app serving one twin, read-only; nothing
is configured at import. Endpoints are plain ``def`` functions, so FastAPI
runs them in its thread pool and the event loop never waits on a query; item
pages are streamed. Every error is an RFC 9457 problem document.
"""


import hmac
import logging
from dataclasses import replace
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, Header, Request, UploadFile
from fastapi import Query as Q
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

import twin
from twin.conflation import hidden_by_conflation, links
from twin.errors import TwinError
from twin.query import Query
from twin.store import open_twin
from twin.store.base import TwinStore
from viewer.gltf import scene_glb

from . import features as ogc
from . import twin_service as svc
from .geo import crs_uri
from .jobs import ImportJobs
from .openapi30 import to_openapi30
from .problems import MEDIA_TYPE, ApiProblem, from_twin_error
from .settings import ApiSettings
from .viewer_api import viewer_router

log = logging.getLogger(__name__)

GEOJSON = ogc.GEOJSON
_PACKAGED_VIEWER = Path(__file__).resolve().parent.parent / "viewer" / "web"


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON


def _problem_response(p: ApiProblem, request: Request) -> JSONResponse:
    headers = {}
    if p.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="twin"'
    return JSONResponse(p.body(request.url.path), status_code=p.status,
                        media_type=MEDIA_TYPE, headers=headers)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _multi(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        out.setdefault(k, []).append(v)
    return out


def create_app(settings: ApiSettings) -> FastAPI:
    """A FastAPI app serving the twin at ``settings.twin_path``."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state["store"] = open_twin(settings.twin_path, readonly=True)
        state["jobs"] = ImportJobs(settings.twin_path, settings.work_dir,
                                   settings.max_upload_bytes) if settings.token else None
        try:
            yield
        finally:
            if state.get("jobs") is not None:
                state["jobs"].close()
            state["store"].close()

    app = FastAPI(
        title=settings.title, version=twin.__version__, lifespan=lifespan,
        description=(
            "The digital twin of a city: OGC API - Features for GIS tools (one collection "
            "per layer, GeoJSON, WGS 84 by default, the twin's CRS on request) and twin "
            "endpoints for applications: hierarchy, 3D box queries, pipe-network analyses "
            "and GLB scenes."),
        openapi_url="/openapi.json", docs_url="/docs", redoc_url=None,
    )

    def store() -> TwinStore:
        s = state.get("store")
        if s is None:  # an app used without its lifespan (e.g. a bare TestClient call)
            s = state["store"] = open_twin(settings.twin_path, readonly=True)
        return s

    Store = Annotated[TwinStore, Depends(store)]

    def require_token(authorization: Annotated[str | None, Header()] = None) -> ImportJobs:
        jobs = state.get("jobs")
        if settings.token is None or jobs is None:
            raise ApiProblem(403, "Read-only server",
                             "imports over the API are disabled; start the server with a "
                             "token (twin serve --token-file FILE) to enable them")
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), settings.token.encode()):
            raise ApiProblem(401, "Unauthorized",
                             "this endpoint needs 'Authorization: Bearer <token>' with the "
                             "server's token")
        return jobs

    # -- errors -----------------------------------------------------------
    @app.exception_handler(ApiProblem)
    async def _problem(request: Request, exc: ApiProblem):
        return _problem_response(exc, request)

    @app.exception_handler(TwinError)
    async def _twin_error(request: Request, exc: TwinError):
        return _problem_response(from_twin_error(exc, hide=settings.twin_path), request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        msgs = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            msgs.append(f"{where}: {e.get('msg')}")
        return _problem_response(ApiProblem(400, "Bad request", "; ".join(msgs)), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        detail = exc.detail if exc.status_code != 404 else f"no resource at {request.url.path}"
        return _problem_response(ApiProblem(exc.status_code, title, str(detail)), request)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return _problem_response(ApiProblem(
            500, "Internal error", f"the server failed on this request ({type(exc).__name__}); "
            "the error is logged"), request)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version,
                              description=app.description, routes=app.routes)
            app.openapi_schema = to_openapi30(doc)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    # -- OGC API - Features -----------------------------------------------
    ogc_tag = ["OGC API - Features"]

    @app.get("/", tags=ogc_tag, summary="Landing page")
    def landing(request: Request, f: str | None = None) -> dict:
        return ogc.landing(_base(request), settings.title,
                           "Buildings, public space and underground pipe networks on one map")

    @app.get("/conformance", tags=ogc_tag, summary="Conformance classes")
    def conformance(f: str | None = None) -> dict:
        return ogc.conformance()

    @app.get("/collections", tags=ogc_tag, summary="The layers of the twin")
    def collections(request: Request, s: Store, f: str | None = None) -> dict:
        return ogc.collections(s, _base(request))

    @app.get("/collections/{collectionId}", tags=ogc_tag, summary="One layer")
    def collection(request: Request, s: Store, collectionId: str, f: str | None = None) -> dict:
        return ogc.collection(s, collectionId, _base(request))

    @app.get("/collections/{collectionId}/items", tags=ogc_tag, summary="Features of a layer",
             response_class=StreamingResponse,
             responses={200: {"content": {GEOJSON: {}}, "description": "FeatureCollection"}})
    def items(
        request: Request, s: Store, collectionId: str,
        limit: Annotated[int, Q(ge=1, le=settings.max_limit)] = settings.default_limit,
        offset: Annotated[int, Q(ge=0)] = 0,
        bbox: Annotated[str | None, Q(description="minx,miny,maxx,maxy (or 6 values with z)")]
        = None,
        bbox_crs: Annotated[str | None, Q(alias="bbox-crs")] = None,
        crs: str | None = None,
        datetime: str | None = None,
        where: Annotated[list[str] | None, Q(description="filter such as 'storeys>18'")]
        = None,
        type: str | None = None, name: str | None = None,
        f: str | None = None,
    ) -> StreamingResponse:
        """Features of one layer, paged. Any typed attribute (``storeys``,
        ``install_year``, ``diameter_mm``, ...) may also be given as a
        ``name=value`` filter."""
        params = _multi(request)
        req = ogc.parse_items_request(collectionId, params, default_limit=settings.default_limit,
                                      max_limit=settings.max_limit)
        headers, body = ogc.items(s, req, params, _base(request))
        return StreamingResponse(body, media_type=GEOJSON, headers=headers)

    @app.get("/collections/{collectionId}/items/{featureId:path}", tags=ogc_tag,
             summary="One feature", response_class=GeoJSONResponse)
    def item(request: Request, s: Store, collectionId: str, featureId: str,
             crs: str | None = None, f: str | None = None) -> GeoJSONResponse:
        headers, doc = ogc.item(s, collectionId, featureId, crs, _base(request))
        return GeoJSONResponse(doc, headers=headers)

    # -- twin endpoints ---------------------------------------------------
    t = ["Twin"]
    a = ["Analyses"]
    Layers = Annotated[list[str] | None, Q(description="layer names (repeatable)")]
    Crs = Annotated[str | None, Q(description="output CRS URI (default: the twin's CRS)")]

    @app.get("/twin", tags=t, summary="Summary of the twin: CRS, origin, extent, counts")
    def summary(s: Store) -> dict:
        return {**svc.summary(s),
                "tiles": "/tiles/tileset.json" if settings.tiles_dir else None}

    @app.get("/twin/layers", tags=t, summary="The layer catalogue with styles and counts")
    def layers(s: Store) -> dict:
        return svc.layer_catalogue(s)

    @app.get("/twin/features/{feature_id:path}/children", tags=t, summary="Children")
    def children(request: Request, s: Store, feature_id: str,
                 limit: Annotated[int, Q(ge=1, le=settings.max_limit)] = settings.default_limit,
                 offset: Annotated[int, Q(ge=0)] = 0, crs: Crs = None) -> dict:
        s.get(feature_id, meshes=False)
        return svc.feature_collection(
            s, Query(parent=feature_id, limit=limit, offset=offset),
            svc.twin_crs_choice(s, crs), {"parent": feature_id})

    @app.get("/twin/features/{feature_id:path}/below", tags=t,
             summary="What lies under a feature's footprint, down to depth metres")
    def below(s: Store, feature_id: str,
              depth: Annotated[float, Q(gt=0, le=200)] = 5.0, layers: Layers = None,
              limit: Annotated[int, Q(ge=1, le=settings.max_limit)] = 1000,
              crs: Crs = None) -> dict:
        return svc.below(s, feature_id, depth, layers or (), limit, crs)

    @app.get("/twin/features/{feature_id:path}", tags=t,
             summary="A feature with attributes, hierarchy, meshes and provenance")
    def feature(s: Store, feature_id: str) -> dict:
        return svc.feature_detail(s, feature_id)

    @app.get("/twin/search", tags=t, summary="Features in a 2D bbox or 3D box of the twin CRS")
    def search(
        s: Store,
        bbox: Annotated[str | None, Q(description="xmin,ymin,xmax,ymax (twin CRS)")] = None,
        box3d: Annotated[str | None, Q(description="xmin,ymin,zmin,xmax,ymax,zmax")] = None,
        layers: Layers = None, type: Annotated[list[str] | None, Q()] = None,
        where: Annotated[list[str] | None, Q()] = None,
        limit: Annotated[int, Q(ge=1, le=settings.max_limit)] = settings.default_limit,
        offset: Annotated[int, Q(ge=0)] = 0, crs: Crs = None,
    ) -> dict:
        b2 = svc.parse_box(bbox, 4, "bbox")
        b3 = svc.parse_box(box3d, 6, "box3d")
        every = Query(bbox=b2, box3d=b3, layers=tuple(layers or ()), types=tuple(type or ()),
                      filters=tuple(where or ()))
        return svc.feature_collection(s, replace(every, limit=limit, offset=offset),
                                      svc.twin_crs_choice(s, crs),
                                      {"numberMatched": s.count(every)})

    @app.get("/twin/around", tags=t, summary="The features nearest to a point")
    def around(s: Store, x: float, y: float,
               n: Annotated[int, Q(ge=1, le=1000)] = 10,
               radius: Annotated[float | None, Q(gt=0, le=10_000)] = None,
               layers: Layers = None, crs: Crs = None) -> dict:
        return svc.around(s, x, y, n, radius, layers or (), crs)

    @app.get("/twin/networks", tags=a, summary="The pipe networks with topology")
    def network_list(s: Store) -> dict:
        return svc.network_list(s)

    @app.get("/twin/networks/{network}/check", tags=a, summary="Topology check of a network")
    def network_check(s: Store, network: str) -> dict:
        return svc.network_check(s, network)

    Year = Annotated[int | None, Q(ge=1800, le=2200, description="reference year")]

    @app.get("/twin/analyses/renewal", tags=a, summary="Pipes due for renewal, oldest first")
    def renewal(s: Store, layers: Layers = None,
                min_age: Annotated[int, Q(ge=0, le=200)] = 20, year: Year = None) -> dict:
        return svc.renewal(s, layers or ("heating",), min_age, year)

    @app.get("/indicators", tags=a, summary="City health check (城市体检) indicators")
    def indicators(s: Store, year: Year = None,
                   new_since: Annotated[int | None, Q(ge=1800, le=2200,
                                                      description="first build year of new "
                                                      "buildings (default year - 5)")] = None,
                   county_town: bool = False, main_city: bool = False) -> dict:
        return svc.indicators(s, year, new_since, county_town, main_city)

    @app.get("/twin/analyses/ageing", tags=a, summary="Pipe length by age band")
    def ageing(s: Store, layers: Layers = None, year: Year = None) -> dict:
        return svc.ageing(s, layers or (), year)

    @app.get("/twin/analyses/statistics", tags=a, summary="Network lengths by size, material")
    def statistics(s: Store, year: Year = None) -> dict:
        return svc.statistics(s, year)

    @app.get("/twin/analyses/clearances", tags=a, summary="GB 50289 clearance violations")
    def clearances(s: Store, limit: Annotated[int, Q(ge=1, le=100_000)] = 1000) -> dict:
        return svc.clearances(s, limit)

    @app.get("/twin/analyses/isolation/{segment_id:path}", tags=a,
             summary="Valves to close and what loses supply when a segment bursts")
    def isolation(s: Store, segment_id: str) -> dict:
        return svc.isolation(s, segment_id)

    @app.get("/twin/conflation", tags=t,
             summary="BIM buildings linked to the GIS buildings they model, and which shows")
    def conflation(s: Store) -> dict:
        return {"links": links(s)}

    @app.get("/twin/analyses/highlight", tags=a,
             summary="An analysis result as coloured feature sets, for viewers")
    def highlight_sets(s: Store, analysis: Annotated[str, Q(
            max_length=300, description="renewal[:YEAR], clearance or isolation:SEGMENT_ID")],
            geometry: Annotated[bool, Q(description="add each group's 3D centrelines and "
                                        "points, relative to the twin's origin")] = False
    ) -> dict:
        return svc.highlight_sets(s, analysis, geometry)

    @app.get("/twin/scene.glb", tags=t, summary="A GLB scene of a bbox and layers",
             response_class=Response,
             responses={200: {"content": {"model/gltf-binary": {}}}})
    def scene(s: Store,
              bbox: Annotated[str | None, Q(description="xmin,ymin,xmax,ymax (twin CRS)")]
              = None,
              layers: Layers = None,
              ids: Annotated[list[str] | None, Q(description="feature ids (repeatable)")]
              = None) -> Response:
        q = svc.scene_query(s, svc.parse_box(bbox, 4, "bbox"), layers or (), ids or (),
                            settings.max_bbox_area_km2, settings.max_scene_features)
        origin = s.origin or (0.0, 0.0, 0.0)
        colours = {x.name: x.colour for x in s.layers()}
        hidden = hidden_by_conflation(s)
        feats = (f for f in s.query(q) if f.id not in hidden)
        data, n = scene_glb(feats, origin, colours, crs=crs_uri(s.crs),
                            opacity={"terrain": 0.6})
        return Response(data, media_type="model/gltf-binary",
                        headers={"X-Feature-Count": str(n)})

    app.include_router(viewer_router(store, settings))  # the web viewer's data

    # -- imports (only with a token) -----------------------------------------
    imp = ["Imports"]

    @app.post("/twin/imports", tags=imp, status_code=202,
              summary="Upload a file and import it in the background (token needed)")
    def start_import(
        request: Request,
        jobs: Annotated[ImportJobs, Depends(require_token)],
        file: Annotated[UploadFile, File(description="the source file")],
        crs: Annotated[str | None, Form()] = None,
        format: Annotated[str | None, Form()] = None,
    ) -> JSONResponse:
        label = Path(file.filename or "upload").name
        path = jobs.save_upload(label, file.file)
        job = jobs.submit(label, path, {"crs": crs, "format": format})
        url = f"{_base(request)}/twin/imports/{job.id}"
        return JSONResponse(job.as_dict(), status_code=202, headers={"Location": url})

    @app.get("/twin/imports", tags=imp, summary="Import jobs (token needed)")
    def list_imports(jobs: Annotated[ImportJobs, Depends(require_token)]) -> dict:
        return {"jobs": [j.as_dict() for j in jobs.list()]}

    @app.get("/twin/imports/{job_id}", tags=imp, summary="One import job (token needed)")
    def get_import(job_id: str, jobs: Annotated[ImportJobs, Depends(require_token)]) -> dict:
        return jobs.get(job_id).as_dict()

    # -- 3D Tiles (a static export) -------------------------------------------
    if settings.tiles_dir:
        app.mount("/tiles", StaticFiles(directory=settings.tiles_dir), name="tiles")

    # -- web viewer -----------------------------------------------------------
    viewer_dir = Path(settings.viewer_dir) if settings.viewer_dir else _PACKAGED_VIEWER
    built = (viewer_dir / "node_modules" / "three" / "build" / "three.module.js").is_file()
    if (viewer_dir / "index.html").is_file() and built:
        app.mount("/viewer", StaticFiles(directory=viewer_dir, html=True), name="viewer")
    else:
        @app.get("/viewer", include_in_schema=False)
        @app.get("/viewer/{rest:path}", include_in_schema=False)
        def no_viewer(rest: str = "") -> Response:
            raise ApiProblem(404, "Not found",
                             "the web viewer's JavaScript is not installed; run 'make viewer' "
                             "(part of 'make demo'), which installs three.js from npm")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    return app


def app_from_env() -> FastAPI:
    """The app for uvicorn's ``--factory`` mode (``twin serve --workers N``):
    settings come from ``TWIN_API_*`` variables set by ``twin serve``."""
    return create_app(ApiSettings.from_env())
