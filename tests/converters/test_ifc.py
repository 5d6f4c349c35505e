"""IFC import: real models (IFC4, IFC2X3, IFC4X3 pre-release), georeferencing,
hierarchy, envelopes, pipe networks, kernel fallback and bad input."""

from __future__ import annotations

import collections
import math
from pathlib import Path

import ifcopenshell
import numpy as np
import pytest
from click.testing import CliRunner
from pyproj import Transformer
from shapely.geometry import Point

import twin
from converters import import_file
from converters.ifc_geometry import EXCLUDED_CLASSES, crash_reason, element_meshes
from converters.ifc_georef import compound_angle
from twin.errors import ImportFailedError
from twin.hierarchy import ancestors
from twin.network import network_graph, networks, validate_network
from twin.query import Query

SAMPLES = Path(__file__).resolve().parents[2] / "sample_models"
IFC = SAMPLES / "ifc"
FZK = IFC / "AC20-FZK-Haus.ifc"
DUPLEX = IFC / "duplex.ifc"
DRAIN1 = IFC / "infra_DrainageSystem-1-1.ifc"
DRAIN2 = IFC / "infra_DrainageSystem-2.IFC"


def _features(store, **kw):
    return list(store.query(Query(**kw)))


def _geometric_products(model):
    """What ifcopenshell itself says should have geometry."""
    return [p for p in model.by_type("IfcProduct") if p.Representation is not None
            and not any(p.is_a(c) for c in EXCLUDED_CLASSES) and not p.is_a("IfcPort")]


@pytest.fixture(scope="module")
def fzk(tmp_path_factory):
    store = twin.create_twin(tmp_path_factory.mktemp("fzk") / "fzk.gpkg", "EPSG:25832")
    res = import_file(store, FZK)
    yield store, res
    store.close()


def test_fzk_counts_per_class_match_ifcopenshell(fzk):
    store, res = fzk
    model = ifcopenshell.open(str(FZK))
    products = [p for p in model.by_type("IfcProduct")
                if not any(p.is_a(c) for c in EXCLUDED_CLASSES) and not p.is_a("IfcPort")]
    expected = collections.Counter(p.is_a() for p in products)
    got = collections.Counter(f.attributes["ifc_class"] for f in _features(store))
    assert got == expected
    assert expected["IfcWallStandardCase"] == 13 and expected["IfcWindow"] == 11
    # every element with a body got a mesh (the fast kernel did them all)
    geo = res.report["source"]["geometry"]
    assert geo["converted"] == len(_geometric_products(model)) == 90
    assert geo["failed"] == 0


def test_fzk_is_placed_by_its_site_latitude_and_longitude(fzk):
    store, res = fzk
    g = res.report["source"]["georeferencing"]
    assert g["method"].startswith("IfcSite RefLatitude")
    model = ifcopenshell.open(str(FZK))
    site = model.by_type("IfcSite")[0]
    lat, lon = compound_angle(site.RefLatitude), compound_angle(site.RefLongitude)
    assert (round(lat, 6), round(lon, 6)) == (49.100435, 8.436539)
    # the site's local origin is the corner of the terrain plate; its feature's
    # footprint must lie around that point of the Earth, within the plate size
    tr = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)
    x0, y0 = tr.transform(lon, lat)
    site_f = store.get(f"ifc:{site.GlobalId}")
    assert site_f.footprint.distance(Point(x0, y0)) < 1e-6 or \
        site_f.footprint.buffer(1e-3).contains(Point(x0, y0))
    # true north is 50 degrees off the model's Y axis
    assert math.isclose(g["rotation_deg"], 50.0, abs_tol=1e-6)
    # the elevation of the site (110 m) is added to heights
    building = next(iter(_features(store, layers=("buildings",))))
    assert building.bbox[2] == pytest.approx(109.8, abs=0.05)


