"""Twin routes (summary, catalogue, features, search, scenes): HTTP in,
:mod:`twin_api.twin_service` out. The analyses are in
:mod:`twin_api.routes_analyses`.

Results that take long and change only with the twin (the summary, the
catalogue, GLB scenes) are kept per twin revision (:meth:`ServerState.cached`).
"""

# no "from __future__ import annotations": FastAPI reads the annotations of the
# routes, which name types defined inside the router functions

from dataclasses import replace
from enum import Enum
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi import Query as Q
from fastapi.responses import Response

from twin.conflation import hidden_by_conflation, links
from twin.query import Query, parse_filter
from twin.store.base import TwinStore
from viewer.gltf import read_glb_json, scene_glb
from viewer.scene import TwinLookups

from . import twin_service as svc
from .encoding import json_response
from .features import MAX_OFFSET
from .geo import crs_uri
from .params import MAX_LIST, Layers
from .problems import responses
from .server_state import ServerState
from .temporal import store_dependency


def twin_router(state: ServerState) -> APIRouter:
    settings = state.settings
    cached = state.cached

    store = store_dependency(state)

    Store = Annotated[TwinStore, Depends(store)]
    blocking = state.blocking
    r = APIRouter(responses=responses(400))  # every route takes as_of
    t: list[str | Enum] = ["Twin"]
    Crs = Annotated[str | None, Q(description="output CRS URI (default: the twin's CRS)")]
    Limit = Annotated[int, Q(ge=1, description=f"page size; above {settings.max_limit} it is "
                             "capped to that")]
    Offset = Annotated[int, Q(ge=0, le=MAX_OFFSET)]

    def page(limit: int) -> int:
        return min(limit, settings.max_limit)

    below_limit = min(1000, settings.max_limit)

    @r.get("/twin", tags=t, summary="Summary of the twin: CRS, origin, extent, counts",
           response_model=dict)
    @blocking
    def summary(s: Store) -> Response:
        return cached(s, ("summary",), lambda: {
            **svc.summary(s), "tiles": "/tiles/tileset.json" if settings.tiles_dir else None})

    @r.get("/twin/layers", tags=t, summary="The layer catalogue with styles and counts",
           response_model=dict)
    @blocking
    def layers(s: Store) -> Response:
        return cached(s, ("layers",), lambda: svc.layer_catalogue(s))

    @r.get("/twin/batches", tags=t, response_model=dict,
           summary="The import batches: the twin's timeline (what as_of and changes: name)")
    @blocking
    def batches(s: Store, limit: Limit = settings.default_limit, offset: Offset = 0,
                order: Annotated[Literal["oldest", "newest"], Q(
                    description="oldest first (the default) or newest first")] = "oldest"
                ) -> Response:
        return cached(s, ("batches", page(limit), offset, order),
                      lambda: svc.batch_timeline(s, page(limit), offset, order == "newest"))

    @r.get("/twin/features/{feature_id:path}/children", tags=t, summary="Children",
           response_model=dict, responses=responses(400, 404))
    @blocking
    def children(s: Store, feature_id: str, limit: Limit = settings.default_limit,
                 offset: Offset = 0, crs: Crs = None) -> Response:
        s.get(feature_id, meshes=False)
        return json_response(svc.feature_collection(
            s, Query(parent=feature_id, limit=page(limit), offset=offset),
            svc.twin_crs_choice(s, crs), {"parent": feature_id}))

    @r.get("/twin/features/{feature_id:path}/below", tags=t, response_model=dict,
           summary="What lies under a feature's footprint, down to depth metres",
           responses=responses(400, 404))
    @blocking
    def below(s: Store, feature_id: str,
              depth: Annotated[float, Q(gt=0, le=200)] = 5.0, layers: Layers = None,
              limit: Limit = below_limit, crs: Crs = None) -> Response:
        return json_response(svc.below(s, feature_id, depth, layers or (), page(limit), crs))

    @r.get("/twin/features/{feature_id:path}", tags=t, response_model=dict,
           summary="A feature with attributes, hierarchy, meshes and provenance",
           responses=responses(404))
    @blocking
    def feature(s: Store, feature_id: str) -> Response:
        return json_response(svc.feature_detail(s, feature_id))

    @r.get("/twin/search", tags=t, summary="Features in a 2D bbox or 3D box of the twin CRS",
           response_model=dict, responses=responses(400))
    @blocking
    def search(
        s: Store,
        bbox: Annotated[str | None, Q(description="xmin,ymin,xmax,ymax (twin CRS)")] = None,
        box3d: Annotated[str | None, Q(description="xmin,ymin,zmin,xmax,ymax,zmax")] = None,
        layers: Layers = None,
        type: Annotated[list[str] | None, Q(max_length=MAX_LIST)] = None,
        where: Annotated[list[str] | None, Q(max_length=MAX_LIST)] = None,
        limit: Limit = settings.default_limit, offset: Offset = 0, crs: Crs = None,
    ) -> Response:
        b2 = svc.parse_box2d(bbox)
        b3 = svc.parse_box3d(box3d)
        every = Query(bbox=b2, box3d=b3, layers=svc.require_layers(s, layers or ()),
                      types=tuple(type or ()),
                      filters=tuple(parse_filter(w) for w in where or ()))
        return json_response(svc.feature_collection(
            s, replace(every, limit=page(limit), offset=offset), svc.twin_crs_choice(s, crs),
            {"numberMatched": s.count(every)}))

    @r.get("/twin/around", tags=t, summary="The features nearest to a point",
           response_model=dict, responses=responses(400))
    @blocking
    def around(s: Store, x: Annotated[float, Q(allow_inf_nan=False)],
               y: Annotated[float, Q(allow_inf_nan=False)],
               n: Annotated[int, Q(ge=1, le=1000)] = 10,
               radius: Annotated[float | None, Q(gt=0, le=10_000)] = None,
               layers: Layers = None, crs: Crs = None) -> Response:
        return json_response(svc.around(s, x, y, n, radius, layers or (), crs))

    @r.get("/twin/conflation", tags=t, response_model=dict,
           summary="BIM buildings linked to the GIS buildings they model, and which shows")
    @blocking
    def conflation(s: Store) -> Response:
        return cached(s, ("conflation",), lambda: {"links": links(s)})

    @r.get("/twin/scene.glb", tags=t, summary="A GLB scene of a bbox and layers",
           response_class=Response,
           responses={200: {"content": {"model/gltf-binary": {}},
                            "description": "a binary glTF scene"},
                      **responses(400, 413)})
    @blocking
    def scene(s: Store,
              bbox: Annotated[str | None, Q(description="xmin,ymin,xmax,ymax (twin CRS)")]
              = None,
              layers: Layers = None,
              ids: Annotated[list[str] | None, Q(description="feature ids (repeatable)",
                                                 max_length=settings.max_scene_features)]
              = None) -> Response:
        box = svc.parse_box2d(bbox)
        q = svc.scene_query(s, box, layers or (), ids or (), settings.max_bbox_area_km2,
                            settings.max_scene_features)

        def make() -> tuple[bytes, int]:
            origin = s.origin or (0.0, 0.0, 0.0)
            colours = {x.name: x.colour for x in s.layers()}
            hidden = hidden_by_conflation(s)
            feats = (f for f in s.query(q) if f.id not in hidden)
            lookups = TwinLookups.of(s)  # terrain for 2D lines, parents of IFC parts
            return scene_glb(feats, origin, colours, crs=crs_uri(s.crs),
                             opacity={"terrain": 0.6}, ground=lookups.ground,
                             parent_of=lookups.parent_of)

        def headers(res: tuple[bytes, int]) -> dict[str, str]:
            counts = read_glb_json(res[0])["asset"]["extras"]["counts"]
            return {"X-Feature-Count": str(res[1]),
                    "X-Features-Without-Mesh": str(counts["without_mesh"])}

        return cached(s, ("scene", box, tuple(layers or ()), tuple(ids or ())), make,
                      media_type="model/gltf-binary", raw=True, headers=headers)

    return r
