"""The FastAPI adapter: HTTP in, service functions, HTTP out.

``create_app(settings)`` builds an app serving one twin, read-only; nothing
is configured at import. The routes live in one router per tag
(:mod:`~twin_api.routes_ogc`, :mod:`~twin_api.routes_twin`,
:mod:`~twin_api.routes_imports`) over the framework-free service modules.
Endpoints that touch the twin are plain ``def`` functions, run in a bounded
thread pool, so the event loop never waits on a query and each thread's read
connection (with its page cache) is one of a few. Every error is an RFC 9457
problem document, and the middleware (:mod:`twin_api.middleware`) adds what
a server on a city network needs: access log, rate limit, size and time
limits, HEAD.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

import twin
from twin.errors import StoreError, TwinError
from twin.store import is_server

from .conditional import Validators
from .encoding import json_response
from .middleware import AccessLog, Errors, Head, Limits, RateLimit
from .openapi30 import document_problems, to_openapi30
from .params import refuse_unknown_parameters
from .private import RequireToken
from .problems import MEDIA_TYPE, PROBLEM_SCHEMA, ApiProblem, from_twin_error, responses
from .ratelimit import RateLimiter
from .routes_analyses import analyses_router
from .routes_imports import IMPORTS_PATH, ignore_disconnect, imports_router
from .routes_ogc import ogc_router
from .routes_sta import sta_router
from .routes_transactions import transactions_router
from .routes_twin import twin_router
from .server_state import ServerState
from .settings import ApiSettings
from .viewer_api import viewer_router

log = logging.getLogger(__name__)

_PACKAGED_VIEWER = Path(__file__).resolve().parent.parent / "viewer" / "web"
HEALTH_PATH = "/health"
#: Codes any request can meet (an unknown query parameter, the limits of the
#: middleware), on every operation.
EVERYWHERE = (400, 413, 414, 429, 503)
#: Response headers a page on another origin may read (CORS).
CORS_EXPOSED = ("Content-Crs", "Retry-After", "X-Feature-Count", "X-Draw-Calls",
                "X-Features-Without-Mesh", "Location", "ETag", "X-Twin-Batch")


def _problem_response(p: ApiProblem, request: Request) -> JSONResponse:
    headers = dict(p.headers)
    if p.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="twin"')
    if p.status == 503:
        headers.setdefault("Retry-After", "5")
    return JSONResponse(p.body(request.url.path), status_code=p.status,
                        media_type=MEDIA_TYPE, headers=headers)


def _federation_routes(app: FastAPI, state: ServerState) -> None:
    """``/federation`` when the server names member twins (a twin of twins)."""
    if state.settings.members_file:
        from .routes_federation import federation_router

        app.include_router(federation_router(state))


def _write_routes(app: FastAPI, state: ServerState) -> None:
    """OGC API - Features - Part 4 on a server with a token (writes need it);
    a read-only server answers writes on items 405, as before."""
    if state.settings.token is not None:
        app.include_router(transactions_router(state))


def create_app(settings: ApiSettings) -> FastAPI:
    """A FastAPI app serving the twin at ``settings.twin_path``."""
    state = ServerState.for_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.get_running_loop().run_in_executor(state.executor, state.open)
        try:
            yield
        finally:
            await asyncio.to_thread(state.close)

    app = FastAPI(
        title=settings.title, version=twin.__version__, lifespan=lifespan,
        description=(
            "The digital twin of a city: OGC API - Features for GIS tools (one collection "
            "per layer, GeoJSON, WGS 84 by default, the twin's CRS on request) and twin "
            "endpoints for applications: hierarchy, 3D box queries, pipe-network analyses "
            "and GLB scenes."),
        openapi_url="/openapi.json", docs_url="/docs", redoc_url=None,
        dependencies=[Depends(refuse_unknown_parameters)],
    )
    app.state.server = state

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
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every GET resource also answers HEAD (middleware)
            allowed = {m.strip() for m in headers.get("Allow", "GET").split(",") if m.strip()}
            if "GET" in allowed:
                allowed.add("HEAD")
            headers["Allow"] = ", ".join(sorted(allowed))
            detail = f"{request.method} is not allowed here; allowed: {headers['Allow']}"
        return _problem_response(ApiProblem(exc.status_code, title, str(detail),
                                            headers=headers), request)

    app.add_exception_handler(ClientDisconnect, ignore_disconnect)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version,
                              description=app.description, routes=app.routes)
            app.openapi_schema = document_problems(
                to_openapi30(doc), EVERYWHERE, PROBLEM_SCHEMA, responses(*EVERYWHERE),
                except_={HEALTH_PATH: (429,)})
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    # -- routes -------------------------------------------------------------
    app.include_router(ogc_router(state))
    _write_routes(app, state)
    app.include_router(twin_router(state))
    app.include_router(analyses_router(state))
    app.include_router(imports_router(state))
    app.include_router(sta_router(state))  # OGC SensorThings API 1.1
    app.include_router(viewer_router(state))  # the web viewer's data
    _federation_routes(app, state)

    @app.get(HEALTH_PATH, tags=["Service"], response_model=dict,
             summary="Liveness and readiness for a load balancer (200 ready, 503 not)")
    @state.blocking
    def health() -> Response:
        """Live: this process answers. Ready: the twin opens and reads (and,
        on a server with imports, the job board does)."""
        try:
            if not is_server(settings.twin_path) and not Path(settings.twin_path).is_file():
                raise StoreError("the twin file is gone")
            revision = state.get_store().revision()
            if state.board is not None:
                queued = sum(1 for j in state.board.jobs(50) if j.status == "queued")
            else:
                queued = None
        except Exception as exc:  # not ready, whatever the cause: say so, do not fail
            log.warning("health check: not ready: %s", exc)
            p = ApiProblem(503, "Not ready", f"the twin cannot be read ({type(exc).__name__})",
                           status_text="unavailable", live=True, ready=False)
            return json_response(p.body(HEALTH_PATH), status=503, media_type=MEDIA_TYPE,
                                 headers={"Retry-After": "5"})
        return json_response({"status": "ok", "live": True, "ready": True,
                              "revision": revision, "imports": state.board is not None,
                              "queued_imports": queued})

    # -- 3D Tiles (a static export) -------------------------------------------
    if settings.tiles_dir:
        app.mount("/tiles", StaticFiles(directory=settings.tiles_dir), name="tiles")

    # -- web viewer -----------------------------------------------------------
    viewer_dir = Path(settings.viewer_dir) if settings.viewer_dir else _PACKAGED_VIEWER
    built = (viewer_dir / "node_modules" / "three" / "build" / "three.module.js").is_file()
    if (viewer_dir / "index.html").is_file() and built:
        # node_modules may be a link (pnpm, a shared checkout): links inside the folder
        # are followed; '..' in a request still cannot leave it
        app.mount("/viewer", StaticFiles(directory=viewer_dir, html=True, follow_symlink=True),
                  name="viewer")
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

    # -- middleware, innermost first ------------------------------------------
    app.add_middleware(Errors)
    app.add_middleware(Validators)
    app.add_middleware(Head)
    app.add_middleware(Limits, max_body=settings.max_request_bytes,
                       max_target=settings.max_request_bytes,
                       timeout_s=settings.request_timeout_s,
                       reads_own_body=lambda path: path == IMPORTS_PATH)
    app.add_middleware(RequireToken, tokens=(settings.read_token, settings.token)
                       if settings.read_token else (), exempt=frozenset({HEALTH_PATH}))
    app.add_middleware(RateLimit, limiter=RateLimiter(settings.rate_limit, settings.rate_burst)
                       if settings.rate_limit > 0 else None, exempt=frozenset({HEALTH_PATH}))
    app.add_middleware(AccessLog)
    if settings.cors_list():  # outermost: preflights and every answer, errors included
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_list(),
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Content-Crs", "If-Match"],
            expose_headers=list(CORS_EXPOSED), max_age=600)
    return app


def app_from_env() -> FastAPI:
    """The app for uvicorn's ``--factory`` mode (``twin serve --workers N``):
    settings come from ``TWIN_API_*`` variables set by ``twin serve``, and each
    worker process sends its access log where the settings say."""
    from .middleware import log_access_to

    settings = ApiSettings.from_env()
    log_access_to(settings.access_log)
    return create_app(settings)
