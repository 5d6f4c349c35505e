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
its GIS twin counts once, as the GIS record) with the typed attributes
``function``, ``storeys``, ``year_built`` and the free attributes
``floor_area_m2`` (else footprint area x storeys), ``green_star`` (green
building star level, 0 = none), ``prefabricated`` and ``energy_retrofit``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import shapely

from ..numbers import is_whole_number
from ..query import Query
from ..store.base import TwinStore
from .ageing import age_bands, renewal_list
from .clearance import check_twin_clearances
from .rollup import ROLLUPS
from .segments import load_segments
from .walking import StreetNetwork

#: Mean detour of walking on a street grid against the straight line (4/pi).
GRID_DETOUR = 4 / np.pi


#: The plan that sets the ageing targets of gas, water supply and heating pipes.
RENEWAL_PLAN = "城市燃气管道等老化更新改造实施方案（2022—2025年）"

#: The statuses an indicator can have.
MET, NOT_MET, NO_DATA, NO_TARGET = "met", "not met", "no data", "no target"


@dataclass(frozen=True)
class Indicator:
    """One indicator. ``value=None`` means the twin has no data for it; then
    ``meets`` is ``None`` and ``status`` is ``"no data"`` whatever the target.

    >>> Indicator("x", "X", "X", None, "%", "", "", "0 of 0 pipes", target="none",
    ...           meets=True).status
    'no data'
    """

    key: str
    title: str
    title_zh: str
    value: float | None
    unit: str
    formula: str
    data: str
    coverage: str
    target: str | None = None
    meets: bool | None = None
    note: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: the target in Chinese (the report is Chinese first)
    target_zh: str | None = None
    #: what the value is made of, so that a region can total its members'
    #: indicators (:func:`combine`) instead of averaging their percentages:
    #: ``"share"`` (value = 100 x numerator / denominator), ``"ratio"``
    #: (numerator / denominator) or ``"sum"`` (value = numerator; the
    #: denominator, when given, is what was examined); ``None`` for both when
    #: nothing was measured
    numerator: float | None = None
    denominator: float | None = None
    rollup: str = "sum"
    #: ``"met"``, ``"not met"``, ``"no data"`` or ``"no target"`` (derived)
    status: str = field(init=False, default=NO_TARGET)

    def __post_init__(self) -> None:  # plain Python values, never numpy scalars
        if self.rollup not in ROLLUPS:
            raise ValueError(f"rollup {self.rollup!r} is not one of {', '.join(ROLLUPS)}")
        for name in ("numerator", "denominator"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, round(float(v), 6))
        if self.value is not None:
            object.__setattr__(self, "value", float(self.value))
        if self.value is None:  # nothing measured: no target can be met or missed
            object.__setattr__(self, "meets", None)
        elif self.meets is not None:
            object.__setattr__(self, "meets", bool(self.meets))
        object.__setattr__(self, "status", NO_DATA if self.value is None else
                           NO_TARGET if self.meets is None else MET if self.meets else NOT_MET)


@dataclass(frozen=True)
class HealthCheck:
    year: int
    new_since: int
    county_town: bool
    indicators: tuple[Indicator, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"year": self.year, "new_since": self.new_since,
                "county_town": self.county_town,
                "indicators": [asdict(i) for i in self.indicators]}

    def __getitem__(self, key: str) -> Indicator:
        for i in self.indicators:
            if i.key == key:
                return i
        raise KeyError(key)


@dataclass(frozen=True)
class _Buildings:
    ids: list[str]
    function: np.ndarray
    storeys: np.ndarray  # -1 unknown
    year: np.ndarray  # -1 unknown
    floor_area: np.ndarray
    area_from: np.ndarray  # "attribute" or "footprint"
    green: np.ndarray  # -1 unknown, else star level
    prefab: np.ndarray  # -1 unknown, 0/1
    retrofit: np.ndarray  # -1 unknown, 0/1
    footprints: list[Any]


def _flag(value: Any) -> int:
    if value is None:
        return -1
    if isinstance(value, str):
        return 1 if value.strip().lower() in ("1", "true", "yes", "y", "是") else 0
    return int(bool(value))


