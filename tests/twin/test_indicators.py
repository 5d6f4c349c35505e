"""City health check indicators: a hand-checked twin, the demo district
against an independent computation from its source files, the HTML report
and the /indicators endpoint."""

from __future__ import annotations

import json

import pytest
from builders import DEMO_DIR
from click.testing import CliRunner
from fastapi.testclient import TestClient
from shapely.geometry import LineString, box, shape

import twin
from twin.analysis.indicators import health_check

X0, Y0 = 559000.0, 4520800.0


def _b(i, x, storeys, year, function="residential", **attrs):
    return twin.Feature(id=f"hc:B{i}", layer="buildings", type="Building",
                        footprint=box(x, Y0, x + 20, Y0 + 10),
                        attributes={"storeys": storeys, "year_built": year,
                                    "function": function, **attrs})


def _pipe(i, layer, x0, x1, year):
    return twin.Feature(id=f"hc:P{i}", layer=layer, type="PipeSegment",
                        footprint=LineString([(x0, Y0 - 50, 1040), (x1, Y0 - 50, 1040)]),
                        attributes={"install_year": year, "diameter_mm": 200})


@pytest.fixture
def hand(tmp_path):
    store = twin.create_twin(tmp_path / "hc.gpkg", "EPSG:4546")
    feats = [
        # 2023, 20 storeys, prefabricated, 1,000 m2, green 2 stars
        _b(1, X0, 20, 2023, floor_area_m2=1000.0, prefabricated=True, green_star=2),
        # 2022, 6 storeys, not prefabricated, 3,000 m2, no green rating given
        _b(2, X0 + 100, 6, 2022, floor_area_m2=3000.0, prefabricated=False),
        # 2000, 5 storeys, retrofitted: floor area from the footprint, 200 m2 x 5
        _b(3, X0 + 200, 5, 2000, energy_retrofit=True, green_star=0),
        _b(4, X0 + 300, 3, 2010, function="school"),
        _pipe(1, "heating", X0, X0 + 100, 1990),   # 100 m, 35 years old in 2025
        _pipe(2, "heating", X0 + 100, X0 + 400, 2015),  # 300 m
        _pipe(3, "gas", X0, X0 + 50, 2001),
        # a road surface 1 km long and 10 m wide
        twin.Feature(id="hc:R1", layer="roads", type="Road",
                     footprint=box(X0, Y0 - 30, X0 + 1000, Y0 - 20),
                     attributes={"width_m": 10.0}),
        twin.Feature(id="hc:L1", layer="landuse", type="LandUse",
                     footprint=box(X0, Y0 - 500, X0 + 1000, Y0 + 500),
                     attributes={"function": "residential"}),
    ]
    with store.import_batch("hand", "test", "tests", "1") as b:
        b.add(feats)
    yield store
    store.close()


def test_indicators_on_a_hand_checked_twin(hand):
    hc = health_check(hand, year=2025, new_since=2020, county_town=True)
    heat = hc["heating_renewal"]
    assert heat.details["count"] == 1 and heat.details["km"] == pytest.approx(0.1)
    assert heat.value == pytest.approx(25.0) and heat.meets is False
    high = hc["residential_over_18_storeys"]
    assert high.value == 1 and high.meets is False and high.details["ids"] == ["hc:B1"]
    low = hc["new_residential_6_storeys_or_less"]
    assert low.value == pytest.approx(75.0) and low.meets is True  # 3000 / 4000
    assert hc["road_density"].value == pytest.approx(1.0, rel=1e-3)  # 1 km on 1 km2
    assert hc["road_density"].meets is False
    green = hc["green_building_share"]
    assert green.value == pytest.approx(100.0) and green.coverage.startswith("1 of 2")
    prefab = hc["prefabricated_share"]
    assert prefab.value == pytest.approx(25.0) and prefab.meets is False  # 1000 / 4000
    assert hc["energy_retrofit_area"].value == pytest.approx(1000.0)  # 200 m2 x 5
    gas = hc["gas_age"]
    assert gas.value == pytest.approx(100.0)  # 24 years in service
    walk = hc["walkable_services"]
    assert walk.value is None and "clinic" in walk.note and "park" in walk.note


def test_county_targets_only_apply_to_county_towns(hand):
    hc = health_check(hand, year=2025, new_since=2020)
    assert hc["residential_over_18_storeys"].meets is None
    assert "county towns" in hc["residential_over_18_storeys"].note


@pytest.fixture(scope="module")
def demo_check(demo_twin):
    with twin.open_twin(demo_twin, readonly=True) as store:
        yield health_check(store, year=2025)


def _demo(name):
    return json.loads((DEMO_DIR / f"{name}.geojson").read_text(encoding="utf-8"))["features"]


def _demo_buildings():
    """The CityJSON buildings' attributes under the twin's names (the IFC
    community centre has no prefabrication or green-building data)."""
    doc = json.loads((DEMO_DIR / "buildings.city.json").read_text(encoding="utf-8"))
    return [dict(a, storeys=a["storeysAboveGround"], year_built=a["yearOfConstruction"])
            for a in (o["attributes"] for o in doc["CityObjects"].values())]


