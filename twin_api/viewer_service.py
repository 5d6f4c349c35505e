"""What the web viewer needs beyond the twin endpoints, framework-free.

- the **lean scene** (:func:`viewer.web_scene.web_scene_glb`): few draw calls,
  picking per feature, repeated fittings instanced;
- the **one-map catalogue**: layers in their three groups (above ground,
  surface, underground) with counts, and the labels of attributes in English
  and Chinese with their units, so a feature card reads "管径 DN 300 mm"
  rather than ``diameter_mm: 300.0``;
- **attribute values per layer**, to colour features by any attribute
  (storeys, build year, energy retrofit, ...) whatever the scene source;
- **indicator feature sets**: each city health check (城市体检) indicator as
  coloured id groups, the same shape as the analysis highlights;
- **map placement**: a grid of the twin's extent with its longitudes and
  latitudes (pyproj), for the sun position and for draping a web map.

Every value that comes from imported files is returned as data; the viewer
puts it into the page as text only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyproj import Transformer

from twin.attributes import TYPED_ATTRIBUTES
from twin.conflation import hidden_by_conflation
from twin.errors import NotFoundError, QueryError
from twin.layers import GROUPS
from twin.query import Query
from twin.store.base import TwinStore

from .features import json_safe
from .geo import crs_uri
from .twin_service import layer_json

#: Titles of the three layer groups of the one map (一张图).
GROUP_TITLES = {"above_ground": ("Above ground", "地上"),
                "surface": ("Surface", "地表"),
                "underground": ("Underground", "地下")}

#: Chinese labels of the typed attributes and of the free attributes the
#: health check reads; other attributes show under their own names.
LABELS_ZH = {
    "id": "编号", "layer": "图层", "type": "类型", "name": "名称", "parent": "上级要素",
    "source": "数据来源", "height": "高度", "storeys": "地上层数", "storeys_below": "地下层数",
    "year_built": "建成年份", "function": "功能", "roof_type": "屋顶形式", "storey": "所在楼层",
    "width_m": "宽度", "road_class": "道路等级", "network": "管网", "diameter_mm": "管径",
    "width_mm": "断面宽", "height_mm": "断面高", "material": "材质", "install_year": "敷设年份",
    "pressure_class": "压力等级", "depth_m": "埋深", "owner": "权属单位", "status": "状态",
    "cable_count": "电缆条数", "floor_area_m2": "建筑面积", "green_star": "绿色建筑星级",
    "prefabricated": "装配式建筑", "energy_retrofit": "节能改造", "serves": "服务对象",
}

#: Free attributes the health check reads, with their units and meanings.
FREE_ATTRIBUTES = {
    "floor_area_m2": ("real", "m²", "gross floor area"),
    "green_star": ("integer", "", "green building star level (0 = none)"),
    "prefabricated": ("flag", "", "built with prefabricated components"),
    "energy_retrofit": ("flag", "", "energy-saving retrofit done"),
}

#: Largest number of distinct values an attribute may have to be coloured by category.
MAX_CATEGORIES = 12


def catalogue(store: TwinStore) -> dict[str, Any]:
    """The layers in their groups with counts, and the attribute labels."""
    counts = store.info().features_by_layer
    groups = []
    for g in GROUPS:
        layers = [layer_json(x, counts.get(x.name, 0)) for x in store.layers() if x.group == g]
        title, title_zh = GROUP_TITLES[g]
        groups.append({"name": g, "title": title, "title_zh": title_zh, "layers": layers,
                       "features": sum(x["features"] for x in layers)})
    labels = {}
    for name, zh in LABELS_ZH.items():
        spec = TYPED_ATTRIBUTES.get(name)
        free = FREE_ATTRIBUTES.get(name)
        labels[name] = {"label": name.replace("_", " "), "label_zh": zh,
                        "unit": spec.unit if spec else (free[1] if free else ""),
                        "description": spec.description if spec else (free[2] if free else "")}
    return {"groups": groups, "attributes": labels}


def _kind(name: str, values: list[Any]) -> str | None:
    """``number``, ``flag`` or ``category``: how an attribute can colour
    features (``None``: it cannot, e.g. free text with many values)."""
    spec = TYPED_ATTRIBUTES.get(name)
    if name in FREE_ATTRIBUTES and FREE_ATTRIBUTES[name][0] == "flag":
        return "flag"
    if spec is not None and spec.kind in ("real", "integer"):
        return "number"
    if values and all(isinstance(v, bool) for v in values):
        return "flag"
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "number"
    if all(isinstance(v, str) for v in values) and len(set(values)) <= MAX_CATEGORIES:
        return "category"
    return None


@dataclass(frozen=True)
class LayerValues:
    """Every feature's attributes of one layer, column by column."""

    ids: tuple[str, ...]
    columns: dict[str, list[Any]]  # name -> one value (or None) per id


