"""Federation routes (``twin serve --members FILE``): HTTP in,
:mod:`twin_api.federation` out. This twin answers for itself through the
same service functions its own routes run; members through their APIs."""

# no "from __future__ import annotations": FastAPI reads the annotations of the
# routes, which name types defined inside the router functions

import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi import Query as Q
from fastapi.responses import Response

from twin.store.base import TwinStore

from . import features as ogc
from . import twin_service as svc
from .encoding import json_response
from .federation.client import MemberFailure
from .federation.config import load_federation
from .federation.rollup import roll_up
from .federation.search import MAX_LAYERS, MAX_LIMIT, MAX_WHERE, federated_search, parse_request
from .federation.service import FederationService
from .federation.status import member_status
from .federation.tileset import region_tileset, tile_path_ok
from .params import Year
from .problems import ApiProblem, responses
from .routes_ogc import base_url
from .server_state import ServerState

GEOJSON = ogc.GEOJSON
PREFIX = "/federation"


def federation_router(state: ServerState) -> APIRouter:
    """The routes, with the members of ``state.settings.members_file``; the
    members' clients are closed with the server."""
    settings = state.settings
    if settings.members_file is None:
        raise RuntimeError("a federation router needs settings.members_file")
    service = FederationService(load_federation(settings.members_file),
                                threads=settings.threads * 2)
    state.on_close.append(service.close)

    async def store() -> TwinStore:
        return state.get_store()

    Store = Annotated[TwinStore, Depends(store)]
    blocking = state.blocking
    r = APIRouter(prefix=PREFIX, tags=["Federation"])

    @r.get("/members", summary="Each member twin: reachable or why not, version, CRS, "
           "extent, what it offers", response_model=dict)
    @blocking
    def members() -> Response:
        return json_response({"federation": service.federation.name,
                              "level": service.federation.level,
                              "code": service.federation.code,
                              "members": member_status(service)})

    @r.get("/search", summary="Features of layers in a WGS 84 bbox across this twin and its "
           "members, each tagged with its member, paged by cursor", response_model=dict,
           responses={200: {"content": {GEOJSON: {}}, "description": "FeatureCollection"},
                      **responses(400)})
    @blocking
    def search(
        request: Request, s: Store,
        layer: Annotated[list[str], Q(description="layer (repeatable)",
                                      max_length=MAX_LAYERS)],
        bbox: Annotated[str | None, Q(description="minlon,minlat,maxlon,maxlat (WGS 84)")]
        = None,
        where: Annotated[list[str] | None, Q(description="typed attribute filter such as "
                                             "'storeys>18' (repeatable)",
                                             max_length=MAX_WHERE)] = None,
        limit: Annotated[int, Q(ge=1, le=MAX_LIMIT)] = 100,
        cursor: Annotated[str | None, Q(max_length=200, description="from a 'next' link")]
        = None,
    ) -> Response:
        req = parse_request(layer, bbox, where or [], limit, cursor)

        def own(name: str, params: list[tuple[str, str]]):
            multi: dict[str, list[str]] = {}
            for k, v in params:
                multi.setdefault(k, []).append(v)
            ir = ogc.parse_items_request(name, multi, default_limit=MAX_LIMIT,
                                         max_limit=MAX_LIMIT)
            _, body = ogc.items(s, ir, multi, base_url(request))
            doc = json.loads(b"".join(body))
            return doc["features"], doc["numberMatched"]

        doc = federated_search(service, own, req, f"{base_url(request)}{PREFIX}/search")
        return json_response(doc, media_type=GEOJSON)

    @r.get("/indicators", summary="The health-check indicators of this twin and its members "
           "totalled from numerators and denominators, with coverage and drill-down",
           response_model=dict, responses=responses(400))
    @blocking
    def indicators(s: Store, year: Year = None) -> Response:
        y = svc.reference_year(year)
        own = state.cached(s, ("indicators", y, None, False, False),
                           lambda: svc.indicators(s, y, None, False, False))
        return json_response(roll_up(service, json.loads(bytes(own.body)), y))

    @r.get("/tileset.json", summary="The region scene: the members' 3D Tiles as external "
           "tilesets", response_model=dict)
    @blocking
    def tileset() -> Response:
        own = None
        if settings.tiles_dir:
            own = json.loads((Path(settings.tiles_dir) / "tileset.json").read_text())
        return json_response(region_tileset(service, own))

    @r.get("/members/{name}/tiles/{path:path}", summary="A member's 3D Tiles, passed on",
           response_class=Response, responses=responses(400, 404))
    @blocking
    def member_tiles(name: str, path: str) -> Response:
        if name not in service.clients:
            raise ApiProblem(404, "Not found", f"no member named {name!r}")
        if not tile_path_ok(path):
            raise ApiProblem(400, "Bad request", f"{path[:80]!r} is not a tile path")
        try:
            body, ctype = service.clients[name].get(f"/tiles/{path}")
        except MemberFailure as exc:
            f = exc.failure
            raise ApiProblem(502, "Bad gateway", f"member {name}: {f.reason}: {f.detail}",
                             member=name, reason=f.reason) from None
        return Response(body, media_type=ctype)

    return r