def test_fzk_hierarchy_and_building_envelope(fzk):
    store, _ = fzk
    model = ifcopenshell.open(str(FZK))
    wall = model.by_type("IfcWallStandardCase")[0]
    chain = [f.type for f in ancestors(store, f"ifc:{wall.GlobalId}")]
    assert chain == ["IfcBuildingStorey", "Building", "IfcSite"]
    b = _features(store, layers=("buildings",), with_meshes=True)[0]
    assert b.attributes["storeys"] == 2
    # FZK-Haus: two storeys under a pitched roof, ridge about 6.5 m above the base
    assert 6.0 < b.attributes["height"] < 7.5
    # the footprint holds every wall's plan position
    walls = [f for f in _features(store, types=("IfcWallStandardCase",))]
    assert all(b.footprint.buffer(0.01).contains(w.footprint.centroid) for w in walls)
    assert 100 < b.footprint.area < 200
    assert "1" in b.meshes and b.meshes["1"].n_faces > 0
    # the LoD1 block stops at the 70th percentile of the pitched roof, between
    # the attic floor (2.7 m) and the ridge, which stays the measured height
    lod1 = b.meshes["1"].vertices[:, 2]
    assert lod1.max() == pytest.approx(b.attributes["top_m"], abs=1e-3)
    assert b.attributes["base_m"] + 2.7 < b.attributes["top_m"] < b.attributes["roof_max_m"] - 0.5
    # measured from the ground floor (storey elevation 0 at the site's 110 m),
    # not from the underside of its slab (base_m, 109.8 m)
    assert b.attributes["height"] == pytest.approx(b.attributes["roof_max_m"] - 110.0, abs=1e-3)
    pset_keys = [k for k in walls[0].attributes if k.startswith("Pset_WallCommon.")]
    assert pset_keys, "the wall's property set is kept"
    assert walls[0].attributes.get("storey")


def test_local_shapes_placed_here_match_the_kernels_world_coordinates():
    """The worker sends local shapes and their placement; placed with numpy
    they are the kernel's own world-coordinate shapes, element by element,
    material by material."""
    import ifcopenshell.geom as geom

    path = FZK
    model = ifcopenshell.open(str(path))
    products = _geometric_products(model)
    ours = element_meshes(str(path), [p.id() for p in products], kernels=("manifold",))
    settings = geom.settings()
    settings.set("use-world-coords", True)
    settings.set("weld-vertices", True)
    settings.set("apply-default-materials", True)
    it = geom.iterator(settings, model, 1, include=products, geometry_library="manifold")
    seen = 0
    assert it.initialize()
    while True:
        shape = it.get()
        g = shape.geometry
        mine = ours.meshes[int(shape.id)]
        world = np.frombuffer(g.verts_buffer, dtype=np.float64).reshape(-1, 3)
        np.testing.assert_allclose(mine.vertices, world, atol=1e-6)
        np.testing.assert_array_equal(
            mine.faces, np.frombuffer(g.faces_buffer, dtype=np.int32).reshape(-1, 3))
        assert mine.materials == tuple(m.name for m in g.materials)
        np.testing.assert_array_equal(
            mine.material_index, np.frombuffer(g.material_ids_buffer, dtype=np.int32))
        seen += 1
        if not it.next():
            break
    assert seen == len(ours.meshes) > 80


@pytest.fixture(scope="module")
def duplex_import(tmp_path_factory):
    """duplex.ifc imported once for the module: ``(store, result)``."""
    store = twin.create_twin(tmp_path_factory.mktemp("duplex") / "d.gpkg", "EPSG:26916")
    res = import_file(store, DUPLEX)
    yield store, res
    store.close()


