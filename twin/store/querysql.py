"""A :class:`~twin.query.Query` as SQL, for both backends.

The selection is the same in SQLite (GeoPackage) and PostgreSQL: ids,
layers, types, parents, typed-attribute columns and core fields compile to
the same conditions. Where the two differ, a :class:`Dialect` says how:

* the spatial index (SQLite: an R*Tree table joined on ``fid``; PostGIS: a
  GiST index over the plan bounds, searched with ``&&``), always refined
  against the exact bounds kept with the feature;
* free-form attributes (JSON text: SQLite's ``json_extract``, PostgreSQL's
  ``->``/``->>``);
* how a batch's features are found, and paging without a limit.

SQL is written with ``?`` placeholders; a dialect may translate them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..attributes import TYPED_ATTRIBUTES
from ..errors import QueryError
from ..query import Condition, Filter, Query
from .rows import CORE_FIELD_SQL, EDGE_COLUMNS, FEATURE_COLUMNS
from .versions import as_of_condition

#: Every read column, qualified: the features ``f`` left-joined with their edges ``e``.
SELECT_SQL = ", ".join([f"f.{c}" for c in FEATURE_COLUMNS] + [f"e.{c}" for c in EDGE_COLUMNS])

_TEXT_CORE = {"id", "layer", "type", "name", "parent", "lod", "source_id"}

Box = tuple  # (xmin, ymin, zmin | None, xmax, ymax, zmax | None)


@dataclass(frozen=True)
class Compiled:
    """The parts of a compiled query: ``SELECT ... FROM {source} WHERE
    {where} ORDER BY {order}`` with ``params`` for the placeholders."""

    source: str
    where: tuple[str, ...]
    params: tuple[Any, ...]
    order: str

    def select(self, columns: str = SELECT_SQL) -> str:
        sql = f"SELECT {columns} FROM {self.source}"
        if self.where:
            sql += " WHERE " + " AND ".join(self.where)
        return sql


class Dialect:
    """What differs between the SQL of two backends (SQLite here)."""

    #: prefix that keeps SQLite from choosing the layer index over the R-tree
    #: when a box drives the search ('+' makes the column an expression)
    index_hint = "+"
    #: how an edge row matches its feature row
    edge_on = "e.fid = f.fid"

    @property
    def edge_join(self) -> str:
        """The features' edges (a network link has one)."""
        return f"LEFT JOIN twin_edges e ON {self.edge_on}"

    def box_source(self, box: Box, table: str = "twin_features"
                   ) -> tuple[str, list[str], list[Any]]:
        """``(FROM clause, conditions, parameters)`` of a box search in the
        current features or (``table`` ``twin_history``) the earlier versions."""
        rtree = "twin_rtree" if table == "twin_features" else "twin_history_rtree"
        where = ["r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ?"]
        params: list[Any] = [box[3], box[0], box[4], box[1]]
        if box[2] is not None:
            where.append("r.minz <= ? AND r.maxz >= ?")
            params += [box[5], box[2]]
        return f"{rtree} r JOIN {table} f ON f.fid = r.id {self.edge_join}", where, params

    def batch_condition(self, batch: int) -> tuple[str, list[Any]]:
        # a batch's features are the fid range it was given (imports never interleave)
        return ("f.fid BETWEEN (SELECT fid_min FROM twin_batches WHERE id = ?) AND "
                "(SELECT fid_max FROM twin_batches WHERE id = ?)", [batch, batch])

    def json_number(self, field: str) -> tuple[str, list[Any]]:
        return "json_extract(f.attributes, ?)", [_json_path(field)]

    def json_text(self, field: str) -> tuple[str, list[Any]]:
        return "json_extract(f.attributes, ?)", [_json_path(field)]

    def json_any(self, field: str) -> tuple[str, list[Any]]:
        """A free attribute of any JSON type, for ``like`` (numbers as text)."""
        return "json_extract(f.attributes, ?)", [_json_path(field)]

    def like(self, column: str) -> str:
        return f"{column} LIKE ?"  # SQLite's LIKE ignores the case of ASCII letters

    def as_text(self, column: str) -> str:
        return column

    def offset_only(self) -> str:
        return " LIMIT -1 OFFSET ?"

    def finish(self, sql: str) -> str:
        return sql


def _json_path(field: str) -> str:
    if '"' in field:
        raise QueryError(f"field name {field!r} is not valid")
    return f'$."{field}"'


def query_box(q: Query) -> Box | None:
    """The box a query searches (its ``box3d``, ``bbox`` or the bounds of
    ``within``), or ``None``."""
    if q.box3d is not None:
        return q.box3d
    if q.bbox is not None:
        return (q.bbox[0], q.bbox[1], None, q.bbox[2], q.bbox[3], None)
    if q.within is not None:
        bx = q.within.bounds
        return (bx[0], bx[1], None, bx[2], bx[3], None)
    return None


