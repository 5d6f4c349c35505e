"""Writes of the OGC SensorThings API 1.1 (token needed, checked by the
routes), each one transaction of the twin: :func:`create` with deep insert
(linked entities given inline are created, ``{"@iot.id": n}`` links to an
existing one), :func:`patch`, :func:`delete` and :func:`create_observations`
(the dataArray extension). A Thing created or linked with a Location gets a
HistoricalLocation, as the standard asks.
"""

from __future__ import annotations

import json
import time
from typing import Any

from twin.errors import FeatureError, NotFoundError, QueryError
from twin.sensors.foi import generated_foi
from twin.sensors.model import ENTITY_SETS, OBSERVATION_TYPES, EntitySet, parse_interval, to_ms
from twin.sensors.store import SensorStore, SensorWriter, number

from .sta_members import FEATURE_KEY
from .sta_paths import Target, one_id

#: Most observations of one dataArray request.
MAX_DATA_ARRAY = 100_000
#: Most entities created by one deep insert.
MAX_DEEP = 1000


class Creator:
    """Deep insert of one request inside one transaction."""

    def __init__(self, w: SensorWriter):
        self.w = w
        self.made = 0
        self.fois: dict[int, int | None] = {}  # datastream -> generated FeatureOfInterest

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
        ident = one_id(sensors, es, target.where, target.params)
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
        w.delete(target.es.name, one_id(sensors, target.es, target.where, target.params))


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
