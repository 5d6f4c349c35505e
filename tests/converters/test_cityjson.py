"""CityJSON 1.0/1.1/2.0 and CityJSONSeq import, validation and export, on the
real sample files; expected values are computed from the files themselves
with plain json, independently of the converter."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from builders import REPO, dump_twin, small_city
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from referencing import Registry, Resource

import twin
from converters import import_file
from converters.cityjson import LAYER_BY_TYPE
from converters.cityjson_export import export_cityjson
from twin.errors import ConversionError, ImportFailedError

CJ = REPO / "sample_models" / "cityjson"
MULTI_LOD_TEXT = (CJ / "cjio_multi_lod.json").read_text()
SCHEMAS = REPO / "converters" / "schemas" / "cityjson" / "2.0.2"


def _twin(tmp_path, crs="EPSG:7415", name="city.gpkg"):
    return twin.create_twin(tmp_path / name, crs)


def _types(path: Path) -> collections.Counter:
    if path.suffix == ".jsonl":
        c = collections.Counter()
        for line in path.read_text().splitlines()[1:]:
            c.update(o["type"] for o in json.loads(line)["CityObjects"].values())
        return c
    return collections.Counter(o["type"] for o in json.loads(path.read_text())["CityObjects"]
                               .values())


def _reference_validator():
    """The reference implementation (jsonschema) over the official 2.0 schemas."""
    res = [(f"https://www.cityjson.org/schemas/2.0.2/{f.name}",
            Resource.from_contents(json.loads(f.read_text()))) for f in SCHEMAS.glob("*.json")]
    main = json.loads((SCHEMAS / "cityjson.schema.json").read_text())
    return jsonschema.Draft7Validator(main, registry=Registry().with_resources(res))


def test_delft_every_object_lands_on_the_layer_of_its_type(tmp_path):
    with _twin(tmp_path) as store:
        res = import_file(store, CJ / "cjio_delft.json")
        expected = _types(CJ / "cjio_delft.json")
        assert res.features == sum(expected.values()) == 570 and res.skipped == 0
        assert res.report["source"]["objects_by_type"] == dict(sorted(expected.items()))
        assert res.report["source"]["crs_from"] == "metadata.referenceSystem"
        assert res.report["source"]["schema"] == "valid"
        for ctype, n in expected.items():
            assert store.count(twin.Query(types=(ctype,), layers=(LAYER_BY_TYPE[ctype],))) == n
        doc = json.loads((CJ / "cjio_delft.json").read_text())
        oid = next(k for k, o in doc["CityObjects"].items() if o["type"] == "Building")
        b = store.get(f"cityjson:{oid}")
        assert b.layer == "buildings" and b.footprint.geom_type in ("Polygon", "MultiPolygon")
        assert b.mesh.n_faces > 0 and b.lod == "1"


def test_vertices_are_dequantised_exactly(tmp_path):
    doc = json.loads((CJ / "cjio_delft.json").read_text())
    oid, obj = next((k, o) for k, o in doc["CityObjects"].items() if o["type"] == "Building")
    first = obj["geometry"][0]["boundaries"][0][0][0][0]
    xyz = np.array(doc["vertices"][first]) * doc["transform"]["scale"] \
        + doc["transform"]["translate"]
    with _twin(tmp_path) as store:
        import_file(store, CJ / "cjio_delft.json")
        v = store.get(f"cityjson:{oid}").mesh.vertices
    # meshes are stored as float32 offsets from their own origin: micrometres
    assert np.min(np.linalg.norm(v - xyz, axis=1)) < 1e-5


def _newell_area(pts: np.ndarray) -> float:
    q = np.roll(pts, -1, axis=0)
    n = np.array([np.sum((pts[:, 1] - q[:, 1]) * (pts[:, 2] + q[:, 2])),
                  np.sum((pts[:, 2] - q[:, 2]) * (pts[:, 0] + q[:, 0])),
                  np.sum((pts[:, 0] - q[:, 0]) * (pts[:, 1] + q[:, 1]))])
    return float(np.linalg.norm(n)) / 2


def test_semantic_surfaces_keep_their_area(tmp_path):
    """Area per semantic surface type: triangles of the twin mesh against the
    file's polygons (Newell area, holes subtracted)."""
    doc = json.loads((CJ / "cjio_rotterdam_subset.json").read_text())
    V = np.array(doc["vertices"], float) * doc["transform"]["scale"]
    with _twin(tmp_path, "EPSG:28992") as store:
        res = import_file(store, CJ / "cjio_rotterdam_subset.json", crs="EPSG:28992")
        assert res.report["source"]["appearance_not_imported"]["textures"] == 74
        for oid, obj in doc["CityObjects"].items():
            g = obj["geometry"][0]
            sem = g["semantics"]
            expected = collections.defaultdict(float)
            for poly, val in zip(g["boundaries"], sem["values"]):
                if len({tuple(V[i]) for i in poly[0]}) < 3:
                    continue  # degenerate rings are skipped (and counted) by the converter
                area = _newell_area(V[poly[0]]) - sum(_newell_area(V[r]) for r in poly[1:])
                expected[sem["surfaces"][val]["type"] if val is not None else None] += area
            mesh = store.get(f"cityjson:{oid}").mesh
            tri = mesh.vertices[mesh.faces]
            areas = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]),
                                   axis=1) / 2
            got = collections.defaultdict(float)
            for lab, a in zip(mesh.face_labels, areas):
                got[mesh.labels[lab] if lab >= 0 else None] += a
            for k in expected:
                # slightly warped roofs (under the 1 cm planarity tolerance) differ by < 1e-4
                assert got[k] == pytest.approx(expected[k], rel=1e-4, abs=1e-6), (oid, k)


