"""IFC element geometry through ifcopenshell's geometry kernels, crash-safe.

ifcopenshell 0.9 offers several geometry kernels. OpenCASCADE (the default)
converts nearly everything but is slow; ``manifold`` and ``cgal-simple`` are
several times faster on ordinary building geometry but give no shape for a
share of the elements, and can crash the process on some files (``manifold``
segfaults on the duplex sample). :func:`element_meshes` therefore runs a
*chain* of kernels in one worker process (:mod:`converters.ifc_worker`),
forked from the model this process parsed (no second parse):

1. the fast kernel converts every element it can, on all cores but one
   (:func:`default_threads`: this process works on that one, reading
   the shapes as they come, :mod:`converters.ifc_pipe`);
2. each later kernel gets only the elements that are still missing;
3. a worker that dies (a segfault inside the kernel) loses nothing already
   sent. A new worker (a fork) takes the same kernel on from there, one element at a
   time, each announced before it starts: when that one dies too, the
   element it died on is known. It is skipped by that kernel alone (the
   next kernel gets it) and the kernel resumes after it. Which kernel
   converts which element is thus the same on every run, whatever the
   threads did before the first crash.

Coverage is the robust kernel's, time is close to the fast kernel's. Each
element that no kernel could convert is returned with the reason. A crash
is recorded with how the worker ended (the signal, or the exception a
Python error ended with) and the elements it crashed on; its standard error
is not quoted: it holds the kernel's warnings about other elements.

The kernel works in each element's local coordinates and sends a geometry
shared by several elements once; the placement is applied here with numpy.
Meshes come in world coordinates, in metres, with per-triangle material
names.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import struct
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ifc_fork import Forker
from .ifc_pipe import ReadAhead
from .ifc_worker import GEOMETRY_CACHE_BYTES, HEAD_B, HEAD_E, HEAD_G, HEAD_K, GeometryCache

#: The default kernel chain: fast first, robust last.
DEFAULT_KERNELS: tuple[str, ...] = ("manifold", "opencascade")
KERNELS = ("manifold", "cgal-simple", "cgal", "opencascade")

#: Classes whose geometry is never imported as element meshes: openings are
#: voids cut from their hosts, annotations are drawing symbols.
EXCLUDED_CLASSES = ("IfcOpeningElement", "IfcAnnotation", "IfcGrid", "IfcVirtualElement")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ElementMesh:
    """Triangles of one IFC element: ``vertices (n, 3) float``, ``faces (m, 3) int``
    in metres, world coordinates; ``materials`` names the material of each face
    through ``material_index (m,) int`` (-1 where none)."""

    step_id: int
    vertices: np.ndarray
    faces: np.ndarray
    material_index: np.ndarray
    materials: tuple[str, ...]
    kernel: str


@dataclass
class KernelRun:
    """What one kernel of the chain did; after a crash, how it first ended
    (``crash``) and the elements it crashed on (``crashed_on``, step ids:
    the next kernel got them). A crash with no element named happened with
    several at work at once, and one at a time the kernel did them all."""

    kernel: str
    requested: int
    converted: int = 0
    seconds: float = 0.0
    crashed: bool = False
    exit_code: int | None = None
    crash: str | None = None
    crashed_on: tuple[int, ...] = ()

    def describe(self) -> dict[str, Any]:
        """A JSON-able record (the first 20 elements it crashed on)."""
        out: dict[str, Any] = {"kernel": self.kernel, "requested": self.requested,
                               "converted": self.converted, "seconds": round(self.seconds, 3),
                               "crashed": self.crashed}
        if self.crashed:
            out.update(crash=self.crash, exit_code=self.exit_code,
                       crashed_on_count=len(self.crashed_on),
                       crashed_on=list(self.crashed_on[:20]))
        return out


def crash_reason(exit_code: int | None, stderr: str) -> str:
    """How a worker ended, in words: the signal that killed it, else the
    last line of the Python traceback it printed, else its exit code.

    >>> crash_reason(-11, "Warning: unrelated")
    'killed by SIGSEGV (segmentation fault)'
    >>> crash_reason(1, "Traceback (most recent call last):\\n  ...\\nMemoryError\\n")
    'MemoryError'
    """
    if exit_code is not None and exit_code < 0:
        try:
            sig = signal.Signals(-exit_code)
        except ValueError:
            return f"killed by signal {-exit_code}"
        what = {"SIGSEGV": "segmentation fault", "SIGABRT": "aborted",
                "SIGKILL": "killed, out of memory?", "SIGBUS": "bus error",
                "SIGFPE": "arithmetic error"}.get(sig.name)
        return f"killed by {sig.name}" + (f" ({what})" if what else "")
    if "Traceback (most recent call last)" in stderr:
        tail = stderr[stderr.rindex("Traceback (most recent call last)"):]
        lines = [ln for ln in tail.splitlines() if ln.strip() and not ln.startswith(" ")]
        if len(lines) > 1:
            return lines[-1].strip()[:300]
    return f"ended early with exit code {exit_code}"


@dataclass
class GeometryResult:
    meshes: dict[int, ElementMesh] = field(default_factory=dict)
    #: step id -> why no kernel produced a shape
    failed: dict[int, str] = field(default_factory=dict)
    runs: list[KernelRun] = field(default_factory=list)
    #: the workers came from a fresh interpreter that parsed the file again
    #: (``spawn``: the import runs in a process with other threads), not from
    #: this one
    spawned: bool = False


def _world(verts: np.ndarray, matrix: Sequence[float]) -> np.ndarray:
    """Local ``(n, 3)`` vertices placed by a column-major 4 x 4 matrix."""
    m = np.asarray(matrix, dtype=np.float64).reshape(4, 4).T
    return verts @ m[:3, :3].T + m[:3, 3]


class _Stream:
    """Reads one worker's records; remembers where the worker got to.

    Shared geometries are kept in a :class:`~converters.ifc_worker.GeometryCache`
    that forgets the oldest past its byte budget exactly as the worker's does
    (the worker then sends a forgotten geometry again), so memory stays
    bounded however large the model."""

    def __init__(self, chain: list[str], queue: list[int], skip: list[int],
                 one_by_one: bool, take: Callable[[ElementMesh], bool],
                 start: Callable[[int, list[int]], None],
                 cache_bytes: int = GEOMETRY_CACHE_BYTES) -> None:
        self.chain, self.queue, self.skip, self.one_by_one = chain, queue, skip, one_by_one
        self.take, self.start = take, start
        self.kernel: int | None = None  # index in ``chain`` of the kernel at work
        self.pass_ids: list[int] = []  # what that kernel was given, in its order
        self.begun: int | None = None  # one-by-one: the element it is at
        self.delivered: set[int] = set()
        self.cache_bytes = cache_bytes
        self.geometry: GeometryCache = GeometryCache(cache_bytes)

    def _next_pass(self, index: int) -> list[int]:
        """The elements the kernel ``index`` of the chain gets (as the worker)."""
        if index == 0:
            return list(self.queue)
        left = [i for i in self.pass_ids if i not in self.delivered]
        return sorted(set(left) | set(self.skip)) if index == 1 else left

    def read(self, pipe: Any) -> Generator[ElementMesh, None, bool]:
        """Yield the new meshes of the records until ``D`` (returns ``True``)
        or the end of the pipe (``False``)."""
        while True:
            tag = pipe.read(1)
            if tag == b"D":
                return True
            if tag == b"K":
                (index,) = _unpack(pipe, HEAD_K)
                self.pass_ids = self._next_pass(index)
                self.kernel, self.begun, self.delivered = index, None, set()
                self.start(index, self.pass_ids)
            elif tag == b"B":
                (self.begun,) = _unpack(pipe, HEAD_B)
            elif tag == b"G":
                gid, nv, nf, nn = _unpack(pipe, HEAD_G)
                raw = _exactly(pipe, 24 * nv + 16 * nf + nn)
                verts = np.frombuffer(raw, np.float64, 3 * nv).reshape(-1, 3)
                faces = np.frombuffer(raw, np.int32, 3 * nf, 24 * nv).reshape(-1, 3)
                mids = np.frombuffer(raw, np.int32, nf, 24 * nv + 12 * nf)
                names = tuple(json.loads(raw[24 * nv + 16 * nf:].decode()))
                self.geometry.put(gid, (verts, faces, mids, names), len(raw))
            elif tag == b"E":
                sid, gid, *matrix = _unpack(pipe, HEAD_E)
                verts, faces, mids, names = self.geometry.get(gid)
                self.delivered.add(sid)
                mesh = ElementMesh(sid, _world(verts, matrix), faces, mids, names,
                                   self.chain[self.kernel or 0])
                if self.take(mesh):
                    yield mesh
            else:
                return False


def _exactly(pipe: Any, n: int) -> bytes:
    data = pipe.read(n)
    if len(data) != n:
        raise EOFError
    return data


def _unpack(pipe: Any, head: struct.Struct) -> tuple:
    return head.unpack(_exactly(pipe, head.size))


def _run_worker(forker: Forker, stream: _Stream,
                threads: int) -> Generator[ElementMesh, None, tuple[bool, int | None, str]]:
    """Run one worker over ``stream``'s request, yielding the new meshes as
    they come; returns ``(finished, exit_code, crash)`` (``crash``: how it
    ended, when it did not finish). A caller that stops early (its import
    failed) ends the worker. The shapes come through a private pipe, so that
    nothing the kernel prints can corrupt them."""
    request = {"kernels": stream.chain, "ids": stream.queue, "later": stream.skip,
               "one_by_one": stream.one_by_one, "threads": threads,
               "cache_bytes": stream.cache_bytes}
    pid, read_fd = forker.start(request)
    pipe = ReadAhead(read_fd)  # the worker writes on while the import works
    finished = ended = False
    try:
        try:
            finished = yield from stream.read(pipe)
        except EOFError:
            finished = False
        ended = True
    finally:
        if not ended:  # the caller stopped reading (or failed): end the worker
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        code, tail = forker.ended()
        pipe.close()  # the worker is gone: its end of the pipe is closed
    return finished, code, "" if finished else crash_reason(code, tail)


def _check_kernels(kernels: tuple[str, ...], path: str) -> None:
    for k in kernels:
        if k not in KERNELS:
            # imported here: the worker processes run this module and need no twin
            from twin.errors import ConversionError

            raise ConversionError(f"geometry kernel {k!r} is not known, must be one of "
                                  f"{', '.join(KERNELS)}", source=path)


class _Chain:
    """The kernels' runs over one file, across worker restarts."""

    def __init__(self, kernels: tuple[str, ...], progress: Callable[[int], None] | None):
        self.kernels, self.progress = kernels, progress
        self.result = GeometryResult()
        self.done: set[int] = set()  # the elements delivered (the meshes are not kept)
        self.triangles = 0
        self.runs: dict[int, KernelRun] = {}
        self.base = 0  # index of the first kernel of the current worker
        self.clock = time.perf_counter()
        self.at: int | None = None  # the kernel at work

    def _lap(self) -> None:
        now = time.perf_counter()
        if self.at is not None:
            self.runs[self.at].seconds += now - self.clock
        self.clock = now

    def start(self, index: int, ids: list[int]) -> None:
        self._lap()
        self.at = self.base + index
        if self.at not in self.runs:
            self.runs[self.at] = KernelRun(kernel=self.kernels[self.at], requested=len(ids))

    def take(self, mesh: ElementMesh) -> bool:
        """Count a mesh; ``False`` for one already delivered or empty."""
        if mesh.step_id in self.done or not len(mesh.faces):
            return False
        self.done.add(mesh.step_id)
        self.triangles += len(mesh.faces)
        assert self.at is not None
        self.runs[self.at].converted += 1
        if self.progress is not None:
            self.progress(len(self.done))
        return True

    def crashed(self, stream: _Stream, code: int | None, crash: str,
                note: dict[int, str]) -> tuple[list[int], list[int]] | None:
        """After a worker died: the kernel at work resumes one by one where it
        stopped, skipping only the element it crashed on. Returns its new
        ``(queue, skip)``, or ``None`` when the worker died before any kernel
        started."""
        self._lap()
        if stream.kernel is None or self.at is None:
            return None
        run = self.runs[self.at]
        run.crashed, run.exit_code = True, code
        run.crash = run.crash or crash
        meshes = self.done
        order = stream.pass_ids
        if stream.one_by_one and stream.kernel == 0:
            if stream.begun is None:
                # died before its first element (building the kernel): it is skipped
                queue, culprit = [], [i for i in order if i not in meshes]
            else:
                # died on the element it had begun, or after delivering it
                culprit = [] if stream.begun in meshes else [stream.begun]
                queue = [i for i in order[order.index(stream.begun) + 1:] if i not in meshes]
            run.crashed_on += tuple(culprit)
            for i in culprit:
                note[i] = f"the {run.kernel} kernel crashed ({crash}) on it"
        else:  # several at once: which one is not known; go one by one
            queue = [i for i in order if i not in meshes]
        log.info("the %s kernel crashed (%s); it resumes one element at a time with %d "
                 "left", run.kernel, crash, len(queue))
        return queue, list(run.crashed_on)


