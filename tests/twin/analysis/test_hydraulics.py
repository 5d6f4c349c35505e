"""Hydraulics from the twin (WNTR / EPANET): Net3 through the EPANET converter
against WNTR on the .inp itself, a hand-made network whose pressures are
known in closed form (Hazen-Williams), a burst that leaves known nodes under
the service pressure, pressure loggers with known offsets, and the networks
that cannot be simulated."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import wntr
from builders import WATER_DEMAND as DEMAND
from builders import WATER_X0 as X0
from builders import WATER_Y0 as Y0
from builders import WATER_Z as Z
from builders import water_district as district
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString

import twin
from converters import import_file
from twin.analysis.calibration import calibration_check
from twin.analysis.hydraulics import simulate_twin, twin_network
from twin.analysis.isolation import isolation_for
from twin.errors import AnalysisError
from twin.sensors.model import to_ms
from twin.sensors.store import sensors_of

NET3 = Path(__file__).resolve().parents[3] / "sample_models" / "epanet" / "Net3.inp"
#: Net3 from the twin and WNTR on the .inp agree to this (m) at every junction
NET3_TOLERANCE_M = 1e-3


def reference_pressures(inp: Path, at_s: int = 0) -> tuple[dict[str, float], dict[str, float]]:
    """WNTR straight on the .inp, in the state the twin keeps: its demand
    patterns and simple controls (no rule-based controls), at ``at_s``
    seconds (hourly hydraulic steps, as the twin's run takes them)."""
    with warnings.catch_warnings():  # wntr's reader warns of D-W roughness units
        warnings.simplefilter("ignore", UserWarning)
        wn = wntr.network.WaterNetworkModel(str(inp))
    for name in list(wn.control_name_list):
        if not isinstance(wn.get_control(name), wntr.network.controls.Control):  # a rule
            wn.remove_control(name)
    wn.options.time.duration = at_s
    wn.options.time.hydraulic_timestep = 3600
    wn.options.time.report_timestep = 3600
    res = wntr.sim.EpanetSimulator(wn).run_sim(file_prefix=str(inp.parent / "reference"))
    p = res.node["pressure"].loc[at_s]
    q = res.link["flowrate"].loc[at_s]
    return ({n: float(p[n]) for n in wn.junction_name_list},
            {k: float(q[k]) for k in wn.link_name_list})


def test_net3_simulated_from_the_twin_agrees_with_wntr_on_the_inp(empty_twin, tmp_path):
    import_file(empty_twin, NET3, crs="EPSG:4546", force=True)  # local coordinates
    r = simulate_twin(empty_twin)
    copy = tmp_path / NET3.name  # wntr writes its EPANET files beside the model
    copy.write_bytes(NET3.read_bytes())
    pressures, flows = reference_pressures(copy)
    ours = r.pressure()
    diff = [abs(ours[f"epanet:Net3:node:{n}"] - p) for n, p in pressures.items()]
    assert len(diff) == 92
    assert max(diff) < NET3_TOLERANCE_M, f"max difference {max(diff):.4f} m"
    q = dict(zip(r.link_ids.tolist(), r.flow_m3s.tolist()))
    assert max(abs(q[f"epanet:Net3:link:{k}"] - v) for k, v in flows.items()) < 1e-5
    assert r.defaulted == {}  # the converter keeps everything a run needs
    # the pump from the lake is closed at the start, the other one runs
    assert abs(q["epanet:Net3:link:10"]) < 1e-9 < q["epanet:Net3:link:335"]
    # an extended period: the tanks move, the demands follow Net3's patterns and
    # its controls run the pumps (the lake's from 1 h to 15 h, 335 by tank 1's
    # level), as EPANET runs the .inp itself at the same hours
    for hours in (6, 13, 16):
        later = simulate_twin(empty_twin, at_s=hours * 3600)
        assert later.time_s == hours * 3600
        pressures, flows = reference_pressures(copy, hours * 3600)
        ours = later.pressure()
        diff = [abs(ours[f"epanet:Net3:node:{n}"] - p) for n, p in pressures.items()]
        assert max(diff) < NET3_TOLERANCE_M, f"{hours} h: max difference {max(diff):.4f} m"
        q = dict(zip(later.link_ids.tolist(), later.flow_m3s.tolist()))
        assert max(abs(q[f"epanet:Net3:link:{k}"] - v) for k, v in flows.items()) < 1e-5
        assert not np.allclose(later.pressure_m, r.pressure_m, atol=0.01)
        assert later.summary()["demand_m3s"] != pytest.approx(r.summary()["demand_m3s"])
        lake = abs(q["epanet:Net3:link:10"])
        assert (lake > 1e-3) if hours < 15 else (lake < 1e-9), hours  # its schedule


def test_demand_patterns_are_kept_and_drive_the_run(empty_twin, tmp_path):
    """Net3's junctions keep their categories with their pattern's multipliers
    (the default pattern resolved) and the pattern step; a junction's draw at
    an hour is its base times that hour's multiplier."""
    import_file(empty_twin, NET3, crs="EPSG:4546", force=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        wn = wntr.network.WaterNetworkModel(str(NET3))
    j = empty_twin.get("epanet:Net3:node:101", meshes=False)
    base = wn.get_node("101").demand_timeseries_list[0].base_value
    mult = list(wn.get_pattern("1").multipliers)
    assert j.attributes["demands"] == [{"base_m3s": pytest.approx(base), "pattern": mult}]
    assert j.attributes["pattern_step_s"] == 3600 and j.attributes["pattern_start_s"] == 0
    r = simulate_twin(empty_twin, at_s=5 * 3600)
    d = dict(zip(r.node_ids.tolist(), r.demand_m3s.tolist()))
    assert d["epanet:Net3:node:101"] == pytest.approx(base * mult[5], rel=1e-4)
    assert j.attributes["base_demand_m3s"] == pytest.approx(base)  # the base itself


def test_patterns_that_disagree_on_their_step_are_refused(empty_twin):
    import dataclasses

    feats = district()
    for k, name in enumerate(("h:A", "h:B")):
        i = next(i for i, f in enumerate(feats) if f.id == name)
        feats[i] = dataclasses.replace(feats[i], attributes={
            **feats[i].attributes, "demands": [{"base_m3s": 0.001, "pattern": [1, 2]}],
            "pattern_step_s": 3600 * (k + 1)})
    _import(empty_twin, feats)
    with pytest.raises(AnalysisError, match="disagree on their time step"):
        simulate_twin(empty_twin)


def test_a_damaged_pattern_is_named(empty_twin):
    import dataclasses

    feats = district()
    i = next(i for i, f in enumerate(feats) if f.id == "h:C")
    feats[i] = dataclasses.replace(feats[i], attributes={
        **feats[i].attributes, "demands": [{"base_m3s": 0.001, "pattern": [1, "high"]}]})
    _import(empty_twin, feats)
    with pytest.raises(AnalysisError, match="'h:C'.*multiplier 'high'"):
        simulate_twin(empty_twin)


def _import(store, feats):
    with store.import_batch("hand-made", "test", "tests", "1") as b:
        b.add(feats)
    return store


def hazen_williams(q, length, dia_m, c=130.0):
    """Head loss (m) of a flow q (m3/s) in a pipe: the SI Hazen-Williams formula."""
    return 10.667 * length * q ** 1.852 / (c ** 1.852 * dia_m ** 4.871)


def test_burst_leaves_the_nodes_beyond_it_under_service_pressure(empty_twin):
    _import(empty_twin, district())
    intact = simulate_twin(empty_twin).pressure()
    assert min(intact[f"h:{n}"] for n in "ABCDEX") > 45  # the main carries it all
    r = isolation_for(empty_twin, "h:V1X", hydraulics=True)
    assert r.valves_to_close == ("h:V1", "h:V2")
    h = r.hydraulics
    assert h.unsupplied_nodes == ("h:D", "h:X")
    assert h.unsupplied_demand_m3s == pytest.approx(DEMAND["X"] + DEMAND["D"])
    # the valve on B's side closed, B's side now hangs on the long DN100 loop
    assert h.below_service == h.newly_below == ("h:B", "h:C", "h:V2")
    assert h.below_service_intact == ()
    assert h.demand_below_service_m3s == pytest.approx(DEMAND["B"] + DEMAND["C"], rel=1e-4)
    assert h.total_demand_m3s == pytest.approx(sum(DEMAND.values()))
    assert set(h.removed_links) == {"h:V1X", "h:XV2", "h:XD"}
    # after the isolation the network is a tree: its pressures in closed form
    after = twin_network(empty_twin)
    from twin.analysis.hydraulics import run
    res = run(after, without={"h:V1X", "h:XV2", "h:XD"}, drop_nodes={"h:X", "h:D"}).pressure()
    q_main = DEMAND["E"] + DEMAND["B"] + DEMAND["C"]
    p_a = 50 - hazen_williams(q_main, 500, 0.3)
    p_b = p_a - hazen_williams(DEMAND["B"] + DEMAND["C"], 1500, 0.1)
    p_c = p_b - hazen_williams(DEMAND["C"], 300, 0.15)
    assert res["h:A"] == pytest.approx(p_a, abs=0.05)
    assert res["h:B"] == pytest.approx(p_b, abs=0.05)
    assert res["h:C"] == pytest.approx(p_c, abs=0.05)
    assert h.min_pressure_m == pytest.approx(p_c, abs=0.05)
    assert p_c < p_b < 14  # the service pressure
    # a lower service pressure: nobody is short of it
    low = isolation_for(empty_twin, "h:V1X", hydraulics=True, service_pressure_m=5)
    assert low.hydraulics.below_service == ()
    assert isolation_for(empty_twin, "h:V1X").hydraulics is None


def test_defaults_are_counted_never_silent(empty_twin):
    feats = [f if f.id != "h:AE" else twin.Feature(
        id=f.id, layer=f.layer, type=f.type, footprint=f.footprint,
        attributes={"network": "W"}, edge=f.edge) for f in district()]
    _import(empty_twin, feats)
    r = simulate_twin(empty_twin)
    assert r.defaulted == {"junction base_demand_m3s": 2, "pipe diameter_mm": 1,
                           "pipe length_m (from the centreline)": 1, "pipe roughness": 1,
                           "head-loss formula (H-W)": 1}
    assert r.summary()["defaulted"] == r.defaulted


PRESSURE = {"name": "kilopascal", "symbol": "kPa", "definition": "-"}


def _logger(w, feature, unit=PRESSURE):
    th = w.insert("Things", {"name": f"logger {feature}", "description": "logger",
                             "feature_id": feature, "properties": {}})
    se = w.insert("Sensors", {"name": "p", "description": "p", "encoding_type": "text/plain",
                              "metadata": "-"})
    op = w.insert("ObservedProperties", {"name": "pressure", "description": "gauge pressure",
                                         "definition": "urn:pressure"})
    return w.insert("Datastreams", {
        "name": f"pressure {feature}", "description": "d", "observation_type": "OM_Measurement",
        "unit": unit, "thing_id": th, "sensor_id": se, "observed_property_id": op})


AT = to_ms("2025-05-01T08:00:00+08:00")
OFFSET = {"h:B": 2.0, "h:C": -5.0}  # simulated - observed, m


def test_residuals_equal_the_known_offsets(empty_twin):
    _import(empty_twin, district())
    sim = simulate_twin(empty_twin).pressure()
    kpa = {n: (sim[n] - off) * 9.80665 for n, off in OFFSET.items()}
    t = AT + np.array([-7_200_000, -60_000, 0, 60_000, 3_600_000], dtype=np.int64)
    with sensors_of(empty_twin).writing() as w:
        ids = {n: _logger(w, n) for n in OFFSET}
        for n, ds in ids.items():  # right at AT; wrong before and after it; mean right
            w.add_observations(ds, t, np.array([0.0, kpa[n] - 3, kpa[n], 999.0, 1e4]))
        _logger(w, "h:A", {"name": "furlong", "symbol": "fur", "definition": "-"})
        _logger(w, "test:B1")  # not a node of the network
    net = twin_network(empty_twin)
    check = calibration_check(empty_twin, net, at=AT)
    assert [(r.node, round(r.residual_m, 6)) for r in check.residuals] == [
        ("h:C", -5.0), ("h:B", 2.0)]  # worst first
    assert check.rmse_m == pytest.approx(np.sqrt((4 + 25) / 2))
    assert check.mean_residual_m == pytest.approx(-1.5)
    assert check.worst(1)[0].datastream == ids["h:C"]
    reasons = sorted(s[2] for s in check.skipped)
    assert "unit" in reasons[1] and "fur" in reasons[1]
    assert "not a node of network" in reasons[0]
    # the mean over an interval (AT - 1 min up to AT + 1 min, exclusive)
    mean = calibration_check(empty_twin, net, start=AT - 60_000, end=AT + 60_000)
    for r in mean.residuals:
        assert r.readings == 2
        assert r.residual_m == pytest.approx(OFFSET[r.node] + 1.5 / 9.80665)
    # no time: the latest reading (1e4 kPa)
    latest = calibration_check(empty_twin, net)
    for r in latest.residuals:
        assert r.observed_m == pytest.approx(1e4 / 9.80665)
    # long before the readings: none within the hour, each logger says so
    early = calibration_check(empty_twin, net, at=AT - 86_400_000)
    assert early.residuals == ()
    assert sum("no numeric reading" in s[2] for s in early.skipped) == 2


def test_a_network_without_source_is_refused(empty_twin):
    _import(empty_twin, district(source=False))
    with pytest.raises(AnalysisError, match="'W' has no source"):
        simulate_twin(empty_twin)


def test_parts_no_source_reaches_are_named(empty_twin):
    _import(empty_twin, district(extra_pipes=[("FG", "F", "G")]))
    with pytest.raises(AnalysisError, match=r"1 part that no source reaches: 2 nodes "
                                            r"\(h:F, h:G\)"):
        simulate_twin(empty_twin)


def test_skipping_unsupplied_parts_simulates_the_rest_as_without_them(empty_twin, tmp_path):
    """A delivery not yet connected (F-G) is left out and listed; the rest is
    simulated exactly as a twin that never had it."""
    _import(empty_twin, district(extra_pipes=[("FG", "F", "G")]))
    with pytest.raises(AnalysisError, match="skip_unsupplied=true"):
        simulate_twin(empty_twin)
    skipped = simulate_twin(empty_twin, skip_unsupplied=True)
    assert skipped.unsupplied == ("h:F", "h:G")
    assert skipped.summary()["unsupplied"] == ["h:F", "h:G"]
    alone = twin.create_twin(tmp_path / "alone.gpkg", "EPSG:4546")
    _import(alone, district())
    whole = simulate_twin(alone)
    assert whole.unsupplied == () and whole.pressure() == pytest.approx(skipped.pressure())
    alone.close()
    # a burst on such a network: refused, or the part left out of both runs
    with pytest.raises(AnalysisError, match="no source reaches"):
        isolation_for(empty_twin, "h:V1X", hydraulics=True)
    h = isolation_for(empty_twin, "h:V1X", hydraulics=True, skip_unsupplied=True).hydraulics
    assert h.unsupplied_before == ("h:F", "h:G")
    assert h.unsupplied_nodes == ("h:D", "h:X")  # what the burst cuts off, as without F-G
    assert h.below_service == h.newly_below == ("h:B", "h:C", "h:V2")


def test_a_pump_without_curve_or_power_is_named(empty_twin):
    feats = district()
    feats.append(twin.Feature(id="h:P1", layer="water_supply", type="Pump",
                              footprint=LineString([(X0 + 600, Y0, Z), (X0 + 500, Y0, Z)]),
                              attributes={"network": "W"},
                              edge=twin.Edge("W", "h:C", "h:B")))
    _import(empty_twin, feats)
    with pytest.raises(AnalysisError, match="pump 'h:P1' has neither a head_curve"):
        simulate_twin(empty_twin)
    with pytest.raises(AnalysisError, match="network 'nope' does not exist"):
        simulate_twin(empty_twin, "nope")


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.floats(20, 800), st.sampled_from([100.0, 150.0, 200.0, 300.0]),
                          st.floats(0.0, 0.004), st.floats(-5.0, 5.0)),
                min_size=1, max_size=8))
