"""Who holds a twin's write lock, and a clear, quick refusal for a second writer.

SQLite lets one connection write a file at a time. A second writer used to
wait 30 seconds and fail with a bare ``database is locked``; a user could
not tell whether a colleague's import, a crashed process or QGIS held the
twin. Now a writer starts with :func:`begin_write`, which

1. asks for SQLite's write lock (``BEGIN IMMEDIATE``), waiting at most
   :data:`WAIT_S` seconds (enough for the short writes: an attribute edit, a
   layer), then
2. records itself on the twin's board (:mod:`twin.store.board`): host,
   process id, command and start time; :func:`end_write` clears the record.

When the lock is taken, the error names the holder from that record::

    city.gpkg is being written by 'twin import janesville.ifc' (pid 4711 on
    host gis-01) since 2025-03-02 10:14:07 UTC (3 min 12 s); try again when
    it has finished

SQLite's lock, not the record, decides who writes: the record only informs.
A record left by a killed process is overwritten by the next writer, and a
record whose process no longer runs is reported as such.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import StoreError
from .board import connect_board

log = logging.getLogger(__name__)

#: Longest a writer waits for the lock before it is refused.
WAIT_S = 2.0


class TwinBusyError(StoreError):
    """Another process holds the twin's write lock; ``holder`` is its record
    (``None`` when the holder left none: another program than this toolkit)."""

    def __init__(self, message: str, holder: WriterRecord | None = None):
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class WriterRecord:
    """The process writing a twin."""

    host: str
    pid: int
    command: str
    started: float  # seconds since the epoch

    @classmethod
    def this_process(cls) -> WriterRecord:
        return cls(socket.gethostname(), os.getpid(), command_line(sys.argv), time.time())

    def running(self) -> bool | None:
        """Whether the process still runs (``None``: on another host, unknown)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # runs, as another user
            return True
        return True

    def describe(self, now: float | None = None) -> str:
        held = max(0.0, (now or time.time()) - self.started)
        since = datetime.fromtimestamp(self.started, UTC).strftime("%Y-%m-%d %H:%M:%S")
        return (f"{self.command!r} (pid {self.pid} on host {self.host}) since {since} UTC "
                f"({_duration(held)})")


def command_line(argv: list[str], limit: int = 200) -> str:
    """A short, readable command: the program's name and its first arguments
    (``twin import a.ifc --twin city.gpkg``), at most ``limit`` characters."""
    if not argv:
        return "python"
    prog = os.path.basename(argv[0]) or "python"
    if prog in ("main.py", "__main__.py") or prog.startswith("python"):
        prog = "twin"  # python -m twin_cli.main
    text = " ".join([prog, *(a if len(a) <= 60 else a[:57] + "..." for a in argv[1:8])])
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def holder(twin_path: str) -> WriterRecord | None:
    """The recorded writer of a twin, if any."""
    try:
        board = connect_board(twin_path)
    except StoreError:
        return None
    try:
        row = board.execute("SELECT host, pid, command, started FROM writer").fetchone()
    except sqlite3.Error:
        return None
    finally:
        board.close()
    return WriterRecord(*row) if row else None


def begin_write(conn: sqlite3.Connection, twin_path: str, wait_s: float = WAIT_S,
                board: sqlite3.Connection | None = None) -> None:
    """``BEGIN IMMEDIATE`` on ``conn``, refused after ``wait_s`` seconds with a
    :class:`TwinBusyError` naming the holder; on success this process is
    recorded as the writer until :func:`end_write`. ``board``: a connection
    to the twin's board (:func:`~twin.store.board.connect_board`) that the
    caller keeps open across its writes; else one is opened and closed for
    the record."""
    before = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        raise _busy(twin_path) from None
    finally:
        conn.execute(f"PRAGMA busy_timeout = {before}")
    _record(twin_path, WriterRecord.this_process(), board)


def end_write(twin_path: str, board: sqlite3.Connection | None = None) -> None:
    """Clear this process's writer record (after COMMIT or ROLLBACK)."""
    _record(twin_path, None, board)


def _busy(twin_path: str) -> TwinBusyError:
    name = os.path.basename(twin_path)
    rec = holder(twin_path)
    if rec is None:
        return TwinBusyError(
            f"{twin_path} is being written by another program (no toolkit process has "
            "recorded itself: QGIS or another SQLite client editing the file?); try again "
            "when it has finished")
    alive = rec.running()
    if alive is False:
        return TwinBusyError(
            f"{twin_path} is locked by another program; the last recorded writer, "
            f"{rec.describe()}, no longer runs", rec)
    return TwinBusyError(f"{name} is being written by {rec.describe()}; try again when it "
                         "has finished", rec)


def _record(twin_path: str, rec: WriterRecord | None,
            board: sqlite3.Connection | None = None) -> None:
    """Write (or, with ``None``, clear) the writer record, on ``board`` or on a
    connection opened for it. The record informs only: a board that cannot
    be written is logged, never fatal."""
    own = board is None
    if board is None:
        try:
            board = connect_board(twin_path)
        except StoreError as exc:
            log.warning("%s", exc)
            return
    try:
        if rec is None:
            board.execute("DELETE FROM writer WHERE host = ? AND pid = ?",
                          (socket.gethostname(), os.getpid()))
        else:
            board.execute("INSERT OR REPLACE INTO writer VALUES (1, ?, ?, ?, ?)",
                          (rec.host, rec.pid, rec.command, rec.started))
    except sqlite3.Error as exc:
        log.warning("%s: cannot record the twin's writer (%s)", twin_path, exc)
    finally:
        if own:
            board.close()
