"""The demo district's detailed building: an IFC4 model placed by IfcMapConversion.

Xinhua Community Service Centre (新华社区服务中心): three storeys of 4.2 m on
a 20 x 48 m plan, with floor slabs, exterior and interior walls, a column
grid, a roof slab with parapets, a door, one IfcSpace per storey, materials
and property sets. Authored with ifcopenshell.api in the project's local
coordinates (millimetres, X along the short side) and georeferenced the way
design offices deliver it: IfcProjectedCRS EPSG:4546 and an IfcMapConversion
giving the easting, northing and height of the local origin and a rotation
(the local X axis points north). GlobalIds come from a seeded generator, so
the same arguments write the same file.
"""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.context
import ifcopenshell.api.geometry
import ifcopenshell.api.georeference
import ifcopenshell.api.material
import ifcopenshell.api.project
import ifcopenshell.api.pset
import ifcopenshell.api.root
import ifcopenshell.api.spatial
import ifcopenshell.api.unit
import ifcopenshell.guid
import numpy as np

NAME = "Xinhua Community Service Centre"
WIDTH, LENGTH = 20.0, 48.0  # local X (north), local Y (west)
STOREYS = 3
FLOOR_H = 4.2
SLAB = 0.25
WALL = 0.3
PARAPET = 1.1
YEAR = 2021


