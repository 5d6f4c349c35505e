"""Values of many datastreams at one time: "what did the 1,000 meters read at
08:00 on 1 April?" (the viewers' time slider, a replay of the network).

Two questions, each answered by one statement for all the datastreams asked
(SQL written once, the same on both stores):

* :func:`latest_at`: the latest observation at or before a time (the
  *as-of* value, as a SCADA historian's "value at" answers it). A datastream
  whose summary says its latest observation is not after the time answers
  from the summary; the others from the index ``(datastream_id,
  phenomenon_time, ...)``: in SQLite one index probe for the newest time at
  or before ``at`` and one for its row, in PostgreSQL a ``LATERAL`` probe
  backwards along the index (its planner turns the correlated form into
  scans: 1.3 s instead of 50 ms for 1,000 datastreams).
* :func:`window_stats`: count, minimum, maximum and mean of the numeric
  results in ``start <= time < end``, grouped by the database; from the
  hourly rollups when both ends are on the hour (24 rows a day a
  datastream), else from the observations.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import QueryError
from . import rollup

if TYPE_CHECKING:
    from .store import SensorStore

#: datastreams one question may name (the SQL names each as a parameter)
MAX_DATASTREAMS = 30_000
#: datastreams per statement (under SQLite's parameter limit)
_BATCH = 5_000


@dataclass(frozen=True)
class WindowStats:
    """Statistics of one datastream's numeric results over a window."""

    count: int
    min: float
    max: float
    mean: float


def _ids(datastream_ids: Sequence[int]) -> list[int]:
    ids = sorted({int(i) for i in datastream_ids})
    if len(ids) > MAX_DATASTREAMS:
        raise QueryError(f"{len(ids)} datastreams asked at once; at most {MAX_DATASTREAMS}")
    return ids


def _batches(ids: list[int]) -> list[list[int]]:
    return [ids[k:k + _BATCH] for k in range(0, len(ids), _BATCH)]


def _value(v: Any, vj: Any) -> Any:
    return v if v is not None else (json.loads(vj) if vj else None)


def latest_at(sensors: SensorStore, datastream_ids: Sequence[int], at: int
              ) -> dict[int, tuple[int, Any]]:
    """``datastream id -> (time ms, value)`` of each datastream's latest
    observation with ``phenomenon_time <= at`` (milliseconds since 1970
    UTC); a datastream with none (or that does not exist) is left out. On
    equal times the last written wins, as in :meth:`SensorStore.latest`."""
    ids = _ids(datastream_ids)
    out: dict[int, tuple[int, Any]] = {}
    older: list[int] = []
    for batch in _batches(ids):
        marks = ", ".join("?" * len(batch))
        for i, t, v, vj in sensors.store._read(
                "SELECT id, last_time, last_result, last_result_json FROM twin_sta_datastreams "
                f"WHERE id IN ({marks})", batch):
            if t is None:
                continue
            if int(t) <= at:
                out[int(i)] = (int(t), _value(v, vj))
            else:
                older.append(int(i))
    for batch in _batches(older):
        marks = ", ".join("?" * len(batch))
        if sensors.server:
            # PostgreSQL: a LATERAL probe per datastream, backwards along the series
            # index (an incremental sort breaks ties by id within one time only)
            sql = ("SELECT d.id, o.phenomenon_time, o.result, o.result_json "
                   "FROM twin_sta_datastreams d CROSS JOIN LATERAL ("
                   "SELECT o2.phenomenon_time, o2.result, o2.result_json "
                   "FROM twin_sta_observations o2 WHERE o2.datastream_id = d.id "
                   "AND o2.phenomenon_time <= ? ORDER BY o2.phenomenon_time DESC, o2.id DESC "
                   f"LIMIT 1) o WHERE d.id IN ({marks})")
            for i, t, v, vj in sensors.store._read(sql, [int(at), *batch]):
                out[int(i)] = (int(t), _value(v, vj))
            continue
        # SQLite: the newest time at or before `at` is an index probe (MAX over a
        # range of the series index); the row of that time another
        sql = ("SELECT o.datastream_id, o.phenomenon_time, o.result, o.result_json "
               "FROM twin_sta_observations o WHERE o.id IN ("
               "SELECT (SELECT o2.id FROM twin_sta_observations o2 "
               "WHERE o2.datastream_id = d.id AND o2.phenomenon_time = ("
               "SELECT MAX(o3.phenomenon_time) FROM twin_sta_observations o3 "
               "WHERE o3.datastream_id = d.id AND o3.phenomenon_time <= ?) "
               "ORDER BY o2.id DESC LIMIT 1) "
               f"FROM twin_sta_datastreams d WHERE d.id IN ({marks}))")
        for i, t, v, vj in sensors.store._read(sql, [int(at), *batch]):
            out[int(i)] = (int(t), _value(v, vj))
    return out


def window_stats(sensors: SensorStore, datastream_ids: Sequence[int], start: int, end: int
                 ) -> dict[int, WindowStats]:
    """``datastream id -> WindowStats`` of the numeric results with ``start
    <= phenomenon_time < end`` (milliseconds); datastreams without any are
    left out."""
    if end <= start:
        raise QueryError(f"the window from {start} to {end} ms is empty")
    ids = _ids(datastream_ids)
    hourly = start % rollup.HOUR == 0 and end % rollup.HOUR == 0
    if hourly:
        select = ("SELECT datastream_id, CAST(SUM(n) AS bigint), MIN(minimum), MAX(maximum), "
                  "SUM(total) FROM twin_sta_hourly WHERE hour >= ? AND hour < ?")
    else:
        select = ("SELECT datastream_id, COUNT(result), MIN(result), MAX(result), SUM(result) "
                  "FROM twin_sta_observations WHERE phenomenon_time >= ? "
                  "AND phenomenon_time < ?")
    out: dict[int, WindowStats] = {}
    for batch in _batches(ids):
        marks = ", ".join("?" * len(batch))
        for i, n, lo, hi, total in sensors.store._read(
                f"{select} AND datastream_id IN ({marks}) GROUP BY datastream_id",
                [int(start), int(end), *batch]):
            if n:
                out[int(i)] = WindowStats(int(n), float(lo), float(hi), float(total) / int(n))
    return out
