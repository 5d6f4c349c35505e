"""The tables of a GeoPackage twin, their creation and their upgrades.

Layout of the file (schema version 2)
-------------------------------------
* The GeoPackage core tables (``gpkg_spatial_ref_sys``, ``gpkg_contents``,
  ``gpkg_geometry_columns``, ``gpkg_extensions``), so that QGIS, GDAL/OGR and
  every GeoPackage reader open it.
* ``twin_features``: one row per feature (:mod:`twin.store.rows`), with the
  2D geometry as a GeoPackage blob, the exact 3D bounds, the typed
  attributes as real columns, the free-form ones as JSON and the spatial
  partition key ``tile``.
* One read-only **view per layer** (``buildings``, ``heating``, ...),
  registered as a GeoPackage feature table: what GIS staff see in QGIS.
* ``twin_rtree``: an SQLite R*Tree over the 3D bounds of every feature, so
  that a pipe 3 m under a building and the building itself separate cleanly.
  R*Tree coordinates are 32-bit floats rounded outwards; queries refine
  against the exact bounds kept in ``twin_features``.
* ``twin_meshes`` (:mod:`twin.store.codec`), ``twin_edges`` (network
  topology), ``twin_batches`` (import batches with their reports; a batch's
  features are the fid range ``fid_min..fid_max``), ``twin_layers``,
  ``twin_meta`` and ``twin_migrations`` (the upgrades applied).

Version 1 (toolkit 0.1.0) had no ``tile`` column, no ``twin_migrations``
table, named the bounds ``xmin`` .. ``zmax`` and kept feature ids unique
through a constraint of the table rather than the named index
``twin_features_id`` (which a bulk load drops and builds again at the end).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import numpy as np

from ... import __version__
from ...attributes import TYPED_ATTRIBUTES
from ...layers import Layer
from ...sensors import schema as sensors
from ..codec import DEFAULT_TILE_SIZE, tile_keys
from ..migrate import Migration
from ..rows import layer_view_columns
from ..versions import HEALTH_CHECKS_TABLE, fill_digests

FORMAT_NAME = "digital-twin-gpkg"
GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
GPKG_USER_VERSION = 10300  # GeoPackage 1.3: read by GDAL >= 2.2 without warnings
UNBOUNDED = 1e38  # R-tree z range of features whose heights are unknown


def quote(name: str) -> str:
    """Quote an SQL identifier (names are validated before they get here)."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_FEATURES_TABLE = """
CREATE TABLE {name} (
  fid INTEGER PRIMARY KEY, feature_id TEXT NOT NULL,
  layer TEXT NOT NULL REFERENCES twin_layers(name), type TEXT NOT NULL, name TEXT,
  parent_id TEXT, lod TEXT, geom BLOB,
  min_x REAL, min_y REAL, min_z REAL, max_x REAL, max_y REAL, max_z REAL,
  source_id TEXT, batch_id INTEGER NOT NULL REFERENCES twin_batches(id), attributes TEXT,
  {typed}, tile INTEGER NOT NULL DEFAULT 0{extra})
