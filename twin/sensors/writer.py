"""Writes of sensing entities and observations inside one transaction of the
twin (:meth:`twin.sensors.store.SensorStore.writing`).

Every write of observations keeps its datastreams' summaries (time extents,
count, latest value) up to date, from the written values only: a write of
10,000 readings never rescans the 35 million already stored. The bulk path
of observations is the one backend difference: ``executemany`` in SQLite,
``COPY`` (binary) in PostgreSQL.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FeatureError, NotFoundError
from . import rollup
from .model import ENTITY_SETS, EntitySet

if TYPE_CHECKING:
    from .store import SensorStore

#: observations per statement of the bulk path
OBS_CHUNK = 50_000
_OBS_COLUMNS = ("datastream_id", "phenomenon_time", "phenomenon_time_end", "result_time",
                "result", "result_json", "result_quality", "valid_start", "valid_end",
                "parameters", "foi_id")
_SUMMARY = ("phenomenon_start", "phenomenon_end", "result_time_start", "result_time_end",
            "observation_count", "last_time", "last_result", "last_result_json")



class SensorWriter:
    """Writes inside one transaction of the twin (:meth:`SensorStore.writing`)."""

    def __init__(self, sensors: SensorStore, tx: Any):
        self.sensors = sensors
        self.tx = tx
        self._touched: dict[int, dict[str, Any]] = {}
        self._hours: set[tuple[int, int]] = set()  # rollup hours to recompute

    # -- entities -------------------------------------------------------------
    def insert(self, entity_set: str, values: dict[str, Any]) -> int:
        """Insert one entity from column values (JSON columns as Python
        values); returns its id."""
        es = ENTITY_SETS[entity_set]
        cols, params = _columns(es, values)
        sql = (f"INSERT INTO {es.table} ({', '.join(cols)}) VALUES "
               f"({', '.join('?' * len(cols))}) RETURNING id")
        return int(self.tx.execute(sql, params).fetchone()[0])

    def update(self, entity_set: str, entity_id: int, values: dict[str, Any]) -> None:
        es = ENTITY_SETS[entity_set]
        cols, params = _columns(es, values)
        if not cols:
            return
        sets = ", ".join(f"{c} = ?" for c in cols)
        n = self.tx.execute(f"UPDATE {es.table} SET {sets} WHERE id = ?",
                            [*params, int(entity_id)]).rowcount
        if n == 0:
            raise NotFoundError(f"{es.entity} {entity_id} does not exist")

    def update_observation(self, obs_id: int, values: dict[str, Any]) -> None:
        """Change one observation (``result`` given as ``result``/``result_json``
        columns); its datastreams' summaries are recomputed."""
        row = self.tx.execute("SELECT datastream_id, phenomenon_time FROM twin_sta_observations "
                              "WHERE id = ?", (int(obs_id),)).fetchone()
        if row is None:
            raise NotFoundError(f"Observation {obs_id} does not exist")
        self._hour(row[0], row[1])
        self._hour(values.get("datastream_id", row[0]), values.get("phenomenon_time", row[1]))
        for ds in {int(row[0]), int(values.get("datastream_id", row[0]))}:
            self.sensors.require_datastream(ds, self.tx)
            self._touched.setdefault(ds, {})["rescan"] = True
        if values:
            cols = list(values)
            params = [json.dumps(values[c]) if c in ("result_quality", "parameters") and
                      values[c] is not None else values[c] for c in cols]
            self.tx.execute(f"UPDATE twin_sta_observations SET "
                            f"{', '.join(c + ' = ?' for c in cols)} WHERE id = ?",
                            [*params, int(obs_id)])

    def delete(self, entity_set: str, entity_id: int) -> None:
        es = ENTITY_SETS[entity_set]
        if entity_set == "Observations":
            row = self.tx.execute("SELECT datastream_id, phenomenon_time FROM "
                                  "twin_sta_observations WHERE id = ?", (int(entity_id),)
                                  ).fetchone()
            if row is not None:
                self._touched.setdefault(int(row[0]), {"rescan": True})["rescan"] = True
                self._hour(row[0], row[1])
        n = self.tx.execute(f"DELETE FROM {es.table} WHERE id = ?", (int(entity_id),)).rowcount
        if n == 0:
            raise NotFoundError(f"{es.entity} {entity_id} does not exist")
        for lk in es.links:  # what hangs on it goes with it (SensorThings' rule)
            if lk.kind == "m2m":
                self.tx.execute(f"DELETE FROM {lk.table} WHERE {lk.ours} = ?", (int(entity_id),))
        if entity_set == "Datastreams":
            for table in ("twin_sta_observations", "twin_sta_hourly"):
                self.tx.execute(f"DELETE FROM {table} WHERE datastream_id = ?",
                                (int(entity_id),))
            self._touched.pop(int(entity_id), None)
            self._hours = {h for h in self._hours if h[0] != int(entity_id)}
        elif entity_set == "Things":
            for (ds,) in self.tx.execute("SELECT id FROM twin_sta_datastreams WHERE thing_id = ?",
                                         (int(entity_id),)).fetchall():
                self.delete("Datastreams", ds)
            self.tx.execute("DELETE FROM twin_sta_historical_locations WHERE thing_id = ?",
                            (int(entity_id),))

    def link(self, table: str, ours: str, theirs: str, a: int, b: int) -> None:
        """A row of a many-to-many link table (once)."""
        if self.tx.execute(f"SELECT 1 FROM {table} WHERE {ours} = ? AND {theirs} = ?",
                           (int(a), int(b))).fetchone() is None:
            self.tx.execute(f"INSERT INTO {table} ({ours}, {theirs}) VALUES (?, ?)",
                            (int(a), int(b)))

    # -- observations ---------------------------------------------------------
    def add_observation(self, datastream_id: int, values: dict[str, Any]) -> int:
        """One observation from column values (``result`` any JSON value)."""
        self.sensors.require_datastream(datastream_id, self.tx)
        row = dict(values, datastream_id=int(datastream_id))
        result = row.pop("result", None)
        num = number(result)
        row["result"] = num
        row["result_json"] = None if num is not None else json.dumps(result)
        cols = [c for c in _OBS_COLUMNS if row.get(c) is not None]
        params = [json.dumps(row[c]) if c in ("result_quality", "parameters") else row[c]
                  for c in cols]
        new = int(self.tx.execute(
            f"INSERT INTO twin_sta_observations ({', '.join(cols)}) VALUES "
            f"({', '.join('?' * len(cols))}) RETURNING id", params).fetchone()[0])
        self._touched.setdefault(int(datastream_id), {})["rescan"] = True
        self._hour(datastream_id, row["phenomenon_time"])
        return new

    def _hour(self, ds: Any, t: Any) -> None:
        self._hours.add((int(ds), int(t) - int(t) % rollup.HOUR))

    def add_observations(self, datastream_id: int, times: Any, values: Any, *,
                         result_times: Any = None, foi_id: int | None = None) -> int:
        """Bulk numeric observations of one datastream: ``times`` (n,) int64
        milliseconds since 1970 UTC, ``values`` (n,) float64 (finite);
        ``result_times`` (n,) int64 or ``None``. Returns n."""
        t = np.asarray(times, dtype=np.int64).ravel()
        v = np.asarray(values, dtype=np.float64).ravel()
        if t.shape != v.shape:
            raise FeatureError(f"datastream {datastream_id}: {len(t)} times but "
                               f"{len(v)} values")
        if not np.isfinite(v).all():
            raise FeatureError(f"datastream {datastream_id}: a value is not a finite number")
        rt = None if result_times is None else np.asarray(result_times, dtype=np.int64).ravel()
        if rt is not None and rt.shape != t.shape:
            raise FeatureError(f"datastream {datastream_id}: {len(rt)} result times for "
                               f"{len(t)} observations")
        if len(t) == 0:
            return 0
        ds = int(datastream_id)
        self.sensors.require_datastream(ds, self.tx)
        if self.sensors.server:
            _copy_observations(self.tx.conn, ds, t, v, rt, foi_id)
        else:
            _insert_observations(self.tx, ds, t, v, rt, foi_id)
        rollup.fold_bulk(self.tx, self.sensors.server, ds, t, v)
        self._fold(ds, t, v, rt)
        return len(t)

    def _fold(self, ds: int, t: np.ndarray, v: np.ndarray, rt: np.ndarray | None) -> None:
        """Fold written observations into the pending summary of ``ds``."""
        s = self._touched.setdefault(ds, {})
        last = int(np.flatnonzero(t == t.max())[-1])  # the latest; the last written on ties
        part = {"lo": int(t.min()), "hi": int(t.max()), "n": len(t),
                "last_time": int(t[last]), "last_result": float(v[last]),
                "rlo": int(rt.min()) if rt is not None else None,
                "rhi": int(rt.max()) if rt is not None else None}
        if "part" not in s:
            s["part"] = part
            return
        old = s["part"]
        keep_old = old["last_time"] > part["last_time"]
        s["part"] = {"lo": min(old["lo"], part["lo"]), "hi": max(old["hi"], part["hi"]),
                     "n": old["n"] + part["n"],
                     "last_time": old["last_time"] if keep_old else part["last_time"],
                     "last_result": old["last_result"] if keep_old else part["last_result"],
                     "rlo": _min(old["rlo"], part["rlo"]), "rhi": _max(old["rhi"], part["rhi"])}

    def finish(self) -> None:
        """Write the summaries of the datastreams this transaction touched."""
        for ds, hour in sorted(self._hours):
            rollup.recompute(self.tx, ds, hour)
        self._hours.clear()
        for ds, s in sorted(self._touched.items()):
            if s.get("rescan"):
                self.sensors.rescan(ds, self.tx)
                continue
            p = s["part"]
            cur = self.tx.execute(f"SELECT {', '.join(_SUMMARY)} FROM twin_sta_datastreams "
                                  "WHERE id = ?", (ds,)).fetchone()
            old = dict(zip(_SUMMARY, cur))
            newer = old["last_time"] is None or p["last_time"] >= old["last_time"]
            vals = (_min(old["phenomenon_start"], p["lo"]), _max(old["phenomenon_end"], p["hi"]),
                    _min(old["result_time_start"], p["rlo"]),
                    _max(old["result_time_end"], p["rhi"]),
                    int(old["observation_count"]) + p["n"],
                    p["last_time"] if newer else old["last_time"],
                    p["last_result"] if newer else old["last_result"],
                    None if newer else old["last_result_json"])
            self.tx.execute(f"UPDATE twin_sta_datastreams SET "
                            f"{', '.join(c + ' = ?' for c in _SUMMARY)} WHERE id = ?",
                            (*vals, ds))
        self._touched.clear()