#: Crashes of one kernel, at most, for one file: after as many, what it has
#: left goes on to the next kernel.
MAX_CRASHES = 32


def default_threads() -> int:
    """Geometry threads of a kernel's iterator: one fewer than the cores, at
    least one. The import process reads, places and stores the shapes on a
    core of its own while they stream in. ifcopenshell's iterator gains
    little from a second thread here and spends nearly twice the CPU on it
    (on this project's 2-core machine, ifcopenshell 0.9: Janesville's 1,534
    elements 1.27-1.39 s wall on one thread, 1.28-1.56 s and twice the CPU on
    two; ISSUE_021 0.42 s on one, 0.64-0.76 s on two)."""
    return max(1, (os.cpu_count() or 1) - 1)


class MeshStream:
    """The meshes of a kernel chain as they come (see :func:`element_meshes`).

    Iterate once; each element's mesh comes once, in the order the kernels
    deliver them. After the iteration, :attr:`result` holds the kernel runs,
    the elements no kernel converted (with the reason) and the triangle
    count; its ``meshes`` stay empty: the meshes are not kept.
    """

    def __init__(self, path: str, ids: Iterable[int], kernels: tuple[str, ...],
                 model: Any, threads: int | None,
                 progress: Callable[[int], None] | None,
                 cache_bytes: int = GEOMETRY_CACHE_BYTES, spawn: bool = False) -> None:
        _check_kernels(kernels, path)
        self.path, self.kernels, self.model = path, kernels, model
        self.spawn = spawn
        self.threads = threads or default_threads()
        self.todo = sorted(set(ids))
        self.progress, self.cache_bytes = progress, cache_bytes
        self.result = GeometryResult()
        self.converted = 0  # elements with a mesh
        self.triangles = 0

    def __iter__(self) -> Iterator[ElementMesh]:
        kernels, todo = self.kernels, self.todo
        chain = _Chain(kernels, self.progress)
        note: dict[int, str] = {}
        crashes = [0] * len(kernels)
        forker = Forker(self.model, self.path if self.spawn else None)
        self.result.spawned = forker.spawned
        try:
            yield from self._chain(forker, chain, note, crashes)
        finally:
            forker.close()
        result = self.result
        result.runs = [chain.runs[k] for k in sorted(chain.runs)]
        self.converted, self.triangles = len(chain.done), chain.triangles
        for i in todo:
            if i not in chain.done:
                result.failed[i] = note.get(
                    i, f"no shape from any geometry kernel ({', '.join(kernels)})")

    def _chain(self, forker: Forker, chain: _Chain, note: dict[int, str],
               crashes: list[int]) -> Iterator[ElementMesh]:
        """The workers' runs until the chain is done, a new worker after each crash."""
        kernels, todo = self.kernels, self.todo
        queue: list[int] = todo
        skip: list[int] = []
        one_by_one = False
        while True:
            stream = _Stream(list(kernels[chain.base:]), queue, skip, one_by_one,
                             chain.take, chain.start, self.cache_bytes)
            finished, code, crash = yield from _run_worker(forker, stream, self.threads)
            if finished:
                chain._lap()
                break
            resume = chain.crashed(stream, code, crash, note)
            if resume is None:
                for i in todo:
                    note.setdefault(i, "the geometry worker ended before converting it "
                                       f"({crash})")
                break
            chain.base += stream.kernel or 0
            queue, skip = resume
            one_by_one = True
            crashes[chain.base] += 1
            if crashes[chain.base] >= MAX_CRASHES and queue:
                # this kernel crashes on too much of the file: the rest skips it
                for i in queue:
                    note.setdefault(i, f"the {kernels[chain.base]} kernel crashed "
                                       f"{MAX_CRASHES} times on this file before reaching it")
                queue, skip = [], sorted(set(queue) | set(skip))


