"""Edit mode of a GeoPackage twin: edits saved by a GIS client are recorded.

By default the layer views refuse writes (:func:`.qgis.read_only_triggers`).
``twin edits enable`` switches a layer's INSTEAD OF triggers to *recording*
ones: each ``INSERT``, ``UPDATE`` or ``DELETE`` a client (QGIS, GDAL) runs on
the view adds a row to ``twin_pending_edits`` instead: the operation, the
feature's ``fid`` and id, the 2D geometry blob as the client wrote it and the
other columns' new (and, for an update, old) values as JSON. The twin's
features are not touched: ``twin edits apply`` validates the pending edits
and turns them into one import batch (:mod:`converters.gis_edits`).

``twin_pending_edits`` is not registered in ``gpkg_contents``: GIS clients
do not list it as a layer. Which layers are in edit mode is the set of
layers that have recording triggers (``<layer>_edits_<op>``).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from ...errors import StoreError
from ...layers import Layer
from ..rows import layer_view_columns
from .schema import literal, quote

TABLE = "twin_pending_edits"
TABLE_SQL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "layer TEXT NOT NULL, op TEXT NOT NULL, fid INTEGER, feature_id TEXT, geom BLOB, "
    "geom_changed INTEGER NOT NULL DEFAULT 0, new_values TEXT, old_values TEXT, "
    "recorded TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), refused TEXT)")
OPS = ("insert", "update", "delete")


@dataclass(frozen=True)
class PendingEdit:
    """One recorded edit: ``new`` (insert, update) and ``old`` (update) map
    the view's columns (without ``geom``) to the values; ``refused`` is why an
    earlier ``apply`` left it pending."""

    id: int
    layer: str
    op: str
    fid: int | None
    feature_id: str | None
    geom: bytes | None
    geom_changed: bool
    new: dict[str, Any]
    old: dict[str, Any]
    recorded: str
    refused: str | None


def _columns(layer: Layer) -> list[str]:
    """The view's columns except ``geom`` (their names as clients see them)."""
    return [c.split(" AS ")[-1] for c in layer_view_columns(layer) if c != "geom"]


def _json(prefix: str, layer: Layer) -> str:
    return "json_object(" + ", ".join(f"{literal(c)}, {prefix}.{quote(c)}"
                                      for c in _columns(layer)) + ")"


def trigger_name(layer: str, op: str) -> str:
    return f"{layer}_edits_{op}"


def _read_only_name(layer: str, op: str) -> str:
    return f"{layer}_read_only_{op}"


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
        conn.execute(f"DROP TRIGGER IF EXISTS {quote(_read_only_name(layer.name, op))}")
        conn.execute(f"DROP TRIGGER IF EXISTS {quote(trigger_name(layer.name, op))}")
        conn.execute(f"CREATE TRIGGER {quote(trigger_name(layer.name, op))} INSTEAD OF "
                     f"{op.upper()} ON {view} BEGIN {bodies[op]}; END")


def editable_layers(conn: sqlite3.Connection) -> list[str]:
    """The layers in edit mode (those with recording triggers)."""
    rows = conn.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND "
                        "name = tbl_name || '_edits_update' ORDER BY tbl_name").fetchall()
    return [r[0] for r in rows]


def enable(conn: sqlite3.Connection, layers: list[Layer]) -> None:
    """Edit mode for ``layers`` (inside the caller's transaction)."""
    conn.execute(TABLE_SQL)
    for layer in layers:
        recording_triggers(conn, layer)


def disable(conn: sqlite3.Connection, layers: list[Layer]) -> None:
    """The refusing triggers again for ``layers`` (the caller checks that
    nothing is pending)."""
    from .qgis import read_only_triggers

    for layer in layers:
        for op in OPS:
            conn.execute(f"DROP TRIGGER IF EXISTS {quote(trigger_name(layer.name, op))}")
        read_only_triggers(conn, layer)


def has_table(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (TABLE,)).fetchone() is not None