"""

#: The secondary indexes of the features and edges (dropped and built again
#: by a bulk load): name -> definition.
FEATURE_INDEXES = {
    "twin_features_id": "CREATE UNIQUE INDEX twin_features_id ON twin_features(feature_id)",
    "twin_features_layer_type": "CREATE INDEX twin_features_layer_type ON "
                                "twin_features(layer, type)",
    "twin_features_parent": "CREATE INDEX twin_features_parent ON twin_features(parent_id) "
                            "WHERE parent_id IS NOT NULL",
    "twin_edges_network": "CREATE INDEX twin_edges_network ON twin_edges(network)",
    "twin_edges_start": "CREATE INDEX twin_edges_start ON twin_edges(start_node)",
    "twin_edges_end": "CREATE INDEX twin_edges_end ON twin_edges(end_node)",
}


def features_table_sql(name: str = "twin_features", history: bool = False,
                       version: int = 3) -> str:
    """The features table (or, ``history``, the history's) of a layout version."""
    typed = ", ".join(f"{a.name} {a.sql_type}" for a in TYPED_ATTRIBUTES.values())
    extra = ", digest TEXT" if version >= 3 else ""
    if history:
        extra += ", retired_batch INTEGER NOT NULL"
    sql = _FEATURES_TABLE.format(name=name, typed=typed, extra=extra)
    if history:  # no references: the batches a version names may be removed in order
        sql = sql.replace(" REFERENCES twin_layers(name)", "").replace(
            " REFERENCES twin_batches(id)", "")
    return sql


#: The history of versions (schema 3): the table, its indexes and its R*Tree.
HISTORY_STATEMENTS = (
    features_table_sql("twin_history", history=True),
    "CREATE INDEX twin_history_id ON twin_history(feature_id)",
    "CREATE INDEX twin_history_retired ON twin_history(retired_batch)",
    "CREATE INDEX twin_history_batch ON twin_history(batch_id)",
    "CREATE VIRTUAL TABLE twin_history_rtree USING rtree(id, minx, maxx, miny, maxy, minz, "
    "maxz)",
)


_SCHEMA = """
CREATE TABLE gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE gpkg_extensions (
  table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
  scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
CREATE TABLE twin_meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE twin_layers (
  name TEXT PRIMARY KEY, title TEXT NOT NULL, title_zh TEXT, grp TEXT NOT NULL,
  colour TEXT NOT NULL, geometry_type TEXT NOT NULL, code TEXT, attributes TEXT NOT NULL,
  standard INTEGER NOT NULL, position INTEGER NOT NULL);
CREATE TABLE twin_batches (
  id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, format TEXT NOT NULL,
  converter TEXT NOT NULL, converter_version TEXT NOT NULL, started TEXT NOT NULL,
  finished TEXT, status TEXT NOT NULL, feature_count INTEGER NOT NULL DEFAULT 0, report TEXT,
  fid_min INTEGER, fid_max INTEGER);
{features};
CREATE VIRTUAL TABLE twin_rtree USING rtree(id, minx, maxx, miny, maxy, minz, maxz);
CREATE TABLE twin_meshes (
  fid INTEGER NOT NULL, lod TEXT NOT NULL, n_vertices INTEGER NOT NULL,
  n_faces INTEGER NOT NULL, ox REAL NOT NULL, oy REAL NOT NULL, oz REAL NOT NULL,
  vertices BLOB NOT NULL, faces BLOB NOT NULL, face_labels BLOB, labels TEXT,
  PRIMARY KEY (fid, lod)) WITHOUT ROWID;
CREATE TABLE twin_edges (
  fid INTEGER PRIMARY KEY, network TEXT NOT NULL, start_node TEXT NOT NULL,
  end_node TEXT NOT NULL);
{indexes};
{migrations}
"""

_MIGRATIONS_TABLE = ("CREATE TABLE twin_migrations (version INTEGER PRIMARY KEY, "
                     "applied TEXT NOT NULL, toolkit_version TEXT NOT NULL, "
                     "description TEXT NOT NULL)")


def schema_statements() -> list[str]:
    """The statements that create an empty twin's tables (the current layout)."""
    sql = _SCHEMA.format(features=features_table_sql(),
                         indexes=";\n".join(FEATURE_INDEXES.values()),
                         migrations=_MIGRATIONS_TABLE)
    return [s for s in sql.split(";") if s.strip()] + list(HISTORY_STATEMENTS) + [
        HEALTH_CHECKS_TABLE] + sensors.sensor_statements("gpkg")


def insert_layer(conn: sqlite3.Connection, layer: Layer, position: int, srs_id: int) -> None:
    """Register a layer: its catalogue row, its view and its GeoPackage entries."""
    conn.execute(
        "INSERT INTO twin_layers VALUES (?,?,?,?,?,?,?,?,?,?)",
        (layer.name, layer.title, layer.title_zh, layer.group, layer.colour,
         layer.geometry_type, layer.code, json.dumps(list(layer.attributes)),
         int(layer.standard), position))
    conn.execute(layer_view_sql(layer))
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
        "VALUES (?, 'features', ?, ?, ?)",
        (layer.name, layer.name, f"{layer.title} {layer.title_zh}".strip(), srs_id))
    conn.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, ?, 0)",
                 (layer.name, layer.geometry_type, srs_id, z_flag(layer)))


def layer_view_sql(layer: Layer) -> str:
    return (f"CREATE VIEW {quote(layer.name)} AS SELECT {', '.join(layer_view_columns(layer))} "
            f"FROM twin_features WHERE layer = {literal(layer.name)}")


def z_flag(layer: Layer) -> int:
    """GeoPackage ``z``: 0 prohibited (footprints), 1 mandatory (centrelines and
    points carry heights), 2 optional (any geometry)."""
    if layer.geometry_type == "MULTIPOLYGON":
        return 0
    return 2 if layer.geometry_type == "GEOMETRY" else 1


def layer_from_row(r: tuple) -> Layer:
    return Layer(name=r[0], title=r[1], title_zh=r[2] or "", group=r[3], colour=r[4],
                 geometry_type=r[5], code=r[6], attributes=tuple(json.loads(r[7])),
                 standard=bool(r[8]))


LAYER_SELECT = ("SELECT name, title, title_zh, grp, colour, geometry_type, code, attributes, "
                "standard FROM twin_layers ORDER BY position")


def recompute_extents(conn: sqlite3.Connection) -> None:
    """Set every layer's extent in ``gpkg_contents`` from its features (after
    features were removed)."""
    conn.execute(
        "UPDATE gpkg_contents SET min_x = e.a, min_y = e.b, max_x = e.c, max_y = e.d, "
        "last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') FROM (SELECT layer, MIN(min_x) a, "
        "MIN(min_y) b, MAX(max_x) c, MAX(max_y) d FROM twin_features GROUP BY layer) e "
        "WHERE gpkg_contents.table_name = e.layer")
    conn.execute(
        "UPDATE gpkg_contents SET min_x = NULL, min_y = NULL, max_x = NULL, max_y = NULL "
        "WHERE data_type = 'features' AND table_name NOT IN "
        "(SELECT DISTINCT layer FROM twin_features)")


