"""A pygltflib document written as a GLB, as pygltflib writes it, without
its deep copies.

pygltflib's ``save_to_bytes`` turns the document's dataclasses into a dict
with a deep copy of every value (``copy.deepcopy`` per field: 8 ms for a
scene of 7 meshes, far more for an API scene of thousands of nodes) and
copies the buffers again. :func:`glb_bytes` makes the same JSON object from
the same dataclasses with shallow copies (the values are numbers and
strings), drops the empty keys with pygltflib's own ``delete_empty_keys``,
packs the buffer views as pygltflib does (each padded to the document's
required alignment: 8 bytes where ``EXT_structural_metadata`` is used, else
4) and writes the container of the glTF 2.0 specification (section "GLB
File Format"). The bytes equal pygltflib's (``tests/viewer/test_glb_pack.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from functools import cache
from typing import Any

import pygltflib as gl

_SCALARS = frozenset({int, float, str, bool, type(None)})


@cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    """The fields of a dataclass, in order (``None``: not a dataclass)."""
    return tuple(f.name for f in fields(cls)) if is_dataclass(cls) else None


def _plain(obj: Any) -> Any:
    """pygltflib's ``gltf_asdict`` of a value, sharing the scalars."""
    t: type = type(obj)
    if t in _SCALARS:  # never changed in place
        return obj
    if t is list:
        return [_plain(v) for v in obj]
    if t is dict:
        return {_plain(k): _plain(v) for k, v in obj.items()}
    if t is gl.Attributes:  # custom attributes live in its __dict__
        return dict(obj.__dict__)
    names = _field_names(t)
    if names is not None:
        return {n: _plain(getattr(obj, n)) for n in names}
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return t(_plain(v) for v in obj)
    if isinstance(obj, dict):
        return t((_plain(k), _plain(v)) for k, v in obj.items())
    return obj


def document(g: gl.GLTF2, blob: bytes) -> tuple[dict, bytes]:
    """The JSON object pygltflib writes for ``g`` whose one buffer holds
    ``blob``, and the binary chunk's data: the buffer views packed one after
    the other, each padded to the required alignment."""
    align = g.required_alignment()
    packed = bytearray()
    offsets = []
    for view in g.bufferViews:
        start = view.byteOffset or 0
        offsets.append(len(packed))
        packed += blob[start:start + view.byteLength]
        packed += b"\0" * (-view.byteLength % align)
    doc = gl.delete_empty_keys(_plain(g))
    doc["buffers"] = [{"byteLength": len(packed)}]
    for view, offset in zip(doc.get("bufferViews", []), offsets):
        view["buffer"], view["byteOffset"] = 0, offset
    return doc, bytes(packed)


def glb_bytes(g: gl.GLTF2, blob: bytes, node_extras: Mapping[int, dict] | None = None,
              metadata: dict | None = None) -> bytes:
    """The GLB of ``g`` (its one buffer ``blob``). ``node_extras`` (by node
    index) and the ``EXT_structural_metadata`` object are added to the JSON
    as it is written (UTF-8, padded to 4 bytes); without them the JSON is
    written and padded as pygltflib writes it."""
    doc, packed = document(g, blob)
    if node_extras or metadata:
        for i, extras in (node_extras or {}).items():
            doc["nodes"][i].setdefault("extras", {}).update(extras)
        if metadata:
            doc.setdefault("extensions", {})["EXT_structural_metadata"] = metadata
        return glb_of(doc, packed)
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False, skipkeys=True).encode("utf-8")
    text += b" " * (-(12 + len(text)) % g.required_alignment())
    return container(text, packed)


def json_chunk(doc: dict) -> bytes:
    """``doc`` as a GLB's JSON chunk: UTF-8, padded with spaces to 4 bytes."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return text + b" " * ((-len(text)) % 4)


def glb_of(doc: dict, binary: bytes) -> bytes:
    """The GLB of the JSON object ``doc`` and its binary chunk's data (padded
    with zeros to 4 bytes)."""
    return container(json_chunk(doc), binary + b"\0" * ((-len(binary)) % 4))


def container(text: bytes, binary: bytes) -> bytes:
    """A GLB of its JSON chunk ``text`` (padded) and its binary chunk's data."""
    total = 12 + 8 + len(text) + 8 + len(binary)
    return b"".join((b"glTF", (2).to_bytes(4, "little"), total.to_bytes(4, "little"),
                     len(text).to_bytes(4, "little"), b"JSON", text,
                     len(binary).to_bytes(4, "little"), b"BIN\0", binary))