def test_every_lod_is_kept_and_the_highest_shown(tmp_path):
    with _twin(tmp_path) as store:
        import_file(store, CJ / "cjio_multi_lod.json", crs="EPSG:7415")
        for b in store.query(twin.Query(layers=("buildings",), with_meshes=True)):
            assert sorted(b.meshes) == ["1.2", "1.3", "2.2"] and b.lod == "2.2"
            assert b.meshes["2.2"].n_faces >= b.meshes["1.2"].n_faces


def test_cityjsonseq_gives_the_same_features_as_the_document(tmp_path):
    with _twin(tmp_path, name="a.gpkg") as a, _twin(tmp_path, name="b.gpkg") as b:
        import_file(a, CJ / "cjseq_3dbag_b2.city.json")
        res = import_file(b, CJ / "cjseq_3dbag_b2.city.jsonl")
        assert res.converter == "cityjsonseq"
        fa = {f.id: f for f in a.query(twin.Query(with_meshes=True))}
        fb = {f.id: f for f in b.query(twin.Query(with_meshes=True))}
        assert set(fa) == set(fb) and len(fa) == 4
        for k in fa:
            assert fa[k].parent == fb[k].parent and fa[k].type == fb[k].type
            assert dict(fa[k].attributes) == dict(fb[k].attributes)
            np.testing.assert_allclose(fa[k].bbox, fb[k].bbox, atol=1e-9)
        parts = [f for f in fa.values() if f.type == "BuildingPart"]
        assert parts and all(p.parent in fa for p in parts)
        # a parent without geometry of its own takes its parts' extent
        parent = fa[parts[0].parent]
        assert parent.footprint is not None and not parent.meshes


@pytest.mark.parametrize("chunk", [1, 3, 2000])
@pytest.mark.parametrize("parents_last", [False, True])
def test_chunks_and_object_order_give_the_same_features(tmp_path, monkeypatch, chunk,
                                                          parents_last):
    """Objects are converted in chunks; a parent without geometry waits for
    its parts, whichever comes first in the file and whatever chunk they
    fall in: the result is the same as converting everything at once."""
    from converters import cityjson

    doc = json.loads((CJ / "cjseq_3dbag_b2.city.json").read_text())
    objs = doc["CityObjects"]
    order = sorted(objs, key=lambda k: (objs[k]["type"] == "Building") == parents_last)
    doc["CityObjects"] = {k: objs[k] for k in order}
    path = tmp_path / "ordered.city.json"
    path.write_text(json.dumps(doc))
    with _twin(tmp_path, name="ref.gpkg") as ref:
        import_file(ref, CJ / "cjseq_3dbag_b2.city.json")
        expected = {f.id: f for f in ref.query(twin.Query(with_meshes=True))}
    monkeypatch.setattr(cityjson, "CHUNK_OBJECTS", chunk)
    with _twin(tmp_path, name="chunked.gpkg") as store:
        import_file(store, path)
        got = {f.id: f for f in store.query(twin.Query(with_meshes=True))}
    assert set(got) == set(expected)
    for k, f in got.items():
        e = expected[k]
        assert f.parent == e.parent and set(f.meshes) == set(e.meshes)
        assert f.footprint.symmetric_difference(e.footprint).area < 1e-6
        np.testing.assert_allclose(f.bbox, e.bbox, atol=1e-9)
        for lod, m in f.meshes.items():
            assert m.n_faces == e.meshes[lod].n_faces
    parents = [f for f in got.values() if f.type == "Building"]
    assert parents and all(not p.meshes and p.footprint is not None for p in parents)


