"""The Hohhot demo district: plausible, georeferenced, connected."""

import numpy as np
import pytest

import twin
from twin.network import network_graph, validate_network


@pytest.fixture(scope="module")
def demo(demo_twin):
    store = twin.open_twin(demo_twin, readonly=True)
    yield store
    store.close()


def test_district_sits_in_hohhot(demo):
    from pyproj import Transformer

    b = demo.info().bounds
    lon, lat = Transformer.from_crs("EPSG:4546", "EPSG:4326", always_xy=True).transform(
        (b[0] + b[3]) / 2, (b[1] + b[4]) / 2)
    assert lon == pytest.approx(111.70, abs=0.01) and lat == pytest.approx(40.82, abs=0.01)
    assert 1000 < b[2] < 1060  # ground about 1,050 m above the 1985 datum; pipes below


def test_buildings_have_policy_attributes(demo):
    blds = list(demo.query(twin.Query(layers=("buildings",))))
    assert len(blds) >= 200
    storeys = np.array([b.attributes["storeys"] for b in blds])
    assert (storeys > 18).sum() > 10 and (storeys <= 6).sum() > 10
    city = [b for b in blds if "ifc_class" not in b.attributes]
    for key in ("year_built", "green_star", "prefabricated", "energy_retrofit"):
        assert all(key in b.attributes for b in city)
    assert {"school", "clinic"} <= {b.attributes["function"] for b in blds}


def test_city_buildings_carry_lod1_and_lod2_with_roof_surfaces(demo):
    blds = [b for b in demo.query(twin.Query(layers=("buildings",), with_meshes=True))
            if "ifc_class" not in b.attributes]
    assert len(blds) == 267 and all(set(b.meshes) == {"1", "2"} for b in blds)
    gabled = [b for b in blds if b.attributes["roof_type"] == "gabled"]
    assert 50 < len(gabled) < len(blds)
    for b in gabled[:20]:
        lod2 = b.meshes["2"]
        labels = [lod2.labels[i] for i in lod2.face_labels]
        roof = lod2.faces[np.array(labels) == "RoofSurface"]
        # two sloping roof planes rising to a ridge above the LoD1 block's flat top
        assert len(roof) == 4
        assert lod2.vertices[:, 2].max() > b.meshes["1"].vertices[:, 2].max()
        assert lod2.vertices[:, 2].max() - lod2.vertices[:, 2].min() == pytest.approx(
            b.attributes["height"], abs=0.002)


def test_ifc_community_centre_is_placed_by_its_map_conversion(demo):
    centre = [b for b in demo.query(twin.Query(layers=("buildings",)))
              if b.attributes.get("ifc_class") == "IfcBuilding"]
    assert len(centre) == 1
    c = centre[0]
    assert c.name == "Xinhua Community Service Centre"
    assert c.attributes["storeys"] == 3 and c.attributes["year_built"] == 2021
    # the model is 20 m along its local X (north) and 48 m along local Y (west): the
    # 90 degree rotation of the IfcMapConversion turns it into a 48 x 20 m east-west slab
    x0, y0, _, x1, y1, _ = c.bbox
    assert x1 - x0 == pytest.approx(48.0, abs=0.01)
    assert y1 - y0 == pytest.approx(20.12, abs=0.01)  # the door sticks out 0.12 m south
    # it stands inside the clinic's block, on the GIS layer's block of the same
    # building, which its import linked it to (BIM/GIS conflation); nothing else there
    block = next(f for f in demo.query(twin.Query(layers=("landuse",)))
                 if f.name == "Block 5-1")
    assert block.footprint.contains(c.footprint)
    near = twin.Query(layers=("buildings",), bbox=c.bbox[:2] + c.bbox[3:5])
    others = [b for b in demo.query(near) if b.id != c.id]
    assert [b.id for b in others] == c.attributes["same_as"] == ["hohhot:B-0267"]
    assert others[0].footprint.symmetric_difference(c.footprint).area < 0.02 * c.footprint.area
    elements = list(demo.query(twin.Query(layers=("building_elements",))))
    assert {e.type for e in elements} >= {"IfcWall", "IfcSlab", "IfcColumn", "IfcDoor"}
    assert all(c.footprint.buffer(0.2).contains(e.footprint) for e in elements
               if e.footprint is not None)


def test_every_network_is_connected_and_clean(demo):
    from twin.network import networks

    assert networks(demo) == ["DL", "JS", "RL", "RQ", "TX", "WS", "YS"]
    for net in ("JS", "RL", "WS"):
        rep = validate_network(network_graph(demo, net))
        assert rep.components == 1 and rep.ok and not rep.dangling_ends, rep.problems


def test_heating_pipes_span_1985_to_2024_and_lie_underground(demo):
    pipes = list(demo.query(twin.Query(layers=("heating",), types=("PipeSegment",))))
    years = [p.attributes["install_year"] for p in pipes]
    assert min(years) >= 1985 and max(years) <= 2024
    assert any(y <= 2004 for y in years)  # some in service for 20 years or more
    ground = list(demo.query(twin.Query(layers=("terrain",))))
    zmin_ground = min(t.bbox[2] for t in ground)
    assert all(p.bbox[5] < zmin_ground + 20 for p in pipes)
    # the pipes lie below the terrain right above them
    p = pipes[0]
    x, y = p.footprint.interpolate(0.5, normalized=True).coords[0][:2]
    tile = next(demo.query(twin.Query(layers=("terrain",), bbox=(x, y, x, y))))
    assert p.bbox[5] < tile.bbox[5]


