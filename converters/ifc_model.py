"""What the IFC conversion knows of one model (:class:`Model`), shared by
its steps (:mod:`converters.ifc`): the products, the building of each
element, its container and whole (asked of ifcopenshell once each), the
storeys, the property sets read, the placement of local metres."""

from __future__ import annotations

from typing import Any

import numpy as np

from twin.crs import transform_xyz
from twin.model import Mesh

from .base import ConversionContext
from .ifc_attributes import attribute, length_unit_scale
from .ifc_building import NOT_ENVELOPE, EnvelopeParts
from .ifc_geometry import EXCLUDED_CLASSES
from .ifc_georef import Georef
from .ifc_semantics import (
    aggregate_of,
    is_any,
    nest_of,
    storey_elevation,
    storey_of,
    text_name,
    tree_parent,
)


class Placer:
    """Local metres -> twin CRS, vectorised."""

    def __init__(self, georef: Georef, ctx: ConversionContext) -> None:
        self.georef, self.ctx = georef, ctx

    def __call__(self, xyz: np.ndarray) -> np.ndarray:
        return transform_xyz(self.georef.crs, self.ctx.twin_crs, self.georef.to_map(xyz),
                             source=str(self.ctx.source))


class Model:
    """What the conversion knows of one model, shared by its steps."""

    def __init__(self, model: Any, ctx: ConversionContext, georef: Georef) -> None:
        self.model, self.ctx, self.georef = model, ctx, georef
        self.prefix = ctx.options.get("id_prefix") or "ifc"
        self.unit = length_unit_scale(model)
        self.placer = Placer(georef, ctx)
        self.products = [p for p in model.by_type("IfcProduct")
                         if not is_any(p, EXCLUDED_CLASSES + ("IfcPort",))]
        self.spatial = [p for p in self.products
                        if is_any(p, ("IfcSpatialElement", "IfcSpatialStructureElement"))]
        spatial_ids = {p.id() for p in self.spatial}
        self.elements = [p for p in self.products if p.id() not in spatial_ids]
        self.known = frozenset(p.id() for p in self.products)
        #: ``ifcopenshell.util.element.get_container`` / ``get_aggregate`` of each
        #: entity asked, by step id: elements share their ancestors
        self._container: dict[int, Any] = {}
        self._aggregate: dict[int, Any] = {}
        # step id -> step id of the building it is part of (where it is in one)
        self.building_of: dict[int, int] = {}
        for p in self.products:
            b = self._building_of(p)
            if b is not None:
                self.building_of[p.id()] = b.id()
        #: step id -> its place in the model (the order of the envelope's parts)
        self.rank = {p.id(): i for i, p in enumerate(self.products)}
        self._envelope_class = {p.id(): not is_any(p, NOT_ENVELOPE)
                                for p in self.products}
        #: the meshes and ground projections kept to the end (spatial and network
        #: elements); the others are streamed
        self.meshes: dict[int, Mesh] = {}
        self.outlines: dict[int, Any] = {}
        #: building step id -> what its envelope needs of its elements
        self.envelopes: dict[int, EnvelopeParts] = {}
        #: property sets, relationships and types read (ifc_semantics.property_sets)
        self.psets: dict[Any, Any] = {}
        self._storeys: dict[int, Any] = {}  # storey above each container, by step id
        self._storey_attrs: dict[int, dict[str, Any]] = {}  # what an element says of it

    def container(self, e: Any) -> Any | None:
        """``ifcopenshell.util.element.get_container(e)``: the spatial element
        containing ``e`` or, failing that, its parent's; asked once per entity."""
        key = e.id()
        if key in self._container:
            return self._container[key]
        self._container[key] = None  # a cycle of parents ends here
        contained = attribute(e, "ContainedInStructure")
        if contained:
            got = contained[0].RelatingStructure
        else:
            # get_parent(e): its direct container (none), whole, nest, filled void ...
            parent = tree_parent(e)
            got = self.container(parent) if parent else None
        self._container[key] = got
        return got

    def aggregate(self, e: Any) -> Any | None:
        """The whole ``e`` is part of (:func:`aggregate_of`), asked once per entity."""
        key = e.id()
        if key not in self._aggregate:
            self._aggregate[key] = aggregate_of(e)
        return self._aggregate[key]

    def _building_of(self, e: Any) -> Any | None:
        """The IfcBuilding ``e`` is in: wholes, then containers, upwards."""
        seen = 0
        cur = e
        while cur is not None and seen < 64:
            if cur.is_a("IfcBuilding"):
                return cur
            nxt = self.aggregate(cur)
            if nxt is None:
                nxt = self.container(cur)
            cur = nxt
            seen += 1
        return None

    def shapes_envelope(self, sid: int) -> bool:
        """Whether the element's mesh shapes its building's envelope."""
        return self._envelope_class.get(sid, False)

    def storey(self, e: Any) -> Any | None:
        """:func:`storey_of` ``e``, remembered per container: elements share them."""
        up = self.container(e) or self.aggregate(e)
        if up is None:
            return None
        key = up.id()
        if key not in self._storeys:
            self._storeys[key] = storey_of(e)
        return self._storeys[key]

    def fid(self, entity: Any) -> str:
        return f"{self.prefix}:{entity.GlobalId}"

    def storey_attributes(self, e: Any, attrs: dict[str, Any]) -> None:
        """The storey an element or space is on: its name, id and elevation."""
        storey = self.storey(e)
        if storey is None:
            return
        key = storey.id()
        got = self._storey_attrs.get(key)
        if got is None:
            got = self._storey_attrs[key] = {}
            if storey.Name:
                got["storey"] = text_name(storey)
            got["storey_id"] = self.fid(storey)
            elev = storey_elevation(storey, self.unit)
            if elev is not None:
                got["storey_elevation_m"] = round(elev, 4)
        attrs.update(got)

    def parent_id(self, e: Any) -> str | None:
        """The id of ``e``'s parent among the model's elements: the whole it is
        part of (not the project), else the spatial element containing it, else
        the host it is nested in."""
        whole = self.aggregate(e)
        if whole is not None and not whole.is_a("IfcProject"):
            parent = whole
        else:
            parent = self.container(e) or nest_of(e)
        return self.fid(parent) if parent is not None and parent.id() in self.known else None
