"""What one server process holds while it runs: the twin opened read-only,
the result cache, and (with a token) the job board, the import runner and
the work directory for uploads. Built by the app's lifespan, closed with it.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.responses import Response

from twin.store import open_twin
from twin.store.base import TwinStore
from twin.store.jobs import JobBoard, QueueLimits

from .cache import Cached, ResultCache
from .encoding import JSON, dumps
from .geo import warm_transformers
from .jobs import ImportRunner
from .settings import ApiSettings

log = logging.getLogger(__name__)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc: nothing to call
        return None


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Hand memory freed by a large computation back to the system.

    The health-check indicators of a 100,000-feature twin hold some 120 MB
    of Python objects while they are computed; once freed, glibc keeps most
    of it in its arenas, so the server's memory stayed at its high-water
    mark. ``malloc_trim`` returns the free pages (a no-op elsewhere)."""
    if _TRIM is not None:
        _TRIM(0)


@dataclass
class ServerState:
    settings: ApiSettings
    cache: ResultCache
    store: TwinStore | None = None
    board: JobBoard | None = None
    runner: ImportRunner | None = None
    work_dir: Path | None = None
    _own_work_dir: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _executor: ThreadPoolExecutor | None = None
    #: called when the server stops (the federation's member clients)
    on_close: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def for_settings(cls, settings: ApiSettings) -> ServerState:
        return cls(settings, ResultCache(settings.cache_mb * 1024**2))

    @property
    def queue_limits(self) -> QueueLimits:
        return QueueLimits(self.settings.max_queued_jobs, self.settings.max_queued_bytes)

    def open(self) -> None:
        s = self.settings
        warm_transformers(self.get_store().crs)
        if s.token is None:
            return
        self._own_work_dir = s.work_dir is None
        self.work_dir = Path(s.work_dir or tempfile.mkdtemp(prefix="twin-uploads-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.board = self.get_store().job_board()
        self.runner = ImportRunner(s.twin_path, self.board, stale_after=s.job_stale_s)
        self.runner.start()

    def imports(self) -> tuple[JobBoard, ImportRunner, Path]:
        """The job board, the import runner and the upload folder of a server
        started with a token. The import routes refuse (403) before they ask
        on a server without one: being asked then is a bug."""
        if self.board is None or self.runner is None or self.work_dir is None:
            raise RuntimeError("imports are not enabled on this server (no token)")
        return self.board, self.runner, self.work_dir

    # -- the threads that answer -------------------------------------------
    @property
    def executor(self) -> ThreadPoolExecutor:
        """The fixed threads that run the twin's queries. Unlike a pool that
        retires idle threads and starts new ones (each opening another read
        connection with its own page cache, never closed), these stay: the
        memory of the server is bounded by ``settings.threads``."""
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(self.settings.threads,
                                                        thread_name_prefix="twin-api")
        return self._executor

    def blocking(self, fn: Callable) -> Callable:
        """A route made of a blocking function: awaited on the fixed threads.
        (Cancelling the request, as its time limit does, drops it from the
        queue when it has not started yet.)"""
        @functools.wraps(fn)
        async def run(*args, **kwargs):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, functools.partial(fn, *args,
                                                                               **kwargs))
        return run

    async def stream(self, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
        """A blocking iterator of chunks, pulled on the fixed threads."""
        loop = asyncio.get_running_loop()
        while (chunk := await loop.run_in_executor(self.executor, next, chunks, None)) \
                is not None:
            yield chunk

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        if self.runner is not None:
            self.runner.close()
        if self.board is not None:
            self.board.close()
        if self._own_work_dir and self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        if self.store is not None:
            self.store.close()
        for fn in self.on_close:
            fn()
        self.on_close.clear()
        self.runner = self.board = self.store = None

    def get_store(self) -> TwinStore:
        """The twin, read-only (opened on first use when the app runs
        without its lifespan, as in a bare test client call)."""
        if self.store is None:
            with self._lock:
                if self.store is None:
                    store = open_twin(self.settings.twin_path, readonly=True)
                    if self.settings.as_of is not None:  # twin serve --as-of
                        store = store.at(self.settings.as_of)
                    self.store = store
        return self.store

    def cached(self, store: TwinStore, key: Hashable, compute: Callable[[], Any], *,
               media_type: str = JSON, headers: Callable[[Any], dict[str, str]] | None = None,
               raw: bool = False) -> Response:
        """A response computed once per twin revision: ``compute()`` returns a
        JSON document (or bytes, with ``raw``); ``headers(result)`` adds
        headers from the result."""
        def make() -> Cached:
            t0 = time.perf_counter()
            out = compute()
            extra = tuple(headers(out).items()) if headers else ()
            body = out[0] if raw else dumps(out)
            if time.perf_counter() - t0 > 0.5:  # a big computation: give its memory back
                release_memory()
            return Cached(body, media_type, extra)

        if self.cache.max_bytes == 0:
            c = make()
        else:
            # a view of the twin as of a batch caches apart from the twin now
            c = self.cache.get_or_compute(store.revision(), (key, getattr(store, "as_of", None)),
                                          make)
        return Response(c.body, media_type=c.media_type, headers=dict(c.headers))
