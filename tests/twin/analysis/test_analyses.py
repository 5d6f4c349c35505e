"""Network analyses on hand-checked tiny twins and on the demo district."""

import numpy as np
import pytest
from builders import GROUND, X0, Y0, node
from shapely.geometry import LineString, box

import twin
from twin.analysis.ageing import age_bands, renewal_list
from twin.analysis.clearance import check_clearances, check_clearances_naive, load_rules
from twin.analysis.isolation import isolate, isolation_for
from twin.analysis.segments import load_segments
from twin.analysis.statistics import network_statistics
from twin.network import network_graph


def seg(fid, layer, coords, start, end, network, **attrs):
    return twin.Feature(id=fid, layer=layer, type=attrs.pop("type", "PipeSegment"),
                        footprint=LineString(coords), attributes={"network": network, **attrs},
                        edge=twin.Edge(network, start, end))


def load(store, feats):
    with store.import_batch("hand", "test", "tests", "1") as b:
        b.add(feats)
    return store


# -- ageing and statistics ----------------------------------------------
@pytest.fixture
def aged(empty_twin):
    z = GROUND - 2
    return load(empty_twin, [
        seg("h1", "heating", [(X0, Y0, z), (X0 + 100, Y0, z)], "a", "b", "RL",
            install_year=1990, diameter_mm=300, material="steel"),
        seg("h2", "heating", [(X0 + 100, Y0, z), (X0 + 100, Y0 + 30, z - 40)], "b", "c", "RL",
            install_year=2005, diameter_mm=300, material="steel"),  # 3D length 50
        seg("h3", "heating", [(X0, Y0, z), (X0, Y0 + 20, z)], "a", "d", "RL",
            install_year=2010, diameter_mm=200, material="PE-Xa"),
        seg("h4", "heating", [(X0, Y0 + 20, z), (X0, Y0 + 30, z)], "d", "e", "RL",
            diameter_mm=200),  # no install year
        seg("w1", "water_supply", [(X0, Y0 + 5, z), (X0 + 10, Y0 + 5, z)], "p", "q", "JS",
            install_year=1970, diameter_mm=150, material="cast iron"),
    ])


def test_renewal_list_of_old_heating_pipes(aged):
    s = load_segments(aged)
    rl = renewal_list(s, 2025, 20, ("heating",))
    assert [(i.id, i.age, i.length_m) for i in rl.items] == [("h1", 35, 100.0), ("h2", 20, 50.0)]
    assert rl.total_segments == 4 and rl.unknown_age_segments == 1
    assert rl.total_length_m == pytest.approx(180.0)
    assert rl.share_by_length == pytest.approx(150 / 180)
    assert [i.id for i in renewal_list(s, 2025, 20, ("water_supply",)).items] == ["w1"]


def test_age_bands(aged):
    rows = {(r.layer, r.band): (r.segments, r.length_km) for r in age_bands(load_segments(aged),
                                                                           2025)}
    assert rows[("heating", "30-39")] == (1, 0.1)
    assert rows[("heating", "20-29")] == (1, 0.05)
    assert rows[("heating", "10-19")] == (1, 0.02)
    assert rows[("heating", "unknown")] == (1, 0.01)
    assert rows[("water_supply", "40+")] == (1, 0.01)


def test_network_statistics(aged):
    stats = {s.layer: s for s in network_statistics(load_segments(aged), 2025)}
    h = stats["heating"]
    assert h.segments == 4 and h.length_km == pytest.approx(0.18)
    assert h.by_diameter_km == {"DN200": 0.03, "DN300": 0.15}
    assert h.by_material_km == {"PE-Xa": 0.02, "steel": 0.15, "unknown": 0.01}


