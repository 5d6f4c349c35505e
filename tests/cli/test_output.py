"""What the ``twin`` commands print: text from files exactly as it is (never read
as terminal markup), and bugs reported as bugs (exit 1), never as bad files."""

from __future__ import annotations

import json

import pytest
from builders import dump_twin
from click.testing import CliRunner

import converters.registry as registry
from converters.base import ConverterSpec
from twin_cli.main import cli

X0, Y0, G = 559000.0, 4520800.0, 1050.0

#: Rich markup in every shape that used to lose words or crash the printer.
MARKUP = ("[/]", "[bold]", "[link=file:x]", "[red]", "[/link]")


@pytest.fixture
def runner():
    return CliRunner(env={"COLUMNS": "400"})  # wide tables: cells on one line


def run(runner, *args, code=0):
    res = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == code, res.output
    return res.output


def _collection(features):
    return {"type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4546"}},
            "features": features}


def _pipe(i, x, **props):
    return {"type": "Feature", "id": f"P{i}", "geometry": {
        "type": "LineString", "coordinates": [[x, Y0, G - 2], [x + 40, Y0, G - 2]]},
        "properties": {"layer": "heating", "diameter_mm": 300, "install_year": 1990,
                       "network": "R[/]L", "start_node": f"N{i}", "end_node": f"N{i + 1}",
                       **props}}


@pytest.fixture
def marked(tmp_path, runner):
    """A twin whose path, feature types, names, attribute values, network name,
    layer title and batch sources are full of markup."""
    base = tmp_path / "a[" / "] [bold]b [link=file:x] [red]c"  # '[/]' across the folder
    base.mkdir(parents=True)
    path = base / "city.gpkg"
    run(runner, "init", path, "--crs", "EPSG:4546")
    first = base / "[bold]pipes[i].geojson"
    first.write_text(json.dumps(_collection([
        _pipe(1, X0, type="[/]Pipe[bold]", name="[bold]Main[/] [link=file:x]street[/link]",
              material="[red]steel[/]"),
        {"type": "Feature", "id": "B1", "geometry": {"type": "Polygon", "coordinates": [[
            [X0, Y0 + 10], [X0 + 20, Y0 + 10], [X0 + 20, Y0 + 30], [X0, Y0 + 30],
            [X0, Y0 + 10]]]},
         "properties": {"layer": "buildings", "type": "Building", "name": "[/]",
                        "storeys": 5, "height": 15, "base_z": G, "function": "[i]home[/i]"}},
    ])))
    second = base / "more.geojson"
    second.write_text(json.dumps(_collection([_pipe(3, X0 + 40, material="[/]")])))
    # two files: the first is committed before the second's summary is printed
    out = run(runner, "import", first, second, "--id-prefix", "m", "--twin", path)
    assert str(first) in out and "more.geojson" in out
    run(runner, "layers", path, "--add", "cams", "--title", "[bold]Cameras[/] [/]",
        "--geometry", "POINT")
    return path, base, first


def test_text_from_files_prints_literally_in_every_command(marked, runner, tmp_path):
    path, base, first = marked
    assert "[/]" in str(path) and "[bold]" in str(path)
    info = run(runner, "info", path)
    assert str(path) in info
    assert "[bold]Cameras[/] [/]" in run(runner, "layers", path)
    assert str(first) in run(runner, "batches", path)
    table = run(runner, "query", path)
    for text in ("[/]Pipe[bold]", "[bold]Main[/] [link=file:x]street[/link]",
                 "material=[red]steel[/]", "function=[i]home[/i]", "material=[/]"):
        assert text in table, text
    assert "R[/]L" in run(runner, "network", path)
    renewal = run(runner, "pipes", "renewal", path, "--year", "2025")
    assert "[/]Pipe[bold]" in renewal and "[red]steel[/]" in renewal
    assert "m:P1" in run(runner, "pipes", "clearance", path)
    run(runner, "pipes", "stats", path, "--year", "2025")
    run(runner, "health-check", path, "--year", "2025", "--out", base / "report.html")
    run(runner, "conflate", path)
    out = base / "[bold]export[i].city.json"
    assert str(out) in run(runner, "export", path, "--out", out)


def test_snapshot_prints_its_marked_up_path_literally(marked, runner):
    path, base, _first = marked
    png = base / "[bold]snap[i].png"
    assert str(png) in run(runner, "snapshot", path, "--out", png, "--size", "64x48")
    assert png.stat().st_size > 0


def test_error_messages_keep_their_brackets(marked, runner):
    path, _base, first = marked
    res = runner.invoke(cli, ["import", str(first), "--id-prefix", "m", "--twin", str(path)])
    assert res.exit_code == 2
    line = res.output.strip()
    assert line.startswith(f"error: import of {first} failed") and "already exists" in line


# -- bugs are not bad files ---------------------------------------------------

def _buggy_run(ctx):
    """A converter with a bug: one good feature, then AttributeError on None."""
    from builders import building

    yield building(9, X0 + 500, Y0, 4)
    options = {"layer": None}
    yield options["layer"].strip()


BUGGY = ConverterSpec(name="buggy", version="0", format="test", extensions=(".buggy",),
                      run=_buggy_run)


@pytest.fixture
def with_buggy_converter(monkeypatch):
    monkeypatch.setattr(registry, "_BUILTIN", (*registry._BUILTIN, BUGGY))


@pytest.fixture
def small_twin(tmp_path, runner):
    path = tmp_path / "c.gpkg"
    run(runner, "init", path, "--crs", "EPSG:4546")
    good = tmp_path / "good.geojson"
    good.write_text(json.dumps(_collection([_pipe(1, X0)])))
    run(runner, "import", good, "--twin", path)
    return path


def test_a_bug_is_an_internal_error_with_exit_1_and_the_twin_unchanged(
        small_twin, tmp_path, runner, with_buggy_converter):
    src = tmp_path / "model.buggy"
    src.write_text("anything")
    before = dump_twin(small_twin)
    res = runner.invoke(cli, ["import", str(src), "--twin", str(small_twin)])
    assert res.exit_code == 1, res.output
    assert ("internal error (a bug in the toolkit, please report it): AttributeError: "
            "'NoneType' object has no attribute 'strip'; run with --debug for the traceback"
            in res.output)
    assert "import failed" not in res.output and "rolled back" not in res.output
    assert "Traceback" not in res.output
    assert dump_twin(small_twin) == before


def test_debug_shows_the_traceback_of_a_bug(small_twin, tmp_path, runner,
                                            with_buggy_converter):
    src = tmp_path / "model.buggy"
    src.write_text("anything")
    res = runner.invoke(cli, ["--debug", "import", str(src), "--twin", str(small_twin)])
    assert res.exit_code == 1
    assert "Traceback (most recent call last)" in res.output
    assert "in _buggy_run" in res.output and "options[\"layer\"].strip()" in res.output
    assert "run with --debug" not in res.output


def test_bad_input_is_still_exit_2_with_one_line(small_twin, tmp_path, runner):
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    before = dump_twin(small_twin)
    res = runner.invoke(cli, ["import", str(bad), "--twin", str(small_twin)])
    assert res.exit_code == 2 and res.output.strip().startswith("error: ")
    assert "bad.geojson" in res.output and "internal error" not in res.output
    assert dump_twin(small_twin) == before
    res = runner.invoke(cli, ["health-check", str(small_twin), "--out",
                              str(tmp_path / "no" / "such" / "folder.html")])
    assert res.exit_code == 2 and "folder.html" in res.output  # an OSError, not a bug
