"""CQL2 filters (OGC API - Features Part 3) as twin queries.

A ``filter`` parameter in CQL2 text or CQL2 JSON is read by pygeofilter
(the parser pygeoapi uses; CQL2 text is first turned into CQL2 JSON by the
``cql2`` parser, since pygeofilter's text grammar cannot read ``NOT``
before a bracketed ``AND``) and its syntax tree translated here into a
:class:`twin.query.Condition` that the stores compile to SQL (both
backends), plus at most one spatial literal, tested exactly on the feature
footprints. Nothing is evaluated in Python but the spatial test.

What is offered: comparisons (``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``),
``LIKE``, ``BETWEEN``, ``IN``, ``IS NULL``, each optionally negated,
combined with ``AND``, ``OR``, ``NOT``; ``S_INTERSECTS`` and ``S_WITHIN``
against a polygon or a ``BBOX``, as a part of the top-level ``AND``. The
properties are the collection's queryables (``/queryables``); anything else
(an unknown property, a function, two properties compared, a temporal or
array operator) is a 400 that names it.

Untrusted input is bounded before it is parsed: the text's length, the
nesting of its brackets (JSON: of its objects and lists), and after parsing
the number of comparisons and the depth of the conditions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import shapely
from lark.exceptions import LarkError
from pyproj import CRS
from pyproj.exceptions import ProjError
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from twin.errors import QueryError
from twin.layers import Layer
from twin.query import MAX_DEPTH, MAX_FILTERS, Condition, Filter

from .geo import CrsChoice, transformer
from .problems import bad_request

if TYPE_CHECKING:  # imported where used, so that the app starts without it
    from pygeofilter import ast

#: Longest filter text (either language), in characters.
MAX_FILTER_CHARS = 16_384
#: Deepest nesting of brackets in CQL2 text, or of objects and lists in CQL2 JSON
#: (a multipolygon literal alone takes 4-5).
MAX_NESTING = 2 * MAX_DEPTH + 8
LANGUAGES = ("cql2-text", "cql2-json")
#: The name of the geometry queryable.
GEOMETRY = "geometry"
#: Feature fields every collection can be filtered on, with their JSON types.
CORE_QUERYABLES = {"id": "string", "type": "string", "name": "string", "parent": "string"}
_KINDS = {"integer": "integer", "real": "number", "text": "string"}
_GEOMETRY_FORMAT = {"POINT": "geometry-point", "LINESTRING": "geometry-linestring",
                    "MULTIPOLYGON": "geometry-multipolygon", "POLYGON": "geometry-polygon"}


def layer_queryables(layer: Layer) -> dict[str, str]:
    """``{property: JSON type}`` of what a collection's filters may name."""
    from twin.attributes import TYPED_ATTRIBUTES

    out = dict(CORE_QUERYABLES)
    for name in layer.attributes:
        spec = TYPED_ATTRIBUTES.get(name)
        out[name] = _KINDS[spec.kind] if spec is not None else "string"
    return out


def queryables_schema(layer: Layer, url: str) -> dict[str, Any]:
    """The JSON Schema of a collection's queryables (Part 3, 6.2)."""
    from twin.attributes import TYPED_ATTRIBUTES

    props: dict[str, Any] = {
        GEOMETRY: {"title": "footprint, centreline or position",
                   "format": _GEOMETRY_FORMAT.get(layer.geometry_type, "geometry-any"),
                   "x-ogc-role": "primary-geometry"},
        "id": {"title": "feature id", "type": "string", "x-ogc-role": "id"},
        "type": {"title": "object type", "type": "string"},
        "name": {"title": "name", "type": "string"},
        "parent": {"title": "id of the parent feature", "type": "string"},
    }
    for name, kind in layer_queryables(layer).items():
        if name in props:
            continue
        entry: dict[str, Any] = {"title": name, "type": kind}
        spec = TYPED_ATTRIBUTES.get(name)
        if spec is not None:
            entry["description"] = spec.description
            if spec.unit:
                entry["x-ogc-unit"] = spec.unit
        props[name] = entry
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": url,
            "type": "object", "title": f"{layer.title}: queryables", "properties": props,
            "additionalProperties": False,
            # the draft's list, which GDAL 3.6 (QGIS 3.22-3.28) reads to decide which
            # properties it may send in a filter (JSON Schema ignores unknown keywords)
            "queryables": [{"id": k, "type": v.get("type", "geometry")}
                           for k, v in props.items()]}


