"""CityJSON export: what the importer accepts, the exporter writes valid.

Every city object type (the conformance corpus's 33, plus an extension
type) with a closed volume, an open surface and a line, imported as the
importer reads them (even where the input breaks the schema's rules) and
exported: jsonschema, the reference validator, checks the output against
the untouched official schemas. The real samples round-trip too: the whole
export passes our validator, a selection of each type the reference one."""

from __future__ import annotations

import collections
import json

import jsonschema
import pytest
from builders import REPO
from referencing import Registry, Resource
from shapely.geometry import LineString

import twin
from converters import import_file
from converters.cityjson import LAYER_BY_TYPE
from converters.cityjson_export import export_cityjson
from converters.cityjson_schema import object_rules, schema_errors

CJ = REPO / "sample_models" / "cityjson"
SCHEMAS = REPO / "converters" / "schemas" / "cityjson" / "2.0.2"


@pytest.fixture(scope="module")
def reference():
    """jsonschema's validators over the official 2.0 schemas: a document,
    and a CityJSONSeq feature line."""
    res = [(f"https://www.cityjson.org/schemas/2.0.2/{f.name}",
            Resource.from_contents(json.loads(f.read_text()))) for f in SCHEMAS.glob("*.json")]
    registry = Registry().with_resources(res)
    return {kind: jsonschema.Draft7Validator(
        json.loads((SCHEMAS / f"{kind}.schema.json").read_text()), registry=registry)
        for kind in ("cityjson", "cityjsonfeature")}


def _errors(validator, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
            for e in validator.iter_errors(doc)]


# a unit cube (faces turned outwards), a roof without a floor, a line
_CUBE = [[[0, 3, 2, 1]], [[4, 5, 6, 7]], [[0, 1, 5, 4]], [[1, 2, 6, 5]], [[2, 3, 7, 6]],
         [[3, 0, 4, 7]]]
_ROOF = [[[4, 5, 8]], [[5, 6, 8]], [[6, 7, 8]], [[7, 4, 8]]]
_CORNERS = [(0, 0, 0), (4, 0, 0), (4, 4, 0), (0, 4, 0), (0, 0, 3), (4, 0, 3), (4, 4, 3),
            (0, 4, 3), (2, 2, 5), (-1, -1, 0), (5, -1, 0)]


def _shifted(b, off):
    return [_shifted(x, off) for x in b] if isinstance(b, list) else b + off


