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