def compile_query(q: Query, dialect: Dialect, history: bool = False) -> Compiled:
    """The selection of ``q`` (everything but ``within``'s exact test and
    paging) as SQL: over the current features, or (``history``) over the
    earlier versions valid at ``q.as_of``."""
    where: list[str] = []
    params: list[Any] = []
    table = "twin_history" if history else "twin_features"
    source = f"{table} f {dialect.edge_join}"
    if q.as_of is not None:  # the versions valid right after batch as_of
        where.append(as_of_condition("f", history))
        since = q.as_of if q.as_of_from is None else q.as_of_from
        params += [q.as_of, since] if history else [q.as_of]
    box = query_box(q)
    hint = ""
    if box is not None:
        source, cond, p = dialect.box_source(box, table)
        where += cond
        params += p
        # the index is rounded outwards (R-tree: 32-bit floats): refine exactly
        where.append("f.min_x <= ? AND f.max_x >= ? AND f.min_y <= ? AND f.max_y >= ?")
        params += [box[3], box[0], box[4], box[1]]
        if box[2] is not None:  # 3D: only features whose heights are known
            where.append("f.min_z <= ? AND f.max_z >= ?")
            params += [box[5], box[2]]
        hint = dialect.index_hint
    for name, values in (("f.feature_id", q.ids), (hint + "f.layer", q.layers),
                         (hint + "f.type", q.types)):
        if values:
            where.append(f"{name} IN ({','.join('?' * len(values))})")
            params += list(values)
    if q.parent is not None:
        where.append("f.parent_id = ?")
        params.append(q.parent)
    if q.batch is not None:
        sql, p = dialect.batch_condition(q.batch)
        where.append(sql)
        params += p
    for flt in q.filters:
        sql, p = filter_sql(flt, dialect)
        where.append(sql)
        params += p
    if q.where is not None:
        sql, p = condition_sql(q.where, dialect)
        where.append(sql)
        params += p
    order = "f.fid" if q.order == "fid" else "f.feature_id"
    return Compiled(source, tuple(where), tuple(params), order)


def condition_sql(cond: Condition, dialect: Dialect) -> tuple[str, list[Any]]:
    """A nested AND/OR/NOT of filters as one parenthesised SQL condition
    (SQL's three-valued logic: a comparison with a missing value is unknown,
    so neither it nor its NOT selects the feature, as in CQL2)."""
    parts: list[str] = []
    params: list[Any] = []
    for a in cond.args:
        sql, p = condition_sql(a, dialect) if isinstance(a, Condition) else \
            filter_sql(a, dialect)
        parts.append(sql)
        params += p
    if cond.op == "not":
        return f"(NOT {parts[0]})", params
    return "(" + f" {cond.op.upper()} ".join(parts) + ")", params


def _check_filter_values(flt: Filter) -> None:
    if flt.op == "isnull":
        return
    spec = TYPED_ATTRIBUTES.get(flt.field)
    vals = flt.value if flt.op == "in" else (flt.value,)
    if spec is not None and spec.kind != "text" and flt.op != "like":
        for v in vals:
            if isinstance(v, (str, bool)):
                raise QueryError(f"filter on {flt.field!r} needs a number, got {v!r}")
    if flt.field == "batch" and flt.op != "like":
        if any(not isinstance(v, int) or isinstance(v, bool) for v in vals):
            raise QueryError(f"filter on 'batch' needs whole numbers, got {flt.value!r}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def filter_sql(flt: Filter, dialect: Dialect) -> tuple[str, list[Any]]:
    """One attribute or core-field filter as an SQL condition."""
    _check_filter_values(flt)
    vals = list(flt.value) if flt.op == "in" else [flt.value]
    spec = TYPED_ATTRIBUTES.get(flt.field)
    if flt.op == "isnull":
        if flt.field in CORE_FIELD_SQL or spec is not None:
            return f"{CORE_FIELD_SQL.get(flt.field) or f'f.{flt.field}'} IS NULL", []
        col, p = dialect.json_any(flt.field)
        return f"{col} IS NULL", p
    if flt.field in CORE_FIELD_SQL or spec is not None:
        col = CORE_FIELD_SQL.get(flt.field) or f"f.{flt.field}"
        text = flt.field in _TEXT_CORE or (spec is not None and spec.kind == "text")
        if flt.op == "like":
            return dialect.like(col if text else dialect.as_text(col)), [str(flt.value)]
        if text:  # a text column compares text, as SQLite's column affinity does
            vals = [v if isinstance(v, str) else str(v) for v in vals]
        return _compare(col, flt.op, vals), vals
    # a free-form attribute, inside the JSON text
    if flt.op == "like":
        col, p = dialect.json_any(flt.field)
        return dialect.like(dialect.as_text(col)), p + [str(flt.value)]
    nums = [v for v in vals if _is_number(v)]
    texts = [v for v in vals if not _is_number(v)]
    parts: list[str] = []
    params: list[Any] = []
    for group, accessor in ((nums, dialect.json_number), (texts, dialect.json_text)):
        if group:
            col, p = accessor(flt.field)
            cond = _compare(col, flt.op, group)
            parts.append(cond)
            params += p + group
    return (parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"), params


def _compare(col: str, op: str, vals: list[Any]) -> str:
    """``col op ?`` (the values themselves are the caller's parameters)."""
    if op == "in":
        return f"{col} IN ({','.join('?' * len(vals))})"
    return f"{col} {'<>' if op == '!=' else op} ?"


SQLITE = Dialect()
