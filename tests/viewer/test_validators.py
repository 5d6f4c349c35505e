"""Every GLB and tileset the project writes passes the Khronos glTF validator
and the 3D Tiles validator with 0 errors and 0 warnings: the demo district
(CityJSON buildings, GIS layers, a CJJ 61 survey pipe network, an IFC
building), a LandXML drainage network and an IFC house (FZK-Haus); as 3D
Tiles, as the API's per-feature scene and as the web viewer's lean scene."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from metadata_reader import glb_parts
from validators import gltf_reports, problems, tiles_report

import twin
from converters import import_file
from twin.query import Query
from twin_api import viewer_service as vsvc
from viewer.gltf import scene_glb
from viewer.scene import TwinLookups
from viewer.tiles3d import export_3dtiles

SAMPLES = Path(__file__).resolve().parents[2] / "sample_models"


def _write_all(store: twin.TwinStore, out: Path) -> list[Path]:
    """The tileset, the API scene and the web viewer scene of a whole twin."""
    export_3dtiles(store, out / "tiles", max_features=400)
    origin = store.origin or (0.0, 0.0, 0.0)
    lookups = TwinLookups.of(store)
    glb, _ = scene_glb(store.query(Query(with_meshes=True)), origin,
                       {x.name: x.colour for x in store.layers()},
                       opacity={"terrain": 0.6}, ground=lookups.ground,
                       parent_of=lookups.parent_of)
    (out / "scene.glb").write_bytes(glb)
    (out / "web_scene.glb").write_bytes(vsvc.scene(store, Query(with_meshes=True))[0])
    return [out / "scene.glb", out / "web_scene.glb", *sorted((out / "tiles").rglob("*.glb"))]


@pytest.fixture(scope="module")
def written(demo_gpkg, tmp_path_factory):
    root = tmp_path_factory.mktemp("validated")
    outputs = {}
    with twin.open_twin(demo_gpkg, readonly=True) as store:
        outputs["demo"] = _write_all(store, _mk(root / "demo"))
    placed = {"origin": (559000.0, 4520800.0, 1050.0), "rotation": 0.0}  # not georeferenced
    for name, src, crs, options in (
            ("landxml", SAMPLES / "landxml" / "DrainageSystem-1-1.xml", "EPSG:3878", {}),
            ("ifc", SAMPLES / "ifc" / "AC20-FZK-Haus.ifc", "EPSG:4546", placed)):
        with twin.create_twin(root / f"{name}.gpkg", crs) as store:
            import_file(store, src, options=options, force=bool(options))
            outputs[name] = _write_all(store, _mk(root / name))
    return root, outputs


def _mk(p: Path) -> Path:
    p.mkdir(parents=True)
    return p


@pytest.mark.parametrize("name", ["demo", "landxml", "ifc"])
def test_gltf_validator_finds_no_error_or_warning(written, name):
    _, outputs = written
    glbs = outputs[name]
    reports = gltf_reports(glbs)
    assert len(reports) == len(glbs) >= 3
    for path, rep in reports.items():
        bad = [m for m in rep["messages"] if m["severity"] < 2]
        assert rep["errors"] == 0 and rep["warnings"] == 0, (path, bad[:10])


@pytest.mark.parametrize("name", ["demo", "landxml", "ifc"])
def test_3d_tiles_validator_finds_no_error_or_warning(written, name):
    root, _ = written
    rep = tiles_report(root / name / "tiles" / "tileset.json", root / f"{name}.report.json")
    assert rep["numErrors"] == 0 and rep["numWarnings"] == 0, problems(rep)[:10]
    # it did open every content (an info per GLB: the extensions the glTF validator
    # leaves to it)
    n_tiles = len(list((root / name / "tiles" / "tiles").glob("*.glb")))
    assert n_tiles >= 1


def test_3d_tiles_validator_catches_a_broken_property_table(written, tmp_path):
    """The validators are not blind to the metadata: a feature id that points past
    its property table is an error."""
    root, outputs = written
    tiles = root / "demo" / "tiles"
    broken = tmp_path / "broken"
    (broken / "tiles").mkdir(parents=True)
    (broken / "tileset.json").write_bytes((tiles / "tileset.json").read_bytes())
    for glb in (tiles / "tiles").glob("*.glb"):
        (broken / "tiles" / glb.name).write_bytes(glb.read_bytes())
    first = json.loads((broken / "tileset.json").read_text())["root"]["content"]["uri"]
    data = (broken / first).read_bytes()
    doc, _ = glb_parts(data)
    ext = doc["extensions"]["EXT_structural_metadata"]
    ext["propertyTables"][0]["count"] += 5  # more rows than the columns hold
    from viewer.gltf import _with_json

    (broken / first).write_bytes(_with_json(data, doc))
    rep = tiles_report(broken / "tileset.json", tmp_path / "report.json")
    assert rep["numErrors"] >= 1, rep