# -- clearances -----------------------------------------------------------
@pytest.fixture
def clashes(empty_twin):
    z = GROUND
    return load(empty_twin, [
        # water DN300, centre 2.0 m down, runs east
        seg("JS1", "water_supply", [(X0, Y0, z - 2.0), (X0 + 100, Y0, z - 2.0)], "j1", "j2", "JS",
            diameter_mm=300),
        # gas DN160 crosses it 0.2 m higher: clear 0.2 - 0.15 - 0.08 = -0.03 < 0.15
        seg("RQ1", "gas", [(X0 + 50, Y0 - 20, z - 1.8), (X0 + 50, Y0 + 20, z - 1.8)], "g1", "g2",
            "RQ", diameter_mm=160, pressure_class="medium B"),
        # sewer DN400 crosses 3 m below: fine
        seg("WS1", "sewage", [(X0 + 30, Y0 - 20, z - 5.0), (X0 + 30, Y0 + 20, z - 5.0)], "s1",
            "s2", "WS", diameter_mm=400),
        # heating DN300 parallel, 1.0 m from the water axis: 1.0 - 0.15 - 0.15 = 0.7 < 1.5
        seg("RL1", "heating", [(X0 + 60, Y0 - 1.0, z - 2.0), (X0 + 90, Y0 - 1.0, z - 2.0)], "h1",
            "h2", "RL", diameter_mm=300),
        # the next water pipe shares node j2 with JS1: never checked against it
        seg("JS2", "water_supply", [(X0 + 100, Y0, z - 2.0), (X0 + 100, Y0 + 30, z - 2.1)], "j2",
            "j3", "JS", diameter_mm=300),
        # heating DN300 2 m south of the house: 2.0 - 0.15 = 1.85 < 3.0 (direct-buried)
        seg("RL2", "heating", [(X0 + 105, Y0 + 23, z - 2.0), (X0 + 125, Y0 + 23, z - 2.0)], "h3",
            "h4", "RL", diameter_mm=300),
        # a service pipe into the building: enters it by design
        seg("JS-SP", "water_supply", [(X0 + 100, Y0 + 30, z - 2.1), (X0 + 110, Y0 + 30, z - 1.5)],
            "j3", "b1", "JS", diameter_mm=50, type="ServicePipe", serves="B1"),
    ])


def test_known_clearance_violations(clashes):
    s = load_segments(clashes)
    house = box(X0 + 105, Y0 + 25, X0 + 125, Y0 + 40)
    v = check_clearances(s, buildings=[house], building_ids=["B1"])
    got = {(x.kind, *sorted((x.a, x.b))): x for x in v}
    assert set(got) == {("vertical", "JS1", "RQ1"), ("horizontal", "JS1", "RL1"),
                        ("building", "B1", "RL2")}  # JS2 is 4.85 m away: >= 3.0
    vert = got[("vertical", "JS1", "RQ1")]
    assert vert.distance_m == pytest.approx(-0.03, abs=1e-6)
    assert vert.required_m == 0.15 and "4.1.14" in vert.rule and vert.source == "GB 50289-2016"
    assert vert.location[:2] == (X0 + 50, Y0)
    assert got[("horizontal", "JS1", "RL1")].distance_m == pytest.approx(0.7)
    assert got[("horizontal", "JS1", "RL1")].required_m == 1.5
    b = got[("building", "B1", "RL2")]
    assert b.required_m == 3.0 and b.distance_m == pytest.approx(1.85)


def test_rules_are_replaceable(clashes, tmp_path):
    custom = tmp_path / "local.toml"
    custom.write_text('name = "local"\nsource = "city bylaw 7"\n[[rule]]\nkind = "vertical"\n'
                      'a = "PS"\nb = "JS"\nmin_m = 3.5\nref = "art. 3"\n')
    v = check_clearances(load_segments(clashes), rules=load_rules(custom))
    assert {x.source for x in v} == {"city bylaw 7"}
    # the sewer crosses JS1 2.65 m clear (5.0 - 2.0 - 0.2 - 0.15): below 3.5
    assert [(sorted((x.a, x.b)), round(x.distance_m, 3)) for x in v] == [(["JS1", "WS1"], 2.65)]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nkind = "diagonal"\na = "JS"\nmin_m = 1\n')
    with pytest.raises(twin.TwinError, match="rule 1 is invalid.*diagonal"):
        load_rules(bad)