def test_duplex_fast_kernel_crash_splits_the_same_way_on_every_run(duplex_import):
    model = ifcopenshell.open(str(DUPLEX))
    ids = [p.id() for p in _geometric_products(model)]
    first = element_meshes(str(DUPLEX), ids, kernels=("manifold", "opencascade"))
    assert [r.kernel for r in first.runs] == ["manifold", "opencascade"]
    # manifold segfaults on this file: it resumed one element at a time,
    # skipping only the elements it died on, which opencascade converted
    manifold, occ = first.runs
    assert manifold.crashed is True and manifold.crash.startswith("killed by SIGSEGV")
    assert len(first.meshes) == len(ids) == 236 and not first.failed
    assert manifold.crashed_on and set(manifold.crashed_on) <= set(ids)
    assert occ.requested == len(manifold.crashed_on) == occ.converted
    by_kernel = {sid: m.kernel for sid, m in first.meshes.items()}
    assert {sid for sid, k in by_kernel.items() if k == "opencascade"} == set(manifold.crashed_on)
    assert manifold.converted == len(ids) - len(manifold.crashed_on)
    # the same split in another run, the module's import (the threads' timing
    # before the first crash varies from run to run)
    kernels = duplex_import[1].report["source"]["geometry"]["kernels"]
    assert [(k["kernel"], k["converted"]) for k in kernels] == \
        [("manifold", manifold.converted), ("opencascade", occ.converted)]
    assert [name.split(" ")[0] for name in kernels[0]["crashed_on"]] == \
        [f"ifc:{model.by_id(sid).GlobalId}" for sid in manifold.crashed_on]


def test_a_kernel_that_crashes_too_often_hands_the_rest_to_the_next(monkeypatch):
    """After MAX_CRASHES crashes of one kernel, what it has left goes on to
    the next kernel at once (duplex: manifold crashes on 8 elements)."""
    from converters import ifc_geometry

    monkeypatch.setattr(ifc_geometry, "MAX_CRASHES", 2)
    model = ifcopenshell.open(str(DUPLEX))
    ids = [p.id() for p in _geometric_products(model)]
    res = element_meshes(str(DUPLEX), ids, kernels=("manifold", "opencascade"))
    manifold, occ = res.runs
    # the first crash (several elements at work) names none, the second one
    assert len(manifold.crashed_on) == 1
    assert len(res.meshes) == 236 and not res.failed
    assert occ.requested == 236 - manifold.converted == occ.converted


def test_duplex_ifc2x3_imports_with_storeys_below_ground(duplex_import):
    store, res = duplex_import
    model = ifcopenshell.open(str(DUPLEX))
    assert res.report["source"]["schema"] == "IFC2X3"
    got = collections.Counter(f.attributes["ifc_class"] for f in _features(store))
    assert got["IfcWallStandardCase"] == len(model.by_type("IfcWallStandardCase")) == 56
    assert got["IfcSpace"] == 21
    b = _features(store, layers=("buildings",))[0]
    storeys = model.by_type("IfcBuildingStorey")
    below = [s for s in storeys if s.Elevation < -0.5]
    assert b.attributes["storeys"] == len(storeys) - len(below)
    assert b.attributes.get("storeys_below", 0) == len(below)
    # spaces name their storey as the elements do: name, id and elevation
    spaces = _features(store, types=("IfcSpace",))
    by_id = {f.id: f for f in _features(store, types=("IfcBuildingStorey",))}
    for sp in spaces:
        storey = by_id[sp.attributes["storey_id"]]
        assert sp.attributes["storey"] == storey.name
        assert sp.attributes["storey_elevation_m"] == storey.attributes["elevation_m"]
        assert sp.parent == storey.id
    assert len({sp.attributes["storey"] for sp in spaces}) >= 2
    wall = _features(store, types=("IfcWallStandardCase",))[0]
    assert by_id[wall.attributes["storey_id"]].name == wall.attributes["storey"]
    # manifold crashed on this file: the summary says how and on what, and
    # quotes nothing of the worker's other output
    (crash,) = [k for k in res.report["source"]["geometry"]["kernels"] if k["crashed"]]
    assert crash["kernel"] == "manifold" and crash["crash"].startswith("killed by SIGSEGV")
    assert crash["crashed_on_count"] == 236 - crash["converted"] > 0
    assert all(p.startswith("ifc:") and "(Ifc" in p for p in crash["crashed_on"])
    note = next(n.text for n in res.notes if "kernel crashed" in n.text)
    assert note.startswith("the manifold kernel crashed (killed by SIGSEGV (segmentation "
                           "fault)) on ") and crash["crashed_on"][0] in note
    assert note.endswith("the next kernel took them over") and "\n" not in note


