"""The OData query options of SensorThings 1.1, parsed and compiled to SQL.

* ``$filter``: comparisons (``eq ne gt ge lt le``), ``and``, ``or``, ``not``,
  parentheses, arithmetic (``add sub mul div mod``), the string functions
  ``substringof``, ``contains``, ``startswith``, ``endswith``, ``tolower``,
  ``toupper``, ``length``, and ``now()``. Operands: properties of the entity
  (``result``, ``phenomenonTime``, ``name``, ``id``/``@iot.id``), paths
  through to-one links (``Datastream/ObservedProperty/name``), numbers,
  ``'text'`` (``''`` for a quote), ISO 8601 times with their offset
  (``2024-05-01T00:00:00Z``), ``true``, ``false``, ``null``. A time
  interval property (a Datastream's ``phenomenonTime``) compares by its start.
  Members of JSON properties (``properties/kind eq 'pressure'``) compare by
  their JSON type (:mod:`twin_api.sta_members`).
* ``$orderby`` (``phenomenonTime desc, id``). The other options are parsed
  by :mod:`twin_api.sta_options`.

The compiled SQL uses ``?`` placeholders and the alias ``t`` for the entity
set's table; it runs unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from twin.errors import QueryError
from twin.sensors.model import ENTITY_SETS, EntitySet, to_ms

from .sta_members import FEATURE_KEY, Member, member_keys
from .sta_options import MAX_OPTION, split_top

#: deepest nesting of parentheses and function calls in a $filter
MAX_DEPTH = 50

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^']|'')*')
  | (?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<punct>[(),/])
  | (?P<name>[A-Za-z_@$][A-Za-z0-9_.@$]*)
""", re.VERBOSE)

_COMPARE = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_ARITH = {"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%"}
#: interval properties compare by their start column
_INTERVAL_START = {"phenomenon": "phenomenon_start", "result_time": "result_time_start",
                   "valid": "valid_start"}


def tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise QueryError(f"$filter: cannot read {text[pos:pos + 20]!r} at character {pos}")
        pos = m.end()
        if m.lastgroup is not None and m.lastgroup != "ws":  # every token is a named group
            out.append((m.lastgroup, m.group()))
    return out


@dataclass
class Sql:
    """A compiled operand: SQL text, its parameters and its kind (``num``,
    ``text``, ``time``, ``bool``, ``null``, ``result``)."""

    text: str
    params: list[Any]
    kind: str
    member: Member | None = None  # kind "member": a JSON member, read as the other side asks

    def as_kind(self, kind: str) -> Sql:
        """A JSON member read as ``kind`` (text, num, bool, any); others as they are."""
        if self.member is None:
            return self
        text, params = self.member.spell(kind)
        return Sql(text, params, {"any": "text"}.get(kind, kind))


