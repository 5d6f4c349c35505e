"""Geometry workers forked from the model the import parsed.

:class:`Forker` forks a helper process (the *forker*) once, as the
geometry starts; the forker forks each geometry worker
(:func:`converters.ifc_worker.run` over the inherited model). See
:mod:`converters.ifc_geometry` for the kernel chain and its crash handling.
"""

from __future__ import annotations

import faulthandler
import gc
import os
import socket
import subprocess
import sys
import tempfile
import traceback
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle
from pathlib import Path
from typing import Any

from . import ifc_worker


class Forker:
    """Forks geometry workers from the model this process parsed.

    The first worker is not forked from the import process itself but from a
    helper (the *forker*), forked once as the geometry starts: the import
    process then has no thread but its own (the store's writer thread starts
    with the first chunk of features), and the forker never starts one, so
    each worker is forked from a single-threaded process. A worker inherits
    the parsed model copy-on-write: no second parse, no interpreter or
    ifcopenshell to start, and a restart after a kernel crash costs a fork.

    The forker takes requests (a dict, ``None`` to end) over a socket; for
    each, it forks a worker that writes the stream to a new pipe and its
    standard error to a temporary file, sends back the worker's pid and the
    pipe's read end, waits for the worker and sends ``(exit code, the tail of
    its standard error)``.
    """

    def __init__(self, model: Any, spawn_from: str | Path | None = None) -> None:
        import ifcopenshell.geom  # noqa: F401  (imported once, here, not in each worker)

        ours, theirs = socket.socketpair()
        self.proc: subprocess.Popen | None = None
        if spawn_from is not None:
            # a process where other threads run (the API server's import jobs) must
            # not fork: the child would keep whatever locks they held, forever. A
            # fresh interpreter parses the file again and forks the workers instead.
            self.proc = spawn_forker(theirs, Path(spawn_from))
            self.pid = self.proc.pid
        else:
            self.pid = os.fork()
            if self.pid == 0:  # pragma: no cover - the forker process
                ours.close()
                forker_main(Connection(theirs.detach()), model)
        theirs.close()
        self.conn = Connection(ours.detach())

    @property
    def spawned(self) -> bool:
        """Whether the forker is a fresh interpreter (``spawn_from``) rather
        than a fork of this process."""
        return self.proc is not None

    def start(self, request: dict) -> tuple[int, int]:
        """A new worker on ``request``: ``(its pid, the read end of its stream)``."""
        self.conn.send(request)
        pid = self.conn.recv()
        return pid, recv_handle(self.conn)

    def ended(self) -> tuple[int | None, str]:
        """The last worker's exit code (as ``subprocess``'s: minus the signal
        that killed it) and the tail of its standard error."""
        try:
            code, tail = self.conn.recv()
        except EOFError:  # the forker itself is gone
            return None, "the geometry worker's forker ended"
        return code, tail

    def close(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.conn.close()
        if self.proc is not None:
            self.proc.wait()
        else:
            os.waitpid(self.pid, 0)


#: what a spawned forker runs: parse the file, then serve as a forked one does
_SPAWNED = ("import sys; from converters.ifc_fork import spawned_main; "
            "spawned_main(int(sys.argv[1]), sys.argv[2])")


def spawn_forker(end: socket.socket, path: Path) -> subprocess.Popen:
    """A forker in a fresh interpreter (single-threaded) that opens ``path``
    itself and serves requests on the socket ``end``."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])  # where the converters package is
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.Popen([sys.executable, "-c", _SPAWNED, str(end.fileno()), str(path)],
                            pass_fds=(end.fileno(),), env=env, stdin=subprocess.DEVNULL)


def spawned_main(fd: int, path: str) -> None:  # pragma: no cover - the spawned forker
    """A spawned forker: the model parsed here, then :func:`forker_main`."""
    import ifcopenshell
    import ifcopenshell.geom  # noqa: F401

    conn = Connection(fd)
    try:
        model = ifcopenshell.open(path)
    except BaseException:
        conn.close()
        os._exit(1)
    forker_main(conn, model)


def forker_main(conn: Connection, model: Any) -> None:  # pragma: no cover - forker process
    """The forker's loop (see :class:`Forker`); never returns."""
    gc.disable()  # nothing inherited is ever freed here
    code = 0
    try:
        while True:
            try:
                request = conn.recv()
            except EOFError:
                break
            if request is None:
                break
            read_fd, write_fd = os.pipe()
            with tempfile.TemporaryFile() as errors:
                pid = os.fork()
                if pid == 0:
                    os.close(read_fd)
                    conn.close()
                    worker_main(write_fd, errors.fileno(), request, model)
                os.close(write_fd)
                conn.send(pid)
                send_handle(conn, read_fd, os.getppid())
                os.close(read_fd)
                _, status = os.waitpid(pid, 0)
                errors.seek(0, os.SEEK_END)
                errors.seek(max(0, errors.tell() - 8192))
                tail = errors.read().decode(errors="replace")
                conn.send((os.waitstatus_to_exitcode(status), tail))
    except BaseException:
        code = 1
    os._exit(code)


def worker_main(write_fd: int, err_fd: int, request: dict,
                 model: Any) -> None:  # pragma: no cover - the worker process
    """A worker: the kernel chain over the inherited model; never returns.
    Nothing the kernel prints reaches the stream (standard output goes
    nowhere, standard error to the forker's file)."""
    code = 0
    faulthandler.disable()  # a kernel crash is reported by its signal, not a dump
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(err_fd, 2)
        with open(write_fd, "wb", buffering=1 << 20) as out:
            ifc_worker.run(out, request, model)
    except BaseException:
        code = 1
        try:
            os.write(2, traceback.format_exc().encode(errors="replace"))
        except BaseException:
            pass
    os._exit(code)