def test_spatial_index_finds_the_same_pairs_as_all_pairs(demo_twin, tmp_path):
    """The STRtree search must find exactly what an all-pairs scan finds (strict
    rules, so that there are many violations to agree on)."""
    strict = tmp_path / "strict.toml"
    strict.write_text('[[rule]]\nkind = "vertical"\na = "*"\nb = "*"\nmin_m = 1.0\n'
                      '[[rule]]\nkind = "horizontal"\na = "*"\nb = "*"\nmin_m = 5.0\n')
    with twin.open_twin(demo_twin, readonly=True) as store:
        s = load_segments(store, bbox=(558380, 4520300, 558900, 4520800))
    rules = load_rules(strict)
    v = {(x.kind, x.a, x.b) for x in check_clearances(s, rules=rules)}
    # the all-pairs reference, with the same rules, finds exactly the same violations
    naive = check_clearances_naive(s, rules)
    assert len(s) > 300
    assert v == naive
    kinds = [k for k, _, _ in v]
    assert kinds.count("vertical") > 20 and kinds.count("horizontal") > 20


def test_demo_has_a_known_clash(demo_twin):
    with twin.open_twin(demo_twin, readonly=True) as store:
        s = load_segments(store)
    v = check_clearances(s)
    pairs = {tuple(sorted((x.a, x.b))) for x in v if x.kind == "horizontal"}
    assert ("hohhot:RL-EW-1-5-2", "hohhot:RQ-SP-B-0174") in pairs


# -- isolation ------------------------------------------------------------
@pytest.fixture
def valve_line(empty_twin):
    """S -e1- V1 -e2- T1 -e3- T2 -e4- V2 -e5- J -e6- V3 -e7- E, services to B1, B2, B3."""
    z = GROUND - 1.5
    xs = {"S": 0, "V1": 10, "T1": 20, "T2": 30, "V2": 40, "J": 50, "V3": 60, "E": 70}
    types = {"S": "Source", "V1": "Valve", "T1": "Tee", "T2": "Tee", "V2": "Valve",
             "J": "Tee", "V3": "Valve", "E": "Tee"}
    nodes = [node(f"n:{k}", (X0 + x, Y0, z), types[k]) for k, x in xs.items()]
    chain = list(xs)
    segs = [seg(f"e{i + 1}", "water_supply", [(X0 + xs[a], Y0, z), (X0 + xs[b], Y0, z)],
                f"n:{a}", f"n:{b}", "JS", diameter_mm=200)
            for i, (a, b) in enumerate(zip(chain, chain[1:]))]
    services = [seg(f"s{k}", "water_supply", [(X0 + xs[t], Y0, z), (X0 + xs[t], Y0 + 8, z)],
                    f"n:{t}", f"n:SC{k}", "JS", diameter_mm=50, type="ServicePipe",
                    serves=f"B{k}") for k, t in ((1, "T1"), (2, "T2"), (3, "E"))]
    blds = [twin.Feature(id=f"B{k}", layer="buildings", type="Building",
                         footprint=box(X0 + x - 4, Y0 + 8, X0 + x + 4, Y0 + 16))
            for k, x in ((1, 20), (2, 30), (3, 70))]
    blds.append(twin.Feature(id="B4", layer="buildings", type="Building",
                             footprint=box(X0 + 52, Y0 - 12, X0 + 58, Y0 - 4)))  # no service
    return load(empty_twin, nodes + segs + services + blds)


def test_isolation_with_sources(valve_line):
    r = isolation_for(valve_line, "e3")
    assert r.valves_to_close == ("n:V1", "n:V2")
    assert r.isolated_segments == ("e2", "e3", "e4", "s1", "s2")
    assert r.cut_off_segments == ("e5", "e6", "e7", "s3")
    assert r.buildings_without_supply == ("B1", "B2", "B3", "B4")
    assert r.sources_known


def test_a_part_no_source_ever_fed_is_not_cut_off(valve_line):
    """A newly surveyed section not yet joined to the network has no supply to lose."""
    g = network_graph(valve_line, "JS")
    types = {n: d["type"] for n, d in g.nodes(data=True) if "type" in d}
    before = isolate(g, "e3", node_types=types)
    g.add_edge("x:1", "x:2", key="survey-1")
    after = isolate(g, "e3", node_types=types)
    assert after.cut_off_segments == before.cut_off_segments == ("e5", "e6", "e7", "s3")


def test_isolation_without_sources_only_closes_the_zone(valve_line):
    g = network_graph(valve_line, "JS")
    types = {n: "Valve" for n in ("n:V1", "n:V2", "n:V3")}
    r = isolate(g, "e6", node_types=types, serves={"s3": "B3"})
    assert r.valves_to_close == ("n:V2", "n:V3")
    assert r.isolated_segments == ("e5", "e6") and r.cut_off_segments == ()
    assert not r.sources_known
    with pytest.raises(twin.NotFoundError, match="nope"):
        isolate(g, "nope", node_types=types)