def test_demo_building_indicators_match_the_source_files(demo_check):
    blds = _demo_buildings()
    res = [p for p in blds if p["function"] == "residential"]
    assert demo_check["residential_over_18_storeys"].value == sum(p["storeys"] > 18 for p in res)
    new = [p for p in blds if p["year_built"] >= 2020]
    area = sum(p["floor_area_m2"] for p in new)
    prefab = sum(p["floor_area_m2"] for p in new if p["prefabricated"])
    assert demo_check["prefabricated_share"].value == pytest.approx(100 * prefab / area,
                                                                    abs=0.01)
    green = sum(p["green_star"] >= 1 for p in new)
    assert demo_check["green_building_share"].value == pytest.approx(100 * green / len(new),
                                                                     abs=0.01)
    retro = sum(p["floor_area_m2"] for p in blds if p["energy_retrofit"])
    assert demo_check["energy_retrofit_area"].value == pytest.approx(retro, abs=0.5)


def test_demo_heating_renewal_matches_the_source_files(demo_check):
    heat = [f for f in _demo("pipes") if f["properties"].get("layer") == "heating"
            or f["properties"].get("utility") == "RL"]
    assert heat, "the demo has heating pipes"
    old = [f for f in heat if 2025 - f["properties"]["install_year"] >= 20]
    got = demo_check["heating_renewal"]
    assert got.details["count"] == len(old)
    km = sum(shape(f["geometry"]).length for f in old) / 1000
    # the twin measures in 3D (pipes follow the terrain): within 1%
    assert got.details["km"] == pytest.approx(km, rel=0.01)


def test_walk_and_road_density_follow_the_centrelines(tmp_path):
    """One street 1 km long along y = Y0 - 20; homes and facilities 20 m north of it."""
    store = twin.create_twin(tmp_path / "walk.gpkg", "EPSG:4546")
    street = LineString([(X0, Y0 - 20), (X0 + 1000, Y0 - 20)])
    feats = [_b(1, X0, 6, 2000), _b(2, X0 + 900, 6, 2000),
             _b(3, X0 + 450, 3, 2010, function="school"),
             _b(4, X0 + 50, 3, 2010, function="clinic"),
             twin.Feature(id="hc:PARK", layer="landuse", type="LandUse",
                          footprint=box(X0 + 900, Y0, X0 + 940, Y0 + 40),
                          attributes={"function": "park"}),
             twin.Feature(id="hc:S1", layer="road_centrelines", type="RoadCentreline",
                          footprint=street)]
    with store.import_batch("walk", "test", "tests", "1") as b:
        b.add(feats)
    hc = health_check(store, year=2025)
    walk = hc["walkable_services"]
    store.close()
    assert walk.details["routed"] is True and walk.note is None
    # homes' centroids (x0+10, x0+910) are 25 m from the street, facilities 20 m; a
    # facility joins the street somewhere along its 20 or 40 m frontage. Home 1: clinic
    # 25 + 40..60 + 20, school 25 + 440..460 + 20, park 25 + 890..930 + 20 (<= 1,000 m);
    # home 2: clinic 25 + 840..860 + 20, school 25 + 440..460 + 20, park 25 + 0..30 + 20
    assert walk.value == pytest.approx(100.0)
    med = walk.details["median_walk_m"]
    assert 45 + (40 + 840) / 2 <= med["clinic"] <= 45 + (60 + 860) / 2
    assert 45 + 440 <= med["school"] <= 45 + 460
    assert 45 + 890 / 2 <= med["park"] <= 45 + (930 + 30) / 2
    road = hc["road_density"]
    assert road.details["road_km"] == pytest.approx(1.0)
    assert "road_centrelines: 1" in road.data


def test_report_renders_with_charts_and_map(demo_twin, tmp_path):
    from twin_cli.main import cli

    out = tmp_path / "report.html"
    js = tmp_path / "hc.json"
    r = CliRunner().invoke(cli, ["health-check", str(demo_twin), "--out", str(out),
                                 "--json", str(js), "--year", "2025"])
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    data = json.loads(js.read_text(encoding="utf-8"))
    assert len(data["indicators"]) == 12
    for ind in data["indicators"]:
        assert ind["title"].replace("'", "&#x27;") in text
    assert text.count("data:image/png;base64,") == 1  # the map
    assert text.count("<svg") == 1  # the age chart, its labels as text
    assert "城市体检" in text


def test_indicators_endpoint(demo_twin):
    from twin_api.app import create_app
    from twin_api.settings import ApiSettings

    with TestClient(create_app(ApiSettings(str(demo_twin)))) as client:
        r = client.get("/indicators", params={"year": 2025, "county_town": "true"})
        assert r.status_code == 200
        body = r.json()
        keys = [i["key"] for i in body["indicators"]]
        assert "heating_renewal" in keys and "road_density" in keys
        high = next(i for i in body["indicators"] if i["key"] == "residential_over_18_storeys")
        assert high["meets"] is False and body["county_town"] is True
        assert client.get("/indicators", params={"year": 99999}).status_code == 400


