"""Copying a twin's sensing tables into another twin (GeoPackage <-> PostGIS).

Rows are copied as stored, ids included (links between entities keep
pointing at the same rows), in one transaction of the destination;
PostgreSQL's id sequences are then moved past the copied ids. Called by
:func:`twin.store.copy.copy_twin` after the features.
"""

from __future__ import annotations

from typing import Any

from .schema import SENSOR_TABLES
from .store import sensors_of

_IDENTITY = ("twin_sta_things", "twin_sta_locations", "twin_sta_historical_locations",
             "twin_sta_sensors", "twin_sta_observed_properties",
             "twin_sta_features_of_interest", "twin_sta_datastreams", "twin_sta_observations")


def copy_sensors(src: Any, dst: Any) -> int:
    """Copy every sensing row of ``src`` into the empty sensing tables of
    ``dst``; returns the number of rows copied."""
    s, d = sensors_of(src), sensors_of(dst)
    total = 0
    with d.writing() as w:
        for table in SENSOR_TABLES:
            cols = s._columns_of(table)
            sql = f"SELECT {', '.join(cols)} FROM {table}"
            for rows in src._stream(sql, ()):
                total += len(rows)
                if d.server:
                    with w.tx.conn.cursor() as cur, cur.copy(
                            f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    w.tx.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                                     f"({', '.join('?' * len(cols))})", rows)
        if d.server:
            for table in _IDENTITY:
                w.tx.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                             f"GREATEST(COALESCE(MAX(id), 0), 1), MAX(id) IS NOT NULL) "
                             f"FROM {table}")
    return total
