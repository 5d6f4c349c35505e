"""A CityJSONSeq read with the cycle collector off and its lines frozen
(twin.collector, converters.cityjson_read.seq_lines)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from builders import REPO

from converters import cityjson
from converters.base import ConversionContext
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