def test_holes_are_respected(tmp_path):
    with _twin(tmp_path, "EPSG:2154") as store:
        res = import_file(store, CJ / "paris_tower.city.jsonl")
        assert res.report["source"]["triangulation"]["holes"] == 3
        # the tower's part has a vertex at z = -2,147,483 m (an integer overflow
        # in the file): the import check skips it with its reason
        assert res.features == 1 and res.skipped == 1
        assert res.report["skipped"][0]["source_id"] == "cityjson:1-0"
        assert "heights -2.14748e+06" in res.report["skipped"][0]["reason"]


def test_extensions_and_their_attributes_are_kept(tmp_path):
    with _twin(tmp_path) as store:
        res = import_file(store, CJ / "cjdb_3dbag_extension.city.jsonl")
        src = res.report["source"]
        assert src["extensions"] == ["Noise", "Solar_Potential"]
        assert res.features == sum(_types(CJ / "cjdb_3dbag_extension.city.jsonl").values())
        f = store.get("cityjson:NL.IMBAG.Pand.0503100000000033-0", meshes=False)
        assert f.attributes["+noise-buildingHabitants"] == 4
        # the file writes LoDs as numbers, which CityJSON 1.1 forbids: reported, imported
        assert any("geometry" in e for e in src["schema"])
        # its header is checked too: 1.1 wants a URL for the CRS, not this URN
        assert src["schema"][-1].startswith("line 1 (header): metadata.referenceSystem")


def test_cityjson_1_0_with_urn_crs(tmp_path):
    with _twin(tmp_path) as store:
        res = import_file(store, CJ / "threejs_3db_sub_v1.0.json")
        src = res.report["source"]
        assert src["cityjson_version"] == "1.0" and "no schema" in src["schema"]
        assert res.features == sum(_types(CJ / "threejs_3db_sub_v1.0.json").values()) == 98


def test_all_city_object_types(tmp_path):
    with _twin(tmp_path) as store:
        res = import_file(store, CJ / "corpus_cityobject_all_types.city.json",
                          crs="EPSG:7415")
        assert res.features == 33 and res.report["source"]["objects_without_geometry"] == 33
        layers = {f.type: f.layer for f in store.query(twin.Query())}
        assert layers["TINRelief"] == "terrain" and layers["Tunnel"] == "tunnels"
        assert layers["BuildingStorey"] == "building_elements"
        assert layers["SolitaryVegetationObject"] == "vegetation"
        assert layers["CityObjectGroup"] == "generic"


def test_bad_files_fail_clearly_and_change_nothing(tmp_path):
    with _twin(tmp_path) as store:
        import_file(store, CJ / "cjio_multi_lod.json", crs="EPSG:7415")
        before = dump_twin(store.path)
        broken = tmp_path / "broken.city.json"
        broken.write_text('{"type": "CityJSON", "version": "2.0", "CityObjects": {')
        with pytest.raises(ImportFailedError, match="broken.city.json.*not valid JSON"):
            import_file(store, broken)
        nocrs = tmp_path / "nocrs.city.json"
        nocrs.write_text((CJ / "cjio_multi_lod.json").read_text())
        with pytest.raises(ImportFailedError, match="no CRS.*--crs"):
            import_file(store, nocrs)
        future = tmp_path / "future.city.json"
        future.write_text('{"type": "CityJSON", "version": "3.0", "CityObjects": {}, '
                          '"vertices": []}')
        with pytest.raises(ImportFailedError, match="version '3.0'"):
            import_file(store, future)
        assert dump_twin(store.path) == before


