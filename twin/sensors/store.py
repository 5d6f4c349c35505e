"""Sensing entities and observations kept in a twin store (either backend).

:func:`sensors_of` gives the :class:`SensorStore` of an open twin. Writes run
in the twin's own transactions (:meth:`SensorStore.writing`: all or
nothing, the twin's revision raised once); reads are plain statements.
SQL is written once with ``?`` placeholders; the only backend difference is
the bulk path of observations: ``executemany`` in SQLite, ``COPY`` (binary)
in PostgreSQL.

Every write of observations keeps its datastreams' summaries (time extents,
count, latest value) up to date, from the written values only: a write of
10,000 readings never rescans the 35 million already stored
(:mod:`twin.sensors.writer`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NotFoundError, OptionError, QueryError
from . import rollup
from .model import ENTITY_SETS, INTERVALS, EntitySet
from .writer import _SUMMARY, OBS_CHUNK, SensorWriter, number

__all__ = ["OBS_CHUNK", "Aggregate", "SensorStore", "SensorWriter", "Series", "number",
           "sensors_of"]


@dataclass(frozen=True)
class Series:
    """Observations of one datastream: ``times`` (n,) int64 milliseconds
    since 1970 UTC, ascending; ``values`` (n,) float64 (NaN where a result is
    not a number)."""

    times: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Aggregate:
    """Per-bucket statistics of one datastream: ``start`` (n,) int64 (ms, the
    bucket's first instant), ``count`` (n,) int64, ``min``/``max``/``mean``
    (n,) float64."""

    start: np.ndarray
    count: np.ndarray
    min: np.ndarray
    max: np.ndarray
    mean: np.ndarray


def sensors_of(store: Any) -> SensorStore:
    """The sensing half of an open twin (a GeoPackage or PostGIS store)."""
    return SensorStore(store)


def _is_server(store: Any) -> bool:
    from ..store.gpkg import GeoPackageStore

    return not isinstance(store, GeoPackageStore)


class _SqliteTx:
    """The GeoPackage's connection with ``executemany`` as the writer wants it."""

    def __init__(self, conn: Any):
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Any) -> None:
        self.conn.executemany(sql, rows)