def _min(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _max(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def number(value: Any) -> float | None:
    """A finite number as float, anything else ``None`` (kept as JSON instead)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if np.isfinite(f) else None


def _columns(es: EntitySet, values: dict[str, Any]) -> tuple[list[str], list[Any]]:
    json_cols = {p.column for p in es.props if p.kind == "json"}
    cols = list(values)
    return cols, [json.dumps(values[c]) if c in json_cols and values[c] is not None
                  else values[c] for c in cols]


def _insert_observations(tx: Any, ds: int, t: np.ndarray, v: np.ndarray,
                         rt: np.ndarray | None, foi_id: int | None) -> None:
    """Numeric observations by ``executemany`` (SQLite), only the columns given."""
    cols = ["datastream_id", "phenomenon_time", "result"]
    extra: list[list[Any]] = []
    if rt is not None:
        cols.append("result_time")
        extra.append(rt.tolist())
    if foi_id is not None:
        cols.append("foi_id")
        extra.append([foi_id] * len(t))
    sql = (f"INSERT INTO twin_sta_observations ({', '.join(cols)}) VALUES "
           f"({', '.join('?' * len(cols))})")
    ts, vs = t.tolist(), v.tolist()
    for lo in range(0, len(t), OBS_CHUNK):
        hi = min(lo + OBS_CHUNK, len(t))
        tx.executemany(sql, zip([ds] * (hi - lo), ts[lo:hi], vs[lo:hi],
                                *(e[lo:hi] for e in extra)))


def _copy_observations(conn: Any, ds: int, t: np.ndarray, v: np.ndarray,
                       rt: np.ndarray | None, foi_id: int | None) -> None:
    """Binary COPY of numeric observations (PostgreSQL)."""
    cols = ["datastream_id", "phenomenon_time", "result"]
    types = ["int8", "int8", "float8"]
    if rt is not None:
        cols.append("result_time")
        types.append("int8")
    if foi_id is not None:
        cols.append("foi_id")
        types.append("int8")
    with conn.cursor() as cur, cur.copy(
            f"COPY twin_sta_observations ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(types)
        ts, vs = t.tolist(), v.tolist()
        if rt is None and foi_id is None:
            for a, b in zip(ts, vs):
                copy.write_row((ds, a, b))
        else:
            rts = rt.tolist() if rt is not None else None
            for i, (a, b) in enumerate(zip(ts, vs)):
                row = [ds, a, b]
                if rts is not None:
                    row.append(rts[i])
                if foi_id is not None:
                    row.append(foi_id)
                copy.write_row(row)