def test_isolation_on_the_demo_heating_network(demo_twin):
    with twin.open_twin(demo_twin, readonly=True) as store:
        r = isolation_for(store, "hohhot:RL-EW-3-4-2")
        served = {}
        for f in store.query(twin.Query(layers=("heating",), types=("ServicePipe",))):
            served[f.id] = (f.edge.start, f.attributes["serves"])
    assert r.valves_to_close == ("hohhot:RL-N-4-3", "hohhot:RL-N-5-3")
    assert r.sources_known and r.cut_off_segments == ()  # the grid is meshed
    # independently: buildings whose heating service starts at a tee of this street block
    zone_tees = {start for sid, (start, _b) in served.items() if sid in r.isolated_segments}
    expected = sorted(b for sid, (start, b) in served.items() if start in zone_tees)
    assert list(r.buildings_without_supply) == expected and len(expected) >= 3


def test_a_twin_without_pipes_has_an_empty_segment_table(empty_twin):
    s = load_segments(empty_twin)
    assert len(s) == 0 and s.install_year.dtype == np.int64 and s.length.dtype == float
    assert check_clearances(s) == []
    assert renewal_list(s, 2025).items == () and network_statistics(s, 2025) == []


@pytest.mark.parametrize("depths, confirmed", [(("assumed", "assumed"), False),
                                               (("assumed", "surveyed"), True),
                                               (("invert", "assumed+surveyed"), True)])
def test_crossings_of_two_assumed_depths_are_unconfirmed(empty_twin, depths, confirmed):
    """The JS1/RQ1 clash above, with the depths' sources: only both assumed
    makes it unconfirmed, and the health check counts it apart."""
    from twin.analysis.clearance import check_twin_clearances
    from twin.analysis.indicators import clearance_violations

    z = GROUND
    load(empty_twin, [
        seg("JS1", "water_supply", [(X0, Y0, z - 2.0), (X0 + 100, Y0, z - 2.0)], "j1", "j2",
            "JS", diameter_mm=300, depth_source=depths[0]),
        seg("RQ1", "gas", [(X0 + 50, Y0 - 20, z - 1.8), (X0 + 50, Y0 + 20, z - 1.8)], "g1",
            "g2", "RQ", diameter_mm=160, pressure_class="medium B", depth_source=depths[1]),
    ])
    c = check_twin_clearances(empty_twin)
    (v,) = c.violations
    assert v.kind == "vertical" and v.confirmed is confirmed
    assert v.as_dict()["confirmed"] is confirmed  # the API's output
    assert len(c.unconfirmed) == (0 if confirmed else 1)
    ind = clearance_violations(empty_twin)
    assert ind.value == (1.0 if confirmed else 0.0)
    assert ind.details["unconfirmed"] == (0 if confirmed else 1)
    assert (ind.note is None) is confirmed


def test_statistics_sort_sizes_as_numbers(empty_twin):
    z = GROUND - 2
    load(empty_twin, [
        seg(f"w{d}", "water_supply", [(X0, Y0 + d, z), (X0 + 10, Y0 + d, z)], f"a{d}", f"b{d}",
            "JS", diameter_mm=d, install_year=2000) for d in (1000, 50, 200, 100)])
    (stats,) = network_statistics(load_segments(empty_twin), 2025)
    assert list(stats.by_diameter_km) == ["DN50", "DN100", "DN200", "DN1000"]


def test_renewal_table_says_how_many_rows_it_leaves_out(aged, tmp_path):
    from click.testing import CliRunner

    from twin_cli.main import cli

    path = str(aged.path)
    aged.close()
    out = CliRunner().invoke(cli, ["pipes", "renewal", path, "--year", "2025", "--limit", "1"])
    assert out.exit_code == 0, out.output
    assert "h1" in out.output and "h2" not in out.output.split("h1", 1)[1].split("...")[0]
    assert "1 more segments not shown" in out.output and "--limit 0" in out.output
    full = CliRunner().invoke(cli, ["pipes", "renewal", path, "--year", "2025", "--limit", "0"])
    assert "h2" in full.output and "more segments" not in full.output
