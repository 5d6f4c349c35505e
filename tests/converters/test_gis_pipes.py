"""GIS pipe layers without depths or node ids: terrain draping and snapping."""

import json
from collections import Counter
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from shapely.geometry import Polygon

import twin
from converters import import_file
from twin.geometry import surface_mesh
from twin.network import network_graph, validate_network
from twin.terrain import TerrainSampler

RUTLAND = Path(__file__).resolve().parents[2] / "sample_models" / "gis" / \
    "RutlandCityLinearFeatures.geojson"
X0, Y0 = 559000.0, 4520800.0


def sloped_terrain(store):
    """One 200 m tile rising 1 m per 100 m eastwards from 1050 m."""
    ring = [(X0, Y0, 1050.0), (X0 + 200, Y0, 1052.0), (X0 + 200, Y0 + 200, 1052.0),
            (X0, Y0 + 200, 1050.0)]
    poly = Polygon(ring)
    with store.import_batch("dem", "test", "tests", "1") as b:
        b.add([twin.Feature(id="t:1", layer="terrain", type="TINRelief", footprint=poly,
                            meshes={"1": surface_mesh(poly)})])


def test_terrain_sampler_interpolates_and_leaves_gaps(empty_twin):
    sloped_terrain(empty_twin)
    s = TerrainSampler(empty_twin)
    z = s.heights(np.array([[X0 + 50, Y0 + 10], [X0 + 150, Y0 + 190], [X0 - 5, Y0]]))
    assert z[0] == pytest.approx(1050.5) and z[1] == pytest.approx(1051.5)
    assert np.isnan(z[2])


def test_2d_pipes_are_draped_with_cover(empty_twin, tmp_path):
    sloped_terrain(empty_twin)
    src = tmp_path / "heat.geojson"
    src.write_text(json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "EPSG:4546"}},
        "features": [
            {"type": "Feature", "id": "a", "geometry": {"type": "LineString", "coordinates": [
                [X0 + 20, Y0 + 50], [X0 + 120, Y0 + 50]]},
             "properties": {"utility": "RL", "diameter_mm": 400}},
            {"type": "Feature", "id": "b", "geometry": {"type": "LineString", "coordinates": [
                [X0 + 20, Y0 + 60], [X0 + 120, Y0 + 60]]},
             "properties": {"utility": "RL", "diameter_mm": 400, "depth_m": 2.0}},
            {"type": "Feature", "id": "c", "geometry": {"type": "LineString", "coordinates": [
                [X0 + 150, Y0 + 60], [X0 + 300, Y0 + 60]]},  # leaves the terrain
             "properties": {"utility": "RL", "diameter_mm": 400}},
        ]}))
    import_file(empty_twin, src)
    a = empty_twin.get("geojson:heat:a")
    (_, _, za), (_, _, zb) = a.footprint.coords
    # CJJ 61 default heating cover 1.5 m, plus the radius, below 1050.2 and 1051.2
    assert (za, zb) == pytest.approx((1050.2 - 1.5 - 0.2, 1051.2 - 1.5 - 0.2))
    assert a.attributes["depth_source"] == "assumed"
    b = empty_twin.get("geojson:heat:b")
    assert b.footprint.coords[0][2] == pytest.approx(1050.2 - 2.0 - 0.2)
    assert b.attributes["depth_source"] == "depth_m+terrain"
    c = empty_twin.get("geojson:heat:c")
    assert not c.footprint.has_z and c.attributes["depth_source"] == "unknown"


def test_real_sewer_layer_with_snapped_topology(tmp_path):
    import pyproj

    doc = json.loads(RUTLAND.read_text())
    tr = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32145", always_xy=True)
    exact = nx.MultiGraph()  # independently: nodes are identical line ends
    for f in doc["features"]:
        c = f["geometry"]["coordinates"]
        exact.add_edge(tr.transform(*c[0][:2]), tr.transform(*c[-1][:2]))
    components = {}
    for snap in (0.0, 0.01):
        store = twin.create_twin(tmp_path / f"vt{snap}.gpkg", "EPSG:32145")  # Vermont, metres
        res = import_file(store, RUTLAND, options={"layer": "sewage", "snap": snap})
        assert res.features == len(doc["features"]) == 4782 and res.skipped == 0
        if snap == 0.0:
            types = Counter(f["properties"]["Type"] for f in doc["features"])
            got = Counter(f.attributes["Type"] for f in store.query(twin.Query(
                layers=("sewage",))))
            assert got == types  # every attribute kept
        g = network_graph(store, "WS")
        assert g.number_of_edges() == 4782
        rep = validate_network(g)
        components[snap] = rep.components
        assert rep.dangling_ends  # a real layer has loose ends: reported
        store.close()
    assert components[0.0] == nx.number_connected_components(exact)
    assert components[0.01] <= components[0.0]  # snapping only ever joins


