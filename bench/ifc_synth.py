"""A synthetic IFC4 building of any size, for memory measurements.

``write_model(path, elements)`` writes a georeferenced (site latitude and
longitude) building whose storeys hold ``elements`` elements in all, 400 a
storey on a 20 x 20 grid: walls (boxes, 12 triangles, each its own
geometry) and round tables (IfcFurniture, one 2,048-sided polygon extruded,
about 8,200 triangles, mapped onto every table as exporters map a type's
geometry: the file stays small, the meshes weigh; a circle profile would
send them all to OpenCASCADE, which the floor does not run), each with a
property set, on a floor slab. Furniture, as in real models, does not
shape the building's envelope. Made with ifcopenshell's
``ShapeBuilder`` and entity creation, without the authoring API's per-call
bookkeeping: 10,000 elements take seconds, not minutes.

Usage: ``python bench/ifc_synth.py OUT.ifc ELEMENTS``
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

#: Elements on one storey (a 20 x 20 grid, 3 m apart).
PER_STOREY = 400
STOREY_HEIGHT = 3.0
#: A table's plan: a 2,048-sided polygon of radius 0.6 m.
_ROUND = [(0.6 * math.cos(a * math.pi / 1024), 0.6 * math.sin(a * math.pi / 1024))
          for a in range(2048)]


def write_model(path: Path, elements: int) -> Path:
    """Write a building of ``elements`` elements to ``path``."""
    import ifcopenshell
    import ifcopenshell.api
    import ifcopenshell.guid
    from ifcopenshell.util.shape_builder import ShapeBuilder

    m = ifcopenshell.api.run("project.create_file", version="IFC4")
    project = ifcopenshell.api.run("root.create_entity", m, ifc_class="IfcProject",
                                   name="Synthetic")
    metre = ifcopenshell.api.run("unit.add_si_unit", m, unit_type="LENGTHUNIT")
    ifcopenshell.api.run("unit.assign_unit", m, units=[metre])
    model = ifcopenshell.api.run("context.add_context", m, context_type="Model")
    body = ifcopenshell.api.run("context.add_context", m, context_type="Model",
                                context_identifier="Body", target_view="MODEL_VIEW",
                                parent=model)
    site = ifcopenshell.api.run("root.create_entity", m, ifc_class="IfcSite", name="Site")
    ifcopenshell.api.run("geometry.edit_object_placement", m, product=site)
    site.RefLatitude, site.RefLongitude, site.RefElevation = (42, 40, 0, 0), (-89, 0, 0, 0), 0.0
    ifcopenshell.api.run("aggregate.assign_object", m, relating_object=project, products=[site])
    building = ifcopenshell.api.run("root.create_entity", m, ifc_class="IfcBuilding",
                                    name="Block")
    ifcopenshell.api.run("geometry.edit_object_placement", m, product=building)
    ifcopenshell.api.run("aggregate.assign_object", m, relating_object=site,
                         products=[building])
    builder = ShapeBuilder(m)
    table = m.createIfcRepresentationMap(
        m.createIfcAxis2Placement3D(m.createIfcCartesianPoint((0.0, 0.0, 0.0))),
        m.createIfcShapeRepresentation(body, "Body", "SweptSolid", [builder.extrude(
            builder.polyline(_ROUND, closed=True), magnitude=0.8)]))
    storeys = (elements + PER_STOREY - 1) // PER_STOREY
    made = 0
    for level in range(storeys):
        elev = level * STOREY_HEIGHT
        st = ifcopenshell.api.run("root.create_entity", m, ifc_class="IfcBuildingStorey",
                                  name=f"Level {level}")
        st.Elevation = elev
        ifcopenshell.api.run("geometry.edit_object_placement", m, product=st)
        ifcopenshell.api.run("aggregate.assign_object", m, relating_object=building,
                             products=[st])
        slab = m.createIfcShapeRepresentation(body, "Body", "SweptSolid", [
            builder.extrude(builder.rectangle(size=(60.0, 60.0)), magnitude=0.2)])
        contained = [_element(m, "IfcSlab", f"Slab {level}", slab, (-1.5, -1.5, elev))]
        for k in range(min(PER_STOREY, elements - made)):
            x, y = 3.0 * (k % 20), 3.0 * (k // 20)
            if k % 2:
                cls = "IfcFurniture"
                item = m.createIfcMappedItem(table, m.createIfcCartesianTransformationOperator3D(
                    None, None, m.createIfcCartesianPoint((0.0, 0.0, 0.0)), 1.0, None))
                rep = m.createIfcShapeRepresentation(body, "Body", "MappedRepresentation",
                                                     [item])
            else:
                cls = "IfcWall"
                rep = m.createIfcShapeRepresentation(body, "Body", "SweptSolid", [
                    builder.extrude(builder.rectangle(size=(2.5, 0.2)),
                                    magnitude=STOREY_HEIGHT)])
            e = _element(m, cls, f"{cls} {made}", rep, (x, y, elev + 0.2))
            props = [m.createIfcPropertySingleValue("Reference", None,
                                                    m.createIfcIdentifier(f"R{made}"), None)]
            pset = m.createIfcPropertySet(ifcopenshell.guid.new(), None, "Pset_Synthetic",
                                          None, props)
            m.createIfcRelDefinesByProperties(ifcopenshell.guid.new(), None, None, None, [e],
                                              pset)
            contained.append(e)
            made += 1
        m.createIfcRelContainedInSpatialStructure(ifcopenshell.guid.new(), None, None, None,
                                                  contained, st)
    m.write(str(path))
    return path


def _element(m, cls: str, name: str, rep, at: tuple[float, float, float]):
    import ifcopenshell.guid

    place = m.createIfcLocalPlacement(None, m.createIfcAxis2Placement3D(
        m.createIfcCartesianPoint(at)))
    return m.create_entity(cls, GlobalId=ifcopenshell.guid.new(), Name=name,
                           ObjectPlacement=place,
                           Representation=m.createIfcProductDefinitionShape(None, None, [rep]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("elements", type=int)
    args = ap.parse_args()
    write_model(args.out, args.elements)


if __name__ == "__main__":
    main()
