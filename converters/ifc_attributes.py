"""Attributes of IFC entities, read without loading the schema's rules.

ifcopenshell answers ``getattr(entity, name)`` for a name the class lacks by
first looking for a rule that derives it (an EXPRESS ``DERIVE`` clause): it
imports the schema's rules module (``ifcopenshell.express.rules``, 30 ms of
CPU once per process) and searches it (about 40 us a call, eight times a
present attribute). :func:`attribute` asks the class once instead, and
knows the names this converter reads that no schema derives.
"""

from __future__ import annotations

from typing import Any

#: (class with schema, attribute name) -> whether the class has that attribute
_HAS: dict[tuple[str, str], bool] = {}
#: Attributes this converter asks for that no IFC schema derives (no DERIVE
#: clause, so no rule in ``ifcopenshell.express.rules``: tested): a class
#: without one of them has none, and the rules module, 30 ms to import, is
#: not loaded to find that out.
NEVER_DERIVED = frozenset((
    "AdheresToElement", "ContainedInStructure", "Decomposes", "Description", "Elevation",
    "FillsVoids", "HasAssociations", "IsDefinedBy", "IsTypedBy", "LongName", "Name", "Nests",
    "ObjectType", "PredefinedType", "Tag", "UnitType", "VoidsElements"))


def attribute(entity: Any, name: str) -> Any:
    """``getattr(entity, name, None)``, without ifcopenshell's slow way to an
    attribute the class does not have (it looks for a rule deriving it
    first: about 40 us, eight times a present one). Whether a class has it
    (an attribute, or a derived one with a rule) is found once per class."""
    key = (entity.is_a(True), name)
    has = _HAS.get(key)
    if has is None:
        if entity.get_attribute_category(name) != 0:
            has = _HAS[key] = True
        elif name in NEVER_DERIVED:
            _HAS[key] = False
            return None
        else:  # a DERIVE clause's attribute has a rule; any other is missing
            try:
                value = getattr(entity, name)
            except AttributeError:
                _HAS[key] = False
                return None
            _HAS[key] = True
            return value
    return getattr(entity, name, None) if has else None


def length_unit_scale(model: Any) -> float:
    """Metres per length unit of the project:
    ``ifcopenshell.util.unit.calculate_unit_scale(model)``, its units'
    ``UnitType`` read through :func:`attribute` (a monetary unit has none)."""
    import ifcopenshell.util.unit as uu

    projects = model.by_type("IfcProject")
    units = projects[0].UnitsInContext if projects else None
    scale = 1.0
    for unit in units.Units if units else ():
        if attribute(unit, "UnitType") == "LENGTHUNIT":
            scale *= uu.get_unit_scale(unit)
    return float(scale)
