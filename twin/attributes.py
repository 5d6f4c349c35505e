"""Typed attributes: the ones the twin knows the meaning and type of.

Any attribute may be attached to a feature. Those listed in
:data:`TYPED_ATTRIBUTES` are checked for type on the way in, stored as
proper columns (so that GIS tools see numbers as numbers and filters use
indexes) and documented with their unit. All others are kept as free-form
JSON, never dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import FeatureError


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    kind: str  # "real", "integer" or "text"
    unit: str = ""
    description: str = ""

    @property
    def sql_type(self) -> str:
        return {"real": "REAL", "integer": "INTEGER", "text": "TEXT"}[self.kind]


def _a(name, kind, unit="", description=""):
    return AttributeSpec(name, kind, unit, description)


TYPED_ATTRIBUTES: dict[str, AttributeSpec] = {
    a.name: a
    for a in (
        _a("height", "real", "m", "height above ground (buildings: to the top)"),
        _a("storeys", "integer", "", "number of storeys above ground"),
        _a("storeys_below", "integer", "", "number of storeys below ground"),
        _a("year_built", "integer", "year", "year of construction"),
        _a("function", "text", "", "function or use (residential, school, ...)"),
        _a("roof_type", "text", "", "roof shape"),
        _a("storey", "text", "", "storey an element belongs to"),
        _a("width_m", "real", "m", "width (roads)"),
        _a("road_class", "text", "", "road class"),
        _a("network", "text", "", "utility network id or CJJ 61 code"),
        _a("diameter_mm", "real", "mm", "nominal (inner) diameter of a round pipe"),
        _a("width_mm", "real", "mm", "width of a duct or culvert"),
        _a("height_mm", "real", "mm", "height of a duct or culvert"),
        _a("material", "text", "", "material"),
        _a("install_year", "integer", "year", "year the pipe or node was laid"),
        _a("pressure_class", "text", "", "pressure class (gas, water, heating)"),
        _a("depth_m", "real", "m", "burial depth (top of pipe or node below ground)"),
        _a("owner", "text", "", "owner or operator"),
        _a("status", "text", "", "in service, abandoned, planned, ..."),
        _a("cable_count", "integer", "", "cables or conduit holes (power, telecom)"),
    )
}


#: The Python type a typed attribute of each kind is stored as.
STORED_TYPES: dict[str, type] = {"real": float, "integer": int, "text": str}


def is_stored_as_is(value: Any, stored: type) -> bool:
    """Whether ``value`` is already what a column of Python type ``stored``
    keeps (a finite float for a real): :func:`coerce_typed` returns it as it is."""
    kind = type(value)
    return kind is stored and (kind is not float or math.isfinite(value))


def coerce_typed(name: str, value: Any, feature_id: str | None = None) -> Any:
    """Check and convert ``value`` for the typed attribute ``name``.

    ``None`` stays ``None``. Integers are accepted for reals; integral
    floats (``6.0``) and numeric strings are accepted for integers and reals
    because survey tables carry them that way. Anything else raises a
    :class:`FeatureError` naming the feature, the attribute and the value.
    """
    spec = TYPED_ATTRIBUTES[name]
    if is_stored_as_is(value, STORED_TYPES[spec.kind]):  # the common, already-right types
        return value
    if value is None:
        return None
    where = f"feature {feature_id!r}: " if feature_id else ""

    def bad(expected: str) -> FeatureError:
        return FeatureError(
            f"{where}attribute {name!r} must be {expected}, got {value!r}", feature_id
        )

    if spec.kind == "text":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad("text")
    if isinstance(value, bool):
        raise bad("a number")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise bad("a number") from None
    if not isinstance(value, (int, float)):
        try:  # numpy scalars
            value = value.item()
        except AttributeError:
            raise bad("a number") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise bad("a finite number")
    if spec.kind == "integer":
        if isinstance(value, float):
            if not value.is_integer():
                raise bad("a whole number")
            value = int(value)
        return int(value)
    return float(value)
