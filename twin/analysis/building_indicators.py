"""Health-check indicators of the buildings layer: heights, new low-rise
housing, green and prefabricated buildings, energy retrofits.

Buildings are read once (:func:`read_buildings`) with the typed attributes
``function``, ``storeys``, ``year_built`` and the free attributes
``floor_area_m2`` (else footprint area x storeys), ``green_star`` (green
building star level, 0 = none), ``prefabricated`` and ``energy_retrofit``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..query import Query
from ..store.base import TwinStore
from .indicator import Indicator, coverage_text, parts, share


@dataclass(frozen=True)
class Buildings:
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


def read_buildings(store: TwinStore) -> Buildings:
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
    return Buildings(
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


def residential(b: Buildings) -> np.ndarray:
    return np.char.find(b.function.astype(str), "residential") >= 0


def high_rise_residential(b: Buildings, county_town: bool) -> Indicator:
    res = residential(b)
    known = res & (b.storeys >= 0)
    high = known & (b.storeys > 18)
    return Indicator(
        "residential_over_18_storeys", "Residential buildings above 18 storeys",
        "18层以上居住建筑", float(high.sum()) if known.any() else None, "buildings",
        "count of residential buildings with storeys > 18",
        "layer buildings: function, storeys",
        coverage_text(int(known.sum()), int(res.sum()), "residential buildings with storeys"),
        target="county towns: none above 18 storeys" if county_town else None,
        target_zh="县城新建住宅最高不超过18层" if county_town else None,
        meets=bool(high.sum() == 0) if county_town else None,
        note="no residential building with a storey count" if not known.any() else
        None if county_town else "the target applies to county towns; this twin is not "
        "marked as one (county_town=False)",
        details={"ids": [b.ids[i] for i in np.flatnonzero(high)][:200],
                 "share_pct": share(float(high.sum()), float(known.sum()))},
        **parts(known.any(), high.sum(), known.sum(), "sum"))


def new_low_rise_share(b: Buildings, new_since: int, county_town: bool) -> Indicator:
    new = residential(b) & (b.year >= new_since) & np.isfinite(b.floor_area) & \
        (b.storeys >= 0)
    area = b.floor_area[new].sum()
    low = b.floor_area[new & (b.storeys <= 6)].sum()
    return Indicator(
        "new_residential_6_storeys_or_less",
        f"Floor area of new residential buildings (built {new_since} or later) at 6 storeys "
        "or fewer", "新建6层及以下住宅建筑面积占比", share(low, area), "% of floor area",
        "floor area of new residential buildings with storeys <= 6 / all their floor area",
        "layer buildings: function, year_built, storeys, floor_area_m2 (else footprint x storeys)",
        coverage_text(int(new.sum()), int((residential(b) & (b.year >= new_since)).sum()),
                      "new residential buildings with floor area and storeys"),
        target=">= 70% in county towns" if county_town else None,
        target_zh="县城新建住宅中6层及以下不低于70%" if county_town else None,
        meets=(share(low, area) or 0) >= 70 if county_town and area > 0 else None,
        details={"new_buildings": int(new.sum()), "floor_area_m2": round(float(area), 1)},
        **parts(area > 0, low, area, "share"))


def green_share(b: Buildings, new_since: int) -> Indicator:
    new = b.year >= new_since
    known = new & (b.green >= 0)
    green = known & (b.green >= 1)
    return Indicator(
        "green_building_share", f"Green buildings among new buildings (built {new_since} or "
        "later)", "新建绿色建筑占比", share(float(green.sum()), float(known.sum())),
        "% of new buildings", "new buildings with green_star >= 1 / new buildings with a rating",
        "layer buildings: year_built, green_star",
        coverage_text(int(known.sum()), int(new.sum()),
                      "new buildings with a green-building rating"),
        target="100% of new urban buildings", target_zh="城镇新建建筑全面执行绿色建筑标准（100%）",
        meets=bool(known.any() and green.sum() ==
                                                         known.sum()) if known.any() else None,
        details={"by_star": {str(k): int(v) for k, v in
                             sorted(Counter(b.green[known].tolist()).items())}},
        **parts(known.any(), green.sum(), known.sum(), "share"))


def prefab_share(b: Buildings, new_since: int, main_city: bool) -> Indicator:
    new = (b.year >= new_since) & (b.prefab >= 0) & np.isfinite(b.floor_area)
    area = b.floor_area[new].sum()
    pre = b.floor_area[new & (b.prefab == 1)].sum()
    target = 40.0 if main_city else 30.0
    value = share(pre, area)
    return Indicator(
        "prefabricated_share", f"Prefabricated share of new floor area (built {new_since} or "
        "later)", "装配式建筑占新建建筑面积比例", value, "% of floor area",
        "floor area of new prefabricated buildings / floor area of new buildings",
        "layer buildings: year_built, prefabricated, floor_area_m2 (else footprint x storeys)",
        coverage_text(int(new.sum()), int((b.year >= new_since).sum()),
                      "new buildings with the prefabricated flag and a floor area"),
        target=f">= {target:.0f}%" + (" (main cities)" if main_city else ""),
        target_zh=f"装配式建筑占新建建筑面积比例不低于{target:.0f}%"
        + ("（重点推进地区）" if main_city else ""),
        meets=value is not None and value >= target,
        details={"new_floor_area_m2": round(float(area), 1),
                 "prefabricated_m2": round(float(pre), 1)},
        **parts(value is not None, pre, area, "share"))


def retrofit_area(b: Buildings) -> Indicator:
    known = (b.retrofit >= 0) & np.isfinite(b.floor_area)
    done = known & (b.retrofit == 1)
    return Indicator(
        "energy_retrofit_area", "Floor area with energy retrofit done", "既有建筑节能改造面积",
        round(float(b.floor_area[done].sum()), 1) if known.any() else None, "m²",
        "sum of floor area of buildings with energy_retrofit = true",
        "layer buildings: energy_retrofit, floor_area_m2 (else footprint x storeys)",
        coverage_text(int(known.sum()), len(b.ids),
                      "buildings with the retrofit flag and a floor area"),
        details={"buildings": int(done.sum()),
                 "share_of_floor_area_pct": share(float(b.floor_area[done].sum()),
                                                  float(b.floor_area[known].sum()))},
        **parts(known.any(), b.floor_area[done].sum(), b.floor_area[known].sum(), "sum"))
