"""Query specifications: what to select from a twin.

A :class:`Query` is a plain, immutable value; stores translate it. All its
conditions are combined with AND. Attribute filters are written as short
expressions that the CLI and the API share::

    height>30          storeys>=18           material=PE
    install_year<2005  network in JS,RL      name like %school%
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from shapely.geometry.base import BaseGeometry

from .errors import QueryError

OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in", "like")
#: What a :class:`Filter` may also be (not written as a short expression):
#: ``isnull``, true where the field has no value (its value is ``None``).
FILTER_OPERATORS = (*OPERATORS, "isnull")
#: How a :class:`Condition` combines its parts.
COMBINATIONS = ("and", "or", "not")
#: Deepest nesting of conditions in one query (SQL engines bound the depth of
#: an expression; SQLite's parser at 1,000, its stack far earlier).
MAX_DEPTH = 20

#: Fields every feature has (besides its attributes).
CORE_FIELDS = ("id", "layer", "type", "name", "parent", "lod", "batch", "source_id")

_FILTER_RE = re.compile(
    r"^\s*(?P<field>[A-Za-z_][A-Za-z0-9_.:\-]*)\s*"
    r"(?P<op><=|>=|!=|=|<|>|\s+in\s+|\s+like\s+)\s*(?P<value>.*?)\s*$",
    re.IGNORECASE,
)

#: Most values an ``in`` filter may list.
MAX_IN_VALUES = 1000
#: Most filters one query may combine (each is one more AND term: SQL engines
#: bound the depth of an expression, SQLite at 1,000).
MAX_FILTERS = 100
#: Most values all the filters of one query may compare against together
#: (each is a bound SQL parameter; SQLite allows 32,766 in one statement).
MAX_FILTER_VALUES = 10_000
#: Whole numbers a filter, ``limit`` or ``offset`` may hold: the range of a
#: signed 64-bit integer, what SQL databases store.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _check_number(field: str, value: Any) -> None:
    """A filter value a database can compare against: integers within 64
    bits, floats finite (``inf`` and ``nan`` order against nothing)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise QueryError(
            f"filter on {field!r}: {value} is outside the range of whole numbers a twin "
            f"stores ({INT64_MIN} to {INT64_MAX})")
    if isinstance(value, float) and not math.isfinite(value):
        raise QueryError(f"filter on {field!r}: {value} is not a finite number")


@dataclass(frozen=True)
class Filter:
    """``field op value``; ``value`` is a tuple for ``in``."""

    field: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        if self.op not in FILTER_OPERATORS:
            raise QueryError(
                f"operator {self.op!r} is not valid, must be one of "
                f"{', '.join(FILTER_OPERATORS)}"
            )
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_.:\-]*$", self.field):
            raise QueryError(f"field name {self.field!r} is not valid")
        if self.op == "in":
            many = isinstance(self.value, (list, tuple, set))
            vals = tuple(self.value) if many else (self.value,)
            if not vals or len(vals) > MAX_IN_VALUES:
                raise QueryError(f"'in' needs 1 to {MAX_IN_VALUES} values, got {len(vals)}")
            object.__setattr__(self, "value", vals)
        for v in self.value if self.op == "in" else (self.value,):
            _check_number(self.field, v)


def _parse_scalar(text: str) -> Any:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]
    try:
        return int(t)
    except ValueError:
        pass
    try:
        v = float(t)
    except ValueError:
        return t
    return v if math.isfinite(v) else t  # 'nan', 'inf', '1e999': text, not a number


def parse_filter(expression: str) -> Filter:
    """Parse ``"height>30"``, ``"network in JS,RL"``, ``"name like %school%"``.

    >>> parse_filter("storeys>=18")
    Filter(field='storeys', op='>=', value=18)
    """
    m = _FILTER_RE.match(expression)
    if not m or not m.group("value"):
        raise QueryError(
            f"cannot read filter {expression!r}: write FIELD OP VALUE with OP one of "
            f"{', '.join(OPERATORS)} (e.g. 'height>30', 'network in JS,RL')"
        )
    op = m.group("op").strip().lower()
    raw = m.group("value")
    if op == "in":
        value: Any = tuple(_parse_scalar(v) for v in raw.strip("()").split(",") if v.strip())
    elif op == "like":
        value = raw.strip().strip("'\"")
    else:
        value = _parse_scalar(raw)
    return Filter(m.group("field"), op, value)


@dataclass(frozen=True)
class Condition:
    """Filters combined with AND, OR or NOT, nested: what a CQL2 filter
    (OGC API - Features Part 3) says about a feature's fields, as a value the
    stores compile to SQL.

    ``op`` is ``"and"``, ``"or"`` (one or more ``args``) or ``"not"`` (one);
    ``args`` are :class:`Filter` or :class:`Condition` values.

    >>> Condition("or", (Filter("storeys", ">", 18), Filter("name", "isnull", None))).leaves()
    2
    """

    op: str
    args: tuple[Filter | Condition, ...]

    def __post_init__(self) -> None:
        if self.op not in COMBINATIONS:
            raise QueryError(f"combination {self.op!r} is not valid, must be one of "
                             f"{', '.join(COMBINATIONS)}")
        args = tuple(self.args)
        want = "exactly one part" if self.op == "not" else "at least one part"
        if not args or (self.op == "not" and len(args) != 1):
            raise QueryError(f"{self.op.upper()} needs {want}, got {len(args)}")
        for a in args:
            if not isinstance(a, (Filter, Condition)):
                raise QueryError(f"a part of {self.op.upper()} must be a filter or a "
                                 f"condition, got {type(a).__name__}")
        object.__setattr__(self, "args", args)
        if self.depth() > MAX_DEPTH:
            raise QueryError(f"conditions nested {self.depth()} deep; at most {MAX_DEPTH} "
                             "levels are allowed")

    def depth(self) -> int:
        return 1 + max((a.depth() if isinstance(a, Condition) else 0) for a in self.args)

    def filters(self) -> list[Filter]:
        """Every filter inside, depth first."""
        out: list[Filter] = []
        for a in self.args:
            out.extend(a.filters() if isinstance(a, Condition) else [a])
        return out

    def leaves(self) -> int:
        return len(self.filters())