@pytest.fixture(scope="module")
def drain1(tmp_path_factory):
    store = twin.create_twin(tmp_path_factory.mktemp("drain") / "fi.gpkg", "EPSG:3878")
    # this unit test is drawn in EPSG:3878 coordinates but carries no map conversion
    res = import_file(store, DRAIN1, options={"origin": (0.0, 0.0, 0.0)})
    yield store, res
    store.close()


def test_prerelease_schema_is_read_as_add2_and_said(drain1):
    _, res = drain1
    src = res.report["source"]
    assert src["schema_in_file"] == "IFC4X3_RC3"
    assert "IFC4X3_RC3" in src["schema_note"] and src["schema"].startswith("IFC4X3")
    assert src["georeferencing"]["method"].startswith("user")


def test_drainage_pipes_go_to_the_rain_water_layer_with_their_topology(drain1):
    store, _ = drain1
    pipes = _features(store, layers=("rainwater",))
    chambers = _features(store, layers=("pipe_nodes",), types=("IfcDistributionChamberElement",))
    assert len(pipes) == 6 and len(chambers) == 7
    assert not _features(store, layers=("buildings", "building_elements"))
    (net,) = [n for n in networks(store) if n.startswith("YS:")]
    g = network_graph(store, net)
    assert (g.number_of_nodes(), g.number_of_edges()) == (7, 6)
    report = validate_network(g)
    assert report.components == 1 and not report.dangling_ends
    # pipe '8' runs from chamber '10' to chamber '51' (its SINK port to its SOURCE port)
    by_name = {f.name: f for f in pipes}
    names = {f.id: f.name for f in chambers}
    e = by_name["8"].edge
    assert (names[e.start], names[e.end]) == ("10", "51")
    assert by_name["8"].attributes["system"] == "Hulevesiviemäri"  # repaired mojibake


def test_drainage_chambers_match_the_landxml_survey(drain1):
    """The IFC and the LandXML of the same unit test place the manholes alike."""
    store, _ = drain1
    xml = twin.create_twin(Path(store.path).with_name("xml.gpkg"), "EPSG:3878")
    import_file(xml, SAMPLES / "landxml" / "DrainageSystem-1-1.xml")
    ifc_nodes = {f.name: f.footprint for f in _features(store, layers=("pipe_nodes",))
                 if f.type == "IfcDistributionChamberElement"}
    xml_nodes = {f.source_id: f.footprint for f in _features(xml, layers=("pipe_nodes",))}
    shared = set(ifc_nodes) & set(xml_nodes)
    assert len(shared) == 7
    for name in shared:
        assert ifc_nodes[name].distance(xml_nodes[name]) < 0.01, name
    xml.close()


