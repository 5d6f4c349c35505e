"""Members of JSON properties in a SensorThings ``$filter``
(``properties/kind eq 'pressure'``, ``unitOfMeasurement/symbol eq 'kPa'``,
``parameters/depth gt 2``).

SensorThings 1.1 addresses a member of a complex property as a path
(``Things(1)/properties/kind``) and lets ``$filter`` compare it like any
other property. The twin keeps JSON properties as JSON text; a member is read
with the database's JSON functions (SQLite's ``json_extract``/``json_type``,
PostgreSQL's ``jsonb`` operators), and its type decides what it equals: a
member compared with a text equals only a JSON string, with a number only a
JSON number, with ``true``/``false`` only a JSON boolean; ``eq null`` holds
where the member is missing or JSON ``null``. A member's type is known only
per row, so the compiled operand is a function of the other side's kind
(:class:`Member`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin.errors import QueryError

#: the Thing property the API shows a Thing's twin feature in (kept in its own column)
FEATURE_KEY = "twin_feature_id"
#: deepest member path (``properties/a/b/c``)
MAX_MEMBER_DEPTH = 8


@dataclass(frozen=True)
class Member:
    """A JSON member: ``column`` is the SQL of the JSON text (a column or a
    subquery), ``keys`` the member path."""

    column: str
    keys: tuple[str, ...]
    server: bool

    def spell(self, kind: str) -> tuple[str, list[Any]]:
        """SQL and parameters of the member read as ``kind``: ``text``,
        ``num``, ``bool`` (1 or 0) or ``any`` (its text; NULL when missing
        or JSON null). A member of another JSON type reads as NULL."""
        if self.server:
            return self._postgres(kind)
        path = "$" + "".join(f'."{k}"' for k in self.keys)
        typeof, value = f"json_type({self.column}, ?)", f"json_extract({self.column}, ?)"
        test = {"text": "= 'text'", "num": "IN ('integer', 'real')",
                "bool": "IN ('true', 'false')"}.get(kind)
        if test is None:
            return value, [path]
        return f"(CASE WHEN {typeof} {test} THEN {value} END)", [path, path]

    def _postgres(self, kind: str) -> tuple[str, list[Any]]:
        doc = f"CAST({self.column} AS jsonb)"
        step = " -> CAST(? AS text)"
        node = doc + step * len(self.keys)
        text = f"({doc}{step * (len(self.keys) - 1)} ->> CAST(? AS text))"
        keys = list(self.keys)
        if kind == "any":
            return text, keys
        typ = {"text": "string", "num": "number", "bool": "boolean"}[kind]
        value = {"text": text, "num": f"CAST({text} AS double precision)",
                 "bool": f"(CASE WHEN {text} = 'true' THEN 1 ELSE 0 END)"}[kind]
        return f"(CASE WHEN jsonb_typeof({node}) = '{typ}' THEN {value} END)", keys + keys


def member_keys(entity: str, prop: str, keys: list[str]) -> tuple[str, ...]:
    """The member path, checked: names only, not too deep."""
    if len(keys) > MAX_MEMBER_DEPTH:
        raise QueryError(f"$filter: {entity}/{prop}/{'/'.join(keys)} is deeper than "
                         f"{MAX_MEMBER_DEPTH} members")
    for k in keys:
        if not k or '"' in k or "\\" in k:
            raise QueryError(f"$filter: {k!r} is not a member name of {entity}/{prop}")
    return tuple(keys)
