"""Turn FastAPI's OpenAPI 3.1 document into OpenAPI 3.0.3.

OGC API - Features names OpenAPI 3.0 as its API-definition conformance
class, and GIS clients read 3.0. FastAPI writes 3.1, whose differences in
what it emits are few: ``null`` as a type inside ``anyOf``/``oneOf``
(3.0: ``nullable: true``), ``examples`` lists in schemas (3.0: one
``example``), numeric ``exclusiveMinimum``/``exclusiveMaximum`` (3.0: booleans
beside ``minimum``/``maximum``) and ``const``.
"""

from __future__ import annotations

from typing import Any


def _schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _schema(v) for k, v in node.items()}
    # the alternatives were converted first: their {"type": "null"} is {"nullable": True}
    null = ({"type": "null"}, {"nullable": True})
    for key in ("anyOf", "oneOf"):
        alts = out.get(key)
        if isinstance(alts, list) and any(a in null for a in alts):
            rest = [a for a in alts if a not in null]
            out.pop(key)
            if len(rest) == 1:
                merged = dict(rest[0])
                if "$ref" in merged:
                    out.update({"allOf": [merged]})
                else:
                    out.update(merged)
            elif rest:
                out[key] = rest
            out["nullable"] = True
    if "examples" in out and isinstance(out["examples"], list) and "type" in out:
        ex = out.pop("examples")
        if ex:
            out["example"] = ex[0]
    for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = out.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[bound] = value  # 3.0: a boolean flag on the plain bound
            out[key] = True
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if out.get("type") == "null":
        out.pop("type")
        out["nullable"] = True
    return out


def to_openapi30(doc: dict[str, Any]) -> dict[str, Any]:
    """A 3.0.3 copy of a 3.1 document as FastAPI produces it."""
    out = dict(doc)
    out["openapi"] = "3.0.3"
    if "components" in out:
        out["components"] = _schema(out["components"])
    paths = {}
    for path, item in out.get("paths", {}).items():
        new_item = {}
        for method, op in item.items():
            op = dict(op)
            if "parameters" in op:
                op["parameters"] = [{**p, "schema": _schema(p.get("schema", {}))}
                                    for p in op["parameters"]]
            if "requestBody" in op:
                op["requestBody"] = _schema(op["requestBody"])
            if "responses" in op:
                op["responses"] = _schema(op["responses"])
            new_item[method] = op
        paths[path] = new_item
    out["paths"] = paths
    return out


def document_problems(doc: dict[str, Any], everywhere: tuple[int, ...],
                      problem_schema: dict[str, Any],
                      responses: dict[int | str, dict[str, Any]],
                      except_: dict[str, tuple[int, ...]] | None = None) -> dict[str, Any]:
    """Say what the server really answers: the framework's ``422`` goes (its
    validation errors are answered 400 here, documented per operation), the
    problem schema is added, and the ``everywhere`` codes (limits any request
    can meet) are added to every operation, minus those ``except_[path]``
    names."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Problem"] = problem_schema
    for path, item in doc.get("paths", {}).items():
        skip = (except_ or {}).get(path, ())
        for op in item.values():
            res = op.setdefault("responses", {})
            res.pop("422", None)
            for code in everywhere:
                if code not in skip:
                    res.setdefault(str(code), responses[code])
    return doc
