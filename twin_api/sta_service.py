"""OGC SensorThings API 1.1 over the twin's sensing tables, without HTTP.

Reading: :func:`resolve` walks a resource path (``Things(1)/Datastreams``),
:func:`read` answers it with the query options applied
(:mod:`twin_api.sta_odata`): entities carry ``@iot.id``, ``@iot.selfLink``
and a ``...@iot.navigationLink`` per link not expanded; collections carry
``value``, ``@iot.count`` when asked and ``@iot.nextLink`` when a page is
full.

Writing (token needed, checked by the routes): :func:`create` with deep
insert (linked entities given inline are created, ``{"@iot.id": n}`` links to
an existing one), :func:`patch`, :func:`delete` and
:func:`create_observations` (the dataArray extension), each one transaction
of the twin. A Thing created or linked with a Location gets a
HistoricalLocation, as the standard asks.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from twin.errors import FeatureError, NotFoundError, QueryError
from twin.sensors.model import (
    ENTITY_SETS,
    OBSERVATION_TYPES,
    EntitySet,
    Link,
    interval,
    iso,
    parse_interval,
    to_ms,
)
from twin.sensors.store import SensorStore, SensorWriter, number

from .sta_foi import generated_foi
from .sta_members import FEATURE_KEY
from .sta_odata import compile_filter, compile_orderby
from .sta_options import DEFAULT_TOP, Options

VERSION_PATH = "/sta/v1.1"
#: Most observations of one dataArray request.
MAX_DATA_ARRAY = 100_000
#: Most entities created by one deep insert.
MAX_DEEP = 1000
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
            ident = _one_id(sensors, es, where, params)
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


def _one_id(sensors: SensorStore, es: EntitySet, where: str, params: list[Any]) -> int:
    rows = sensors.select(es, where, params, limit=1)
    if not rows:
        raise NotFoundError(f"no {es.entity} there")
    return int(rows[0]["id"])


# -- reading -----------------------------------------------------------------------------
def _value(es: EntitySet, name: str, row: dict[str, Any]) -> Any:
    p = es.prop(name)
    if p.kind == "time":
        if p.column == "phenomenon_time":
            return interval(row["phenomenon_time"], row.get("phenomenon_time_end"))
        return iso(row[p.column])
    if p.kind == "interval":
        start = {"phenomenon": "phenomenon_start", "result_time": "result_time_start",
                 "valid": "valid_start"}[p.column]
        return interval(row[start], row[start.replace("_start", "_end")])
    if p.kind == "result":
        return row["result"] if row["result"] is not None else row["result_json"]
    if es.name == "Things" and name == "properties":
        props = dict(row["properties"] or {})
        if row.get("feature_id"):
            props[FEATURE_KEY] = row["feature_id"]
        return props or None
    return row[p.column]


class Reader:
    """Answers GET requests of one twin (``base``: the service root URL)."""

    def __init__(self, sensors: SensorStore, base: str):
        self.sensors = sensors
        self.base = base.rstrip("/")

    def read(self, target: Target, opts: Options, query: str = "") -> Any:
        if target.prop is not None:
            row = _first(self.sensors.select(target.es, target.where, target.params, limit=1))
            value = row["id"] if target.prop in ("id", "@iot.id") else \
                _value(target.es, target.prop, row)
            return value if target.raw else {target.prop: value}
        if target.single:
            row = _first(self.sensors.select(target.es, target.where, target.params, limit=1))
            return self.entity(target.es, row, opts)
        return self.collection(target.es, target.where, target.params, opts,
                               f"{self.base}/{target.path}", query)

    def collection(self, es: EntitySet, where: str, params: list[Any], opts: Options,
                   url: str | None, query: str = "") -> dict[str, Any]:
        w, p = where, list(params)
        if opts.filter:
            fw, fp = compile_filter(es, opts.filter, self.sensors.server)
            w = f"({w}) AND {fw}" if w else fw
            p += fp
        top = DEFAULT_TOP if opts.top is None else opts.top
        order = compile_orderby(es, opts.orderby) if opts.orderby else "t.id ASC"
        rows = self.sensors.select(es, w, p, order=order, limit=top + 1, offset=opts.skip)
        out: dict[str, Any] = {}
        if opts.count:
            out["@iot.count"] = self.sensors.count(es, w, p)
        if len(rows) > top and url is not None:
            out["@iot.nextLink"] = _next_link(url, query, opts.skip + top, top)
        rows = rows[:top]
        if opts.result_format == "dataArray" and es.name == "Observations":
            out["value"] = self._data_array(rows, opts)
            return out
        out["value"] = [self.entity(es, r, opts) for r in rows]
        return out

    def _data_array(self, rows: list[dict[str, Any]], opts: Options) -> list[dict[str, Any]]:
        es = ENTITY_SETS["Observations"]
        comps = opts.select or ["id", "phenomenonTime", "result"]
        by_ds: dict[int, list[list[Any]]] = {}
        for r in rows:
            by_ds.setdefault(r["datastream_id"], []).append(
                [r["id"] if c in ("id", "@iot.id") else _value(es, c, r) for c in comps])
        return [{"Datastream@iot.navigationLink": f"{self.base}/Datastreams({ds})",
                 "components": comps, "dataArray@iot.count": len(arr), "dataArray": arr}
                for ds, arr in by_ds.items()]

    def entity(self, es: EntitySet, row: dict[str, Any], opts: Options) -> dict[str, Any]:
        ident = row["id"]
        self_link = f"{self.base}/{es.name}({ident})"
        sel = set(opts.select) if opts.select else None
        out: dict[str, Any] = {}
        if sel is None or "id" in sel or "@iot.id" in sel:
            out["@iot.id"] = ident
        if sel is None or "@iot.selfLink" in sel:
            out["@iot.selfLink"] = self_link
        for p in es.props:
            if p.name == "feature_id":
                continue
            if sel is None or p.name in sel:
                out[p.name] = _value(es, p.name, row)
        for link in es.links:
            if link.name in opts.expand:
                out.update(self._expand(es, ident, link, opts.expand[link.name], self_link))
            elif sel is None or link.name in sel:
                out[f"{link.name}@iot.navigationLink"] = f"{self_link}/{link.name}"
        return out

    def _expand(self, es: EntitySet, ident: int, link: Link, opts: Options,
                self_link: str) -> dict[str, Any]:
        target = ENTITY_SETS[link.target]
        if link.kind == "one":
            row = self.sensors.store._read(f"SELECT {link.column} FROM {es.table} WHERE id = ?",
                                           (ident,))
            ref = row[0][0] if row else None
            rows = self.sensors.select(target, "t.id = ?", [ref], limit=1) if ref is not None \
                else []
            return {link.name: self.entity(target, rows[0], opts) if rows else None}
        where = f"t.{link.column} = ?" if link.kind == "many" else \
            f"t.id IN (SELECT {link.theirs} FROM {link.table} WHERE {link.ours} = ?)"
        page = self.collection(target, where, [ident], opts, f"{self_link}/{link.name}")
        out: dict[str, Any] = {link.name: page["value"]}
        if "@iot.count" in page:
            out[f"{link.name}@iot.count"] = page["@iot.count"]
        if "@iot.nextLink" in page:
            out[f"{link.name}@iot.nextLink"] = page["@iot.nextLink"]
        return out

    def root(self) -> dict[str, Any]:
        return {
            "value": [{"name": name, "url": f"{self.base}/{name}"} for name in ENTITY_SETS],
            "serverSettings": {"conformance": [
                "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
                "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
                "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
                "http://www.opengis.net/spec/iot_sensing/1.1/req/create-update-delete",
                "http://www.opengis.net/spec/iot_sensing/1.1/req/data-array/data-array",
            ]},
        }


def _first(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if not rows:
        raise NotFoundError("the entity does not exist")
    return rows[0]


def _next_link(url: str, query: str, skip: int, top: int) -> str:
    from urllib.parse import parse_qsl, urlencode

    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)
            if k not in ("$skip", "$top")]
    return f"{url}?{urlencode(kept + [('$top', str(top)), ('$skip', str(skip))], quote_via=quote)}"


# -- writing -----------------------------------------------------------------------------
class Creator:
    """Deep insert of one request inside one transaction."""

    def __init__(self, w: SensorWriter):
        self.w = w
        self.made = 0
        self.fois: dict[int, int] = {}  # datastream -> generated FeatureOfInterest

    def create(self, es: EntitySet, body: Any, bound: dict[str, Any] | None = None) -> int:
        if not isinstance(body, dict):
            raise FeatureError(f"a {es.entity} must be a JSON object")
        self.made += 1
        if self.made > MAX_DEEP:
            raise FeatureError(f"more than {MAX_DEEP} entities in one request")
        if "@iot.id" in body:  # a link to an existing entity (its other members ignored)
            ident = _int_id(body["@iot.id"], es)
            if not self.w.tx.execute(f"SELECT 1 FROM {es.table} WHERE id = ?",
                                     (ident,)).fetchone():
                raise NotFoundError(f"{es.entity} {ident} does not exist")
            return ident
        values = dict(bound or {})
        values.update(columns(es, body, creating=True))
        for link in es.links:
            if link.kind == "one" and link.name in body:
                values[link.column] = self.create(ENTITY_SETS[link.target], body[link.name])
        for link in es.links:
            if link.kind == "one" and link.column not in values and \
                    not (es.name == "Observations" and link.name == "FeatureOfInterest") and \
                    not (es.name == "HistoricalLocations"):
                raise FeatureError(f"a new {es.entity} needs its {link.name} "
                                   f"({{\"{link.name}\": {{\"@iot.id\": ...}}}} or inline)")
        if es.name == "Observations":
            ds = values.pop("datastream_id")
            if values.get("foi_id") is None:  # made from the Thing's Location (sta_foi)
                values["foi_id"] = generated_foi(self.w, ds, self.fois)
            ident = self.w.add_observation(ds, values)
        else:
            ident = self.w.insert(es.name, values)
        self._children(es, ident, body)
        return ident

    def _children(self, es: EntitySet, ident: int, body: dict[str, Any]) -> None:
        for link in es.links:
            if link.kind == "one" or link.name not in body:
                continue
            items = body[link.name]
            if not isinstance(items, list):
                raise FeatureError(f"{es.entity}/{link.name} must be a JSON array")
            target = ENTITY_SETS[link.target]
            for item in items:
                if link.kind == "many":
                    if isinstance(item, dict) and set(item) == {"@iot.id"}:
                        self.w.update(target.name, _int_id(item["@iot.id"], target),
                                      {link.column: ident})
                    else:
                        self.create(target, item, {link.column: ident})
                else:
                    other = self.create(target, item)
                    self.w.link(link.table, link.ours, link.theirs, ident, other)
            if es.name == "Things" and link.name == "Locations" and items:
                self.historical(ident)

    def historical(self, thing: int) -> None:
        """A HistoricalLocation of a Thing at its Locations now."""
        hl = self.w.insert("HistoricalLocations", {"thing_id": thing,
                                                   "time": int(time.time() * 1000)})
        for (loc,) in self.w.tx.execute("SELECT location_id FROM twin_sta_thing_locations "
                                        "WHERE thing_id = ?", (thing,)).fetchall():
            self.w.link("twin_sta_historical_location_locations", "historical_location_id",
                        "location_id", hl, loc)


def _int_id(value: Any, es: EntitySet) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FeatureError(f"{es.entity} @iot.id {value!r} must be a whole number")
    return value


#: a Datastream's members that the server computes from its observations (ignored on input)
_SERVER_SET = {"observedArea", "phenomenonTime", "resultTime"}


def columns(es: EntitySet, body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The columns of an entity's properties given in ``body`` (checked)."""
    known = {p.name for p in es.props} | {lk.name for lk in es.links} | {
        "@iot.id", "@iot.selfLink"} | (_SERVER_SET if es.name == "Datastreams" else set())
    unknown = [k for k in body if k not in known and "@iot." not in k]
    if unknown:
        raise FeatureError(f"{es.entity} has no property {unknown[0]!r}; its properties are "
                           f"{', '.join(p.name for p in es.props if p.name != 'feature_id')}")
    out: dict[str, Any] = {}
    for p in es.props:
        if p.name == "feature_id":
            continue
        if p.name not in body:
            if creating and p.required:
                raise FeatureError(f"a new {es.entity} needs {p.name!r}")
            continue
        v = body[p.name]
        what = f"{es.entity} {p.name}"
        if p.kind == "text":
            if not isinstance(v, str):
                raise FeatureError(f"{what} must be text")
            out[p.column] = v
        elif p.kind == "time":
            if p.column == "phenomenon_time":
                out["phenomenon_time"], out["phenomenon_time_end"] = \
                    parse_interval(_text(v, what), what=what)
            else:
                out[p.column] = None if v is None else to_ms(_text(v, what), what=what)
        elif p.kind == "interval":
            if es.name == "Observations":
                out["valid_start"], out["valid_end"] = parse_interval(_text(v, what), what=what)
            # a Datastream's times are the server's summary of its observations
        elif p.kind == "result":
            out["result"] = v
        elif p.kind == "json":
            out[p.column] = v
    if es.name == "Things" and isinstance(out.get("properties"), dict):
        props = dict(out["properties"])
        fid = props.pop(FEATURE_KEY, None)
        if fid is not None:
            out["feature_id"] = str(fid)
        out["properties"] = props
    if es.name == "Datastreams" and "unit" in out:
        u = out["unit"]
        if not isinstance(u, dict) or not all(isinstance(u.get(k), str | type(None))
                                              for k in ("name", "symbol", "definition")):
            raise FeatureError("Datastream unitOfMeasurement must be an object with name, "
                               "symbol and definition")
    if es.name == "Datastreams" and "observation_type" in out and \
            out["observation_type"] not in OBSERVATION_TYPES:
        raise FeatureError(f"Datastream observationType {out['observation_type']!r} is not "
                           f"one of O&M's: {', '.join(sorted(OBSERVATION_TYPES))}")
    return out