def test_service_connections_reach_every_building(demo):
    # every real building once: a BIM model linked to its GIS building is not another
    blds = {b.id for b in demo.query(twin.Query(layers=("buildings",)))
            if not b.attributes.get("same_as")}
    services = list(demo.query(twin.Query(layers=("water_supply",), types=("ServicePipe",))))
    served = {s.attributes["serves"] for s in services}
    assert served == blds


@pytest.mark.slow
def test_three_years_of_the_demo_as_updates_give_history_diff_and_trends(demo_gpkg,
                                                                         tmp_path):
    """The district's 2026 and 2027 deliveries (sample_models/hohhot_demo/years.py)
    imported as updates onto a copy of the 2025 twin: each year's counts, the
    diff over the period and a three-year health-check trend."""
    import sys

    from builders import DEMO_DIR

    from converters import import_file
    from twin.analysis.indicators import health_check
    from twin.analysis.trends import trends
    from twin.diff import diff_twins
    from twin.store.copy import copy_twin

    sys.path.insert(0, str(DEMO_DIR))
    import years

    years.main(tmp_path / "years")
    with twin.open_twin(demo_gpkg, readonly=True) as src:
        store = copy_twin(src, tmp_path / "demo.gpkg")
    try:
        base = store.batches()[-1].id
        store.save_health_check(2025, health_check(store, year=2025).to_dict())
        counts = {}
        for y in years.YEARS:
            for name in ("buildings.city.json", "pipes.geojson"):
                r = import_file(store, tmp_path / "years" / str(y) / name,
                                options={"id_prefix": "hohhot"}, on_conflict="update",
                                retire_missing="layers")
                u = r.report["update"]
                counts[(y, name)] = (u["added"], u["changed"], u["retired"])
            store.save_health_check(y, health_check(store, year=y).to_dict())
        # each year 2 new, 3 retrofitted (changed), 3 demolished (retired)
        assert counts[(2026, "buildings.city.json")] == (2, 3, 3)
        assert counts[(2027, "buildings.city.json")] == (2, 3, 3)
        assert all(counts[(y, "pipes.geojson")][0] == 0 and counts[(y, "pipes.geojson")][1] > 0
                   for y in years.YEARS)  # heating pipes renewed, none added
        cs = diff_twins(store.at(base), store)
        n = cs.counts()["buildings"]
        assert (n["added"], n["removed"]) == (4, 6)
        assert cs.counts()["heating"]["changed"] == sum(
            counts[(y, "pipes.geojson")][1] for y in years.YEARS)
        kept = [h["report"] for h in store.health_checks()]
        by_key = {t.key: t for t in trends(kept)}
        assert [p[0] for p in by_key["heating_renewal"].points] == [2025, 2026, 2027]
        old = [p[1] for p in by_key["heating_renewal"].points]
        assert old[0] is not None and all(v is not None for v in old)
        # renewed pipes leave the 20+ years band; the years passing bring others into it
        assert by_key["energy_retrofit_area"].points[-1][1] >= \
            by_key["energy_retrofit_area"].points[0][1]
    finally:
        store.close()


def test_demo_sensors_show_the_injected_leak_from_its_date(demo_gpkg, tmp_path):
    """sample_models/hohhot_demo/sensors.py (run by make demo): two DMAs, a leak in
    the south one from a known date, found by the balance, the health check and
    the warnings."""
    import shutil
    import subprocess
    import sys

    from builders import REPO

    from twin.analysis.indicators import health_check
    from twin.analysis.water_balance import water_balance
    from twin.sensors.alerts import evaluate, load_rules
    from twin.sensors.model import to_ms
    from twin.sensors.store import sensors_of

    path = tmp_path / "demo.gpkg"
    shutil.copyfile(demo_gpkg, path)
    r = subprocess.run([sys.executable, str(REPO / "sample_models/hohhot_demo/sensors.py"),
                        str(path), "--days", "20", "--leak", "2025-03-11"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    leak = to_ms("2025-03-11T00:00:00+08:00")
    with twin.open_twin(path, readonly=True) as store:
        north, south, city = water_balance(store, to_ms("2025-03-01T00:00:00+08:00"),
                                           to_ms("2025-03-21T00:00:00+08:00"))
        assert (north.name, south.name) == ("north", "south")
        assert south.night_rise == leak and north.night_rise is None
        assert south.leakage_rate > north.leakage_rate + 3
        before = water_balance(store, to_ms("2025-03-01T00:00:00+08:00"), leak)
        assert abs(before[0].leakage_rate - 5.66) < 0.3 > abs(before[1].leakage_rate - 5.66)
        fired = evaluate(sensors_of(store), load_rules(), to_ms("2025-03-20T23:45:00+08:00"))
        assert [(a.rule, a.since) for a in fired] == [("night flow rise (leak)", leak)]
        ind = health_check(store, year=2025)["water_leakage"]
        assert ind.value == pytest.approx(city.leakage_rate) and "2 DMAs" in ind.coverage


def test_the_generator_gives_the_committed_files_byte_for_byte(tmp_path):
    """sample_models/README.md says the demo is reproducible: the seeded
    generator (and its modules: CityJSON, survey tables, IFC) rewrites every
    committed file of the district exactly."""
    import subprocess
    import sys

    from builders import REPO

    here = REPO / "sample_models" / "hohhot_demo"
    r = subprocess.run([sys.executable, str(here / "generate.py"), str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert len(made) == 11 and "buildings (CityJSON): 267 features" in r.stdout
    for rel in made:
        assert (tmp_path / rel).read_bytes() == (here / rel).read_bytes(), rel
