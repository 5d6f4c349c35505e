"""What an IFC element means: its place in the hierarchy, class and attributes.

IFC describes a building as a spatial tree (project > site > building >
storey > space) to which elements (walls, slabs, pipes, ...) are *contained*
(``IfcRelContainedInSpatialStructure``) or of which they are *parts*
(``IfcRelAggregates``, e.g. a stair's flights). Property sets
(``IfcPropertySet``), quantity sets (``IfcElementQuantity``) and materials
hang off elements and their types. This module reads them through
``ifcopenshell.util.element`` into plain values for twin attributes.
"""

from __future__ import annotations

import math
from typing import Any

from .ifc_attributes import attribute
from .ifc_georef import local_origin

#: IfcDistributionSystem.PredefinedType -> CJJ 61 utility code.
SYSTEM_CODE = {
    "DOMESTICCOLDWATER": "JS", "WATERSUPPLY": "JS", "FIREPROTECTION": "JS",
    "DRAINAGE": "PS", "DISPOSAL": "PS", "RAINWATER": "YS", "STORMWATER": "YS",
    "SEWAGE": "WS", "WASTEWATER": "WS", "GAS": "RQ", "FUEL": "RQ", "HEATING": "RL",
    "ELECTRICAL": "DL", "POWERGENERATION": "DL", "LIGHTING": "DL", "EARTHING": "DL",
    "COMMUNICATION": "TX", "DATA": "TX", "TELEPHONE": "TX", "TV": "TX", "SIGNAL": "TX",
    "FIXEDTRANSMISSIONNETWORK": "TX", "MOBILENETWORK": "TX",
    "CHEMICAL": "GY", "OIL": "GY", "HAZARDOUS": "GY", "COMPRESSEDAIR": "GY", "VACUUM": "GY",
}

#: Words in a system's name or type that tell its utility, when it has no
#: predefined type (IFC2X3 ``IfcSystem``), tried in this order.
SYSTEM_WORDS = (
    ("storm", "YS"), ("rain", "YS"), ("sewage", "WS"), ("sewer", "WS"), ("waste", "WS"),
    ("drain", "PS"), ("gas", "RQ"), ("heat", "RL"), ("district", "RL"), ("water", "JS"),
    ("power", "DL"), ("electr", "DL"), ("telecom", "TX"), ("communication", "TX"),
)

#: Linear network elements (edges of the network graph).
SEGMENT_CLASSES = ("IfcPipeSegment", "IfcFlowSegment", "IfcCableSegment",
                   "IfcCableCarrierSegment", "IfcDuctSegment")
#: Network nodes: chambers, fittings, valves and other flow controllers.
NODE_CLASSES = ("IfcDistributionChamberElement", "IfcPipeFitting", "IfcFlowFitting",
                "IfcValve", "IfcFlowController", "IfcCableFitting", "IfcCableCarrierFitting",
                "IfcJunctionBox")

#: Spatial classes of infrastructure -> twin layer (buildings have their own).
SPATIAL_LAYER = {
    "IfcSite": "landuse", "IfcRoad": "roads", "IfcRailway": "roads", "IfcBridge": "bridges",
    "IfcTunnel": "tunnels", "IfcMarineFacility": "generic", "IfcFacility": "generic",
    "IfcFacilityPart": "generic",
}

_MAX_TEXT = 2000


#: (class with schema, classes) -> whether the class is one of them or of a subclass
_KIND: dict[tuple[str, tuple[str, ...]], bool] = {}


def is_any(entity: Any, classes: tuple[str, ...]) -> bool:
    """``any(entity.is_a(c) for c in classes)``, asked of ifcopenshell once per
    class of entity (each ``is_a(c)`` is a schema lookup)."""
    key = (entity.is_a(True), classes)
    got = _KIND.get(key)
    if got is None:
        got = _KIND[key] = any(entity.is_a(c) for c in classes)
    return got


def is_segment(element: Any) -> bool:
    """Whether the element is a linear network element (an edge of the graph)."""
    return is_any(element, SEGMENT_CLASSES)


