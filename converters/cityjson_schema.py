"""CityJSON schema validation against the official schemas, vendored in
``converters/schemas/cityjson`` (1.1.3 and 2.0.2; 1.0 has none).

Validation is split so that it costs little next to reading the file:

* the **root** is checked with its city objects set aside (the root schema's
  ``CityObjects`` entry becomes a plain ``object`` check);
* each **city object** is checked against the schema of its own type only,
  which is what the root schema's ``oneOf`` over every type amounts to;
* the **bulk arrays** (boundaries, semantic values, appearance values and
  vertices) are cut to valid placeholders (:func:`skeleton`): the converter
  checks them itself with numpy (index ranges, ring sizes, integer types).

Validators are compiled once per version and kind with fastjsonschema, after
two rewrites that keep their meaning (:func:`simplify`): a ``oneOf`` whose
alternatives are constants becomes an ``enum`` (semantic surface types: one
membership test instead of nineteen failed branches, each raising), and the
root's object map is set aside as described above.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

from twin.cache import cache_dir
from twin.errors import ConversionError

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "cityjson"
_SCHEMA_FOLDER = {"1.1": "1.1.3", "2.0": "2.0.2"}


#: Keywords whose value maps names to schemas (the names are no keywords).
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs", "dependencies")


def simplify(node: Any, resolve: Callable[[str], Any] | None = None) -> Any:
    """A schema with the same meaning that fastjsonschema checks faster and
    whose errors name the failing member.

    ``const`` becomes a one-value ``enum`` (the same by definition).
    Two kinds of ``oneOf`` are rewritten too, both only where at most one
    alternative can match (where that does not hold, the ``oneOf`` stays):

    * constants, plus at most one alternative ``{"type": "string",
      "pattern": p}``: an ``enum`` (or ``anyOf`` of the ``enum`` and that
      alternative); the constants must differ and none may match ``p``;
    * references (``resolve`` finds their targets) to object schemas that each
      require a different constant ``type`` (the geometry types): a chain of
      ``if type is c then <that schema>``, ending in an ``enum`` of the
      types; the one alternative that can match is checked, and its own
      error is reported instead of "valid by no definition".
    """
    if isinstance(node, list):
        return [simplify(x, resolve) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: ({name: simplify(v, resolve) for name, v in sub.items()}
               if k in _SCHEMA_MAPS and isinstance(sub, dict) else simplify(sub, resolve))
           for k, sub in node.items()}
    if "const" in out and "enum" not in out:
        # the same by definition; fastjsonschema cannot compile "const" with
        # plain (fast to compile) exceptions
        out["enum"] = [out.pop("const")]
    alts = out.get("oneOf")
    if isinstance(alts, list) and alts:
        replacement = _const_choice(alts)
        if replacement is None and resolve is not None:
            replacement = _typed_choice(alts, resolve)
        if replacement is not None:
            del out["oneOf"]
            out.update(replacement)
    return out


def _const_choice(alts: list) -> dict | None:
    consts = [a["enum"][0] for a in alts if _is_constant(a)]
    others = [a for a in alts if not _is_constant(a)]
    keys = [json.dumps(c, sort_keys=True) for c in consts]
    if not consts or len(set(keys)) != len(keys) or len(others) > 1:
        return None
    if not others:
        return {"enum": consts}
    o = others[0]
    if not (set(o) == {"type", "pattern"} and o["type"] == "string"):
        return None
    if any(isinstance(c, str) and re.search(o["pattern"], c) for c in consts):
        return None
    return {"anyOf": [{"enum": consts}, o]}


def _is_constant(a: Any) -> bool:
    """A schema of one value (``const`` is written as a one-value ``enum`` by
    the time its parent is simplified)."""
    return isinstance(a, dict) and set(a) == {"enum"} and len(a["enum"]) == 1


def _typed_choice(alts: list, resolve: Callable[[str], Any]) -> dict | None:
    types = []
    for a in alts:
        if not (isinstance(a, dict) and set(a) == {"$ref"}):
            return None
        target = resolve(a["$ref"])
        if not isinstance(target, dict) or "type" not in target.get("required", ()):
            return None
        rule = (target.get("properties") or {}).get("type", {})
        one = rule.get("const") if isinstance(rule, dict) else None
        if one is None and isinstance(rule, dict) and isinstance(rule.get("enum"), list) \
                and len(rule["enum"]) == 1:  # 1.1 writes a constant as a one-value enum
            one = rule["enum"][0]
        if not isinstance(one, str):
            return None
        types.append(one)
    if len(set(types)) != len(types):
        return None
    chain: dict = {"required": ["type"], "properties": {"type": {"enum": types}}}
    for a, t in zip(reversed(alts), reversed(types)):
        chain = {"if": {"properties": {"type": {"enum": [t]}}}, "then": a, "else": chain}
    return chain


def load_schema(folder: str, uri: str) -> dict:
    """The vendored schema a ``$ref`` URI names (never fetched from the web),
    simplified (:func:`simplify`)."""
    name = uri.rsplit("/", 1)[-1].split("#")[0]
    return simplify(_raw_schema(folder, name), lambda ref: _resolve(folder, name, ref))


@lru_cache(maxsize=32)
def _raw_schema(folder: str, name: str) -> dict:
    path = SCHEMA_DIR / folder / name
    if not path.is_file():
        raise ConversionError(f"CityJSON schema {name!r} is not vendored in {SCHEMA_DIR}")
    return json.loads(path.read_text(encoding="utf-8"))


def _resolve(folder: str, name: str, ref: str) -> Any:
    """The raw target of a ``$ref`` (``file#/pointer`` or ``#/pointer``) made in
    schema file ``name``; ``None`` for references elsewhere."""
    file, _, pointer = ref.partition("#")
    node: Any = _raw_schema(folder, file.rsplit("/", 1)[-1] if file else name)
    for part in filter(None, pointer.split("/")):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


#: Object types per if/else chain of the objects' validator.
_CHAIN = 6


@lru_cache(maxsize=64)
def validator(version: str, kind: str,
              dispatch: tuple[tuple[str, tuple[str, ...]], ...] = ()):
    """A compiled validator (fastjsonschema, Draft 7) of the vendored schemas;
    ``None`` for versions without a schema (1.0).

    ``kind`` is ``cityjson`` or ``cityjsonfeature`` (the document without its
    city objects), or ``objects``: one city object of the types in
    ``dispatch``, given as ``(schema name, (type, ...))``, each checked
    against its own type's schema (one validator for all of them shares the
    code of the geometry schemas; the first types are tried first)."""
    folder = _SCHEMA_FOLDER.get(version)
    if folder is None:
        return None
    base = f"https://www.cityjson.org/schemas/{folder}/"
    schema: dict[str, Any]
    if kind == "objects":
        chains = []  # if/else chains (Python limits how deep the generated code nests)
        for start in range(0, len(dispatch), _CHAIN):
            chain: dict = {}  # types not listed are not checked here
            for name, names in reversed(dispatch[start:start + _CHAIN]):
                chain = {"if": {"properties": {"type": {"enum": list(names)}}},
                         "then": {"$ref": f"cityobjects.schema.json#/{name}"}, "else": chain}
            chains.append(chain)
        schema = {"$id": base + "objects.schema.json", "allOf": chains}
    else:
        schema = load_schema(folder, f"{kind}.schema.json")
        # city objects are checked one by one against their own type's schema
        schema["properties"]["CityObjects"] = {"type": "object"}
    return _compile(schema, folder)


def _compile(schema: dict, folder: str):
    """A fastjsonschema validator of ``schema``. fastjsonschema generates
    Python code; compiling that code takes most of the time of reading a
    small file, so the compiled code is kept in :func:`cache_dir`, keyed by
    everything it depends on (the schema, the vendored files it refers
    to, this module's rewrites, fastjsonschema's and Python's versions)."""
    import fastjsonschema

    handlers = {"https": lambda uri: load_schema(folder, uri),
                "http": lambda uri: load_schema(folder, uri)}
    # plain exceptions: their message names the place ("data.geometry[0].lod
    # must be one of ..."); detailed ones embed the schema in the generated code
    # for every check, which takes most of the time of generating it
    where = cache_dir()
    if where is None:
        return fastjsonschema.compile(schema, handlers=handlers, detailed_exceptions=False)
    key = hashlib.sha256(json.dumps(
        [fastjsonschema.VERSION, sys.version, folder, _folder_digest(folder), schema],
        sort_keys=True).encode()).hexdigest()[:40]
    path = where / f"cityjson-validator-{key}.marshal"
    code = None
    try:
        code = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        pass
    if not isinstance(code, types.CodeType):
        source = fastjsonschema.compile_to_code(schema, handlers=handlers,
                                                detailed_exceptions=False)
        code = compile(source, f"<CityJSON validator {key}>", "exec")
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            tmp.write_bytes(marshal.dumps(code))
            os.replace(tmp, path)  # whole or not at all, whoever writes at the same time
        except OSError:
            tmp.unlink(missing_ok=True)
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    # the generated module defines the root schema's validator first
    entry = next((f for name, f in namespace.items() if name.startswith("validate_")
                  and isinstance(f, types.FunctionType)), None)
    if entry is None:  # not what this fastjsonschema generates: compile it directly
        return fastjsonschema.compile(schema, handlers=handlers, detailed_exceptions=False)
    return entry


@lru_cache(maxsize=4)
def _folder_digest(folder: str) -> str:
    """What the generated code depends on besides the schema itself: the
    vendored files, and this module (its rewrites)."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    for f in sorted((SCHEMA_DIR / folder).glob("*.json")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _object_schema_name(version: str, otype: str) -> str | None:
    names = _object_schema_names(_SCHEMA_FOLDER[version])
    if otype.startswith("+"):
        return "ExtensionObject" if "ExtensionObject" in names else None
    return otype if otype in names else None


@lru_cache(maxsize=4)
def _object_schema_names(folder: str) -> frozenset[str]:
    doc = json.loads((SCHEMA_DIR / folder / "cityobjects.schema.json").read_text("utf-8"))
    return frozenset(k for k, v in doc.items() if isinstance(v, dict))


_PLACEHOLDER = {  # the smallest valid boundaries / semantic values per geometry type
    "MultiPoint": ([0], None), "MultiLineString": ([[0, 0]], None),
    "MultiSurface": ([[[0, 0, 0]]], [None]), "CompositeSurface": ([[[0, 0, 0]]], [None]),
    "Solid": ([[[[0, 0, 0]]]], [[None]]), "MultiSolid": ([[[[[0, 0, 0]]]]], [[[None]]]),
    "CompositeSolid": ([[[[[0, 0, 0]]]]], [[[None]]]),
}


def skeleton(doc: dict) -> dict:
    """A copy of a document with every geometry's bulk arrays (boundaries,
    semantic and appearance values) and the vertex list cut down to valid
    placeholders: the schema then checks everything else in milliseconds,
    and the converter checks the bulk arrays itself (index ranges, ring
    sizes, integer types) with numpy. The texture vertices are cut to one
    too (:func:`texture_vertices_error` checks them all)."""
    out = dict(doc)
    if isinstance(doc.get("vertices"), list):
        out["vertices"] = doc["vertices"][:1]
    app = doc.get("appearance")
    if isinstance(app, dict) and isinstance(app.get("vertices-texture"), list):
        out["appearance"] = {**app, "vertices-texture": app["vertices-texture"][:1]}
    objs = doc.get("CityObjects")
    if isinstance(objs, dict):
        seen: set = set()
        out["CityObjects"] = {oid: _object_skeleton(obj, seen) for oid, obj in objs.items()}
    return out


def _object_skeleton(obj: Any, seen: set | None = None) -> Any:
    """One city object cut down as :func:`skeleton` says. With ``seen`` (the
    semantic surfaces met so far in the file), each distinct surface is
    checked once per file (:func:`_distinct`); without, all of them are."""
    if not (isinstance(obj, dict) and isinstance(obj.get("geometry"), list)):
        return obj
    obj = dict(obj)
    geoms = []
    for g in obj["geometry"]:
        gtype = g.get("type") if isinstance(g, dict) else None
        ph = _PLACEHOLDER.get(gtype) if isinstance(gtype, str) else None
        if ph is not None:
            g = {k: v for k, v in g.items() if k not in ("material", "texture")}
            g["boundaries"] = ph[0]
            if isinstance(g.get("semantics"), dict):
                g["semantics"] = {**g["semantics"], "values": ph[1]}
                surfaces = g["semantics"].get("surfaces")
                if seen is not None and isinstance(surfaces, list):
                    g["semantics"]["surfaces"] = _distinct(
                        surfaces, seen, (repr(obj.get("type")), gtype))
        geoms.append(g)
    obj["geometry"] = geoms
    return obj


def _distinct(surfaces: list, seen: set, context: tuple) -> list:
    """The semantic surfaces not ``seen`` yet in this ``context`` (object and
    geometry type), which are then seen: checking one of equal surfaces
    checks them all, and the semantic values are placeholders, so no index
    refers to the surfaces (an empty list is valid). Surfaces are mostly
    ``{"type": ...}`` alone, keyed by that type; others by their JSON text."""
    out = []
    for s in surfaces:
        key: tuple[Any, ...]
        if isinstance(s, dict) and len(s) == 1 and isinstance(s.get("type"), str):
            key = (context, s["type"])
        else:
            key = (context, "json", json.dumps(s, sort_keys=True, default=repr))
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def schema_errors(doc: dict, version: str, kind: str = "cityjson", limit: int = 20
                  ) -> list[str] | None:
    """Schema errors of a CityJSON document or CityJSONFeature (``None``: no
    schema for this version); the first error of each object is reported, at
    most ``limit`` in all."""
    v = validator(version, kind)
    if v is None:
        return None
    skel = skeleton(doc)
    objects = skel.get("CityObjects")
    out: list[str] = []

    def collect(check, instance, prefix: str, exact=None, required=frozenset()) -> bool:
        error = _first_error(check, instance)
        if error is not None and exact is not None:  # its path in the object as written
            error = _first_error(check, exact()) or error
        if error is not None:  # "data.geometry[0].lod must be ..." or "data must be ..."
            msg = _name_missing(error.message, instance, required)
            msg = msg[5:] if msg.startswith("data.") else "the object" + msg[4:] \
                if msg.startswith("data ") and prefix else msg
            out.append(f"{prefix.rstrip('/')}: {msg[:300]}" if prefix else msg[:300])
        return len(out) < limit

    root_required = frozenset(_raw_schema(_SCHEMA_FOLDER[version], f"{kind}.schema.json")
                              .get("required", ()))
    if not collect(v, skel, "", required=root_required) or not isinstance(objects, dict):
        return out
    texture = texture_vertices_error(doc)
    if texture is not None:
        out.append(texture)
    schema_of: dict[str, str | None] = {}
    counts: dict[str, int] = {}
    for obj in objects.values():
        otype = obj.get("type") if isinstance(obj, dict) else None
        if isinstance(otype, str):
            counts[otype] = counts.get(otype, 0) + 1
    by_schema: dict[str, list[str]] = {}
    for otype in sorted(counts, key=lambda t: (-counts[t], t)):  # most frequent first
        name = schema_of[otype] = _object_schema_name(version, otype)
        if name is not None:
            by_schema.setdefault(name, []).append(otype)
    check = validator(version, "objects", tuple((k, tuple(v)) for k, v in by_schema.items()))
    for oid, obj in objects.items():
        otype = obj.get("type") if isinstance(obj, dict) else None
        name = schema_of[otype] if isinstance(otype, str) else None  # every type is in it
        if name is None:
            out.append(f"CityObjects/{oid}: type {otype!r} is not a CityJSON {version} type "
                       "(extension types start with '+')")
        elif not collect(check, obj, f"CityObjects/{oid}/",
                         lambda oid=oid: _object_skeleton(doc["CityObjects"][oid]),
                         object_rules(version)[name].required):
            break
        if len(out) >= limit:
            break
    return out


def texture_vertices_error(doc: dict) -> str | None:
    """What the schema would say of ``appearance.vertices-texture`` (a list
    of ``[u, v]`` number pairs), checked over the whole list in a few
    C-level passes: ``None`` when it is one."""
    app = doc.get("appearance")
    vt = app.get("vertices-texture") if isinstance(app, dict) else None
    if vt is None:
        return None
    # type() by type(): bool is an int to Python and numpy, but no JSON number
    if not isinstance(vt, list) or set(map(type, vt)) - {list} or set(map(len, vt)) - {2} \
            or set(map(type, chain.from_iterable(vt))) - {int, float}:
        return "appearance.vertices-texture must be a list of [u, v] number pairs"
    return None


def _name_missing(msg: str, instance: Any, required: frozenset[str]) -> str:
    """A "must contain" message (plain fastjsonschema exceptions leave out
    what is missing) completed with the members missing, where the failing
    object is the one checked (its ``required`` known), else in words."""
    if not msg.endswith("must contain "):
        return msg
    missing = sorted(required - set(instance)) if isinstance(instance, dict) else []
    if msg.startswith("data must contain") and missing:
        return f"{msg}{', '.join(repr(k) for k in missing)} (required)"
    return f"{msg}every member its schema requires"


def _first_error(check, instance):
    import fastjsonschema

    try:
        check(instance)
    except fastjsonschema.JsonSchemaException as err:
        return err
    return None


@dataclass(frozen=True)
class ObjectRule:
    """What the schema of one city object type allows."""

    #: the geometry types its ``geometry`` may hold (``None``: any)
    geometry_types: frozenset[str] | None
    #: whether it must name a parent (a part or an element of another object)
    needs_parent: bool
    #: the members it must have
    required: frozenset[str] = frozenset()


@lru_cache(maxsize=4)
def object_rules(version: str = "2.0") -> dict[str, ObjectRule]:
    """Per city object type of ``version``, what its schema allows
    (:class:`ObjectRule`), read from the vendored ``cityobjects.schema.json``:
    every ``allOf`` part and ``$ref`` of a type applies, so the geometry
    types it may hold are those all of its parts allow. ``ExtensionObject``
    stands for the extension types (``+Name``)."""
    folder = _SCHEMA_FOLDER[version]
    doc = json.loads((SCHEMA_DIR / folder / "cityobjects.schema.json").read_text("utf-8"))
    return {name: _rule(doc, node) for name, node in doc.items()
            if isinstance(node, dict) and not name.startswith("_")}


def _rule(doc: dict, node: Any) -> ObjectRule:
    allowed: frozenset[str] | None = None
    required: set[str] = set()
    for part in _parts(doc, node):
        required.update(part.get("required") or ())
        geom = (part.get("properties") or {}).get("geometry")
        items = geom.get("items") if isinstance(geom, dict) else None
        if not isinstance(items, dict):
            continue
        refs = items.get("oneOf") or items.get("anyOf") or [items]
        names = frozenset(r["$ref"].rsplit("/", 1)[-1] for r in refs
                          if isinstance(r, dict) and "$ref" in r)
        allowed = names if allowed is None else allowed & names
    return ObjectRule(allowed, "parents" in required, frozenset(required))


def _parts(doc: dict, node: Any) -> list[dict]:
    """A type's schema and every schema it includes (``allOf``, local ``$ref``)."""
    if not isinstance(node, dict):
        return []
    out = [node]
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        out += _parts(doc, doc.get(ref[2:]))
    for sub in node.get("allOf") or ():
        out += _parts(doc, sub)
    return out
