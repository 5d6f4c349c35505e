"""Our fast CityJSON validation (split per object, rewritten schemas, compiled
with fastjsonschema) against jsonschema, the reference implementation, over
the untouched official schemas."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from builders import REPO
from referencing import Registry, Resource

from converters.cityjson_schema import schema_errors, simplify

CJ = REPO / "sample_models" / "cityjson"
SCHEMAS = REPO / "converters" / "schemas" / "cityjson" / "2.0.2"


@pytest.fixture(scope="module")
def reference():
    res = [(f"https://www.cityjson.org/schemas/2.0.2/{f.name}",
            Resource.from_contents(json.loads(f.read_text()))) for f in SCHEMAS.glob("*.json")]
    main = json.loads((SCHEMAS / "cityjson.schema.json").read_text())
    return jsonschema.Draft7Validator(main, registry=Registry().with_resources(res))


def _first(doc: dict, otype: str) -> dict:
    return next(o for o in doc["CityObjects"].values() if o["type"] == otype)


def _surfaces(obj: dict) -> list:
    return next(g for g in obj["geometry"] if "semantics" in g)["semantics"]["surfaces"]


MUTATIONS = {
    "untouched": lambda d: None,
    "unknown surface type": lambda d: _surfaces(_first(d, "Building")).append(
        {"type": "Balcony"}),
    "extension surface type": lambda d: _surfaces(_first(d, "Building")).append(
        {"type": "+Balcony"}),
    "surface without a type": lambda d: _surfaces(_first(d, "Building")).append(
        {"parent": 0}),
    "surface type not a string": lambda d: _surfaces(_first(d, "Building")).append(
        {"type": 7}),
    "repeated surfaces, one wrong": lambda d: _surfaces(_first(d, "Building")).extend(
        [{"type": "WallSurface"}, {"type": "WallSurface", "x": 1}, {"type": 3}]),
    "geometry type a Building cannot have": lambda d: _first(d, "Building")["geometry"][0]
        .update(type="MultiPoint"),
    "bad lod": lambda d: _first(d, "Building")["geometry"][0].update(lod="9"),
    "unknown object type": lambda d: _first(d, "Building").update(type="House"),
    "extension object without its extension": lambda d: _first(d, "Road").update(
        type="+Wall"),
    "bad transform": lambda d: d["transform"].update(scale=[1, 1]),
    "no transform": lambda d: d.pop("transform"),
    "texture vertex of three numbers": lambda d: d["appearance"]["vertices-texture"].append(
        [0.1, 0.2, 0.3]),
    "texture vertex a text": lambda d: d["appearance"]["vertices-texture"][5].__setitem__(
        0, "0.5"),
    "texture vertex a boolean": lambda d: d["appearance"]["vertices-texture"][5].__setitem__(
        0, True),
    "part without its parent": lambda d: _first(d, "BuildingPart").pop("parents"),
    "bad version": lambda d: d.update(version="2.7"),
    "object with extra root member": lambda d: _first(d, "LandUse").update(
        parents="nobody"),
}


def _sample() -> dict:
    """Rotterdam's buildings (with semantic surfaces) plus one object of every
    type (the conformance corpus): small enough for the reference validator."""
    doc = json.loads((CJ / "cjio_rotterdam_subset.json").read_text())
    corpus = json.loads((CJ / "corpus_cityobject_all_types.city.json").read_text())
    doc["CityObjects"].update(corpus["CityObjects"])
    return doc


#: mutation -> whether the reference finds the mutated sample invalid (pure-Python
#: jsonschema over the whole sample is slow: each mutation is judged once)
_REFERENCE_SAYS_INVALID: dict[str, bool] = {}


def _reference_says_invalid(reference, name: str) -> bool:
    if name not in _REFERENCE_SAYS_INVALID:
        doc = _sample()
        MUTATIONS[name](doc)
        _REFERENCE_SAYS_INVALID[name] = next(reference.iter_errors(doc), None) is not None
    return _REFERENCE_SAYS_INVALID[name]


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_fast_validation_agrees_with_the_reference(reference, name):
    """Every mutation is judged as the reference judges it: valid or not."""
    doc = _sample()
    MUTATIONS[name](doc)
    ref = next(reference.iter_errors(doc), None)
    _REFERENCE_SAYS_INVALID[name] = ref is not None
    ours = schema_errors(doc, "2.0")
    assert bool(ours) == (ref is not None), (name, ours, ref and ref.message)


def test_a_missing_member_is_named():
    """fastjsonschema's plain messages leave out what is missing; ours name
    it, for the document and for a city object."""
    doc = _sample()
    doc.pop("transform")
    assert schema_errors(doc, "2.0") == ["data must contain 'transform' (required)"]
    doc = _sample()
    oid = next(k for k, o in doc["CityObjects"].items() if o["type"] == "BuildingPart")
    doc["CityObjects"][oid].pop("parents")
    assert schema_errors(doc, "2.0") == [
        f"CityObjects/{oid}: the object must contain 'parents' (required)"]


def test_errors_point_into_the_object_as_written():
    """Repeated surfaces are checked once, but the error names the surface's
    own index in the file."""
    doc = _sample()
    oid, obj = next((k, o) for k, o in doc["CityObjects"].items() if o["type"] == "Building")
    surfaces = _surfaces(obj)
    surfaces.extend([copy.deepcopy(surfaces[0])] * 3 + [{"type": "Balcony"}])
    errs = schema_errors(doc, "2.0")
    assert len(errs) == 1 and errs[0].startswith(f"CityObjects/{oid}: geometry[0]")
    assert f"surfaces[{len(surfaces) - 1}]" in errs[0]


def test_simplify_keeps_a_one_of_that_is_not_exclusive():
    consts = {"oneOf": [{"const": "a"}, {"const": "b"}]}
    assert simplify(consts) == {"enum": ["a", "b"]}
    with_pattern = {"oneOf": [{"const": "a"}, {"type": "string", "pattern": r"\+\w+"}]}
    assert simplify(with_pattern) == {"anyOf": [{"enum": ["a"]}, with_pattern["oneOf"][1]]}
    # "+x" matches the pattern too: exactly one alternative would fail, so keep it
    # (each const becomes the one-value enum it is by definition)
    overlap = {"oneOf": [{"const": "+x"}, {"type": "string", "pattern": r"\+\w+"}]}
    assert simplify(overlap) == {"oneOf": [{"enum": ["+x"]}, overlap["oneOf"][1]]}
    twice = {"oneOf": [{"const": "a"}, {"const": "a"}]}
    assert simplify(twice) == {"oneOf": [{"enum": ["a"]}, {"enum": ["a"]}]}
    mixed = {"oneOf": [{"const": "a"}, {"type": "integer"}]}
    assert simplify(mixed) == {"oneOf": [{"enum": ["a"]}, {"type": "integer"}]}
    # property names are no keywords
    props = {"properties": {"const": {"type": "string"}, "oneOf": {"const": 1}}}
    assert simplify(props) == {"properties": {"const": {"type": "string"},
                                              "oneOf": {"enum": [1]}}}


def test_simplify_dispatches_on_the_type_only_when_types_differ():
    targets = {"#/A": {"properties": {"type": {"const": "A"}}, "required": ["type"]},
               "#/B": {"properties": {"type": {"const": "B"}}, "required": ["type"]},
               "#/B2": {"properties": {"type": {"const": "B"}}, "required": ["type"]},
               "#/C": {"properties": {"type": {"const": "C"}}}}  # type not required
    node = {"oneOf": [{"$ref": "#/A"}, {"$ref": "#/B"}]}
    out = simplify(node, targets.get)
    assert out["if"] == {"properties": {"type": {"enum": ["A"]}}} and out["then"] == {
        "$ref": "#/A"}
    assert out["else"]["then"] == {"$ref": "#/B"}
    assert out["else"]["else"]["properties"]["type"] == {"enum": ["A", "B"]}
    for alts in (["#/A", "#/B", "#/B2"], ["#/A", "#/C"]):
        node = {"oneOf": [{"$ref": r} for r in alts]}
        assert simplify(node, targets.get) == node


def test_compiled_validators_are_kept_between_runs_and_survive_a_broken_cache(
        tmp_path, monkeypatch, reference):
    """A second run loads the compiled validators from the cache and judges
    every mutation as the reference does; a damaged cache file is compiled
    again; an empty TWIN_CACHE_DIR keeps nothing."""
    from converters import cityjson_schema as cs

    monkeypatch.setenv("TWIN_CACHE_DIR", str(tmp_path))
    cs.validator.cache_clear()
    doc = _sample()
    assert schema_errors(doc, "2.0") == []
    files = sorted(tmp_path.glob("cityjson-validator-*.marshal"))
    assert len(files) == 2  # the document's root, and its objects (Building and the rest)
    for f in files[:1]:
        f.write_bytes(b"not marshal data")
    for name in sorted(MUTATIONS):
        cs.validator.cache_clear()  # a new process, as far as validators go
        mutated = _sample()
        MUTATIONS[name](mutated)
        ours = schema_errors(mutated, "2.0")
        assert bool(ours) == _reference_says_invalid(reference, name), name
    assert files[0].read_bytes() != b"not marshal data"
    monkeypatch.setenv("TWIN_CACHE_DIR", "")
    cs.validator.cache_clear()
    assert cs.cache_dir() is None and schema_errors(doc, "2.0") == []
    cs.validator.cache_clear()