def test_map_conversion_places_axis_only_pipes(tmp_path):
    store = twin.create_twin(tmp_path / "fi.gpkg", "EPSG:3878")
    res = import_file(store, DRAIN2)
    g = res.report["source"]["georeferencing"]
    assert g["method"] == "IfcMapConversion" and g["crs"] == "EPSG:3878"
    assert g["origin"][:2] == [24525000.0, 6876000.0]
    pipes = _features(store, layers=("drainage",))
    assert len(pipes) == 3
    # the culvert '120' is an Axis polyline in local coordinates: its first
    # point lies at the map conversion's origin plus that point (no rotation)
    model = ifcopenshell.file.from_string(
        DRAIN2.read_text(encoding="latin-1").replace("'IFC4X3_RC3'", "'IFC4X3_ADD2'", 1))
    elem = next(e for e in model.by_type("IfcPipeSegment") if e.Name == "120")
    axis = next(r for r in elem.Representation.Representations
                if r.RepresentationIdentifier == "Axis")
    local = axis.Items[0].Points[0].Coordinates
    culvert = next(p for p in pipes if p.name == "120")
    ends = {tuple(np.round(culvert.footprint.coords[i][:2], 3)) for i in (0, -1)}
    assert (round(24525000 + local[0], 3), round(6876000 + local[1], 3)) in ends
    missing = {m["name"]: m["reason"] for m in res.report["source"]["no_geometry"]}
    assert "Axis curve only" in missing["120"]
    store.close()


# --- synthetic models: georeferencing variants and bad input -------------------------

_HEADER = """ISO-10303-21;
HEADER;
FILE_DESCRIPTION(('ViewDefinition [CoordinationView]'),'2;1');
FILE_NAME('box.ifc','2026-01-01T00:00:00',(''),(''),'','','');
FILE_SCHEMA(('{schema}'));
ENDSEC;
DATA;
"""

_BODY = """#1=IFCPROJECT('0YvctVUKr0kugbFTf53O9L',$,'P',$,$,$,$,(#20),#10);
#10=IFCUNITASSIGNMENT((#11,#12));
#11=IFCSIUNIT(*,.LENGTHUNIT.,{prefix},.METRE.);
#12=IFCSIUNIT(*,.PLANEANGLEUNIT.,$,.RADIAN.);
#20=IFCGEOMETRICREPRESENTATIONCONTEXT($,'Model',3,1.E-05,#21,$);
#21=IFCAXIS2PLACEMENT3D(#22,$,$);
#22=IFCCARTESIANPOINT((0.,0.,0.));
#30=IFCSITE('1BPCQAtTW7GhKrUF$Sytrr',$,'Site',$,$,#31,$,$,.ELEMENT.,{lat},{lon},$,$,$);
#31=IFCLOCALPLACEMENT($,#21);
#32=IFCRELAGGREGATES('2vOmTZNmbvJAJRbSGMMNrC',$,$,$,#1,(#30));
#40=IFCBUILDING('0cVTYHAI3nGeTXA2X4Gxyo',$,'Block',$,$,#41,$,$,.ELEMENT.,$,$,$);
#41=IFCLOCALPLACEMENT(#31,#21);
#42=IFCRELAGGREGATES('1F_GRhxz1GJgGgcJgzjvKX',$,$,$,#30,(#40));
#50=IFCBUILDINGSTOREY('3_fv_WeK63IPclwapZa9MD',$,'Ground',$,$,#51,$,$,.ELEMENT.,0.);
#51=IFCLOCALPLACEMENT(#41,#21);
#52=IFCRELAGGREGATES('3INy2PAPGPJ8Dpwhrq610o',$,$,$,#40,(#50));
#60=IFCBUILDINGELEMENTPROXY('0rBru4syGxGOZb$M8kVJuS',$,'Box',$,$,#61,#70,$,$);
#61=IFCLOCALPLACEMENT(#51,#21);
#62=IFCRELCONTAINEDINSPATIALSTRUCTURE('2lLFgu3KhSGw4jMC3$Ak50',$,$,$,(#60),#50);
#70=IFCPRODUCTDEFINITIONSHAPE($,$,(#71));
#71=IFCSHAPEREPRESENTATION(#20,'Body','SweptSolid',(#72));
#72=IFCEXTRUDEDAREASOLID(#73,#76,#79,{height});
#73=IFCRECTANGLEPROFILEDEF(.AREA.,$,#74,{length},{width});
#74=IFCAXIS2PLACEMENT2D(#75,$);
#75=IFCCARTESIANPOINT(({cx},{cy}));
#76=IFCAXIS2PLACEMENT3D(#22,$,$);
#79=IFCDIRECTION((0.,0.,1.));
"""


