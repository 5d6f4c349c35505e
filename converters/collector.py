"""Python's cycle collector kept off the documents an import parses.

A parsed JSON document is a great many lists and dicts and holds no
reference cycle, yet each of its allocations counts towards the
collector's next pass, and each pass walks every container still alive:
on a large city model two thirds of ``json.load``'s time. So an import
parses with the collector paused (:meth:`Collector.pause`), and then
*freezes* what is alive (``gc.freeze``): frozen objects are freed by
reference counting as usual, but later passes no longer walk them.

The collector is one per process and the API server runs imports in
threads, so the switches are counted here, once for the process (the one
piece of module state, as the collector itself is): the collector is off
while any import parses and back as it was when the last one is done; a
freeze is only made where nothing else in the process froze objects, and
undone when the last import that held it is done.
"""

from __future__ import annotations

import gc
import threading


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


class OutsideGc:
    """A parsed document kept out of the collector's passes.

    Off while the document is parsed; then, from :meth:`parsed` to the end of
    the block, everything alive is frozen: conversion no longer pays for
    walks over the document (10 to 15% of its time)."""

    def __enter__(self) -> OutsideGc:
        COLLECTOR.hold()
        COLLECTOR.pause()
        self.paused = True
        return self

    def parsed(self) -> None:
        COLLECTOR.freeze()
        if self.paused:
            COLLECTOR.resume()
            self.paused = False

    def __exit__(self, *exc: object) -> None:
        if self.paused:
            COLLECTOR.resume()
        COLLECTOR.release()
