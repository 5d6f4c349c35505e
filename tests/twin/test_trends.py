"""The health check over the years: kept in the twin, trends, warnings (预警)
and the evaluation of a period."""

from __future__ import annotations

import pytest
from builders import second_year, small_city, update

from twin.analysis.indicators import health_check
from twin.analysis.trends import evaluation, trends

pytestmark = pytest.mark.backends("gpkg", "postgis")


def test_checks_are_kept_per_year_and_give_trends_and_warnings(empty_twin):
    store = empty_twin
    first = update(store, small_city())
    second = update(store, second_year(), retire="layers")
    # the check of 2024 on the twin as it was then, 2025 on the twin now
    c24 = health_check(store.at(first.id), year=2024)
    c25 = health_check(store, year=2025)
    store.save_health_check(2024, c24.to_dict(), first.id)
    store.save_health_check(2025, c25.to_dict())
    store.save_health_check(2025, c25.to_dict())  # a second run replaces the first
    kept = store.health_checks()
    assert [(k["year"], k["as_of_batch"]) for k in kept] == [(2024, first.id),
                                                             (2025, second.id)]
    assert kept[1]["report"] == c25.to_dict()
    by_key = {t.key: t for t in trends([k["report"] for k in kept])}
    # building 1 (1995, 6 -> 7 storeys) was re-surveyed, building 3 (a school, 2008)
    # demolished and building 4 (a shop, 2024) is new: two years of each indicator
    assert all(len(t.points) == 2 for t in by_key.values())
    assert [p[0] for p in by_key["heating_renewal"].points] == [2024, 2025]
    for t in by_key.values():
        (_, v0, s0), (_, v1, s1) = t.points
        assert ("crossed target" in t.warnings) == (s0 == "met" and s1 == "not met")


def test_warnings_follow_the_direction_of_each_indicator():
    def check(year, old_pipes, green, status):
        return {"year": year, "indicators": [
            {"key": "heating_renewal", "title": "old", "value": old_pipes, "status": status},
            {"key": "green_building_share", "title": "green", "value": green,
             "status": "no target"}]}

    got = {t.key: t.warnings for t in trends([check(2025, 30.0, 40.0, "not met"),
                                              check(2024, 20.0, 50.0, "met"),
                                              check(2021, 25.0, 10.0, "met")])}
    assert got == {"heating_renewal": ("worse", "crossed target"),
                   "green_building_share": ("worse",)}
    got = {t.key: t.warnings for t in trends([check(2024, 30.0, 40.0, "not met"),
                                              check(2025, 20.0, 50.0, "met")])}
    assert got == {"heating_renewal": (), "green_building_share": ()}
    ev = {r["key"]: r for r in evaluation([check(2021, 25.0, 10.0, "met"),
                                           check(2024, 20.0, 50.0, "met"),
                                           check(2025, 30.0, 40.0, "not met")], 2021, 2025)}
    assert (ev["heating_renewal"]["from"], ev["heating_renewal"]["to"],
            ev["heating_renewal"]["better"]) == (25.0, 30.0, False)
    assert (ev["green_building_share"]["change"], ev["green_building_share"]["better"]) == (
        30.0, True)
    assert evaluation([check(2021, 1.0, 1.0, "met")], 2010, 2015) == []