def layer_values(store: TwinStore, layer: str) -> LayerValues:
    """Read a layer's attributes once (callers cache it per twin revision)."""
    store.layer(layer)  # NotFoundError naming the layers that exist
    ids: list[str] = []
    cols: dict[str, list[Any]] = {}
    for k, f in enumerate(store.query(Query(layers=(layer,)))):
        ids.append(f.id)
        for name, v in f.attributes.items():
            if isinstance(v, (str, int, float, bool)):
                cols.setdefault(name, [None] * k)
        for name, col in cols.items():
            v = f.attributes.get(name)
            col.append(v if isinstance(v, (str, int, float, bool)) else None)
    return LayerValues(tuple(ids), cols)


def attribute_list(values: LayerValues, layer: str) -> dict[str, Any]:
    """The attributes of a layer features can be coloured by, with their range."""
    out = []
    for name, col in values.columns.items():
        present = [v for v in col if v is not None]
        kind = _kind(name, present)
        if kind is None or not present:
            continue
        item: dict[str, Any] = {"name": name, "kind": kind, "count": len(present),
                                "label_zh": LABELS_ZH.get(name, ""),
                                "unit": _unit(name)}
        if kind == "number":
            nums = np.array([float(v) for v in present])
            item["min"], item["max"] = float(nums.min()), float(nums.max())
        else:
            item["categories"] = [str(v) for v, _ in Counter(map(_norm, present)).most_common()]
        out.append(item)
    out.sort(key=lambda a: (a["name"] not in LABELS_ZH, a["name"]))
    return {"layer": layer, "features": len(values.ids), "attributes": out}


def _unit(name: str) -> str:
    spec = TYPED_ATTRIBUTES.get(name)
    return spec.unit if spec else FREE_ATTRIBUTES.get(name, ("", "", ""))[1]


def _norm(v: Any) -> Any:
    """Flags as written in survey tables ("yes", "是", 1) read as booleans."""
    if isinstance(v, str) and v.strip().lower() in ("true", "yes", "y", "是"):
        return True
    if isinstance(v, str) and v.strip().lower() in ("false", "no", "n", "否"):
        return False
    return v


def attribute_values(values: LayerValues, layer: str, name: str) -> dict[str, Any]:
    """One attribute of every feature of a layer: ``ids`` and ``values`` in step."""
    col = values.columns.get(name)
    if col is None:
        raise NotFoundError(f"layer {layer!r} has no attribute {name!r}; it has: "
                            f"{', '.join(sorted(values.columns)) or 'none'}")
    present = [v for v in col if v is not None]
    kind = _kind(name, present)
    if kind is None:
        raise QueryError(f"attribute {name!r} of layer {layer!r} has {len(set(present))} "
                         f"distinct text values, more than the {MAX_CATEGORIES} a map can "
                         "colour apart")
    pairs = [(i, _norm(v)) for i, v in zip(values.ids, col) if v is not None]
    return json_safe({"layer": layer, "name": name, "kind": kind, "unit": _unit(name),
                      "label_zh": LABELS_ZH.get(name, ""),
                      "ids": [p[0] for p in pairs], "values": [p[1] for p in pairs]})


# -- health-check indicators as feature sets ------------------------------------------

RED, ORANGE, GREEN, BLUE, GREY, PURPLE = ("#e0161b", "#ff9a1f", "#2e9e44", "#1f5fff",
                                          "#8a8a8a", "#8e44ad")


def _group(label: str, colour: str, ids) -> dict[str, Any]:
    return {"label": label, "colour": colour, "ids": sorted(ids)}


def _buildings(store: TwinStore) -> list:
    """One record per real building, as the health check counts them: no
    building parts, no BIM model that is the second model of a GIS building."""
    return [f for f in store.query(Query(layers=("buildings",)))
            if f.type != "BuildingPart" and not f.attributes.get("same_as")]


def _flag(v: Any) -> bool | None:
    v = _norm(v)
    return None if v is None else bool(v)


