"""What the viewers draw: features without a mesh as lines and points (at their
heights, on the terrain or at the origin's height, and counted), and a
building by its detailed parts instead of its LoD1 envelope."""

from __future__ import annotations

import numpy as np
import pygltflib
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon, box

import twin
from twin.geometry import extrude_footprint, surface_mesh
from twin_cli.main import cli
from viewer.desktop import DesktopViewer, render_snapshot
from viewer.gltf import read_glb_json, scene_glb
from viewer.scene import ORIGIN, TERRAIN, TwinLookups, outlines, plan_scene, scene_arrays

X0, Y0, G = 559000.0, 4520800.0, 1050.0


def _pipe2d(i: int, y: float) -> twin.Feature:
    return twin.Feature(id=f"p:{i}", layer="heating", type="PipeSegment",
                        footprint=LineString([(X0 + 10, Y0 + y), (X0 + 90, Y0 + y)]),
                        attributes={"diameter_mm": 300, "depth_source": "unknown"})


@pytest.fixture
def pipes2d(tmp_path):
    """Three heating pipes from a GIS layer without heights, two manholes without
    heights, one 3D water pipe; no terrain, no meshes."""
    store = twin.create_twin(tmp_path / "p2d.gpkg", "EPSG:4546", origin=(X0, Y0, G))
    feats = [_pipe2d(i, 20.0 * i) for i in range(1, 4)] + [
        twin.Feature(id=f"mh:{i}", layer="pipe_nodes", type="Manhole",
                     footprint=Point(X0 + 10, Y0 + 20.0 * i)) for i in (1, 2)] + [
        twin.Feature(id="w:1", layer="water_supply", type="PipeSegment",
                     footprint=LineString([(X0, Y0, G - 1.5), (X0, Y0 + 80, G - 1.5)]))]
    with store.import_batch("gis", "test", "tests", "1") as b:
        b.add(feats)
    yield store
    store.close()


def test_pipes_without_heights_are_drawn_at_the_origin_height_and_counted(pipes2d):
    scene = scene_arrays(pipes2d.query(twin.Query()), pipes2d.origin)
    heat = scene.layers["heating"]
    assert sorted(heat.ids) == ["p:1", "p:2", "p:3"] and len(heat.lines) == 3
    assert all(np.allclose(ln[:, 2], 0.0) for ln in heat.lines)  # at the origin's height
    nodes = scene.layers["pipe_nodes"]
    assert nodes.points.shape == (2, 3) and np.allclose(nodes.points[:, 2], 0.0)
    water = scene.layers["water_supply"]
    assert np.allclose(water.lines[0][:, 2], -1.5)  # its own heights
    c = scene.counts
    assert (c.meshes, c.without_mesh, c.heights_from_origin, c.heights_from_terrain) == \
        (0, 6, 5, 0)
    assert c.describe(G) == ("6 features without a 3D mesh drawn as lines or points (5 without "
                             "heights, at the twin origin height 1050.0 m)")


def test_pipes_without_heights_lie_on_the_terrain_when_there_is_one(pipes2d):
    plate = Polygon([(X0 - 10, Y0 - 10, G + 4), (X0 + 100, Y0 - 10, G + 4),
                     (X0 + 100, Y0 + 100, G + 4), (X0 - 10, Y0 + 100, G + 4)])
    with pipes2d.import_batch("terrain", "test", "tests", "1") as b:
        b.add([twin.Feature(id="t:1", layer="terrain", type="TINRelief",
                            footprint=box(X0 - 10, Y0 - 10, X0 + 100, Y0 + 100),
                            meshes={"1": surface_mesh(plate)})])
    lk = TwinLookups.of(pipes2d)
    scene = scene_arrays(pipes2d.query(twin.Query()), pipes2d.origin, ground=lk.ground,
                         parent_of=lk.parent_of)
    assert all(np.allclose(ln[:, 2], 4.0) for ln in scene.layers["heating"].lines)
    assert scene.counts.heights_from_terrain == 5 and scene.counts.heights_from_origin == 0