def test_a_chain_of_pipes_follows_hazen_williams(pipes):
    """A reservoir feeding a chain of pipes (random lengths, diameters, demands
    and elevations): every node's pressure is the head less the Hazen-Williams
    losses upstream, less its elevation."""
    import networkx as nx

    from twin.analysis.hydraulic_model import hydraulic_network
    from twin.analysis.hydraulics import simulate

    g = nx.MultiGraph(network="chain")
    g.add_node("R", type="Reservoir", ground=0.0, attributes={"head_m": 80.0})
    for k, (length, dia, demand, z) in enumerate(pipes):
        g.add_node(f"J{k}", type="Junction", ground=z, attributes={"base_demand_m3s": demand})
        a = "R" if k == 0 else f"J{k - 1}"
        g.add_edge(a, f"J{k}", key=f"P{k}", start=a, end=f"J{k}", type="PipeSegment",
                   attributes={"length_m": length, "diameter_mm": dia, "roughness": 110.0})
    r = simulate(hydraulic_network(g)).pressure()
    head = 80.0
    for k, (length, dia, _demand, z) in enumerate(pipes):
        q = sum(p[2] for p in pipes[k:])
        head -= hazen_williams(q, length, dia / 1000, 110.0)
        assert r[f"J{k}"] == pytest.approx(head - z, abs=0.02 + 0.002 * abs(80 - head))