@pytest.mark.parametrize("damage, reason", [
    (lambda g: g["boundaries"][0][0][0].__setitem__(0, 10**6), "out of range"),
    (lambda g: g["boundaries"][0][0].__setitem__(0, "7"), "vertex index is not an integer"),
    (lambda g: g["boundaries"][0].__setitem__(0, 12), "not nested as a Solid needs"),
    (lambda g: g["semantics"]["values"][0].__setitem__(0, 9), "semantic value 9 points to no"),
    (lambda g: g["semantics"]["values"][0].__setitem__(0, "wall"), "semantic value is not an"),
    (lambda g: g.__setitem__("boundaries", None), "not nested as a Solid needs"),
    (lambda g: g.__setitem__("semantics", ["RoofSurface"]), "semantics are a list"),
    (lambda g: g["semantics"]["surfaces"].__setitem__(0, "RoofSurface"),
     "semantics.surfaces[0] is a text"),
    (lambda g: g.update(type="GeometryInstance", template=0), "no geometry-templates"),
    (lambda g: g.update(type="MultiLineString", boundaries=[[0, 1], [2]]),
     "line 1 has 1 vertex"),
])
def test_an_unreadable_geometry_skips_only_its_object(tmp_path, damage, reason):
    """Files nested as CityJSON does not say (however Python and numpy fail
    on them) skip the object with a reason that says where and what."""
    doc = json.loads((CJ / "cjio_multi_lod.json").read_text())
    victim = next(iter(doc["CityObjects"]))
    geom = doc["CityObjects"][victim]["geometry"][2]  # the LoD 2.2 Solid, with semantics
    assert geom["type"] == "Solid" and "semantics" in geom
    damage(geom)
    path = tmp_path / "damaged.city.json"
    path.write_text(json.dumps(doc))
    with _twin(tmp_path) as store:
        res = import_file(store, path, crs="EPSG:7415")
    assert res.features == 9 and res.skipped == 1
    (skip,) = res.report["skipped"]
    assert skip["source_id"] == victim and reason in skip["reason"]
    assert skip["reason"].startswith("geometry cannot be read")


@pytest.mark.parametrize("seq", [False, True], ids=["cityjson", "cityjsonseq"])
def test_round_trip_import_export_import(tmp_path, seq):
    with _twin(tmp_path, name="a.gpkg") as a:
        import_file(a, CJ / "cjio_delft.json")
        out = tmp_path / ("out.city.jsonl" if seq else "out.city.json")
        rep = export_cityjson(a, out, seq=seq)
        assert rep["objects"] == 570
        with _twin(tmp_path, name="b.gpkg") as b:
            res = import_file(b, out)
            assert res.report["source"]["schema"] == "valid"
            fa = {f.id: f for f in a.query(twin.Query(with_meshes=True))}
            fb = {f.id: f for f in b.query(twin.Query(with_meshes=True))}
    assert set(fa) == set(fb)
    for k, f in fa.items():
        g = fb[k]
        assert (g.type, g.layer, g.parent) == (f.type, f.layer, f.parent)
        assert dict(g.attributes) == dict(f.attributes)
        assert sorted(g.meshes) == sorted(f.meshes)
        for lod, m in f.meshes.items():
            n = g.meshes[lod]
            assert n.n_faces == m.n_faces
            # same triangles within the millimetre transform
            np.testing.assert_allclose(n.vertices[n.faces], m.vertices[m.faces], atol=6e-4)


def test_twin_features_round_trip_with_layers_and_topology(tmp_path):
    with twin.create_twin(tmp_path / "a.gpkg", "EPSG:4546") as a:
        with a.import_batch("small_city", "test", "tests", "1") as batch:
            batch.add(small_city())
        export_cityjson(a, tmp_path / "x.city.json")
        with twin.create_twin(tmp_path / "b.gpkg", "EPSG:4546") as b:
            import_file(b, tmp_path / "x.city.json")
            p = b.get("cityjson:test:P1")
            assert p.layer == "heating" and p.type == "PipeSegment"
            assert p.edge == twin.Edge("RL", "test:RL1", "test:RL2")
            assert p.footprint.geom_type == "LineString" and p.footprint.has_z
            assert list(p.footprint.coords) == list(a.get("test:P1").footprint.coords)
            v = b.get("cityjson:test:V1")
            assert v.layer == "pipe_nodes" and v.type == "Valve"
            b1 = b.get("cityjson:test:B1")
            assert b1.attributes["storeys"] == 6 and b1.mesh.label_counts() == \
                a.get("test:B1").mesh.label_counts()
            assert b.get("cityjson:test:B1-S1").parent == "cityjson:test:B1"


