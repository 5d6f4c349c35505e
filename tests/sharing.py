"""What the pytest-xdist workers of one test run share, and what each keeps
to itself (``make test`` runs the suite with ``-n auto``)."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def worker_suffix() -> str:
    """``_gw0``, ``_gw1``, ... in a pytest-xdist worker, else ``""``: appended to
    the names of what the workers of one run would otherwise share (databases,
    schemas of ``TWIN_TEST_PG``)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return f"_{worker}" if worker else ""


def once_per_run(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder ``name`` filled by ``build(folder)`` once per test run, for
    read-only use: in a serial run a new temporary folder; under pytest-xdist
    one folder beside the workers' own temporary folders, which the first
    worker to ask builds while the others wait on a lock, then all share
    (pytest-xdist's "making session-scoped fixtures execute only once")."""
    if not worker_suffix():
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    shared = tmp_path_factory.getbasetemp().parent  # this run's, one per worker below it
    folder = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (shared / f"{name}.built").exists():
                shutil.rmtree(folder, ignore_errors=True)  # a worker that failed half-way
                folder.mkdir()
                build(folder)
                (shared / f"{name}.built").touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder
