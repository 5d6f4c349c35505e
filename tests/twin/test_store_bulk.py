"""Bulk loads into a GeoPackage twin: indexes and R-tree built after the rows,
with the same results and the same errors as row by row."""

import sqlite3

import numpy as np
import pytest
from builders import GROUND, X0, Y0, dump_twin, small_city
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

import twin
from twin.store.gpkg import writer as gpkg_writer
from twin.store.gpkg.rtree_bulk import bulk_load, hilbert_keys

_RTREE = "CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy, minz, maxz)"

coord = st.floats(-1e7, 1e7, allow_nan=False, width=64)
box = st.tuples(coord, coord, coord, st.floats(0, 1e4), st.floats(0, 1e4), st.floats(0, 1e3),
                st.booleans())


def _boxes(raw):
    out = []
    for x, y, z, w, d, h, z_unknown in raw:
        out.append((x, x + w, y, y + d, *((-1e38, 1e38) if z_unknown else (z, z + h))))
    return np.array(out, dtype=np.float64).reshape(-1, 6)


@settings(max_examples=40, deadline=None)
@given(st.lists(box, max_size=400), st.lists(st.tuples(coord, coord, st.floats(0, 1e5)),
                                             min_size=1, max_size=5))
def test_a_bulk_built_rtree_holds_what_row_by_row_inserts_would(raw, windows):
    """Same rounded boxes, same search results, a tree SQLite's own check
    accepts, and one that later inserts and deletes keep working on."""
    boxes = _boxes(raw)
    ids = np.arange(1, len(boxes) + 1) * 7
    one, bulk = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    for c in (one, bulk):
        c.execute(_RTREE)
    one.executemany("INSERT INTO r VALUES (?,?,?,?,?,?,?)",
                    [(int(i), *b) for i, b in zip(ids, boxes.tolist())])
    bulk_load(bulk, "r", ids, boxes)
    assert bulk.execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"
    everything = "SELECT * FROM r ORDER BY id"
    assert bulk.execute(everything).fetchall() == one.execute(everything).fetchall()
    q = ("SELECT id FROM r WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ? "
         "ORDER BY id")
    for x, y, s in windows:
        assert bulk.execute(q, (x + s, x, y + s, y)).fetchall() == \
            one.execute(q, (x + s, x, y + s, y)).fetchall()
    bulk.executemany("INSERT INTO r VALUES (?,?,?,?,?,?,?)",
                     [(10**9 + i, i, i + 1.0, 0, 1, 0, 1) for i in range(60)])
    bulk.execute("DELETE FROM r WHERE id % 2 = 1")
    assert bulk.execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"


def test_hilbert_keys_walk_neighbouring_cells_one_step_apart():
    side = 8
    x, y = np.meshgrid(np.arange(side, dtype=float), np.arange(side, dtype=float))
    keys = hilbert_keys(x.ravel(), y.ravel(), bits=3)
    assert sorted(keys.tolist()) == list(range(side * side))  # every cell once
    order = np.argsort(keys)
    steps = np.abs(np.diff(x.ravel()[order])) + np.abs(np.diff(y.ravel()[order]))
    assert (steps == 1).all()  # a curve: each next cell is a neighbour


def _indexes(path):
    conn = sqlite3.connect(path)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = "
                                            "'index' AND name LIKE 'twin_%'")}
        check = conn.execute("SELECT rtreecheck('twin_rtree')").fetchone()[0]
        return names, check
    finally:
        conn.close()


def many(n, prefix="test:N"):
    return [twin.Feature(id=f"{prefix}{i}", layer="pipe_nodes", type="Valve",
                         footprint=Point(X0 + i % 100, Y0 + i // 100, GROUND - 1),
                         attributes={"network": "JS"}) for i in range(n)]


def test_an_import_into_an_empty_twin_builds_indexes_afterwards_with_the_same_results(
        empty_twin, tmp_path):
    with empty_twin.import_batch("bulk", "test", "tests", "1") as b:
        b.add(small_city() + many(5000))
    row_by_row = twin.create_twin(tmp_path / "rows.gpkg", "EPSG:4546")
    with row_by_row.import_batch("seed", "test", "tests", "1") as b:
        b.add([twin.Feature(id="seed", layer="generic", type="X")])  # no longer empty
    with row_by_row.import_batch("bulk", "test", "tests", "1") as b:
        b.add(small_city() + many(5000))
    names, check = _indexes(empty_twin.path)
    assert check == "ok" and names == _indexes(row_by_row.path)[0]
    assert {"twin_features_id", "twin_features_layer_type", "twin_edges_network"} <= names
    for q in (twin.Query(bbox=(X0 + 10, Y0 + 5, X0 + 40, Y0 + 20)),
              twin.Query(box3d=(X0 - 20, Y0 - 10, GROUND - 5, X0 + 80, Y0 + 60, GROUND)),
              twin.Query(layers=("pipe_nodes",), filters=("id like test:N4%",))):
        assert [f.id for f in empty_twin.query(q)] == [f.id for f in row_by_row.query(q)]
    row_by_row.close()


def test_an_id_twice_in_a_bulk_import_is_named_and_the_twin_stays_empty(empty_twin):
    before, indexes = dump_twin(empty_twin.path), _indexes(empty_twin.path)
    feats = many(5000)
    with pytest.raises(twin.ImportFailedError, match="'test:N17' appears twice in this import"):
        with empty_twin.import_batch("dup", "test", "tests", "1") as b:
            b.add(feats + [feats[17]])
    assert dump_twin(empty_twin.path) == before
    assert _indexes(empty_twin.path) == indexes  # the dropped indexes are back
    assert "twin_features_id" in indexes[0]


def test_a_large_import_into_a_twin_switches_to_bulk_and_still_finds_existing_ids(
        city, monkeypatch):
    monkeypatch.setattr(gpkg_writer, "BULK_MIN_FEATURES", 1000)
    before = dump_twin(city.path)
    clash = twin.Feature(id="test:B1", layer="buildings", type="Building")
    with pytest.raises(twin.ImportFailedError,
                       match=r"'test:B1' already exists in the twin \(import batch 1\)"):
        with city.import_batch("late clash", "test", "tests", "1") as b:
            b.add(many(5000) + [clash])  # comes after the switch
    assert dump_twin(city.path) == before
    with city.import_batch("large", "test", "tests", "1") as b:
        b.add(many(5000))
    names, check = _indexes(city.path)
    assert check == "ok" and "twin_features_id" in names
    assert city.count(twin.Query(layers=("pipe_nodes",))) == 5002
    assert city.get("test:N4321").footprint.coords[0] == (X0 + 21, Y0 + 43, GROUND - 1)


def test_a_bulk_built_rtree_takes_keys_too_large_to_pack():
    rng = np.random.default_rng(5)
    boxes = _boxes([(x, y, 0.0, 5.0, 5.0, 1.0, False) for x, y in rng.random((300, 2)) * 1e4])
    ids = (1 << 45) + np.arange(300) * 3
    one, bulk = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    for c in (one, bulk):
        c.execute(_RTREE)
    one.executemany("INSERT INTO r VALUES (?,?,?,?,?,?,?)",
                    [(int(i), *b) for i, b in zip(ids, boxes.tolist())])
    bulk_load(bulk, "r", ids, boxes)
    assert bulk.execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"
    assert bulk.execute("SELECT * FROM r ORDER BY id").fetchall() == \
        one.execute("SELECT * FROM r ORDER BY id").fetchall()
