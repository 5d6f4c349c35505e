"""Importing with ``--replace``: the earlier batch gives up the features a later
one replaced, and both say so."""

from __future__ import annotations

from builders import building, small_city
from click.testing import CliRunner

import twin
from twin_cli.main import cli


def test_replaced_features_leave_their_old_batch(empty_twin):
    store = empty_twin
    with store.import_batch("first", "test", "tests", "1") as b:
        b.add(small_city())  # 8 features, test:B1..B3 among them
    with store.import_batch("second", "test", "tests", "1") as b:
        b.add([building(4, 559300.0, 4520800.0, 2), building(5, 559400.0, 4520800.0, 2)])
    with store.import_batch("third", "test", "tests", "1", on_conflict="replace") as b:
        # two buildings of the first batch, one of the second, and a new one
        b.add([building(1, 559000.0, 4520800.0, 7), building(2, 559040.0, 4520800.0, 21),
               building(4, 559300.0, 4520800.0, 3), building(6, 559500.0, 4520800.0, 2)])
    first, second, third = store.batches()
    assert (first.feature_count, second.feature_count, third.feature_count) == (6, 1, 4)
    assert first.report["replaced_by"] == {str(third.id): 2}
    assert second.report["replaced_by"] == {str(third.id): 1}
    assert third.report["replaced"] == 3
    assert third.report["replaced_from"] == {str(first.id): 2, str(second.id): 1}
    # the counts are what the batches hold now
    held = {bt.id: 0 for bt in (first, second, third)}
    for f in store.query(twin.Query()):
        held[f.provenance.batch_id] += 1
    assert held == {first.id: 6, second.id: 1, third.id: 4}


def test_twin_batches_shows_what_was_replaced_and_by_which_batch(tmp_path):
    import json

    from builders import DEMO_DIR

    runner = CliRunner(env={"COLUMNS": "300"})
    path = tmp_path / "d.gpkg"
    args = ["--id-prefix", "hohhot", "--twin", str(path)]
    for cmd in (["init", str(path), "--crs", "EPSG:4546"],
                ["import", str(DEMO_DIR / "pipe_nodes.geojson"), *args],
                ["import", str(DEMO_DIR / "pipe_nodes.geojson"), *args, "--replace"]):
        res = runner.invoke(cli, cmd, catch_exceptions=False)
        assert res.exit_code == 0, res.output
    n = len(json.loads((DEMO_DIR / "pipe_nodes.geojson").read_text())["features"])
    assert f"replaced {n} existing features ({n} of batch 1)" in res.output
    rows = json.loads(runner.invoke(cli, ["batches", str(path), "--json"]).output)
    assert [r["feature_count"] for r in rows] == [0, n]
    assert rows[0]["report"]["replaced_by"] == {"2": n}
    table = runner.invoke(cli, ["batches", str(path)]).output
    assert f"0 ({n} replaced by batch 2)" in table
