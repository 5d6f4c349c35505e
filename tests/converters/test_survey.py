"""CJJ 61 survey tables: conventions, 3D reconstruction, broken inputs."""

import csv

import pytest
from builders import DEMO_DIR, dump_twin

import twin
from converters import import_file
from converters.survey import parse_size
from twin.network import network_graph, validate_network

SURVEY = DEMO_DIR / "survey"


def read_gbk(path):
    with open(path, encoding="gb18030", newline="") as fh:
        return list(csv.DictReader(fh))


def write_tables(tmp_path, points, lines, encoding="utf-8"):
    p, l_ = tmp_path / "points.csv", tmp_path / "lines.csv"
    for path, rows in ((p, points), (l_, lines)):
        with open(path, "w", encoding=encoding, newline="") as fh:
            w = csv.writer(fh)
            w.writerows(rows)
    return p, l_


@pytest.fixture
def surveyed(empty_twin):
    res = import_file(empty_twin, SURVEY / "lines.csv", crs="EPSG:4546",
                      options={"points": str(SURVEY / "points.csv")})
    return empty_twin, res


def test_sample_survey_imports_with_counts_and_sources(surveyed):
    store, res = surveyed
    points, lines = read_gbk(SURVEY / "points.csv"), read_gbk(SURVEY / "lines.csv")
    assert res.features == len(points) + len(lines) and res.skipped == 0
    assert res.report["by_type"]["PipeSegment"] == len(lines) == 25
    src = res.report["source"]
    assert src["profile"] == "CJJ 61"
    # 2 ends from invert elevations, 2 assumed (gas line without depth), the rest surveyed
    assert src["line_ends_by_depth_source"] == {"invert": 2, "assumed": 2, "surveyed": 46}


def test_x_is_northing_and_y_is_easting(surveyed):
    store, _ = surveyed
    row = read_gbk(SURVEY / "points.csv")[0]
    node = store.get(f"survey:{row['点号']}")
    x, y, z = node.footprint.coords[0]
    assert (x, y, z) == (float(row["Y"]), float(row["X"]), float(row["地面高程"]))
    assert node.type == "Valve" and node.attributes["accessory"] == "阀门"


def test_depth_reference_top_for_pressure_pipes_invert_for_drainage(surveyed):
    store, _ = surveyed
    pts = {r["点号"]: r for r in read_gbk(SURVEY / "points.csv")}
    lines = read_gbk(SURVEY / "lines.csv")
    js = next(r for r in lines if r["管线类型"] == "JS")
    f = store.get(f"survey:JS:{js['起点号']}-{js['终点号']}")
    ground = float(pts[js["起点号"]]["地面高程"])
    # water: depth to the outer top, so the centre is depth + radius below ground
    assert f.footprint.coords[0][2] == pytest.approx(ground - float(js["起点埋深"]) - 0.15)
    assert f.attributes["diameter_mm"] == 300 and f.attributes["install_year"] == 2019
    assert f.attributes["depth_source"] == "surveyed" and f.attributes["material"] == "球墨铸铁"
    ws = next(r for r in lines if r["管线类型"] == "WS" and r["起点埋深"])
    g = store.get(f"survey:WS:{ws['起点号']}-{ws['终点号']}")
    ground = float(pts[ws["起点号"]]["地面高程"])
    # sewer: depth to the inner bottom, so the centre is depth - radius below ground
    assert g.footprint.coords[0][2] == pytest.approx(ground - float(ws["起点埋深"]) + 0.25)
    levelled = next(r for r in lines if r["起点管底高程"])
    h = store.get(f"survey:WS:{levelled['起点号']}-{levelled['终点号']}")
    assert h.footprint.coords[0][2] == pytest.approx(float(levelled["起点管底高程"]) + 0.25)
    assert h.attributes["depth_source"] == "invert"


def test_duct_size_and_assumed_depth(surveyed):
    store, _ = surveyed
    dl = [f for f in store.query(twin.Query(layers=("power",)))]
    assert dl and all(f.attributes["width_mm"] == 600 and f.attributes["height_mm"] == 400
                      for f in dl)
    assert sum("install_year" not in f.attributes for f in dl) == 1  # one line had no year
    gas = [f for f in store.query(twin.Query(layers=("gas",), with_meshes=True,
                                             filters=("depth_source=assumed",)))]
    assert len(gas) == 1 and gas[0].meshes  # assumed depth still gives a 3D pipe


def test_sample_survey_topology_is_clean(surveyed):
    store, _ = surveyed
    for net in ("JS", "WS", "RQ", "RL", "DL"):
        rep = validate_network(network_graph(store, net))
        assert rep.components == 1 and not rep.problems, (net, rep.problems)


@pytest.mark.parametrize("text, expected", [
    ("300", (300.0, None, None)), ("DN300", (300.0, None, None)), ("Φ300", (300.0, None, None)),
    ("De110", (110.0, None, None)), ("600x400", (None, 600.0, 400.0)),
    ("600×400", (None, 600.0, 400.0)), ("2000X1500", (None, 2000.0, 1500.0)),
    ("", (None, None, None)),
])
def test_sizes(text, expected):
    assert parse_size(text) == expected


