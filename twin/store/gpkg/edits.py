"""Edit mode of a GeoPackage twin (:mod:`twin.store.edits`): the recording
INSTEAD OF triggers (``<layer>_edits_<op>``) and ``twin_pending_edits``,
which is not registered in ``gpkg_contents`` (GIS clients do not list it).
An edit's geometry is the GeoPackage blob the client wrote."""

from __future__ import annotations

import sqlite3
from typing import Any

from ...layers import Layer
from ..edits import OPS, TABLE, view_columns
from .schema import literal, quote

#: The placeholder of a parameter on an import batch's connection.
PARAM = "?"
WKB = False
TABLE_SQL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "layer TEXT NOT NULL, op TEXT NOT NULL, fid INTEGER, feature_id TEXT, geom BLOB, "
    "geom_changed INTEGER NOT NULL DEFAULT 0, new_values TEXT, old_values TEXT, "
    "recorded TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), refused TEXT)")


def _json(prefix: str, layer: Layer) -> str:
    """The row's values as a JSON object. SQLite writes an infinite REAL
    as ``Inf``, which is not JSON: it goes in as the text ``'Inf'``, which
    the typed-attribute check then refuses, naming it."""
    def value(c: str) -> str:
        v = f"{prefix}.{quote(c)}"
        return f"CASE WHEN {v} IN (9e999, -9e999) THEN CAST({v} AS TEXT) ELSE {v} END"

    return "json_object(" + ", ".join(f"{literal(c)}, {value(c)}"
                                      for c in view_columns(layer)) + ")"


def trigger_name(layer: str, op: str) -> str:
    return f"{layer}_edits_{op}"


def recording_triggers(conn: sqlite3.Connection, layer: Layer) -> None:
    """Replace a layer's refusing triggers by recording ones."""
    view, name = quote(layer.name), literal(layer.name)
    bodies = {
        "insert": f"INSERT INTO {TABLE} (layer, op, fid, feature_id, geom, geom_changed, "
                  f"new_values) VALUES ({name}, 'insert', NEW.fid, NEW.feature_id, NEW.geom, 1, "
                  f"{_json('NEW', layer)})",
        "update": f"INSERT INTO {TABLE} (layer, op, fid, feature_id, geom, geom_changed, "
                  f"new_values, old_values) VALUES ({name}, 'update', OLD.fid, OLD.feature_id, "
                  f"NEW.geom, NEW.geom IS NOT OLD.geom, {_json('NEW', layer)}, "
                  f"{_json('OLD', layer)})",
        "delete": f"INSERT INTO {TABLE} (layer, op, fid, feature_id) VALUES ({name}, "
                  "'delete', OLD.fid, OLD.feature_id)",
    }
    for op in OPS:
        conn.execute(f"DROP TRIGGER IF EXISTS {quote(f'{layer.name}_read_only_{op}')}")
        conn.execute(f"DROP TRIGGER IF EXISTS {quote(trigger_name(layer.name, op))}")
        conn.execute(f"CREATE TRIGGER {quote(trigger_name(layer.name, op))} INSTEAD OF "
                     f"{op.upper()} ON {view} BEGIN {bodies[op]}; END")


def has_table(store: Any) -> bool:
    return bool(store._read("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                            (TABLE,)))


def editable_layers(store: Any) -> list[str]:
    rows = store._read("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND "
                       "name = tbl_name || '_edits_update' ORDER BY tbl_name")
    return [r[0] for r in rows]


def enable(store: Any, conn: sqlite3.Connection, layers: list[Layer]) -> None:
    conn.execute(TABLE_SQL)
    for layer in layers:
        recording_triggers(conn, layer)


def disable(store: Any, conn: sqlite3.Connection, layers: list[Layer]) -> None:
    from .qgis import read_only_triggers

    for layer in layers:
        for op in OPS:
            conn.execute(f"DROP TRIGGER IF EXISTS {quote(trigger_name(layer.name, op))}")
        read_only_triggers(conn, layer)
