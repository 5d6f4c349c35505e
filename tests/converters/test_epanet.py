"""EPANET models through wntr: counts, coordinates, units, isolation."""

from pathlib import Path

import numpy as np
import pytest
from builders import dump_twin, section

import twin
from converters import converter_for, import_file
from twin.analysis.isolation import isolation_for
from twin.network import network_graph, validate_network

SAMPLES = Path(__file__).resolve().parents[2] / "sample_models" / "epanet"
NET3 = SAMPLES / "Net3.inp"


@pytest.fixture
def net3(empty_twin):
    # Net3 is drawn in local coordinates: forced past the placement check
    res = import_file(empty_twin, NET3, crs="EPSG:4546", force=True)
    return empty_twin, res


def test_counts_match_the_file(net3):
    store, res = net3
    by_type = res.report["by_type"]
    assert by_type["PipeSegment"] == len(section(NET3, "PIPES")) == 117
    assert by_type["Junction"] == len(section(NET3, "JUNCTIONS")) == 92
    assert by_type["Reservoir"] == len(section(NET3, "RESERVOIRS"))
    assert by_type["Tank"] == len(section(NET3, "TANKS"))
    assert by_type["Pump"] == len(section(NET3, "PUMPS"))
    assert res.skipped == 0


def test_coordinates_elevations_and_units(net3):
    store, _ = net3
    coords = {r[0]: (float(r[1]), float(r[2])) for r in section(NET3, "COORDINATES")}
    junctions = {r[0]: float(r[1]) for r in section(NET3, "JUNCTIONS")}
    name = next(iter(junctions))
    node = store.get(f"epanet:Net3:node:{name}")
    x, y, z = node.footprint.coords[0]
    assert (x, y) == pytest.approx(coords[name])
    assert z == pytest.approx(junctions[name] * 0.3048)  # feet (GPM units) to metres
    pipe_row = section(NET3, "PIPES")[0]  # id, node1, node2, length ft, diameter in, ...
    pipe = store.get(f"epanet:Net3:link:{pipe_row[0]}")
    assert pipe.attributes["diameter_mm"] == pytest.approx(float(pipe_row[4]) * 25.4)
    assert pipe.attributes["length_m"] == pytest.approx(float(pipe_row[3]) * 0.3048)
    assert pipe.attributes["depth_source"] == "assumed"
    assert pipe.edge.start == f"epanet:Net3:node:{pipe_row[1]}"


def test_topology_and_isolation_with_reservoirs_as_sources(net3):
    store, _ = net3
    g = network_graph(store, "Net3")
    rep = validate_network(g)
    assert rep.components == 1 and not rep.unplaced_nodes
    # dead-end mains end at plain junctions: they are reported
    ends = {r[0] for r in section(NET3, "JUNCTIONS")} & {
        n.rsplit(":", 1)[1] for n, d in g.degree() if d == 1}
    assert {n.rsplit(":", 1)[1] for n in rep.dangling_ends} == ends
    pipe = section(NET3, "PIPES")[5][0]
    r = isolation_for(store, f"epanet:Net3:link:{pipe}")
    # Net3 has no valves: a burst shuts the whole connected network, and says so
    assert r.valves_to_close == () and len(r.isolated_segments) == g.number_of_edges()
    assert "no valve" in r.note and "supply point" in r.note


def test_epanet_needs_a_crs_and_other_inp_files_are_not_mistaken_for_it(empty_twin, tmp_path):
    before = dump_twin(empty_twin.path)
    with pytest.raises(twin.ImportFailedError, match="carry no CRS"):
        import_file(empty_twin, NET3)
    swmm = tmp_path / "storm.inp"
    swmm.write_text("[TITLE]\nstorm\n[OPTIONS]\nFLOW_UNITS CFS\n[JUNCTIONS]\nJ1 10 2\n")
    assert converter_for(swmm).name == "swmm"  # [JUNCTIONS] alone does not make EPANET
    other = tmp_path / "other.inp"
    other.write_text("[TITLE]\nsomething else\n")
    with pytest.raises(twin.ConversionError, match="not recognised as any of EPANET.*SWMM"):
        converter_for(other)
    assert dump_twin(empty_twin.path) == before


def test_broken_model_names_the_file(empty_twin, tmp_path):
    bad = tmp_path / "broken.inp"
    bad.write_text("[JUNCTIONS]\nJ1 abc\n[PIPES]\nP1 J1 J9 100 12 100\n")
    with pytest.raises(twin.ImportFailedError, match="broken.inp.*not a readable EPANET"):
        import_file(empty_twin, bad, crs="EPSG:4546")