_CONTROLLED = """[TITLE]
Valves, a power pump, a check valve, two demand categories, Darcy-Weisbach

[JUNCTIONS]
;ID  Elev  Demand
 J1  10    2
 J2  12    1
 J3  5     3
 J4  8     0
 J5  20    1.5

[RESERVOIRS]
 R1  60

[TANKS]
;ID  Elev  InitLevel  MinLevel  MaxLevel  Diameter  MinVol
 T1  40    6          1         9         12        0

[PIPES]
;ID  Node1  Node2  Length  Diameter  Roughness  MinorLoss  Status
 P1  R1     J1     300     250       0.2        0          Open
 P2  J2     J3     200     150       0.2        1.5        Open
 P3  J3     J4     250     150       0.2        0          CV
 P4  J4     T1     150     200       0.2        0          Open
 P5  J1     J3     900     100       0.2        0          Open
 P6  J5     T1     100     150       0.2        0          Open

[PUMPS]
;ID  Node1  Node2  Parameters
 U1  J4     J5     POWER 5

[VALVES]
;ID  Node1  Node2  Diameter  Type  Setting
 V1  J1     J2     200       PRV   30
 V2  J3     J4     100       TCV   5

[DEMANDS]
;Junction  Demand  Pattern  Category
 J1        2        P        homes
 J1        1.25     P        shops

[PATTERNS]
 P  0.5  1.5

[OPTIONS]
 Units     LPS
 Headloss  D-W

[COORDINATES]
 R1  0    0
 J1  100  0
 J2  200  0
 J3  300  0
 J4  400  0
 J5  500  50
 T1  500  0

[END]
"""


