"""A geometry worker's pipe, read ahead on a thread of its own.

The import reads a worker's stream (:mod:`converters.ifc_worker`) only as
it takes the next mesh, and between two chunks of meshes it places, checks
and stores the previous one for a while. A pipe holds 64 KiB: read lazily,
the worker would stop at its next write until then, and the kernel and the
import would take turns on two cores instead of working side by side.
:class:`ReadAhead` drains the pipe into memory as the worker writes, up to a
bound, so the kernel runs on while the import works.
"""

from __future__ import annotations

import os
import queue
import select
import threading

#: Bytes one read takes from the pipe.
BLOCK = 1 << 20
#: Bytes read ahead of the import, at most (the import's memory stays bounded
#: however fast the kernel is).
AHEAD = 64 << 20
#: How long the reading thread waits at a time (milliseconds) before it looks
#: whether it is to stop.
_WAIT_MS = 100


class ReadAhead:
    """``read(n)`` over the pipe ``fd``, which a thread reads ahead (up to
    ``ahead`` bytes). The end of the pipe reads as a short read, as a file's
    would. :meth:`close` stops the thread (within a tenth of a second) and
    closes ``fd``."""

    def __init__(self, fd: int, ahead: int = AHEAD, block: int = BLOCK) -> None:
        self.fd, self.block = fd, block
        self._blocks: queue.Queue[bytes | BaseException] = queue.Queue(max(1, ahead // block))
        self._stop = threading.Event()
        self._data = b""  # the block being read, from ``_at``
        self._at = 0
        self._ended = False
        self._thread = threading.Thread(target=self._pump, name="ifc-geometry-pipe",
                                        daemon=True)
        self._thread.start()

    def _put(self, item: bytes | BaseException) -> bool:
        """Queue ``item``; ``False`` when the reader closed meanwhile."""
        while not self._stop.is_set():
            try:
                self._blocks.put(item, timeout=_WAIT_MS / 1000)
                return True
            except queue.Full:
                continue
        return False

    def _pump(self) -> None:
        ready = select.poll()
        ready.register(self.fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while not self._stop.is_set():
            # waits a moment at a time (the GIL released), so that close() stops it
            # even while a worker that is not ours keeps the pipe open
            if not ready.poll(_WAIT_MS):
                continue
            try:
                data = os.read(self.fd, self.block)
            except OSError as exc:
                self._put(exc)
                return
            if not self._put(data) or not data:
                return

    def _next_block(self) -> bool:
        """The next block into ``_data``; ``False`` at the end of the pipe."""
        if self._ended:
            return False
        item = self._blocks.get()
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        if not item:
            self._ended = True
            return False
        self._data, self._at = item, 0
        return True

    def read(self, n: int) -> bytes:
        """``n`` bytes, fewer only at the end of the pipe."""
        end = self._at + n
        if end <= len(self._data):  # most reads: a record's head, a geometry
            out = self._data[self._at:end]
            self._at = end
            return out
        parts = [self._data[self._at:]]
        got = len(parts[0])
        self._data, self._at = b"", 0
        while got < n and self._next_block():
            take = min(n - got, len(self._data))
            parts.append(self._data[:take])
            self._at = take
            got += take
        return b"".join(parts)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        os.close(self.fd)

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