HEAD_P = ["点号", "X", "Y", "地面高程", "特征", "附属物", "井深"]
HEAD_L = ["起点号", "终点号", "管线类型", "起点埋深", "终点埋深", "管径", "材质", "建设年代"]


def test_broken_survey_rows_are_skipped_and_named(empty_twin, tmp_path):
    p, l_ = write_tables(tmp_path, [
        HEAD_P,
        ["RL1", "4520800", "559000", "1050", "", "阀门井", "3.2"],
        ["RL2", "4520800", "559050", "1050.2", "", "", ""],
        ["RL3", "4520800", "559100", "1050.4", "", "", ""],
        ["RL3", "4520900", "559100", "1050.4", "", "", ""],     # duplicate id
        ["RL4", "abc", "559150", "1050.5", "", "", ""],          # bad coordinate
    ], [
        HEAD_L,
        ["RL1", "RL2", "RL", "1.5", "1.5", "DN400", "钢", "1998年"],
        ["RL2", "RL3", "RL", "1.5", "1.5", "DN400", "钢", "1998"],
        ["RL3", "RL9", "RL", "1.5", "1.5", "DN400", "钢", "1998"],   # unknown point
        ["RL2", "RL3", "RL", "1.5", "1.5", "DN400", "钢", "long ago"],  # bad year
    ], encoding="gb18030")
    res = import_file(empty_twin, l_, crs="EPSG:4546", options={"points": str(p)})
    reasons = [s["reason"] for s in res.report["skipped"]]
    assert res.skipped == 4
    assert any("'RL3' appears twice" in r for r in reasons)
    assert any("'abc' is not a number" in r for r in reasons)
    assert any("point 'RL9' is not in the point table" in r for r in reasons)
    assert any("'long ago' is not a year" in r for r in reasons)
    f = empty_twin.get("survey:RL:RL1-RL2")
    assert f.attributes["install_year"] == 1998
    chamber = empty_twin.get("survey:RL1")
    assert chamber.type == "ValveChamber" and chamber.bbox[2] == pytest.approx(1050 - 3.2)


def test_missing_columns_crs_and_points_are_clear_errors(empty_twin, tmp_path):
    p, l_ = write_tables(tmp_path, [["编号", "E", "N"], ["A", "1", "2"]],
                         [HEAD_L, ["A", "B", "JS", "1", "1", "DN100", "PE", "2000"]])
    before = dump_twin(empty_twin.path)
    with pytest.raises(twin.ImportFailedError, match="no column for id, easting, northing"):
        import_file(empty_twin, l_, crs="EPSG:4546", options={"points": str(p)})
    with pytest.raises(twin.ImportFailedError, match="no CRS; give it with --crs"):
        import_file(empty_twin, l_, options={"points": str(p)})
    with pytest.raises(twin.ImportFailedError, match="needs its point table"):
        import_file(empty_twin, l_, crs="EPSG:4546")
    assert dump_twin(empty_twin.path) == before


