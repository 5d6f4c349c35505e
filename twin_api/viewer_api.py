"""HTTP routes of the web viewer's data (``/twin/viewer/...``): a thin adapter
over :mod:`twin_api.viewer_service`.

``viewer_router(store, settings)`` takes the app's store dependency, so
``create_app`` registers it with one line. Layer attribute tables are read
once per twin revision (:meth:`TwinStore.revision`) and kept by the router,
not by the module: two apps never share them.
"""


import datetime as dt
import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi import Query as Q
from fastapi.responses import Response

from twin.store.base import TwinStore

from . import twin_service as svc
from . import viewer_service as vsvc
from .settings import ApiSettings

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


def viewer_router(store: Callable[[], TwinStore], settings: ApiSettings) -> APIRouter:
    """The routes; ``store`` is the app's dependency giving the open twin."""
    r = APIRouter(prefix="/twin/viewer", tags=["Web viewer"])
    Store = Annotated[TwinStore, Depends(store)]
    cache = _ValuesCache(CACHED_LAYERS)

    @r.get("/scene.glb", summary="The lean scene of a bbox: merged and instanced meshes per "
           "layer with per-vertex feature ids, pipe centrelines as lines",
           response_class=Response, responses={200: {"content": {"model/gltf-binary": {}}}})
    def scene(s: Store,
              bbox: Annotated[str | None, Q(description="xmin,ymin,xmax,ymax (twin CRS)")]
              = None,
              layers: Annotated[list[str] | None, Q(description="layer names (repeatable)")]
              = None) -> Response:
        q = svc.scene_query(s, svc.parse_box(bbox, 4, "bbox"), layers or (), (),
                            settings.max_bbox_area_km2, settings.max_scene_features)
        data, n, calls = vsvc.scene(s, q)
        return Response(data, media_type="model/gltf-binary",
                        headers={"X-Feature-Count": str(n), "X-Draw-Calls": str(calls)})

    @r.get("/catalogue", summary="Layers by group (above ground, surface, underground) with "
           "counts; attribute labels (English, Chinese) and units")
    def catalogue(s: Store) -> dict:
        return vsvc.catalogue(s)

    @r.get("/attributes/{layer}", summary="The attributes a layer's features can be "
           "coloured by, with their range or categories")
    def attributes(s: Store, layer: str) -> dict:
        return vsvc.attribute_list(cache.get(s, layer), layer)

    @r.get("/attributes/{layer}/{name}", summary="One attribute of every feature of a layer")
    def values(s: Store, layer: str, name: str) -> dict:
        return vsvc.attribute_values(cache.get(s, layer), layer, name)

    @r.get("/indicators/{key}", summary="The features behind a health-check indicator, as "
           "coloured groups (with centrelines and points on request)")
    def indicator(s: Store, key: str,
                  year: Annotated[int | None, Q(ge=1800, le=2200)] = None,
                  new_since: Annotated[int | None, Q(ge=1800, le=2200)] = None,
                  geometry: bool = False) -> dict[str, Any]:
        out = vsvc.indicator_features(s, key, year or dt.date.today().year, new_since)
        if geometry:
            _add_geometry(s, out)
        return out

    @r.get("/map", summary="The twin's extent as a grid of viewer coordinates with WGS 84 "
           "longitudes and latitudes (sun position, web-map draping)")
    def map_grid(s: Store, n: Annotated[int, Q(ge=2, le=64)] = 9) -> dict:
        return vsvc.map_grid(s, n)

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