def _text(v: Any, what: str) -> str:
    if not isinstance(v, str):
        raise FeatureError(f"{what} must be an ISO 8601 time text")
    return v


def create(sensors: SensorStore, target: Target, body: Any) -> tuple[EntitySet, int]:
    """POST to an entity set, or to a navigation of one entity
    (``Datastreams(1)/Observations``): the new entity's set and id."""
    if target.single or target.prop is not None:
        raise QueryError(f"POST goes to an entity set, not to {target.path}")
    bound: dict[str, Any] = {}
    link_after = None
    if target.parent is not None:
        pes, pid, link = target.parent
        if link.kind == "many":
            bound[link.column] = pid
        elif link.kind == "m2m":
            link_after = (link, pid)
    with sensors.writing() as w:
        c = Creator(w)
        if target.es.name == "Observations" and "datastream_id" in bound:
            body = dict(body) if isinstance(body, dict) else body
        ident = c.create(target.es, body, bound)
        if link_after is not None:
            link, pid = link_after
            w.link(link.table, link.theirs, link.ours, ident, pid)
    return target.es, ident


def patch(sensors: SensorStore, target: Target, body: Any) -> None:
    if not target.single or target.prop is not None:
        raise QueryError(f"PATCH goes to one entity, not to {target.path}")
    if not isinstance(body, dict):
        raise FeatureError(f"a {target.es.entity} patch must be a JSON object")
    es = target.es
    with sensors.writing() as w:
        ident = _one_id(sensors, es, target.where, target.params)
        values = columns(es, body, creating=False)
        for link in es.links:
            if link.name in body:
                item = body[link.name]
                if link.kind != "one" or not isinstance(item, dict) or "@iot.id" not in item:
                    raise FeatureError(f"PATCH changes {link.name} by "
                                       f"{{\"{link.name}\": {{\"@iot.id\": n}}}} only")
                Creator(w).create(ENTITY_SETS[link.target], {"@iot.id": item["@iot.id"]})
                values[link.column] = item["@iot.id"]
        if es.name == "Observations":
            if "result" in values:
                r = values.pop("result")
                values["result"] = number(r)
                values["result_json"] = None if values["result"] is not None else json.dumps(r)
            w.update_observation(ident, values)
        else:
            w.update(es.name, ident, values)