_VALVED = """[TITLE]
A reservoir feeding a main with two isolation valves (TCV links) and a loop

[JUNCTIONS]
;ID  Elev  Demand
 J1  10    1
 J2  10    1
 J3  10    1
 J4  10    1
 J5  10    1
 J6  10    1

[RESERVOIRS]
 R1  50

[PIPES]
;ID  Node1  Node2  Length  Diameter  Roughness
 P1  R1     J1     100     200       100
 P2  J1     J2     100     200       100
 P3  J3     J4     100     200       100
 P4  J5     J6     100     200       100
 P5  J1     J6     600     150       100

[VALVES]
;ID  Node1  Node2  Diameter  Type  Setting
 V1  J2     J3     200       TCV   0
 V2  J4     J5     200       TCV   0

[OPTIONS]
 Units  LPS

[COORDINATES]
 R1  0    0
 J1  100  0
 J2  200  0
 J3  210  0
 J4  310  0
 J5  320  0
 J6  420  0

[END]
"""


def test_epanet_valve_links_bound_the_isolated_zone(tmp_path):
    """R1-P1-J1-P2-J2-V1-J3-P3-J4-V2-J5-P4-J6, and P5 from J1 round to J6."""
    from twin.analysis.isolation import isolation_for

    inp = tmp_path / "valved.inp"
    inp.write_text(_VALVED)
    with twin.create_twin(tmp_path / "v.gpkg", "EPSG:4546") as store:
        import_file(store, inp, crs="EPSG:4546", force=True)  # local coordinates: forced
        ids = {f.source_id: f.id for f in store.query(twin.Query(layers=("water_supply",)))}
        # a burst on P3 closes the valve links on both sides, V1 and V2, and nothing
        # else: J5 and J6 stay fed round the loop
        r = isolation_for(store, ids["P3"])
        assert set(r.valves_to_close) == {ids["V1"], ids["V2"]}
        assert set(r.isolated_segments) == {ids["P3"]} and r.cut_off_segments == ()
        # a burst on P2: V1 bounds it on one side; on the other the walk runs through
        # P1 to the reservoir and round the loop (P5, P4) to V2
        r = isolation_for(store, ids["P2"])
        assert set(r.valves_to_close) == {ids["V1"], ids["V2"]}
        assert set(r.isolated_segments) == {ids[k] for k in ("P1", "P2", "P4", "P5")}
        assert "supply point" in r.note


_CLOCK_RULE = """
[RULES]
RULE 99
IF SYSTEM CLOCKTIME >= 6 AM
AND SYSTEM CLOCKTIME < 6 PM
THEN PIPE 60 STATUS IS OPEN
"""


def test_clock_time_rules_do_not_reject_the_network(empty_twin, tmp_path):
    """Net3 with a clock-time rule (EPANET runs it; wntr's parser cannot): the
    whole network is imported and the report names [RULES] and the line."""
    text = NET3.read_text(encoding="latin-1").replace("[END]", _CLOCK_RULE + "\n[END]")
    inp = tmp_path / "Net3_clock.inp"
    inp.write_text(text, encoding="latin-1")
    import wntr

    with pytest.raises(ValueError, match="6 AM"):  # the reader of the field refuses it
        wntr.network.WaterNetworkModel(str(inp))
    res = import_file(empty_twin, inp, crs="EPSG:4546", force=True)  # local coordinates
    assert res.report["by_type"]["PipeSegment"] == len(section(NET3, "PIPES")) == 117
    (nu,) = res.report["source"]["not_understood"]
    line = text.splitlines().index("IF SYSTEM CLOCKTIME >= 6 AM") + 1
    assert nu["section"] == "RULES" and nu["line"] == line and "6 AM" in nu["reason"]
    assert any(f"[RULES] (line {line}" in n.text and n.level == "warn" for n in res.notes)


