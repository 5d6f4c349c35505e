"""Import jobs of a server: uploads on disk, jobs on the twin's board, and
the runner that imports them one at a time.

Every server process (``twin serve --workers N``) runs one
:class:`ImportRunner`. The jobs themselves are kept on the twin's job board
(:mod:`twin.store.jobs`), so any process answers any job's status, and the
board hands the next job to one runner only while no other job runs: the
twin has one writer, and each job is one import transaction, so a failed
job leaves the twin unchanged. A job that finds the twin written by another
program (a ``twin import`` on the command line) goes back to the queue and
is tried again.

Uploads are kept in the work directory, each in a folder the server names
after its job (``job-<id>/<client's file name, sanitised>``); clients never
see that path. The batch a
job imports is recorded as ``<client's file name> (import job <id>)``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from converters.importer import import_file
from converters.registry import formats
from twin.errors import StoreError, TwinError
from twin.store import open_twin
from twin.store.jobs import Job, JobBoard
from twin.store.writer_lock import TwinBusyError

from .problems import ApiProblem
from .uploads import sanitise_filename

log = logging.getLogger(__name__)

#: Finished jobs remembered (the oldest are forgotten first).
KEEP_FINISHED = 200
#: Seconds between two heartbeats of a running job.
HEARTBEAT_S = 2.0
#: Seconds a runner waits before it looks at the queue again unprompted.
POLL_S = 0.5
#: Seconds before a job that found the twin busy is tried again (each try has
#: already waited ``writer_lock.WAIT_S`` for the lock: about one try in 3 s while
#: another program writes, and the job starts within a second of its end).
BUSY_RETRY_S = 1.0


def known_extensions() -> list[str]:
    """Extensions some converter reads, longest first (``.city.json`` before ``.json``)."""
    return sorted({e for s in formats() for e in s.extensions}, key=len, reverse=True)


def extension_of(filename: str) -> str:
    name = filename.lower()
    for ext in known_extensions():
        if name.endswith(ext):
            return ext
    raise ApiProblem(415, "Unsupported file type",
                     f"{filename!r}: no converter reads this file type; known extensions: "
                     f"{', '.join(sorted(known_extensions()))}")


def upload_path(work_dir: Path, job_id: str, filename: str) -> Path:
    """Where a job's upload is kept: a folder named by the server after the
    job, and in it the client's file name, sanitised to one harmless path
    component (:func:`twin_api.uploads.sanitise_filename`), so that the
    converters derive ids from the name the client gave, as ``twin import``
    does. 415 for a file type no converter reads, before a byte is written."""
    extension_of(filename)
    if filename != sanitise_filename(filename):
        raise ApiProblem(400, "Bad request", f"{filename!r} is not a plain file name")
    folder = work_dir / f"job-{job_id}"
    folder.mkdir()
    return folder / filename


def batch_source(job: Job) -> str:
    """What the twin records as the source of a job's batch: the client's
    file name and the job, never a path of the server."""
    return f"{job.label} (import job {job.id})"


class ImportRunner:
    """Runs the jobs of the board, one at a time across every process."""

    def __init__(self, twin_path: str, board: JobBoard, *, stale_after: float):
        self.twin_path = twin_path
        self.board = board
        self.stale_after = stale_after
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="twin-import", daemon=True)
        self._last_expire = 0.0

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def close(self) -> None:
        """Stop taking jobs; a running import is finished first."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    # -- the loop ------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._expire()
                job = self.board.claim(self.worker, stale_after=self.stale_after)
            except TwinError:
                log.exception("the job board of %s failed", self.twin_path)
                job = None
            if job is None:
                self._wake.wait(POLL_S)
                self._wake.clear()
                continue
            self._run(job)

    def _expire(self) -> None:
        now = time.monotonic()
        if now - self._last_expire < min(5.0, self.stale_after / 4):
            return
        self._last_expire = now
        for job in self.board.expire(stale_after=self.stale_after, keep_finished=KEEP_FINISHED):
            _remove_upload(job.payload)

    def _run(self, job: Job) -> None:
        payload = job.payload
        path = Path(payload.get("upload", ""))
        done = {"n": 0, "total": None}
        beating = threading.Event()

        def beat() -> None:
            while not beating.wait(HEARTBEAT_S):
                try:
                    self.board.heartbeat(job.id, self.worker, done["n"], done["total"])
                except TwinError:
                    log.exception("heartbeat of import job %s failed", job.id)

        def progress(n: int, total: int | None) -> None:
            done["n"], done["total"] = n, total

        heart = threading.Thread(target=beat, name="twin-import-heartbeat", daemon=True)
        heart.start()
        keep_upload = False
        try:
            if not path.is_file():
                raise StoreError(f"the upload of {job.label!r} was lost (the server restarted "
                                "without a lasting work directory); upload it again")
            with open_twin(self.twin_path) as store:
                res = import_file(store, path, crs=payload.get("crs"),
                                  format=payload.get("format"), progress=progress,
                                  force=bool(payload.get("force", False)),
                                  source_label=batch_source(job),
                                  # this process runs other threads: an IFC import's
                                  # geometry workers must not be forked from it
                                  options={"workers": "spawn"})
            self.board.finish(job.id, self.worker, result={
                "batch": res.batch_id, "converter": res.converter, "features": res.features,
                "skipped": res.skipped, "seconds": round(res.seconds, 3),
                "skipped_elements": res.report.get("skipped", [])[:100],
                "notes": res.report.get("notes", [])[:100]})
        except TwinBusyError as exc:  # another program writes the twin: wait in the queue
            keep_upload = True
            self.board.requeue(job.id, self.worker,
                               f"waiting: {_public(str(exc), path, job, self.twin_path)}")
            self._stop.wait(BUSY_RETRY_S)
        except TwinError as exc:
            self.board.finish(job.id, self.worker,
                              error=_public(str(exc), path, job, self.twin_path))
        except Exception as exc:  # a converter bug must not kill the runner; say what
            log.exception("import job %s failed", job.id)
            self.board.finish(job.id, self.worker, error=(
                f"internal error while importing {job.label!r}: {type(exc).__name__}; the "
                "import was rolled back, the twin is unchanged"))
        finally:
            beating.set()
            heart.join()
            if not keep_upload:
                _remove_upload(payload)


def _public(message: str, path: Path, job: Job, twin_path: str) -> str:
    """A message with the server's paths replaced: the upload by the client's
    file name, its folder by "the work directory", the twin by "the twin"."""
    out = message.replace(str(path), job.label)
    out = out.replace(str(path.parent), "the work directory")
    return out.replace(twin_path, "the twin")


def _remove_upload(payload: dict[str, Any]) -> None:
    if payload.get("upload"):
        remove_upload(Path(payload["upload"]))


def remove_upload(path: Path) -> None:
    """Remove an upload and the job's folder around it."""
    path.unlink(missing_ok=True)
    if path.parent.name.startswith("job-"):
        try:
            path.parent.rmdir()
        except OSError:
            pass
