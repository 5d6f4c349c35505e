"""City health check (城市体检) indicators computed from the twin.

Each :class:`Indicator` carries its value, the formula, the layers and
attributes it read, its coverage (how many features had the data) and,
where the policy sets one, the 2025 target and whether it is met. An
indicator whose data the twin lacks says so (``value=None`` and a reason)
instead of guessing.

Every indicator has one :attr:`Indicator.status`: ``"met"`` or ``"not met"``
against its target, ``"no data"`` when the twin holds nothing to measure (no
heating pipes, no new building with a prefabrication flag: 0 of 0 is never
a target met or missed), ``"no target"`` when the policy sets none here.

Buildings are read from the ``buildings`` layer (a BIM building linked to
its GIS twin counts once, as the GIS record); their indicators are in
:mod:`twin.analysis.building_indicators`, the value types in
:mod:`twin.analysis.indicator`. This module computes the network, street,
clearance, walking and water indicators and the whole check
(:func:`health_check`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import shapely

from ..numbers import is_whole_number
from ..query import Query
from ..store.base import TwinStore
from .ageing import age_bands, renewal_list
from .building_indicators import (
    Buildings,
    green_share,
    high_rise_residential,
    new_low_rise_share,
    prefab_share,
    read_buildings,
    residential,
    retrofit_area,
)
from .clearance import check_twin_clearances
from .indicator import (
    MET,
    NO_DATA,
    NO_TARGET,
    NOT_MET,
    HealthCheck,
    Indicator,
    coverage_text,
    parts,
    share,
)
from .segments import load_segments
from .walking import StreetNetwork

__all__ = [
    "GRID_DETOUR", "MET", "NO_DATA", "NO_TARGET", "NOT_MET", "RENEWAL_PLAN", "HealthCheck",
    "Indicator", "clearance_violations", "green_share", "health_check", "heating_renewal",
    "high_rise_residential", "new_low_rise_share", "pipes_by_age", "prefab_share",
    "retrofit_area", "road_density", "walkable_services", "water_leakage",
]

#: Mean detour of walking on a street grid against the straight line (4/pi).
GRID_DETOUR = 4 / np.pi


#: The plan that sets the ageing targets of gas, water supply and heating pipes.
RENEWAL_PLAN = "城市燃气管道等老化更新改造实施方案（2022—2025年）"


def heating_renewal(store: TwinStore, year: int, min_age: int = 20) -> Indicator:
    seg = load_segments(store, ("heating",))
    rl = renewal_list(seg, year, min_age, ("heating",))
    km = sum(i.length_m for i in rl.items) / 1000
    total_km = rl.total_length_m / 1000
    known = rl.total_segments - rl.unknown_age_segments
    return Indicator(
        "heating_renewal", f"Heating pipes in service {min_age} years or more",
        f"运行{min_age}年以上的供热管网", share(km, total_km) if known else None,
        "% of heating length",
        f"length of heating segments with {year} - install_year >= {min_age} / all heating length",
        "layer heating: install_year, centreline length",
        coverage_text(known, rl.total_segments, "heating segments with a build year"),
        target="renew all heating pipes in service 20 years or more", meets=len(rl.items) == 0,
        target_zh=f"运行{min_age}年以上的供热管道全部更新改造（{RENEWAL_PLAN}）",
        note=None if known else "the twin has no heating pipes" if not rl.total_segments
        else "no heating pipe has an install year",
        details={"count": len(rl.items), "km": round(km, 3), "total_km": round(total_km, 3),
                 "unknown_age_segments": rl.unknown_age_segments,
                 "bands": [{"band": r.band, "segments": r.segments, "km": r.length_km}
                           for r in age_bands(seg, year)] if known else [],
                 "min_age": min_age},
        **parts(known > 0, km, total_km, "share"))


def pipes_by_age(store: TwinStore, year: int, layer: str, title: str, title_zh: str,
                 min_age: int = 20) -> Indicator:
    """Length per age band, and the share in service ``min_age`` years or
    more: the age from which the renewal plan (:data:`RENEWAL_PLAN`) has a
    network's pipes renewed (gas 20 years, water supply 30)."""
    seg = load_segments(store, (layer,))
    rows = age_bands(seg, year)
    total = sum(r.length_km for r in rows)
    old = sum(r.length_km for r in rows
              if r.band not in ("unknown",) and _band_min(r.band) >= min_age)
    known = int((seg.install_year >= 0).sum())
    what, what_zh = {"gas": ("gas", "燃气"), "water_supply": ("water supply", "供水")}.get(
        layer, (layer, layer))
    return Indicator(
        f"{layer}_age", title, title_zh, share(old, total) if known else None,
        f"% of length aged {min_age}+ years", "length per age band (years in service)",
        f"layer {layer}: install_year, centreline length",
        coverage_text(known, len(seg), f"{layer} segments with a build year"),
        details={"bands": [{"band": r.band, "segments": r.segments, "km": r.length_km}
                           for r in rows], "min_age": min_age},
        target=f"renew all {what} pipes in service {min_age} years or more",
        target_zh=f"使用{min_age}年以上的{what_zh}管道全部更新改造（{RENEWAL_PLAN}）",
        meets=old == 0,
        **parts(known > 0, old, total, "share"),
        note=None if known else f"the twin has no {layer} pipes" if not len(seg)
        else f"no {layer} pipe has an install year")