def test_a_snapshot_of_2d_pipes_draws_them_and_says_so(pipes2d, tmp_path):
    """Before, a twin of 2D pipes was 'nothing to draw'; now the pipes show in the
    heating colour and the command says how many had no 3D geometry."""
    img, scene = render_snapshot(pipes2d, tmp_path / "p.png", view="top", size=(320, 240))
    heating = np.array(pipes2d.layer("heating").rgb)
    assert int((np.abs(img.astype(int) - heating).max(axis=2) < 40).sum()) > 150
    assert scene.counts.without_mesh == 6
    res = CliRunner().invoke(cli, ["snapshot", str(pipes2d.path), "--out",
                                   str(tmp_path / "c.png"), "--size", "160x120"])
    assert res.exit_code == 0, res.output
    assert ("6 features without a 3D mesh drawn as lines or points (5 without heights, at "
            "the twin origin height 1050.0 m)") in res.output.replace("\n", "")


def test_a_glb_scene_carries_2d_pipes_as_lines_and_counts_them(pipes2d):
    colours = {la.name: la.colour for la in pipes2d.layers()}
    glb, n = scene_glb(pipes2d.query(twin.Query()), pipes2d.origin, colours)
    doc = read_glb_json(glb)
    assert n == 6 and doc["asset"]["extras"]["counts"]["without_mesh"] == 6
    assert doc["asset"]["extras"]["counts"]["heights_from_origin"] == 5
    nodes = {nd["extras"]["id"]: nd for nd in doc["nodes"] if "mesh" in nd}
    assert nodes["p:1"]["extras"]["drawn_as"] == "lines"
    assert nodes["p:1"]["extras"]["heights"] == ORIGIN
    assert nodes["mh:1"]["extras"]["drawn_as"] == "points"
    g = pygltflib.GLTF2.load_from_bytes(glb)
    prim = g.meshes[nodes["p:1"]["mesh"]].primitives[0]
    assert prim.mode == pygltflib.LINES
    acc = g.accessors[prim.attributes.POSITION]
    view = g.bufferViews[acc.bufferView]
    pos = np.frombuffer(g.binary_blob()[view.byteOffset:view.byteOffset + view.byteLength],
                        dtype=np.float32).reshape(-1, 3)
    # glTF axes: x east, y up (the origin's height: 0), z = -north
    assert pos[:, 0].tolist() == [10.0, 90.0] and np.allclose(pos[:, 1], 0.0)
    assert np.allclose(pos[:, 2], -20.0)


@given(st.lists(st.lists(st.tuples(st.floats(-500, 500), st.floats(-500, 500)), min_size=2,
                         max_size=6, unique=True), min_size=1, max_size=5),
       st.floats(-50, 3000))
@settings(max_examples=60, deadline=None)
def test_outlines_keep_every_vertex_and_put_it_at_the_origin_height(lines, origin_z):
    feats = [twin.Feature(id=f"l{i}", layer="heating", type="PipeSegment",
                          footprint=LineString(c)) for i, c in enumerate(lines)]
    for c, o in zip(lines, outlines(feats, origin_z)):
        assert o.heights == ORIGIN and len(o.lines) == 1
        assert np.allclose(o.lines[0][:, :2], np.array(c))
        assert np.allclose(o.lines[0][:, 2], origin_z)


def test_terrain_heights_are_sampled_per_vertex():
    feats = [twin.Feature(id="a", layer="heating", type="PipeSegment",
                          footprint=LineString([(0, 0), (10, 0), (10, 5)])),
             twin.Feature(id="b", layer="pipe_nodes", type="Manhole", footprint=Point(3, 4))]

    def ground(xy):
        return 100.0 + xy[:, 0]  # a slope rising eastwards

    a, b = outlines(feats, 0.0, ground)
    assert a.heights == TERRAIN and a.lines[0][:, 2].tolist() == [100.0, 110.0, 110.0]
    assert b.points.tolist() == [[3.0, 4.0, 103.0]]


# -- a building drawn by its parts -----------------------------------------------

def _bim_building() -> list[twin.Feature]:
    """An IFC-like building: an LoD1 envelope (a prism 10 m tall), a storey
    without geometry, and two walls 3 m tall that belong to the storey."""
    fp = box(X0, Y0, X0 + 20, Y0 + 10)
    wall_a = box(X0, Y0, X0 + 20, Y0 + 0.3)
    wall_b = box(X0, Y0 + 9.7, X0 + 20, Y0 + 10)
    return [
        twin.Feature(id="ifc:B", layer="buildings", type="Building", footprint=fp,
                     meshes={"1": extrude_footprint(fp, G, G + 10)}),
        twin.Feature(id="ifc:S", layer="building_elements", type="IfcBuildingStorey",
                     parent="ifc:B"),
        *[twin.Feature(id=f"ifc:W{k}", layer="building_elements", type="IfcWall",
                       parent="ifc:S", footprint=w, meshes={"bim": extrude_footprint(w, G, G + 3)})
          for k, w in enumerate((wall_a, wall_b))],
    ]


