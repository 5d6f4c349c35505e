"""Twin endpoints: summary, catalogue, hierarchy, 3D queries, analyses, scenes."""

from __future__ import annotations

import numpy as np
import pygltflib
import pytest
from builders import GROUND, X0, Y0

from viewer.gltf import read_glb_json, to_gltf_axes


def test_summary_and_catalogue(api, city):
    s = api.get("/twin").json()
    assert s["crs"]["code"] == 4546 and s["vertical_datum"] == "1985 National Height Datum"
    assert s["features"] == 8 and s["features_by_layer"]["buildings"] == 3
    lon0, lat0, lon1, lat1 = s["bounds_crs84"]
    assert 111.6 < lon0 < lon1 < 111.8 and 40.7 < lat0 < lat1 < 40.9
    cat = {x["name"]: x for x in api.get("/twin/layers").json()["layers"]}
    assert cat["heating"]["colour"] == city.layer("heating").colour
    assert cat["heating"]["code"] == "RL" and cat["heating"]["features"] == 1


def test_feature_detail_has_hierarchy_meshes_and_provenance(api):
    d = api.get("/twin/features/test:B1").json()
    assert d["children"] == 1 and d["ancestors"] == []
    assert d["meshes"]["1"]["surfaces"] == {"GroundSurface": 2, "WallSurface": 8,
                                           "RoofSurface": 2}
    assert d["provenance"]["source_file"] == "small_city"
    storey = api.get("/twin/features/test:B1-S1").json()
    assert [a["id"] for a in storey["ancestors"]] == ["test:B1"]
    kids = api.get("/twin/features/test:B1/children").json()
    assert [f["id"] for f in kids["features"]] == ["test:B1-S1"]
    assert api.get("/twin/features/test:missing").status_code == 404


def test_what_lies_under_a_building(api):
    under = api.get("/twin/features/test:B1/below", params={"depth": 5}).json()
    ids = {f["id"] for f in under["features"]}
    assert ids == {"test:P1"}  # the heating pipe 3 m down; the water pipe runs beside it
    shallow = api.get("/twin/features/test:B1/below", params={"depth": 2}).json()
    assert shallow["features"] == []
    assert api.get("/twin/features/test:P1/below").status_code == 200


def test_search_in_a_3d_box_and_around_a_point(api):
    box = f"{X0 - 20},{Y0 - 10},{GROUND - 5},{X0 + 100},{Y0 + 50},{GROUND}"
    r = api.get("/twin/search", params={"box3d": box}).json()
    assert sorted(f["id"] for f in r["features"]) == ["test:B1", "test:B2", "test:B3",
                                                     "test:P1", "test:P2", "test:V1",
                                                     "test:V2"]
    r = api.get("/twin/search", params={"box3d": box, "layers": ["heating", "water_supply"]})
    assert r.json()["numberMatched"] == 2
    near = api.get("/twin/around", params={"x": X0 + 60, "y": Y0 - 6, "n": 1}).json()
    assert near["features"][0]["id"] == "test:V2"
    assert near["features"][0]["properties"]["distance_m"] == pytest.approx(1.0)
    assert api.get("/twin/search", params={"box3d": "1,2,3"}).status_code == 400


def test_pipe_analyses(api):
    ren = api.get("/twin/analyses/renewal",
                  params={"year": 2026, "min_age": 20, "layers": "heating"}).json()
    assert [i["id"] for i in ren["items"]] == ["test:P1"]
    assert ren["length_m"] == pytest.approx(40.0)
    young = api.get("/twin/analyses/renewal", params={"year": 2010}).json()
    assert young["items"] == []
    bands = api.get("/twin/analyses/ageing", params={"year": 2026}).json()["bands"]
    assert {(b["layer"], b["band"]) for b in bands} == {("heating", "20-29"),
                                                        ("water_supply", "10-19")}
    stats = {s["layer"]: s for s in
             api.get("/twin/analyses/statistics").json()["networks"]}
    assert stats["water_supply"]["length_km"] == pytest.approx(0.07)
    assert api.get("/twin/networks").json()["networks"] == ["JS", "RL"]
    assert api.get("/twin/networks/JS/check").json()["components"] == 1
    assert api.get("/twin/networks/XX/check").status_code == 404
    iso = api.get("/twin/analyses/isolation/test:P2").json()
    assert iso["valves_to_close"] == ["test:V1", "test:V2"]
    assert api.get("/twin/analyses/isolation/test:B1").status_code == 400
    clear = api.get("/twin/analyses/clearances").json()
    assert clear["segments"] == 2 and clear["buildings"] == 3
    assert clear["violations_total"] == len(clear["violations"])