def grow_extents(conn: sqlite3.Connection, extents: dict[str, Any]) -> None:
    """Widen layers' extents in ``gpkg_contents`` by the plan bounds of
    features just added (``layer -> [min x, y, z, max x, y, z]``)."""
    conn.executemany(
        "UPDATE gpkg_contents SET min_x = MIN(COALESCE(min_x, ?1), ?1), "
        "min_y = MIN(COALESCE(min_y, ?2), ?2), max_x = MAX(COALESCE(max_x, ?3), ?3), "
        "max_y = MAX(COALESCE(max_y, ?4), ?4), "
        "last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?5",
        [(float(e[0]), float(e[1]), float(e[3]), float(e[4]), name)
         for name, e in extents.items()])


def record_migration(conn: sqlite3.Connection, version: int, description: str,
                     when: str) -> None:
    conn.execute("INSERT INTO twin_migrations VALUES (?, ?, ?, ?)",
                 (version, when, __version__, description))


# -- upgrades -----------------------------------------------------------------
_V1_BOUNDS = {"xmin": "min_x", "ymin": "min_y", "zmin": "min_z", "xmax": "max_x",
              "ymax": "max_y", "zmax": "max_z"}


def _v2(conn: sqlite3.Connection, meta: dict[str, str]) -> None:
    """Version 1 -> 2: the partition key ``tile``, ids unique through a named
    index (so that a bulk load can drop it), bounds named ``min_x`` ..
    ``max_z`` as in PostgreSQL (where ``xmin`` is taken), ``twin_migrations``,
    and a ``revision`` counter in every twin. The layer views keep their
    columns (``zmin``, ``zmax``) for GIS projects that use them."""
    conn.execute(_MIGRATIONS_TABLE)
    conn.execute("INSERT OR IGNORE INTO twin_meta VALUES ('revision', '0')")
    conn.execute("INSERT OR IGNORE INTO twin_meta VALUES ('tile_size', ?)",
                 (repr(DEFAULT_TILE_SIZE),))
    # SQLite cannot drop a column's UNIQUE constraint: the table is copied into
    # the new layout (the views name twin_features, which stays the name)
    conn.execute(features_table_sql("twin_features_v2", version=2))
    old = [r[1] for r in conn.execute("PRAGMA table_info(twin_features)")]
    new = [_V1_BOUNDS.get(c, c) for c in old]
    conn.execute(f"INSERT INTO twin_features_v2 ({', '.join(new)}) "
                 f"SELECT {', '.join(old)} FROM twin_features ORDER BY fid")
    views = [layer_from_row(r) for r in conn.execute(LAYER_SELECT)]
    for layer in views:  # they name the old columns: made again below
        conn.execute(f"DROP VIEW IF EXISTS {quote(layer.name)}")
    conn.execute("DROP TABLE twin_features")
    conn.execute("ALTER TABLE twin_features_v2 RENAME TO twin_features")
    for layer in views:
        conn.execute(layer_view_sql(layer))
    for name, sql in FEATURE_INDEXES.items():  # the table's went with it
        if name.startswith("twin_features_"):
            conn.execute(sql)
    size = float(meta.get("tile_size") or DEFAULT_TILE_SIZE)
    rows = conn.execute("SELECT fid, min_x, min_y, max_x, max_y FROM twin_features "
                        "WHERE min_x IS NOT NULL").fetchall()
    if rows:
        a = np.array([r[1:] for r in rows], dtype=np.float64)
        bounds = np.column_stack([a[:, 0], a[:, 1], np.zeros(len(a)), a[:, 2], a[:, 3],
                                  np.zeros(len(a))])
        keys = tile_keys(bounds, size).tolist()
        conn.executemany("UPDATE twin_features SET tile = ? WHERE fid = ?",
                         [(k, r[0]) for k, r in zip(keys, rows)])


def _v3(conn: sqlite3.Connection, meta: dict[str, str]) -> None:
    """Version 2 -> 3: feature versions. Every current row gets its digest
    (computed from the stored values, as an import computes it), and the
    history of earlier versions starts empty (``twin_history`` with its
    indexes and R*Tree), as does ``twin_health_checks``."""
    conn.execute("ALTER TABLE twin_features ADD COLUMN digest TEXT")
    for stmt in HISTORY_STATEMENTS:
        conn.execute(stmt)
    conn.execute(HEALTH_CHECKS_TABLE)
    fill_digests(lambda sql, p=(): conn.execute(sql, tuple(p)))


MIGRATIONS = (Migration(2, "partition key 'tile', named id index, migration log", _v2),
              Migration(3, "feature versions: digests and the history table", _v3),
              Migration(sensors.VERSION, sensors.DESCRIPTION, sensors.migrate_gpkg))
