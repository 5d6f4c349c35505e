"""The job board: import jobs kept with the twin, shared by every server process.

A server with several worker processes (``twin serve --workers 4``) answers
each request from whichever process the operating system hands it to. The
jobs therefore cannot live in one process's memory: they are kept with the
twin, where every worker reads and writes them, and the board also decides
which worker runs which job, so that one job writes the twin at a time.

A job goes through these states::

    receiving -> queued -> running -> succeeded | failed
        \\-> (discarded: the upload failed; the job is gone)

``receiving`` reserves room in the queue while an upload arrives, so that
the queue bounds (count and bytes) hold for uploads still on the wire.
A worker *claims* the oldest queued job when no other job runs, beats a
heartbeat while it runs it, and *finishes* it. A job whose worker stopped
beating (the process was killed) is failed by the next claim, and a job the
twin could not be locked for (another writer) goes back to the queue.

:class:`JobBoard` is the interface; :class:`twin.store.gpkg_jobs.SqliteJobBoard`
keeps the board of a GeoPackage twin, and a PostGIS store keeps it in its own
database behind the same methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from ..errors import TwinError

STATES = ("receiving", "queued", "running", "succeeded", "failed")
#: States of a job that waits (its upload counts against the queue bounds).
WAITING = ("receiving", "queued")
FINISHED = ("succeeded", "failed")


class QueueFullError(TwinError, RuntimeError):
    """The import queue is at its bound; ``retry_after`` seconds is a fair wait."""

    def __init__(self, message: str, retry_after: int = 30):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class QueueLimits:
    """How much may wait: jobs receiving or queued, and the bytes of their
    uploads together with the running job's."""

    max_jobs: int = 20
    max_bytes: int = 2 * 1024**3


@dataclass(frozen=True)
class Job:
    """One import job as the board keeps it.

    ``payload`` is private to the server (where the upload is stored, the
    import options); :meth:`public` is what clients may see."""

    id: str
    label: str
    status: str
    created: float
    who: str | None = None
    started: float | None = None
    finished: float | None = None
    heartbeat: float | None = None
    worker: str | None = None
    done: int = 0
    total: int | None = None
    size: int = 0
    payload: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    note: str | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "file": self.label, "status": self.status,
                "progress": {"done": self.done, "total": self.total}, "bytes": self.size,
                "created": self.created, "started": self.started, "finished": self.finished,
                "result": self.result, "error": self.error, "note": self.note}


class JobBoard(ABC):
    """Import jobs shared by every process serving one twin."""

    @abstractmethod
    def reserve(self, label: str, size: int, limits: QueueLimits, *, who: str | None = None
                ) -> Job:
        """A new job in state ``receiving`` holding ``size`` bytes of the
        queue; :class:`QueueFullError` when the queue cannot take it."""

    @abstractmethod
    def enqueue(self, job_id: str, label: str, size: int, payload: dict[str, Any]) -> Job:
        """The upload of a ``receiving`` job has arrived (the file ``label``,
        ``size`` bytes): queue it."""

    @abstractmethod
    def touch(self, job_id: str) -> None:
        """A ``receiving`` job's upload is still arriving."""

    @abstractmethod
    def discard(self, job_id: str) -> None:
        """Forget a job whose upload failed (only while ``receiving``)."""

    @abstractmethod
    def claim(self, worker: str, *, stale_after: float) -> Job | None:
        """The oldest queued job, now ``running`` by ``worker``, or ``None``
        while another job runs (its heartbeat younger than ``stale_after``
        seconds) or none waits. One job runs at a time across processes."""

    @abstractmethod
    def heartbeat(self, job_id: str, worker: str, done: int | None = None,
                  total: int | None = None) -> None:
        """The running job is alive (and how far it is)."""

    @abstractmethod
    def finish(self, job_id: str, worker: str, *, result: dict[str, Any] | None = None,
               error: str | None = None) -> None:
        """The running job succeeded (``result``) or failed (``error``)."""

    @abstractmethod
    def requeue(self, job_id: str, worker: str, note: str) -> None:
        """Put a claimed job back in the queue (it could not start yet: ``note``)."""

    @abstractmethod
    def get(self, job_id: str) -> Job:
        """One job (:class:`~twin.errors.NotFoundError` if there is none)."""

    @abstractmethod
    def jobs(self, limit: int = 200) -> list[Job]:
        """The newest jobs first."""

    @abstractmethod
    def expire(self, *, stale_after: float, keep_finished: int) -> list[Job]:
        """Fail running jobs whose worker stopped and forget receiving jobs
        whose upload stalled (both older than ``stale_after`` seconds), and
        forget all but the newest ``keep_finished`` finished jobs. Returns
        the jobs forgotten or failed, whose uploads the caller removes."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
