"""The geometry worker process and the binary stream it writes.

A worker is forked (:mod:`converters.ifc_fork`) from the import process
and inherits the model it parsed: it runs a chain of ifcopenshell geometry
kernels over the requested elements, each kernel getting what the ones
before it did not deliver (:func:`run`). Run by itself, ``python
ifc_worker.py FD`` reads its request, a pickled dict, from stdin and opens
the file itself. It writes to a pipe a stream of records, each a one-byte
tag and a little-endian payload:

``K`` kernel index (int32)
    the kernel with this index of the request's chain starts.
``B`` step id (int32)
    one-by-one mode: the kernel starts converting this element. A worker
    that dies after ``B`` and before that element's ``E`` crashed on it.
``G`` geometry: id, vertex count, face count, name bytes (4 x int32), then
    the vertices ``(n, 3) float64``, faces ``(m, 3) int32``, the material of
    each face ``(m,) int32`` and the material names (JSON, UTF-8).
    Elements that share a geometry (mapped or typed representations) refer
    to it by id. Both ends keep the geometries sent in a
    :class:`GeometryCache` of :data:`GEOMETRY_CACHE_BYTES`: past that, the
    oldest is forgotten on both sides alike, and sent again when an element
    needs it.
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
from collections import OrderedDict
from typing import Any, BinaryIO

HEAD_K = struct.Struct("<i")
HEAD_B = struct.Struct("<i")
HEAD_G = struct.Struct("<iiii")
HEAD_E = struct.Struct("<ii16d")

#: Bytes of shared geometry each end of the stream keeps (payload sizes).
GEOMETRY_CACHE_BYTES = 64 << 20


class GeometryCache:
    """Geometries by id, the oldest forgotten past ``budget`` bytes.

    The worker and the reader each keep one and put the same geometries,
    with the same sizes, in the same order: they forget the same ones. The
    newest is always kept (an element record follows its geometry)."""

    def __init__(self, budget: int = GEOMETRY_CACHE_BYTES) -> None:
        self.budget = budget
        self.size = 0
        self.items: OrderedDict[int, tuple[Any, int]] = OrderedDict()

    def put(self, gid: int, value: Any, size: int) -> list[Any]:
        """Keep ``value``; returns the values forgotten to make room."""
        self.items[gid] = (value, size)
        self.size += size
        gone = []
        while self.size > self.budget and len(self.items) > 1:
            _, (old, old_size) = self.items.popitem(last=False)
            self.size -= old_size
            gone.append(old)
        return gone

    def get(self, gid: int) -> Any:
        return self.items[gid][0]


def settings(ifcgeom: Any) -> Any:
    """Local coordinates, welded vertices, a material on every face."""
    s = ifcgeom.settings()
    s.set("use-world-coords", False)
    s.set("weld-vertices", True)
    s.set("apply-default-materials", True)
    return s


class _Writer:
    """Writes shapes to the stream, each geometry once."""

    def __init__(self, out: BinaryIO, cache_bytes: int = GEOMETRY_CACHE_BYTES) -> None:
        self.out = out
        self.geometry: dict[str, int] = {}  # the kernel's geometry id -> ours, as cached
        self.cache = GeometryCache(cache_bytes)
        self.sent = 0

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
            gid = self.geometry[g.id] = self.sent
            self.sent += 1
            self.out.write(b"G" + HEAD_G.pack(gid, len(verts) // 24, nf, len(names)))
            self.out.write(verts)
            self.out.write(faces)
            self.out.write(mids)
            self.out.write(names)
            for old in self.cache.put(gid, g.id, len(verts) + 4 * nf + len(faces)
                                      + len(names)):
                del self.geometry[old]
        self.out.write(b"E" + HEAD_E.pack(int(shape.id), gid, *shape.transformation.matrix))
        return True


#: Elements given to one iterator at a time: its threads convert ahead of
#: the reader and hold what they converted, so a batch bounds what waits.
#: Each new iterator converts again the geometry its elements share with
#: earlier batches' (mapped and typed representations): Janesville's 1,534
#: elements took the kernel 5.4 s CPU in one iterator, 6.2 s in batches of
#: 1,000 and 6.5 s in batches of 500.
BATCH = 5000


def _iterate(writer: _Writer, ifcgeom: Any, model: Any, kernel: str, ids: list[int],
             threads: int) -> set[int]:
    """All of ``ids`` through the kernel's multi-threaded iterator, a
    :data:`BATCH` at a time."""
    done: set[int] = set()
    for start in range(0, len(ids), BATCH):
        it = ifcgeom.iterator(settings(ifcgeom), model, max(1, threads),
                              include=[model.by_id(i) for i in ids[start:start + BATCH]],
                              geometry_library=kernel)
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


def run(out: BinaryIO, request: dict, model: Any = None) -> None:  # pragma: no cover
    """Run ``request['kernels']`` in turn over ``model`` (the parsed file;
    ``None``: open ``request['path']``, or parse ``request['text']``). The
    first kernel gets ``request['ids']`` (one by one, in that order, when
    ``request['one_by_one']``), each later one what is still missing, with
    ``request['later']`` (elements the first kernel is to skip)."""
    import ifcopenshell
    import ifcopenshell.geom as ifcgeom

    if model is None:
        text = request.get("text")
        model = (ifcopenshell.file.from_string(text) if text is not None
                 else ifcopenshell.open(request["path"]))
    writer = _Writer(out, request.get("cache_bytes", GEOMETRY_CACHE_BYTES))
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
