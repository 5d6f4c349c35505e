"""BIM/GIS conflation: matching footprints, links on import, the display choice."""

from __future__ import annotations

import json
import shutil

import pytest
from builders import REPO
from shapely.geometry import box

import twin
from converters import import_file
from twin.conflation import (
    hidden_by_conflation,
    links,
    match_footprint,
    match_twin,
    set_map_geometry,
)

CJ = REPO / "sample_models" / "cityjson"
IFC = REPO / "sample_models" / "ifc"


def test_one_gis_block_under_the_bim_building_is_a_match():
    bim = box(0, 0, 20, 10)
    m = match_footprint(bim, [("gis:A", box(0.3, -0.2, 20.2, 10.1)),
                              ("gis:far", box(50, 0, 60, 9))])
    assert m.linked and m.gis_ids == ("gis:A",) and m.iou == pytest.approx(0.955, abs=0.01)


def test_parts_of_one_building_are_matched_together():
    bim = box(0, 0, 20, 10)
    m = match_footprint(bim, [("p1", box(0, 0, 10, 10)), ("p2", box(10, 0, 20, 10))])
    assert m.linked and m.gis_ids == ("p1", "p2") and m.iou == pytest.approx(1.0)


def test_a_weak_overlap_is_reported_not_linked():
    bim = box(0, 0, 20, 10)
    # a neighbour that only touches a corner, and a new building twice the size
    m = match_footprint(bim, [("n", box(15, 5, 30, 20))])
    assert not m.linked and m.partial and m.partial[0][0] == "n"
    m = match_footprint(bim, [("big", box(-10, -10, 30, 20))])
    assert not m.linked and m.partial == (("big", 0.167),)  # only 1/6 of it is the BIM


def test_fzk_haus_ifc_links_to_its_cityjson_model(tmp_path):
    """The same KIT FZK-Haus as IFC and as CityJSON (converted from the IFC, one
    city object per element, in the model's own coordinates): placed at the same
    origin, the IFC building links to the CityJSON objects that make up the house."""
    with twin.create_twin(tmp_path / "fzk.gpkg", "EPSG:4546") as store:
        # both in the model's own coordinates near 0,0: forced past the placement check
        import_file(store, CJ / "AC20-FZK-Haus.city.json", crs="EPSG:4546",
                    options={"id_prefix": "gis"}, force=True)
        n_gis = store.count(twin.Query(layers=("buildings",)))
        res = import_file(store, IFC / "AC20-FZK-Haus.ifc",
                          options={"origin": (0.0, 0.0, 0.0), "rotation": 0.0}, force=True)
        [link] = links(store)
        conf = res.report["source"]["conflation"]
    assert conf[0]["bim"] == link["bim"] and link["map_geometry"] == "bim"
    assert link["iou"] > 0.85
    # the parts are the house's elements: most of the CityJSON objects
    assert 0.5 * n_gis < len(link["gis"]) <= n_gis


DEMO = REPO / "sample_models" / "hohhot_demo"
CENTRE = "hohhot:0Hq8TcGm95Ax3OQmkdcZ1w"  # the IfcBuilding of the demo's community centre
GIS = "hohhot:B-0267"  # the same building in the district's CityJSON


@pytest.fixture(scope="module")
def built_pairs(tmp_path_factory):
    """The district's buildings and the IFC community centre imported in
    either order, each order built once (on first use) for the module."""
    built = {}

    def get(order):
        if order not in built:
            folder = tmp_path_factory.mktemp(order)
            files = [DEMO / "buildings.city.json", DEMO / "community_centre.ifc"]
            with twin.create_twin(folder / f"{order}.gpkg", "EPSG:4546") as store:
                for f in files if order == "gis-first" else files[::-1]:
                    import_file(store, f, options={"id_prefix": "hohhot"})
            built[order] = folder
        return built[order]

    return get


@pytest.fixture
def demo_pair(tmp_path, built_pairs):
    """``demo_pair(order)``: a copy of the built pair, open, for a test to change."""
    def make(order):
        for f in built_pairs(order).iterdir():
            shutil.copyfile(f, tmp_path / f.name)
        return twin.open_twin(tmp_path / f"{order}.gpkg")

    return make


def test_ifc_imported_onto_the_gis_building_links_to_it_and_hides_it(tmp_path, demo_pair):
    with demo_pair("gis-first") as store:
        bim = store.get(CENTRE, meshes=False)
        assert bim.attributes["same_as"] == [GIS] and bim.attributes["map_geometry"] == "bim"
        assert bim.attributes["conflation_iou"] > 0.95
        hidden = hidden_by_conflation(store)
        assert hidden == {GIS}
        # the other way round: the GIS block shows, the BIM building and all its
        # storeys, spaces and elements are left out
        set_map_geometry(store, "gis")
        hidden = hidden_by_conflation(store)
        below = [f.id for f in store.query(twin.Query(layers=("building_elements",)))]
        assert GIS not in hidden and CENTRE in hidden and set(below) <= hidden
        assert len(below) == 66
        with pytest.raises(twin.TwinError, match="not a BIM building"):
            set_map_geometry(store, "gis", "hohhot:B-0001")
        with pytest.raises(twin.TwinError, match="map geometry"):
            set_map_geometry(store, "both")