class FilterCompiler:
    """Recursive descent over the tokens of one ``$filter``."""

    def __init__(self, es: EntitySet, text: str, server: bool = False):
        if len(text) > MAX_OPTION:
            raise QueryError(f"$filter is longer than {MAX_OPTION} characters")
        self.es = es
        self.toks = tokens(text)
        self.i = 0
        self.aliases = 0
        self.server = server
        self.depth = 0

    def peek(self, k: int = 0) -> tuple[str, str] | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise QueryError("$filter ends too early")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        tok = self.take()
        if tok[1] != value:
            raise QueryError(f"$filter: expected {value!r}, found {tok[1]!r}")

    def word(self, *words: str) -> str | None:
        tok = self.peek()
        if tok and tok[0] == "name" and tok[1].lower() in words:
            self.i += 1
            return tok[1].lower()
        return None

    def compile(self) -> tuple[str, list[Any]]:
        out = _condition(self.or_())
        if self.peek() is not None:
            raise QueryError(f"$filter: unexpected {self.peek()[1]!r}")  # type: ignore[index]
        if out.kind != "bool":
            raise QueryError("$filter must be a condition (a comparison or a function "
                             "giving true or false)")
        return out.text, out.params

    def or_(self) -> Sql:
        left = self.and_()
        while self.word("or"):
            left, right = _condition(left), _condition(self.and_())
            left = Sql(f"({left.text} OR {right.text})", left.params + right.params, "bool")
        return left

    def and_(self) -> Sql:
        left = self.not_()
        while self.word("and"):
            left, right = _condition(left), _condition(self.not_())
            left = Sql(f"({left.text} AND {right.text})", left.params + right.params, "bool")
        return left

    def not_(self) -> Sql:
        if self.word("not"):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QueryError(f"$filter is nested deeper than {MAX_DEPTH}")
            inner = _condition(self.not_())
            self.depth -= 1
            return Sql(f"(NOT {inner.text})", inner.params, "bool")
        return self.compare()

    def compare(self) -> Sql:
        left = self.arith()
        op = self.word(*_COMPARE)
        if op is None:
            return left
        right = self.arith()
        return compare(op, left, right)

    def arith(self) -> Sql:
        left = self.term()
        while (op := self.word("add", "sub")) is not None:
            right = self.term()
            left = _arith(op, left, right, self.server)
        return left

    def term(self) -> Sql:
        left = self.primary()
        while (op := self.word("mul", "div", "mod")) is not None:
            right = self.primary()
            left = _arith(op, left, right, self.server)
        return left

    def primary(self) -> Sql:
        kind, value = self.take()
        if value == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QueryError(f"$filter is nested deeper than {MAX_DEPTH}")
            inner = self.or_()
            self.expect(")")
            self.depth -= 1
            return inner
        if kind == "str":
            return Sql("?", [value[1:-1].replace("''", "'")], "text")
        if kind == "time":
            return Sql("?", [to_ms(value, what="$filter time")], "time")
        if kind == "num":
            number: float | int = float(value) if any(c in value for c in ".eE") else int(value)
            if isinstance(number, int) and abs(number) >= 2**63:
                number = float(number)  # beyond the databases' integers
            if not math.isfinite(number):
                raise QueryError(f"$filter: {value} is not a finite number")
            return Sql("?", [number], "num")
        if kind != "name":
            raise QueryError(f"$filter: unexpected {value!r}")
        low = value.lower()
        if low in ("true", "false"):
            return Sql("?", [1 if low == "true" else 0], "bool")
        if low == "null":
            return Sql("NULL", [], "null")
        nxt = self.peek()
        if nxt is not None and nxt[1] == "(":
            return self.function(low)
        segments = [value]
        while self.peek() is not None and self.peek()[1] == "/":  # type: ignore[index]
            self.take()
            segments.append(self.take()[1])
        return self.path(segments)

    def function(self, name: str) -> Sql:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"$filter is nested deeper than {MAX_DEPTH}")
        self.expect("(")
        args: list[Sql] = []
        if self.peek() is not None and self.peek()[1] != ")":  # type: ignore[index]
            args.append(self.or_())
            while self.peek() is not None and self.peek()[1] == ",":  # type: ignore[index]
                self.take()
                args.append(self.or_())
        self.expect(")")
        self.depth -= 1
        return function(name, args)

    def path(self, segments: list[str]) -> Sql:
        """A property, or a property of an entity reached through to-one links
        (nested scalar subqueries: the same SQL in both databases)."""
        es, target_id = self.es, ""
        for k, seg in enumerate(segments[:-1]):
            if not es.has_link(seg) and any(p.name == seg and p.kind == "json"
                                            for p in es.props):
                return self.member(es, target_id, seg, segments[k + 1:])
            if not es.has_link(seg):
                raise QueryError(
                    f"$filter: {es.entity} has no navigation link {seg!r} nor a JSON property "
                    "of that name; "
                    f"links: {', '.join(lk.name for lk in es.links)}; JSON properties: "
                    f"{', '.join(p.name for p in es.props if p.kind == 'json')}")
            link = es.link(seg)
            if link.kind != "one":
                raise QueryError(f"$filter: {es.entity}/{seg} leads to many entities; "
                                 "only paths through to-one links can be compared")
            if not target_id:
                target_id = f"t.{link.column}"
            else:
                self.aliases += 1
                a = f"x{self.aliases}"
                target_id = (f"(SELECT {a}.{link.column} FROM {es.table} {a} "
                             f"WHERE {a}.id = {target_id})")
            es = ENTITY_SETS[link.target]
        column, kind = property_column(es, segments[-1])
        if not target_id:
            return Sql(f"t.{column}", [], kind)
        if column == "id":
            return Sql(target_id, [], kind)
        self.aliases += 1
        a = f"x{self.aliases}"
        kind = "num" if kind == "result" else kind
        return Sql(f"(SELECT {a}.{column} FROM {es.table} {a} WHERE {a}.id = {target_id})",
                   [], kind)

    def member(self, es: EntitySet, target_id: str, prop: str, keys: list[str]) -> Sql:
        """A member of a JSON property (``properties/kind``) of the entity
        (``target_id`` empty) or of one reached through to-one links."""
        column = es.prop(prop).column
        if es.name == "Things" and prop == "properties" and keys == [FEATURE_KEY]:
            # the twin keeps a Thing's feature in its own column (the API shows it there)
            column_sql = "t.feature_id" if not target_id else self._column(es, target_id,
                                                                            "feature_id")
            return Sql(column_sql, [], "text")
        ref = f"t.{column}" if not target_id else self._column(es, target_id, column)
        return Sql("", [], "member",
                   Member(ref, member_keys(es.entity, prop, keys), self.server))

    def _column(self, es: EntitySet, target_id: str, column: str) -> str:
        self.aliases += 1
        a = f"x{self.aliases}"
        return f"(SELECT {a}.{column} FROM {es.table} {a} WHERE {a}.id = {target_id})"


