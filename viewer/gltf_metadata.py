"""Feature attributes as glTF metadata (``EXT_structural_metadata``).

3D Tiles 1.1 and CesiumJS read a feature's attributes from two glTF
extensions that work together:

- ``EXT_mesh_features`` on a primitive (or ``EXT_instance_features`` on an
  instanced node) says which vertex attribute (``_FEATURE_ID_0``) holds each
  vertex's feature id, how many features there are, and which **property
  table** describes them;
- ``EXT_structural_metadata`` at the top of the glTF holds a **schema** (here
  one class, ``feature``, with typed properties: ``id``, ``layer``, ``type``,
  ``name`` and the key attributes the features have) and a **property
  table**: one column per property, row ``k`` the feature whose vertices
  carry id ``k``, the values in the binary chunk (strings as UTF-8 with
  offsets, integers as ``INT32``, numbers as ``FLOAT64``, booleans as bits).

One table per GLB, every layer in it, because CesiumJS picks and styles a
model through one property table only; a client tells layers apart by the
``layer`` property (a style such as ``${layer} === 'buildings'``).

A missing value (a feature without that attribute) is the property's
``noData`` value, which a client reads as "no value". This module only
types and encodes the rows; the GLB writers (:mod:`viewer.gltf`,
:mod:`viewer.web_scene`) give it a way to append 8-byte aligned buffer views.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

#: Columns every row has, in this order, before the layer's key attributes.
FIXED = ("id", "layer", "type", "name")
#: ``noData`` of integer columns: the smallest INT32, never a real count or year.
INT_NO_DATA = -(2 ** 31)
#: ``noData`` of number columns: the lowest float64 (JSON has no NaN).
FLOAT_NO_DATA = -1.7976931348623157e308
_INT32 = (-(2 ** 31) + 1, 2 ** 31 - 1)


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
    """Collects the rows of a GLB's one property table, then writes it.

    CesiumJS picks and styles a glTF model through a single property table
    (``Model.featureTableId``), so every feature of a GLB, whatever its
    layer, is one row of one table of one class (``feature``), and feature
    ids are unique in the GLB: each node's ids start at the offset
    :meth:`add` returns. :meth:`add` only records the rows, so that each
    column is typed over all of them; :meth:`finish` writes the columns,
    ``add_view(raw) -> index`` appending a buffer view at an offset that is
    a multiple of 8, as the extension requires.
    """

    CLASS = "feature"

    def __init__(self) -> None:
        self._rows: list[dict] = []

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, layer: str, rows: Sequence[dict]) -> int:
        """Record ``rows`` (dicts with at least ``id``) of ``layer``; returns
        the feature id of the first (the others follow in order)."""
        first = len(self._rows)
        self._rows.extend({**r, "layer": r.get("layer", layer)} for r in rows)
        return first

    def finish(self, add_view: Callable[[bytes], int]) -> dict:
        """Write every column; returns the ``EXT_structural_metadata`` object."""
        rows = self._rows
        defs: dict[str, dict] = {}
        columns: dict[str, dict] = {}
        for name in _names(rows):
            values = [r.get(name) for r in rows]
            if all(v is None for v in values):
                continue  # no feature has it: no property (and no empty column)
            t = column_type(values)
            no_data = {"INT32": INT_NO_DATA, "FLOAT64": FLOAT_NO_DATA}.get(t, "")
            if None in values and t != "STRING" and no_data in values:
                t, no_data = "STRING", ""  # a real value equal to the sentinel: as text
            d: dict = {"type": "SCALAR", "componentType": t} if t in ("INT32", "FLOAT64") \
                else {"type": t}
            if name in ("id", "layer"):
                d["required"] = True
            elif any(v is None for v in values):
                d["noData"] = no_data
            defs[name] = d
            columns[name] = _column(t, values, add_view)
        return {"schema": {"id": "digital_twin_city", "classes": {self.CLASS: {
                    "name": "Twin feature",
                    "description": "A feature of the twin: its id, layer, object type, "
                                   "name and key attributes",
                    "properties": defs}}},
                "propertyTables": [{"name": "features", "class": self.CLASS,
                                    "count": len(rows), "properties": columns}]}


def _names(rows: list[dict]) -> list[str]:
    seen = dict.fromkeys(FIXED)
    for r in rows:
        seen.update(dict.fromkeys(r))
    return list(seen)


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
