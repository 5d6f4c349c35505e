"""Our GLB writer (viewer.glb_pack) against pygltflib's own, byte for byte:
every GLB layout, with and without the metadata extension, text beyond
ASCII, features drawn as lines and points, no features at all."""

from __future__ import annotations

import json

import pytest
import shapely
from builders import small_city

import twin
import viewer.gltf as gltf_mod
from twin.geometry import extrude_footprint
from viewer.gltf import merged_glb, read_glb_json, scene_glb

ORIGIN = (500000.0, 4400000.0, 1000.0)
COLOURS = {"buildings": "#c8b89a", "heating": "#e05020", "pipe_nodes": "#777777",
           "water_supply": "#1f78b4"}


def pygltflib_glb(g, blob, node_extras=None, metadata=None) -> bytes:
    """What the builder wrote before: pygltflib's save_to_bytes, then the
    extras and the metadata added to its JSON."""
    g.set_binary_blob(blob)
    glb = b"".join(g.save_to_bytes())
    if not node_extras and not metadata:
        return glb
    doc = read_glb_json(glb)
    for i, extras in (node_extras or {}).items():
        doc["nodes"][i].setdefault("extras", {}).update(extras)
    if metadata:
        doc.setdefault("extensions", {})["EXT_structural_metadata"] = metadata
    return gltf_mod._with_json(glb, doc)


@pytest.fixture
def compared(monkeypatch):
    """Every GLB the builder writes is also written by pygltflib and compared."""
    written = []
    ours = gltf_mod.glb_bytes

    def both(g, blob, node_extras=None, metadata=None):
        got = ours(g, blob, node_extras, metadata)
        want = pygltflib_glb(g, blob, node_extras, metadata)
        written.append((got, want))
        return got

    monkeypatch.setattr(gltf_mod, "glb_bytes", both)
    return written


def _features():
    feats = small_city()
    fp = shapely.box(ORIGIN[0], ORIGIN[1], ORIGIN[0] + 12, ORIGIN[1] + 9)
    feats.append(twin.Feature(
        id="b:楼", layer="buildings", type="Building", name="教学楼 ①",
        meshes={"1": extrude_footprint(fp, ORIGIN[2], ORIGIN[2] + 18)},
        attributes={"function": "学校", "storeys": 6, "height": 18.0, "note": "ü"}))
    return feats


@pytest.mark.parametrize("metadata", [True, False])
def test_merged_glb_bytes_are_pygltflibs(compared, metadata):
    glb, _ = merged_glb(_features(), ORIGIN, COLOURS, crs="EPSG:4546", metadata=metadata)
    assert len(compared) == 1
    got, want = compared[0]
    assert got == want and got == glb
    doc = read_glb_json(glb)
    assert any(n.get("extras", {}).get("features") for n in doc["nodes"])


def test_scene_glb_bytes_are_pygltflibs(compared):
    glb, n = scene_glb(_features(), ORIGIN, COLOURS, crs="EPSG:4546", extras={"名": "ü"})
    assert n > 0 and len(compared) == 1
    got, want = compared[0]
    assert got == want and got == glb
    assert json.loads(glb[20:20 + int.from_bytes(glb[12:16], "little")])["asset"]["extras"][
        "名"] == "ü"


def test_an_empty_scene_bytes_are_pygltflibs(compared):
    glb, n = scene_glb([], ORIGIN, COLOURS)
    assert n == 0
    merged, _ = merged_glb([], ORIGIN, COLOURS)
    assert [got == want for got, want in compared] == [True, True]
    assert read_glb_json(glb)["asset"]["version"] == "2.0"
    assert read_glb_json(merged)["scenes"] == [{}]  # empty lists left out, as pygltflib does