def test_valves_pumps_check_valves_and_demand_categories_survive_the_twin(empty_twin, tmp_path):
    """A PRV, a TCV, a constant-power pump, a check valve, a tank, minor losses,
    Darcy-Weisbach and a junction with two demand categories: through the
    converter into the twin and out again, EPANET agrees with WNTR on the .inp."""
    inp = tmp_path / "controlled.inp"
    inp.write_text(_CONTROLLED)
    import_file(empty_twin, inp, crs="EPSG:4546", force=True)  # local coordinates
    r = simulate_twin(empty_twin)
    assert r.defaulted == {}
    pressures, flows = reference_pressures(inp)
    ours = r.pressure()
    diff = max(abs(ours[f"epanet:controlled:node:{n}"] - p) for n, p in pressures.items())
    assert diff < NET3_TOLERANCE_M
    q = dict(zip(r.link_ids.tolist(), r.flow_m3s.tolist()))
    assert max(abs(q[f"epanet:controlled:link:{k}"] - v) for k, v in flows.items()) < 1e-6
    # J1's two categories follow pattern P (0.5, then 1.5), the others draw constantly
    assert r.summary()["demand_m3s"] == pytest.approx(((2 + 1.25) * 0.5 + 1 + 3 + 1.5) / 1000)
    later = simulate_twin(empty_twin, at_s=3600)
    assert later.summary()["demand_m3s"] == pytest.approx(
        ((2 + 1.25) * 1.5 + 1 + 3 + 1.5) / 1000)
    pressures, flows = reference_pressures(inp, 3600)
    ours = later.pressure()
    assert max(abs(ours[f"epanet:controlled:node:{n}"] - p)
               for n, p in pressures.items()) < NET3_TOLERANCE_M
    assert abs(q["epanet:controlled:link:U1"]) > 1e-4  # the pump runs


