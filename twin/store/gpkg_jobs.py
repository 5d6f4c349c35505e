"""The job board of a GeoPackage twin, kept in the twin's board file.

See :mod:`twin.store.jobs` for the states and :mod:`twin.store.board` for
why the board sits beside the twin file rather than in it. Every method is
one short SQLite transaction; the multi-statement ones (reserving room in
the queue, claiming the next job) run under ``BEGIN IMMEDIATE``, so that two
processes never both see room for one more job or both claim one.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import NotFoundError, StoreError
from .board import board_path, connect_board
from .jobs import FINISHED, WAITING, Job, JobBoard, QueueFullError, QueueLimits

_COLUMNS = ("id", "label", "who", "status", "created", "started", "finished", "heartbeat",
            "worker", "done", "total", "size", "payload", "result", "error", "note")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM jobs"


def _job(row: tuple) -> Job:
    d = dict(zip(_COLUMNS, row))
    for key in ("payload", "result"):
        d[key] = json.loads(d[key]) if d[key] else ({} if key == "payload" else None)
    return Job(**d)


class SqliteJobBoard(JobBoard):
    """The jobs of the twin at ``twin_path``, shared by every process."""

    def __init__(self, twin_path: str):
        self.path = board_path(twin_path)
        self._conn = connect_board(twin_path)
        self._lock = threading.Lock()

    @contextmanager
    def _tx(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            try:
                if immediate:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        yield conn
                        conn.execute("COMMIT")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                else:
                    yield conn
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: the job board failed ({exc})") from exc

    def reserve(self, label: str, size: int, limits: QueueLimits, *, who: str | None = None
                ) -> Job:
        job_id = secrets.token_hex(8)
        now = time.time()
        with self._tx(immediate=True) as conn:
            waiting, held = conn.execute(
                "SELECT COUNT(*) FILTER (WHERE status IN (?, ?)), COALESCE(SUM(size), 0) "
                "FROM jobs WHERE status IN (?, ?, 'running')", (*WAITING, *WAITING)).fetchone()
            if waiting >= limits.max_jobs:
                raise QueueFullError(
                    f"the import queue is full ({waiting} jobs wait, at most "
                    f"{limits.max_jobs}); try again when some have run")
            if held + size > limits.max_bytes:
                raise QueueFullError(
                    f"the import queue holds {held} bytes of uploads; {size} more would pass "
                    f"its bound of {limits.max_bytes} bytes; try again when some have run")
            conn.execute("INSERT INTO jobs (id, label, who, status, created, heartbeat, size) "
                         "VALUES (?, ?, ?, 'receiving', ?, ?, ?)",
                         (job_id, label, who, now, now, size))
        return self.get(job_id)

    def enqueue(self, job_id: str, label: str, size: int, payload: dict[str, Any]) -> Job:
        with self._tx() as conn:
            n = conn.execute("UPDATE jobs SET status = 'queued', label = ?, size = ?, "
                             "payload = ?, heartbeat = ? WHERE id = ? AND status = 'receiving'",
                             (label, size, json.dumps(payload), time.time(), job_id)).rowcount
        if n != 1:
            raise NotFoundError(f"import job {job_id!r} is not receiving an upload (it was "
                                "forgotten after its upload stalled)")
        return self.get(job_id)

    def touch(self, job_id: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE jobs SET heartbeat = ? WHERE id = ? AND status = 'receiving'",
                         (time.time(), job_id))

    def discard(self, job_id: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM jobs WHERE id = ? AND status = 'receiving'", (job_id,))

    def claim(self, worker: str, *, stale_after: float) -> Job | None:
        now = time.time()
        with self._tx(immediate=True) as conn:
            beats = conn.execute("SELECT heartbeat FROM jobs WHERE status = 'running'")
            if any(hb is not None and now - hb < stale_after for (hb,) in beats):
                return None  # one job writes at a time; a stale one is expire()'s
            row = conn.execute("SELECT id FROM jobs WHERE status = 'queued' "
                               "ORDER BY created, id LIMIT 1").fetchone()
            if row is None:
                return None
            conn.execute("UPDATE jobs SET status = 'running', worker = ?, started = ?, "
                         "heartbeat = ?, note = NULL WHERE id = ?", (worker, now, now, row[0]))
        return self.get(row[0])

    def heartbeat(self, job_id: str, worker: str, done: int | None = None,
                  total: int | None = None) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE jobs SET heartbeat = ?, done = COALESCE(?, done), "
                "total = COALESCE(?, total) WHERE id = ? AND worker = ? AND status = 'running'",
                (time.time(), done, total, job_id, worker))

    def finish(self, job_id: str, worker: str, *, result: dict[str, Any] | None = None,
               error: str | None = None) -> None:
        status = "failed" if error is not None else "succeeded"
        with self._tx() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, finished = ?, result = ?, error = ?, "
                "payload = NULL WHERE id = ? AND worker = ?",
                (status, time.time(), json.dumps(result) if result is not None else None,
                 error, job_id, worker))

    def requeue(self, job_id: str, worker: str, note: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE jobs SET status = 'queued', worker = NULL, started = NULL, "
                         "note = ? WHERE id = ? AND worker = ? AND status = 'running'",
                         (note, job_id, worker))

    def get(self, job_id: str) -> Job:
        with self._tx() as conn:
            row = conn.execute(f"{_SELECT} WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"import job {job_id!r} does not exist")
        return _job(row)

    def jobs(self, limit: int = 200) -> list[Job]:
        with self._tx() as conn:
            rows = conn.execute(f"{_SELECT} ORDER BY created DESC, id LIMIT ?",
                                (limit,)).fetchall()
        return [_job(r) for r in rows]

    def expire(self, *, stale_after: float, keep_finished: int) -> list[Job]:
        cutoff = time.time() - stale_after
        with self._tx(immediate=True) as conn:
            gone = [_job(r) for r in conn.execute(
                f"{_SELECT} WHERE status = 'receiving' AND heartbeat < ?", (cutoff,))]
            conn.execute("DELETE FROM jobs WHERE status = 'receiving' AND heartbeat < ?",
                         (cutoff,))
            dead = [_job(r) for r in conn.execute(
                f"{_SELECT} WHERE status = 'running' AND heartbeat < ?", (cutoff,))]
            conn.execute(
                "UPDATE jobs SET status = 'failed', finished = ?, payload = NULL, error = ? "
                "WHERE status = 'running' AND heartbeat < ?",
                (time.time(), "the server process running this import stopped; the import "
                              "was rolled back, the twin is unchanged", cutoff))
            old = [_job(r) for r in conn.execute(
                f"{_SELECT} WHERE status IN (?, ?) ORDER BY created DESC, id "
                "LIMIT -1 OFFSET ?", (*FINISHED, keep_finished))]
            conn.executemany("DELETE FROM jobs WHERE id = ?", [(j.id,) for j in old])
        return gone + dead + old

    def close(self) -> None:
        with self._lock:
            self._conn.close()
