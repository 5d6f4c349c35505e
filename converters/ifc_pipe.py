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

import contextlib
import fcntl
import os
import select
import threading
from collections import deque

#: Bytes one read takes from the pipe, and the pipe's size (Linux's
#: ``F_SETPIPE_SZ``, up to ``/proc/sys/fs/pipe-max-size``, 1 MiB by default).
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
        self.fd, self.block, self.ahead = fd, block, ahead
        with contextlib.suppress(OSError):  # a pipe holds 64 KiB, unless asked for more
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, block)
        self._ready = threading.Condition()
        self._blocks: deque[bytes | BaseException] = deque()
        self._queued = 0  # bytes in ``_blocks``
        self._stop = False
        self._data = b""  # the block being read, from ``_at``
        self._at = 0
        self._ended = False
        self._thread = threading.Thread(target=self._pump, name="ifc-geometry-pipe",
                                        daemon=True)
        self._thread.start()

    def _put(self, item: bytes | BaseException) -> bool:
        """Queue ``item`` once fewer than ``ahead`` bytes wait; ``False``
        when the reader closed meanwhile."""
        with self._ready:
            while self._queued >= self.ahead and not self._stop:
                self._ready.wait()
            if self._stop:
                return False
            self._blocks.append(item)
            if isinstance(item, bytes):
                self._queued += len(item)
            self._ready.notify_all()
            return True

    def _pump(self) -> None:
        try:
            ready = select.poll()
            ready.register(self.fd, select.POLLIN | select.POLLHUP | select.POLLERR)
            while not self._stop:
                # waits a moment at a time (the GIL released), so that close() stops
                # it even while a worker that is not ours keeps the pipe open
                if not ready.poll(_WAIT_MS):
                    continue
                data = os.read(self.fd, self.block)
                if not self._put(data) or not data:
                    return
        except BaseException as exc:  # the reader gets it rather than waiting forever
            self._put(exc)

    def _next_block(self) -> bool:
        """The next block into ``_data``; ``False`` at the end of the pipe."""
        if self._ended:
            return False
        with self._ready:
            while not self._blocks:
                self._ready.wait()
            item = self._blocks.popleft()
            if isinstance(item, bytes):
                self._queued -= len(item)
            self._ready.notify_all()
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
        with self._ready:
            self._stop = True
            self._ready.notify_all()
        self._thread.join()
        os.close(self.fd)

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