def _box_ifc(path: Path, *, schema="IFC4", mm=False, extra="", lat="$", lon="$") -> Path:
    """A 20 m x 10 m x 6 m box whose local corner is the origin."""
    k = 1000.0 if mm else 1.0
    body = _BODY.format(prefix=".MILLI." if mm else "$", lat=lat, lon=lon,
                        height=6 * k, length=20 * k, width=10 * k, cx=10 * k, cy=5 * k)
    path.write_text(_HEADER.format(schema=schema) + body + extra + "ENDSEC;\nEND-ISO-10303-21;\n")
    return path


def test_map_conversion_with_rotation_and_inverted_scale(tmp_path):
    # millimetres, map in metres, Scale written as 1000 (as in the buildingSMART
    # Gauss-Krueger sample), local X axis at 30 degrees from east
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    extra = (f"#90=IFCPROJECTEDCRS('EPSG:4546',$,$,$,$,$,#91);\n"
             f"#91=IFCSIUNIT(*,.LENGTHUNIT.,$,.METRE.);\n"
             f"#92=IFCMAPCONVERSION(#20,#90,559000.,4520800.,1050.,{c:.12f},{s:.12f},1000.);\n")
    path = _box_ifc(tmp_path / "box.ifc", mm=True, extra=extra)
    store = twin.create_twin(tmp_path / "t.gpkg", "EPSG:4546")
    res = import_file(store, path)
    g = res.report["source"]["georeferencing"]
    assert g["method"] == "IfcMapConversion" and g["scale"] == 1.0
    assert "inverse" in g["notes"][0]
    box = store.get("ifc:0rBru4syGxGOZb$M8kVJuS")
    v = box.mesh.vertices
    # the local corner (20, 10) m lies at origin + R(30 deg) (20, 10)
    expect = (559000 + 20 * c - 10 * s, 4520800 + 20 * s + 10 * c)
    d = np.hypot(v[:, 0] - expect[0], v[:, 1] - expect[1]).min()
    assert d < 1e-3
    assert v[:, 2].min() == pytest.approx(1050.0) and v[:, 2].max() == pytest.approx(1056.0)
    b = _features(store, layers=("buildings",))[0]
    assert b.footprint.area == pytest.approx(200.0, rel=1e-3)
    assert b.attributes["height"] == pytest.approx(6.0)
    store.close()


def test_ifc2x3_epset_map_conversion(tmp_path):
    extra = """#100=IFCPROPERTYSET('3mQV4X_nD8CxQl$mLBTZdF',$,'ePSet_MapConversion',$,(#101,#102,#103,#104,#105));
#101=IFCPROPERTYSINGLEVALUE('Eastings',$,IFCLENGTHMEASURE(500000.),$);
#102=IFCPROPERTYSINGLEVALUE('Northings',$,IFCLENGTHMEASURE(4500000.),$);
#103=IFCPROPERTYSINGLEVALUE('OrthogonalHeight',$,IFCLENGTHMEASURE(12.),$);
#104=IFCPROPERTYSINGLEVALUE('XAxisAbscissa',$,IFCREAL(0.),$);
#105=IFCPROPERTYSINGLEVALUE('XAxisOrdinate',$,IFCREAL(1.),$);
#106=IFCRELDEFINESBYPROPERTIES('30gSlmnv18FAKIJJgnYfPE',$,$,$,(#1),#100);
#110=IFCPROPERTYSET('3gWZG4eW55qw1HrNkf6q74',$,'ePSet_ProjectedCRS',$,(#111));
#111=IFCPROPERTYSINGLEVALUE('Name',$,IFCLABEL('EPSG:32650'),$);
#112=IFCRELDEFINESBYPROPERTIES('2FfEIKCgX47fEriTWgJWZk',$,$,$,(#1),#110);
"""
    body = _box_ifc(tmp_path / "b.ifc", schema="IFC2X3", extra=extra).read_text()
    # IFC2X3 has no PredefinedType-less proxy difference, but IfcBuildingStorey
    # and IfcSite attribute lists are the same for these entities
    (tmp_path / "b.ifc").write_text(body)
    store = twin.create_twin(tmp_path / "t.gpkg", "EPSG:32650")
    res = import_file(store, tmp_path / "b.ifc")
    g = res.report["source"]["georeferencing"]
    assert g["method"].startswith("ePSet_MapConversion") and g["crs"] == "EPSG:32650"
    v = store.get("ifc:0rBru4syGxGOZb$M8kVJuS").mesh.vertices
    # local X points north: local (20, 0) lies 20 m north of the origin
    assert np.hypot(v[:, 0] - 500000, v[:, 1] - 4500020).min() < 1e-6
    assert v[:, 2].min() == pytest.approx(12.0)
    store.close()


