"""Results kept per twin revision, computed once however many ask.

The city health check, the network statistics or a GLB scene take from a
fraction of a second to many seconds to compute, and answer the same until
the twin changes. :class:`ResultCache` keeps their encoded bytes under the
twin's revision (:meth:`twin.store.base.TwinStore.revision`, which every
committed change raises): a request after an import computes afresh, any
other gets the stored bytes. When fifty clients ask at once for a result
that is not there yet, one thread computes it and the others wait for that
one (no stampede of fifty computations, each holding a thread and memory).

The cache is bounded in bytes; the least recently used results go first, and
every result of an older revision goes when a newer revision is seen.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass


@dataclass(frozen=True)
class Cached:
    """An encoded response: body, media type and extra headers."""

    body: bytes
    media_type: str
    headers: tuple[tuple[str, str], ...] = ()


class ResultCache:
    """Encoded results by ``(revision, key)``, at most ``max_bytes`` of them."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, Cached] = OrderedDict()
        self._size = 0
        self._revision = -1
        self._inflight: dict[Hashable, Future] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size(self) -> int:
        return self._size

    def get_or_compute(self, revision: int, key: Hashable, compute: Callable[[], Cached]
                       ) -> Cached:
        """The result for ``key`` at ``revision``: stored, being computed by
        another thread (waited for), or computed now by this one."""
        full = (revision, key)
        with self._lock:
            if revision > self._revision:  # the twin changed: older results are stale
                self._entries.clear()
                self._size = 0
                self._revision = revision
            hit = self._entries.get(full)
            if hit is not None:
                self._entries.move_to_end(full)
                self.hits += 1
                return hit
            pending = self._inflight.get(full)
            if pending is None:
                pending = self._inflight[full] = Future()
                mine = True
                self.misses += 1
            else:
                mine = False
        if not mine:
            return pending.result()  # the computing thread's result, or its error
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                del self._inflight[full]
            pending.set_exception(exc)
            raise
        with self._lock:
            del self._inflight[full]
            if revision == self._revision and len(value.body) <= self.max_bytes // 4:
                self._entries[full] = value
                self._size += len(value.body)
                while self._size > self.max_bytes:
                    _, old = self._entries.popitem(last=False)
                    self._size -= len(old.body)
        pending.set_result(value)
        return value