def _placement(x: float, y: float, z: float, angle: float = 0.0) -> np.ndarray:
    m = np.eye(4)
    c, s = math.cos(angle), math.sin(angle)
    m[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    m[:3, 3] = (x, y, z)
    return m


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.f = ifcopenshell.api.project.create_file(version="IFC4")

    def guid(self) -> str:
        return ifcopenshell.guid.compress(uuid.UUID(int=int(self.rng.integers(0, 2**63)) << 64
                                                    | int(self.rng.integers(0, 2**63))).hex)

    def entity(self, cls: str, name: str, predefined: str | None = None):
        e = ifcopenshell.api.root.create_entity(self.f, ifc_class=cls, name=name,
                                                predefined_type=predefined)
        e.GlobalId = self.guid()
        return e

    def place(self, product, matrix: np.ndarray) -> None:
        ifcopenshell.api.geometry.edit_object_placement(self.f, product=product, matrix=matrix)

    def pset(self, product, name: str, props: dict) -> None:
        p = ifcopenshell.api.pset.add_pset(self.f, product=product, name=name)
        p.GlobalId = self.guid()
        ifcopenshell.api.pset.edit_pset(self.f, pset=p, properties=props)


def write_ifc(path: Path, easting: float, northing: float, height: float, seed: int,
              building_id: str) -> dict:
    """Write the model to ``path``; its local origin (the south-east corner of
    the plan, at ground-floor level) lies at ``easting, northing, height`` in
    EPSG:4546 / 1985 height datum. ``building_id`` becomes the IfcBuilding's
    GlobalId (the twin id that service pipes point at). Returns a summary."""
    b = _Builder(seed)
    f = b.f
    project = b.entity("IfcProject", "Hohhot Xinhua district renewal")
    # millimetres, as Chinese design offices deliver models; areas and volumes in SI
    ifcopenshell.api.unit.assign_unit(f)
    metre = ifcopenshell.api.unit.add_si_unit(f, unit_type="LENGTHUNIT")
    model_ctx = ifcopenshell.api.context.add_context(f, context_type="Model")
    body = ifcopenshell.api.context.add_context(
        f, context_type="Model", context_identifier="Body", target_view="MODEL_VIEW",
        parent=model_ctx)

    ifcopenshell.api.georeference.add_georeferencing(f, ifc_class="IfcMapConversion",
                                                     name="EPSG:4546")
    ifcopenshell.api.georeference.edit_georeferencing(
        f, projected_crs={"Name": "EPSG:4546",
                          "Description": "CGCS2000 / 3-degree Gauss-Kruger CM 111E",
                          "GeodeticDatum": "CGCS2000",
                          "VerticalDatum": "1985 National Height Datum", "MapUnit": metre},
        coordinate_operation={"Eastings": easting, "Northings": northing,
                              "OrthogonalHeight": height,
                              # local X axis points north: 90 degrees from east
                              "XAxisAbscissa": 0.0, "XAxisOrdinate": 1.0,
                              "Scale": 0.001})  # model millimetres to map metres

    site = b.entity("IfcSite", "Xinhua block 5-1")
    building = b.entity("IfcBuilding", NAME)
    building.GlobalId = building_id
    ifcopenshell.api.aggregate.assign_object(f, products=[site], relating_object=project)
    ifcopenshell.api.aggregate.assign_object(f, products=[building], relating_object=site)
    b.place(site, np.eye(4))
    b.place(building, np.eye(4))
    b.pset(building, "Pset_BuildingCommon", {
        "YearOfConstruction": str(YEAR), "NumberOfStoreys": STOREYS,
        "OccupancyType": "community centre"})

    concrete = ifcopenshell.api.material.add_material(f, name="C30 concrete",
                                                      category="concrete")
    masonry = ifcopenshell.api.material.add_material(f, name="Aerated concrete block",
                                                     category="block")
    door_mat = ifcopenshell.api.material.add_material(f, name="Aluminium", category="aluminium")

    counts: dict[str, int] = {}

    def element(cls: str, name: str, container, rep, matrix, material, predefined=None):
        e = b.entity(cls, name, predefined)
        ifcopenshell.api.spatial.assign_container(f, products=[e], relating_structure=container)
        b.place(e, matrix)
        ifcopenshell.api.geometry.assign_representation(f, product=e, representation=rep)
        ifcopenshell.api.material.assign_material(f, products=[e], type="IfcMaterial",
                                                  material=material)
        counts[cls] = counts.get(cls, 0) + 1
        return e

    outline = [(0.0, 0.0), (WIDTH, 0.0), (WIDTH, LENGTH), (0.0, LENGTH)]
    for k in range(STOREYS):
        z = k * FLOOR_H
        storey = b.entity("IfcBuildingStorey", f"{k + 1}F")
        storey.Elevation = z
        ifcopenshell.api.aggregate.assign_object(f, products=[storey], relating_object=building)
        b.place(storey, _placement(0, 0, z))
        wall_h = FLOOR_H - SLAB

        slab = ifcopenshell.api.geometry.add_slab_representation(
            f, context=body, depth=SLAB, polyline=outline + [outline[0]])
        element("IfcSlab", f"{k + 1}F floor slab", storey, slab, _placement(0, 0, z), concrete,
                "FLOOR")
        # the exterior walls run anticlockwise round the plan, outside face on the outline
        for n, ((x1, y1), (x2, y2)) in enumerate(zip(outline, outline[1:] + outline[:1])):
            length = math.hypot(x2 - x1, y2 - y1)
            rep = ifcopenshell.api.geometry.add_wall_representation(
                f, context=body, length=length, height=wall_h, thickness=WALL)
            angle = math.atan2(y2 - y1, x2 - x1)
            # the wall's body lies on its local +Y side: inside the plan
            element("IfcWall", f"{k + 1}F exterior wall {n + 1}", storey, rep,
                    _placement(x1, y1, z + SLAB, angle), masonry, "SOLIDWALL")
        # interior cross walls every 12 m
        for n, y in enumerate((12.0, 24.0, 36.0)):
            rep = ifcopenshell.api.geometry.add_wall_representation(
                f, context=body, length=WIDTH - 2 * WALL, height=wall_h, thickness=0.2)
            element("IfcWall", f"{k + 1}F partition {n + 1}", storey, rep,
                    _placement(WALL, y, z + SLAB), masonry, "PARTITIONING")
        # a column grid of 2 x 5 at 6 m / 8 m
        for i, x in enumerate((7.0, 13.0)):
            for j, y in enumerate((8.0, 16.0, 24.0, 32.0, 40.0)):
                prof = f.create_entity("IfcRectangleProfileDef", ProfileType="AREA",
                                       ProfileName="500x500", XDim=0.5, YDim=0.5)
                rep = ifcopenshell.api.geometry.add_profile_representation(
                    f, context=body, profile=prof, depth=wall_h)
                element("IfcColumn", f"{k + 1}F column {'AB'[i]}{j + 1}", storey, rep,
                        _placement(x, y, z + SLAB), concrete, "COLUMN")
        space = b.entity("IfcSpace", f"{k + 1}F hall", "INTERNAL")
        ifcopenshell.api.aggregate.assign_object(f, products=[space], relating_object=storey)
        rep = ifcopenshell.api.geometry.add_slab_representation(
            f, context=body, depth=wall_h,
            polyline=[(WALL, WALL), (WIDTH - WALL, WALL), (WIDTH - WALL, LENGTH - WALL),
                      (WALL, LENGTH - WALL), (WALL, WALL)])
        b.place(space, _placement(0, 0, z + SLAB))
        ifcopenshell.api.geometry.assign_representation(f, product=space, representation=rep)
        b.pset(space, "Pset_SpaceCommon", {"Reference": f"{k + 1}F-H", "IsExternal": False})
        counts["IfcSpace"] = counts.get("IfcSpace", 0) + 1
        if k == 0:
            rep = ifcopenshell.api.geometry.add_wall_representation(
                f, context=body, length=2.4, height=2.7, thickness=0.12)
            element("IfcDoor", "Main entrance", storey, rep,
                    _placement(-0.12, 22.8, z + SLAB), door_mat, "DOOR")
        if k == STOREYS - 1:
            top = STOREYS * FLOOR_H
            roof = ifcopenshell.api.geometry.add_slab_representation(
                f, context=body, depth=SLAB, polyline=outline + [outline[0]])
            element("IfcSlab", "Roof slab", storey, roof, _placement(0, 0, top), concrete,
                    "ROOF")
            for n, ((x1, y1), (x2, y2)) in enumerate(zip(outline, outline[1:] + outline[:1])):
                rep = ifcopenshell.api.geometry.add_wall_representation(
                    f, context=body, length=math.hypot(x2 - x1, y2 - y1), height=PARAPET,
                    thickness=0.2)
                element("IfcWall", f"Parapet {n + 1}", storey, rep,
                        _placement(x1, y1, top + SLAB, math.atan2(y2 - y1, x2 - x1)), concrete,
                        "PARAPET")

    # the API gives relationships random GlobalIds: renumber every rooted entity from
    # the seeded generator, in file order, so that the same arguments give the same file
    for e in sorted(f.by_type("IfcRoot"), key=lambda e: e.id()):
        if e != building:
            e.GlobalId = b.guid()
    f.header.file_name.time_stamp = f"{YEAR}-09-30T10:00:00"
    f.header.file_name.name = path.name
    path.write_text(f.to_string(), encoding="utf-8")
    return {"IfcBuilding": 1, "IfcBuildingStorey": STOREYS, **counts}