@dataclass(frozen=True)
class Query:
    """A selection of features.

    Parameters
    ----------
    ids : feature ids to fetch.
    layers, types : restrict to these layers / object types.
    filters : attribute filters (:class:`Filter` or expression strings).
    where : a :class:`Condition` (AND/OR/NOT of filters), ANDed with the rest.
    bbox : ``(xmin, ymin, xmax, ymax)`` in the twin CRS; features whose 3D
        bounds meet it in plan.
    box3d : ``(xmin, ymin, zmin, xmax, ymax, zmax)``: features whose 3D bounds
        meet the box (``0 to 5 m below ground here``).
    within : a shapely polygon; with ``predicate`` ``"intersects"`` (default)
        or ``"within"`` on the feature footprints.
    parent : children of this feature id.
    batch : features of this import batch.
    limit, offset : paging (``limit=None``: all).
    with_meshes : also load the meshes (slower; off by default).
    free_attributes : also decode the free-form attributes (on by default;
        off: the typed attributes only, for scenes and tiles, which show no
        others).
    as_of : the twin as it was right after this import batch committed
        (the versions valid then, :mod:`twin.store.versions`); ``None``: now.
        :func:`twin.store.resolve_as_of` turns a date into a batch.
    as_of_from : with ``as_of``, an interval: the versions valid at any
        moment after batch ``as_of_from`` up to batch ``as_of`` (OGC
        ``datetime`` intervals; several versions of one feature may match).
    """

    ids: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    where: Condition | None = None
    bbox: tuple[float, float, float, float] | None = None
    box3d: tuple[float, float, float, float, float, float] | None = None
    within: BaseGeometry | None = None
    predicate: str = "intersects"
    parent: str | None = None
    batch: int | None = None
    limit: int | None = None
    offset: int = 0
    with_meshes: bool = False
    order: str = "fid"
    free_attributes: bool = True
    as_of: int | None = None
    as_of_from: int | None = None

    def __post_init__(self) -> None:
        for name in ("ids", "layers", "types"):
            val = getattr(self, name)
            if isinstance(val, str):
                val = (val,)
            object.__setattr__(self, name, tuple(val))
        if len(self.filters) > MAX_FILTERS:
            raise QueryError(f"{len(self.filters)} filters in one query; at most {MAX_FILTERS} "
                             "may be combined")
        filters = tuple(parse_filter(f) if isinstance(f, str) else f for f in self.filters)
        if self.where is not None and not isinstance(self.where, Condition):
            raise QueryError(f"where must be a Condition, got {type(self.where).__name__}")
        inner = self.where.filters() if self.where is not None else []
        if len(filters) + len(inner) > MAX_FILTERS:
            raise QueryError(f"{len(filters) + len(inner)} filters in one query; at most "
                             f"{MAX_FILTERS} may be combined")
        n_values = sum(len(f.value) if f.op == "in" else 1 for f in (*filters, *inner))
        if n_values > MAX_FILTER_VALUES:
            raise QueryError(f"the filters of one query compare against {n_values} values; at "
                             f"most {MAX_FILTER_VALUES} are allowed")
        object.__setattr__(self, "filters", filters)
        if self.bbox is not None:
            b = tuple(float(v) for v in self.bbox)
            if len(b) != 4 or b[0] > b[2] or b[1] > b[3]:
                raise QueryError(
                    f"bbox {self.bbox!r} must be (xmin, ymin, xmax, ymax) with min <= max"
                )
            object.__setattr__(self, "bbox", b)
        if self.box3d is not None:
            b = tuple(float(v) for v in self.box3d)
            if len(b) != 6 or b[0] > b[3] or b[1] > b[4] or b[2] > b[5]:
                raise QueryError(
                    f"box3d {self.box3d!r} must be (xmin, ymin, zmin, xmax, ymax, zmax) "
                    "with min <= max"
                )
            object.__setattr__(self, "box3d", b)
        if self.predicate not in ("intersects", "within"):
            raise QueryError(
                f"predicate {self.predicate!r} is not valid, must be 'intersects' or 'within'"
            )
        if self.within is not None and self.within.geom_type not in ("Polygon", "MultiPolygon"):
            raise QueryError(f"'within' needs a polygon, got a {self.within.geom_type}")
        for name in ("limit", "offset"):
            val = getattr(self, name)
            if val is not None and not 0 <= val <= INT64_MAX:
                raise QueryError(f"{name} must be between 0 and {INT64_MAX}, got {val}")
        if self.as_of is not None and (isinstance(self.as_of, bool) or not isinstance(
                self.as_of, int) or not 0 <= self.as_of <= INT64_MAX):
            raise QueryError(f"as_of must be an import batch number >= 0, got {self.as_of!r}")
        if self.as_of_from is not None and (self.as_of is None or isinstance(
                self.as_of_from, bool) or not isinstance(self.as_of_from, int)
                or not 0 <= self.as_of_from <= self.as_of):
            raise QueryError(f"as_of_from must be a batch number from 0 to as_of "
                             f"({self.as_of}), got {self.as_of_from!r}")
        if self.order not in ("fid", "id"):
            raise QueryError(f"order {self.order!r} is not valid, must be 'fid' or 'id'")