_CONTROLS = """
[CONTROLS]
 LINK U1 CLOSED AT CLOCKTIME 6 AM
 LINK U1 1.2 AT TIME 3
 LINK V1 25 IF NODE J1 BELOW 30
 LINK V2 OPEN IF NODE T1 ABOVE 3
 LINK P2 CLOSED IF NODE J3 ABOVE 40

[RULES]
RULE 1
IF TANK T1 LEVEL ABOVE 4
THEN LINK U1 STATUS IS CLOSED

[END]
"""


def test_simple_controls_are_kept_on_their_links_and_act_in_the_run(empty_twin, tmp_path):
    """A clock-time, a time, a pressure and a tank-level control setting a
    pump's status and speed, a valve's setting and status and a pipe's status:
    kept on their links (nodes by twin id), and the twin's run equals WNTR on
    the .inp hour by hour; the rule-based control is counted, not kept."""
    inp = tmp_path / "controls.inp"
    inp.write_text(_CONTROLLED.replace("[END]", _CONTROLS))
    res = import_file(empty_twin, inp, crs="EPSG:4546", force=True)
    assert res.report["source"]["rules_not_kept"] == 1
    assert any("1 rule-based controls" in n.text for n in res.notes)
    pump = empty_twin.get("epanet:controls:link:U1", meshes=False).attributes["controls"]
    assert pump == [{"when": {"clock_s": 6 * 3600}, "set": "status", "to": "CLOSED"},
                    {"when": {"time_s": 3 * 3600}, "set": "speed", "to": 1.2}]
    valve = empty_twin.get("epanet:controls:link:V1", meshes=False).attributes["controls"]
    assert valve == [{"when": {"node": "epanet:controls:node:J1", "measure": "pressure",
                               "below": 30.0}, "set": "setting", "to": 25.0}]
    flows_seen = []
    for hours in (0, 2, 4, 7):
        r = simulate_twin(empty_twin, at_s=hours * 3600)
        pressures, flows = reference_pressures(inp, hours * 3600)
        ours = r.pressure()
        assert max(abs(ours[f"epanet:controls:node:{n}"] - p)
                   for n, p in pressures.items()) < NET3_TOLERANCE_M, hours
        q = dict(zip(r.link_ids.tolist(), r.flow_m3s.tolist()))
        assert max(abs(q[f"epanet:controls:link:{k}"] - v) for k, v in flows.items()) < 1e-6
        flows_seen.append(q["epanet:controls:link:U1"])
    assert abs(flows_seen[-1]) < 1e-9 < abs(flows_seen[0])  # closed from 6 AM


def test_a_control_naming_a_node_outside_the_network_is_named(empty_twin):
    import dataclasses

    from builders import update

    feats = district()
    i = next(i for i, f in enumerate(feats) if f.id == "h:AB")
    feats[i] = dataclasses.replace(feats[i], attributes={
        **feats[i].attributes, "controls": [
            {"when": {"node": "h:nowhere", "measure": "pressure", "below": 20},
             "set": "status", "to": "CLOSED"}]})
    _import(empty_twin, feats)
    with pytest.raises(AnalysisError, match="'h:AB'.*'h:nowhere'.*not in the network"):
        simulate_twin(empty_twin)
    feats[i] = dataclasses.replace(feats[i], attributes={
        **feats[i].attributes, "controls": [{"when": {"time_s": 60}, "set": "speed", "to": 2}]})
    update(empty_twin, feats)
    with pytest.raises(AnalysisError, match="'h:AB'.*speed control on a pipe"):
        simulate_twin(empty_twin)