def _buildings(store: TwinStore) -> _Buildings:
    # one record per real building: parts are not buildings, and a BIM model linked to
    # the GIS building it describes (twin.conflation) is that building's second model
    feats = [f for f in store.query(Query(layers=("buildings",)))
             if f.type != "BuildingPart" and not f.attributes.get("same_as")]
    n = len(feats)
    storeys = np.array([f.attributes.get("storeys") if f.attributes.get("storeys") is not None
                        else -1 for f in feats], dtype=np.int64).reshape(n)
    area, src = [], []
    for f, s in zip(feats, storeys):
        a = f.attributes.get("floor_area_m2")
        if isinstance(a, (int, float)) and a > 0:
            area.append(float(a))
            src.append("attribute")
        elif f.footprint is not None and s > 0:
            area.append(float(f.footprint.area) * int(s))
            src.append("footprint")
        else:
            area.append(np.nan)
            src.append("none")
    green = [f.attributes.get("green_star") for f in feats]
    return _Buildings(
        ids=[f.id for f in feats],
        function=np.array([str(f.attributes.get("function") or "").lower() for f in feats]),
        storeys=storeys,
        year=np.array([f.attributes.get("year_built") if f.attributes.get("year_built")
                       is not None else -1 for f in feats], dtype=np.int64).reshape(n),
        floor_area=np.array(area, dtype=np.float64).reshape(n), area_from=np.array(src),
        green=np.array([int(g) if isinstance(g, (int, float)) else -1 for g in green],
                       dtype=np.int64).reshape(n),
        prefab=np.array([_flag(f.attributes.get("prefabricated")) for f in feats],
                        dtype=np.int64).reshape(n),
        retrofit=np.array([_flag(f.attributes.get("energy_retrofit")) for f in feats],
                          dtype=np.int64).reshape(n),
        footprints=[f.footprint for f in feats],
    )


def _share(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 2) if whole > 0 else None


def _parts(measured: Any, numerator: float, denominator: float | None, rollup: str
           ) -> dict[str, Any]:
    """The numerator and denominator of a value (``None`` when nothing was
    measured), and how a region totals them."""
    if not measured:
        return {"rollup": rollup}
    return {"numerator": float(numerator),
            "denominator": None if denominator is None else float(denominator),
            "rollup": rollup}


def _cov(have: int, total: int, what: str) -> str:
    return f"{have} of {total} {what}"


def heating_renewal(store: TwinStore, year: int, min_age: int = 20) -> Indicator:
    seg = load_segments(store, ("heating",))
    rl = renewal_list(seg, year, min_age, ("heating",))
    km = sum(i.length_m for i in rl.items) / 1000
    total_km = rl.total_length_m / 1000
    known = rl.total_segments - rl.unknown_age_segments
    return Indicator(
        "heating_renewal", f"Heating pipes in service {min_age} years or more",
        f"运行{min_age}年以上的供热管网", _share(km, total_km) if known else None,
        "% of heating length",
        f"length of heating segments with {year} - install_year >= {min_age} / all heating length",
        "layer heating: install_year, centreline length",
        _cov(known, rl.total_segments, "heating segments with a build year"),
        target="renew all heating pipes in service 20 years or more", meets=len(rl.items) == 0,
        target_zh=f"运行{min_age}年以上的供热管道全部更新改造（{RENEWAL_PLAN}）",
        note=None if known else "the twin has no heating pipes" if not rl.total_segments
        else "no heating pipe has an install year",
        details={"count": len(rl.items), "km": round(km, 3), "total_km": round(total_km, 3),
                 "unknown_age_segments": rl.unknown_age_segments,
                 "bands": [{"band": r.band, "segments": r.segments, "km": r.length_km}
                           for r in age_bands(seg, year)] if known else [],
                 "min_age": min_age},
        **_parts(known > 0, km, total_km, "share"))


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
        f"{layer}_age", title, title_zh, _share(old, total) if known else None,
        f"% of length aged {min_age}+ years", "length per age band (years in service)",
        f"layer {layer}: install_year, centreline length",
        _cov(known, len(seg), f"{layer} segments with a build year"),
        details={"bands": [{"band": r.band, "segments": r.segments, "km": r.length_km}
                           for r in rows], "min_age": min_age},
        target=f"renew all {what} pipes in service {min_age} years or more",
        target_zh=f"使用{min_age}年以上的{what_zh}管道全部更新改造（{RENEWAL_PLAN}）",
        meets=old == 0,
        **_parts(known > 0, old, total, "share"),
        note=None if known else f"the twin has no {layer} pipes" if not len(seg)
        else f"no {layer} pipe has an install year")


