"""The counted switches of the process's cycle collector (twin.collector)."""

from __future__ import annotations

import gc

import pytest

from twin.collector import Collector, paused


@pytest.fixture(autouse=True)
def _collector_as_it_was():
    enabled, frozen = gc.isenabled(), gc.get_freeze_count()
    yield
    assert (gc.isenabled(), gc.get_freeze_count()) == (enabled, frozen)


def test_pauses_from_two_threads_end_when_both_are_done():
    c = Collector()
    c.pause()
    c.pause()
    c.resume()
    assert not gc.isenabled()  # the other still parses
    c.resume()
    assert gc.isenabled()


def test_a_collector_the_process_had_switched_off_stays_off():
    c = Collector()
    gc.disable()
    try:
        c.pause()
        c.resume()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_freeze_the_process_made_for_itself_is_left_alone():
    c = Collector()
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        c.hold()
        _garbage = [[] for _ in range(1000)]  # new objects, not frozen by us
        c.freeze()
        assert gc.get_freeze_count() == before
        c.release()
        assert gc.get_freeze_count() == before  # not undone by us either
    finally:
        gc.unfreeze()


def test_two_holders_unfreeze_when_the_last_is_done():
    c = Collector()
    c.hold()
    c.hold()
    c.freeze()
    assert gc.get_freeze_count() > 0
    c.release()
    assert gc.get_freeze_count() > 0
    c.release()
    assert gc.get_freeze_count() == 0


def test_paused_switches_off_for_its_block_even_when_it_fails():
    with pytest.raises(RuntimeError, match="mid-block"):
        with paused():
            assert not gc.isenabled()
            raise RuntimeError("mid-block")
    assert gc.isenabled()


def test_an_import_prepares_its_rows_with_the_collector_off(tmp_path, monkeypatch):
    from builders import small_city

    import twin
    from twin.store.writer import ChunkedBatchWriter

    seen = []
    prepare = ChunkedBatchWriter._prepare

    def watched(self, feats):
        seen.append(gc.isenabled())
        return prepare(self, feats)

    monkeypatch.setattr(ChunkedBatchWriter, "_prepare", watched)
    with twin.create_twin(tmp_path / "t.gpkg", "EPSG:32650") as store:
        with store.import_batch("test", "test", "test", "1") as batch:
            batch.add(small_city())
        assert store.count(twin.Query()) == len(small_city())
    assert seen == [False]
    assert gc.isenabled()
