"""A large import into an empty GeoPackage twin is written once, with a
rollback journal (twin/store/gpkg/journal.py): same rows, same promises,
and the twin back in WAL mode whatever happens."""

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest
from builders import dump_twin
from store_workers import bulk_load_and_hang, points

import twin
from twin.store.gpkg import writer as gpkg_writer

pytestmark = pytest.mark.backends("gpkg")


def _journal(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()


def _watching(feats, every, seen, look):
    """``feats``, noting ``look()`` every ``every`` features (while the import runs)."""
    for i, f in enumerate(feats):
        if i and i % every == 0:
            seen.append(look())
        yield f


@pytest.fixture
def small_hold(monkeypatch):
    monkeypatch.setattr(gpkg_writer, "HOLD_FEATURES", 1000)


def test_a_large_import_into_an_empty_twin_uses_a_rollback_journal_then_wal_again(
        empty_twin, small_hold):
    seen = []
    with empty_twin.import_batch("big", "test", "tests", "1") as b:
        b.add(_watching(points("big", 9000), 3000, seen,
                        lambda: b.conn.execute("PRAGMA journal_mode").fetchone()[0]))
    assert seen == ["delete", "delete"]  # held back for 1,000: the first chunk of 2,000
    assert _journal(empty_twin.path) == "wal"
    assert not Path(empty_twin.path + "-journal").exists()
    assert [(x.id, x.feature_count, x.status) for x in empty_twin.batches()] == \
        [(b.id, 9000, "complete")]
    assert empty_twin.count(twin.Query(layers=("pipe_nodes",))) == 9000
    assert empty_twin.get("big:8999").footprint.coords[0][:2] == (points("big", 9000)[8999]
                                                                 .footprint.coords[0][:2])
    conn = sqlite3.connect(empty_twin.path)
    assert conn.execute("SELECT rtreecheck('twin_rtree')").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'twin_features_id'"
                        ).fetchone()[0] == 1
    conn.close()
    with empty_twin.import_batch("next", "test", "tests", "1") as b2:  # WAL, row by row
        b2.add(points("next", 10))
    assert b2.id == b.id + 1 and empty_twin.count(twin.Query()) == 9010


def test_a_small_failed_import_into_an_empty_twin_leaves_its_bytes_as_they_were(tmp_path):
    path = tmp_path / "t.gpkg"
    twin.create_twin(path, "EPSG:4546").close()
    before = path.read_bytes()
    with twin.open_twin(path) as store:
        with pytest.raises(twin.ImportFailedError, match="appears twice"):
            with store.import_batch("small", "test", "tests", "1") as b:
                feats = points("s", 500)
                b.add(feats + feats[:1])
    assert path.read_bytes() == before  # under HOLD_FEATURES: WAL as ever


def test_a_failed_bulk_load_leaves_the_rows_and_wal_mode_as_they_were(empty_twin, small_hold):
    before = dump_twin(empty_twin.path)
    feats = points("dup", 6000)
    with pytest.raises(twin.ImportFailedError, match="'dup:17' appears twice"):
        with empty_twin.import_batch("dup", "test", "tests", "1") as b:
            b.add(feats + [feats[17]])
    assert dump_twin(empty_twin.path) == before
    assert _journal(empty_twin.path) == "wal"
    with empty_twin.import_batch("again", "test", "tests", "1") as b:
        b.add(feats)
    assert empty_twin.count(twin.Query()) == 6000


def test_a_reader_with_the_twin_open_keeps_a_bulk_load_in_wal_mode(empty_twin, small_hold):
    seen = []
    with twin.open_twin(empty_twin.path, readonly=True) as reader:
        assert reader.count(twin.Query()) == 0
        with empty_twin.import_batch("big", "test", "tests", "1") as b:
            b.add(_watching(points("big", 6000), 3000, seen,
                            lambda: (b.conn.execute("PRAGMA journal_mode").fetchone()[0],
                                     reader.count(twin.Query()))))
        assert seen == [("wal", 0)]  # the reader never waited and saw the twin as it was
        assert reader.count(twin.Query()) == 6000


def test_a_bulk_load_killed_mid_way_leaves_the_twin_as_it_was(empty_twin):
    """A real process, killed (SIGKILL) while its bulk load has written pages
    into the file: the hot journal is rolled back by the next open, which
    also puts the twin back into WAL mode."""
    path = empty_twin.path
    empty_twin.close()
    before, size = dump_twin(path), Path(path).stat().st_size
    ctx = multiprocessing.get_context("spawn")
    loading = ctx.Event()
    proc = ctx.Process(target=bulk_load_and_hang, args=(path, 1000, loading))
    proc.start()
    try:
        assert loading.wait(120), "the child never reached its load"
        deadline = time.monotonic() + 60
        while Path(path).stat().st_size <= size and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Path(path).stat().st_size > size  # pages of the load are in the file
        assert Path(path + "-journal").exists() and _journal_mode_in_header(path) == 1
    finally:
        proc.kill()
        proc.join(30)
    assert proc.exitcode == -9
    with twin.open_twin(path) as store:  # rolls the hot journal back, WAL again
        assert store.count(twin.Query()) == 0 and store.batches() == []
        assert dump_twin(path) == before
        assert _journal(path) == "wal"
        with store.import_batch("after", "test", "tests", "1") as b:
            b.add(points("after", 10))
    assert not Path(path + "-journal").exists()
    assert Path(path).stat().st_size < size + 1_000_000


def _journal_mode_in_header(path):
    """The file format version bytes: 1 for a rollback journal, 2 for WAL."""
    with open(path, "rb") as f:
        return f.read(20)[18]
