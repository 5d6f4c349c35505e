"""What QGIS (through GDAL's GeoPackage driver) finds in a twin besides its
layers: a default style per layer and a spatial index it can use.

* ``layer_styles``: the table QGIS reads a layer's default style from and
  saves styles into (its own layout, registered in ``gpkg_contents`` as an
  attributes table, as QGIS itself does). Each layer gets one style, named
  ``twin default``, drawn in the catalogue colour (``twin/layers.py``), as
  QML (QGIS) and SLD 1.1 (other GIS tools). Rows of other owners (styles
  users saved from QGIS) are kept.
* The layers are views over ``twin_features``; the twin's R*Tree holds the
  3D bounds of every feature by ``fid``. A view ``rtree_<layer>_geom``
  (id, minx, maxx, miny, maxy) over it, registered as the GeoPackage
  ``gpkg_rtree_index`` extension of the layer, is what GDAL joins a spatial
  filter on, so a map view in QGIS reads through the index instead of every
  footprint. Ids of other layers' features in the box simply find no row.
  SQLite's planner is told (``sqlite_stat1``) that a layer is a large share
  of the features, so that it starts such a join from the R*Tree.

* The layer views refuse writes with a message that says how to change the
  twin (GDAL offers every view as writable; QGIS would otherwise fail on
  save with SQLite's bare "cannot modify ... because it is a view"), unless
  the layer is in edit mode (:mod:`.edits`: its triggers record the edits).

Everything here is idempotent: written when a twin is created or a layer
added, and filled in on a writable open of a twin made before (no schema
version change: these are readers' conveniences, not the twin's data).
"""

from __future__ import annotations

import sqlite3

from ...layers import Layer
from ..styles import OWNER, STYLE_NAME, style_qml, style_sld
from .schema import quote

RTREE_EXTENSION = ("gpkg_rtree_index", "http://www.geopackage.org/spec120/#extension_rtree",
                   "write-only")

LAYER_STYLES_SQL = (
    "CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256), "
    "f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT, "
    "useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
    "update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))")


def rtree_name(layer: str) -> str:
    return f"rtree_{layer}_geom"


#: What SQLite's planner is told of the layer index (``sqlite_stat1``: rows,
#: rows per layer, rows per layer and type): that a layer is a large share of
#: the features. Without it SQLite guesses that ``layer = 'x'`` selects ten
#: rows and reads a whole layer before the R*Tree, which made GDAL's
#: spatially filtered reads 4 times slower than without an index
#: (``bench/gis_bench.py``); with it, GDAL's join starts from the R*Tree.
LAYER_INDEX_STAT = ("twin_features", "twin_features_layer_type", "1000000 50000 5000")


def planner_stats(conn: sqlite3.Connection) -> None:
    """Write :data:`LAYER_INDEX_STAT` (again: dropping the index, as a bulk
    load does, drops its statistics)."""
    conn.execute("ANALYZE sqlite_master")  # makes sqlite_stat1 if there is none
    conn.execute("DELETE FROM sqlite_stat1 WHERE tbl = ? AND idx = ?", LAYER_INDEX_STAT[:2])
    conn.execute("INSERT INTO sqlite_stat1 VALUES (?, ?, ?)", LAYER_INDEX_STAT)


def ensure_tables(conn: sqlite3.Connection) -> None:
    """``layer_styles`` and its ``gpkg_contents`` entry, if missing, and the
    planner's statistics of the layer index."""
    planner_stats(conn)
    conn.execute(LAYER_STYLES_SQL)
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) "
        "VALUES ('layer_styles', 'attributes', 'layer_styles', "
        "'Layer styles (QGIS): the default style of each layer')")


def register_layer(conn: sqlite3.Connection, layer: Layer) -> None:
    """A layer's spatial index view, its extension row and its default style
    (replacing the one written here before: the catalogue colour may have
    changed; users' own styles stay)."""
    read_only_triggers(conn, layer)
    name = rtree_name(layer.name)
    conn.execute(f"CREATE VIEW IF NOT EXISTS {quote(name)} AS SELECT id, minx, maxx, miny, "
                 "maxy FROM twin_rtree")
    conn.execute("INSERT OR IGNORE INTO gpkg_extensions VALUES (?, 'geom', ?, ?, ?)",
                 (layer.name, *RTREE_EXTENSION))
    conn.execute("DELETE FROM layer_styles WHERE f_table_name = ? AND owner = ? AND "
                 "styleName = ?", (layer.name, OWNER, STYLE_NAME))
    default = conn.execute("SELECT 1 FROM layer_styles WHERE f_table_name = ? AND "
                           "useAsDefault", (layer.name,)).fetchone() is None
    conn.execute(
        "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
        "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, owner, "
        "ui) VALUES ('', '', ?, 'geom', ?, ?, ?, ?, ?, ?, NULL)",
        (layer.name, STYLE_NAME, style_qml(layer), style_sld(layer), int(default),
         f"{layer.title} {layer.title_zh}: catalogue colour {layer.colour}".strip(), OWNER))


#: What a GIS client that writes into a layer is told (SQLite aborts the statement).
READ_ONLY = ("{layer} is a read-only view of the twin: change features by importing them "
             "(twin import) so that each change is a batch, validated and undoable")


def read_only_triggers(conn: sqlite3.Connection, layer: Layer) -> None:
    """INSTEAD OF triggers that refuse writes into a layer's view with a
    message saying why (GDAL offers views as writable, and an edit saved from
    QGIS would otherwise fail with SQLite's bare "cannot modify ... view")."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?",
                    (f"{layer.name}_edits_update",)).fetchone() is not None:
        return  # in edit mode (twin edits enable): its triggers record edits
    message = READ_ONLY.format(layer=layer.name).replace("'", "''")
    for op in ("INSERT", "UPDATE", "DELETE"):
        name = quote(f"{layer.name}_read_only_{op.lower()}")
        conn.execute(f"CREATE TRIGGER IF NOT EXISTS {name} INSTEAD OF {op} ON "
                     f"{quote(layer.name)} BEGIN SELECT RAISE(ABORT, '{message}'); END")


def missing(conn: sqlite3.Connection, layers: list[Layer]) -> bool:
    """Whether a twin lacks any of what this module writes."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    if "layer_styles" not in names or "sqlite_stat1" not in names:
        return True
    if conn.execute("SELECT 1 FROM sqlite_stat1 WHERE tbl = ? AND idx = ?",
                    LAYER_INDEX_STAT[:2]).fetchone() is None:
        return True
    if any(rtree_name(la.name) not in names or (f"{la.name}_read_only_update" not in names
                                                 and f"{la.name}_edits_update" not in names)
           for la in layers):
        return True
    styled = {r[0] for r in conn.execute(
        "SELECT f_table_name FROM layer_styles WHERE owner = ? AND styleName = ?",
        (OWNER, STYLE_NAME))}
    return any(la.name not in styled for la in layers)


def ensure_all(conn: sqlite3.Connection, layers: list[Layer]) -> None:
    """Everything of this module for every layer (inside the caller's transaction)."""
    ensure_tables(conn)
    for layer in layers:
        register_layer(conn, layer)


__all__ = ["ensure_all", "ensure_tables", "missing", "register_layer", "style_qml",
           "style_sld"]
