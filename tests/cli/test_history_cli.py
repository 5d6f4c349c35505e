"""The CLI of versions: ``import --update`` (``--retire-missing``), ``--as-of``
on the reading commands, ``twin diff`` and removing an update."""

from __future__ import annotations

import json

import pyogrio
from click.testing import CliRunner

from twin_cli.main import cli

CRS = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4546"}}


def nodes(path, rows) -> str:
    """A GeoJSON of valves: ``(id, x, install_year)`` each."""
    doc = {"type": "FeatureCollection", "crs": CRS, "features": [
        {"type": "Feature", "id": i, "geometry": {"type": "Point",
                                                  "coordinates": [559000.0 + x, 4520800.0, 1048.0]},
         "properties": {"layer": "pipe_nodes", "utility": "JS", "type": "Valve",
                        "install_year": year}} for i, x, year in rows]}
    path.write_text(json.dumps(doc))
    return str(path)


def run(*args) -> str:
    res = CliRunner(env={"COLUMNS": "200"}).invoke(cli, [str(a) for a in args],
                                                   catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.stdout


def test_update_as_of_diff_and_remove_on_the_command_line(tmp_path):
    twin_path = tmp_path / "t.gpkg"
    run("init", twin_path, "--crs", "EPSG:4546")
    year1 = nodes(tmp_path / "y1.geojson", [("V1", 0, 1990), ("V2", 10, 2000),
                                            ("V3", 20, 2010)])
    out = run("import", year1, "--twin", twin_path, "--update", "--id-prefix", "w")
    assert "update: 3 added, 0 changed, 0 unchanged, 0 retired" in out
    out = run("import", year1, "--twin", twin_path, "--update", "--id-prefix", "w")
    assert "nothing changed, no batch recorded" in out
    assert "update: 0 added, 0 changed, 3 unchanged, 0 retired" in out
    # the next survey: V1 renewed, V2 moved 5 m, V3 gone, V4 new
    year2 = nodes(tmp_path / "y2.geojson", [("V1", 0, 2025), ("V2", 15, 2000),
                                            ("V4", 30, 2025)])
    out = run("import", year2, "--twin", twin_path, "--update", "--retire-missing", "layers",
              "--id-prefix", "w")
    assert "update: 1 added, 2 changed, 0 unchanged, 1 retired" in out
    assert "geometry moved: 1 features, up to 5.00 m" in out
    assert "retired: w:V3" in out
    then = json.loads(run("query", twin_path, "--as-of", "1", "--format", "geojson"))
    assert sorted((f["id"], f["properties"]["install_year"]) for f in then["features"]) == [
        ("w:V1", 1990), ("w:V2", 2000), ("w:V3", 2010)]
    now = json.loads(run("query", twin_path, "--format", "geojson"))
    assert sorted(f["id"] for f in now["features"]) == ["w:V1", "w:V2", "w:V4"]
    cs = json.loads(run("diff", twin_path, "--from", "1", "--format", "json",
                        "--html", tmp_path / "d.html"))
    assert {(c["id"], c["change"], tuple(c["what"])) for c in cs["changes"]} == {
        ("w:V1", "changed", ("install_year",)), ("w:V2", "changed", ("geometry: moved",)),
        ("w:V3", "removed", ()), ("w:V4", "added", ())}
    page = (tmp_path / "d.html").read_text()
    assert "w:V3" in page and "data:image/png;base64," in page
    run("diff", twin_path, "--format", "geojson", "--out", tmp_path / "c.geojson")
    gj = json.loads((tmp_path / "c.geojson").read_text())
    assert len(gj["features"]) == 4 and "4546" in gj["crs"]["properties"]["name"]
    info = pyogrio.read_info(tmp_path / "c.geojson")  # GDAL reads it, in the twin CRS
    assert info["features"] == 4 and info["crs"] == "EPSG:4546"
    hist = json.loads(run("history", twin_path, "w:V1", "--json"))
    assert [(h["batch"], h["retired_batch"], h["changes"]) for h in hist] == [
        (1, 2, ["added"]), (2, None, ["install_year"])]
    hist = json.loads(run("history", twin_path, "w:V3", "--json"))
    assert [h["changes"] for h in hist] == [["added", "then retired"]]
    run("batches", twin_path, "--remove", "2")
    now = json.loads(run("query", twin_path, "--format", "geojson"))
    assert sorted((f["id"], f["properties"]["install_year"]) for f in now["features"]) == [
        ("w:V1", 1990), ("w:V2", 2000), ("w:V3", 2010)]


def test_replace_and_update_exclude_each_other(tmp_path):
    res = CliRunner().invoke(cli, ["import", "x.geojson", "--twin", str(tmp_path / "t.gpkg"),
                                   "--update", "--replace"])
    assert res.exit_code == 2
    res = CliRunner().invoke(cli, ["query", str(tmp_path), "--as-of", "x"])
    assert res.exit_code == 2


def test_health_check_history_on_the_command_line(tmp_path):
    twin_path = tmp_path / "t.gpkg"
    run("init", twin_path, "--crs", "EPSG:4546")
    run("import", nodes(tmp_path / "y1.geojson", [("V1", 0, 1990)]), "--twin", twin_path,
        "--update", "--id-prefix", "w")
    run("health-check", twin_path, "--year", "2024", "--save")
    run("import", nodes(tmp_path / "y2.geojson", [("V1", 0, 1990), ("V2", 9, 2025)]),
        "--twin", twin_path, "--update", "--id-prefix", "w")
    out = run("health-check", twin_path, "--year", "2025", "--save", "--out",
              tmp_path / "h.html", "--json", tmp_path / "h.json", "--evaluate", "2020:2025")
    assert "evaluation 2020-2025" in out and "2024:" in out and "2025:" in out
    doc = json.loads((tmp_path / "h.json").read_text())
    assert [p[0] for p in doc["trends"][0]["points"]] == [2024, 2025]
    page = (tmp_path / "h.html").read_text()
    assert "Trends over the kept years" in page and "trend-chart" in page
    res = CliRunner().invoke(cli, ["health-check", str(twin_path), "--evaluate", "2025"])
    assert res.exit_code == 2 and "FIRST:LAST" in res.output