@dataclass(frozen=True)
class CqlFilter:
    """A translated filter: the condition on fields (or ``None``) and the
    spatial literal in the twin CRS with its predicate (or ``None``)."""

    where: Condition | None
    geometry: BaseGeometry | None = None
    predicate: str = "intersects"


# -- bounds before parsing ---------------------------------------------------------

def _text_nesting(text: str) -> int:
    depth = deepest = 0
    quote = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    return deepest


def _json_nesting(node: Any) -> int:
    deepest = 0
    todo = [(node, 1)]
    while todo:
        n, d = todo.pop()
        if isinstance(n, (dict, list)):
            deepest = max(deepest, d)
            if deepest > MAX_NESTING:
                return deepest
            todo.extend((v, d + 1) for v in (n.values() if isinstance(n, dict) else n))
    return deepest


def _bbox_literals(node: Any) -> Any:
    """CQL2 JSON as pygeofilter reads it: ``{"bbox": [...]}`` as a GeoJSON
    polygon (pygeofilter reads a bbox's four numbers in the wrong order) and
    ``between`` with the standard's three arguments."""
    if isinstance(node, list):
        return [_bbox_literals(v) for v in node]
    if not isinstance(node, dict):
        return node
    if node.get("op") == "between" and isinstance(node.get("args"), list) \
            and len(node["args"]) == 3:
        # CQL2 1.0 writes [property, low, high]; pygeofilter reads the draft's
        # [property, [low, high]]
        a, lo, hi = node["args"]
        node = {**node, "args": [a, [lo, hi]]}
    if set(node) == {"bbox"}:
        b = node["bbox"]
        if (not isinstance(b, list) or len(b) not in (4, 6)
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)):
            raise bad_request(f"filter: a bbox must be 4 or 6 numbers, got {b!r}")
        n = len(b) // 2
        return shapely.geometry.mapping(box(b[0], b[1], b[n], b[n + 1]))
    return {k: _bbox_literals(v) for k, v in node.items()}


def _text_to_json(text: str) -> Any:
    """CQL2 text as CQL2 JSON, by the ``cql2`` parser (pest grammar of the
    standard; pygeofilter's own text grammar cannot read ``NOT`` before a
    bracketed ``AND``/``OR``)."""
    import cql2

    try:
        return cql2.parse_text(text).to_json()
    except cql2.ParseError as exc:
        msg = str(exc)
        where = re.search(r"-->\s*(\d+):(\d+)", msg)
        said = re.search(r"=\s*(.+)$", msg.strip())
        at = f" at line {where.group(1)}, column {where.group(2)}" if where else ""
        raise bad_request(f"filter is not CQL2 text{at}: "
                          f"{said.group(1) if said else msg.splitlines()[0]}") from None
    except ValueError as exc:
        raise bad_request(f"filter is not CQL2 text: {exc}") from None


