"""OGC SensorThings API 1.1 routes under ``/sta/v1.1/``: HTTP in,
:mod:`twin_api.sta_service` out.

Reads are open like the rest of the API; writes (POST, PATCH, DELETE,
``CreateObservations``) need the server's token (``Authorization: Bearer``),
as imports do, and run on a writable connection opened for the request.
"""

# no "from __future__ import annotations": FastAPI reads the annotations of the routes

import json
from enum import Enum

from fastapi import APIRouter, Request
from fastapi.responses import Response

import twin
from twin.sensors.model import iso
from twin.sensors.store import sensors_of

from . import sta_service as sta
from .auth import require_token
from .encoding import json_response
from .problems import ApiProblem, responses
from .server_state import ServerState
from .sta_options import parse_options

PREFIX = sta.VERSION_PATH
_TAGS: list[str | Enum] = ["SensorThings"]


def sta_router(state: ServerState) -> APIRouter:
    settings = state.settings
    r = APIRouter()

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/") + PREFIX

    def authorise(request: Request) -> None:
        require_token(request, settings.token,
                      disabled="this server takes no SensorThings writes; start it with a "
                               "token (twin serve --token-file FILE) to enable them",
                      needs="SensorThings writes need 'Authorization: Bearer <token>' with "
                            "the server's token")

    async def body_of(request: Request):
        raw = await request.body()
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiProblem(400, "Bad request", f"the body is not JSON: {exc}") from None

    def query_params(request: Request) -> dict[str, str]:
        return {k: v for k, v in request.query_params.items()}

    @r.get(PREFIX, tags=_TAGS, response_model=dict,
           summary="SensorThings service root: the entity sets and conformance")
    def root(request: Request) -> Response:
        return json_response(sta.Reader(None, base(request)).root())  # type: ignore[arg-type]

    @r.get(PREFIX + "/{path:path}", tags=_TAGS, response_model=dict,
           summary="SensorThings entities, collections and properties "
                   "($filter, $expand, $select, $orderby, $top, $skip, $count)",
           responses=responses(400, 404))
    @state.blocking
    def read(request: Request, path: str) -> Response:
        sensors = sensors_of(state.get_store())
        target = sta.resolve(sensors, path)
        opts = parse_options(query_params(request))
        doc = sta.Reader(sensors, base(request)).read(target, opts, request.url.query)
        if target.raw:
            return Response("" if doc is None else str(doc), media_type="text/plain")
        return json_response(doc)

    def writable(fn):
        """Run ``fn(sensors)`` on a writable twin opened for this request."""
        with twin.open_twin(settings.twin_path) as store:
            return fn(sensors_of(store))

    @r.post(PREFIX + "/CreateObservations", tags=_TAGS, status_code=201, response_model=list,
            summary="Create observations in bulk (dataArray extension; token needed)",
            responses=responses(400, 401, 403, 404))
    async def create_observations(request: Request) -> Response:
        authorise(request)
        body = await body_of(request)
        links = await state.blocking(lambda: writable(
            lambda s: sta.create_observations(s, body, base(request))))()
        return json_response(links, status=201)

    @r.post(PREFIX + "/{path:path}", tags=_TAGS, status_code=201, response_model=dict,
            summary="Create an entity, with its linked entities inline (token needed)",
            responses=responses(400, 401, 403, 404))
    async def create(request: Request, path: str) -> Response:
        authorise(request)
        body = await body_of(request)

        def run(sensors):
            es, ident = sta.create(sensors, sta.resolve(sensors, path), body)
            target = sta.resolve(sensors, f"{es.name}({ident})")
            return sta.Reader(sensors, base(request)).read(target, parse_options({}))

        doc = await state.blocking(lambda: writable(run))()
        return json_response(doc, status=201, headers={"Location": doc["@iot.selfLink"]})

    @r.patch(PREFIX + "/{path:path}", tags=_TAGS, response_model=dict,
             summary="Change an entity's properties (token needed)",
             responses=responses(400, 401, 403, 404))
    async def patch(request: Request, path: str) -> Response:
        authorise(request)
        body = await body_of(request)

        def run(sensors):
            target = sta.resolve(sensors, path)
            sta.patch(sensors, target, body)
            return sta.Reader(sensors, base(request)).read(target, parse_options({}))

        return json_response(await state.blocking(lambda: writable(run))())

    @r.delete(PREFIX + "/{path:path}", tags=_TAGS, status_code=200, response_model=dict,
              summary="Delete an entity and what belongs to it (token needed)",
              responses=responses(400, 401, 403, 404))
    async def delete(request: Request, path: str) -> Response:
        authorise(request)
        await state.blocking(lambda: writable(
            lambda s: sta.delete(s, sta.resolve(s, path))))()
        return Response(status_code=200)

    @r.get("/twin/alerts", tags=["Twin"], response_model=dict,
           summary="Warnings firing on the twin's sensors (the toolkit's rules)",
           responses=responses(400))
    @state.blocking
    def alerts(as_of: str | None = None) -> Response:
        """Thresholds, rates of change, night-flow rises and silent meters
        (twin/data/alert_rules.toml), evaluated at ``as_of`` (ISO 8601 with
        its offset; default now)."""
        import time

        from twin.sensors.alerts import evaluate, load_rules
        from twin.sensors.model import to_ms

        when = to_ms(as_of, what="as_of") if as_of else int(time.time() * 1000)
        fired = evaluate(sensors_of(state.get_store()), load_rules(), when)
        return json_response({"as_of": iso(when), "alerts": [a.to_dict() for a in fired]})

    return r