def _band_min(label: str) -> int:
    head = label.rstrip("+").split("-")[0]
    return int(head) if is_whole_number(head) else 0


def _road_length(r, how: Counter) -> float:
    """Length of one road surface or line, and how it was measured."""
    g = r.footprint
    if g is None:
        return 0.0
    if g.geom_type in ("LineString", "MultiLineString"):
        how["centreline"] += 1
        return g.length
    w = r.attributes.get("width_m")
    if isinstance(w, (int, float)) and w > 0:
        how["area / width_m"] += 1
        return g.area / w
    how["half perimeter"] += 1
    return g.length / 2


def road_density(store: TwinStore) -> Indicator:
    surfaces = list(store.query(Query(layers=("landuse", "roads"))))
    roads = [f for f in surfaces if f.layer == "roads"]
    centrelines = [f for f in store.query(Query(layers=("road_centrelines",)))
                   if f.footprint is not None]
    if not roads and not centrelines:
        return Indicator("road_density", "Road network density", "道路网密度", None,
                         "km/km²", "", "layers road_centrelines, roads", "no roads",
                         target=">= 8.5 km/km²", note="the twin has no roads")
    length = 0.0
    how: Counter[str] = Counter()
    if centrelines:  # the standard measure: centreline length
        length = float(shapely.length(shapely.force_2d(
            np.array([f.footprint for f in centrelines], dtype=object))).sum())
        how["road_centrelines"] = len(centrelines)
    else:
        for r in roads:
            length += _road_length(r, how)
    extent_feats = [f.footprint for f in surfaces
                    if f.footprint is not None and f.footprint.geom_type in
                    ("Polygon", "MultiPolygon")]
    if extent_feats:
        built = shapely.union_all(extent_feats).buffer(1.0).buffer(-1.0)
        area_from = "union of land-use blocks and road surfaces"
    else:
        built = shapely.convex_hull(shapely.union_all(
            [f.footprint for f in store.query(Query(layers=("buildings",))) if f.footprint]))
        area_from = "convex hull of the buildings"
    km2 = built.area / 1e6
    value = round(length / 1000 / km2, 3) if km2 > 0 else None
    return Indicator(
        "road_density", "Road network density", "道路网密度", value, "km/km²",
        "road length (km) / built-up area (km²)",
        f"road length from {', '.join(f'{k}: {v}' for k, v in how.items())}; "
        f"built-up area: {area_from}",
        coverage_text(sum(how.values()), len(centrelines) or len(roads), "roads with geometry"),
        target=">= 8.5 km/km²", meets=value is not None and value >= 8.5,
        target_zh="建成区路网密度不低于8.5公里/平方公里",
        details={"road_km": round(length / 1000, 3), "built_up_km2": round(km2, 4)},
        **parts(value is not None, length / 1000, km2, "ratio"))


