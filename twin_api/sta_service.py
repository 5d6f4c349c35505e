"""OGC SensorThings API 1.1 over the twin's sensing tables, without HTTP.

Reading: :func:`resolve` walks a resource path (``Things(1)/Datastreams``,
:mod:`twin_api.sta_paths`), :class:`Reader` answers it with the query options
applied (:mod:`twin_api.sta_odata`): entities carry ``@iot.id``,
``@iot.selfLink`` and a ``...@iot.navigationLink`` per link not expanded;
collections carry ``value``, ``@iot.count`` when asked and ``@iot.nextLink``
when a page is full.

Writing (token needed, checked by the routes): :func:`create` with deep
insert, :func:`patch`, :func:`delete` and :func:`create_observations` (the
dataArray extension), each one transaction of the twin
(:mod:`twin_api.sta_write`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from twin.errors import NotFoundError
from twin.sensors.model import ENTITY_SETS, EntitySet, Link, interval, iso
from twin.sensors.store import SensorStore

from .sta_members import FEATURE_KEY
from .sta_odata import compile_filter, compile_orderby
from .sta_options import DEFAULT_TOP, Options
from .sta_paths import Target, resolve
from .sta_write import (
    MAX_DATA_ARRAY,
    MAX_DEEP,
    columns,
    create,
    create_observations,
    delete,
    patch,
)

__all__ = ["MAX_DATA_ARRAY", "MAX_DEEP", "VERSION_PATH", "Reader", "Target", "columns",
           "create", "create_observations", "delete", "patch", "resolve"]

VERSION_PATH = "/sta/v1.1"


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