def element_meshes(path: str, ids: Iterable[int], *, kernels: tuple[str, ...] = DEFAULT_KERNELS,
                   model: Any = None, threads: int | None = None,
                   progress: Callable[[int], None] | None = None,
                   stream: bool = False, cache_bytes: int = GEOMETRY_CACHE_BYTES,
                   spawn: bool = False) -> Any:
    """Meshes of the elements ``ids`` (STEP ids) of the IFC file at ``path``.

    ``model`` is the file as ifcopenshell parsed it in this process (opened
    here when ``None``): the workers are forked from it. ``threads`` is
    the number of geometry threads per kernel (default: :func:`default_threads`).
    ``progress(n)`` is called with the number of elements converted so far.

    Returns a :class:`GeometryResult` with every mesh; with ``stream`` a
    :class:`MeshStream` instead, which yields them as the kernels deliver
    them and keeps none (an import's memory then does not grow with the
    model). ``cache_bytes`` bounds the shared geometry each end of the
    worker's stream keeps (:class:`~converters.ifc_worker.GeometryCache`).
    ``spawn``: the workers come from a fresh interpreter that parses the
    file again, not from this process (which must not fork when other
    threads run in it: a server's import jobs).
    """
    if model is None:
        import ifcopenshell

        model = ifcopenshell.open(path)
    meshes = MeshStream(path, ids, kernels, model, threads, progress, cache_bytes, spawn)
    if stream:
        return meshes
    got = {m.step_id: m for m in meshes}
    meshes.result.meshes = got
    return meshes.result
