"""Feature attributes as glTF metadata (``EXT_structural_metadata``).

3D Tiles 1.1 and CesiumJS read a feature's attributes from two glTF
extensions that work together:

- ``EXT_mesh_features`` on a primitive (or ``EXT_instance_features`` on an
  instanced node) says which vertex attribute (``_FEATURE_ID_0``) holds each
  vertex's feature id, how many features there are, and which **property
  table** describes them;
- ``EXT_structural_metadata`` at the top of the glTF holds a **schema** (here
  one class per twin layer, with typed properties: ``id``, ``layer``,
  ``type``, ``name`` and the key attributes the features of that layer have)
  and the **property tables**: one column per property, row ``k`` the feature
  whose vertices carry id ``k``, the values in the binary chunk (strings as
  UTF-8 with offsets, integers as ``INT32``, numbers as ``FLOAT64``,
  booleans as bits).

A missing value (a feature without that attribute) is the property's
``noData`` value, which a client reads as "no value". This module only
types and encodes the rows; the GLB writers (:mod:`viewer.gltf`,
:mod:`viewer.web_scene`) give it a way to append 8-byte aligned buffer views.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np

#: Columns every row has, in this order, before the layer's key attributes.
FIXED = ("id", "layer", "type", "name")
#: ``noData`` of integer columns: the smallest INT32, never a real count or year.
INT_NO_DATA = -(2 ** 31)
#: ``noData`` of number columns: the lowest float64 (JSON has no NaN).
FLOAT_NO_DATA = -1.7976931348623157e308
_INT32 = (-(2 ** 31) + 1, 2 ** 31 - 1)
_IDENT = re.compile(r"[^A-Za-z0-9_]")


def class_id(layer: str) -> str:
    """A schema identifier for a layer (``^[a-zA-Z_][a-zA-Z0-9_]*$``)."""
    ident = _IDENT.sub("_", layer) or "layer"
    return ident if not ident[0].isdigit() else f"_{ident}"


def column_type(values: Sequence[object]) -> str:
    """The metadata type of one column's values (``None`` = missing):
    ``BOOLEAN`` when all present values are booleans and none is missing
    (booleans have no ``noData``), ``INT32`` when all are integers in its
    range, ``FLOAT64`` when all are numbers, else ``STRING``."""
    present = [v for v in values if v is not None]
    if not present:
        return "STRING"
    if all(isinstance(v, bool) for v in present):
        return "BOOLEAN" if len(present) == len(values) else "STRING"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        if all(_INT32[0] <= v <= _INT32[1] for v in present):  # type: ignore[operator]
            return "INT32"
        return "FLOAT64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        if all(math.isfinite(v) for v in present):  # type: ignore[arg-type]
            return "FLOAT64"
    return "STRING"


def _text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class MetadataWriter:
    """Collects property tables, then writes them and returns the extension.

    ``add_view(raw) -> index`` appends a buffer view (at an offset that is a
    multiple of 8, as the extension requires) and returns its index.
    :meth:`table` only records the rows, so that a class shared by several
    tables (one layer's merged, instanced and line nodes) is typed over all
    of them; :meth:`finish` writes the columns.
    """

    def __init__(self) -> None:
        self._tables: list[tuple[str, str, list[dict]]] = []

    def __bool__(self) -> bool:
        return bool(self._tables)

    def table(self, layer: str, rows: list[dict]) -> int:
        """Record the property table of ``rows`` (dicts with at least ``id``)
        of ``layer``; returns its index among the property tables."""
        self._tables.append((class_id(layer), layer, rows))
        return len(self._tables) - 1

    def finish(self, add_view: Callable[[bytes], int]) -> dict:
        """Write every column; returns the ``EXT_structural_metadata`` object."""
        columns: dict[str, dict[str, list]] = {}  # class -> property -> all values
        for cls, layer, rows in self._tables:
            props = columns.setdefault(cls, {})
            for name in _names(rows):
                props.setdefault(name, []).extend(_values(rows, name, layer))
        classes: dict[str, dict] = {}
        types: dict[str, dict[str, str]] = {}
        for cls, props in columns.items():
            types[cls] = {}
            defs = {}
            for name, values in props.items():
                if all(v is None for v in values):
                    continue  # no feature has it: no property (and no empty column)
                t = column_type(values)
                types[cls][name] = t
                d: dict = {"type": "SCALAR", "componentType": t} if t in ("INT32", "FLOAT64") \
                    else {"type": t}
                if name == "id":
                    d["required"] = True
                elif any(v is None for v in values):
                    d["noData"] = {"INT32": INT_NO_DATA, "FLOAT64": FLOAT_NO_DATA}.get(t, "")
                defs[name] = d
            layer = next(la for c, la, _ in self._tables if c == cls)
            classes[cls] = {"name": layer, "properties": defs}
        tables = []
        for cls, layer, rows in self._tables:
            props = {}
            for name in _names(rows):
                values = _values(rows, name, layer)
                if any(v is not None for v in values):  # a column of no values is left out
                    props[name] = _column(types[cls][name], values, add_view)
            tables.append({"name": layer, "class": cls, "count": len(rows), "properties": props})
        return {"schema": {"id": "digital_twin_city", "classes": classes},
                "propertyTables": tables}


def _names(rows: list[dict]) -> list[str]:
    seen = dict.fromkeys(FIXED)
    for r in rows:
        seen.update(dict.fromkeys(r))
    return list(seen)


def _values(rows: list[dict], name: str, layer: str) -> list:
    if name == "layer":
        return [r.get("layer", layer) for r in rows]
    return [r.get(name) for r in rows]


def _column(t: str, values: list, add_view: Callable[[bytes], int]) -> dict:
    if t == "STRING":
        data = [_text(v).encode("utf-8") for v in values]
        offsets = np.zeros(len(data) + 1, dtype="<u4")
        offsets[1:] = np.cumsum([len(d) for d in data])
        return {"values": add_view(b"".join(data)),
                "stringOffsets": add_view(offsets.tobytes()), "stringOffsetType": "UINT32"}
    if t == "BOOLEAN":
        bits = np.packbits(np.array(values, dtype=bool), bitorder="little")
        return {"values": add_view(bits.tobytes())}
    if t == "INT32":
        a = np.array([INT_NO_DATA if v is None else v for v in values], dtype="<i4")
        return {"values": add_view(a.tobytes())}
    a = np.array([FLOAT_NO_DATA if v is None else v for v in values], dtype="<f8")
    return {"values": add_view(a.tobytes())}