def is_network_element(element: Any) -> bool:
    """Whether the element is a segment or a network node (chamber, fitting, valve)."""
    return is_segment(element) or is_any(element, NODE_CLASSES)


def utility_code(element: Any) -> str | None:
    """The CJJ 61 code of the network ``element`` belongs to, from its systems."""
    import ifcopenshell.util.system as us

    for system in us.get_element_systems(element):
        ptype = getattr(system, "PredefinedType", None)
        if ptype and ptype in SYSTEM_CODE:
            return SYSTEM_CODE[ptype]
        words = " ".join(str(getattr(system, a, None) or "") for a in
                         ("ObjectType", "Name", "Description", "LongName")).lower()
        for word, code in SYSTEM_WORDS:
            if word in words:
                return code
    ptype = str(attribute(element, "PredefinedType") or "")
    if ptype in ("CULVERT", "GUTTER", "SPOOL") and element.is_a("IfcPipeSegment"):
        return "PS"
    return None


def system_of(element: Any) -> Any | None:
    """The first distribution system the element is assigned to, if any."""
    import ifcopenshell.util.system as us

    systems = us.get_element_systems(element)
    return systems[0] if systems else None


def aggregate_of(element: Any) -> Any | None:
    """``ifcopenshell.util.element.get_aggregate(element)``, the schema read
    from the entity (``element.file.schema`` costs 90 us a call)."""
    decomposes = attribute(element, "Decomposes")
    if not decomposes:
        return None
    rel = decomposes[0]
    if element.is_a(True).startswith("IFC2X3.") and not rel.is_a("IfcRelAggregates"):
        return None  # IFC2X3's Decomposes holds nests too
    return rel.RelatingObject


def nest_of(element: Any) -> Any | None:
    """``ifcopenshell.util.element.get_nest(element)``: the host it is nested in."""
    if element.is_a(True).startswith("IFC2X3."):
        decomposes = attribute(element, "Decomposes")
        return decomposes[0].RelatingObject if decomposes and decomposes[0].is_a(
            "IfcRelNests") else None
    nests = attribute(element, "Nests")
    return nests[0].RelatingObject if nests else None


#: Where ``ifcopenshell.util.element.get_parent`` looks after the container,
#: the whole and the host: the relation, and its attribute naming the parent.
_OTHER_PARENTS = (("FillsVoids", "RelatingOpeningElement"),
                  ("VoidsElements", "RelatingBuildingElement"),
                  ("AdheresToElement", "RelatingElement"))


def tree_parent(element: Any) -> Any | None:
    """``ifcopenshell.util.element.get_parent(element)``, through
    :func:`attribute`: ifcopenshell's own asks every class for relations it
    may not have (``AdheresToElement`` is IFC4.3's), and a missing one loads
    the schema's rules module (30 ms) to look for a derived attribute."""
    contained = attribute(element, "ContainedInStructure")
    if contained:
        return contained[0].RelatingStructure
    parent = aggregate_of(element) or nest_of(element)
    if parent is not None:
        return parent
    for name, parent_attribute in _OTHER_PARENTS:
        rels = attribute(element, name)
        if rels:
            return getattr(rels[0], parent_attribute)
    return None


def container_of(element: Any) -> Any | None:
    """``ifcopenshell.util.element.get_container(element)``: the spatial
    element containing it or, failing that, its parent's (64 levels at most:
    a damaged file's cycle of parents ends)."""
    cur = element
    for _ in range(64):
        contained = attribute(cur, "ContainedInStructure")
        if contained:
            return contained[0].RelatingStructure
        cur = tree_parent(cur)
        if cur is None:
            return None
    return None


def storey_of(element: Any) -> Any | None:
    """The IfcBuildingStorey an element or space is on: the spatial element
    containing it or the whole it is part of, followed up to a storey (a
    stair flight is part of a stair contained in a storey; a space is part
    of a storey); ``None`` above or outside any storey."""
    cur = element
    for _ in range(64):
        nxt = container_of(cur) or aggregate_of(cur)
        if nxt is None or nxt.is_a("IfcBuilding") or nxt.is_a("IfcSite") \
                or nxt.is_a("IfcProject"):
            return None
        if nxt.is_a("IfcBuildingStorey"):
            return nxt
        cur = nxt
    return None


