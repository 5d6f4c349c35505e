"""Feature attributes as EXT_structural_metadata property tables, indexed by the
EXT_mesh_features ids of every GLB layout: one table per GLB (CesiumJS picks
through one), typed columns that read back as the features' values, the same
rows as the extras the project's web viewer reads."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from metadata_reader import glb_parts, property_tables

import twin
from twin.geometry import extrude_footprint
from viewer.gltf import merged_glb, scene_glb
from viewer.gltf_metadata import column_type
from viewer.web_scene import web_scene_glb

ORIGIN = (500000.0, 4400000.0, 1000.0)
COLOURS = {"buildings": "#c8b89a", "heating": "#e05020", "pipe_nodes": "#777777"}

values = st.one_of(
    st.none(), st.booleans(), st.integers(-10 ** 12, 10 ** 12),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12))
attributes = st.fixed_dictionaries({}, optional={
    "function": values, "storeys": values, "height": values, "year_built": values,
    "material": values, "status": values})


def _building(i: int, attrs: dict) -> twin.Feature:
    from shapely.geometry import box
    fp = box(ORIGIN[0] + 20 * i, ORIGIN[1], ORIGIN[0] + 20 * i + 10, ORIGIN[1] + 8)
    return twin.Feature(id=f"b:{i}", layer="buildings", type="Building", name=f"楼 {i}",
                        meshes={"1": extrude_footprint(fp, ORIGIN[2], ORIGIN[2] + 10)},
                        attributes={k: v for k, v in attrs.items() if v is not None})


def _floats(doc: dict, blob: bytes, accessor: int) -> np.ndarray:
    acc = doc["accessors"][accessor]
    view = doc["bufferViews"][acc["bufferView"]]
    return np.frombuffer(blob, np.float32, acc["count"], view.get("byteOffset", 0))


def _same(got, want) -> bool:
    if isinstance(got, str) and not isinstance(want, str):
        return got == (("true" if want else "false") if isinstance(want, bool) else str(want))
    return got == want and isinstance(got, bool) == isinstance(want, bool)


@settings(max_examples=60, deadline=None)
@given(st.lists(attributes, min_size=1, max_size=6))
def test_property_table_reads_back_every_attribute_with_its_type(attrs):
    feats = [_building(i, a) for i, a in enumerate(attrs)]
    glb, table = merged_glb(feats, ORIGIN, COLOURS)
    doc, _ = glb_parts(glb)
    assert {"EXT_mesh_features", "EXT_structural_metadata"} <= set(doc["extensionsUsed"])
    prim = doc["meshes"][0]["primitives"][0]
    fid = prim["extensions"]["EXT_mesh_features"]["featureIds"][0]
    [rows] = property_tables(glb)
    assert fid["propertyTable"] == 0 and fid["featureCount"] == len(rows) == len(feats)
    for f, row, extra in zip(feats, rows, table):
        assert row["id"] == f.id == extra["id"] and row["layer"] == "buildings"
        assert row["name"] == f.name and row["type"] == "Building"
        assert set(row) - {"id", "layer", "type", "name"} == set(f.attributes)
        for k, v in f.attributes.items():
            assert _same(row[k], v), (k, row[k], v)
            assert _same(row[k], extra[k])


def test_column_types_follow_the_values():
    assert column_type([1, None, 3]) == "INT32"
    assert column_type([1, 2.5]) == "FLOAT64"
    assert column_type([2 ** 40]) == "FLOAT64"
    assert column_type([True, False]) == "BOOLEAN"
    assert column_type([True, None]) == "STRING"  # booleans have no noData
    assert column_type(["a", 1]) == "STRING"


def test_a_value_equal_to_the_no_data_sentinel_is_kept():
    from viewer.gltf_metadata import FLOAT_NO_DATA

    feats = [_building(0, {"height": FLOAT_NO_DATA}), _building(1, {})]
    [rows] = property_tables(merged_glb(feats, ORIGIN, COLOURS)[0])
    assert rows[0]["height"] == str(FLOAT_NO_DATA) and "height" not in rows[1]


def test_web_scene_tables_cover_merged_instanced_and_line_nodes():
    from shapely.geometry import LineString, box

    feats = [_building(i, {"storeys": i + 1}) for i in range(3)]
    # nine identical manholes: drawn instanced
    feats += [twin.Feature(id=f"mh:{i}", layer="pipe_nodes", type="Manhole",
                           meshes={"1": extrude_footprint(
                               box(ORIGIN[0] + 5 * i, ORIGIN[1] + 50, ORIGIN[0] + 5 * i + 1,
                                   ORIGIN[1] + 51), ORIGIN[2] - 2, ORIGIN[2])},
                           attributes={"depth_m": 2.0}) for i in range(9)]
    feats += [twin.Feature(id=f"h:{i}", layer="heating", type="PipeSegment",
                           footprint=LineString([(ORIGIN[0], ORIGIN[1] + 10 * i),
                                                 (ORIGIN[0] + 50, ORIGIN[1] + 10 * i)]),
                           attributes={"diameter_mm": 200 + i}) for i in range(2)]
    glb, stats = web_scene_glb(feats, ORIGIN, COLOURS, min_instances=8)
    assert stats.instanced == 1 and stats.merged == 1 and stats.lines == 1
    doc, blob = glb_parts(glb)
    assert {"EXT_mesh_features", "EXT_structural_metadata", "EXT_mesh_gpu_instancing",
            "EXT_instance_features"} <= set(doc["extensionsUsed"])
    [table] = property_tables(glb)  # one per GLB: CesiumJS picks through one
    assert len(table) == len(feats)
    for node in doc["nodes"]:
        prim = doc["meshes"][node["mesh"]]["primitives"][0]
        if node["extras"]["kind"] == "instanced":
            ids = node["extensions"]["EXT_instance_features"]["featureIds"][0]
            acc = node["extensions"]["EXT_mesh_gpu_instancing"]["attributes"]["_FEATURE_ID_0"]
        else:
            ids = prim["extensions"]["EXT_mesh_features"]["featureIds"][0]
            acc = prim["attributes"]["_FEATURE_ID_0"]
        first = node["extras"]["feature_offset"]
        rows = table[first:first + ids["featureCount"]]
        assert ids["propertyTable"] == 0 and len(rows) == len(node["extras"]["features"])
        k = _floats(doc, blob, acc)
        assert k.min() == first and k.max() == first + len(rows) - 1
        for row, extra in zip(rows, node["extras"]["features"]):
            assert row["layer"] == node["extras"]["layer"]
            assert {k: v for k, v in row.items() if k != "layer"} == extra
    tables = [table]
    by_id = {r["id"]: r for rows in tables for r in rows}
    assert by_id["h:1"]["diameter_mm"] == 201 and by_id["mh:3"]["depth_m"] == 2.0
    assert by_id["b:2"]["storeys"] == 3


def test_scene_glb_nodes_point_into_their_layer_table():
    from shapely.geometry import LineString, Point

    feats = [_building(i, {"year_built": 1990 + i}) for i in range(2)]
    feats += [twin.Feature(id="h:1", layer="heating", type="PipeSegment",
                           footprint=LineString([(ORIGIN[0], ORIGIN[1]),
                                                 (ORIGIN[0] + 50, ORIGIN[1])])),
              twin.Feature(id="mh:1", layer="pipe_nodes", type="Manhole",
                           footprint=Point(ORIGIN[0], ORIGIN[1]))]
    glb, n = scene_glb(feats, ORIGIN, COLOURS)
    assert n == 4
    doc, blob = glb_parts(glb)
    tables = property_tables(glb)
    seen = set()
    for node in doc["nodes"]:
        if "mesh" not in node:
            continue
        for prim in doc["meshes"][node["mesh"]]["primitives"]:
            ids = prim["extensions"]["EXT_mesh_features"]["featureIds"][0]
            k = _floats(doc, blob, prim["attributes"]["_FEATURE_ID_0"])
            assert len(set(k.tolist())) == 1  # every vertex of a feature: its row
            row = tables[ids["propertyTable"]][int(k[0])]
            assert row["id"] == node["extras"]["id"] and row["layer"] == node["extras"]["layer"]
            seen.add(row["id"])
    assert seen == {"b:0", "b:1", "h:1", "mh:1"}
    assert {r["id"]: r for t in tables for r in t}["b:1"]["year_built"] == 1991
