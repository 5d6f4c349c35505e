import csv
import io
import json
import shutil

import pytest
from builders import DEMO_DIR
from click.testing import CliRunner

from twin_cli.main import cli


@pytest.fixture
def runner():
    return CliRunner()


def _n(name):
    """Features (or city objects) in a demo source file."""
    if name.endswith(".city.json"):
        return len(json.loads((DEMO_DIR / name).read_text())["CityObjects"])
    return len(json.loads((DEMO_DIR / f"{name}.geojson").read_text())["features"])


def run(runner, *args, ok=True):
    res = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert res.exit_code == 0, res.output
    return res


@pytest.fixture(scope="session")
def built_demo(tmp_path_factory):
    """The demo twin built once through the CLI (init, then import)."""
    runner = CliRunner()
    path = tmp_path_factory.mktemp("cli_demo") / "d.gpkg"
    run(runner, "init", path, "--crs", "EPSG:4546", "--vertical-datum", "1985 NHD")
    run(runner, "import", DEMO_DIR / "buildings.city.json", DEMO_DIR / "pipes.geojson",
        DEMO_DIR / "pipe_nodes.geojson", "--id-prefix", "hohhot", "--twin", path)
    # closed: no write-ahead log is left beside it, the files copy as they are
    assert not [p for p in path.parent.iterdir() if p.name.endswith(("-wal", "-shm"))]
    return path


@pytest.fixture
def demo_path(tmp_path, built_demo):
    """A copy of the built demo twin (the GeoPackage and its jobs board), for
    a test to change as it likes."""
    for f in built_demo.parent.iterdir():
        shutil.copyfile(f, tmp_path / f.name)
    return tmp_path / built_demo.name


def test_help_lists_commands(runner):
    out = run(runner, "--help").output
    for cmd in ("init", "info", "layers", "import", "query", "batches", "network"):
        assert cmd in out


def test_geographic_crs_is_refused_with_exit_2(runner, tmp_path):
    res = run(runner, "init", tmp_path / "x.gpkg", "--crs", "EPSG:4326", ok=False)
    assert res.exit_code == 2
    assert "geographic" in res.output


def test_info_json(runner, demo_path):
    doc = json.loads(run(runner, "info", demo_path, "--json").output)
    assert doc["crs"] == "EPSG:4546"
    assert doc["features_by_layer"]["buildings"] == _n("buildings.city.json")
    assert doc["batches"] == 3


def test_layers_list_and_add(runner, demo_path):
    rows = json.loads(run(runner, "layers", demo_path, "--json").output)
    heating = next(r for r in rows if r["name"] == "heating")
    assert heating["code"] == "RL" and heating["colour"] == "#ff8c00"
    run(runner, "layers", demo_path, "--add", "cameras", "--geometry", "POINT",
        "--group", "above_ground", "--colour", "#123456")
    rows = json.loads(run(runner, "layers", demo_path, "--json").output)
    assert rows[-1]["name"] == "cameras" and not rows[-1]["standard"]


