"""Resource paths of the OGC SensorThings API 1.1: :func:`resolve` walks a
path (``Things(1)/Datastreams``) to the :class:`Target` it names, checking
that the entities on the way exist (404) and that the names are the
standard's (400).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from twin.errors import NotFoundError, QueryError
from twin.sensors.model import ENTITY_SETS, EntitySet, Link
from twin.sensors.store import SensorStore

_SEGMENT = re.compile(r"^(?P<name>[A-Za-z]+)(?:\((?P<id>\d{1,18})\))?$")


@dataclass(frozen=True)
class Target:
    """What a resource path names: an entity set filtered by ``where``, one
    entity (``single``), or one property of one entity (``prop``, ``raw``
    for ``/$value``)."""

    es: EntitySet
    where: str
    params: list[Any]
    single: bool
    path: str
    prop: str | None = None
    raw: bool = False
    parent: tuple[EntitySet, int, Link] | None = None


def resolve(sensors: SensorStore, path: str) -> Target:
    """A resource path (after ``/sta/v1.1/``) as a :class:`Target`; 404 for
    entities that do not exist, 400 for names that are not the standard's."""
    segs = [s for s in path.strip("/").split("/") if s]
    if not segs:
        raise QueryError("no entity set named")
    m = _SEGMENT.match(segs[0])
    if m is None or m.group("name") not in ENTITY_SETS:
        raise NotFoundError(f"{segs[0]!r} is not an entity set; the entity sets are "
                            f"{', '.join(ENTITY_SETS)}")
    es = ENTITY_SETS[m.group("name")]
    if m.group("id") is None:
        if len(segs) > 1:
            raise QueryError(f"{segs[0]}: name one entity, e.g. {segs[0]}(1), before a "
                             "navigation")
        return Target(es, "", [], False, es.name)
    ident = int(m.group("id"))
    _require(sensors, es, ident)
    where, params, single, shown = "t.id = ?", [ident], True, f"{es.name}({ident})"
    parent: tuple[EntitySet, int, Link] | None = None
    for k, seg in enumerate(segs[1:], start=1):
        m = _SEGMENT.match(seg)
        if seg == "$value" and k == len(segs) - 1:
            raise QueryError("$value follows a property")
        name = m.group("name") if m else seg
        if not single:
            raise QueryError(f"{shown}: name one entity before navigating further")
        if m and es.has_link(name):
            ident = one_id(sensors, es, where, params)
            link = es.link(name)
            target = ENTITY_SETS[link.target]
            parent = (es, ident, link)
            if link.kind == "one":
                row = sensors.store._read(f"SELECT {link.column} FROM {es.table} WHERE id = ?",
                                          (ident,))
                if not row or row[0][0] is None:
                    raise NotFoundError(f"{shown}/{name}: there is none")
                where, params, single = "t.id = ?", [int(row[0][0])], True
            elif link.kind == "many":
                where, params, single = f"t.{link.column} = ?", [ident], False
            else:
                where, params, single = (f"t.id IN (SELECT {link.theirs} FROM {link.table} "
                                         f"WHERE {link.ours} = ?)", [ident], False)
            es = target
            shown += f"/{name}"
            if m.group("id") is not None:
                sub = int(m.group("id"))
                if not sensors.count(es, f"{where} AND t.id = ?", [*params, sub]):
                    raise NotFoundError(f"{shown}({sub}) does not exist")
                where, params, single = "t.id = ?", [sub], True
                shown += f"({sub})"
            continue
        # a property, and perhaps /$value after it
        es.prop(name) if name not in ("id", "@iot.id") else None
        raw = k + 1 < len(segs) and segs[k + 1] == "$value"
        if k + 1 < len(segs) and not (raw and k + 2 == len(segs)):
            raise QueryError(f"{shown}/{name}: nothing may follow a property but $value")
        return Target(es, where, params, True, shown, prop=name, raw=raw, parent=parent)
    return Target(es, where, params, single, shown, parent=parent)


def _require(sensors: SensorStore, es: EntitySet, ident: int) -> None:
    if not sensors.count(es, "t.id = ?", [ident]):
        raise NotFoundError(f"{es.entity} {ident} does not exist")


def one_id(sensors: SensorStore, es: EntitySet, where: str, params: list[Any]) -> int:
    rows = sensors.select(es, where, params, limit=1)
    if not rows:
        raise NotFoundError(f"no {es.entity} there")
    return int(rows[0]["id"])