def _condition(s: Sql) -> Sql:
    """A JSON member standing alone as a condition (``not properties/active``)
    holds where it is ``true``, as a boolean property would."""
    return compare("eq", s, Sql("?", [1], "bool")) if s.member is not None else s


def property_column(es: EntitySet, name: str) -> tuple[str, str]:
    """The column and kind of a property usable in $filter and $orderby."""
    if name in ("id", "@iot.id"):
        return "id", "num"
    if name == "feature_id" and es.name == "Things":
        return "feature_id", "text"
    p = es.prop(name)
    if p.kind == "json":
        raise QueryError(f"$filter/$orderby: {es.entity}/{name} is a JSON object; compare "
                         "its members is not supported")
    if p.kind == "interval":
        return _INTERVAL_START[p.column], "time"
    kind = {"text": "text", "time": "time", "number": "num", "result": "result"}[p.kind]
    return p.column, kind


def _arith(op: str, a: Sql, b: Sql, server: bool) -> Sql:
    a, b = a.as_kind("num"), b.as_kind("num")
    for s in (a, b):
        if s.kind not in ("num", "result", "time"):
            raise QueryError(f"$filter: {op} needs numbers")
    ka = "num" if "result" in (a.kind, b.kind) or a.kind == "num" else a.kind
    x, y = _num(a), _num(b)
    if op in ("div", "mod"):  # a zero divisor gives null in both databases, never an error
        y = f"NULLIF({y}, 0)"
    if op == "mod":  # the remainder of a truncated division, for reals too, in both
        text = f"MOD(CAST({x} AS numeric), CAST({y} AS numeric))" if server else \
            f"({x} - ({y}) * CAST(({x}) / ({y}) AS INTEGER))"
        params = a.params + b.params if server else (a.params + b.params) * 2
        return Sql(text, params, ka)
    return Sql(f"({x} {_ARITH[op]} {y})", a.params + b.params, ka)


def _num(s: Sql) -> str:
    return "t.result" if s.text == "t.result_json" else s.text


def compare(op: str, a: Sql, b: Sql) -> Sql:
    """``a op b`` with the operands' kinds reconciled (a time literal with a
    time column, a result with a number or a text)."""
    sql_op = _COMPARE[op]
    # a missing member (or one of another JSON type) is null, and in OData null
    # equals nothing but null: never SQL's unknown, which NOT would keep unknown
    member = a.member is not None or b.member is not None
    if a.member is not None and b.member is not None:
        a, b = a.as_kind("any"), b.as_kind("any")
    elif a.member is not None or b.member is not None:
        x, other = (a, b) if a.member is not None else (b, a)
        want = {"text": "text", "num": "num", "time": "num", "bool": "bool", "null": "any",
                "result": "num"}[other.kind]
        if other.kind == "result":
            other = Sql(other.text, other.params, "num")
        x = x.as_kind(want)
        a, b = (x, other) if a.member is not None else (other, x)
    if b.kind == "null" or a.kind == "null":
        x = a if b.kind == "null" else b
        if op not in ("eq", "ne"):
            raise QueryError("$filter: null compares with eq or ne only")
        if x.kind == "result":
            test = "(t.result IS NULL AND t.result_json IS NULL)"
            return Sql(f"(NOT {test})" if op == "ne" else test, [], "bool")
        return Sql(f"({x.text} IS {'NOT ' if op == 'ne' else ''}NULL)", x.params, "bool")
    a, b = _reconcile(a, b), _reconcile(b, a)
    numeric = {"num", "time", "bool"}
    if (a.kind == "text") != (b.kind == "text") or (a.kind != "text" and not
                                                    {a.kind, b.kind} <= numeric):
        raise QueryError(f"$filter: {op} compares a {_KIND_NAME[a.kind]} with a "
                         f"{_KIND_NAME[b.kind]}")
    text = f"({a.text} {sql_op} {b.text})"
    if member:
        text = f"COALESCE({text}, {'1 = 1' if op == 'ne' else '1 = 0'})"
    return Sql(text, a.params + b.params, "bool")