def _write_mains(path, order, driver, with_id=True, multi_last=False):
    """A utility's water mains as a GIS layer (EPSG:4546), rows in ``order``."""
    import pyogrio
    import shapely

    rows = [((X0 + 10 * k, Y0), (X0 + 10 * k + 10, Y0), f"M{k}", 100 + 50 * k, "DI", 1990 + k)
            for k in range(4)]
    rows = [rows[k] for k in order]
    geoms = [shapely.LineString([a, b]) for a, b, *_ in rows]
    if multi_last:
        a, b = rows[-1][:2]
        geoms[-1] = shapely.MultiLineString([[a, b], [(b[0], b[1]), (b[0], b[1] + 10)]])
    cols = [np.array([r[3] for r in rows], float), np.array([r[4] for r in rows], object),
            np.array([r[5] for r in rows], np.int64), np.array(["JS"] * len(rows), object)]
    names = ["DIAMETER", "MATERIAL", "INSTALLYEA", "UTILITY"]
    if with_id:
        cols.insert(0, np.array([r[2] for r in rows], object))
        names.insert(0, "FACILITYID")
    pyogrio.raw.write(str(path), shapely.to_wkb(np.array(geoms, dtype=object)), cols, names,
                      driver=driver, crs="EPSG:4546", geometry_type="MultiLineString"
                      if multi_last else "LineString")
    return path


@pytest.mark.parametrize("driver, suffix", [("ESRI Shapefile", ".shp"), ("GPKG", ".gpkg"),
                                            ("FlatGeobuf", ".fgb")])
def test_gis_line_layers_from_any_ogr_format(empty_twin, tmp_path, driver, suffix):
    src = _write_mains(tmp_path / f"mains{suffix}", [0, 1, 2, 3], driver)
    res = import_file(empty_twin, src, options={"fields": {"year": "INSTALLYEA"}})
    assert res.converter == "gis-lines" and res.features == 4 and res.skipped == 0
    m2 = empty_twin.get("gis:mains:M2")
    assert m2.layer == "water_supply" and m2.attributes["diameter_mm"] == 200
    assert m2.attributes["material"] == "DI" and m2.attributes["install_year"] == 1992
    assert res.report["source"]["ids"] == {"ids_from": "field FACILITYID"}
    # coinciding ends make one network: M0-M1-M2-M3 in a chain
    rep = validate_network(network_graph(empty_twin, "JS"))
    assert rep.components == 1 and rep.edges == 4 and rep.nodes == 5


def test_generated_ids_are_stable_across_reimports_and_row_order(tmp_path):
    ids = []
    for k, order in enumerate(([0, 1, 2, 3], [3, 1, 0, 2])):
        src = _write_mains(tmp_path / f"run{k}" / "mains.shp", order, "ESRI Shapefile",
                           with_id=False) if (tmp_path / f"run{k}").mkdir() is None else None
        with twin.create_twin(tmp_path / f"t{k}.gpkg", "EPSG:4546") as store:
            res = import_file(store, src)
            assert res.features == 4
            how = res.report["source"]["ids"]
            assert how["ids_from"] == "generated" and how["ids_generated_because"] == \
                "no id field"
            assert any("ids generated" in n.text and n.level == "warn" for n in res.notes)
            ids.append({f.attributes["DIAMETER"]: f.id for f in store.query(twin.Query())})
    assert ids[0] == ids[1] and len(set(ids[0].values())) == 4


def test_multi_part_line_is_split_not_the_file_aborted(empty_twin, tmp_path):
    src = _write_mains(tmp_path / "mains.gpkg", [0, 1, 2, 3], "GPKG", multi_last=True)
    res = import_file(empty_twin, src)
    assert res.features == 5 and res.skipped == 0
    parts = [empty_twin.get(f"gis:mains:M3#{k}") for k in (1, 2)]
    assert [p.footprint.length for p in parts] == pytest.approx([10.0, 10.0])


def test_gis_file_of_points_is_a_survey_table(tmp_path):
    import pyogrio
    import shapely

    from converters import converter_for

    pts = tmp_path / "points.gpkg"
    pyogrio.raw.write(str(pts), shapely.to_wkb(shapely.points([[X0, Y0]])),
                      [np.array(["JS1"], object)], ["point_id"], driver="GPKG",
                      crs="EPSG:4546", geometry_type="Point")
    assert converter_for(pts).name == "survey"
    lines = _write_mains(tmp_path / "mains.gpkg", [0], "GPKG")
    assert converter_for(lines).name == "gis-lines"
    assert converter_for(lines, options={"points": str(pts)}).name == "survey"


def test_ogr2ogr_geojson_without_ids_and_with_a_multilinestring(tmp_path):
    """The Rutland sewers as ogr2ogr writes them (no 'id' member), one of them a
    two-part MultiLineString: every feature is imported, ids are the same on a
    second import, the multi-part line becomes two parts."""
    doc = json.loads(RUTLAND.read_text())
    for f in doc["features"]:
        f.pop("id", None)
    first = doc["features"][0]["geometry"]["coordinates"]
    doc["features"][0]["geometry"] = {"type": "MultiLineString", "coordinates": [
        first, [first[-1], [first[-1][0] + 0.0001, first[-1][1]]]]}
    src = tmp_path / "RutlandCityLinearFeatures.geojson"
    src.write_text(json.dumps(doc))
    seen = []
    for k in range(2):
        with twin.create_twin(tmp_path / f"vt{k}.gpkg", "EPSG:32145") as store:
            res = import_file(store, src, options={"layer": "sewage"})
            assert res.features == len(doc["features"]) + 1 and res.skipped == 0
            assert res.report["source"]["generated_ids"] == len(doc["features"])
            assert res.report["source"]["multipart_features"] == 1
            seen.append(sorted(f.id for f in store.query(twin.Query())))
    assert seen[0] == seen[1]
    assert sum(i.endswith(("#1", "#2")) for i in seen[0]) == 2
