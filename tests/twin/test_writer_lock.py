"""A second writer is refused quickly, told who holds the twin and since when."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from builders import REPO, building, dump_twin

import twin
from twin.store.board import connect_board
from twin.store.writer_lock import WAIT_S, TwinBusyError, WriterRecord, command_line, holder

_HOLDER = textwrap.dedent("""
    import sys, twin
    from builders import building
    with twin.open_twin(sys.argv[1]) as store:
        with store.import_batch("held.geojson", "test", "tests", "1") as b:
            b.add([building(90, 559500.0, 4520900.0, 3)])
            print("holding", flush=True)
            sys.stdin.readline()  # the test says when to commit
""")


@pytest.fixture
def held_twin(city):
    """The small city, written by another process until the test lets go."""
    path = city.path
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, path, "--twin", path],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "holding"
        yield city, proc
    finally:
        proc.stdin.close()
        proc.wait(30)
        proc.stdout.close()


def test_second_writer_is_refused_fast_naming_the_holder(held_twin):
    city, proc = held_twin
    before = dump_twin(city.path)
    t0 = time.monotonic()
    with pytest.raises(TwinBusyError) as err:
        city.update_attributes("test:B1", {"storeys": 7})
    waited = time.monotonic() - t0
    assert WAIT_S - 0.5 < waited < WAIT_S + 3  # not the old 30 s
    msg = str(err.value)
    assert f"pid {proc.pid} on host" in msg and "since" in msg and "UTC" in msg
    assert "-c" in msg  # the holder's command line
    assert err.value.holder.pid == proc.pid
    assert isinstance(err.value, twin.StoreError) and isinstance(err.value, OSError)
    # the holder commits; the record is cleared and the second writer succeeds
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait(30) == 0
    assert holder(city.path) is None
    assert dump_twin(city.path) != before
    assert city.update_attributes("test:B1", {"storeys": 7}).attributes["storeys"] == 7


def test_an_import_waiting_for_the_lock_fails_as_busy_and_changes_nothing(held_twin):
    city, _ = held_twin
    before = dump_twin(city.path)
    with pytest.raises(TwinBusyError, match="is being written by"):
        with city.import_batch("second.geojson", "test", "tests", "1") as b:
            b.add([building(91, 559600.0, 4520900.0, 3)])
    assert dump_twin(city.path) == before


def test_a_holder_without_a_record_is_named_as_another_program(city):
    other = sqlite3.connect(city.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # QGIS saving an edit, say
    try:
        with pytest.raises(TwinBusyError, match="another program"):
            city.update_attributes("test:B1", {"storeys": 7})
        # a record left by a killed writer: named, and said to be gone
        board = connect_board(city.path)
        board.execute("INSERT INTO writer VALUES (1, ?, ?, 'twin import old.ifc', ?)",
                      (os.uname().nodename, _dead_pid(), time.time() - 600))
        board.close()
        with pytest.raises(TwinBusyError, match="'twin import old.ifc'.*no longer runs"):
            city.update_attributes("test:B1", {"storeys": 7})
    finally:
        other.execute("ROLLBACK")
        other.close()
    # the next writer replaces the stale record and clears it when done
    city.update_attributes("test:B1", {"storeys": 7})
    assert holder(city.path) is None


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("argv, expected", [
    (["/usr/bin/twin", "import", "a.ifc", "--twin", "city.gpkg"],
     "twin import a.ifc --twin city.gpkg"),
    (["/venv/bin/python3", "-m", "twin_cli.main", "serve"], "twin -m twin_cli.main serve"),
    ([], "python"),
])
def test_the_recorded_command_is_short_and_readable(argv, expected):
    assert command_line(argv) == expected
    assert len(command_line(["twin", *["x" * 100] * 50])) <= 200


def test_a_record_describes_its_age():
    rec = WriterRecord("gis-01", 4711, "twin import a.ifc", 1_700_000_000.0)
    assert rec.describe(now=1_700_000_192.0) == (
        "'twin import a.ifc' (pid 4711 on host gis-01) since 2023-11-14 22:13:20 UTC "
        "(3 min 12 s)")
