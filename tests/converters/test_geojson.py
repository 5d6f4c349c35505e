import json

import pytest
from builders import DEMO_DIR, dump_twin

import twin
from converters import converter_for, import_file


def write(path, features, **extra):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features, **extra}))
    return path


def feat(fid, geom, **props):
    return {"type": "Feature", "id": fid, "geometry": geom, "properties": props}


def test_registry_picks_by_extension_and_explains_unknown(tmp_path):
    assert converter_for("a/b/roads.geojson").name == "geojson"
    with pytest.raises(twin.ConversionError, match="no converter.*\\.geojson"):
        converter_for(tmp_path / "model.xyz")


def test_wgs84_input_is_reprojected_into_the_twin(empty_twin, tmp_path):
    src = write(tmp_path / "pts.geojson", [
        feat("v1", {"type": "Point", "coordinates": [111.0, 40.0, 1050.0]}, layer="pipe_nodes",
             type="Valve", network="JS"),
    ])
    res = import_file(empty_twin, src)
    assert res.report["source"]["crs_from"].startswith("RFC 7946")
    f = empty_twin.get("geojson:pts:v1")
    x, y, z = f.footprint.coords[0]
    assert x == pytest.approx(500000.0, abs=1e-6)  # central meridian of EPSG:4546
    assert z == 1050.0
    assert f.provenance.source_file == str(src) and f.source_id == "v1"


def test_projected_coordinates_without_crs_fail_clearly(empty_twin, tmp_path):
    src = write(tmp_path / "survey.geojson", [
        feat("p", {"type": "Point", "coordinates": [559000.0, 4520800.0]}, layer="pipe_nodes"),
    ])
    before = dump_twin(empty_twin.path)
    with pytest.raises(twin.ImportFailedError, match="survey.geojson.*--crs"):
        import_file(empty_twin, src)
    assert dump_twin(empty_twin.path) == before
    res = import_file(empty_twin, src, crs="EPSG:4546")  # the user says what it is
    assert res.features == 1


def test_broken_file_leaves_twin_unchanged(empty_twin, tmp_path):
    before = dump_twin(empty_twin.path)
    bad = tmp_path / "broken.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [')
    with pytest.raises(twin.ImportFailedError, match="broken.geojson.*not valid JSON"):
        import_file(empty_twin, bad)
    assert dump_twin(empty_twin.path) == before


def test_bad_elements_are_skipped_counted_and_named(empty_twin, tmp_path):
    sq = {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]}
    src = write(tmp_path / "b.geojson", [
        feat("ok", sq, storeys=3),
        feat("bad-storeys", sq, storeys="three"),
        feat("no-geom", None),
        feat("ok", sq, storeys=4),  # the same id again
        feat("far", {"type": "Point", "coordinates": [9.2e18, 0.0]}),
    ], crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4546"}},
        twin={"layer": "buildings"})
    res = import_file(empty_twin, src, force=True)  # local coordinates: forced
    assert res.features == 1 and res.skipped == 4
    reasons = {s["source_id"]: s["reason"] for s in res.report["skipped"]}
    assert "'storeys' must be a number" in reasons["bad-storeys"]
    assert "no geometry" in reasons["no-geom"]
    assert "'ok' appears twice" in reasons["ok"]
    assert "(9.2e+18, 0) are not finite numbers within" in reasons["far"]
    b = empty_twin.get("geojson:b:ok")
    assert b.attributes["height"] == 9.0 and b.attributes["height_source"] == "storeys x 3 m"
    assert b.bbox[5] - b.bbox[2] == pytest.approx(9.0)
    before = dump_twin(empty_twin.path)
    with pytest.raises(twin.ImportFailedError, match="bad-storeys"):
        import_file(empty_twin, src, strict=True, on_conflict="replace")
    assert dump_twin(empty_twin.path) == before


