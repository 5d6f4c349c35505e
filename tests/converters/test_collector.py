"""The cycle collector kept off parsed documents (converters.collector)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from builders import REPO

from converters import cityjson
from converters.base import ConversionContext
from converters.collector import Collector
from converters.registry import converter_for
from twin.crs import parse_crs
from twin.errors import ConversionError

SEQ = REPO / "sample_models" / "cityjson" / "cjdb_3dbag_extension.city.jsonl"


@pytest.fixture(autouse=True)
def _collector_as_it_was():
    enabled, frozen = gc.isenabled(), gc.get_freeze_count()
    yield
    assert (gc.isenabled(), gc.get_freeze_count()) == (enabled, frozen)


def _context(path: Path) -> ConversionContext:
    crs = parse_crs("EPSG:7415")
    return ConversionContext(twin_crs=crs, source=path, source_crs=crs, options={},
                             skip=lambda sid, why: None)


def test_a_cityjsonseq_is_frozen_while_it_is_read_and_given_back_after(monkeypatch):
    monkeypatch.setattr(cityjson, "CHUNK_OBJECTS", 20)  # features come while lines are read
    gc.collect()
    assert gc.get_freeze_count() == 0
    frozen_while_reading = []
    features = converter_for(SEQ, None).run(_context(SEQ))
    for n, _ in enumerate(features):
        if n == 50:
            frozen_while_reading.append(gc.get_freeze_count())
            assert gc.isenabled()  # off only while a line is parsed
    assert frozen_while_reading[0] > 10_000  # the lines parsed so far, and more
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_a_bad_line_leaves_the_collector_as_it_was(tmp_path):
    lines = SEQ.read_text().splitlines()
    bad = tmp_path / "bad.city.jsonl"
    bad.write_text("\n".join(lines[:3] + ['{"type": "CityJSONFeature", '] + lines[3:]) + "\n")
    features = converter_for(bad, None).run(_context(bad))
    with pytest.raises(ConversionError, match="bad.city.jsonl: line 4 is not valid JSON"):
        for _ in features:
            pass
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_an_abandoned_read_gives_the_freeze_back(monkeypatch):
    monkeypatch.setattr(cityjson, "CHUNK_OBJECTS", 20)
    features = converter_for(SEQ, None).run(_context(SEQ))
    next(iter(features))
    assert gc.get_freeze_count() > 0
    features.close()
    assert gc.get_freeze_count() == 0 and gc.isenabled()


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