def parse_ast(text: str, lang: str | None) -> Any:
    """pygeofilter's syntax tree of a filter, after the size checks (CQL2
    text is first turned into CQL2 JSON)."""
    from pygeofilter.parsers.cql2_json import parse as parse_json

    lang = lang or "cql2-text"
    if lang == "cql-text":  # the draft's name, which older clients (GDAL 3.6) send
        lang = "cql2-text"
    if lang not in LANGUAGES:
        raise bad_request(f"filter-lang {lang!r} is not offered; use one of "
                          f"{', '.join(LANGUAGES)} (or cql-text, read as cql2-text)")
    if len(text) > MAX_FILTER_CHARS:
        raise bad_request(f"filter is {len(text)} characters long; at most "
                          f"{MAX_FILTER_CHARS} are allowed")
    if not text.strip():
        raise bad_request("filter is empty")
    if lang == "cql2-json":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise bad_request(f"filter is not JSON (filter-lang=cql2-json): {exc}") from None
        if _json_nesting(doc) > MAX_NESTING:
            raise bad_request(f"filter nests objects and lists more than {MAX_NESTING} deep")
        what = "CQL2 JSON"
    else:
        if _text_nesting(text) > MAX_NESTING:
            raise bad_request(f"filter nests brackets more than {MAX_NESTING} deep")
        doc = _text_to_json(text)
        what = "CQL2 text"
    try:
        return parse_json(_bbox_literals(doc))
    except (LarkError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise bad_request(f"filter is not {what}: {type(exc).__name__}: {exc}") from None


# -- translation -------------------------------------------------------------------

_COMPARE = {"Equal": "=", "NotEqual": "!=", "LessThan": "<", "LessEqual": "<=",
            "GreaterThan": ">", "GreaterEqual": ">="}
_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_SPATIAL = {"GeometryIntersects": "intersects", "GeometryWithin": "within"}


class _Translator:
    def __init__(self, layer: str, queryables: Mapping[str, str]):
        self.layer = layer
        self.queryables = queryables
        self.spatial: list[tuple[BaseGeometry, str]] = []

    def fail(self, what: str) -> QueryError:
        return QueryError(f"filter on collection {self.layer!r}: {what}")

    def prop(self, node: Any) -> str:
        from pygeofilter import ast

        if not isinstance(node, ast.Attribute):
            raise self.fail(f"expected a property, got {_show(node)}")
        name = node.name
        if name not in self.queryables:
            raise self.fail(f"{name!r} is not a queryable; queryables: "
                            f"{', '.join([GEOMETRY, *self.queryables])}")
        return name

    def literal(self, name: str, value: Any) -> Any:
        from pygeofilter import ast

        if isinstance(value, (ast.Node, dict, list)) or not isinstance(
                value, (str, int, float)) or isinstance(value, bool):
            raise self.fail(f"{name!r} is compared with {_show(value)}; compare a property "
                            "with a string or a number")
        kind = self.queryables[name]
        if kind in ("integer", "number") and isinstance(value, str):
            article = "an" if kind == "integer" else "a"
            raise self.fail(f"{name!r} is {article} {kind}; {value!r} is text")
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        return value

    def condition(self, node: Any, top: bool = False) -> Filter | Condition | None:
        from pygeofilter import ast

        kind = type(node).__name__
        if isinstance(node, (ast.And, ast.Or)):
            op = "and" if isinstance(node, ast.And) else "or"
            parts: list[Filter | Condition] = []
            for side in _flatten(node, type(node)):
                part = self.condition(side, top=top and op == "and")
                if part is not None:
                    parts.append(part)
            if not parts:
                return None
            return parts[0] if len(parts) == 1 else Condition(op, tuple(parts))
        if isinstance(node, ast.Not):
            inner = self.condition(node.sub_node)
            if inner is None:
                raise self.fail("NOT of a spatial predicate is not supported")
            return Condition("not", (inner,))
        if kind in _COMPARE:
            op = _COMPARE[kind]
            lhs, rhs = node.lhs, node.rhs
            if not isinstance(lhs, ast.Attribute) and isinstance(rhs, ast.Attribute):
                lhs, rhs, op = rhs, lhs, _FLIP[op]
            if isinstance(rhs, ast.Attribute):
                raise self.fail("comparing two properties is not supported")
            name = self.prop(lhs)
            return Filter(name, op, self.literal(name, rhs))
        if isinstance(node, ast.Between):
            name = self.prop(node.lhs)
            both = Condition("and", (Filter(name, ">=", self.literal(name, node.low)),
                                     Filter(name, "<=", self.literal(name, node.high))))
            return Condition("not", (both,)) if node.not_ else both
        if isinstance(node, ast.Like):
            name = self.prop(node.lhs)
            # the pattern as written: CQL2's wildcards '%' and '_' are SQL's
            f = Filter(name, "like", self.literal(name, node.pattern) if
                       self.queryables[name] == "string" else str(node.pattern))
            return Condition("not", (f,)) if node.not_ else f
        if isinstance(node, ast.In):
            name = self.prop(node.lhs)
            f = Filter(name, "in", tuple(self.literal(name, v) for v in node.sub_nodes))
            return Condition("not", (f,)) if node.not_ else f
        if isinstance(node, ast.IsNull):
            f = Filter(self.prop(node.lhs), "isnull", None)
            return Condition("not", (f,)) if node.not_ else f
        if kind in _SPATIAL:
            if not top:
                raise self.fail(f"{_SPATIAL_NAME[kind]} may only be a part of the filter's "
                                "top-level AND, not inside OR or NOT")
            self.spatial.append((self.geometry(node), _SPATIAL[kind]))
            return None
        raise self.fail(f"{_show(node)} is not supported; the filter may use comparisons, "
                        "LIKE, BETWEEN, IN, IS NULL, AND, OR, NOT, S_INTERSECTS and S_WITHIN")

    def geometry(self, node: Any) -> BaseGeometry:
        from pygeofilter import ast, values

        lhs, rhs = node.lhs, node.rhs
        if not isinstance(lhs, ast.Attribute):
            lhs, rhs = rhs, lhs
        if not isinstance(lhs, ast.Attribute) or lhs.name != GEOMETRY:
            raise self.fail(f"{_SPATIAL_NAME[type(node).__name__]} compares the property "
                            f"{GEOMETRY!r} with a literal polygon or BBOX")
        if isinstance(rhs, ast.Function) and rhs.name.lower() == "bbox":
            nums = rhs.arguments
            if len(nums) not in (4, 6) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in nums):
                raise self.fail(f"BBOX takes 4 or 6 numbers, got {_show(nums)}")
            n = len(nums) // 2
            return box(nums[0], nums[1], nums[n], nums[n + 1])
        if isinstance(rhs, values.Geometry):
            try:
                geom = shape(rhs.geometry)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise self.fail(f"the spatial literal is not a valid geometry: {exc}"
                                ) from None
            if geom.geom_type not in ("Polygon", "MultiPolygon"):
                raise self.fail(f"spatial literals must be polygons or a BBOX, got a "
                                f"{geom.geom_type}")
            if not geom.is_valid:
                raise self.fail(f"the spatial literal is not a valid polygon: "
                                f"{shapely.is_valid_reason(geom)}")
            return geom
        raise self.fail(f"spatial literals must be polygons or a BBOX, got {_show(rhs)}")