def indicator_features(store: TwinStore, key: str, year: int,
                       new_since: int | None = None) -> dict[str, Any]:
    """The features behind one health-check indicator, as coloured groups.

    Pipes by age show the segments 20 years or older; building indicators
    the buildings they count split by outcome (e.g. new floor area at 6
    storeys or fewer against higher); the walkable-services indicator its
    facilities. Keys are those of ``/indicators``.
    """
    from viewer.highlight import highlight

    new_since = year - 5 if new_since is None else new_since
    if key == "heating_renewal":
        return highlight(store, f"renewal:{year}").as_dict() | {"key": key}
    if key == "clearance_violations":
        return highlight(store, "clearance").as_dict() | {"key": key}
    if key in ("gas_age", "water_supply_age"):
        layer = key.removesuffix("_age")
        min_age = {"gas": 20, "water_supply": 30}[layer]  # the renewal plan's ages
        old: list[str] = []
        young: list[str] = []
        for f in store.query(Query(layers=(layer,), free_attributes=False)):
            y = f.attributes.get("install_year")
            if y is not None:
                (old if year - y >= min_age else young).append(f.id)
        return {"key": key, "spec": f"indicator:{key}",
                "title": f"{layer.replace('_', ' ')} pipes in service {min_age}+ years in "
                         f"{year}: {len(old)} segments", "notes": [],
                "groups": [_group(f"{min_age} years or more", RED, old),
                           _group("younger", GREEN, young)]}
    if key == "water_leakage":
        return _leakage_features(store, key)
    if key == "road_density":
        ids = [f.id for f in store.query(Query(layers=("road_centrelines", "roads"),
                                               free_attributes=False))]
        return {"key": key, "spec": f"indicator:{key}", "notes": [],
                "title": f"Roads counted in the road density: {len(ids)}",
                "groups": [_group("roads", BLUE, ids)]}
    if key == "walkable_services":
        kinds: dict[str, list[str]] = {"school": [], "clinic": [], "park": []}
        for f in store.query(Query(layers=("buildings", "landuse", "vegetation"))):
            fn = str(f.attributes.get("function") or "").lower()
            for k in kinds:
                if k in fn:
                    kinds[k].append(f.id)
        return {"key": key, "spec": f"indicator:{key}", "notes": [],
                "title": "Facilities of the 15-minute walk: " + ", ".join(
                    f"{len(v)} {k}s" for k, v in kinds.items()),
                "groups": [_group("schools", BLUE, kinds["school"]),
                           _group("clinics", RED, kinds["clinic"]),
                           _group("parks", GREEN, kinds["park"])]}
    return _building_indicator(store, key, year, new_since)


def _leakage_features(store: TwinStore, key: str) -> dict[str, Any]:
    """What the water balance is made of: the DMA boundary valves and the
    features carrying its inlet, outlet and customer meters."""
    from twin.analysis.water_balance import meters

    by_role: dict[str, set[str]] = {}
    for m in meters(store):
        by_role.setdefault(m.role, set()).add(m.feature)
    valves = [f.id for f in store.query(Query(layers=("pipe_nodes",), free_attributes=False))
              if f.attributes.get("dma_boundary") in (True, 1, "true", "yes")]
    colours = {"inlet": BLUE, "outlet": ORANGE, "customer": GREEN}
    groups = [_group("DMA boundary valves", RED, valves)] + [
        _group(f"{role} meters", colours.get(role, BLUE), sorted(ids))
        for role, ids in sorted(by_role.items())]
    return {"key": key, "spec": f"indicator:{key}", "notes": [],
            "title": "Water balance: " + ", ".join(
                [f"{len(valves)} boundary valves"]
                + [f"{len(v)} {r} meters" for r, v in sorted(by_role.items())]),
            "groups": groups}