def delete(sensors: SensorStore, target: Target) -> None:
    if not target.single or target.prop is not None:
        raise QueryError(f"DELETE goes to one entity, not to {target.path}")
    with sensors.writing() as w:
        w.delete(target.es.name, _one_id(sensors, target.es, target.where, target.params))


def create_observations(sensors: SensorStore, body: Any, base: str) -> list[str]:
    """The dataArray extension: ``[{"Datastream": {"@iot.id": n}, "components":
    [...], "dataArray": [[...], ...]}, ...]``; returns the self links of the
    observations created, in order."""
    if not isinstance(body, list):
        raise FeatureError("CreateObservations takes a JSON array of dataArray objects")
    total = sum(len(b.get("dataArray", [])) for b in body if isinstance(b, dict))
    if total > MAX_DATA_ARRAY:
        raise FeatureError(f"{total} observations in one request; at most {MAX_DATA_ARRAY}")
    es = ENTITY_SETS["Observations"]
    allowed = {"phenomenonTime", "result", "resultTime", "resultQuality", "validTime",
               "parameters", "FeatureOfInterest/id"}
    out: list[str] = []
    with sensors.writing() as w:
        c = Creator(w)
        for k, block in enumerate(body):
            if not isinstance(block, dict) or not isinstance(block.get("Datastream"), dict):
                raise FeatureError(f"dataArray object {k} names no Datastream")
            ds = c.create(ENTITY_SETS["Datastreams"], {"@iot.id": block["Datastream"].get(
                "@iot.id")})
            comps = block.get("components")
            if not isinstance(comps, list) or not set(comps) <= allowed or \
                    "phenomenonTime" not in comps or "result" not in comps:
                raise FeatureError(f"dataArray object {k}: components must hold phenomenonTime "
                                   f"and result, and only {', '.join(sorted(allowed))}")
            rows = block.get("dataArray")
            if not isinstance(rows, list):
                raise FeatureError(f"dataArray object {k} has no dataArray list")
            for j, row in enumerate(rows):
                if not isinstance(row, list) or len(row) != len(comps):
                    raise FeatureError(f"dataArray object {k}, row {j}: {len(comps)} values "
                                       "expected")
                item = dict(zip(comps, row))
                foi = item.pop("FeatureOfInterest/id", None)
                values = columns(es, item, creating=True)
                values["foi_id"] = generated_foi(w, ds, c.fois) if foi is None else \
                    c.create(ENTITY_SETS["FeaturesOfInterest"], {"@iot.id": foi})
                out.append(f"{base}/Observations({w.add_observation(ds, values)})")
    return out