_KIND_NAME = {"num": "number", "time": "time", "bool": "boolean", "text": "text",
              "null": "null", "result": "result"}


def _reconcile(x: Sql, other: Sql) -> Sql:
    if x.kind == "result":
        if other.kind == "text":  # a text result is kept as its JSON
            return Sql(x.text.replace("result", "result_json"), x.params, "text")
        if other.kind == "bool":
            return Sql(x.text.replace("result", "result_json"), x.params, "text")
        return Sql(x.text, x.params, "num")
    if x.kind == "text" and other.kind == "result":
        return Sql(x.text, [json.dumps(p) for p in x.params], "text")
    if x.kind == "bool" and other.kind == "result":
        return Sql(x.text, ["true" if p else "false" for p in x.params], "text")
    if x.kind == "text" and other.kind == "time" and x.text == "?":
        return Sql("?", [to_ms(x.params[0], what="$filter time")], "time")
    return x


def function(name: str, args: list[Sql]) -> Sql:
    def need(n: int) -> None:
        if len(args) != n:
            raise QueryError(f"$filter: {name}() takes {n} arguments, got {len(args)}")

    args = [a.as_kind("text") for a in args]
    params = [p for a in args for p in a.params]
    text_functions = ("substringof", "contains", "startswith", "endswith", "tolower",
                      "toupper", "trim", "length")
    if name in text_functions and any(a.kind != "text" for a in args):
        raise QueryError(f"$filter: {name}() takes text")
    if name in ("substringof", "contains", "startswith", "endswith"):
        need(2)
        hay, needle = (args[1], args[0]) if name == "substringof" else (args[0], args[1])
        pattern = {"startswith": f"{needle.text} || '%'", "endswith": f"'%' || {needle.text}"}\
            .get(name, f"'%' || {needle.text} || '%'")
        ordered = (hay.params + needle.params)
        return Sql(f"({hay.text} LIKE ({pattern}))", ordered, "bool")
    if name in ("tolower", "toupper", "trim"):
        need(1)
        fn = {"tolower": "LOWER", "toupper": "UPPER", "trim": "TRIM"}[name]
        return Sql(f"{fn}({args[0].text})", params, "text")
    if name == "length":
        need(1)
        return Sql(f"LENGTH({args[0].text})", params, "num")
    if name == "now":
        need(0)
        return Sql("?", [int(time.time() * 1000)], "time")
    raise QueryError(f"$filter: function {name}() is not supported; supported: substringof, "
                     "contains, startswith, endswith, tolower, toupper, trim, length, now")


def compile_filter(es: EntitySet, text: str, server: bool = False) -> tuple[str, list[Any]]:
    """``$filter`` of an entity set as an SQL condition over alias ``t``
    (``server``: PostgreSQL's spelling where it differs)."""
    return FilterCompiler(es, text, server).compile()


def compile_orderby(es: EntitySet, text: str) -> str:
    """``$orderby`` as an SQL ORDER BY list (ties broken by id)."""
    parts = []
    for item in split_top(text, ","):
        words = item.split()
        if not words or len(words) > 2 or (len(words) == 2 and
                                           words[1].lower() not in ("asc", "desc")):
            raise QueryError(f"$orderby: {item!r} must be 'property [asc|desc]'")
        if "/" in words[0]:
            raise QueryError(f"$orderby: {words[0]!r}: order by a property of the entity")
        column, _ = property_column(es, words[0])
        desc = len(words) == 2 and words[1].lower() == "desc"
        parts.append(f"t.{column} {'DESC' if desc else 'ASC'}")
    return ", ".join(parts + ["t.id ASC"])
