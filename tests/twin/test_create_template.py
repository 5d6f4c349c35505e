"""An empty twin copied from the cached template is the twin built statement
by statement: same schema, rows and header, its own metadata and times."""

from __future__ import annotations

import re
import sqlite3

import pytest

import twin
from twin.errors import StoreError

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?")


def dump(path) -> tuple[list[str], tuple]:
    """``sqlite3 .dump`` of the file (times masked) and its header pragmas."""
    conn = sqlite3.connect(path)
    try:
        lines = [TIME.sub("<time>", line) for line in conn.iterdump()]
        header = tuple(conn.execute(f"PRAGMA {p}").fetchone()[0]
                       for p in ("application_id", "user_version", "journal_mode"))
        return lines, header
    finally:
        conn.close()


def make(path, monkeypatch, cache, crs, **kw):
    monkeypatch.setenv("TWIN_CACHE_DIR", str(cache))
    twin.create_twin(path, crs, **kw).close()
    return dump(path)


@pytest.mark.parametrize("crs, kw", [
    ("EPSG:7415", {}),
    ("EPSG:4546", {"origin": (500000.0, 4000000.0, 12.5)}),
    ("EPSG:2154", {"vertical_datum": "NGF-IGN69"}),
])
def test_template_twin_dumps_as_a_twin_built_afresh(tmp_path, monkeypatch, crs, kw):
    cache = tmp_path / "cache"
    fresh = make(tmp_path / "fresh.gpkg", monkeypatch, "", crs, **kw)
    assert not cache.exists()
    first = make(tmp_path / "first.gpkg", monkeypatch, cache, crs, **kw)
    assert len(list(cache.glob("twin-template-*.gpkg"))) == 1
    copied = make(tmp_path / "copied.gpkg", monkeypatch, cache, crs, **kw)
    assert fresh == first == copied
    assert fresh[1] == (twin.store.gpkg.schema.GPKG_APPLICATION_ID,
                        twin.store.gpkg.schema.GPKG_USER_VERSION, "wal")
    # the twin's own metadata, not the template's
    with twin.open_twin(tmp_path / "copied.gpkg") as store:
        assert store.origin == kw.get("origin")
        if "vertical_datum" in kw:
            assert store.vertical_datum == kw["vertical_datum"]


def test_one_template_per_crs(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    a = make(tmp_path / "a.gpkg", monkeypatch, cache, "EPSG:7415")
    b = make(tmp_path / "b.gpkg", monkeypatch, cache, "EPSG:2154")
    assert len(list(cache.glob("twin-template-*.gpkg"))) == 2
    assert a != b


def test_damaged_template_is_built_afresh(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    good = make(tmp_path / "a.gpkg", monkeypatch, cache, "EPSG:7415")
    (template,) = cache.glob("twin-template-*.gpkg")
    template.write_bytes(b"not a database" * 100)
    assert make(tmp_path / "b.gpkg", monkeypatch, cache, "EPSG:7415") == good


def test_creation_in_a_missing_folder_fails_without_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TWIN_CACHE_DIR", str(tmp_path / "cache"))
    twin.create_twin(tmp_path / "a.gpkg", "EPSG:7415").close()  # the template exists
    with pytest.raises(StoreError, match="cannot create"):
        twin.create_twin(tmp_path / "no" / "b.gpkg", "EPSG:7415")
    assert not (tmp_path / "no").exists()


def test_threads_creating_the_first_twins_at_once_agree(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("TWIN_CACHE_DIR", "")
    twin.create_twin(tmp_path / "fresh.gpkg", "EPSG:7415").close()
    fresh = dump(tmp_path / "fresh.gpkg")
    monkeypatch.setenv("TWIN_CACHE_DIR", str(tmp_path / "cache"))

    def make_one(i):
        twin.create_twin(tmp_path / f"t{i}.gpkg", "EPSG:7415").close()
        return dump(tmp_path / f"t{i}.gpkg")

    with ThreadPoolExecutor(4) as pool:
        assert all(d == fresh for d in pool.map(make_one, range(8)))
    assert [p.name for p in (tmp_path / "cache").iterdir()
            if not p.name.endswith(".gpkg")] == []