@pytest.fixture
def bim(tmp_path):
    store = twin.create_twin(tmp_path / "bim.gpkg", "EPSG:4546", origin=(X0, Y0, G))
    with store.import_batch("bim.ifc", "test", "tests", "1") as b:
        b.add(_bim_building())
    yield store
    store.close()


def _centre_pixel(v, img):
    """The pixel where the building's middle (between its walls) lands."""
    r = v.plotter.renderer
    r.SetWorldPoint(10.0, 5.0, 0.0, 1.0)
    r.WorldToDisplay()
    x, y, _ = r.GetDisplayPoint()
    return img[img.shape[0] - 1 - int(round(y)), int(round(x))].astype(int)


def test_a_building_with_drawn_parts_is_not_drawn_over_them(bim):
    from viewer.desktop import BACKGROUND

    background = np.array([int(BACKGROUND[k:k + 2], 16) for k in (1, 3, 5)])
    v = DesktopViewer(bim, window_size=(320, 240))
    try:
        assert "buildings" not in v.scene.layers  # the envelope gives way to the walls
        assert sorted(v.scene.layers["building_elements"].ids) == ["ifc:W0", "ifc:W1"]
        assert v.scene.counts.drawn_by_children == 1
        v.set_view("top")
        middle = _centre_pixel(v, v.screenshot())
    finally:
        v.close()
    assert np.abs(middle - background).max() < 8  # between the walls: nothing drawn
    overview = DesktopViewer(bim, layers=("buildings",), window_size=(320, 240))
    try:  # without its parts drawn, the envelope is the building
        assert overview.scene.layers["buildings"].ids == ["ifc:B"]
        overview.set_view("top")
        middle = _centre_pixel(overview, overview.screenshot())
    finally:
        overview.close()
    assert np.abs(middle - background).max() > 20  # the envelope's roof


def test_a_glb_scene_draws_the_parts_not_the_envelope_even_when_the_storey_is_not_selected(
        bim):
    colours = {la.name: la.colour for la in bim.layers()}
    # a bbox query, as the API's scenes make: the storey has no bounds, so it is not in it
    feats = list(bim.query(twin.Query(bbox=(X0 - 1, Y0 - 1, X0 + 21, Y0 + 11),
                                      with_meshes=True)))
    assert "ifc:S" not in {f.id for f in feats}
    lk = TwinLookups.of(bim)
    glb, n = scene_glb(feats, bim.origin, colours, parent_of=lk.parent_of)
    doc = read_glb_json(glb)
    ids = {nd["extras"]["id"] for nd in doc["nodes"] if "mesh" in nd}
    assert ids == {"ifc:W0", "ifc:W1"} and n == 2
    assert doc["asset"]["extras"]["counts"]["drawn_by_children"] == 1
    only = [f for f in feats if f.layer == "buildings"]
    glb, n = scene_glb(only, bim.origin, colours, parent_of=lk.parent_of)
    assert {nd["extras"]["id"] for nd in read_glb_json(glb)["nodes"] if "mesh" in nd} == \
        {"ifc:B"}


def test_the_demo_ifc_building_is_drawn_by_its_elements(demo_twin):
    """The community centre (IFC) in the demo district: its walls, slabs and
    columns are drawn, its LoD1 envelope only in a scene of buildings alone."""
    with twin.open_twin(demo_twin, readonly=True) as store:
        bim = [f for f in store.query(twin.Query(layers=("buildings",), types=("Building",)))
               if f.attributes.get("envelope")]
        assert len(bim) == 1
        plan = plan_scene(store.query(twin.Query(with_meshes=True)), store.origin[2],
                          parent_of=TwinLookups.of(store).parent_of)
        drawn = {f.id for f in plan.meshed}
        assert bim[0].id not in drawn and plan.counts.drawn_by_children == 1
        parts = [f for f in plan.meshed if f.layer == "building_elements"]
        assert len(parts) > 50
        alone = plan_scene(store.query(twin.Query(layers=("buildings",), with_meshes=True)),
                           store.origin[2])
        assert bim[0].id in {f.id for f in alone.meshed}
