"""Python's cycle collector kept off work that makes no reference cycles.

Parsing a document, or turning a chunk of features into rows, makes a great
many lists and tuples and no cycle, yet each of them counts towards the
collector's next pass, and each pass walks containers still alive: on a
large city model two thirds of ``json.load``'s time, and a sixth of a bulk
import's rows. Such work runs with the collector paused
(:meth:`Collector.pause`, :func:`paused`); a parsed document is then
*frozen* (:meth:`Collector.freeze`, ``gc.freeze``): frozen objects are
freed by reference counting as usual, but later passes no longer walk them.

The collector is one per process and the API server runs imports in
threads, so the switches are counted here, once for the process (the one
piece of module state, as the collector itself is): the collector is off
while any such work runs and back as it was when the last is done; a
freeze is only made where nothing else in the process froze objects, and
undone when the last holder is done.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Collector:
    """Counted switches of the process's cycle collector (see the module)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paused = 0
        self._was_enabled = True
        self._holders = 0
        self._ours = False  # the freeze is ours to undo

    def pause(self) -> None:
        """Collector off (until as many :meth:`resume`)."""
        with self._lock:
            if self._paused == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._paused += 1

    def resume(self) -> None:
        with self._lock:
            self._paused -= 1
            if self._paused == 0 and self._was_enabled:
                gc.enable()

    def hold(self) -> None:
        """Begin using freezes (until as many :meth:`release`)."""
        with self._lock:
            if self._holders == 0:
                self._ours = not gc.get_freeze_count()
            self._holders += 1

    def freeze(self) -> None:
        """Leave everything alive now out of later passes (a holder only)."""
        with self._lock:
            if self._ours:
                gc.freeze()

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._ours:
                gc.unfreeze()
                self._ours = False


#: The process's collector switches.
COLLECTOR = Collector()


@contextmanager
def paused() -> Iterator[None]:
    """The process's collector off for the block (counted, see the module)."""
    COLLECTOR.pause()
    try:
        yield
    finally:
        COLLECTOR.resume()
