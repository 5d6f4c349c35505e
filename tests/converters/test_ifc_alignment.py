"""IFC4.3 alignments: a road alignment built with ifcopenshell's own API
(PI method: two tangents and a 200 m arc in plan, two grades and a parabolic
crest in profile), georeferenced by IfcMapConversion, becomes 3D polylines."""

from __future__ import annotations

import math
from pathlib import Path

import ifcopenshell
import ifcopenshell.api
import ifcopenshell.api.alignment
import ifcopenshell.api.georeference
import numpy as np
import pytest
from shapely.geometry import Point

import twin
from converters import import_file
from twin.query import Query

E0, N0 = 500_000.0, 2_500_000.0  # EPSG:4547 (CGCS2000 / 3-degree GK CM 114E), Shenzhen


def _alignment_model(path: Path) -> Path:
    m = ifcopenshell.file(schema="IFC4X3_ADD2")
    project = ifcopenshell.api.run("root.create_entity", m, ifc_class="IfcProject", name="Road")
    metre = ifcopenshell.api.run("unit.add_si_unit", m, unit_type="LENGTHUNIT")
    ifcopenshell.api.run("unit.assign_unit", m, units=[metre])
    ifcopenshell.api.run("context.add_context", m, context_type="Model")
    site = ifcopenshell.api.run("root.create_entity", m, ifc_class="IfcSite", name="Site")
    ifcopenshell.api.run("aggregate.assign_object", m, relating_object=project, products=[site])
    ifcopenshell.api.alignment.create_by_pi_method(
        m, "A1", [(0.0, 0.0), (500.0, 0.0), (800.0, 300.0)], [200.0],
        vpoints=[(0.0, 100.0), (300.0, 110.0), (700.0, 105.0)], lengths=[120.0],
        start_station=1000.0)
    ifcopenshell.api.georeference.add_georeferencing(m)
    ifcopenshell.api.georeference.edit_georeferencing(
        m, projected_crs={"Name": "EPSG:4547"},
        coordinate_operation={"Eastings": E0, "Northings": N0, "OrthogonalHeight": 0.0})
    m.write(str(path))
    return path


@pytest.fixture(scope="module")
def road(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("align")
    path = _alignment_model(tmp / "road.ifc")
    store = twin.create_twin(tmp / "t.gpkg", "EPSG:4547")
    res = import_file(store, path)
    yield store, res, ifcopenshell.open(str(path))
    store.close()


def test_alignment_is_a_3d_polyline_on_the_road_centrelines(road):
    store, res, model = road
    a = model.by_type("IfcAlignment")[0]
    f = store.get(f"ifc:{a.GlobalId}", meshes=False)
    assert f.layer == "road_centrelines" and f.type == "IfcAlignment"
    line = f.footprint
    assert line.geom_type == "LineString" and line.has_z
    # the 3D axis runs as far as the vertical profile: 700 m along the horizontal
    assert line.length == pytest.approx(700.0, abs=0.05)
    x, y, z = line.coords[0]
    assert (x, y, z) == pytest.approx((E0, N0, 100.0), abs=1e-6)
    # on the first tangent at 200 m, on the first grade (10 m over 300 m)
    p = line.interpolate(200.0)
    assert (p.x, p.y) == pytest.approx((E0 + 200.0, N0), abs=0.01)
    assert p.z == pytest.approx(100.0 + 200.0 / 30.0, abs=0.01)
    # past the arc the plan turns 45 degrees to the north-east
    q0, q1 = line.interpolate(650.0), line.interpolate(690.0)
    assert math.degrees(math.atan2(q1.y - q0.y, q1.x - q0.x)) == pytest.approx(45.0, abs=0.1)
    assert res.report["source"]["alignments"]["curves"] >= 1
    assert "alignments:" in " ".join(n.text for n in res.notes)


def test_segments_get_their_piece_with_their_design_parameters(road):
    store, _, model = road
    segs = {f.source_id: f for f in store.query(Query(types=("IfcAlignmentSegment",)))}
    arcs = [s for s in model.by_type("IfcAlignmentSegment")
            if s.DesignParameters.is_a("IfcAlignmentHorizontalSegment")
            and s.DesignParameters.PredefinedType == "CIRCULARARC"]
    (arc,) = arcs
    f = segs[arc.GlobalId]
    assert f.layer == "road_centrelines"
    assert f.attributes["design.PredefinedType"] == "CIRCULARARC"
    assert f.attributes["design.StartRadiusOfCurvature"] == pytest.approx(200.0)
    # the arc (200 m radius, 45 degrees) starts where the first tangent ends
    length = 200.0 * math.pi / 4
    assert f.attributes["length_m"] == pytest.approx(length, abs=1e-3)
    start = 500.0 - 200.0 * math.tan(math.pi / 8)
    assert f.attributes["start_m"] == pytest.approx(start, abs=1e-3)
    assert f.footprint.length == pytest.approx(length, abs=0.05)
    assert Point(f.footprint.coords[0][:2]).distance(Point(E0 + start, N0)) < 0.01
    # its parent is the horizontal layout, whose parent is the alignment
    layout = store.get(f.parent, meshes=False)
    assert layout.type == "IfcAlignmentHorizontal" and layout.footprint is None
    assert store.get(layout.parent, meshes=False).type == "IfcAlignment"
    # vertical segments are cut from the 3D axis by their distance along
    vert = [s for s in segs.values() if s.attributes.get("segment_type")
            == "IfcAlignmentVerticalSegment" and s.footprint is not None]
    assert sorted(round(s.footprint.length) for s in vert) == [120, 240, 340]
    crest = next(s for s in vert if round(s.footprint.length) == 120)
    zs = np.array(crest.footprint.coords)[:, 2]
    assert zs.max() < 110.0 and zs.max() > 107.0  # a parabola below its PI at 110 m


def test_nothing_of_the_alignment_lands_on_building_elements(road):
    store, res, _ = road
    bim = [f.type for f in store.query(Query(layers=("building_elements",)))]
    assert not [t for t in bim if t.startswith("IfcAlignment") or t == "IfcReferent"]
    # the start station referent is a point at the alignment's start
    (ref,) = list(store.query(Query(types=("IfcReferent",))))
    assert ref.layer == "generic" and ref.attributes["Pset_Stationing.Station"] == 1000.0
    assert (ref.footprint.x, ref.footprint.y) == pytest.approx((E0, N0), abs=1e-6)
    assert not [m for m in res.report["source"].get("no_geometry", [])
                if m["class"].startswith("IfcAlignment")]
