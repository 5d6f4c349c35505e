"""Reads the EXT_structural_metadata property tables of a GLB back into rows
(an independent decoder of the extension's binary layout, for the tests)."""

from __future__ import annotations

import json

import numpy as np

_NUMPY = {"INT32": "<i4", "FLOAT64": "<f8", "UINT32": "<u4"}


def glb_parts(glb: bytes) -> tuple[dict, bytes]:
    """The JSON document and the binary chunk of a GLB."""
    n = int.from_bytes(glb[12:16], "little")
    doc = json.loads(glb[20:20 + n])
    rest = glb[20 + n:]
    m = int.from_bytes(rest[:4], "little") if rest else 0
    assert not rest or rest[4:8] == b"BIN\0"
    return doc, rest[8:8 + m]


def property_tables(glb: bytes) -> list[list[dict]]:
    """Each property table as rows (property -> value; ``noData`` read as absent)."""
    doc, blob = glb_parts(glb)
    ext = doc["extensions"]["EXT_structural_metadata"]
    classes = ext["schema"]["classes"]
    out = []

    def view(i: int) -> bytes:
        v = doc["bufferViews"][i]
        assert v["byteOffset"] % 8 == 0 and "target" not in v
        return blob[v["byteOffset"]:v["byteOffset"] + v["byteLength"]]

    for t in ext["propertyTables"]:
        n = t["count"]
        rows: list[dict] = [{} for _ in range(n)]
        for name, col in t["properties"].items():
            d = classes[t["class"]]["properties"][name]
            kind = d.get("componentType", d["type"])
            raw = view(col["values"])
            if kind == "STRING":
                off = np.frombuffer(view(col["stringOffsets"]), _NUMPY[col["stringOffsetType"]])
                assert len(off) == n + 1
                vals = [raw[off[k]:off[k + 1]].decode("utf-8") for k in range(n)]
            elif kind == "BOOLEAN":
                vals = [bool(b) for b in np.unpackbits(
                    np.frombuffer(raw, np.uint8), bitorder="little")[:n]]
            else:
                vals = np.frombuffer(raw, _NUMPY[kind])[:n].tolist()
                assert len(vals) == n
            for k, v in enumerate(vals):
                if "noData" not in d or v != d["noData"]:
                    rows[k][name] = v
        out.append(rows)
    return out