def test_scene_glb_carries_feature_ids_and_origin_relative_vertices(api, city):
    bbox = f"{X0 - 20},{Y0 - 10},{X0 + 30},{Y0 + 20}"
    r = api.get("/twin/scene.glb", params={"bbox": bbox})
    assert r.status_code == 200 and r.headers["content-type"] == "model/gltf-binary"
    doc = read_glb_json(r.content)
    origin = doc["asset"]["extras"]["origin"]
    assert origin == list(city.origin)
    nodes = {n["extras"]["id"]: n for n in doc["nodes"] if "mesh" in n}
    meshed = {i for i, n in nodes.items() if "drawn_as" not in n["extras"]}
    assert meshed == {"test:B1", "test:P1", "test:P2"}
    # without a mesh, the valve is drawn as a point and the storey as its outline
    assert {i: nodes[i]["extras"]["drawn_as"] for i in set(nodes) - meshed} == {
        "test:V1": "points", "test:B1-S1": "lines"}
    assert int(r.headers["x-feature-count"]) == 5
    assert int(r.headers["x-features-without-mesh"]) == 2
    assert doc["asset"]["extras"]["counts"]["without_mesh"] == 2
    assert nodes["test:B1"]["extras"]["storeys"] == 6
    layer_groups = {n["name"] for n in doc["nodes"] if "mesh" not in n}
    assert layer_groups == {"buildings", "heating", "water_supply", "pipe_nodes",
                            "building_elements"}
    # the building's positions are its mesh minus the origin, in glTF axes
    glb = pygltflib.GLTF2.load_from_bytes(r.content)
    acc = glb.accessors[glb.meshes[nodes["test:B1"]["mesh"]].primitives[0].attributes.POSITION]
    view = glb.bufferViews[acc.bufferView]
    blob = glb.binary_blob()
    pos = np.frombuffer(blob[view.byteOffset:view.byteOffset + view.byteLength],
                        dtype=np.float32).reshape(-1, 3)
    expect = to_gltf_axes(city.get("test:B1").mesh.vertices, city.origin)
    np.testing.assert_allclose(pos, expect, atol=1e-4)
    # y is up: the roof is 18 m above the base
    assert pos[:, 1].max() - pos[:, 1].min() == pytest.approx(18.0, abs=1e-4)


def test_scene_limits(api, city):
    assert api.get("/twin/scene.glb").status_code == 400
    huge = api.get("/twin/scene.glb", params={"bbox": "500000,4400000,600000,4500000"})
    assert huge.status_code == 400 and "km^2" in huge.json()["detail"]
    unknown = api.get("/twin/scene.glb", params={"bbox": f"{X0},{Y0},{X0 + 1},{Y0 + 1}",
                                                 "layers": "nope"})
    assert unknown.status_code == 400 and "layer 'nope' does not exist" in \
        unknown.json()["detail"]


def test_unknown_routes_and_methods_are_problems(api):
    r = api.get("/no/such/thing")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = api.delete("/collections")
    assert r.status_code == 405 and r.json()["status"] == 405


def test_hydraulics_calibration_and_burst_impact_over_http(empty_twin):
    """EPANET runs of a hand-made network through the API, its one pressure
    logger (3 m under the simulated pressure), a burst's impact."""
    from builders import water_district
    from fastapi.testclient import TestClient

    from twin.sensors.model import to_ms
    from twin.sensors.store import sensors_of
    from twin_api.app import create_app
    from twin_api.settings import ApiSettings

    with empty_twin.import_batch("hand-made", "test", "tests", "1") as b:
        b.add(water_district())
    with TestClient(create_app(ApiSettings(empty_twin.path))) as api:
        sim = api.get("/twin/analyses/hydraulics").json()
        assert sim["network"] == "W" and sim["junctions"] == 8 and sim["defaulted"] == {
            "junction base_demand_m3s": 2, "head-loss formula (H-W)": 1}
        p = {n["id"]: n["pressure_m"] for n in sim["nodes"]}
        assert p["h:R"] == pytest.approx(50.0) and 45 < p["h:C"] < 50
        t = to_ms("2025-05-01T08:00:00Z")
        with sensors_of(empty_twin).writing() as w:
            th = w.insert("Things", {"name": "logger", "description": "-",
                                     "feature_id": "h:C", "properties": {}})
            se = w.insert("Sensors", {"name": "p", "description": "p",
                                      "encoding_type": "text/plain", "metadata": "-"})
            op = w.insert("ObservedProperties", {"name": "Pressure", "description": "-",
                                                 "definition": "urn:p"})
            ds = w.insert("Datastreams", {
                "name": "pressure C", "description": "d", "observation_type": "OM_Measurement",
                "unit": {"name": "bar", "symbol": "bar", "definition": "-"}, "thing_id": th,
                "sensor_id": se, "observed_property_id": op})
            w.add_observations(ds, np.array([t]), np.array([(p["h:C"] + 3) * 0.0980665]))
        cal = api.get("/twin/analyses/calibration",
                      params={"time": "2025-05-01T08:30:00Z"}).json()
        assert cal["loggers"] == 1 and cal["rmse_m"] == pytest.approx(3.0, abs=1e-4)
        assert cal["residuals"][0]["residual_m"] == pytest.approx(-3.0, abs=1e-4)
        mean = api.get("/twin/analyses/calibration", params={
            "from": "2025-05-01T07:00:00Z", "to": "2025-05-01T09:00:00Z"}).json()
        assert mean["residuals"][0]["readings"] == 1
        assert api.get("/twin/analyses/calibration",
                       params={"from": "2025-05-01T07:00:00Z"}).status_code == 400
        assert api.get("/twin/analyses/calibration",
                       params={"time": "yesterday"}).status_code == 400
        iso = api.get("/twin/analyses/isolation/h:V1X",
                      params={"hydraulics": "true", "service_pressure": 14}).json()
        h = iso["hydraulics"]
        assert h["unsupplied_nodes"] == ["h:D", "h:X"]
        assert h["below_service"] == ["h:B", "h:C", "h:V2"]
        assert api.get("/twin/analyses/isolation/h:V1X").json()["hydraulics"] is None
        assert api.get("/twin/analyses/hydraulics", params={"network": "XX"}).status_code == 400
        assert api.get("/twin/analyses/hydraulics", params={"at": -1}).status_code in (400, 422)


def test_hydraulics_of_a_network_without_source_is_a_400(api):
    r = api.get("/twin/analyses/hydraulics", params={"network": "JS"})
    assert r.status_code == 400 and "no source" in r.json()["detail"]