_SPATIAL_NAME = {"GeometryIntersects": "S_INTERSECTS", "GeometryWithin": "S_WITHIN"}


def _flatten(node: Any, cls: type[ast.Combination]) -> list[Any]:
    """``a AND b AND c`` (a left-deep tree from the parser) as ``[a, b, c]``."""
    out: list[Any] = []
    todo = [node]
    while todo:
        n = todo.pop()
        if type(n) is cls:
            todo += [n.rhs, n.lhs]
        else:
            out.append(n)
    return out


def _show(node: Any) -> str:
    text = repr(node)
    return text if len(text) <= 80 else text[:77] + "..."


def translate(ast_node: Any, layer: str, queryables: Mapping[str, str], choice: CrsChoice,
              twin_crs: CRS) -> CqlFilter:
    """The twin query parts of a parsed CQL2 filter on collection ``layer``;
    spatial literals are given in ``choice`` (``filter-crs``; CRS84 by default)."""
    t = _Translator(layer, queryables)
    try:
        where = t.condition(ast_node, top=True)
        if isinstance(where, Filter):
            where = Condition("and", (where,))
    except RecursionError:
        raise QueryError(f"filter on collection {layer!r} nests too deep") from None
    if where is not None and where.leaves() > MAX_FILTERS:
        raise t.fail(f"{where.leaves()} comparisons; at most {MAX_FILTERS} are allowed")
    if len(t.spatial) > 1:
        raise t.fail("at most one spatial predicate may be given")
    if not t.spatial:
        return CqlFilter(where)
    geom, predicate = t.spatial[0]
    return CqlFilter(where, geometry_to_twin(geom, choice, twin_crs), predicate)


def geometry_to_twin(geom: BaseGeometry, choice: CrsChoice, twin_crs: CRS) -> BaseGeometry:
    """A polygon given in ``choice``'s axis order into the twin CRS, its edges
    densified first (20 points a side at least) so that the reprojected
    outline follows the curved image of a straight edge."""
    if choice.swap:
        geom = shapely.transform(geom, lambda xy: xy[:, ::-1])
    if choice.crs == twin_crs:
        return geom
    x0, y0, x1, y1 = geom.bounds
    step = max(x1 - x0, y1 - y0) / 20 or 1e-9
    dense = shapely.segmentize(geom, step)
    tr = transformer(choice.crs, twin_crs)

    def fn(xy):
        x, y = tr.transform(xy[:, 0], xy[:, 1], errcheck=True)
        xy = xy.copy()
        xy[:, 0], xy[:, 1] = x, y
        return xy

    try:
        return shapely.transform(dense, fn)
    except ProjError as exc:  # a point outside the CRS's domain: name the literal
        raise QueryError(f"the filter's spatial literal cannot be transformed into the "
                         f"twin CRS: {exc}") from None