def text_name(entity: Any) -> str | None:
    """An entity's ``Name``, repaired (:func:`fix_text`), or ``None``."""
    name = attribute(entity, "Name")
    return fix_text(name) if name else None


def fix_text(text: str) -> str:
    """Undo the commonest IFC text damage: UTF-8 bytes written as Latin-1
    characters ("HulevesiviemÃ¤ri" for "Hulevesiviemäri").

    >>> fix_text("HulevesiviemÃ¤ri")
    'Hulevesiviemäri'
    """
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _plain(value: Any) -> Any:
    """A JSON-friendly value: numbers, text, booleans, lists of them."""
    if isinstance(value, str):
        return fix_text(value[:_MAX_TEXT])
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value[:100]]
    wrapped = getattr(value, "wrappedValue", None)
    if wrapped is not None:
        return _plain(wrapped)
    if hasattr(value, "is_a"):
        return getattr(value, "Name", None) or value.is_a()
    return str(value)[:_MAX_TEXT]


def _definition(definition: Any, cache: dict[Any, Any]) -> dict[str, Any]:
    """The properties of a property set or quantity set as plain values
    (:func:`_plain`; its ``id`` left out), read once per set (exporters
    relate one set to many elements)."""
    import ifcopenshell.util.element as ue

    key = definition.id()
    got = cache.get(key)
    if got is None:
        if definition.is_a() == "IfcPropertySet":
            props = _properties(definition[4])  # HasProperties
        else:
            props = ue.get_property_definition(definition)
        got = cache[key] = {k: _plain(v) for k, v in props.items() if k != "id"}
    return got


def _properties(properties: Any) -> dict[str, Any]:
    """``ifcopenshell.util.element.get_properties(properties)``, single values
    (nearly all of them) read by attribute index, the others by it."""
    import ifcopenshell.util.element as ue

    out: dict[str, Any] = {}
    for prop in properties or ():
        if prop.is_a() == "IfcPropertySingleValue":
            value = prop[2]  # NominalValue
            out[prop[0]] = value[0] if value else None  # its wrappedValue
        else:
            out.update(ue.get_properties([prop]))
    return out