def _band_min(label: str) -> int:
    head = label.rstrip("+").split("-")[0]
    return int(head) if is_whole_number(head) else 0


def _residential(b: _Buildings) -> np.ndarray:
    return np.char.find(b.function.astype(str), "residential") >= 0


def high_rise_residential(b: _Buildings, county_town: bool) -> Indicator:
    res = _residential(b)
    known = res & (b.storeys >= 0)
    high = known & (b.storeys > 18)
    return Indicator(
        "residential_over_18_storeys", "Residential buildings above 18 storeys",
        "18层以上居住建筑", float(high.sum()) if known.any() else None, "buildings",
        "count of residential buildings with storeys > 18",
        "layer buildings: function, storeys",
        _cov(int(known.sum()), int(res.sum()), "residential buildings with storeys"),
        target="county towns: none above 18 storeys" if county_town else None,
        target_zh="县城新建住宅最高不超过18层" if county_town else None,
        meets=bool(high.sum() == 0) if county_town else None,
        note="no residential building with a storey count" if not known.any() else
        None if county_town else "the target applies to county towns; this twin is not "
        "marked as one (county_town=False)",
        details={"ids": [b.ids[i] for i in np.flatnonzero(high)][:200],
                 "share_pct": _share(float(high.sum()), float(known.sum()))},
        **_parts(known.any(), high.sum(), known.sum(), "sum"))


def new_low_rise_share(b: _Buildings, new_since: int, county_town: bool) -> Indicator:
    new = _residential(b) & (b.year >= new_since) & np.isfinite(b.floor_area) & \
        (b.storeys >= 0)
    area = b.floor_area[new].sum()
    low = b.floor_area[new & (b.storeys <= 6)].sum()
    return Indicator(
        "new_residential_6_storeys_or_less",
        f"Floor area of new residential buildings (built {new_since} or later) at 6 storeys "
        "or fewer", "新建6层及以下住宅建筑面积占比", _share(low, area), "% of floor area",
        "floor area of new residential buildings with storeys <= 6 / all their floor area",
        "layer buildings: function, year_built, storeys, floor_area_m2 (else footprint x storeys)",
        _cov(int(new.sum()), int((_residential(b) & (b.year >= new_since)).sum()),
             "new residential buildings with floor area and storeys"),
        target=">= 70% in county towns" if county_town else None,
        target_zh="县城新建住宅中6层及以下不低于70%" if county_town else None,
        meets=(_share(low, area) or 0) >= 70 if county_town and area > 0 else None,
        details={"new_buildings": int(new.sum()), "floor_area_m2": round(float(area), 1)},
        **_parts(area > 0, low, area, "share"))


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
        _cov(sum(how.values()), len(centrelines) or len(roads), "roads with geometry"),
        target=">= 8.5 km/km²", meets=value is not None and value >= 8.5,
        target_zh="建成区路网密度不低于8.5公里/平方公里",
        details={"road_km": round(length / 1000, 3), "built_up_km2": round(km2, 4)},
        **_parts(value is not None, length / 1000, km2, "ratio"))


def green_share(b: _Buildings, new_since: int) -> Indicator:
    new = b.year >= new_since
    known = new & (b.green >= 0)
    green = known & (b.green >= 1)
    return Indicator(
        "green_building_share", f"Green buildings among new buildings (built {new_since} or "
        "later)", "新建绿色建筑占比", _share(float(green.sum()), float(known.sum())),
        "% of new buildings", "new buildings with green_star >= 1 / new buildings with a rating",
        "layer buildings: year_built, green_star",
        _cov(int(known.sum()), int(new.sum()), "new buildings with a green-building rating"),
        target="100% of new urban buildings", target_zh="城镇新建建筑全面执行绿色建筑标准（100%）",
        meets=bool(known.any() and green.sum() ==
                                                         known.sum()) if known.any() else None,
        details={"by_star": {str(k): int(v) for k, v in
                             sorted(Counter(b.green[known].tolist()).items())}},
        **_parts(known.any(), green.sum(), known.sum(), "share"))