def _building_indicator(store: TwinStore, key: str, year: int, new_since: int
                        ) -> dict[str, Any]:
    b = _buildings(store)

    def residential(f) -> bool:
        return "residential" in str(f.attributes.get("function") or "").lower()

    def new(f) -> bool:
        y = f.attributes.get("year_built")
        return y is not None and y >= new_since

    def storeys(f) -> int:
        s = f.attributes.get("storeys")
        return -1 if s is None else int(s)

    if key == "residential_over_18_storeys":
        high = [f.id for f in b if residential(f) and storeys(f) > 18]
        return {"key": key, "spec": f"indicator:{key}", "notes": [],
                "title": f"Residential buildings above 18 storeys: {len(high)}",
                "groups": [_group("above 18 storeys", RED, high)]}
    if key == "new_residential_6_storeys_or_less":
        sel = [f for f in b if residential(f) and new(f) and storeys(f) >= 0]
        low = [f.id for f in sel if storeys(f) <= 6]
        high = [f.id for f in sel if storeys(f) > 6]
        return {"key": key, "spec": f"indicator:{key}", "notes": [],
                "title": f"New residential buildings (built {new_since} or later): {len(low)} "
                         f"at 6 storeys or fewer, {len(high)} higher",
                "groups": [_group("6 storeys or fewer", GREEN, low),
                           _group("more than 6 storeys", ORANGE, high)]}
    flags = {"green_building_share": ("green_star", "rated green", "no green rating", True),
             "prefabricated_share": ("prefabricated", "prefabricated", "conventional", True),
             "energy_retrofit_area": ("energy_retrofit", "retrofit done", "not retrofitted",
                                      False)}
    if key in flags:
        attr, yes, no, only_new = flags[key]
        done: list[str] = []
        not_done: list[str] = []
        for f in b:
            if only_new and not new(f):
                continue
            v = f.attributes.get(attr)
            flag = (v >= 1 if isinstance(v, (int, float)) and not isinstance(v, bool)
                    else _flag(v))
            if flag is None:
                continue
            (done if flag else not_done).append(f.id)
        scope = f"new buildings (built {new_since} or later)" if only_new else "buildings"
        return {"key": key, "spec": f"indicator:{key}", "notes": [],
                "title": f"{len(done)} of {len(done) + len(not_done)} {scope} {yes}",
                "groups": [_group(yes, GREEN, done), _group(no, ORANGE, not_done)]}
    raise NotFoundError(f"indicator {key!r} has no feature set; indicators: heating_renewal, "
                        "gas_age, water_supply_age, residential_over_18_storeys, "
                        "new_residential_6_storeys_or_less, road_density, "
                        "green_building_share, prefabricated_share, energy_retrofit_area, "
                        "clearance_violations, walkable_services, water_leakage")


# -- placement on the map ---------------------------------------------------------------

def map_grid(store: TwinStore, n: int) -> dict[str, Any]:
    """An ``n`` x ``n`` grid over the twin's extent: viewer coordinates
    (metres from the origin: x east, z = -north) with their WGS 84 longitude
    and latitude, through pyproj. A viewer interpolates web-map tile
    coordinates over it to drape an XYZ/WMTS map, and takes the sun's
    position at the centre."""
    info = store.info()
    if info.bounds is None:
        raise NotFoundError("the twin is empty: it has no extent to place on a map")
    b = info.bounds
    o = store.origin or (b[0], b[1], b[2])
    xs = np.linspace(b[0], b[3], n)
    ys = np.linspace(b[1], b[4], n)
    gx, gy = np.meshgrid(xs, ys)
    to_ll = Transformer.from_crs(store.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(gx.ravel(), gy.ravel(), errcheck=True)
    clon, clat = to_ll.transform((b[0] + b[3]) / 2, (b[1] + b[4]) / 2, errcheck=True)
    return {"n": n, "crs": crs_uri(store.crs), "origin": list(o),
            "x": np.round(gx.ravel() - o[0], 3).tolist(),
            "z": np.round(-(gy.ravel() - o[1]), 3).tolist(),
            "lon": np.round(lon, 8).tolist(), "lat": np.round(lat, 8).tolist(),
            "centre": {"lon": round(float(clon), 8), "lat": round(float(clat), 8)},
            "ground": round(float(b[2] - o[2]), 3)}


# -- the scene ---------------------------------------------------------------------------

def scene(store: TwinStore, q: Query) -> tuple[bytes, int, int]:
    """The lean GLB of a scene query: ``(glb, features, draw_calls)``."""
    from viewer.scene import TwinLookups
    from viewer.web_scene import web_scene_glb

    hidden = hidden_by_conflation(store)
    layers = store.layers()
    colours = {x.name: x.colour for x in layers}
    lines = [x.name for x in layers if x.is_utility]
    feats = (f for f in store.query(q) if f.id not in hidden)
    lookups = TwinLookups.of(store)  # terrain for 2D lines, parents of IFC parts
    data, stats = web_scene_glb(feats, store.origin or (0.0, 0.0, 0.0), colours,
                                crs=crs_uri(store.crs), line_layers=lines,
                                ground=lookups.ground, parent_of=lookups.parent_of)
    return data, stats.features, stats.merged + stats.instanced + stats.lines
