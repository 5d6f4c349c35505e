"""The OData query options of a SensorThings request (``$expand`` with its
nested options, ``$select``, ``$top``, ``$skip``, ``$count``,
``$resultFormat``), parsed and bounded; ``$filter`` and ``$orderby`` are
compiled to SQL by :mod:`twin_api.sta_odata`."""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.errors import QueryError
from twin.numbers import is_whole_number

#: Most characters of one query option, and depth of $expand nesting.
MAX_OPTION = 4000
MAX_EXPAND_DEPTH = 4
DEFAULT_TOP = 100
MAX_TOP = 10_000
MAX_SKIP = 1_000_000_000


def split_top(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside parentheses and quotes."""
    out: list[str] = []
    cur: list[str] = []
    depth, quoted = 0, False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth < 0:
                raise QueryError(f"unbalanced parentheses in {text!r}")
        if ch == sep and depth == 0 and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if depth != 0 or quoted:
        raise QueryError(f"unbalanced parentheses or quotes in {text!r}")
    out.append("".join(cur).strip())
    return [o for o in out if o]


@dataclass
class Options:
    """The query options of one request, or of one ``$expand`` item."""

    filter: str | None = None
    orderby: str | None = None
    select: list[str] | None = None
    expand: dict[str, Options] = field(default_factory=dict)
    top: int | None = None
    skip: int = 0
    count: bool = False
    result_format: str | None = None


_KNOWN = ("$filter", "$orderby", "$select", "$expand", "$top", "$skip", "$count",
          "$resultFormat")


def parse_options(params: dict[str, str], depth: int = 0) -> Options:
    """Options from ``{"$filter": ..., ...}``; unknown ``$`` options refused."""
    if depth > MAX_EXPAND_DEPTH:
        raise QueryError(f"$expand is nested deeper than {MAX_EXPAND_DEPTH}")
    o = Options()
    for key, value in params.items():
        if not key.startswith("$"):
            continue
        if key not in _KNOWN:
            raise QueryError(f"query option {key!r} is not known; known: {', '.join(_KNOWN)}")
        if len(value) > MAX_OPTION:
            raise QueryError(f"{key} is longer than {MAX_OPTION} characters")
        if key == "$filter":
            o.filter = value
        elif key == "$orderby":
            o.orderby = value
        elif key == "$select":
            o.select = [s.strip() for s in value.split(",") if s.strip()]
        elif key in ("$top", "$skip"):
            if not is_whole_number(value):
                raise QueryError(f"{key} must be a whole number, got {value!r}")
            if len(value) > 12:
                raise QueryError(f"{key} {value!r} is too large")
            if key == "$top":
                o.top = min(int(value), MAX_TOP)
            else:
                if int(value) > MAX_SKIP:
                    raise QueryError(f"$skip may be at most {MAX_SKIP}")
                o.skip = int(value)
        elif key == "$count":
            if value not in ("true", "false"):
                raise QueryError(f"$count must be true or false, got {value!r}")
            o.count = value == "true"
        elif key == "$resultFormat":
            if value != "dataArray":
                raise QueryError(f"$resultFormat {value!r} is not supported; use dataArray")
            o.result_format = value
        else:
            o.expand = parse_expand(value, depth)
    return o


def parse_expand(text: str, depth: int = 0) -> dict[str, Options]:
    """``Datastreams($top=1;$expand=Observations),Locations,Datastreams/Sensor``."""
    out: dict[str, Options] = {}
    for item in split_top(text, ","):
        name, _, rest = item.partition("(")
        inner: dict[str, str] = {}
        if rest:
            if not rest.endswith(")"):
                raise QueryError(f"$expand: {item!r} has unbalanced parentheses")
            for opt in split_top(rest[:-1], ";"):
                k, sep, v = opt.partition("=")
                if not sep:
                    raise QueryError(f"$expand: option {opt!r} must be $name=value")
                inner[k.strip()] = v.strip()
        head, _, tail = name.strip().partition("/")
        if tail:
            sub = out.setdefault(head, Options())
            nested = parse_expand(tail + (f"({rest}" if rest else ""), depth + 1)
            for link, link_opts in nested.items():
                sub.expand[link] = link_opts
            continue
        opts = parse_options(inner, depth + 1)
        if head in out:  # Datastreams and Datastreams/Sensor: merge
            opts.expand = {**out[head].expand, **opts.expand}
        out[head] = opts
    return out