def test_exports_pass_the_reference_schema_validator(tmp_path):
    """Checked with jsonschema, the reference implementation, over every array
    (the converter's own check leaves the bulk arrays to numpy)."""
    validator = _reference_validator()
    with _twin(tmp_path) as store:
        import_file(store, CJ / "cjio_multi_lod.json", crs="EPSG:7415")
        import_file(store, CJ / "cjseq_3dbag_b2.city.json")
        export_cityjson(store, tmp_path / "a.city.json")
    with twin.create_twin(tmp_path / "s.gpkg", "EPSG:4546") as store:
        with store.import_batch("small_city", "test", "tests", "1") as batch:
            batch.add(small_city())
        export_cityjson(store, tmp_path / "b.city.json")
    for name in ("a.city.json", "b.city.json"):
        doc = json.loads((tmp_path / name).read_text())
        assert [e.message for e in validator.iter_errors(doc)] == []


def _convert(path: Path, crs: str = "EPSG:7415", **options) -> tuple[list, dict, list]:
    """The converter alone (no store): features, report and skipped."""
    from converters.base import ConversionContext
    from converters.registry import converter_for
    from twin.crs import parse_crs

    skipped: list = []
    ctx = ConversionContext(twin_crs=parse_crs(crs), source=path, source_crs=parse_crs(crs),
                            options=options,
                            skip=lambda sid, why: skipped.append((sid, why)))
    feats = list(converter_for(path, None).run(ctx))
    return feats, ctx.report, skipped


def test_a_bug_in_the_reader_is_no_bad_file(tmp_path, monkeypatch):
    """An error of our own code while reading a well-formed file propagates
    as the bug it is, instead of skipping objects as 'badly nested'."""
    from converters import cityjson_geometry

    def broken(*args):
        raise AttributeError("'NoneType' object has no attribute 'foo'")

    monkeypatch.setattr(cityjson_geometry, "_gather", broken)
    with pytest.raises(AttributeError, match="no attribute 'foo'"):
        _convert(CJ / "cjio_multi_lod.json")


def _area(mesh) -> float:
    t = mesh.vertices[mesh.faces]
    return float(np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1).sum()
                 / 2)


@pytest.mark.parametrize("solid_first", [False, True])
def test_two_geometries_of_one_lod_keep_the_one_with_semantics(tmp_path, solid_first):
    """Rotterdam's LoD2 MultiSurfaces with semantics, each object given the
    same faces again as a Solid without semantics (before or after it): one
    is kept, not both (every area would double), and the report says which
    were left out."""
    doc = json.loads((CJ / "cjio_rotterdam_subset.json").read_text())
    for obj in doc["CityObjects"].values():
        ms = obj["geometry"][0]
        solid = {"type": "Solid", "lod": ms["lod"], "boundaries": [ms["boundaries"]]}
        obj["geometry"].insert(0 if solid_first else 1, solid)
    path = tmp_path / "twice.city.json"
    path.write_text(json.dumps(doc))
    with _twin(tmp_path, "EPSG:28992", "ref.gpkg") as ref:
        import_file(ref, CJ / "cjio_rotterdam_subset.json", crs="EPSG:28992")
        expected = {f.id: f.meshes["2"] for f in ref.query(twin.Query(with_meshes=True))}
    with _twin(tmp_path, "EPSG:28992") as store:
        res = import_file(store, path, crs="EPSG:28992")
        got = {f.id: f.meshes["2"] for f in store.query(twin.Query(with_meshes=True))}
    assert res.features == 16 and res.skipped == 0
    for fid, mesh in got.items():
        assert _area(mesh) == pytest.approx(_area(expected[fid]), rel=1e-9)
        assert mesh.labels == expected[fid].labels and mesh.label_counts()
    left = res.report["source"]["geometries_left_out"]
    assert left["count"] == 16 and left["by_reason"] == {
        "another geometry of the same LoD kept": 16}
    assert f"geometry {0 if solid_first else 1} (Solid, " in left["examples"][0]
    assert "with semantics) kept" in left["examples"][0]
    assert any("16 geometries left out" in n.text and n.level == "warn" for n in res.notes)