def test_statuses_on_the_hand_checked_twin(hand):
    hc = health_check(hand, year=2025, new_since=2020, county_town=True)
    status = {i.key: i.status for i in hc.indicators}
    assert status["heating_renewal"] == "not met"  # one heating pipe is 35 years old
    assert status["new_residential_6_storeys_or_less"] == "met"  # 75% >= 70%
    assert status["prefabricated_share"] == "not met"  # 25% < 30%
    assert status["energy_retrofit_area"] == "no target"
    assert status["walkable_services"] == "no data"  # no clinic, no park
    assert hc.to_dict()["indicators"][0]["status"] == "not met"


def _health_check_cli(path, tmp_path, *options):
    from twin_cli.main import cli

    html_path, json_path = tmp_path / "hc.html", tmp_path / "hc.json"
    r = CliRunner(env={"COLUMNS": "300"}).invoke(
        cli, ["health-check", str(path), "--year", "2025", "--out", str(html_path),
              "--json", str(json_path), *options], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = {line.split("│")[1].strip(): line for line in r.output.splitlines()
            if line.count("│") > 4}
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    return rows, doc, html_path.read_text(encoding="utf-8")


def test_an_empty_twin_has_no_data_for_every_indicator(empty_twin, tmp_path):
    """0 of 0 is never a target met or missed: heating renewal was 'met' and
    the prefabricated share 'not met' with nothing to measure."""
    hc = health_check(empty_twin, year=2025)
    assert {i.status for i in hc.indicators} == {"no data"}
    assert all(i.meets is None and i.value is None for i in hc.indicators)
    rows, doc, page = _health_check_cli(empty_twin.path, tmp_path)
    assert {i["status"] for i in doc["indicators"]} == {"no data"}
    assert all(i["meets"] is None for i in doc["indicators"])
    for ind in hc.indicators:
        assert "no data" in rows[ind.title] and " met " not in rows[ind.title]
    assert page.count("data-status='no data'") == len(hc.indicators)
    assert "✔ met" not in page and "✘ not met" not in page


def test_a_twin_with_buildings_only_has_no_data_for_pipes(tmp_path):
    store = twin.create_twin(tmp_path / "b.gpkg", "EPSG:4546")
    with store.import_batch("b", "test", "tests", "1") as b:
        # new buildings without a prefabrication flag or a green rating
        b.add([_b(1, X0, 20, 2023, floor_area_m2=1000.0), _b(2, X0 + 100, 6, 2022)])
    hc = health_check(store, year=2025, county_town=True)
    status = {i.key: i.status for i in hc.indicators}
    for key in ("heating_renewal", "gas_age", "water_supply_age", "clearance_violations",
                "prefabricated_share", "green_building_share", "energy_retrofit_area",
                "road_density"):
        assert status[key] == "no data", key
    assert status["residential_over_18_storeys"] == "not met"  # one of 20 storeys
    assert "no heating pipes" in hc["heating_renewal"].note
    rows, doc, page = _health_check_cli(store.path, tmp_path, "--county-town")
    store.close()
    by_key = {i["key"]: i for i in doc["indicators"]}
    assert by_key["heating_renewal"]["status"] == "no data"
    assert by_key["prefabricated_share"]["status"] == "no data"
    assert "no data" in rows[hc["heating_renewal"].title]
    assert "not met" in rows[hc["residential_over_18_storeys"].title]
    assert "data-status='not met'" in page and "data-status='no data'" in page


def test_numerators_and_denominators_make_each_value(hand, demo_check):
    """What a region sums: each measured indicator's value is remade from its
    numerator and denominator, and an unmeasured one has neither."""
    from twin.analysis.rollup import combine

    hand_check = health_check(hand, year=2025, new_since=2020, county_town=True)
    assert hand_check["heating_renewal"].numerator == pytest.approx(0.1)  # km due
    assert hand_check["heating_renewal"].denominator == pytest.approx(0.4)  # of all km
    assert hand_check["prefabricated_share"].denominator == pytest.approx(4000.0)
    measured = 0
    for check in (hand_check, demo_check):
        for i in check.indicators:
            if i.value is None:
                assert i.numerator is None and i.denominator is None, i.key
                continue
            measured += 1
            again = combine(i.rollup, i.numerator, i.denominator)
            assert again == pytest.approx(i.value, abs=0.01), i.key
    assert measured >= 15


def test_combine_totals_parts_not_averages():
    from twin.analysis.rollup import combine

    # 1 of 2 km old in a county, 10 of 100 km in a city: 10.78 %, not (50 + 10) / 2
    assert combine("share", 1 + 10, 2 + 100) == pytest.approx(10.78)
    with pytest.raises(ValueError, match="'mean' is not one of share, ratio, sum"):
        combine("mean", 1, 2)