def clearance_violations(store: TwinStore) -> Indicator:
    c = check_twin_clearances(store)
    v = c.confirmed  # clashes between two pipes of assumed depth are counted apart
    by_rule = Counter(x.rule for x in v)
    return Indicator(
        "clearance_violations", "Pipe clearance violations (GB 50289)", "管线净距不足",
        float(len(v)) if c.segments else None, "violations",
        "pairs closer than the rule's minimum clear distance "
        "(not counting unconfirmed crossings of two pipes of assumed depth)",
        "all utility layers (centrelines, sizes, depth_source) and building footprints",
        coverage_text(c.segments, c.segments, "pipe segments checked"), target="none",
        target_zh="无净距不足（GB 50289）",
        meets=len(v) == 0,
        note=(f"{len(c.unconfirmed)} more crossings between pipes of assumed depth need a "
              "survey (unconfirmed)") if c.unconfirmed else None,
        details={"by_rule": dict(by_rule.most_common(20)), "unconfirmed": len(c.unconfirmed)},
        **parts(c.segments > 0, len(v), c.segments, "sum"))


def walkable_services(store: TwinStore, b: Buildings, minutes: float = 15.0,
                      speed_kmh: float = 4.0) -> Indicator:
    """Residential buildings with a school, a clinic and a park all within
    ``minutes`` of walking. Facilities are buildings or land-use blocks whose
    ``function`` names them. Walking distance is routed along the
    ``road_centrelines`` layer when the twin has one (see
    :mod:`twin.analysis.walking`), else the straight line x 4/pi (the mean
    detour on a street grid), and the indicator says which."""
    reach = speed_kmh * 1000 * minutes / 60
    title = f"Residential buildings within {minutes:g} minutes' walk of a school, a clinic " \
        "and a park"
    kinds: dict[str, list] = {"school": [], "clinic": [], "park": []}
    for f in store.query(Query(layers=("buildings", "landuse", "vegetation"))):
        fn = str(f.attributes.get("function") or "").lower()
        for k in kinds:
            if k in fn and f.footprint is not None:
                kinds[k].append(f.footprint)
    res = np.flatnonzero(residential(b))
    missing = [k for k, v in kinds.items() if not v]
    if missing or not len(res):
        return Indicator("walkable_services", title, "15分钟生活圈覆盖率",
                         None, "% of residential buildings", "", "layers buildings, landuse",
                         "not computed", note=f"no {', '.join(missing)} in the twin"
                         if missing else "no residential buildings")
    homes = list(shapely.centroid(np.array([b.footprints[i] for i in res], dtype=object)))
    streets = [f.footprint for f in store.query(Query(layers=("road_centrelines",)))
               if f.footprint is not None]
    if streets:
        net = StreetNetwork(streets)
        dists = net.nearest(homes, kinds)
        how = (f"routed along {len(streets)} road centrelines ({net.km:.1f} km), plus the "
               "straight legs from each building and facility to its nearest street")
        note = None
        data = "layers buildings, landuse, vegetation: function; road_centrelines"
    else:
        dists = {}
        for k, geoms in kinds.items():
            _, d = shapely.STRtree(geoms).query_nearest(homes, return_distance=True,
                                                        all_matches=False)
            dists[k] = d * GRID_DETOUR
        how = "straight line x 4/pi"
        note = "no road_centrelines layer: walking distance approximated on a street grid"
        data = "layers buildings, landuse, vegetation: function"
    ok = np.ones(len(res), dtype=bool)
    for k in kinds:
        ok &= dists[k] <= reach
    return Indicator(
        "walkable_services", title, "15分钟生活圈覆盖率",
        share(float(ok.sum()), float(len(res))), "% of residential buildings",
        f"residential buildings whose walk ({how}; {speed_kmh:g} km/h) to the nearest school, "
        "clinic and park are all <= the limit / residential buildings",
        data, coverage_text(len(res), len(res), "residential buildings"), note=note,
        details={"reach_m": reach, "routed": bool(streets),
                 "facilities": {k: len(v) for k, v in kinds.items()},
                 "median_walk_m": {k: round(float(np.median(v)), 1) for k, v in dists.items()},
                 "unreachable": {k: int(np.isinf(v).sum()) for k, v in dists.items()}},
        **parts(True, ok.sum(), len(res), "share"))


