"""HTTP routes of the web viewer's data (``/twin/viewer/...``): a thin adapter
over :mod:`twin_api.viewer_service`.

``viewer_router(state)`` follows the other routers: blocking work on the
server's fixed threads, results kept per twin revision. Layer attribute
tables are read once per twin revision (:meth:`TwinStore.revision`) and kept
by the router, not by the module: two apps never share them.
"""


import datetime as dt
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi import Query as Q
from fastapi.responses import Response

from twin.store.base import TwinStore

from . import readings_service as rsvc
from . import twin_service as svc
from . import viewer_service as vsvc
from .params import MAX_LIST
from .problems import responses
from .server_state import ServerState
from .temporal import store_dependency

#: Layers whose attribute tables a router keeps (the least recently used go first).
CACHED_LAYERS = 8


class _ValuesCache:
    """Layer attribute tables by (twin revision, layer), thread-safe: FastAPI
    runs the plain ``def`` routes in a thread pool."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: dict[tuple[int, str], vsvc.LayerValues] = {}
        self.lock = threading.Lock()

    def get(self, store: TwinStore, layer: str) -> vsvc.LayerValues:
        key = (store.revision(), layer)
        with self.lock:
            hit = self.items.pop(key, None)
            if hit is not None:
                self.items[key] = hit
                return hit
        values = vsvc.layer_values(store, layer)
        with self.lock:
            self.items[key] = values
            while len(self.items) > self.size:
                self.items.pop(next(iter(self.items)))
        return values


def viewer_router(state: ServerState) -> APIRouter:
    """The routes, run on the server's fixed query threads; what they compute
    is kept per twin revision (``state.cached``) like the other twin routes."""
    settings = state.settings
    cached = state.cached
    blocking = state.blocking

    store = store_dependency(state)

    r = APIRouter(prefix="/twin/viewer", tags=["Web viewer"],
                  responses=responses(400))  # every route takes as_of
    Store = Annotated[TwinStore, Depends(store)]
    cache = _ValuesCache(CACHED_LAYERS)

    @r.get("/scene.glb", summary="The lean scene of a bbox: merged and instanced meshes per "
           "layer with per-vertex feature ids, pipe centrelines as lines",
           response_class=Response,
           responses={200: {"content": {"model/gltf-binary": {}},
                            "description": "a binary glTF scene"}, **responses(400, 413)})
    @blocking
    def scene(s: Store,
              bbox: Annotated[str | None, Q(description="xmin,ymin,xmax,ymax (twin CRS)")]
              = None,
              layers: Annotated[list[str] | None, Q(description="layer names (repeatable)",
                                                    max_length=MAX_LIST)] = None) -> Response:
        box = svc.parse_box2d(bbox)
        q = svc.scene_query(s, box, layers or (), (), settings.max_bbox_area_km2,
                            settings.max_scene_features)
        return cached(s, ("viewer-scene", box, tuple(layers or ())), lambda: vsvc.scene(s, q),
                      media_type="model/gltf-binary", raw=True,
                      headers=lambda res: {"X-Feature-Count": str(res[1]),
                                           "X-Draw-Calls": str(res[2])})

    @r.get("/catalogue", summary="Layers by group (above ground, surface, underground) with "
           "counts; attribute labels (English, Chinese) and units", response_model=dict)
    @blocking
    def catalogue(s: Store) -> Response:
        return cached(s, ("viewer-catalogue",), lambda: vsvc.catalogue(s))

    @r.get("/attributes/{layer}", summary="The attributes a layer's features can be "
           "coloured by, with their range or categories", response_model=dict,
           responses=responses(404))
    @blocking
    def attributes(s: Store, layer: str) -> dict:
        return vsvc.attribute_list(cache.get(s, layer), layer)

    @r.get("/attributes/{layer}/{name}", summary="One attribute of every feature of a layer",
           response_model=dict, responses=responses(404))
    @blocking
    def values(s: Store, layer: str, name: str) -> dict:
        return vsvc.attribute_values(cache.get(s, layer), layer, name)

    @r.get("/indicators/{key}", summary="The features behind a health-check indicator, as "
           "coloured groups (with centrelines and points on request)", response_model=dict,
           responses=responses(400, 404))
    @blocking
    def indicator(s: Store, key: str,
                  year: Annotated[int | None, Q(ge=1800, le=2200)] = None,
                  new_since: Annotated[int | None, Q(ge=1800, le=2200)] = None,
                  geometry: bool = False) -> Response:
        y = year or dt.date.today().year

        def make() -> dict[str, Any]:
            out = vsvc.indicator_features(s, key, y, new_since)
            if geometry:
                _add_geometry(s, out)
            return out

        return cached(s, ("viewer-indicator", key, y, new_since, geometry), make)

    # per twin revision: the datastreams of each property and their value ranges
    kept: dict[tuple[int, str, str], Any] = {}
    kept_lock = threading.Lock()

    def keep(s: TwinStore, what: str, name: str, compute: Any) -> Any:
        key = (s.revision(), what, name)
        with kept_lock:
            if key in kept:
                return kept[key]
        value = compute()
        with kept_lock:
            if len(kept) >= 64:
                kept.clear()
            kept[key] = value
        return value

    def readings_of(s: TwinStore, property: str | None, at: str | None, window: str | None,
                    stat: str) -> dict:
        from twin.sensors import readings as rd
        from twin.sensors.store import sensors_of

        sensors = sensors_of(s)
        return rsvc.readings(
            s, property, at, window, stat,
            lambda p: keep(s, "range", p.name, lambda: rd.value_range(sensors, p)),
            lambda: keep(s, "properties", "", lambda: rd.properties_on_features(sensors)))

    @r.get("/readings", summary="Per feature the value of an observed property at a time "
           "(the latest at or before it, or a statistic over a window ending there), with "
           "the time range and the properties there are", response_model=dict,
           responses=responses(400))
    @blocking
    def readings(s: Store,
                 property: Annotated[str | None, Q(
                     description="observed property name (e.g. pressure, flow); left out: "
                     "only the properties and the time range", max_length=200)] = None,
                 at: Annotated[str | None, Q(
                     description="ISO 8601 time with its offset (default: the property's "
                     "latest reading)", max_length=64)] = None,
                 window: Annotated[str | None, Q(
                     description="ISO 8601 duration (PT1H, P1D; at most 366 days): a "
                     "statistic of the readings in [at - window, at) instead of the latest",
                     max_length=32)] = None,
                 stat: Annotated[str, Q(description="statistic of a window",
                                        pattern="^(mean|min|max)$")] = "mean") -> Response:
        return cached(s, ("viewer-readings", property, at, window, stat),
                      lambda: readings_of(s, property, at, window, stat))

    @r.get("/map", summary="The twin's extent as a grid of viewer coordinates with WGS 84 "
           "longitudes and latitudes (sun position, web-map draping)", response_model=dict,
           responses=responses(400))
    @blocking
    def map_grid(s: Store, n: Annotated[int, Q(ge=2, le=64)] = 9) -> Response:
        return cached(s, ("viewer-map", n), lambda: vsvc.map_grid(s, n))

    return r


def _add_geometry(store: TwinStore, out: dict) -> None:
    """Each group's 3D centrelines and points (as the highlight endpoint
    gives them), so that selected pipes and valves show at city scale."""
    import numpy as np

    from viewer.highlight import HighlightGroup, highlight_geometry

    for g in out["groups"]:
        lines, points = highlight_geometry(
            store, HighlightGroup(g["label"], g["colour"], frozenset(g["ids"])))
        g["lines"] = [np.round(x, 3).tolist() for x in lines]
        g["points"] = [np.round(x, 3).tolist() for x in points]
