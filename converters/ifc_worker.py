"""The geometry worker process and the binary stream it writes.

A worker (this file run by itself, ``python ifc_worker.py FD``, without the
``converters`` package and what it imports) reads its request, a
pickled dict, from stdin, opens the IFC file once and runs a chain of
ifcopenshell geometry kernels over the requested elements: each kernel gets
what the ones before it did not deliver. It writes to the file descriptor
``FD`` a stream of records, each a one-byte tag and a little-endian
payload:

``K`` kernel index (int32)
    the kernel with this index of the request's chain starts.
``B`` step id (int32)
    one-by-one mode: the kernel starts converting this element. A worker
    that dies after ``B`` and before that element's ``E`` crashed on it.
``G`` geometry: id, vertex count, face count, name bytes (4 x int32), then
    the vertices ``(n, 3) float64``, faces ``(m, 3) int32``, the material of
    each face ``(m,) int32`` and the material names (JSON, UTF-8).
    A geometry is sent once; elements that share it (mapped or typed
    representations) refer to it by id.
``E`` element: step id, geometry id (2 x int32), then its placement, a
    4 x 4 matrix ``float64`` in column-major order.
``D``
    the chain is done.

Geometry is in the element's local coordinates (metres) and the placement
is applied by the reader: the kernel computing world coordinates costs it
about twice the time, and shared geometry would be sent once per element.

The worker imports neither numpy nor the twin: the kernel's buffers are
written as they are.
"""

from __future__ import annotations

import json
import pickle
import struct
import sys
from typing import Any, BinaryIO

HEAD_K = struct.Struct("<i")
HEAD_B = struct.Struct("<i")
HEAD_G = struct.Struct("<iiii")
HEAD_E = struct.Struct("<ii16d")


def settings(ifcgeom: Any) -> Any:
    """Local coordinates, welded vertices, a material on every face."""
    s = ifcgeom.settings()
    s.set("use-world-coords", False)
    s.set("weld-vertices", True)
    s.set("apply-default-materials", True)
    return s


class _Writer:
    """Writes shapes to the stream, each geometry once."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.geometry: dict[str, int] = {}

    def shape(self, shape: Any) -> bool:
        """Write one element's shape; ``False`` when it has no triangles."""
        g = shape.geometry
        gid = self.geometry.get(g.id)
        if gid is None:
            faces = g.faces_buffer
            if not faces:
                return False
            verts = g.verts_buffer
            mids = g.material_ids_buffer
            nf = len(faces) // 12
            if len(mids) != 4 * nf:
                mids = b"\xff\xff\xff\xff" * nf
            names = json.dumps([(m.name or "") for m in g.materials]).encode()
            gid = self.geometry[g.id] = len(self.geometry)
            self.out.write(b"G" + HEAD_G.pack(gid, len(verts) // 24, nf, len(names)))
            self.out.write(verts)
            self.out.write(faces)
            self.out.write(mids)
            self.out.write(names)
        self.out.write(b"E" + HEAD_E.pack(int(shape.id), gid, *shape.transformation.matrix))
        return True


def _iterate(writer: _Writer, ifcgeom: Any, model: Any, kernel: str, ids: list[int],
             threads: int) -> set[int]:
    """All of ``ids`` through the kernel's multi-threaded iterator."""
    done: set[int] = set()
    it = ifcgeom.iterator(settings(ifcgeom), model, max(1, threads),
                          include=[model.by_id(i) for i in ids], geometry_library=kernel)
    if it.initialize():
        while True:
            shape = it.get()
            if writer.shape(shape):
                done.add(int(shape.id))
            if not it.next():
                break
    return done


def _one_by_one(writer: _Writer, ifcgeom: Any, model: Any, kernel: str,
                ids: list[int]) -> set[int]:
    """``ids`` one at a time, in their order, each announced before it starts."""
    done: set[int] = set()
    k = ifcgeom.kernel(settings(ifcgeom), model, geometry_library=kernel)
    for i in ids:
        writer.out.write(b"B" + HEAD_B.pack(i))
        writer.out.flush()
        try:
            shape = k.create_shape(model.by_id(i))
        except RuntimeError:  # the kernel builds no shape for it
            continue
        if writer.shape(shape):
            done.add(i)
    return done


def run(out: BinaryIO, request: dict) -> None:  # pragma: no cover - runs in the worker
    """Run ``request['kernels']`` in turn. The first gets ``request['ids']``
    (one by one, in that order, when ``request['one_by_one']``), each later
    one what is still missing, with ``request['later']`` (elements the first
    kernel is to skip)."""
    import ifcopenshell
    import ifcopenshell.geom as ifcgeom

    text = request["text"]
    model = (ifcopenshell.file.from_string(text) if text is not None
             else ifcopenshell.open(request["path"]))
    writer = _Writer(out)
    todo = list(request["ids"])
    for index, kernel in enumerate(request["kernels"]):
        if index == 1:
            todo = sorted(set(todo) | set(request["later"]))
        if not todo:
            continue
        out.write(b"K" + HEAD_K.pack(index))
        out.flush()
        if index == 0 and request["one_by_one"]:
            done = _one_by_one(writer, ifcgeom, model, kernel, todo)
        else:
            done = _iterate(writer, ifcgeom, model, kernel, todo, request["threads"])
        out.flush()
        todo = [i for i in todo if i not in done]
    out.write(b"D")
    out.flush()


def main() -> None:  # pragma: no cover - the worker process
    """The worker: the request from stdin, the stream to the descriptor in argv[1]."""
    with open(int(sys.argv[1]), "wb", buffering=1 << 20) as out:
        run(out, pickle.load(sys.stdin.buffer))


if __name__ == "__main__":  # pragma: no cover - the worker process
    main()
