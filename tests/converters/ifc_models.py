"""Small IFC models made with ifcopenshell's own authoring API, as BIM tools
write them: a project with its units, a site (with its latitude/longitude
and, if asked, the IFC2X3 georeferencing property sets on it, as Revit's
exporter writes them), a building, storeys and box-shaped elements."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ifcopenshell
import ifcopenshell.api
import ifcopenshell.api.owner.settings
from ifcopenshell.util.shape_builder import ShapeBuilder


@dataclass(frozen=True)
class Box:
    """An element: ``ifc_class`` of size ``size`` (m) at ``at`` (m, storey-local)."""

    ifc_class: str
    at: tuple[float, float, float]
    size: tuple[float, float, float]
    storey: int = 0
    name: str = ""


def build_model(path: Path, monkeypatch, *, schema: str = "IFC2X3",
                latlon: tuple[float, float] | None = None,
                site_psets: dict[str, dict] | None = None,
                storeys: tuple[float, ...] = (0.0,), boxes: tuple[Box, ...] = (),
                spaces: tuple[Box, ...] = ()) -> Path:
    """Write the model to ``path``; ``monkeypatch`` gives the owner history
    its user for this test only (IFC2X3 needs one on every rooted entity)."""
    m = ifcopenshell.api.run("project.create_file", version=schema)
    if schema == "IFC2X3":
        person = ifcopenshell.api.run("owner.add_person", m)
        org = ifcopenshell.api.run("owner.add_organisation", m)
        user = ifcopenshell.api.run("owner.add_person_and_organisation", m, person=person,
                                    organisation=org)
        app = ifcopenshell.api.run("owner.add_application", m)
        monkeypatch.setattr(ifcopenshell.api.owner.settings, "get_user", lambda f: user)
        monkeypatch.setattr(ifcopenshell.api.owner.settings, "get_application", lambda f: app)
    project = ifcopenshell.api.run("root.create_entity", m, ifc_class="IfcProject", name="P")
    metre = ifcopenshell.api.run("unit.add_si_unit", m, unit_type="LENGTHUNIT")
    ifcopenshell.api.run("unit.assign_unit", m, units=[metre])
    model = ifcopenshell.api.run("context.add_context", m, context_type="Model")
    body = ifcopenshell.api.run("context.add_context", m, context_type="Model",
                                context_identifier="Body", target_view="MODEL_VIEW",
                                parent=model)
    site = ifcopenshell.api.run("root.create_entity", m, ifc_class="IfcSite", name="Site")
    ifcopenshell.api.run("geometry.edit_object_placement", m, product=site)
    if latlon is not None:
        site.RefLatitude = _compound(latlon[0])
        site.RefLongitude = _compound(latlon[1])
        site.RefElevation = 0.0
    for name, props in (site_psets or {}).items():
        pset = ifcopenshell.api.run("pset.add_pset", m, product=site, name=name)
        ifcopenshell.api.run("pset.edit_pset", m, pset=pset, properties=props)
    ifcopenshell.api.run("aggregate.assign_object", m, relating_object=project, products=[site])
    building = ifcopenshell.api.run("root.create_entity", m, ifc_class="IfcBuilding",
                                    name="Block")
    ifcopenshell.api.run("geometry.edit_object_placement", m, product=building)
    ifcopenshell.api.run("aggregate.assign_object", m, relating_object=site,
                         products=[building])
    levels = []
    for i, elev in enumerate(storeys):
        st = ifcopenshell.api.run("root.create_entity", m, ifc_class="IfcBuildingStorey",
                                  name=f"Level {i}")
        st.Elevation = elev
        ifcopenshell.api.run("geometry.edit_object_placement", m, product=st,
                             matrix=_at(0.0, 0.0, elev))
        ifcopenshell.api.run("aggregate.assign_object", m, relating_object=building,
                             products=[st])
        levels.append((st, elev))
    builder = ShapeBuilder(m)
    for b in boxes + spaces:
        e = ifcopenshell.api.run("root.create_entity", m, ifc_class=b.ifc_class,
                                 name=b.name or b.ifc_class)
        st, elev = levels[b.storey]
        solid = builder.extrude(builder.rectangle(size=b.size[:2]), magnitude=b.size[2])
        rep = builder.get_representation(body, [solid])
        ifcopenshell.api.run("geometry.assign_representation", m, product=e, representation=rep)
        ifcopenshell.api.run("geometry.edit_object_placement", m, product=e,
                             matrix=_at(b.at[0], b.at[1], elev + b.at[2]))
        if b in spaces:
            ifcopenshell.api.run("aggregate.assign_object", m, relating_object=st, products=[e])
        else:
            ifcopenshell.api.run("spatial.assign_container", m, products=[e],
                                 relating_structure=st)
    m.write(str(path))
    return path


def _at(x: float, y: float, z: float):
    import numpy as np

    mat = np.eye(4)
    mat[:3, 3] = (x, y, z)
    return mat


def _compound(deg: float) -> tuple[int, int, int, int]:
    """Degrees as an IFC compound plane angle (d, m, s, millionths of s)."""
    sign = -1 if deg < 0 else 1
    a = abs(deg)
    d = int(a)
    mins = int((a - d) * 60)
    secs = (a - d - mins / 60) * 3600
    s = int(secs)
    return (sign * d, sign * mins, sign * s, sign * int(round((secs - s) * 1e6)))
