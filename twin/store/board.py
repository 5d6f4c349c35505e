"""The notice board of a GeoPackage twin: who is writing it, which imports wait.

A twin file has one writer at a time (SQLite's write lock), and an import
holds that lock for its whole transaction, minutes for a large IFC model.
Whatever must stay writable *while* an import runs therefore cannot live in
the twin file itself: a second process could neither record that it waits
nor read a job's progress. It lives beside it, in ``<twin>-board`` (next to
SQLite's own ``-wal`` and ``-shm`` files), a small SQLite database in WAL
mode with two tables, created on first use:

``writer``
    at most one row: host, process id, command and start time of the
    process that holds the twin's write lock (see :mod:`twin.store.writer_lock`).
``jobs``
    the import jobs of the servers of this twin (see
    :class:`twin.store.gpkg_jobs.SqliteJobBoard`).

Every transaction on the board is short (one statement or a few); none is
held while a twin transaction runs. A server database (PostGIS) keeps the
same two tables in the database itself, where row locks make that possible.
"""

from __future__ import annotations

import os
import sqlite3

from ..errors import StoreError

#: Suffix of the board file next to the twin file.
SUFFIX = "-board"
#: Longest a board statement waits for another process's (short) board write.
BUSY_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS writer (
  one INTEGER PRIMARY KEY CHECK (one = 1), host TEXT NOT NULL, pid INTEGER NOT NULL,
  command TEXT NOT NULL, started REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, label TEXT NOT NULL, who TEXT, status TEXT NOT NULL,
  created REAL NOT NULL, started REAL, finished REAL, heartbeat REAL, worker TEXT,
  done INTEGER NOT NULL DEFAULT 0, total INTEGER, size INTEGER NOT NULL DEFAULT 0,
  payload TEXT, result TEXT, error TEXT, note TEXT);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, created);
"""


def board_path(twin_path: str | os.PathLike) -> str:
    """Where the board of the twin at ``twin_path`` lives."""
    return os.fspath(twin_path) + SUFFIX


def connect_board(twin_path: str | os.PathLike) -> sqlite3.Connection:
    """A connection to the board of a twin (created on first use).

    Autocommit mode: callers open their own ``BEGIN IMMEDIATE`` where several
    statements must be atomic. Usable from any thread, one at a time."""
    path = board_path(twin_path)
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(_SCHEMA)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the twin's notice board ({exc})") from None
    return conn
