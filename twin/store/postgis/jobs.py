"""The job board of a PostGIS twin: a ``twin_jobs`` table in the twin's schema.

The same states and rules as the GeoPackage's board (:mod:`twin.store.jobs`,
:class:`twin.store.gpkg_jobs.SqliteJobBoard`), kept in the database every
server process already reaches. A GeoPackage needs a second file because an
import holds the file's only write lock; PostgreSQL locks rows, so jobs can
be queued and their progress recorded while an import runs.

The statements that must see the whole queue at once (reserving room,
claiming the next job, expiring) take a table lock that only conflicts with
itself (``SHARE ROW EXCLUSIVE``), so two processes never both see room for
one more job or both claim one; plain reads of a job are never blocked.
The board writes through its own connections, so it works while the store
itself is open read-only (as ``twin serve`` opens it).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...errors import NotFoundError, StoreError
from ..jobs import FINISHED, WAITING, Job, JobBoard, QueueFullError, QueueLimits
from ..location import ServerLocation
from .connection import ConnectionPool

_COLUMNS = ("id", "label", "who", "status", "created", "started", "finished", "heartbeat",
            "worker", "done", "total", "size", "payload", "result", "error", "note")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM twin_jobs"
_TABLE = """
CREATE TABLE IF NOT EXISTS twin_jobs (
  id text PRIMARY KEY, label text NOT NULL, who text, status text NOT NULL,
  created double precision NOT NULL, started double precision, finished double precision,
  heartbeat double precision, worker text, done bigint NOT NULL DEFAULT 0, total bigint,
  size bigint NOT NULL DEFAULT 0, payload text, result text, error text, note text)"""
_INDEX = "CREATE INDEX IF NOT EXISTS twin_jobs_status ON twin_jobs (status, created)"
_QUEUE_LOCK = "LOCK TABLE twin_jobs IN SHARE ROW EXCLUSIVE MODE"


def _job(row: tuple) -> Job:
    d = dict(zip(_COLUMNS, row))
    for key in ("payload", "result"):
        d[key] = json.loads(d[key]) if d[key] else ({} if key == "payload" else None)
    return Job(**d)


class PgJobBoard(JobBoard):
    """The jobs of the PostGIS twin at ``location``, shared by every process."""

    def __init__(self, location: ServerLocation):
        self.location = location
        self._pool = ConnectionPool(location, readonly=False)
        self._lock = threading.Lock()
        with self._tx() as conn:
            conn.execute(_TABLE)
            conn.execute(_INDEX)

    @contextmanager
    def _tx(self, queue: bool = False) -> Iterator[Any]:
        """One transaction; with ``queue``, holding the queue's lock."""
        pg = self._pool._psycopg
        try:
            with self._pool.borrow() as conn, conn.transaction():
                if queue:
                    conn.execute(_QUEUE_LOCK)
                yield conn
        except pg.Error as exc:
            raise StoreError(f"{self.location}: the job board failed "
                             f"({str(exc).strip()})") from exc

    def reserve(self, label: str, size: int, limits: QueueLimits, *, who: str | None = None
                ) -> Job:
        job_id = secrets.token_hex(8)
        now = time.time()
        with self._tx(queue=True) as conn:
            waiting, held = conn.execute(
                "SELECT COUNT(*) FILTER (WHERE status = ANY(%s)), COALESCE(SUM(size), 0) "
                "FROM twin_jobs WHERE status = ANY(%s)",
                (list(WAITING), [*WAITING, "running"])).fetchone()
            if waiting >= limits.max_jobs:
                raise QueueFullError(
                    f"the import queue is full ({waiting} jobs wait, at most "
                    f"{limits.max_jobs}); try again when some have run")
            if held + size > limits.max_bytes:
                raise QueueFullError(
                    f"the import queue holds {held} bytes of uploads; {size} more would pass "
                    f"its bound of {limits.max_bytes} bytes; try again when some have run")
            conn.execute("INSERT INTO twin_jobs (id, label, who, status, created, heartbeat, "
                         "size) VALUES (%s, %s, %s, 'receiving', %s, %s, %s)",
                         (job_id, label, who, now, now, size))
        return self.get(job_id)

    def enqueue(self, job_id: str, label: str, size: int, payload: dict[str, Any]) -> Job:
        with self._tx() as conn:
            n = conn.execute(
                "UPDATE twin_jobs SET status = 'queued', label = %s, size = %s, payload = %s, "
                "heartbeat = %s WHERE id = %s AND status = 'receiving'",
                (label, size, json.dumps(payload), time.time(), job_id)).rowcount
        if n != 1:
            raise NotFoundError(f"import job {job_id!r} is not receiving an upload (it was "
                                "forgotten after its upload stalled)")
        return self.get(job_id)

    def touch(self, job_id: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE twin_jobs SET heartbeat = %s WHERE id = %s AND "
                         "status = 'receiving'", (time.time(), job_id))

    def discard(self, job_id: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM twin_jobs WHERE id = %s AND status = 'receiving'",
                         (job_id,))

    def claim(self, worker: str, *, stale_after: float) -> Job | None:
        now = time.time()
        with self._tx(queue=True) as conn:
            beats = conn.execute("SELECT heartbeat FROM twin_jobs WHERE status = 'running'"
                                 ).fetchall()
            if any(hb is not None and now - hb < stale_after for (hb,) in beats):
                return None  # one job writes at a time; a stale one is expire()'s
            row = conn.execute("SELECT id FROM twin_jobs WHERE status = 'queued' "
                               "ORDER BY created, id LIMIT 1").fetchone()
            if row is None:
                return None
            conn.execute("UPDATE twin_jobs SET status = 'running', worker = %s, started = %s, "
                         "heartbeat = %s, note = NULL WHERE id = %s",
                         (worker, now, now, row[0]))
        return self.get(row[0])

    def heartbeat(self, job_id: str, worker: str, done: int | None = None,
                  total: int | None = None) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE twin_jobs SET heartbeat = %s, done = COALESCE(%s, done), "
                "total = COALESCE(%s, total) WHERE id = %s AND worker = %s AND "
                "status = 'running'", (time.time(), done, total, job_id, worker))

    def finish(self, job_id: str, worker: str, *, result: dict[str, Any] | None = None,
               error: str | None = None) -> None:
        status = "failed" if error is not None else "succeeded"
        with self._tx() as conn:
            conn.execute(
                "UPDATE twin_jobs SET status = %s, finished = %s, result = %s, error = %s, "
                "payload = NULL WHERE id = %s AND worker = %s",
                (status, time.time(), json.dumps(result) if result is not None else None,
                 error, job_id, worker))

    def requeue(self, job_id: str, worker: str, note: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE twin_jobs SET status = 'queued', worker = NULL, "
                         "started = NULL, note = %s WHERE id = %s AND worker = %s AND "
                         "status = 'running'", (note, job_id, worker))

    def get(self, job_id: str) -> Job:
        with self._tx() as conn:
            row = conn.execute(f"{_SELECT} WHERE id = %s", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"import job {job_id!r} does not exist")
        return _job(row)

    def jobs(self, limit: int = 200) -> list[Job]:
        with self._tx() as conn:
            rows = conn.execute(f"{_SELECT} ORDER BY created DESC, id LIMIT %s",
                                (limit,)).fetchall()
        return [_job(r) for r in rows]

    def expire(self, *, stale_after: float, keep_finished: int) -> list[Job]:
        cutoff = time.time() - stale_after
        with self._tx(queue=True) as conn:
            gone = [_job(r) for r in conn.execute(
                f"{_SELECT} WHERE status = 'receiving' AND heartbeat < %s", (cutoff,))]
            conn.execute("DELETE FROM twin_jobs WHERE status = 'receiving' AND heartbeat < %s",
                         (cutoff,))
            dead = [_job(r) for r in conn.execute(
                f"{_SELECT} WHERE status = 'running' AND heartbeat < %s", (cutoff,))]
            conn.execute(
                "UPDATE twin_jobs SET status = 'failed', finished = %s, payload = NULL, "
                "error = %s WHERE status = 'running' AND heartbeat < %s",
                (time.time(), "the server process running this import stopped; the import "
                              "was rolled back, the twin is unchanged", cutoff))
            old = [_job(r) for r in conn.execute(
                f"{_SELECT} WHERE status = ANY(%s) ORDER BY created DESC, id OFFSET %s",
                (list(FINISHED), keep_finished))]
            if old:
                conn.execute("DELETE FROM twin_jobs WHERE id = ANY(%s)", ([j.id for j in old],))
        return gone + dead + old

    def close(self) -> None:
        with self._lock:
            self._pool.close()