def test_parent_loops_are_skipped_naming_the_loop(empty_twin, tmp_path):
    """An object that is its own parent, or two that are each other's, never
    reach the twin: the one that closes the loop is skipped and named with
    the loop; the rest of the file, a proper chain included, is imported."""
    sq = {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]}
    src = write(tmp_path / "h.geojson", [
        feat("site", sq),
        feat("hall", sq, parent="site"),
        feat("self", sq, parent="self"),
        feat("a", sq, parent="b"),
        feat("b", sq, parent="a"),
    ], crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4546"}},
        twin={"layer": "buildings"})
    res = import_file(empty_twin, src, force=True)
    reasons = {s["source_id"]: s["reason"] for s in res.report["skipped"]}
    assert res.features == 3 and res.skipped == 2
    assert reasons["self"] == "the parent chain loops: geojson:h:self -> geojson:h:self"
    assert reasons["b"] == ("the parent chain loops: geojson:h:b -> geojson:h:a"
                            " -> geojson:h:b")
    from twin.hierarchy import ancestors
    assert [f.id for f in ancestors(empty_twin, "geojson:h:hall")] == ["geojson:h:site"]
    assert [f.id for f in ancestors(empty_twin, "geojson:h:a")] == []  # b never stored
    # nor can a later file close a loop through the twin's features: 'x' names a
    # parent the twin does not hold yet ('y', allowed); 'y' then names 'x'
    import_file(empty_twin, write(tmp_path / "h1.geojson", [feat("x", sq, parent="y")],
                                  crs={"type": "name",
                                       "properties": {"name": "urn:ogc:def:crs:EPSG::4546"}},
                                  twin={"layer": "buildings", "id_prefix": "t"}), force=True)
    src2 = write(tmp_path / "h2.geojson", [feat("y", sq, parent="x"), feat("z", sq)],
                 crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4546"}},
                 twin={"layer": "buildings", "id_prefix": "t"})
    res2 = import_file(empty_twin, src2, force=True)
    assert res2.features == 1
    assert res2.report["skipped"][0]["reason"] == "the parent chain loops: t:y -> t:x -> t:y"


def test_pipes_get_meshes_and_topology(empty_twin, tmp_path):
    src = write(tmp_path / "net.geojson", [
        feat("a", {"type": "LineString", "coordinates": [[0, 0, -2], [50, 0, -2.5]]},
             utility="RL", diameter_mm=400, start_node="n1", end_node="n2", install_year=1999),
        feat("d", {"type": "LineString", "coordinates": [[0, 5, -1], [50, 5, -1]]},
             utility="DL", width_mm=600, height_mm=400, start_node="m1", end_node="m2"),
        feat("n1", {"type": "Point", "coordinates": [0, 0, 0]}, layer="pipe_nodes",
             type="Manhole", depth_m=2.5, utility="RL"),
    ], crs={"type": "name", "properties": {"name": "EPSG:4546"}})
    import_file(empty_twin, src, force=True)  # local coordinates: forced
    a = empty_twin.get("geojson:net:a")
    assert a.layer == "heating" and a.type == "PipeSegment"
    assert a.attributes["network"] == "RL"
    assert a.edge == twin.Edge("RL", "geojson:net:n1", "geojson:net:n2")
    assert a.bbox[2] == pytest.approx(-2.7, abs=1e-3)  # 0.2 m below the lower end
    d = empty_twin.get("geojson:net:d")
    assert d.layer == "power" and d.bbox[5] - d.bbox[2] == pytest.approx(0.4, abs=1e-3)
    m = empty_twin.get("geojson:net:n1")
    assert m.bbox[2] == pytest.approx(-2.5) and m.attributes["size_source"] == "assumed"


def test_demo_files_import_completely(demo_twin):
    expected = {}
    for f in DEMO_DIR.glob("*.geojson"):
        doc = json.loads(f.read_text())
        expected[f.stem] = len(doc["features"])
    with twin.open_twin(demo_twin, readonly=True) as store:
        batches = store.batches()
        got = {b.source.rsplit("/", 1)[-1][:-8]: b.feature_count for b in batches
               if b.source.endswith(".geojson")}
        assert got == expected
        assert all(b.report["skipped_count"] == 0 for b in batches)