def test_without_semantics_the_geometry_with_more_surfaces_is_kept(tmp_path):
    doc = json.loads((CJ / "cjio_multi_lod.json").read_text())
    for obj in doc["CityObjects"].values():
        full = obj["geometry"][2]
        full.pop("semantics")
        partial = {"type": "MultiSurface", "lod": full["lod"],
                   "boundaries": full["boundaries"][0][:-1]}
        obj["geometry"].insert(2, partial)
    path = tmp_path / "partial.city.json"
    path.write_text(json.dumps(doc))
    feats, report, skipped = _convert(path)
    assert not skipped and len(feats) == 10
    for f, obj in zip(feats, doc["CityObjects"].values()):
        assert f.meshes["2.2"].n_faces >= len(obj["geometry"][3]["boundaries"][0])
    assert report["geometries_left_out"]["count"] == 10
    assert "geometry 2 (MultiSurface" in report["geometries_left_out"]["examples"][0]


def test_lines_on_a_layer_of_areas_are_left_out_and_counted(tmp_path):
    """A building's MultiLineString (CityJSON forbids it, the importer reads
    on): the buildings layer holds areas, so the line is counted, not stored
    silently nowhere."""
    doc = json.loads((CJ / "cjio_multi_lod.json").read_text())
    victim = next(iter(doc["CityObjects"].values()))
    victim["geometry"].append({"type": "MultiLineString", "lod": "0",
                               "boundaries": [[0, 1, 2]]})
    path = tmp_path / "lines.city.json"
    path.write_text(json.dumps(doc))
    feats, report, skipped = _convert(path)
    assert len(feats) == 10 and not skipped
    assert report["geometries_left_out"]["by_reason"] == {
        "points or lines of an object on a layer of areas": 1}
    assert feats[0].footprint.geom_type in ("Polygon", "MultiPolygon")


def _without_transform(src: Path, dst: Path) -> dict:
    """``src`` with the transform taken out of its header (first line, or
    the document)."""
    if src.suffix == ".jsonl":
        lines = src.read_text().splitlines()
        header = json.loads(lines[0])
        header.pop("transform")
        dst.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
        return header
    doc = json.loads(src.read_text())
    doc.pop("transform")
    dst.write_text(json.dumps(doc))
    return doc


@pytest.mark.parametrize("name", ["cjseq_3dbag_b2.city.jsonl", "cjdb_3dbag_extension.city.jsonl",
                                  "cjseq_3dbag_b2.city.json"])
def test_a_file_without_its_mandatory_transform_is_refused(tmp_path, name):
    """CityJSON 1.1 and 2.0 vertices are integers scaled by the transform:
    without it the model would be stored 1,000 times too large. The import
    is refused (the twin unchanged) and the schema check says so too."""
    from converters.cityjson_schema import schema_errors

    src = CJ / name
    header = _without_transform(src, tmp_path / name)
    version = header["version"]
    assert any("transform" in e for e in schema_errors(header, version))
    with _twin(tmp_path) as store:
        import_file(store, CJ / "cjseq_3dbag_b2.city.json")
        before = dump_twin(store.path)
        with pytest.raises(ImportFailedError,
                           match=f"{name}: not valid CityJSON {version}: .* no \"transform\""):
            import_file(store, tmp_path / name)
        assert dump_twin(store.path) == before


def test_a_cityjson_1_0_file_may_store_real_coordinates_without_a_transform(tmp_path):
    doc = json.loads((CJ / "threejs_3db_sub_v1.0.json").read_text())
    tr = doc.pop("transform")
    doc["vertices"] = (np.array(doc["vertices"]) * tr["scale"] + tr["translate"]).tolist()
    path = tmp_path / "real.json"
    path.write_text(json.dumps(doc))
    with _twin(tmp_path, name="a.gpkg") as a, _twin(tmp_path, name="b.gpkg") as b:
        import_file(a, CJ / "threejs_3db_sub_v1.0.json")
        import_file(b, path)
        for f in a.query(twin.Query()):
            np.testing.assert_allclose(b.get(f.id, meshes=False).bbox, f.bbox, atol=1e-6)