def _related_sets(rel: Any, cache: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(name, properties)`` of each set an ``IsDefinedBy`` relationship
    relates (none for a type's), read once per relationship (one relates a
    set to many elements)."""
    key = ("rel", rel.id())
    got = cache.get(key)
    if got is None:
        got = []
        if rel.is_a("IfcRelDefinesByProperties"):
            definition = rel.RelatingPropertyDefinition
            members = definition.wrappedValue \
                if definition.is_a("IfcPropertySetDefinitionSet") else (definition,)
            got = [(d.Name, _definition(d, cache)) for d in members]
        cache[key] = got
    return got


def _type_sets(etype: Any, cache: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(name, properties)`` of each set of a type object, read once per type."""
    key = ("type", etype.id())
    got = cache.get(key)
    if got is None:
        got = cache[key] = [(d.Name, _definition(d, cache))
                            for d in etype.HasPropertySets or []]
    return got


def property_sets(element: Any, etype: Any | None, cache: dict[Any, Any]
                  ) -> dict[str, dict[str, Any]]:
    """What ``ifcopenshell.util.element.get_psets(element)`` gives for an
    occurrence (its type's sets, then its own over them), as plain values
    and without the sets' ids, with each set, each relationship and each
    type read once into ``cache`` across elements."""
    psets: dict[str, dict[str, Any]] = {}
    if etype is not None:
        for name, props in _type_sets(etype, cache):
            psets.setdefault(name, {}).update(props)
    for rel in attribute(element, "IsDefinedBy") or []:
        for name, props in _related_sets(rel, cache):
            psets.setdefault(name, {}).update(props)
    return psets


def type_of(element: Any) -> Any | None:
    """``ifcopenshell.util.element.get_type(element)``, the schema read from
    the entity (``element.file.schema`` costs 90 us a call)."""
    if is_any(element, ("IfcTypeObject",)):
        return element
    if not element.is_a(True).startswith("IFC2X3."):
        typed = attribute(element, "IsTypedBy")
        return typed[0].RelatingType if typed else None
    for rel in attribute(element, "IsDefinedBy") or ():
        if rel.is_a("IfcRelDefinesByType"):
            return rel.RelatingType
    return None


def _material(entity: Any) -> tuple[bool, Any]:
    """``(found, material)``: the material an entity's own association relates
    (a layer or profile set for its usage), as ``get_material``."""
    for rel in attribute(entity, "HasAssociations") or ():
        if rel.is_a("IfcRelAssociatesMaterial"):
            material = rel.RelatingMaterial
            if material is not None and material.is_a("IfcMaterialLayerSetUsage"):
                return True, material.ForLayerSet
            if material is not None and material.is_a("IfcMaterialProfileSetUsage"):
                return True, material.ForProfileSet
            return True, material
    return False, None


#: material class -> the attribute listing its parts and the part's material attribute
_MATERIAL_PARTS = {"IfcMaterialLayerSet": ("MaterialLayers", "Material"),
                   "IfcMaterialProfileSet": ("MaterialProfiles", "Material"),
                   "IfcMaterialConstituentSet": ("MaterialConstituents", "Material")}


def materials_of(element: Any, etype: Any | None) -> list[Any]:
    """``ifcopenshell.util.element.get_materials(element)`` for an element of
    type ``etype`` (:func:`type_of`, found once for the element)."""
    import ifcopenshell.util.element as ue

    found, material = _material(element)
    if not found and etype is not None and etype != element \
            and attribute(etype, "HasAssociations"):
        found, material = _material(etype)
    if not material:
        return []
    if material.is_a("IfcMaterial"):
        return [material]
    for cls, (parts, attr) in _MATERIAL_PARTS.items():
        if material.is_a(cls):
            return [getattr(part, attr) for part in getattr(material, parts)]
    if material.is_a("IfcMaterialList"):
        return list(material.Materials)
    return list(ue.get_materials(element))  # a class it does not know: its error


def attributes_of(element: Any, cache: dict[Any, Any] | None = None
                  ) -> dict[str, Any]:
    """Twin attributes of an IFC element.

    ``ifc_class``, ``ifc_guid``, ``predefined_type``, ``object_type``,
    ``ifc_type`` (the type object's name), ``material`` (one name, or the
    names of a layer set joined by ``/``), and every property and quantity
    as ``"<set name>.<property>"`` (type properties first, the element's
    own overriding them). ``cache`` keeps the property sets read, for the
    next elements of the same model.
    """
    attrs: dict[str, Any] = {"ifc_class": element.is_a(), "ifc_guid": element.GlobalId}
    for key, name in (("predefined_type", "PredefinedType"), ("object_type", "ObjectType"),
                      ("description", "Description"), ("long_name", "LongName"),
                      ("tag", "Tag")):
        value = attribute(element, name)
        if value not in (None, "", "NOTDEFINED", "USERDEFINED"):
            attrs[key] = _plain(value)
    etype = type_of(element)
    if etype is not None and etype.Name:
        attrs["ifc_type"] = etype.Name
    materials = materials_of(element, etype)
    if materials:
        names = [m.Name for m in materials if getattr(m, "Name", None)]
        if names:
            attrs["material"] = "/".join(dict.fromkeys(names))
    sets = property_sets(element, etype, {} if cache is None else cache)
    for set_name, props in sets.items():
        for prop, value in props.items():
            # a list is the element's own (the cached one is shared)
            attrs[f"{set_name}.{prop}"] = list(value) if isinstance(value, list) else value
    return attrs


def storey_elevation(storey: Any, unit: float) -> float | None:
    """The storey's elevation in metres (its attribute, else its placement)."""
    if attribute(storey, "Elevation") is not None:
        return float(storey.Elevation) * unit
    origin = local_origin(storey, unit)
    return float(origin[2]) if origin is not None else None