def test_query_geojson_filters(runner, demo_path):
    out = run(runner, "query", demo_path, "--layer", "buildings", "--where", "storeys>18",
              "--format", "geojson").output
    doc = json.loads(out)
    assert doc["features"] and all(f["properties"]["storeys"] > 18 for f in doc["features"])
    assert doc["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::4546"


def test_query_csv_box3d_and_near(runner, demo_path):
    info = json.loads(run(runner, "info", demo_path, "--json").output)
    x0, y0, z0, x1, y1, z1 = info["bounds"]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    # everything 0.3 to 5 m below ground around a street crossing
    node = json.loads(run(runner, "query", demo_path, "--id", "hohhot:RL-N-4-3",
                          "--format", "geojson").output)["features"][0]
    x, y, gz = node["geometry"]["coordinates"]
    out = run(runner, "query", demo_path, "--box3d",
              f"{x - 20},{y - 20},{gz - 5},{x + 20},{y + 20},{gz - 0.3}", "--format", "csv").output
    rows = list(csv.DictReader(io.StringIO(out)))
    layers = {r["layer"] for r in rows}
    assert {"heating", "water_supply", "gas", "sewage", "pipe_nodes"} <= layers
    assert "buildings" not in layers
    assert all(float(r["zmin"]) <= gz - 0.3 and float(r["zmax"]) >= gz - 5 for r in rows)
    near = run(runner, "query", demo_path, "--near", f"{cx},{cy}", "-n", "3", "--layer",
               "buildings", "--format", "csv").output
    rows = list(csv.DictReader(io.StringIO(near)))
    assert len(rows) == 3
    assert [float(r["distance"]) for r in rows] == sorted(float(r["distance"]) for r in rows)


def test_query_bad_filter_is_a_clear_error(runner, demo_path):
    res = run(runner, "query", demo_path, "--where", "height is big", ok=False)
    assert res.exit_code == 2 and "FIELD OP VALUE" in res.output


def test_batches_list_and_remove(runner, demo_path):
    listed = json.loads(run(runner, "batches", demo_path, "--json").output)
    n_bld, n_pipes, n_nodes = _n("buildings.city.json"), _n("pipes"), _n("pipe_nodes")
    assert [b["feature_count"] for b in listed] == [n_bld, n_pipes, n_nodes]
    assert f"removed batch 1: {n_bld} features" in run(runner, "batches", demo_path, "--remove",
                                                   1).output
    doc = json.loads(run(runner, "info", demo_path, "--json").output)
    assert "buildings" not in doc["features_by_layer"]


def test_import_twice_fails_and_replace_works(runner, demo_path):
    bld = DEMO_DIR / "buildings.city.json"
    res = run(runner, "import", bld, "--id-prefix", "hohhot", "--twin", demo_path, ok=False)
    assert res.exit_code == 2
    assert "buildings.city.json" in res.output and "already exists" in res.output
    out = run(runner, "import", bld, "--id-prefix", "hohhot", "--twin", demo_path,
              "--replace", "--json").output
    assert json.loads(out)[0]["report"]["replaced"] == _n("buildings.city.json")


def test_network_check(runner, demo_path):
    rows = json.loads(run(runner, "network", demo_path, "--json").output)
    by = {r["network"]: r for r in rows}
    assert by["RL"]["components"] == 1 and by["RL"]["problems"] == []


def test_pipes_commands(runner, demo_path):
    rl = json.loads(run(runner, "pipes", "renewal", demo_path, "--year", "2025", "--json").output)
    assert rl["items"] and all(i["age"] >= 20 for i in rl["items"])
    assert [i["age"] for i in rl["items"]] == sorted((i["age"] for i in rl["items"]),
                                                     reverse=True)
    stats = json.loads(run(runner, "pipes", "stats", demo_path, "--year", "2025",
                           "--json").output)
    heating = next(s for s in stats if s["layer"] == "heating")
    assert sum(heating["by_material_km"].values()) == pytest.approx(heating["length_km"],
                                                                    abs=1e-3)
    cl = json.loads(run(runner, "pipes", "clearance", demo_path, "--json").output)
    n_pipes = len(json.loads((DEMO_DIR / "pipes.geojson").read_text())["features"])
    assert cl["rules"] == "GB 50289-2016 defaults" and cl["segments"] == n_pipes
    assert any(v["kind"] == "horizontal" for v in cl["violations"])
    iso = json.loads(run(runner, "pipes", "isolate", demo_path, "hohhot:RL-EW-3-4-2",
                         "--json").output)
    assert iso["valves_to_close"] == ["hohhot:RL-N-4-3", "hohhot:RL-N-5-3"]
    res = run(runner, "pipes", "isolate", demo_path, "hohhot:B-0001", ok=False)
    assert res.exit_code == 2 and "not a network segment" in res.output


def test_import_and_export_cityjson_from_the_command_line(tmp_path, runner):
    from builders import REPO

    path = tmp_path / "c.gpkg"
    run(runner, "init", path, "--crs", "EPSG:7415")
    res = run(runner, "import", REPO / "sample_models" / "cityjson" / "cjseq_3dbag_b2.city.jsonl",
              "--twin", path)
    assert "4 features" in res.output and "BuildingPart 2" in res.output
    out = tmp_path / "out.city.json"
    res = run(runner, "export", path, "--format", "cityjson", "--layer", "buildings",
              "--out", out)
    doc = json.loads(out.read_text())
    assert doc["version"] == "2.0" and len(doc["CityObjects"]) == 4
    assert doc["metadata"]["referenceSystem"].endswith("/EPSG/0/28992") or \
        doc["metadata"]["referenceSystem"].endswith("/EPSG/0/7415")
    seq = tmp_path / "out.city.jsonl"
    run(runner, "export", path, "--format", "cityjsonseq", "--out", seq)
    lines = seq.read_text().splitlines()
    assert json.loads(lines[0])["type"] == "CityJSON" and len(lines) == 3  # 2 buildings


def test_cityjson_import_summary_says_what_was_checked_and_left_out(tmp_path, runner):
    """The closing summary: schema verdict (with the first error and its place),
    triangulation counts and problems, appearances not imported, extensions;
    the numbers are the report's own."""
    from builders import REPO

    path = tmp_path / "c.gpkg"
    run(runner, "init", path, "--crs", "EPSG:7415")
    src = REPO / "sample_models" / "cityjson"
    res = run(runner, "import", src / "cjdb_3dbag_extension.city.jsonl", "--twin", path)
    assert "CityJSON 1.1: 20 schema error(s)" in res.output
    assert "geometry[0].lod must be string" in res.output  # the failing member, not "oneOf"
    assert "extensions: Noise, Solar_Potential" in res.output
    batches = json.loads(run(runner, "batches", path, "--json").output)
    tri = batches[-1]["report"]["source"]["triangulation"]
    assert (f"triangulated {tri['polygons']} polygons into {tri['triangles']} triangles"
            in res.output)
    assert f"{tri['non_planar']} non planar" in res.output and tri["non_planar"] > 0
    doc = json.loads((src / "cjio_rotterdam_subset.json").read_text())
    doc["appearance"] = {"materials": [{"name": "brick"}]}
    for o in doc["CityObjects"].values():
        for g in o["geometry"]:
            g.pop("texture", None)
            g.pop("material", None)
    first = next(iter(doc["CityObjects"].values()))
    first["geometry"][0]["material"] = {"visual": {"value": 0}}
    textured = tmp_path / "with_material.city.json"
    textured.write_text(json.dumps(doc))
    res = run(runner, "import", textured, "--twin", path, "--crs", "EPSG:7415")
    assert "schema valid" in res.output
    assert "appearance not imported: 1 materials, 0 textures on 1 geometries" in res.output


def test_errors_quoting_the_file_reach_the_terminal_whole_and_change_nothing(tmp_path,
                                                                            runner):
    """Error text in brackets ("[x, y, z]") is printed as it is, not taken for
    terminal markup; the twin keeps every row."""
    from builders import REPO, dump_twin

    path = tmp_path / "c.gpkg"
    run(runner, "init", path, "--crs", "EPSG:7415")
    src = REPO / "sample_models" / "cityjson" / "cjio_multi_lod.json"
    run(runner, "import", src, "--twin", path, "--crs", "EPSG:7415")
    before = dump_twin(path)
    doc = json.loads(src.read_text())
    doc["vertices"] = [[1, 2], [3]]
    bad = tmp_path / "bad_vertices.city.json"
    bad.write_text(json.dumps(doc))
    res = runner.invoke(cli, ["import", str(bad), "--twin", str(path), "--crs", "EPSG:7415"])
    assert res.exit_code == 2
    assert 'bad_vertices.city.json: "vertices" must be a list of [x, y, z] numbers' in \
        res.output.replace("\n", "")
    assert dump_twin(path) == before


def test_serve_help_names_the_endpoints(runner):
    res = run(runner, "serve", "--help")
    assert "OGC API - Features" in res.output and "--token-file" in res.output


def test_conflate_lists_links_and_switches_the_map_geometry(runner, tmp_path):
    path = tmp_path / "c.gpkg"
    run(runner, "init", path, "--crs", "EPSG:4546")
    out = run(runner, "import", DEMO_DIR / "buildings.city.json",
              DEMO_DIR / "community_centre.ifc", "--id-prefix", "hohhot", "--twin", path).output
    assert "linked hohhot:0Hq8TcGm95Ax3OQmkdcZ1w" in out and "hohhot:B-0267" in out
    rows = json.loads(run(runner, "conflate", path, "--show", "gis", "--json").output)
    assert rows[0]["map_geometry"] == "gis" and rows[0]["gis"] == ["hohhot:B-0267"]
    res = run(runner, "conflate", path, "--show", "bim", "--id", "hohhot:B-0001", ok=False)
    assert res.exit_code == 2 and "not a BIM building" in res.output


def test_hydraulics_of_the_demo_from_the_command_line(runner, demo_path):
    """EPANET on the demo's water network (which gives no demands, lengths or
    roughness: the defaults are said), its pressure loggers, a burst."""
    import subprocess
    import sys

    from builders import REPO

    subprocess.run([sys.executable, str(DEMO_DIR / "sensors.py"), str(demo_path), "--days", "2"],
                   check=True, capture_output=True, cwd=REPO)
    sim = json.loads(run(runner, "pipes", "simulate", demo_path, "--json").output)
    assert sim["network"] == "JS" and sim["time_s"] == 0
    assert sim["defaulted"]["pipe roughness"] == sim["links"].__len__() > 100
    assert all(n["pressure_m"] > 14 for n in sim["nodes"])
    text = run(runner, "pipes", "simulate", demo_path, "--limit", "2").output
    assert "assumed: " in text and "the 2 lowest of" in text
    check = json.loads(run(runner, "pipes", "calibration-check", demo_path, "--time",
                           "2025-03-02T08:00:00+08:00", "--json").output)
    assert check["loggers"] == 2 and check["skipped"] == []
    # the north logger sits on the source: 30 m assumed above its ground, read ~ 320 kPa
    # less the morning peak (see sensors.py)
    north = next(r for r in check["residuals"] if r["name"] == "pressure north")
    assert abs(north["residual_m"]) < 3
    assert check["rmse_m"] == pytest.approx(
        (sum(r["residual_m"] ** 2 for r in check["residuals"]) / 2) ** 0.5)
    res = run(runner, "pipes", "calibration-check", demo_path, "--from",
              "2025-03-01T00:00:00+08:00", ok=False)
    assert res.exit_code == 2 and "--from and --to go together" in res.output
    res = run(runner, "pipes", "simulate", demo_path, "--at", "soon", ok=False)
    assert res.exit_code == 2 and "'soon' is not a duration" in res.output
    iso = json.loads(run(runner, "pipes", "isolate", demo_path, "hohhot:JS-EW-3-4-2",
                         "--hydraulics", "--service-pressure", "40", "--json").output)
    h = iso["hydraulics"]
    assert h["service_pressure_m"] == 40 and h["unsupplied_demand_m3s"] == 0  # no demands
    assert set(h["removed_links"]) >= set(iso["isolated_segments"])
    assert h["below_service_intact"] and set(h["below_service"]) <= set(
        h["below_service_intact"]) | set(h["newly_below"])