def prefab_share(b: _Buildings, new_since: int, main_city: bool) -> Indicator:
    new = (b.year >= new_since) & (b.prefab >= 0) & np.isfinite(b.floor_area)
    area = b.floor_area[new].sum()
    pre = b.floor_area[new & (b.prefab == 1)].sum()
    target = 40.0 if main_city else 30.0
    value = _share(pre, area)
    return Indicator(
        "prefabricated_share", f"Prefabricated share of new floor area (built {new_since} or "
        "later)", "装配式建筑占新建建筑面积比例", value, "% of floor area",
        "floor area of new prefabricated buildings / floor area of new buildings",
        "layer buildings: year_built, prefabricated, floor_area_m2 (else footprint x storeys)",
        _cov(int(new.sum()), int((b.year >= new_since).sum()),
             "new buildings with the prefabricated flag and a floor area"),
        target=f">= {target:.0f}%" + (" (main cities)" if main_city else ""),
        target_zh=f"装配式建筑占新建建筑面积比例不低于{target:.0f}%"
        + ("（重点推进地区）" if main_city else ""),
        meets=value is not None and value >= target,
        details={"new_floor_area_m2": round(float(area), 1),
                 "prefabricated_m2": round(float(pre), 1)},
        **_parts(value is not None, pre, area, "share"))


def retrofit_area(b: _Buildings) -> Indicator:
    known = (b.retrofit >= 0) & np.isfinite(b.floor_area)
    done = known & (b.retrofit == 1)
    return Indicator(
        "energy_retrofit_area", "Floor area with energy retrofit done", "既有建筑节能改造面积",
        round(float(b.floor_area[done].sum()), 1) if known.any() else None, "m²",
        "sum of floor area of buildings with energy_retrofit = true",
        "layer buildings: energy_retrofit, floor_area_m2 (else footprint x storeys)",
        _cov(int(known.sum()), len(b.ids), "buildings with the retrofit flag and a floor area"),
        details={"buildings": int(done.sum()),
                 "share_of_floor_area_pct": _share(float(b.floor_area[done].sum()),
                                                   float(b.floor_area[known].sum()))},
        **_parts(known.any(), b.floor_area[done].sum(), b.floor_area[known].sum(), "sum"))


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
        _cov(c.segments, c.segments, "pipe segments checked"), target="none",
        target_zh="无净距不足（GB 50289）",
        meets=len(v) == 0,
        note=(f"{len(c.unconfirmed)} more crossings between pipes of assumed depth need a "
              "survey (unconfirmed)") if c.unconfirmed else None,
        details={"by_rule": dict(by_rule.most_common(20)), "unconfirmed": len(c.unconfirmed)},
        **_parts(c.segments > 0, len(v), c.segments, "sum"))


def walkable_services(store: TwinStore, b: _Buildings, minutes: float = 15.0,
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
    res = np.flatnonzero(_residential(b))
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
        _share(float(ok.sum()), float(len(res))), "% of residential buildings",
        f"residential buildings whose walk ({how}; {speed_kmh:g} km/h) to the nearest school, "
        "clinic and park are all <= the limit / residential buildings",
        data, _cov(len(res), len(res), "residential buildings"), note=note,
        details={"reach_m": reach, "routed": bool(streets),
                 "facilities": {k: len(v) for k, v in kinds.items()},
                 "median_walk_m": {k: round(float(np.median(v)), 1) for k, v in dists.items()},
                 "unreachable": {k: int(np.isinf(v).sum()) for k, v in dists.items()}},
        **_parts(True, ok.sum(), len(res), "share"))


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
        **_parts(True, city.non_revenue_m3, city.system_input_m3, "share"))


def health_check(store: TwinStore, *, year: int, new_since: int | None = None,
                 county_town: bool = False, main_city: bool = False) -> HealthCheck:
    """Every indicator of the yearly city health check for ``year``.

    ``new_since``: first build year counted as a *new* building (default
    ``year - 5``); ``county_town`` applies the county-town targets on
    building heights; ``main_city`` the 40% prefabrication target.
    """
    new_since = year - 5 if new_since is None else new_since
    b = _buildings(store)
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