def test_topology_checks_find_deliberate_errors(empty_twin, tmp_path):
    p, l_ = write_tables(tmp_path, [
        HEAD_P,
        ["WS1", "4520800", "559000", "1050", "", "检查井", "3"],
        ["WS2", "4520800", "559040", "1050", "", "检查井", "3"],
        ["WS3", "4520800", "559080", "1050", "", "检查井", "3"],
        ["WS4", "4520800", "559080", "1050", "", "检查井", "3"],   # same place as WS3
        ["WS5", "4520800", "559120", "1050", "", "", ""],
        ["WS6", "4520900", "559500", "1050", "", "", ""],          # far away
        ["WS7", "4520900", "559540", "1050", "", "", ""],
    ], [
        HEAD_L,
        ["WS1", "WS2", "WS", "2.0", "2.2", "DN400", "混凝土", "2000"],
        ["WS2", "WS3", "WS", "2.2", "1.8", "DN400", "混凝土", "2000"],  # rises: against flow
        ["WS3", "WS4", "WS", "2.0", "2.0", "DN400", "混凝土", "2000"],  # zero length
        ["WS4", "WS5", "WS", "12.5", "12.6", "DN400", "混凝土", "2000"],  # implausibly deep
        ["WS4", "WS5", "WS", "2.3", "2.4", "DN400", "混凝土", "2000"],  # duplicate segment
        ["WS6", "WS7", "WS", "0.1", "0.2", "DN400", "混凝土", "2000"],  # above ground, apart
    ])
    # the duplicate joins the same points as the deep one: give lines their own ids
    with open(l_, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[0].append("管线编号")
    for k, r in enumerate(rows[1:]):
        r.append(f"L{k + 1}")
    with open(l_, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    res = import_file(empty_twin, l_, crs="EPSG:4546", options={"points": str(p)})
    assert res.skipped == 0
    rep = validate_network(network_graph(empty_twin, "WS"))
    assert rep.against_slope == ("survey:WS:L2",)
    assert rep.zero_length == ("survey:WS:L3",)
    assert rep.too_deep == ("survey:WS:L4",)
    assert rep.duplicate_segments == (("survey:WS:L4", "survey:WS:L5"),)
    assert rep.above_ground == ("survey:WS:L6",)
    assert rep.components == 2
    # WS1 is a manhole (a real end); WS6 and WS7 are bare points with one pipe each
    assert rep.dangling_ends == ("survey:WS6", "survey:WS7")
    assert not rep.ok


@pytest.mark.parametrize("driver, suffix, table", [("GPKG", ".gpkg", ".gpkg"),
                                                   ("ESRI Shapefile", ".shp", ".dbf")])
def test_survey_tables_from_gis_files(empty_twin, tmp_path, driver, suffix, table):
    """The same survey as GIS layers: CRS from the file, points from geometry."""
    import numpy as np
    import pyogrio
    import shapely

    pts = read_gbk(SURVEY / "points.csv")
    lines = read_gbk(SURVEY / "lines.csv")
    geom = shapely.to_wkb(shapely.points([[float(p["Y"]), float(p["X"])] for p in pts]))
    p_path, l_path = tmp_path / f"pts{suffix}", tmp_path / f"lns{table}"
    # shapefile field names are at most 10 bytes: keep the short English ones
    pyogrio.raw.write(str(p_path), geom, [np.array([p["点号"] for p in pts], dtype=object),
                                          np.array([float(p["地面高程"]) for p in pts])],
                      ["point_id", "ground_z"], driver=driver, crs="EPSG:4546",
                      geometry_type="Point")
    cols = {"start": "起点号", "end": "终点号", "code": "管线类型", "size": "管径",
            "start_dept": "起点埋深", "end_depth": "终点埋深"}
    pyogrio.raw.write(str(l_path), None, [np.array([r[c] for r in lines], dtype=object)
                                          for c in cols.values()], list(cols),
                      driver=driver, geometry_type=None)
    profile = tmp_path / "short.toml"
    profile.write_text('name = "short"\n[points]\nid = ["point_id"]\nground_z = ["ground_z"]\n'
                       'easting = ["easting"]\nnorthing = ["northing"]\n[lines]\n'
                       'start = ["start"]\nend = ["end"]\ncode = ["code"]\nsize = ["size"]\n'
                       'start_depth = ["start_dept"]\nend_depth = ["end_depth"]\n'
                       '[depth_reference]\nWS = "invert"\ndefault = "top"\n')
    res = import_file(empty_twin, l_path, options={"points": str(p_path),
                                                   "profile": str(profile)})
    assert res.report["source"]["crs_from"] == f"file pts{suffix}"  # the lines have none
    assert res.features == len(pts) + len(lines) and res.skipped == 0
    row = pts[0]
    node = empty_twin.get(f"survey:{row['点号']}")
    assert node.footprint.coords[0] == pytest.approx(
        (float(row["Y"]), float(row["X"]), float(row["地面高程"])))


def test_survey_tables_as_geojson_with_chinese_fields(empty_twin, tmp_path):
    """The demo survey as two GeoJSON files (the CJJ 61 headings as property names,
    points and lines with geometry): the same features as from the CSV tables."""
    import json

    pts = read_gbk(SURVEY / "points.csv")
    lines = read_gbk(SURVEY / "lines.csv")
    xy = {p["点号"]: [float(p["Y"]), float(p["X"])] for p in pts}
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4546"}}
    p_doc = {"type": "FeatureCollection", "crs": crs, "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": xy[p["点号"]]},
         "properties": p} for p in pts]}
    l_doc = {"type": "FeatureCollection", "crs": crs, "features": [
        {"type": "Feature", "properties": r, "geometry": {
            "type": "LineString", "coordinates": [xy[r["起点号"]], xy[r["终点号"]]]}}
        for r in lines]}
    p_path, l_path = tmp_path / "points.geojson", tmp_path / "lines.geojson"
    p_path.write_text(json.dumps(p_doc, ensure_ascii=False), encoding="utf-8")
    l_path.write_text(json.dumps(l_doc, ensure_ascii=False), encoding="utf-8")
    res = import_file(empty_twin, l_path, options={"points": str(p_path)})
    assert res.converter == "survey" and res.skipped == 0
    assert res.features == len(pts) + len(lines)
    with twin.create_twin(tmp_path / "csv.gpkg", "EPSG:4546") as ref:
        import_file(ref, SURVEY / "lines.csv", crs="EPSG:4546",
                    options={"points": str(SURVEY / "points.csv")})
        for f in ref.query(twin.Query(types=("PipeSegment",))):
            g = empty_twin.get(f.id)
            assert g.footprint.equals_exact(f.footprint, 1e-6)
            assert g.attributes["depth_source"] == f.attributes["depth_source"]