@pytest.mark.parametrize("transform, what", [
    ({"scale": [0.001, 0.001], "translate": [0, 0, 0]}, "transform.scale"),
    ({"scale": [0.001, 0.001, 0], "translate": [0, 0, 0]}, "above zero"),
    ({"scale": [0.001] * 3, "translate": [0, "x", 0]}, "transform.translate"),
    ({"scale": [0.001] * 3}, "transform.translate"),
    ("1 mm", "transform.scale"),
])
def test_a_broken_transform_is_refused_with_its_name(tmp_path, transform, what):
    doc = json.loads((CJ / "cjseq_3dbag_b2.city.json").read_text())
    doc["transform"] = transform
    path = tmp_path / "bad.city.json"
    path.write_text(json.dumps(doc))
    with _twin(tmp_path) as store, pytest.raises(ImportFailedError, match=what):
        import_file(store, path)


_JUNK = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**70), st.floats(),
                  st.text(max_size=3), st.lists(st.integers(-2, 400), max_size=4),
                  st.dictionaries(st.sampled_from(["type", "values", "surfaces", "boundaries",
                                                   "lod"]), st.integers(0, 3), max_size=2),
                  st.just([[]]), st.just([]), st.just({}))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_damage_to_a_geometry_skips_its_object_or_is_read(tmp_path_factory, data):
    """One value anywhere in an object (its geometries: a Solid, a
    template's instance, lines, points; its parents, attributes) or in the
    file's templates replaced by junk:
    the converter never fails on the object; it is read or skipped with a
    reason, and the other objects are read as they are. Damaged templates
    may refuse the whole file, with a clear error."""
    doc = json.loads(MULTI_LOD_TEXT)
    victim = next(iter(doc["CityObjects"]))
    doc["geometry-templates"] = {
        "templates": [{"type": "MultiSurface", "lod": "2", "boundaries": [[[0, 1, 2]]]}],
        "vertices-templates": [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]}
    doc["CityObjects"][victim]["geometry"] += [
        {"type": "GeometryInstance", "template": 0, "boundaries": [0],
         "transformationMatrix": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]},
        {"type": "MultiLineString", "lod": "0", "boundaries": [[0, 1], [1, 2]]},
        {"type": "MultiPoint", "lod": "0", "boundaries": [0, 1]}]
    start = data.draw(st.sampled_from(["templates", "object", "geometry", "geometry"]))
    in_templates = start == "templates"
    node: Any = doc if in_templates else doc["CityObjects"] if start == "object" else \
        doc["CityObjects"][victim]
    key: Any = {"templates": "geometry-templates", "object": victim}.get(start, "geometry")
    while True:  # walk down to a random place
        child = node[key]
        keys = list(range(len(child))) if isinstance(child, list) else \
            list(child) if isinstance(child, dict) else []
        if not keys or data.draw(st.integers(0, 3)) == 0:
            break
        node, key = child, data.draw(st.sampled_from(keys))
    node[key] = data.draw(_JUNK)
    path = tmp_path_factory.mktemp("fuzz") / "damaged.city.json"
    path.write_text(json.dumps(doc))
    try:
        feats, _report, skipped = _convert(path)
    except ConversionError as exc:
        assert in_templates and "geometry-templates" in str(exc)
        return
    assert len(feats) + len(skipped) == 10
    assert {f.source_id for f in feats} | {s for s, _ in skipped} == set(doc["CityObjects"])
    assert all(s == victim for s, _ in skipped)


def test_what_orjson_refuses_is_read_as_the_standard_parser_reads_it(tmp_path):
    """An integer beyond 64 bits (orjson refuses it) is read by json again:
    the file converts as before; broken JSON keeps json's own message."""
    doc = json.loads(MULTI_LOD_TEXT)
    next(iter(doc["CityObjects"].values()))["attributes"]["+serial"] = 2**70
    text = json.dumps(doc)
    path = tmp_path / "big.city.json"
    path.write_text(text)
    feats, _, skipped = _convert(path)
    assert not skipped and feats[0].attributes["+serial"] == 2**70
    path.write_text(MULTI_LOD_TEXT[:-20])
    with pytest.raises(ConversionError, match=r"not valid JSON: .*line \d+ column \d+"):
        _convert(path)