def test_user_origin_overrides_and_missing_georeferencing_is_an_error(tmp_path):
    path = _box_ifc(tmp_path / "plain.ifc")
    store = twin.create_twin(tmp_path / "t.gpkg", "EPSG:4546")
    with pytest.raises(ImportFailedError, match="not georeferenced.*--origin"):
        import_file(store, path)
    assert store.info().feature_count == 0
    res = import_file(store, path, options={"origin": (559000.0, 4520800.0, 1050.0),
                                            "rotation": 90.0})
    assert res.report["source"]["georeferencing"]["method"].startswith("user")
    v = store.get("ifc:0rBru4syGxGOZb$M8kVJuS").mesh.vertices
    # rotated by 90 degrees: the 20 m side runs north
    assert v[:, 1].max() - v[:, 1].min() == pytest.approx(20.0)
    assert v[:, 0].max() - v[:, 0].min() == pytest.approx(10.0)
    store.close()


def test_broken_ifc_fails_clearly_and_leaves_the_twin_unchanged(tmp_path, city):
    before = city.info().feature_count
    bad = tmp_path / "broken.ifc"
    bad.write_text("ISO-10303-21;\nHEADER;\nFILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n#1=IFCWALL(;\n")
    with pytest.raises(ImportFailedError, match="broken.ifc"):
        import_file(city, bad)
    cut = tmp_path / "cut.ifc"
    cut.write_bytes(FZK.read_bytes()[:200_000])
    with pytest.raises(ImportFailedError, match="cut.ifc.*incomplete.*END-ISO-10303-21"):
        import_file(city, cut)
    unknown = _box_ifc(tmp_path / "odd.ifc", schema="IFC9")
    with pytest.raises(ImportFailedError, match="IFC9"):
        import_file(city, unknown)
    assert city.info().feature_count == before


def test_cli_import_prints_the_summary(tmp_path):
    from twin_cli.main import cli

    path = _box_ifc(tmp_path / "box.ifc", lat="(22,32,0,0)", lon="(114,3,0,0)")
    store = twin.create_twin(tmp_path / "t.gpkg", "EPSG:4547")
    store.close()
    out = CliRunner().invoke(cli, ["import", str(path), "--twin", str(tmp_path / "t.gpkg")])
    assert out.exit_code == 0, out.output
    assert "georeferencing: IfcSite RefLatitude/RefLongitude" in out.output
    assert "IfcBuildingElementProxy 1" in out.output
    assert "geometry: 1 of 1 elements" in out.output


def test_crash_reason_names_the_signal_or_the_exception_not_other_output():
    noise = "Warning: IfcRelDefinesByProperties #812 has no RelatingPropertyDefinition\n"
    assert crash_reason(-11, noise) == "killed by SIGSEGV (segmentation fault)"
    assert crash_reason(-6, noise) == "killed by SIGABRT (aborted)"
    tb = (noise + "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
          "RuntimeError: out of shapes\n")
    assert crash_reason(1, tb) == "RuntimeError: out of shapes"
    assert crash_reason(3, noise) == "ended early with exit code 3"