def all_types_document() -> dict:
    """The conformance corpus (one object of every 2.0 type, no geometry)
    plus an extension object, each given an LoD1 Solid with semantic
    surfaces, an LoD2 open MultiSurface and an LoD0 MultiLineString, 10 m
    apart, in millimetre integers."""
    doc = json.loads((CJ / "corpus_cityobject_all_types.city.json").read_text())
    doc["CityObjects"]["+NoiseBarrier"] = {"type": "+NoiseBarrier"}
    verts = []
    for k, obj in enumerate(doc["CityObjects"].values()):
        off = len(verts)
        verts += [[(x + 10 * k) * 1000, y * 1000, z * 1000] for x, y, z in _CORNERS]
        obj["geometry"] = [
            {"type": "Solid", "lod": "1", "boundaries": [_shifted(_CUBE, off)],
             "semantics": {"surfaces": [{"type": "GroundSurface"}, {"type": "RoofSurface"},
                                        {"type": "WallSurface"}],
                           "values": [[0, 1, 2, 2, 2, 2]]}},
            {"type": "MultiSurface", "lod": "2", "boundaries": _shifted(_ROOF, off)},
            {"type": "MultiLineString", "lod": "0", "boundaries": [[off + 9, off + 10]]},
        ]
    doc["vertices"] = verts
    doc["transform"] = {"scale": [0.001] * 3, "translate": [85000.0, 447000.0, 0.0]}
    doc["metadata"] = {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/7415"}
    return doc


def test_every_type_the_importer_accepts_exports_valid_geometry(tmp_path, reference):
    """A TINRelief's mesh becomes the CompositeSurface it must be, a LandUse
    volume a MultiSurface (no Solid), a building's line is left out and
    counted; the document and its CityJSONSeq both pass the reference
    validator, and import back to the same objects and LoDs."""
    doc = all_types_document()
    src = tmp_path / "all_types.city.json"
    src.write_text(json.dumps(doc))
    with twin.create_twin(tmp_path / "a.gpkg", "EPSG:7415") as a:
        res = import_file(a, src)
        assert res.features == 34 and res.skipped == 0
        out = tmp_path / "out.city.json"
        rep = export_cityjson(a, out)
        seq = tmp_path / "out.city.jsonl"
        export_cityjson(a, seq, seq=True)
        before = {f.id: f for f in a.query(twin.Query(with_meshes=True))}
    exported = json.loads(out.read_text())
    assert _errors(reference["cityjson"], exported) == []
    lines = seq.read_text().splitlines()
    assert _errors(reference["cityjson"], json.loads(lines[0])) == []
    for line in lines[1:]:
        assert _errors(reference["cityjsonfeature"], json.loads(line)) == []
    objects = exported["CityObjects"]
    assert {o["type"] for o in objects.values()} == set(LAYER_BY_TYPE) | {"+NoiseBarrier"}
    tin = next(o for o in objects.values() if o["type"] == "TINRelief")
    assert [g["type"] for g in tin["geometry"]] == ["CompositeSurface", "CompositeSurface"]
    land = next(o for o in objects.values() if o["type"] == "LandUse")
    assert [g["type"] for g in land["geometry"]] == ["MultiSurface", "MultiSurface"]
    house = next(o for o in objects.values() if o["type"] == "Building")
    assert [g["type"] for g in house["geometry"]] == ["Solid", "MultiSurface"]
    rules = object_rules("2.0")
    for obj in objects.values():
        allowed = rules["ExtensionObject" if obj["type"].startswith("+") else obj["type"]]
        if allowed.geometry_types is not None:
            assert {g["type"] for g in obj["geometry"]} <= allowed.geometry_types
    # lines stay where the layer holds any geometry (and the type allows lines);
    # on the layers of areas the importer counts them as left out
    with_lines = {o["type"] for o in objects.values()
                  if "MultiLineString" in [g["type"] for g in o["geometry"]]}
    assert with_lines == {"GenericCityObject", "OtherConstruction", "CityObjectGroup",
                          "CityFurniture", "+NoiseBarrier"}
    assert res.report["source"]["geometries_left_out"]["by_reason"] == {
        "points or lines of an object on a layer of areas": 34 - len(with_lines)}
    assert rep["left_out"] == {}
    with twin.create_twin(tmp_path / "b.gpkg", "EPSG:7415") as b:
        back = import_file(b, out)
        assert back.report["source"]["schema"] == "valid"
        after = {f.id: f for f in b.query(twin.Query(with_meshes=True))}
    assert set(after) == set(before)
    for fid, f in before.items():
        g = after[fid]
        assert (g.type, g.layer, g.parent) == (f.type, f.layer, f.parent)
        assert sorted(g.meshes) == sorted(f.meshes) == ["1", "2"]
        for lod, m in f.meshes.items():
            assert g.meshes[lod].n_faces == m.n_faces


def test_a_type_that_cannot_hold_lines_leaves_them_out_and_says_so(tmp_path, reference):
    """A twin feature typed Building with a 3D line (on a layer that holds
    any geometry): CityJSON gives buildings no lines."""
    with twin.create_twin(tmp_path / "a.gpkg", "EPSG:7415") as store:
        with store.import_batch("test", "test", "tests", "1") as batch:
            batch.add([twin.Feature(id="test:wall-line", layer="generic", type="Building",
                                    footprint=LineString([(85000, 447000, 1),
                                                          (85010, 447000, 1)]))])
        rep = export_cityjson(store, tmp_path / "out.city.json")
    doc = json.loads((tmp_path / "out.city.json").read_text())
    assert rep["left_out"] == {"MultiLineString": 1}
    assert "geometry" not in doc["CityObjects"]["test:wall-line"]
    assert _errors(reference["cityjson"], doc) == []


#: a local engineering frame (metres on a plane through 0, 0, no area of use): for
#: the FZK-Haus in its model's own coordinates
LOCAL = "+proj=tmerc +lat_0=0 +lon_0=0 +k=1 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +type=crs"
_CRS = {"paris_tower.city.jsonl": "EPSG:2154", "AC20-FZK-Haus.city.json": LOCAL}
_NO_CRS = {"cjio_multi_lod.json": "EPSG:7415", "cjio_rotterdam_subset.json": "EPSG:7415",
           "AC20-FZK-Haus.city.json": LOCAL, "corpus_cityobject_all_types.city.json": LOCAL}


def _one_of_each_type(store: twin.TwinStore) -> list[str]:
    """The feature of each type with the fewest faces, with its ancestors
    (each LoD and geometry kind of a type, at the least cost to jsonschema)."""
    feats = {f.id: f for f in store.query(twin.Query(with_meshes=True))}
    smallest: dict[str, tuple[int, str]] = {}
    for fid, f in sorted(feats.items()):
        size = (len(f.meshes) == 0, sum(m.n_faces for m in f.meshes.values()))
        if f.type not in smallest or size < smallest[f.type][0]:
            smallest[f.type] = (size, fid)
    ids: set[str] = set()
    for _, fid in smallest.values():
        while fid is not None and fid not in ids:
            ids.add(fid)
            fid = feats[fid].parent if feats[fid].parent in feats else None
    return sorted(ids)


@pytest.mark.parametrize("name", sorted(p.name for p in CJ.iterdir()
                                        if p.name.endswith((".json", ".jsonl"))))
def test_every_sample_round_trips_schema_valid(tmp_path, name, reference):
    """Each CityJSON sample imported and exported: the whole export passes
    our validator and imports back to the same objects; the smallest object
    of each type (with its ancestors) passes the reference validator (all of
    Delft would take it minutes)."""
    with twin.create_twin(tmp_path / "a.gpkg", _CRS.get(name, "EPSG:7415")) as a:
        res = import_file(a, CJ / name, crs=_NO_CRS.get(name))
        out = tmp_path / "out.city.json"
        rep = export_cityjson(a, out)
        part = tmp_path / "part.city.json"
        export_cityjson(a, part, twin.Query(ids=tuple(_one_of_each_type(a))))
        types = collections.Counter(f.type for f in a.query(twin.Query()))
    assert rep["objects"] == res.features and rep["left_out"] == {}
    doc = json.loads(out.read_text())
    assert schema_errors(doc, "2.0") == []
    assert _errors(reference["cityjson"], json.loads(part.read_text())) == []
    with twin.create_twin(tmp_path / "b.gpkg", _CRS.get(name, "EPSG:7415")) as b:
        # a CRS of no authority is not written, so the export is read in the twin's
        back = import_file(b, out, crs=LOCAL if _CRS.get(name) == LOCAL else None)
        assert back.features == res.features and back.skipped == 0
        assert collections.Counter(f.type for f in b.query(twin.Query())) == types


def test_the_exporters_rules_are_the_schemas():
    """What each type may hold comes from the vendored schema itself."""
    rules = object_rules("2.0")
    assert rules["TINRelief"].geometry_types == {"CompositeSurface"}
    assert "Solid" not in rules["LandUse"].geometry_types
    assert rules["BuildingPart"].needs_parent and not rules["Building"].needs_parent
    assert rules["ExtensionObject"].geometry_types is None
    assert set(rules) - {"ExtensionObject"} == set(LAYER_BY_TYPE)
    assert all("type" in r.required for r in rules.values())