def pending(conn: sqlite3.Connection, limit: int | None = None) -> list[PendingEdit]:
    """The pending edits, in the order they were recorded."""
    if not has_table(conn):
        return []
    sql = (f"SELECT id, layer, op, fid, feature_id, geom, geom_changed, new_values, "
           f"old_values, recorded, refused FROM {TABLE} ORDER BY id")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    out = []
    for r in conn.execute(sql):
        try:
            new = json.loads(r[7]) if r[7] else {}
            old = json.loads(r[8]) if r[8] else {}
        except json.JSONDecodeError as exc:  # the table is written by our triggers only
            raise StoreError(f"pending edit {r[0]} has unreadable values: {exc}") from None
        out.append(PendingEdit(int(r[0]), r[1], r[2], r[3], r[4], r[5], bool(r[6]), new, old,
                               r[9], r[10]))
    return out


def count(conn: sqlite3.Connection) -> int:
    if not has_table(conn):
        return 0
    return int(conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])


def settle(conn: sqlite3.Connection, applied: list[int], refused: dict[int, str]) -> None:
    """Drop the applied edits and note why the refused ones stay pending."""
    conn.executemany(f"DELETE FROM {TABLE} WHERE id = ?", [(i,) for i in applied])
    conn.executemany(f"UPDATE {TABLE} SET refused = ? WHERE id = ?",
                     [(why, i) for i, why in refused.items()])


def discard(conn: sqlite3.Connection) -> int:
    n = count(conn)
    if n:
        conn.execute(f"DELETE FROM {TABLE}")
    return n




# -- on an open store -------------------------------------------------------------
def _gpkg(store: Any) -> Any:
    from .store import GeoPackageStore

    if not isinstance(store, GeoPackageStore):
        raise StoreError(
            f"{store.path}: edit mode (twin edits) is for GeoPackage twins; a PostGIS twin "
            "takes edits from GIS clients through the OGC API - Features - Part 4 writes of "
            "'twin serve' (POST, PUT, PATCH, DELETE on /collections/{layer}/items)")
    return store


def store_enable(store: Any, layers: list[str] | None = None) -> list[str]:
    """Put ``layers`` (all when ``None``) of a GeoPackage twin in edit mode;
    returns the layers now in edit mode."""
    gs = _gpkg(store)
    known = {la.name: la for la in gs.layers()}
    unknown = [n for n in layers or [] if n not in known]
    if unknown:
        raise StoreError(f"{gs.path}: no layer {unknown[0]!r}; the twin has "
                         f"{', '.join(known)}")
    chosen = [known[n] for n in layers] if layers else list(known.values())
    with gs._transaction() as conn:
        enable(conn, chosen)
    return editable_layers(gs._conn)


def store_disable(store: Any, discard_pending: bool = False) -> int:
    """Every layer read-only again; refused while edits are pending unless
    ``discard_pending`` (returns how many were discarded)."""
    gs = _gpkg(store)
    n = count(gs._conn)
    if n and not discard_pending:
        raise StoreError(f"{gs.path}: {n} edit(s) are pending; apply them (twin edits apply) "
                         "or pass --discard to drop them")
    with gs._transaction() as conn:
        dropped = discard(conn)
        disable(conn, [la for la in gs.layers() if la.name in editable_layers(conn)])
    return dropped


def store_pending(store: Any) -> list[PendingEdit]:
    return pending(_gpkg(store)._conn)


def store_settle(store: Any, applied: list[int], refused: dict[int, str]) -> None:
    gs = _gpkg(store)
    with gs._transaction() as conn:
        settle(conn, applied, refused)


def store_discard(store: Any) -> int:
    gs = _gpkg(store)
    with gs._transaction() as conn:
        return discard(conn)


__all__ = ["TABLE", "PendingEdit", "count", "disable", "discard", "editable_layers", "enable",
           "pending", "recording_triggers", "settle", "store_disable", "store_discard",
           "store_enable", "store_pending", "store_settle"]