def test_gis_imported_after_the_ifc_links_with_match_twin(tmp_path, demo_pair):
    with demo_pair("ifc-first") as store:
        assert links(store) == []
        [link] = match_twin(store)
        assert link["bim"] == CENTRE and link["gis"] == [GIS]


def test_a_linked_building_counts_once_in_the_health_check(tmp_path, demo_pair):
    from twin.analysis.indicators import health_check

    with demo_pair("gis-first") as store:
        retro = health_check(store, year=2025)["energy_retrofit_area"]
        assert retro.coverage.endswith("of 267 buildings with the retrofit flag and a floor "
                                       "area") or "of 267" in retro.coverage


def test_viewers_leave_the_hidden_twin_out(tmp_path, demo_pair):
    from fastapi.testclient import TestClient

    from twin_api.app import create_app
    from twin_api.settings import ApiSettings
    from viewer.gltf import read_glb_json

    with demo_pair("gis-first") as store:
        b = store.get(GIS, meshes=False).bbox
        path = store.path
    bbox = f"{b[0] - 5},{b[1] - 5},{b[3] + 5},{b[4] + 5}"
    with TestClient(create_app(ApiSettings(str(path)))) as client:
        glb = client.get("/twin/scene.glb", params={"bbox": bbox})
        doc = read_glb_json(glb.content)
        names = {n.get("name") for n in doc["nodes"]}
        # the BIM model is shown by its elements (its envelope gives way to them), the
        # GIS building it is linked to not at all
        assert "building_elements" in names and GIS not in names and CENTRE not in names
        assert doc["asset"]["extras"]["counts"]["drawn_by_children"] == 1
        assert client.get("/twin/conflation").json()["links"][0]["gis"] == [GIS]


def test_ifc_buildings_export_as_cityjson_with_envelope_and_structure(tmp_path, demo_pair):
    import jsonschema
    from referencing import Registry, Resource

    from converters.cityjson_export import export_cityjson

    schemas = REPO / "converters" / "schemas" / "cityjson" / "2.0.2"
    res = [(f"https://www.cityjson.org/schemas/2.0.2/{f.name}",
            Resource.from_contents(json.loads(f.read_text()))) for f in schemas.glob("*.json")]
    validator = jsonschema.Draft7Validator(
        json.loads((schemas / "cityjson.schema.json").read_text()),
        registry=Registry().with_resources(res))
    with demo_pair("gis-first") as store:
        out = tmp_path / "cc.city.json"
        # the IFC building, its storeys, spaces and elements, and the GIS block it
        # is linked to: the district's other 266 buildings are plain LoD blocks
        # that the CityJSON export tests check, and pure-Python jsonschema
        # takes most of a minute over them
        inside = [f.id for f in store.query(twin.Query(layers=("building_elements",)))]
        export_cityjson(store, out, twin.Query(ids=(CENTRE, GIS, *inside)))
        doc = json.loads(out.read_text())
        assert [e.message for e in validator.iter_errors(doc)] == []
        objs = doc["CityObjects"]
        assert "B-0267" in objs and len(objs) == 2 + len(inside)
        centre = objs[CENTRE]
        assert centre["type"] == "Building"
        assert [g["type"] for g in centre["geometry"]] == ["Solid"]  # the LoD1 envelope
        assert centre["attributes"]["same_as"] == ["B-0267"]  # the GIS object's id here
        kinds = {o["type"] for o in objs.values()}
        assert {"BuildingStorey", "BuildingRoom", "BuildingConstructiveElement"} <= kinds
        storeys = [k for k, o in objs.items() if o["type"] == "BuildingStorey"]
        assert all(objs[k]["parents"] == [CENTRE] for k in storeys)
        # import it back: the envelope and the elements return
        with twin.create_twin(tmp_path / "back.gpkg", "EPSG:4546") as back:
            import_file(back, out)
            again = back.get(f"cityjson:{CENTRE}")
            assert again.mesh.n_faces == store.get(CENTRE).mesh.n_faces
            # 60 elements, 3 spaces, 3 storeys; element meshes keep their "bim" LoD name
            elements = list(back.query(twin.Query(layers=("building_elements",),
                                                   with_meshes=True)))
            assert len(elements) == 66
            assert {k for e in elements for k in e.meshes} == {"bim"}
