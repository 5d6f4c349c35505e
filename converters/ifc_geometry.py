"""IFC element geometry through ifcopenshell's geometry kernels, crash-safe.

ifcopenshell 0.9 offers several geometry kernels. OpenCASCADE (the default)
converts nearly everything but is slow; ``manifold`` and ``cgal-simple`` are
several times faster on ordinary building geometry but give no shape for a
share of the elements, and can crash the process on some files (``manifold``
segfaults on the duplex sample). :func:`element_meshes` therefore runs a
*chain* of kernels, each in a worker process:

1. the fast kernel converts every element it can;
2. each later kernel gets only the elements that are still missing;
3. a worker that dies (a segfault inside the kernel) loses nothing already
   sent: the elements it had not sent go on to the next kernel.

Coverage is the robust kernel's, time is close to the fast kernel's. Each
element that no kernel could convert is returned with the reason.

When a worker crashes, the run records how (the signal, or the exception
a Python error ended with) and which elements it had not delivered yet:
the one it crashed on is among them (the kernel works on several at once,
so which one is not known unless one was left). Its standard error is not
quoted: it holds the kernel's warnings about other elements, which would
mislead.

Geometry comes in world coordinates (``use-world-coords``), in metres, with
per-triangle material names.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The default kernel chain: fast first, robust last.
DEFAULT_KERNELS: tuple[str, ...] = ("manifold", "opencascade")
KERNELS = ("manifold", "cgal-simple", "cgal", "opencascade")

#: Classes whose geometry is never imported as element meshes: openings are
#: voids cut from their hosts, annotations are drawing symbols.
EXCLUDED_CLASSES = ("IfcOpeningElement", "IfcAnnotation", "IfcGrid", "IfcVirtualElement")

_BATCH = 64

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
    """What one kernel of the chain did; after a crash, how it ended
    (``crash``) and the elements it had not delivered (``pending``, step
    ids), among which is the one it crashed on."""

    kernel: str
    requested: int
    converted: int = 0
    seconds: float = 0.0
    crashed: bool = False
    exit_code: int | None = None
    crash: str | None = None
    pending: tuple[int, ...] = ()

    def describe(self) -> dict[str, Any]:
        """A JSON-able record (the first 20 pending elements)."""
        out: dict[str, Any] = {"kernel": self.kernel, "requested": self.requested,
                               "converted": self.converted, "seconds": round(self.seconds, 3),
                               "crashed": self.crashed}
        if self.crashed:
            out.update(crash=self.crash, exit_code=self.exit_code,
                       pending_count=len(self.pending), pending=list(self.pending[:20]))
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


def _settings(ifcgeom: Any) -> Any:
    s = ifcgeom.settings()
    s.set("use-world-coords", True)
    s.set("weld-vertices", True)
    s.set("apply-default-materials", True)
    return s


def _shape_arrays(shape: Any, kernel: str) -> tuple:
    """The shape as plain arrays (read through the buffers, not Python tuples)."""
    g = shape.geometry
    verts = np.frombuffer(g.verts_buffer, dtype=np.float64).reshape(-1, 3).copy()
    faces = np.frombuffer(g.faces_buffer, dtype=np.int32).reshape(-1, 3).copy()
    mids = np.frombuffer(g.material_ids_buffer, dtype=np.int32).copy() \
        if hasattr(g, "material_ids_buffer") else np.asarray(g.material_ids, dtype=np.int32)
    if len(mids) != len(faces):
        mids = np.full(len(faces), -1, dtype=np.int32)
    names = tuple((m.name or "") for m in g.materials)
    return (int(shape.id), verts, faces, mids, names, kernel)


def _worker(out: Any, request: dict) -> None:  # pragma: no cover - runs in the child process
    """Convert ``request['ids']`` with ``request['kernel']``; pickle shapes to ``out``."""
    import ifcopenshell
    import ifcopenshell.geom as ifcgeom

    text, kernel = request["text"], request["kernel"]
    model = (ifcopenshell.file.from_string(text) if text is not None
             else ifcopenshell.open(request["path"]))
    elements = [model.by_id(i) for i in request["ids"]]
    it = ifcgeom.iterator(_settings(ifcgeom), model, max(1, request["threads"]),
                          include=elements, geometry_library=kernel)
    batch: list[tuple] = []
    if it.initialize():
        while True:
            batch.append(_shape_arrays(it.get(), kernel))
            if len(batch) >= _BATCH:
                pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
                out.flush()
                batch = []
            if not it.next():
                break
    if batch:
        pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
    pickle.dump(None, out)
    out.flush()


def _run_kernel(path: str, text: str | None, kernel: str, ids: list[int], threads: int,
                on_shape: Callable[[ElementMesh], None]) -> tuple[bool, int | None, str]:
    """Run one kernel in a child Python process; returns ``(finished,
    exit_code, crash)`` (``crash``: how it ended, when it did not finish).

    The child is a plain ``python -m converters.ifc_geometry`` (not
    multiprocessing, which would re-import the caller's main script): the
    request goes in through stdin, the shapes come back pickled through a
    private pipe, so that nothing the kernel prints can corrupt them.
    """
    read_fd, write_fd = os.pipe()
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    request = {"path": path, "text": text, "kernel": kernel, "ids": ids, "threads": threads}
    finished = False
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "converters.ifc_geometry", str(write_fd)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors,
            pass_fds=(write_fd,), env=env, cwd=root,
        )
        os.close(write_fd)
        try:
            assert proc.stdin is not None
            try:
                pickle.dump(request, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                proc.stdin.close()
            except BrokenPipeError:
                pass
            with os.fdopen(read_fd, "rb") as pipe:
                while True:
                    try:
                        batch = pickle.load(pipe)
                    except (EOFError, pickle.UnpicklingError):
                        break
                    if batch is None:
                        finished = True
                        break
                    for sid, verts, faces, mids, names, kern in batch:
                        on_shape(ElementMesh(sid, verts, faces, mids, names, kern))
        finally:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        crash = ""
        if not finished:
            errors.seek(0, os.SEEK_END)
            errors.seek(max(0, errors.tell() - 8192))
            crash = crash_reason(proc.returncode, errors.read().decode(errors="replace"))
    return finished, proc.returncode, crash


def element_meshes(path: str, ids: Iterable[int], *, kernels: tuple[str, ...] = DEFAULT_KERNELS,
                   text: str | None = None, threads: int | None = None,
                   progress: Callable[[int], None] | None = None) -> GeometryResult:
    """Meshes of the elements ``ids`` (STEP ids) of the IFC file at ``path``.

    ``text`` is the file's content when it had to be rewritten before
    ifcopenshell could read it (a pre-release schema name); ``threads`` is
    the number of geometry threads per kernel (default: all cores).
    ``progress(n)`` is called with the number of elements converted so far.
    """
    for k in kernels:
        if k not in KERNELS:
            # imported here: the worker processes run this module and need no twin
            from twin.errors import ConversionError

            raise ConversionError(f"geometry kernel {k!r} is not known, must be one of "
                                  f"{', '.join(KERNELS)}", source=path)
    threads = threads or os.cpu_count() or 1
    result = GeometryResult()
    todo = sorted(set(ids))
    crash_note: dict[int, str] = {}

    def take(mesh: ElementMesh) -> None:
        if mesh.step_id not in result.meshes and len(mesh.faces):
            result.meshes[mesh.step_id] = mesh
            run.converted += 1
            if progress is not None:
                progress(len(result.meshes))

    for kernel in kernels:
        if not todo:
            break
        run = KernelRun(kernel=kernel, requested=len(todo))
        t0 = time.perf_counter()
        finished, code, crash = _run_kernel(path, text, kernel, todo, threads, take)
        run.seconds = time.perf_counter() - t0
        run.crashed, run.exit_code = not finished, code
        result.runs.append(run)
        todo = [i for i in todo if i not in result.meshes]
        if not finished:
            run.crash, run.pending = crash, tuple(todo)
            log.info("the %s kernel crashed (%s) with %d of %d elements not converted "
                        "yet; they go on to the next kernel", kernel, crash, len(todo),
                        run.requested)
            for i in todo:
                crash_note.setdefault(i, f"the {kernel} kernel crashed ({crash}) before "
                                         "converting it, on it or on another element")
    for i in todo:
        result.failed[i] = crash_note.get(
            i, f"no shape from any geometry kernel ({', '.join(kernels)})")
    return result


if __name__ == "__main__":  # pragma: no cover - the worker process
    _out = os.fdopen(int(sys.argv[1]), "wb")
    _worker(_out, pickle.load(sys.stdin.buffer))