def water_leakage(store: TwinStore, year: int) -> Indicator:
    """综合漏损率 of the water network over the calendar ``year`` (China
    Standard Time) from the DMA water balance (:mod:`.water_balance`)."""
    from datetime import datetime, timedelta, timezone

    from .water_balance import TARGET, TARGET_2025, water_balance

    cst = timezone(timedelta(hours=8))
    start = int(datetime(year, 1, 1, tzinfo=cst).timestamp() * 1000)
    end = int(datetime(year + 1, 1, 1, tzinfo=cst).timestamp() * 1000)
    title = "Water network leakage rate"
    formula = "(system input volume - billed consumption) / system input volume, all DMAs"
    data = "SensorThings meters (inlet, outlet, customer) on the water network 'JS'"
    balances = water_balance(store, start, end)
    if not balances or balances[-1].leakage_rate is None:
        return Indicator("water_leakage", title, "供水管网漏损率", None, "%", formula, data,
                         "no DMA with inlet readings in the year", target=f"< {TARGET:g}%",
                         target_zh=f"公共供水管网漏损率低于{TARGET:g}%",
                         note="define DMAs (boundary valves with dma_boundary=true) and put "
                              "inlet and customer meters on the network")
    city = balances[-1]
    rate = city.leakage_rate
    return Indicator(
        "water_leakage", title, "供水管网漏损率", rate, "%", formula, data,
        f"{len(balances) - 1} DMAs, inlet readings for {100 * city.coverage:.1f}% of the "
        "year's hours", target=f"< {TARGET:g}%", meets=rate is not None and rate < TARGET,
        target_zh=f"公共供水管网漏损率低于{TARGET:g}%",
        note=f"national target {TARGET_2025:g}% by 2025",
        details={"dmas": [b.to_dict() for b in balances[:-1]]},
        **parts(True, city.non_revenue_m3, city.system_input_m3, "share"))


def health_check(store: TwinStore, *, year: int, new_since: int | None = None,
                 county_town: bool = False, main_city: bool = False) -> HealthCheck:
    """Every indicator of the yearly city health check for ``year``.

    ``new_since``: first build year counted as a *new* building (default
    ``year - 5``); ``county_town`` applies the county-town targets on
    building heights; ``main_city`` the 40% prefabrication target.
    """
    new_since = year - 5 if new_since is None else new_since
    b = read_buildings(store)
    return HealthCheck(year, new_since, county_town, (
        heating_renewal(store, year),
        pipes_by_age(store, year, "gas", "Gas pipes by age", "燃气管网管龄"),
        pipes_by_age(store, year, "water_supply", "Water supply pipes by age", "供水管网管龄",
                     min_age=30),
        high_rise_residential(b, county_town),
        new_low_rise_share(b, new_since, county_town),
        road_density(store),
        green_share(b, new_since),
        prefab_share(b, new_since, main_city),
        retrofit_area(b),
        clearance_violations(store),
        walkable_services(store, b),
        water_leakage(store, year),
    ))
