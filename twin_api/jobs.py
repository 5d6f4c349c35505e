"""Imports over the API: uploads run as background jobs, one at a time.

The server picks every file name (``upload-<random><known extension>`` in its
work directory): a client's file name is kept as a label only, never used as
a path. Uploads are bounded in size; jobs run one after another on one worker
thread because the twin has one writer; each job is one import transaction,
so a failed job leaves the twin unchanged.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from converters.importer import import_file
from converters.registry import formats
from twin.errors import TwinError
from twin.store import open_twin

from .problems import ApiProblem

log = logging.getLogger(__name__)

#: Jobs remembered (the oldest finished ones are forgotten first).
MAX_JOBS = 200
_COPY_CHUNK = 1024 * 1024


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


@dataclass
class Job:
    id: str
    label: str
    status: str = "queued"  # queued, running, succeeded, failed
    created: float = field(default_factory=time.time)
    finished: float | None = None
    done: int = 0
    total: int | None = None
    result: dict[str, Any] | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "file": self.label, "status": self.status,
                "progress": {"done": self.done, "total": self.total},
                "created": self.created, "finished": self.finished,
                "result": self.result, "error": self.error}


class ImportJobs:
    """The queue of import jobs of one server."""

    def __init__(self, twin_path: str, work_dir: str | None, max_bytes: int):
        self.twin_path = twin_path
        self.max_bytes = max_bytes
        self._own_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="twin-api-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twin-import")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiProblem(404, "Not found", f"import job {job_id!r} does not exist")
        return job

    def list(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def save_upload(self, filename: str, stream: BinaryIO) -> Path:
        """Copy an upload into the work directory under a server-chosen name,
        refusing it once it exceeds the size limit."""
        ext = extension_of(filename)
        dest = self.work_dir / f"upload-{secrets.token_hex(12)}{ext}"
        written = 0
        try:
            with open(dest, "xb") as out:
                while chunk := stream.read(_COPY_CHUNK):
                    written += len(chunk)
                    if written > self.max_bytes:
                        raise ApiProblem(413, "Upload too large",
                                         f"{filename!r} exceeds the {self.max_bytes} bytes an "
                                         "upload may have")
                    out.write(chunk)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        if written == 0:
            dest.unlink(missing_ok=True)
            raise ApiProblem(400, "Bad request", f"{filename!r} is empty")
        return dest

    def submit(self, label: str, path: Path, options: dict[str, Any]) -> Job:
        job = Job(id=secrets.token_hex(8), label=label[:200])
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS:
                oldest = next(iter(self._jobs.values()))
                if oldest.status in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
        self._pool.submit(self._run, job, path, options)
        return job

    def _run(self, job: Job, path: Path, options: dict[str, Any]) -> None:
        job.status = "running"

        def progress(done: int, total: int | None) -> None:
            job.done, job.total = done, total

        try:
            with open_twin(self.twin_path) as store:
                res = import_file(store, path, crs=options.get("crs"),
                                  format=options.get("format"),
                                  options=options.get("options") or {},
                                  on_conflict=options.get("on_conflict", "error"),
                                  force=bool(options.get("force", False)), progress=progress)
            job.result = {"batch": res.batch_id, "converter": res.converter,
                          "features": res.features, "skipped": res.skipped,
                          "seconds": round(res.seconds, 3),
                          "skipped_elements": res.report.get("skipped", [])[:100]}
            job.status = "succeeded"
        except TwinError as exc:
            job.error = str(exc).replace(str(path), job.label)
            job.status = "failed"
        except Exception as exc:  # a converter bug must not kill the worker; say what
            log.exception("import job %s failed", job.id)
            job.error = f"internal error while importing {job.label!r}: {type(exc).__name__}"
            job.status = "failed"
        finally:
            job.finished = time.time()
            path.unlink(missing_ok=True)