class SensorStore:
    """Sensing entities and time series of one open twin."""

    def __init__(self, store: Any):
        self.store = store
        self.server = _is_server(store)

    # -- writing --------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[SensorWriter]:
        """One transaction of the twin: all the writes land, or none."""
        with self.store._transaction() as tx:
            writer = SensorWriter(self, tx if self.server else _SqliteTx(tx))
            yield writer
            writer.finish()

    def require_datastream(self, ds: int, tx: Any = None) -> None:
        sql = "SELECT 1 FROM twin_sta_datastreams WHERE id = ?"
        found = tx.execute(sql, (int(ds),)).fetchone() if tx is not None else \
            (self.store._read(sql, (int(ds),)) or [None])[0]
        if found is None:
            raise NotFoundError(f"datastream {ds} does not exist in {self.store.path}")

    def rescan(self, ds: int, tx: Any) -> None:
        """Recompute one datastream's summary from its observations (after a
        single observation was added, changed or deleted)."""
        o = "FROM twin_sta_observations WHERE datastream_id = ?"
        lo, hi, rlo, rhi, n = tx.execute(
            f"SELECT MIN(phenomenon_time), MAX(COALESCE(phenomenon_time_end, phenomenon_time)), "
            f"MIN(result_time), MAX(result_time), COUNT(*) {o}", (ds,)).fetchone()
        last = tx.execute(f"SELECT phenomenon_time, result, result_json {o} "
                          "ORDER BY phenomenon_time DESC, id DESC LIMIT 1", (ds,)).fetchone()
        last = last or (None, None, None)
        tx.execute(f"UPDATE twin_sta_datastreams SET {', '.join(c + ' = ?' for c in _SUMMARY)} "
                   "WHERE id = ?", (lo, hi, rlo, rhi, n, *last, ds))

    # -- reading --------------------------------------------------------------
    def get(self, entity_set: str, entity_id: int) -> dict[str, Any]:
        """One entity's columns (JSON columns decoded), or NotFoundError."""
        es = ENTITY_SETS[entity_set]
        rows = self.select(es, "t.id = ?", [int(entity_id)])
        if not rows:
            raise NotFoundError(f"{es.entity} {entity_id} does not exist")
        return rows[0]

    def select(self, es: EntitySet, where: str = "", params: Sequence[Any] = (),
               order: str = "t.id", limit: int | None = None, offset: int = 0
               ) -> list[dict[str, Any]]:
        """Rows of an entity set (alias ``t``) as column dicts."""
        sql = f"SELECT t.* FROM {es.table} t" + (f" WHERE {where}" if where else "")
        sql += f" ORDER BY {order}"
        args = list(params)
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        if offset:
            sql += (" LIMIT -1" if limit is None and not self.server else "") + " OFFSET ?"
            args.append(int(offset))
        names = self._columns_of(es.table)
        json_cols = {p.column for p in es.props if p.kind == "json"} | {
            "result_json", "result_quality", "parameters", "last_result_json"}
        out = []
        for r in self.store._read(sql, args):
            d = dict(zip(names, r))
            for c in json_cols & d.keys():
                if isinstance(d[c], str):
                    d[c] = json.loads(d[c])
            out.append(d)
        return out

    def count(self, es: EntitySet, where: str = "", params: Sequence[Any] = ()) -> int:
        sql = f"SELECT COUNT(*) FROM {es.table} t" + (f" WHERE {where}" if where else "")
        return int(self.store._read(sql, list(params))[0][0])

    #: the columns of each sensing table, as the database lists them (the same
    #: layout in every twin of this schema version; read once per process)
    _column_cache: dict[tuple[bool, str], list[str]] = {}

    def _columns_of(self, table: str) -> list[str]:
        cache, key = SensorStore._column_cache, (self.server, table)
        if key not in cache:
            if self.server:
                rows = self.store._read(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                    "AND table_schema = current_schema() ORDER BY ordinal_position", (table,))
            else:
                rows = [(r[1],) for r in self.store._read(f"PRAGMA table_info({table})")]
            if rows:  # a twin being created or upgraded may not have it yet
                cache[key] = [r[0] for r in rows]
            return [r[0] for r in rows]
        return cache[key]

    def observations(self, datastream_id: int, start: int | None = None,
                     end: int | None = None) -> Series:
        """The observations of one datastream with ``start <= time < end``
        (milliseconds; ``None``: open), in time order."""
        sql, args = self._range("SELECT phenomenon_time, result", datastream_id, start, end)
        rows = self.store._read(sql + " ORDER BY phenomenon_time, id", args)
        if not rows:
            return Series(np.zeros(0, np.int64), np.zeros(0, np.float64))
        a = np.array([(r[0], np.nan if r[1] is None else r[1]) for r in rows], dtype=np.float64)
        return Series(np.array([r[0] for r in rows], dtype=np.int64), a[:, 1])

    def _range(self, select: str, ds: int, start: int | None, end: int | None
               ) -> tuple[str, list[Any]]:
        sql = f"{select} FROM twin_sta_observations WHERE datastream_id = ?"
        args: list[Any] = [int(ds)]
        if start is not None:
            sql += " AND phenomenon_time >= ?"
            args.append(int(start))
        if end is not None:
            sql += " AND phenomenon_time < ?"
            args.append(int(end))
        return sql, args

    def aggregate(self, datastream_id: int, interval: str = "day", start: int | None = None,
                  end: int | None = None, *, utc_offset_minutes: int = 0) -> Aggregate:
        """Count, minimum, maximum and mean of the numeric results per hour or
        day. Days start at midnight of the zone ``utc_offset_minutes`` east of
        UTC (480 for China Standard Time); buckets without observations are
        left out."""
        if interval not in INTERVALS:
            raise OptionError(f"interval {interval!r} is not valid, must be one of "
                              f"{', '.join(INTERVALS)}")
        if not -14 * 60 <= int(utc_offset_minutes) <= 14 * 60:
            raise OptionError(f"UTC offset {utc_offset_minutes} minutes is not a time zone's "
                              "(from -840 to 840)")
        self.require_datastream(datastream_id)
        b, off = INTERVALS[interval], int(utc_offset_minutes) * 60_000
        if off % rollup.HOUR == 0 and all(x is None or int(x) % rollup.HOUR == 0
                                          for x in (start, end)):
            # the buckets of the hourly rollups, grouped by the database (never
            # more than 24 rows a day to read, none of them into Python)
            k = f"(hour - ((((hour + {off}) % {b}) + {b}) % {b}))"
            sql, args = self._range(f"SELECT {k} AS k, CAST(SUM(n) AS bigint), MIN(minimum), "
                                    "MAX(maximum), "
                                    "SUM(total)", datastream_id, start, end)
            sql = sql.replace("twin_sta_observations", "twin_sta_hourly").replace(
                "phenomenon_time", "hour")
            rows = self.store._read(sql + " GROUP BY k ORDER BY k", args)
            return rollup.aggregate(rows)
        # floor to the bucket in both dialects (their % keeps the dividend's sign)
        bucket = f"(phenomenon_time - ((((phenomenon_time + {off}) % {b}) + {b}) % {b}))"
        sql, args = self._range(f"SELECT {bucket} AS k, COUNT(result), MIN(result), "
                                "MAX(result), AVG(result)", datastream_id, start, end)
        rows = self.store._read(sql + " GROUP BY k ORDER BY k", args)
        cols = list(zip(*rows)) if rows else [(), (), (), (), ()]
        f = [np.array([np.nan if x is None else x for x in c], dtype=np.float64)
             for c in cols[2:]]
        return Aggregate(np.array(cols[0], dtype=np.int64), np.array(cols[1], dtype=np.int64),
                         *f)

    def latest(self, datastream_ids: Sequence[int] | None = None
               ) -> dict[int, tuple[int | None, Any]]:
        """``datastream id -> (time ms, value)`` of the latest observation of
        each (``None`` for all datastreams); ``(None, None)`` when it has none."""
        sql = "SELECT id, last_time, last_result, last_result_json FROM twin_sta_datastreams"
        args: list[Any] = []
        if datastream_ids is not None:
            ids = [int(i) for i in datastream_ids]
            if not ids:
                return {}
            if len(ids) > 30_000:
                raise QueryError(f"{len(ids)} datastreams asked at once; at most 30000")
            sql += f" WHERE id IN ({', '.join('?' * len(ids))})"
            args = ids
        out: dict[int, tuple[int | None, Any]] = {}
        for i, t, v, vj in self.store._read(sql, args):
            out[int(i)] = (t, v if v is not None else (json.loads(vj) if vj else None))
        return out

    def datastreams_linked(self, observed_property: str | None = None
                           ) -> list[dict[str, Any]]:
        """The datastreams whose Thing is linked to a twin feature (and whose
        observed property's name contains ``observed_property``, any case,
        when given), in id order: id, name, unit, observed property,
        ``feature_id`` and the first and last phenomenon times (ms)."""
        where = ""
        params: tuple[str, ...] = ()
        if observed_property is not None:
            where = " AND LOWER(p.name) LIKE ?"
            params = (f"%{observed_property.lower()}%",)
        rows = self.store._read(
            "SELECT d.id, d.name, d.unit, p.name, t.feature_id, d.phenomenon_start, "
            "d.phenomenon_end FROM twin_sta_datastreams d "
            "JOIN twin_sta_things t ON t.id = d.thing_id JOIN twin_sta_observed_properties p "
            "ON p.id = d.observed_property_id WHERE t.feature_id IS NOT NULL"
            f"{where} ORDER BY d.id", params)
        return [{"id": r[0], "name": r[1], "unit": json.loads(r[2]) if r[2] else {},
                 "observed_property": r[3], "feature_id": r[4], "phenomenon_start": r[5],
                 "phenomenon_end": r[6]} for r in rows]

    def latest_at(self, datastream_ids: Sequence[int], at: int) -> dict[int, tuple[int, Any]]:
        """``id -> (time ms, value)`` of the latest observation at or before
        ``at`` (:func:`twin.sensors.asof.latest_at`)."""
        from .asof import latest_at

        return latest_at(self, datastream_ids, at)

    def window_stats(self, datastream_ids: Sequence[int], start: int, end: int) -> dict:
        """``id -> WindowStats`` over ``start <= time < end``
        (:func:`twin.sensors.asof.window_stats`)."""
        from .asof import window_stats

        return window_stats(self, datastream_ids, start, end)

    def datastreams_of_feature(self, feature_id: str) -> list[dict[str, Any]]:
        """The datastreams of the Things on one twin feature, with their
        unit, observed property and latest value."""
        rows = self.store._read(
            "SELECT d.id, d.name, d.unit, p.name, d.last_time, d.last_result, "
            "d.last_result_json, d.observation_count, t.id FROM twin_sta_datastreams d "
            "JOIN twin_sta_things t ON t.id = d.thing_id JOIN twin_sta_observed_properties p "
            "ON p.id = d.observed_property_id WHERE t.feature_id = ? ORDER BY d.id",
            (feature_id,))
        return [{"id": r[0], "name": r[1], "unit": json.loads(r[2]), "observed_property": r[3],
                 "latest_time": r[4],
                 "latest_result": r[5] if r[5] is not None else
                 (json.loads(r[6]) if r[6] else None),
                 "observation_count": r[7], "thing_id": r[8]} for r in rows]
