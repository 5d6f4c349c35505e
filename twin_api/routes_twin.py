"""Twin and analysis routes: HTTP in, :mod:`twin_api.twin_service` out.

Results that take long and change only with the twin (the summary, the
catalogue, the analyses, the health-check indicators, GLB scenes) are kept
per twin revision (:meth:`ServerState.cached`).
"""

# no "from __future__ import annotations": FastAPI reads the annotations of the
# routes, which name types defined inside the router functions

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi import Query as Q
from fastapi.responses import Response

from twin.conflation import hidden_by_conflation, links
from twin.query import Query
from twin.store.base import TwinStore
from viewer.gltf import read_glb_json, scene_glb
from viewer.scene import TwinLookups

from . import twin_service as svc
from .encoding import json_response
from .features import MAX_OFFSET
from .geo import crs_uri
from .problems import responses
from .server_state import ServerState

#: Most values a repeatable parameter (``layers``, ``type``, ``where``) takes.
MAX_LIST = 100


def twin_router(state: ServerState) -> APIRouter:
    settings = state.settings
    cached = state.cached

    async def store() -> TwinStore:
        return state.get_store()

    Store = Annotated[TwinStore, Depends(store)]
    blocking = state.blocking
    r = APIRouter()
    t = ["Twin"]
    a = ["Analyses"]
    Layers = Annotated[list[str] | None, Q(description="layer names (repeatable; an unknown "
                                           "layer is a 400)", max_length=MAX_LIST)]
    Crs = Annotated[str | None, Q(description="output CRS URI (default: the twin's CRS)")]
    Limit = Annotated[int, Q(ge=1, description=f"page size; above {settings.max_limit} it is "
                             "capped to that")]
    Offset = Annotated[int, Q(ge=0, le=MAX_OFFSET)]
    Year = Annotated[int | None, Q(ge=svc.YEARS[0], le=svc.YEARS[1],
                                   description="reference year")]

    def page(limit: int) -> int:
        return min(limit, settings.max_limit)

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
              limit: Limit = min(1000, settings.max_limit), crs: Crs = None) -> Response:
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
        b2 = svc.parse_box(bbox, 4, "bbox")
        b3 = svc.parse_box(box3d, 6, "box3d")
        every = Query(bbox=b2, box3d=b3, layers=svc.require_layers(s, layers or ()),
                      types=tuple(type or ()), filters=tuple(where or ()))
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

    @r.get("/twin/networks", tags=a, summary="The pipe networks with topology",
           response_model=dict)
    @blocking
    def network_list(s: Store) -> Response:
        return cached(s, ("networks",), lambda: svc.network_list(s))

    @r.get("/twin/networks/{network}/check", tags=a, summary="Topology check of a network",
           response_model=dict, responses=responses(404))
    @blocking
    def network_check(s: Store, network: str) -> Response:
        return cached(s, ("network_check", network), lambda: svc.network_check(s, network))

    @r.get("/twin/analyses/renewal", tags=a, summary="Pipes due for renewal, oldest first",
           response_model=dict, responses=responses(400))
    @blocking
    def renewal(s: Store, layers: Layers = None,
                min_age: Annotated[int, Q(ge=0, le=200)] = 20, year: Year = None) -> Response:
        ls = tuple(layers or ("heating",))
        y = svc.reference_year(year)
        return cached(s, ("renewal", ls, min_age, y), lambda: svc.renewal(s, ls, min_age, y))

    @r.get("/indicators", tags=a, summary="City health check (城市体检) indicators",
           response_model=dict, responses=responses(400))
    @blocking
    def indicators(s: Store, year: Year = None,
                   new_since: Annotated[int | None, Q(
                       ge=svc.YEARS[0], le=svc.YEARS[1],
                       description="first build year of new buildings (default year - 5)")]
                   = None,
                   county_town: bool = False, main_city: bool = False) -> Response:
        y = svc.reference_year(year)
        return cached(s, ("indicators", y, new_since, county_town, main_city),
                      lambda: svc.indicators(s, y, new_since, county_town, main_city))

    @r.get("/twin/analyses/ageing", tags=a, summary="Pipe length by age band",
           response_model=dict, responses=responses(400))
    @blocking
    def ageing(s: Store, layers: Layers = None, year: Year = None) -> Response:
        ls = tuple(layers or ())
        y = svc.reference_year(year)
        return cached(s, ("ageing", ls, y), lambda: svc.ageing(s, ls, y))

    @r.get("/twin/analyses/statistics", tags=a, summary="Network lengths by size, material",
           response_model=dict, responses=responses(400))
    @blocking
    def statistics(s: Store, year: Year = None) -> Response:
        y = svc.reference_year(year)
        return cached(s, ("statistics", y), lambda: svc.statistics(s, y))

    @r.get("/twin/analyses/clearances", tags=a, summary="GB 50289 clearance violations",
           response_model=dict, responses=responses(400))
    @blocking
    def clearances(s: Store, limit: Annotated[int, Q(ge=1, le=100_000)] = 1000) -> Response:
        return cached(s, ("clearances", limit), lambda: svc.clearances(s, limit))

    @r.get("/twin/analyses/isolation/{segment_id:path}", tags=a, response_model=dict,
           summary="Valves to close and what loses supply when a segment bursts",
           responses=responses(400, 404))
    @blocking
    def isolation(s: Store, segment_id: str) -> Response:
        return cached(s, ("isolation", segment_id), lambda: svc.isolation(s, segment_id))

    @r.get("/twin/conflation", tags=t, response_model=dict,
           summary="BIM buildings linked to the GIS buildings they model, and which shows")
    @blocking
    def conflation(s: Store) -> Response:
        return cached(s, ("conflation",), lambda: {"links": links(s)})

    @r.get("/twin/analyses/highlight", tags=a, response_model=dict,
           summary="An analysis result as coloured feature sets, for viewers",
           responses=responses(400, 404))
    @blocking
    def highlight_sets(s: Store, analysis: Annotated[str, Q(
            max_length=300, description="renewal[:YEAR], clearance or isolation:SEGMENT_ID")],
            geometry: Annotated[bool, Q(description="add each group's 3D centrelines and "
                                        "points, relative to the twin's origin")] = False
    ) -> Response:
        return cached(s, ("highlight", analysis, geometry),
                      lambda: svc.highlight_sets(s, analysis, geometry))

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
        box = svc.parse_box(bbox, 4, "bbox")
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