def test_reimport_is_refused_before_the_geometry_kernels_run(tmp_path, monkeypatch):
    import converters.ifc as ifc_mod

    path = _box_ifc(tmp_path / "box.ifc", lat="(22,32,0,0)", lon="(114,3,0,0)")
    store = twin.create_twin(tmp_path / "t.gpkg", "EPSG:4547")
    import_file(store, path)
    calls = []
    real = ifc_mod.element_meshes
    monkeypatch.setattr(ifc_mod, "element_meshes",
                        lambda *a, **kw: calls.append(a) or real(*a, **kw))
    with pytest.raises(ImportFailedError, match="box.ifc: 4 of its 4 elements are in the twin "
                       "already.*--replace"):
        import_file(store, path)
    assert calls == []  # refused before any geometry was built
    assert [b.status for b in store.batches()] == ["complete"]
    res = import_file(store, path, on_conflict="replace")
    assert len(calls) == 1 and res.report["replaced"] == 4
    store.close()


def test_lod1_block_is_not_as_tall_as_a_chimney_nor_as_wide_as_its_terrace(tmp_path,
                                                                           monkeypatch):
    """A 20 m x 10 m block with a flat roof at 6 m, a chimney to 12 m and a
    10 m x 10 m terrace slab beside it at ground level: the LoD1 block is the
    20 m x 10 m block, 6 m high; the chimney is the building's highest point."""
    from ifc_models import Box, build_model

    path = build_model(tmp_path / "chimney.ifc", monkeypatch, latlon=(22.54, 114.06),
                       boxes=(Box("IfcSlab", (0.0, 0.0, 0.0), (20.0, 10.0, 0.3)),
                              Box("IfcWall", (0.0, 0.0, 0.3), (20.0, 10.0, 5.7)),
                              Box("IfcBuildingElementProxy", (2.0, 2.0, 6.0), (0.6, 0.6, 6.0),
                                  name="chimney"),
                              Box("IfcSlab", (20.0, 0.0, -0.2), (10.0, 10.0, 0.2),
                                  name="terrace")))
    store = twin.create_twin(tmp_path / "t.gpkg", "EPSG:4547")
    import_file(store, path)
    b = _features(store, layers=("buildings",), with_meshes=True)[0]
    z = b.meshes["1"].vertices[:, 2]
    assert (z.min(), z.max()) == pytest.approx((-0.2, 6.0), abs=1e-6)  # the terrace's underside
    assert b.attributes["top_m"] == pytest.approx(6.0, abs=1e-6)
    assert b.attributes["roof_max_m"] == pytest.approx(12.0, abs=1e-6)
    assert b.attributes["height"] == pytest.approx(12.0, abs=1e-6)
    assert b.footprint.area == pytest.approx(200.0, rel=1e-3)
    store.close()


@pytest.mark.parametrize("path", [FZK, DUPLEX], ids=["ifc4", "ifc2x3"])
def test_property_sets_read_once_are_ifcopenshells_own(path):
    """The shared cache of property sets gives every product what
    ifcopenshell's ``get_psets`` gives it (type sets under the element's), as
    plain values and without the sets' ids, in the same order."""
    import ifcopenshell.util.element as ue

    from converters.ifc_semantics import _plain, property_sets

    model = ifcopenshell.open(str(path))
    cache: dict = {}
    products = model.by_type("IfcProduct")
    for p in products:
        theirs = {name: {k: _plain(v) for k, v in props.items() if k != "id"}
                  for name, props in ue.get_psets(p).items()}
        ours = property_sets(p, ue.get_type(p), cache)
        assert ours == theirs, p
        assert [list(v) for v in ours.values()] == [list(v) for v in theirs.values()], p
        assert list(ours) == list(theirs), p
    assert cache
