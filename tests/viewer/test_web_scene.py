"""The web viewer's data without a browser: the lean scene GLB read back with
pygltflib-free parsing (the GLB container and accessors of glTF 2.0), and the
/twin/viewer routes against what the twin and the other endpoints say."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

import twin
from twin.geometry import extrude_footprint
from twin_api.app import create_app
from twin_api.settings import ApiSettings
from viewer.gltf import read_glb_json, to_gltf_axes
from viewer.web_scene import shape_key, web_scene_glb

ORIGIN = (559000.0, 4520800.0, 1050.0)
COLOURS = {"buildings": "#d9d0c1", "pipe_nodes": "#555555", "heating": "#f08c00"}


def _accessor(glb: bytes, doc: dict, i: int) -> np.ndarray:
    acc = doc["accessors"][i]
    view = doc["bufferViews"][acc["bufferView"]]
    json_len = int.from_bytes(glb[12:16], "little")
    blob = glb[20 + json_len + 8:]
    dtype = {5126: np.float32, 5123: np.uint16, 5125: np.uint32}[acc["componentType"]]
    width = {"SCALAR": 1, "VEC3": 3}[acc["type"]]
    a = np.frombuffer(blob, dtype, acc["count"] * width, view["byteOffset"])
    return a.reshape(-1, width) if width > 1 else a


def _features():
    feats = []
    # twelve manholes as a pipe converter makes them: one cylinder template, placed and
    # stretched (radius and depth) per node
    unit = extrude_footprint(Point(0, 0).buffer(1.0, quad_segs=4), -1.0, 0.0)
    for k in range(12):
        x, y = ORIGIN[0] + 10 * k, ORIGIN[1] + 3 * k
        r, depth = 0.6 + 0.05 * k, 2 + k * 0.1
        v = unit.vertices * [r, r, depth] + [x, y, ORIGIN[2]]
        feats.append(twin.Feature(id=f"mh{k}", layer="pipe_nodes", type="Manhole",
                                  footprint=Point(x, y, ORIGIN[2]),
                                  meshes={"1": twin.Mesh(v, unit.faces)}))
    for k, (w, h) in enumerate([(20, 30), (12, 9), (31, 60)]):
        x, y = ORIGIN[0] + 40 * k, ORIGIN[1] + 50
        fp = box(x, y, x + w, y + w * 0.7 + k)
        feats.append(twin.Feature(id=f"b{k}", layer="buildings", type="Building", footprint=fp,
                                  meshes={"1": extrude_footprint(fp, ORIGIN[2], ORIGIN[2] + h)},
                                  attributes={"storeys": h // 3}))
    return feats


def test_repeated_shapes_are_instanced_and_place_back_where_they_were():
    feats = _features()
    glb, stats = web_scene_glb(feats, ORIGIN, COLOURS, min_instances=8)
    doc = read_glb_json(glb)
    assert stats.instanced == 1 and stats.instances == 12 and stats.features == 15
    node = next(n for n in doc["nodes"] if n["extras"]["kind"] == "instanced")
    assert node["extras"]["layer"] == "pipe_nodes"
    rows = node["extras"]["features"]
    assert [r["id"] for r in rows] == [f"mh{k}" for k in range(12)]
    prim = doc["meshes"][node["mesh"]]["primitives"][0]
    unit = _accessor(glb, doc, prim["attributes"]["POSITION"])
    ext = node["extensions"]["EXT_mesh_gpu_instancing"]["attributes"]
    t = _accessor(glb, doc, ext["TRANSLATION"])
    s = _accessor(glb, doc, ext["SCALE"])
    for k, f in enumerate(feats[:12]):  # instance k is row k, at the feature's own vertices
        placed = t[k] + unit * s[k]
        assert np.allclose(placed, to_gltf_axes(f.mesh.vertices, ORIGIN), atol=1e-3)
    assert "EXT_mesh_gpu_instancing" in doc["extensionsUsed"]


def test_merged_meshes_carry_each_vertex_s_feature_row():
    feats = _features()
    glb, stats = web_scene_glb(feats, ORIGIN, COLOURS, min_instances=8)
    doc = read_glb_json(glb)
    node = next(n for n in doc["nodes"] if n["extras"]["kind"] == "merged")
    rows = node["extras"]["features"]
    assert [r["id"] for r in rows] == ["b0", "b1", "b2"] and rows[1]["storeys"] == 3
    prim = doc["meshes"][node["mesh"]]["primitives"][0]
    pos = _accessor(glb, doc, prim["attributes"]["POSITION"])
    # feature ids are unique in the GLB: the node's rows start at its offset
    fid = _accessor(glb, doc, prim["attributes"]["_FEATURE_ID_0"]) - \
        node["extras"]["feature_offset"]
    idx = _accessor(glb, doc, prim["indices"])
    for k, f in enumerate(feats[12:]):
        assert np.allclose(pos[fid == k], to_gltf_axes(f.mesh.vertices, ORIGIN), atol=1e-3)
    tri = idx.reshape(-1, 3)
    assert (fid[tri].min(axis=1) == fid[tri].max(axis=1)).all()  # no triangle spans features
    # with a higher threshold nothing is instanced and every feature is merged
    _, flat = web_scene_glb(feats, ORIGIN, COLOURS, min_instances=100)
    assert flat.instanced == 0 and flat.merged == 2 and flat.features == 15


@settings(max_examples=60, deadline=None)
@given(st.tuples(*[st.floats(-1e4, 1e4)] * 3), st.tuples(*[st.floats(0.01, 100)] * 3))
def test_shape_key_ignores_placement_and_stretch(shift, stretch):
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 2, 0], [0, 2, 3], [0.5, 1, 1.5]], float)
    f = np.array([[0, 1, 2], [0, 2, 3], [1, 3, 4]])
    k1, _, _ = shape_key(v, f)
    moved = v * np.array(stretch) + np.array(shift)
    k2, low, size = shape_key(moved, f)
    assert k1 == k2
    assert np.allclose(low + (moved - low) / size * size, moved)
    bent = moved.copy()
    bent[4] += size * 0.2  # another shape
    assert shape_key(bent, f)[0] != k1


@pytest.fixture(scope="module")
def client(demo_twin):
    with TestClient(create_app(ApiSettings(str(demo_twin)))) as c:
        yield c


def test_catalogue_groups_the_layers_with_counts_and_labels(client):
    cat = client.get("/twin/viewer/catalogue").json()
    assert [g["name"] for g in cat["groups"]] == ["above_ground", "surface", "underground"]
    info = client.get("/twin").json()
    by = {x["name"]: x["features"] for g in cat["groups"] for x in g["layers"]}
    assert {k: v for k, v in by.items() if v} == info["features_by_layer"]
    assert cat["attributes"]["diameter_mm"] == {
        "label": "diameter mm", "label_zh": "管径", "unit": "mm",
        "description": "nominal (inner) diameter of a round pipe"}


def test_attribute_values_colour_by_any_attribute(client):
    attrs = {a["name"]: a for a in client.get("/twin/viewer/attributes/buildings").json()[
        "attributes"]}
    assert attrs["storeys"]["kind"] == "number" and attrs["energy_retrofit"]["kind"] == "flag"
    assert attrs["function"]["kind"] == "category"
    assert "block" not in attrs  # 46 text values: too many to tell apart by colour
    res = client.get("/twin/viewer/attributes/buildings/storeys").json()
    assert len(res["ids"]) == len(res["values"]) == attrs["storeys"]["count"]
    assert min(res["values"]) == attrs["storeys"]["min"]
    assert client.get("/twin/viewer/attributes/buildings/block").status_code == 400
    missing = client.get("/twin/viewer/attributes/buildings/colour")
    assert missing.status_code == 404 and "storeys" in missing.json()["detail"]
    assert client.get("/twin/viewer/attributes/nope").status_code == 404


def test_indicator_feature_sets_match_the_indicators(client):
    ind = {i["key"]: i for i in client.get("/indicators", params={"year": 2025}).json()[
        "indicators"]}
    high = client.get("/twin/viewer/indicators/residential_over_18_storeys",
                      params={"year": 2025}).json()
    assert len(high["groups"][0]["ids"]) == ind["residential_over_18_storeys"]["value"]
    ren = client.get("/twin/viewer/indicators/heating_renewal",
                     params={"year": 2025, "geometry": True}).json()
    hl = client.get("/twin/analyses/highlight", params={"analysis": "renewal:2025"}).json()
    assert ren["groups"][0]["ids"] == hl["groups"][0]["ids"] and ren["groups"][0]["lines"]
    retro = client.get("/twin/viewer/indicators/energy_retrofit_area").json()
    assert len(retro["groups"][0]["ids"]) == ind["energy_retrofit_area"]["details"]["buildings"]
    for key in ind:  # every indicator of the dashboard can be shown
        assert client.get(f"/twin/viewer/indicators/{key}", params={"year": 2025}).status_code \
            == 200, key
    bad = client.get("/twin/viewer/indicators/flood_risk")
    assert bad.status_code == 404 and "heating_renewal" in bad.json()["detail"]


def test_map_grid_places_the_twin_in_wgs84(client, demo_twin):
    from pyproj import Transformer

    g = client.get("/twin/viewer/map", params={"n": 3}).json()
    o = g["origin"]
    to_ll = Transformer.from_crs("EPSG:4546", "EPSG:4326", always_xy=True)
    for x, z, lon, lat in zip(g["x"], g["z"], g["lon"], g["lat"]):
        elon, elat = to_ll.transform(o[0] + x, o[1] - z)
        assert (lon, lat) == pytest.approx((elon, elat), abs=1e-7)
    assert 111 < g["centre"]["lon"] < 112.5 and 40 < g["centre"]["lat"] < 41.5  # Hohhot
    assert client.get("/twin/viewer/map", params={"n": 1}).status_code == 400


def test_lean_scene_is_few_draw_calls_for_the_whole_demo(client):
    b = client.get("/twin").json()["bounds"]
    bbox = f"{b[0]},{b[1]},{b[3]},{b[4]}"
    lean = client.get("/twin/viewer/scene.glb", params={"bbox": bbox})
    old = client.get("/twin/scene.glb", params={"bbox": bbox})
    assert lean.status_code == 200 and lean.headers["content-type"] == "model/gltf-binary"
    assert lean.headers["X-Feature-Count"] == old.headers["X-Feature-Count"]
    assert int(lean.headers["X-Draw-Calls"]) < 60
    assert len(lean.content) < len(old.content) / 2
    doc = read_glb_json(lean.content)
    ids = [r["id"] for n in doc["nodes"] if n["extras"]["kind"] != "lines"
           for r in n["extras"]["features"]]
    assert len(ids) == len(set(ids))  # a feature is in one mesh node at most
    # features without a mesh (road centrelines, ...) are drawn in the lines nodes
    outlined = {r["id"] for n in doc["nodes"] if n["extras"]["kind"] == "lines"
                for r in n["extras"]["features"]} - set(ids)
    counts = doc["asset"]["extras"]["counts"]
    assert len(outlined) == counts["without_mesh"] > 0
    assert len(ids) + len(outlined) == int(lean.headers["X-Feature-Count"])
    assert counts["drawn_by_children"] == 1  # the IFC community centre: by its parts
    too_big = client.get("/twin/viewer/scene.glb", params={"bbox": "0,0,100000,100000"})
    assert too_big.status_code == 400 and "km^2" in too_big.json()["detail"]