def test_reservoir_ground_is_not_its_head(net3):
    """Net3's River (head 220 ft) feeds pipe 60 and pump 335, the Lake (167 ft)
    pump 10; the reservoir stands on the ground of the nodes it feeds, and the pipe
    next to it does not climb to the water level."""
    store, res = net3
    heads = {r[0]: float(r[1]) for r in section(NET3, "RESERVOIRS")}
    elev = {r[0]: float(r[1]) for r in section(NET3, "JUNCTIONS")}
    elev.update({r[0]: float(r[1]) for r in section(NET3, "TANKS")})
    links = section(NET3, "PIPES") + section(NET3, "PUMPS")
    for name, head in heads.items():
        fed = [elev[b if a == name else a] for _id, a, b, *_ in links if name in (a, b)]
        node = store.get(f"epanet:Net3:node:{name}")
        z = node.footprint.coords[0][2]
        assert z == pytest.approx(np.mean(fed) * 0.3048)
        assert abs(z - head * 0.3048) > 5  # the head is not the ground
        assert node.attributes["head_m"] == pytest.approx(head * 0.3048, abs=1e-3)
        assert node.attributes["ground_source"] == "connected nodes"
    pipe60 = store.get("epanet:Net3:link:60")  # River -> 60
    z0, z1 = pipe60.footprint.coords[0][2], pipe60.footprint.coords[-1][2]
    assert abs(z0 - z1) < 1.0  # both ends at the cover below ground, not 60 m apart
    assert res.report["source"]["reservoir_ground"] == {"from connected nodes": 2, "unknown": 0}


@pytest.mark.parametrize("edit, message", [
    (("J2  200  0", "J2  1e300  0"), None),
    (("P2  J1     J2", "P2  J1     J9"), r"undefined node, 'J9', at line \d+"),
    (("J1  10    1", "J1  abc    1"), "could not convert string to float: 'abc'"),
])
def test_broken_models_fail_or_skip_with_one_clear_message(empty_twin, tmp_path, edit, message):
    """No numpy warning on the way (warnings are errors in the tests)."""
    inp = tmp_path / "small.inp"
    inp.write_text(_SMALL.replace(*edit))
    if message is None:
        res = import_file(empty_twin, inp, crs="EPSG:4546", force=True)  # local coordinates
        reasons = {s["source_id"]: s["reason"] for s in res.report["skipped"]}
        assert "1e+300" in reasons["J2"] and "not finite numbers within" in reasons["J2"]
        assert "node 'J2'" in reasons["P2"]
    else:
        with pytest.raises(twin.ImportFailedError, match=message):
            import_file(empty_twin, inp, crs="EPSG:4546", force=True)  # local coordinates


def test_node_without_coordinates_is_skipped_not_put_at_zero(empty_twin, tmp_path):
    inp = tmp_path / "small.inp"
    inp.write_text(_SMALL.replace(" J2  200  0\n", ""))
    res = import_file(empty_twin, inp, crs="EPSG:4546", force=True)  # local coordinates
    reasons = {s["source_id"]: s["reason"] for s in res.report["skipped"]}
    assert reasons["J2"] == "node 'J2' has no line in [COORDINATES]"
    assert {f.source_id for f in empty_twin.query(twin.Query())} == {"R1", "J1", "P1"}


_SMALL = """[JUNCTIONS]
 J1  10    1
 J2  12    1

[RESERVOIRS]
 R1  50

[PIPES]
 P1  R1     J1     100     200       100
 P2  J1     J2     100     200       100

[OPTIONS]
 Units  LPS

[COORDINATES]
 R1  0    0
 J1  100  0
 J2  200  0

[END]
"""


def test_a_pattern_too_long_to_keep_is_reported_and_its_junctions_keep_their_base(
        empty_twin, tmp_path):
    """Net3 with its default pattern stretched to 169 hours (over the 168 a
    junction keeps): the import says so, junctions on it keep their base
    demand only, the junctions on Net3's other patterns keep theirs."""
    text = NET3.read_text(encoding="latin-1")
    extra = " 1 " + " ".join(["1.1"] * 145)  # 24 + 145 = 169 multipliers
    text = text.replace("[PATTERNS]\n", "[PATTERNS]\n" + extra + "\n", 1)
    inp = tmp_path / "Net3_long.inp"
    inp.write_text(text, encoding="latin-1")
    res = import_file(empty_twin, inp, crs="EPSG:4546", force=True)
    why = res.report["source"]["patterns_not_kept"]
    assert list(why) == ["1"] and "169 multipliers" in why["1"]
    assert any("pattern '1' not kept" in n.text and n.level == "warn" for n in res.notes)
    j = empty_twin.get("epanet:Net3_long:node:101", meshes=False).attributes
    assert "demands" not in j and j["base_demand_m3s"] > 0
    kept = [f for f in empty_twin.query(twin.Query(layers=("pipe_nodes",)))
            if "demands" in f.attributes]
    assert kept and all(len(d["pattern"]) == 24 for f in kept for d in f.attributes["demands"]
                        if "pattern" in d)
