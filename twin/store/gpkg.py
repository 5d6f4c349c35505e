"""The embedded twin store: one SQLite file in GeoPackage form.

Layout of the file
------------------
* The GeoPackage core tables (``gpkg_spatial_ref_sys``, ``gpkg_contents``,
  ``gpkg_geometry_columns``, ``gpkg_extensions``), so that QGIS, GDAL/OGR and
  every GeoPackage reader open it.
* ``twin_features``: one row per feature, with the 2D geometry (footprint,
  centreline or point) as a GeoPackage blob, the exact 3D bounds, the typed
  attributes as real columns and the free-form ones as JSON.
* One read-only **view per layer** (``buildings``, ``heating``, ...),
  registered as a GeoPackage feature table: what GIS staff see in QGIS.
* ``twin_rtree``: an SQLite R*Tree over the 3D bounds of every feature, so
  that a pipe 3 m under a building and the building itself separate cleanly.
  R*Tree coordinates are 32-bit floats rounded outwards; queries refine
  against the exact bounds kept in ``twin_features``.
* ``twin_meshes`` (triangle meshes per LoD, vertices as float32 relative to
  the mesh's own minimum corner: sub-millimetre for objects up to ~1 km),
  ``twin_edges`` (network topology), ``twin_batches`` (import batches with
  their reports), ``twin_layers`` and ``twin_meta``.

Concurrency: WAL journal, one writer and any number of readers; a reader
never waits for an import and sees the twin as it was before it.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from shapely.geometry import Point

from .. import __version__
from ..attributes import TYPED_ATTRIBUTES, coerce_typed
from ..crs import identify, parse_crs, require_projected_metric, vertical_datum_of
from ..errors import (
    FeatureError,
    GeometryError,
    ImportFailedError,
    LayerError,
    NotATwinError,
    NotFoundError,
    QueryError,
    SchemaVersionError,
    StoreError,
    TwinError,
)
from ..layers import STANDARD_LAYERS, Layer
from ..model import Edge, Feature, ImportBatch, Mesh, Provenance
from ..query import Filter, Query
from . import gpkg_blob, writer_lock
from .base import BatchWriter, TwinInfo, TwinStore
from .jobs import JobBoard

#: Version of the file layout written by this code.
SCHEMA_VERSION = 1
FORMAT_NAME = "digital-twin-gpkg"
_GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
_GPKG_USER_VERSION = 10300  # GeoPackage 1.3: read by GDAL >= 2.2 without warnings
_CHUNK = 2000
_UNBOUNDED = 1e38  # R-tree z range of features whose heights are unknown
_TYPED = tuple(TYPED_ATTRIBUTES)

_CORE_COLUMNS = (
    "fid", "feature_id", "layer", "type", "name", "parent_id", "lod", "geom",
    "xmin", "ymin", "zmin", "xmax", "ymax", "zmax", "source_id", "batch_id", "attributes",
)
_ALL_COLUMNS = _CORE_COLUMNS + _TYPED
_SELECT_COLUMNS = ", ".join(f"f.{c}" for c in _ALL_COLUMNS) + ", e.network, e.start_node, e.end_node"
_EDGE_JOIN = "LEFT JOIN twin_edges e ON e.fid = f.fid"
_FROM_FEATURES = f"twin_features f {_EDGE_JOIN}"
_FROM_RTREE = f"twin_rtree r JOIN twin_features f ON f.fid = r.id {_EDGE_JOIN}"
_CORE_FIELD_SQL = {
    "id": "f.feature_id", "layer": "f.layer", "type": "f.type", "name": "f.name",
    "parent": "f.parent_id", "lod": "f.lod", "batch": "f.batch_id",
    "source_id": "f.source_id",
}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _q(name: str) -> str:
    """Quote an SQL identifier (names are validated before they get here)."""
    return '"' + name.replace('"', '""') + '"'


_SCHEMA = f"""
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
CREATE TABLE twin_features (
  fid INTEGER PRIMARY KEY, feature_id TEXT NOT NULL UNIQUE,
  layer TEXT NOT NULL REFERENCES twin_layers(name), type TEXT NOT NULL, name TEXT,
  parent_id TEXT, lod TEXT, geom BLOB,
  xmin REAL, ymin REAL, zmin REAL, xmax REAL, ymax REAL, zmax REAL,
  source_id TEXT, batch_id INTEGER NOT NULL REFERENCES twin_batches(id), attributes TEXT,
  {", ".join(f"{a.name} {a.sql_type}" for a in TYPED_ATTRIBUTES.values())});
CREATE INDEX twin_features_layer_type ON twin_features(layer, type);
CREATE INDEX twin_features_parent ON twin_features(parent_id) WHERE parent_id IS NOT NULL;
CREATE VIRTUAL TABLE twin_rtree USING rtree(id, minx, maxx, miny, maxy, minz, maxz);
CREATE TABLE twin_meshes (
  fid INTEGER NOT NULL, lod TEXT NOT NULL, n_vertices INTEGER NOT NULL,
  n_faces INTEGER NOT NULL, ox REAL NOT NULL, oy REAL NOT NULL, oz REAL NOT NULL,
  vertices BLOB NOT NULL, faces BLOB NOT NULL, face_labels BLOB, labels TEXT,
  PRIMARY KEY (fid, lod)) WITHOUT ROWID;
CREATE TABLE twin_edges (
  fid INTEGER PRIMARY KEY, network TEXT NOT NULL, start_node TEXT NOT NULL,
  end_node TEXT NOT NULL);
CREATE INDEX twin_edges_network ON twin_edges(network);
CREATE INDEX twin_edges_start ON twin_edges(start_node);
CREATE INDEX twin_edges_end ON twin_edges(end_node);
"""


def _encode_mesh(mesh: Mesh) -> tuple:
    v = mesh.vertices
    o = v.min(axis=0) if len(v) else np.zeros(3)
    rel = (v - o).astype("<f4")
    dtype = "<u2" if len(v) <= 0xFFFF else "<u4"
    fl = mesh.face_labels.astype("<i2").tobytes() if mesh.face_labels is not None else None
    return (len(v), len(mesh.faces), float(o[0]), float(o[1]), float(o[2]), rel.tobytes(),
            mesh.faces.astype(dtype).tobytes(), fl,
            json.dumps(list(mesh.labels)) if mesh.labels else None)


def _encode_meshes(meshes: list[Mesh]) -> list[tuple]:
    """Encode many meshes with a handful of numpy calls (small meshes dominate)."""
    if not meshes:
        return []
    nv = np.fromiter((m.n_vertices for m in meshes), np.int64, len(meshes))
    if nv.max() > 0xFFFF:
        return [_encode_mesh(m) for m in meshes]
    starts = np.concatenate([[0], np.cumsum(nv)[:-1]])
    allv = np.concatenate([m.vertices for m in meshes])
    mins = np.minimum.reduceat(allv, starts, axis=0)
    rel = (allv - np.repeat(mins, nv, axis=0)).astype("<f4").tobytes()
    nf = np.fromiter((m.n_faces for m in meshes), np.int64, len(meshes))
    allf = np.concatenate([m.faces for m in meshes]).astype("<u2").tobytes()
    vpos = np.concatenate([[0], np.cumsum(nv * 12)])
    fpos = np.concatenate([[0], np.cumsum(nf * 6)])
    label_json: dict[tuple, str | None] = {}
    out = []
    for k, m in enumerate(meshes):
        if m.labels not in label_json:
            label_json[m.labels] = json.dumps(list(m.labels)) if m.labels else None
        lj = label_json[m.labels]
        fl = m.face_labels.astype("<i2").tobytes() if m.face_labels is not None else None
        o = mins[k]
        out.append((int(nv[k]), int(nf[k]), float(o[0]), float(o[1]), float(o[2]),
                    rel[vpos[k]:vpos[k + 1]], allf[fpos[k]:fpos[k + 1]], fl, lj))
    return out


def _decode_mesh(nv, nf, ox, oy, oz, vb, fb, flb, labels) -> Mesh:
    v = np.frombuffer(vb, dtype="<f4").reshape(nv, 3).astype(np.float64) + (ox, oy, oz)
    dtype = "<u2" if len(fb) == nf * 6 else "<u4"
    f = np.frombuffer(fb, dtype=dtype).reshape(nf, 3).astype(np.int64)
    fl = np.frombuffer(flb, dtype="<i2") if flb is not None else None
    if nf and int(f.max()) >= nv:  # a damaged or forged file, not one this store wrote
        raise StoreError(f"a stored mesh has a face index out of range ({int(f.max())} for "
                         f"{nv} vertices)")
    # written by this store from checked meshes: the other checks are not repeated
    return Mesh.trusted(v, f, fl, _labels(labels) if labels else ())


@lru_cache(maxsize=256)
def _labels(text: str) -> tuple[str, ...]:
    """Semantic label lists, the same few for thousands of meshes."""
    return tuple(json.loads(text))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


class GeoPackageStore(TwinStore):
    """A twin kept in one GeoPackage file. Open with :func:`twin.store.open_twin`
    or create with :func:`twin.store.create_twin`."""

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False):
        self.path = str(path)
        self.readonly = readonly
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        p = Path(self.path)
        if not p.exists():
            raise StoreError(f"{self.path}: no such twin file (create one with 'twin init')")
        if p.is_dir():
            raise NotATwinError(f"{self.path} is a directory, not a twin file")
        self._batch_info: dict[int, tuple] = {}
        self._meta = self._load_meta()
        self._crs = CRS.from_wkt(self._meta["crs_wkt"])
        self._srs_id = int(self._meta["srs_id"])

    # -- connections ----------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            uri = Path(self.path).resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=30.0)
        else:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30.0)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA foreign_keys = OFF")
        if not self.readonly:
            conn.execute("PRAGMA synchronous = NORMAL")
        # a reader per server thread: 8 MiB of page cache each (the OS caches the file
        # for all of them); the one writer keeps 64 MiB for bulk loads
        conn.execute(f"PRAGMA cache_size = {-8192 if self.readonly else -65536}")
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def job_board(self) -> JobBoard:
        from .gpkg_jobs import SqliteJobBoard

        return SqliteJobBoard(self.path)

    def close(self) -> None:
        with self._conns_lock:
            for c in self._conns:
                try:
                    c.close()
                except sqlite3.Error:  # already closed by its thread
                    pass
            self._conns.clear()
        self._local = threading.local()

    def _load_meta(self) -> dict[str, str]:
        try:
            conn = self._conn
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        except sqlite3.DatabaseError as exc:
            self.close()
            raise NotATwinError(f"{self.path} is not a twin: not an SQLite file ({exc})") from None
        if "twin_meta" not in tables:
            self.close()
            kind = "a GeoPackage" if "gpkg_contents" in tables else "an SQLite database"
            raise NotATwinError(
                f"{self.path} is {kind} but not a twin (no twin_meta table); "
                "create a twin with 'twin init'"
            )
        meta = dict(conn.execute("SELECT key, value FROM twin_meta"))
        if meta.get("format") != FORMAT_NAME:
            self.close()
            raise NotATwinError(f"{self.path}: twin_meta does not mark a twin file")
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            self.close()
            raise SchemaVersionError(
                f"{self.path} was written with twin schema version {version} by toolkit "
                f"{meta.get('toolkit_version', '?')}; this toolkit ({__version__}) reads up to "
                f"version {SCHEMA_VERSION}. Upgrade the toolkit to open it."
            )
        return meta

    # -- creation -------------------------------------------------------
    @classmethod
    def create(
        cls, path: str | os.PathLike, crs: Any, *, vertical_datum: str | None = None,
        origin: tuple[float, float, float] | None = None, overwrite: bool = False,
    ) -> GeoPackageStore:
        full = parse_crs(crs, what="twin CRS")
        horizontal = require_projected_metric(full)
        vdatum = vertical_datum or vertical_datum_of(full) or "unspecified"
        p = Path(path)
        if p.exists():
            if not overwrite:
                raise StoreError(f"{p} already exists; pass overwrite=True (--force) to replace it")
            for suffix in ("", "-wal", "-shm"):
                Path(str(p) + suffix).unlink(missing_ok=True)
        if origin is not None:
            origin = tuple(float(v) for v in origin)  # type: ignore[assignment]
            if len(origin) != 3 or not all(np.isfinite(origin)):  # type: ignore[arg-type]
                raise StoreError(f"origin {origin!r} must be three finite numbers")
        ident = identify(horizontal)
        srs_id = ident.code if ident.organization.upper() == "EPSG" and ident.code > 0 else 100000
        try:
            conn = sqlite3.connect(str(p), isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create {p}: {exc}") from None
        try:
            conn.execute(f"PRAGMA application_id = {_GPKG_APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {_GPKG_USER_VERSION}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN")
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            srs_rows = [
                ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian"),
                ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic"),
                ("WGS 84 geodetic", 4326, "EPSG", 4326, CRS.from_epsg(4326).to_wkt(),
                 "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid"),
            ]
            if srs_id != 4326:
                srs_rows.append((ident.name, srs_id, ident.organization,
                                 ident.code if ident.code else srs_id, ident.wkt, "twin CRS"))
            conn.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)", srs_rows)
            meta = {
                "format": FORMAT_NAME, "schema_version": str(SCHEMA_VERSION),
                "toolkit_version": __version__, "created": _now(),
                "crs_wkt": horizontal.to_wkt(), "crs_name": horizontal.name,
                "srs_id": str(srs_id), "vertical_datum": vdatum,
                "origin": json.dumps(origin) if origin is not None else None,
                "next_fid": "1",
            }
            conn.executemany("INSERT INTO twin_meta VALUES (?, ?)", list(meta.items()))
            # registering one attributes table also stops GDAL from listing the
            # store's private tables as layers; GIS users see the import history
            conn.execute(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
                "VALUES ('twin_batches', 'attributes', 'twin_batches', 'Import batches')")
            for pos, layer in enumerate(STANDARD_LAYERS):
                _insert_layer(conn, layer, pos, srs_id)
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            for suffix in ("", "-wal", "-shm"):
                Path(str(p) + suffix).unlink(missing_ok=True)
            raise
        conn.close()
        return cls(p)

    # -- metadata -------------------------------------------------------
    @property
    def crs(self) -> CRS:
        return self._crs

    @property
    def srs_id(self) -> int:
        return self._srs_id

    @property
    def vertical_datum(self) -> str:
        return self._meta.get("vertical_datum") or "unspecified"

    @property
    def origin(self) -> tuple[float, float, float] | None:
        raw = self._conn.execute("SELECT value FROM twin_meta WHERE key='origin'").fetchone()
        if raw is None or raw[0] in (None, "null"):
            return None
        return tuple(json.loads(raw[0]))  # type: ignore[return-value]

    def revision(self) -> int:
        row = self._conn.execute("SELECT value FROM twin_meta WHERE key = 'revision'").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def layers(self) -> list[Layer]:
        rows = self._conn.execute(
            "SELECT name, title, title_zh, grp, colour, geometry_type, code, attributes, "
            "standard FROM twin_layers ORDER BY position").fetchall()
        return [Layer(name=r[0], title=r[1], title_zh=r[2] or "", group=r[3], colour=r[4],
                      geometry_type=r[5], code=r[6], attributes=tuple(json.loads(r[7])),
                      standard=bool(r[8])) for r in rows]

    def layer(self, name: str) -> Layer:
        for layer in self.layers():
            if layer.name == name:
                return layer
        raise NotFoundError(
            f"layer {name!r} does not exist in {self.path}; layers: "
            f"{', '.join(x.name for x in self.layers())}"
        )

    def add_layer(self, layer: Layer) -> None:
        if layer.standard:
            raise LayerError(f"layer {layer.name!r}: user layers cannot be marked standard")
        with self._transaction() as conn:
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = ? UNION ALL "
                "SELECT 1 FROM twin_layers WHERE name = ?", (layer.name, layer.name)
            ).fetchone()
            if exists:
                raise LayerError(f"layer {layer.name!r} already exists in {self.path}")
            pos = conn.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM twin_layers"
                               ).fetchone()[0]
            _insert_layer(conn, layer, pos, self._srs_id)

    def layer_extents(self) -> dict[str, tuple[float, float, float, float]]:
        rows = self._conn.execute(
            "SELECT c.table_name, c.min_x, c.min_y, c.max_x, c.max_y FROM gpkg_contents c "
            "JOIN twin_layers l ON l.name = c.table_name WHERE c.min_x IS NOT NULL")
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def info(self) -> TwinInfo:
        conn = self._conn
        by_layer = dict(conn.execute(
            "SELECT layer, COUNT(*) FROM twin_features GROUP BY layer ORDER BY layer"))
        total = sum(by_layer.values())
        b = conn.execute("SELECT MIN(xmin), MIN(ymin), MIN(zmin), MAX(xmax), MAX(ymax), "
                         "MAX(zmax) FROM twin_features").fetchone()
        mesh_count, tri = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(n_faces), 0) FROM twin_meshes").fetchone()
        return TwinInfo(
            path=self.path, crs=self._crs, vertical_datum=self.vertical_datum,
            origin=self.origin, schema_version=int(self._meta["schema_version"]),
            toolkit_version=self._meta.get("toolkit_version", "?"),
            feature_count=total, features_by_layer=by_layer,
            bounds=tuple(b) if b[0] is not None else None,  # type: ignore[arg-type]
            batch_count=conn.execute("SELECT COUNT(*) FROM twin_batches").fetchone()[0],
            mesh_count=mesh_count, triangle_count=tri,
            edge_count=conn.execute("SELECT COUNT(*) FROM twin_edges").fetchone()[0],
            extra={"file_size": os.path.getsize(self.path)},
        )

    def _require_writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """The one way to write: an immediate transaction, committed whole or
        rolled back whole (one writer per process and per file)."""
        self._require_writable()
        with self._write_lock:
            conn = self._conn
            writer_lock.begin_write(conn, self.path)  # fails fast, naming who writes
            try:
                yield conn
                conn.execute("INSERT OR IGNORE INTO twin_meta VALUES ('revision', '0')")
                conn.execute("UPDATE twin_meta SET value = CAST(value AS INTEGER) + 1 "
                             "WHERE key = 'revision'")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                writer_lock.end_write(self.path)

    # -- writing --------------------------------------------------------
    @contextmanager
    def import_batch(self, source: str, format: str, converter: str,
                     converter_version: str, *, on_conflict: str = "error"
                     ) -> Iterator[BatchWriter]:
        """One import as one transaction.

        Usage::

            with store.import_batch("city.json", "CityJSON 2.0", "cityjson", "0.1") as b:
                b.add(features)
                b.skip("obj-17", "no geometry")

        If the block raises, everything is rolled back and
        :class:`~twin.errors.ImportFailedError` is raised naming ``source``;
        the twin is exactly as it was.
        """
        if on_conflict not in ("error", "replace"):
            raise TwinError(f"on_conflict {on_conflict!r} is not valid, must be 'error' or 'replace'")
        try:
            with self._transaction() as conn:
                cur = conn.execute(
                    "INSERT INTO twin_batches (source, format, converter, converter_version, "
                    "started, status) VALUES (?, ?, ?, ?, ?, 'running')",
                    (source, format, converter, converter_version, _now()))
                writer = _GpkgBatchWriter(self, conn, cur.lastrowid, on_conflict)
                yield writer
                writer._finish()
        except (KeyboardInterrupt, SystemExit, GeneratorExit, StoreError):
            raise
        except BaseException as exc:
            raise ImportFailedError(
                f"import of {source} failed and was rolled back, the twin is unchanged: {exc}",
                source=source,
            ) from exc

    def batches(self) -> list[ImportBatch]:
        rows = self._conn.execute(
            "SELECT id, source, format, converter, converter_version, started, finished, status, "
            "feature_count, report FROM twin_batches ORDER BY id").fetchall()
        return [ImportBatch(*r[:9], report=json.loads(r[9]) if r[9] else {}) for r in rows]

    def update_attributes(self, feature_id: str, values: dict[str, Any]) -> Feature:
        """Set (or, with ``None``, remove) attributes of one feature in place;
        typed attributes are checked as on import. Returns the updated feature."""
        for key in values:
            if not isinstance(key, str) or not key or len(key) > 200:
                raise FeatureError(f"feature {feature_id!r}: attribute name {key!r} is not "
                                   "a non-empty text of at most 200 characters", feature_id)
        with self._transaction() as conn:
            row = conn.execute("SELECT fid, attributes FROM twin_features WHERE feature_id = ?",
                               (feature_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"feature {feature_id!r} does not exist in {self.path}")
            free = json.loads(row[1]) if row[1] else {}
            sets, params = [], []
            for key, val in values.items():
                if key in _TYPED_INDEX:
                    sets.append(f"{key} = ?")
                    params.append(None if val is None else coerce_typed(key, val, feature_id))
                elif val is None:
                    free.pop(key, None)
                else:
                    free[key] = val
            free_json = _free_json(free, feature_id)
            conn.execute(f"UPDATE twin_features SET {', '.join(sets + ['attributes = ?'])} "
                         "WHERE fid = ?", (*params, free_json, row[0]))
        return self.get(feature_id, meshes=False)

    def remove_batch(self, batch_id: int) -> int:
        with self._transaction() as conn:
            row = conn.execute("SELECT fid_min, fid_max FROM twin_batches WHERE id = ?",
                               (batch_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"import batch {batch_id} does not exist in {self.path}")
            lo, hi = row
            n = 0
            if lo is not None:
                for table, col in (("twin_rtree", "id"), ("twin_meshes", "fid"),
                                   ("twin_edges", "fid")):
                    conn.execute(f"DELETE FROM {table} WHERE {col} BETWEEN ? AND ?", (lo, hi))
                n = conn.execute("DELETE FROM twin_features WHERE fid BETWEEN ? AND ?",
                                 (lo, hi)).rowcount
            conn.execute("DELETE FROM twin_batches WHERE id = ?", (batch_id,))
            _update_contents_extents(conn)
        return n

    def set_origin(self, origin: tuple[float, float, float]) -> None:
        """Set the local rendering origin (viewers render relative to it)."""
        with self._transaction() as conn:
            conn.execute("UPDATE twin_meta SET value = ? WHERE key = 'origin'",
                         (json.dumps([float(v) for v in origin]),))

    # -- reading --------------------------------------------------------
    def _rows_to_features(self, rows: list[tuple], with_meshes: bool,
                          free_attributes: bool = True) -> list[Feature]:
        if not rows:
            return []
        geoms = gpkg_blob.decode([r[7] for r in rows])
        meshes: dict[int, dict[str, Mesh]] = {}
        if with_meshes:
            fids = [r[0] for r in rows]
            for i in range(0, len(fids), 900):
                part = fids[i:i + 900]
                for mr in self._conn.execute(
                    f"SELECT fid, lod, n_vertices, n_faces, ox, oy, oz, vertices, faces, "
                    f"face_labels, labels FROM twin_meshes WHERE fid IN "
                    f"({','.join('?' * len(part))})", part):
                    meshes.setdefault(mr[0], {})[mr[1]] = _decode_mesh(*mr[2:])
        out = []
        n_core = len(_CORE_COLUMNS)
        n_typed = n_core + len(_TYPED)
        for row, geom in zip(rows, geoms):
            attrs: dict[str, Any] = {
                name: val for name, val in zip(_TYPED, row[n_core:n_typed]) if val is not None}
            if row[16] and free_attributes:
                attrs.update(json.loads(row[16]))
            bbox = None
            if row[8] is not None:
                bbox = tuple(math.nan if v is None else v for v in row[8:14])
            edge = Edge(row[n_typed], row[n_typed + 1], row[n_typed + 2]) \
                if row[n_typed] is not None else None
            out.append(Feature(
                id=row[1], layer=row[2], type=row[3], name=row[4], parent=row[5],
                attributes=attrs, footprint=geom, meshes=meshes.get(row[0], {}),
                lod=row[6] if (row[0] in meshes or not with_meshes) else None,
                edge=edge, source_id=row[14], provenance=self._provenance(row[15], row[14]),
                bbox=bbox,  # type: ignore[arg-type]
            ))
        return out

    def _provenance(self, batch_id: int, source_id: str | None) -> Provenance:
        cache = self._batch_info
        b = cache.get(batch_id)
        if b is None:  # a batch this instance has not seen yet
            cache.update({r[0]: r[1:] for r in self._conn.execute(
                "SELECT id, source, format, converter, converter_version FROM twin_batches")})
            b = cache.get(batch_id, ("?", "?", "?", "?"))
        return Provenance(source_file=b[0], source_format=b[1], source_id=source_id,
                          batch_id=batch_id, converter=b[2], converter_version=b[3])

    def get(self, feature_id: str, *, meshes: bool = True) -> Feature:
        rows = self._conn.execute(
            f"SELECT {_SELECT_COLUMNS} FROM {_FROM_FEATURES} WHERE f.feature_id = ?",
            (feature_id,)).fetchall()
        if not rows:
            raise NotFoundError(f"feature {feature_id!r} does not exist in {self.path}")
        return self._rows_to_features(rows, meshes)[0]

    def meshes(self, feature_id: str) -> dict[str, Mesh]:
        return dict(self.get(feature_id, meshes=True).meshes)

    def _compile(self, q: Query) -> tuple[str, list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        src = _FROM_FEATURES
        box = None
        if q.box3d is not None:
            box = q.box3d
        elif q.bbox is not None:
            box = (q.bbox[0], q.bbox[1], None, q.bbox[2], q.bbox[3], None)
        elif q.within is not None:
            bx = q.within.bounds
            box = (bx[0], bx[1], None, bx[2], bx[3], None)
        if box is not None:
            src = _FROM_RTREE
            where.append("r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ?")
            params += [box[3], box[0], box[4], box[1]]
            where.append("f.xmin <= ? AND f.xmax >= ? AND f.ymin <= ? AND f.ymax >= ?")
            params += [box[3], box[0], box[4], box[1]]
            if box[2] is not None:  # 3D: only features whose heights are known
                where.append("r.minz <= ? AND r.maxz >= ? AND f.zmin <= ? AND f.zmax >= ?")
                params += [box[5], box[2], box[5], box[2]]
        # with a box, the R-tree drives the search: '+' keeps SQLite from walking
        # a whole layer through the layer index instead (20x slower on 100k features)
        plus = "+" if box is not None else ""
        for name, values in (("f.feature_id", q.ids), (plus + "f.layer", q.layers),
                             (plus + "f.type", q.types)):
            if values:
                where.append(f"{name} IN ({','.join('?' * len(values))})")
                params += list(values)
        if q.parent is not None:
            where.append("f.parent_id = ?")
            params.append(q.parent)
        if q.batch is not None:  # a batch's features are the fid range it was given
            where.append("f.fid BETWEEN (SELECT fid_min FROM twin_batches WHERE id = ?) AND "
                         "(SELECT fid_max FROM twin_batches WHERE id = ?)")
            params += [q.batch, q.batch]
        for flt in q.filters:
            sql, p = _filter_sql(flt)
            where.append(sql)
            params += p
        sql = f"SELECT {_SELECT_COLUMNS} FROM {src}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY f.fid" if q.order == "fid" else " ORDER BY f.feature_id"
        return sql, params

    def query(self, query: Query) -> Iterator[Feature]:
        """Stream the features selected by ``query`` (chunks of a few thousand)."""
        sql, params = self._compile(query)
        refine = query.within is not None
        if not refine:
            if query.limit is not None:
                sql += " LIMIT ? OFFSET ?"
                params += [query.limit, query.offset]
            elif query.offset:
                sql += " LIMIT -1 OFFSET ?"
                params.append(query.offset)
        return self._stream(sql, params, query, refine)

    def _stream(self, sql: str, params: list, q: Query, refine: bool) -> Iterator[Feature]:
        conn = self._conn
        cur = conn.execute(sql, params)
        try:
            skipped = 0
            emitted = 0
            if refine:
                shapely.prepare(q.within)
            pred = shapely.within if q.predicate == "within" else shapely.intersects
            while True:
                rows = cur.fetchmany(_CHUNK)
                if not rows:
                    return
                if refine:
                    geoms = gpkg_blob.decode([r[7] for r in rows])
                    ok = ~shapely.is_missing(geoms)
                    mask = np.zeros(len(rows), bool)
                    mask[ok] = pred(geoms[ok], q.within)
                    rows = [r for r, m in zip(rows, mask) if m]
                    if skipped < q.offset:
                        drop = min(q.offset - skipped, len(rows))
                        rows = rows[drop:]
                        skipped += drop
                    if q.limit is not None:
                        rows = rows[: max(q.limit - emitted, 0)]
                feats = self._rows_to_features(rows, q.with_meshes, q.free_attributes)
                yield from feats
                emitted += len(feats)
                if refine and q.limit is not None and emitted >= q.limit:
                    return
        finally:
            cur.close()

    def count(self, query: Query) -> int:
        if query.within is not None:
            return sum(1 for _ in self.query(query))
        sql, params = self._compile(query)
        sql = sql.replace(f"SELECT {_SELECT_COLUMNS}", "SELECT COUNT(*)", 1)
        sql = sql.rsplit(" ORDER BY", 1)[0]
        n = self._conn.execute(sql, params).fetchone()[0]
        n = max(n - query.offset, 0)
        return min(n, query.limit) if query.limit is not None else n

    def nearest(self, x: float, y: float, n: int = 1, *, layers: Iterable[str] = (),
                max_distance: float | None = None) -> list[tuple[Feature, float]]:
        """The ``n`` features nearest to ``(x, y)`` in plan (footprint distance),
        searched through the R-tree in growing squares."""
        if n < 1:
            raise QueryError(f"n must be >= 1, got {n}")
        layers = tuple(layers)
        total = self.count(Query(layers=layers))
        if total == 0:
            return []
        want = min(n, total)
        radius = 10.0
        pt = Point(x, y)
        while True:
            r = radius if max_distance is None else min(radius, max_distance)
            feats = list(self.query(Query(layers=layers, bbox=(x - r, y - r, x + r, y + r))))
            if feats:
                geoms = np.array([f.footprint if f.footprint is not None else
                                  shapely.box(f.bbox[0], f.bbox[1], f.bbox[3], f.bbox[4])
                                  for f in feats], dtype=object)
                d = shapely.distance(shapely.force_2d(geoms), pt)
                order = np.argsort(d, kind="stable")
                hits = [(feats[i], float(d[i])) for i in order if d[i] <= r]
                if len(hits) >= want:
                    return hits[:n]
            if max_distance is not None and r >= max_distance:
                return hits[:n] if feats else []
            radius *= 4.0
            if radius > 1e8:
                return hits[:n] if feats else []

    def edges(self, network: str | None = None) -> Iterator[tuple[str, str, str, str]]:
        sql = ("SELECT f.feature_id, e.network, e.start_node, e.end_node FROM twin_edges e "
               "JOIN twin_features f ON f.fid = e.fid")
        params: list[Any] = []
        if network is not None:
            sql += " WHERE e.network = ?"
            params.append(network)
        yield from self._conn.execute(sql + " ORDER BY e.fid", params)


def _filter_sql(flt: Filter) -> tuple[str, list[Any]]:
    if flt.field in _CORE_FIELD_SQL:
        col = _CORE_FIELD_SQL[flt.field]
        params: list[Any] = []
    elif flt.field in TYPED_ATTRIBUTES:
        col = f"f.{flt.field}"
        params = []
    else:
        if '"' in flt.field:
            raise QueryError(f"field name {flt.field!r} is not valid")
        col = "json_extract(f.attributes, ?)"
        params = [f'$."{flt.field}"']
    value = flt.value
    spec = TYPED_ATTRIBUTES.get(flt.field)
    if spec is not None and spec.kind != "text" and flt.op != "like":
        vals = value if flt.op == "in" else (value,)
        for v in vals:
            if isinstance(v, str) or isinstance(v, bool):
                raise QueryError(
                    f"filter on {flt.field!r} needs a number, got {v!r}")
    if flt.field == "batch" and flt.op != "like":
        vals = value if flt.op == "in" else (value,)
        if any(not isinstance(v, int) for v in vals):
            raise QueryError(f"filter on 'batch' needs whole numbers, got {value!r}")
    if flt.op == "in":
        return f"{col} IN ({','.join('?' * len(value))})", params + list(value)
    if flt.op == "like":
        return f"{col} LIKE ?", params + [str(value)]
    op = "<>" if flt.op == "!=" else flt.op
    return f"{col} {op} ?", params + [value]


def _insert_layer(conn: sqlite3.Connection, layer: Layer, position: int, srs_id: int) -> None:
    conn.execute(
        "INSERT INTO twin_layers VALUES (?,?,?,?,?,?,?,?,?,?)",
        (layer.name, layer.title, layer.title_zh, layer.group, layer.colour,
         layer.geometry_type, layer.code, json.dumps(list(layer.attributes)),
         int(layer.standard), position))
    cols = ["fid", "geom", "feature_id", "type", "name", "parent_id", "lod", "zmin", "zmax",
            *layer.attributes, "attributes", "source_id", "batch_id"]
    conn.execute(
        f"CREATE VIEW {_q(layer.name)} AS SELECT {', '.join(cols)} FROM twin_features "
        f"WHERE layer = {_sql_literal(layer.name)}")
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
        "VALUES (?, 'features', ?, ?, ?)",
        (layer.name, layer.name, f"{layer.title} {layer.title_zh}".strip(), srs_id))
    z = 0 if layer.geometry_type in ("MULTIPOLYGON",) else (2 if layer.geometry_type == "GEOMETRY"
                                                            else 1)
    conn.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, ?, 0)",
                 (layer.name, layer.geometry_type, srs_id, z))


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _update_contents_extents(conn: sqlite3.Connection) -> None:
    conn.execute(
        "UPDATE gpkg_contents SET min_x = e.a, min_y = e.b, max_x = e.c, max_y = e.d, "
        "last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') FROM (SELECT layer, MIN(xmin) a, "
        "MIN(ymin) b, MAX(xmax) c, MAX(ymax) d FROM twin_features GROUP BY layer) e "
        "WHERE gpkg_contents.table_name = e.layer")
    conn.execute(
        "UPDATE gpkg_contents SET min_x = NULL, min_y = NULL, max_x = NULL, max_y = NULL "
        "WHERE data_type = 'features' AND table_name NOT IN "
        "(SELECT DISTINCT layer FROM twin_features)")


@dataclass(frozen=True)
class _Prepared:
    """A chunk of features turned into rows, ready for the writer thread."""

    ids: list[str]
    rows: list[tuple]
    rtree: list[tuple]
    mesh_rows: list[tuple]
    edge_rows: list[tuple]


class _GpkgBatchWriter(BatchWriter):
    def __init__(self, store: GeoPackageStore, conn: sqlite3.Connection, batch_id: int,
                 on_conflict: str):
        self.store = store
        self.conn = conn
        self.id = batch_id
        self.on_conflict = on_conflict
        self.count = 0
        self.replaced = 0
        self.by_layer: dict[str, int] = {}
        self.by_type: dict[str, int] = {}
        self.skipped: list[dict[str, str]] = []
        self.skipped_count = 0
        self.warnings: list[str] = []
        self.report: dict[str, Any] = {}
        self.started = time.perf_counter()
        self.layers = {layer.name: layer for layer in store.layers()}
        self.next_fid = int(conn.execute(
            "SELECT value FROM twin_meta WHERE key = 'next_fid'").fetchone()[0])
        self._fid_floor = int(conn.execute(
            "SELECT COALESCE(MAX(fid), 0) + 1 FROM twin_features").fetchone()[0])
        self.next_fid = max(self.next_fid, self._fid_floor)
        self.first_fid = self.next_fid

    def skip(self, source_id: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < 10000:
            self.skipped.append({"source_id": str(source_id), "reason": reason})

    def add(self, features: Iterable[Feature]) -> int:
        """Insert features in chunks. Preparing a chunk (checks, encoding) and
        the converter producing the next features run on this thread while
        one worker writes the previous chunk: SQLite releases the GIL while it
        works, so the two overlap. Errors from either side end the import."""
        n = 0
        pending: Future | None = None
        chunk: list[Feature] = []

        def submit(part: list[Feature]) -> None:
            nonlocal pending, n
            prepared = self._prepare(part)
            if pending is not None:
                pending.result()  # the previous chunk is written (or its error raised)
            pending = pool.submit(self._write, prepared)
            n += len(part)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="twin-writer") as pool:
            try:
                for feat in features:
                    chunk.append(feat)
                    if len(chunk) >= _CHUNK:
                        submit(chunk)
                        chunk = []
                if chunk:
                    submit(chunk)
                if pending is not None:
                    pending.result()
                    pending = None
            finally:
                if pending is not None:  # an error here: let the writer stop first
                    pending.exception()
        return n

    def _check(self, f: Feature) -> tuple[Layer, Any, bool]:
        if not isinstance(f, Feature):
            raise FeatureError(f"expected a Feature, got {type(f).__name__}")
        layer = self.layers.get(f.layer)
        if layer is None:
            raise LayerError(
                f"feature {f.id!r}: layer {f.layer!r} does not exist; add it first or use one "
                f"of {', '.join(sorted(self.layers))}")
        fp = f.footprint
        gt = layer.geometry_type
        promote = False
        if fp is not None and not fp.is_empty:
            kind = fp.geom_type
            if gt == "MULTIPOLYGON":
                if kind == "Polygon":
                    promote = True
                elif kind != "MultiPolygon":
                    raise GeometryError(
                        f"feature {f.id!r}: layer {layer.name!r} holds polygons, got a {kind}",
                        f.id)
                if fp.has_z:
                    fp = shapely.force_2d(fp)
            elif gt == "LINESTRING":
                if kind == "MultiLineString" and len(fp.geoms) == 1:
                    fp = fp.geoms[0]
                elif kind != "LineString":
                    raise GeometryError(
                        f"feature {f.id!r}: layer {layer.name!r} holds lines, got a {kind}", f.id)
            elif gt == "POINT" and kind != "Point":
                raise GeometryError(
                    f"feature {f.id!r}: layer {layer.name!r} holds points, got a {kind}", f.id)
        return layer, fp, promote

    def _prepare(self, feats: list[Feature]) -> _Prepared:
        """Everything about a chunk that needs no database: checks and rows."""
        ids = [f.id for f in feats]
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise FeatureError(f"feature {dup!r} appears twice in this import", dup)
        checked = [self._check(f) for f in feats]
        blobs = gpkg_blob.encode(np.array([c[1] for c in checked], dtype=object),
                                 self.store.srs_id,
                                 promote_multi=np.array([c[2] for c in checked], bool))
        rows = []
        rtree = []
        edge_rows = []
        fid = self.next_fid
        mesh_fids: list[int] = []
        mesh_lods: list[str] = []
        mesh_list: list[Mesh] = []
        for f, _checked, blob in zip(feats, checked, blobs):
            typed = [None] * len(_TYPED)
            free = {}
            for key, val in f.attributes.items():
                spec_idx = _TYPED_INDEX.get(key)
                if spec_idx is not None:
                    typed[spec_idx] = coerce_typed(key, val, f.id)
                else:
                    free[key] = val
            free_json = _free_json(free, f.id)
            b = f.bbox
            if b is None:  # a semantic object without geometry (a group, a storey record)
                rows.append((fid, f.id, f.layer, f.type, f.name, f.parent, f.lod, blob,
                             None, None, None, None, None, None, f.source_id, self.id,
                             free_json, *typed))
            else:
                z_known = not (math.isnan(b[2]) or math.isnan(b[5]))
                zlo, zhi = (b[2], b[5]) if z_known else (None, None)
                rows.append((fid, f.id, f.layer, f.type, f.name, f.parent, f.lod, blob,
                             b[0], b[1], zlo, b[3], b[4], zhi, f.source_id, self.id, free_json,
                             *typed))
                rtree.append((fid, b[0], b[3], b[1], b[4], *((b[2], b[5]) if z_known else
                                                             (-_UNBOUNDED, _UNBOUNDED))))
            for lod, mesh in f.meshes.items():
                if mesh.n_vertices:
                    mesh_fids.append(fid)
                    mesh_lods.append(lod)
                    mesh_list.append(mesh)
            if f.edge is not None:
                edge_rows.append((fid, f.edge.network, f.edge.start, f.edge.end))
            self.by_layer[f.layer] = self.by_layer.get(f.layer, 0) + 1
            self.by_type[f.type] = self.by_type.get(f.type, 0) + 1
            fid += 1
        mesh_rows = [(fid_, lod_, *enc) for fid_, lod_, enc in
                     zip(mesh_fids, mesh_lods, _encode_meshes(mesh_list))]
        self.next_fid = fid
        self.count += len(feats)
        return _Prepared(ids, rows, rtree, mesh_rows, edge_rows)

    def _write(self, p: _Prepared) -> None:
        """Write one prepared chunk (runs on the writer thread)."""
        conn = self.conn
        existing = []
        for i in range(0, len(p.ids), 900):
            part = p.ids[i:i + 900]
            existing += conn.execute(
                f"SELECT fid, feature_id, batch_id FROM twin_features WHERE feature_id IN "
                f"({','.join('?' * len(part))})", part).fetchall()
        if existing:
            again = next((e for e in existing if e[2] == self.id), None)
            if again is not None:
                raise FeatureError(f"feature {again[1]!r} appears twice in this import", again[1])
            if self.on_conflict == "error":
                _fid, fidname, b = existing[0]
                raise FeatureError(
                    f"feature {fidname!r} already exists in the twin (import batch {b}); "
                    f"remove that batch or import with on_conflict='replace' (--replace)",
                    fidname)
            old = [e[0] for e in existing]
            for i in range(0, len(old), 900):
                part = old[i:i + 900]
                marks = ",".join("?" * len(part))
                conn.execute(f"DELETE FROM twin_rtree WHERE id IN ({marks})", part)
                conn.execute(f"DELETE FROM twin_meshes WHERE fid IN ({marks})", part)
                conn.execute(f"DELETE FROM twin_edges WHERE fid IN ({marks})", part)
                conn.execute(f"DELETE FROM twin_features WHERE fid IN ({marks})", part)
            self.replaced += len(old)
        conn.executemany(
            f"INSERT INTO twin_features ({', '.join(_ALL_COLUMNS)}) VALUES "
            f"({', '.join('?' * len(_ALL_COLUMNS))})", p.rows)
        conn.executemany("INSERT INTO twin_rtree VALUES (?,?,?,?,?,?,?)", p.rtree)
        if p.mesh_rows:
            conn.executemany("INSERT INTO twin_meshes VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                             p.mesh_rows)
        if p.edge_rows:
            conn.executemany("INSERT INTO twin_edges VALUES (?,?,?,?)", p.edge_rows)

    def _finish(self) -> None:
        conn = self.conn
        conn.execute("UPDATE twin_meta SET value = ? WHERE key = 'next_fid'",
                     (str(self.next_fid),))
        _update_contents_extents(conn)
        if self.store.origin is None and self.count:
            b = conn.execute("SELECT MIN(xmin), MIN(ymin), MIN(zmin), MAX(xmax), MAX(ymax) "
                             "FROM twin_features WHERE fid BETWEEN ? AND ?",
                             (self.first_fid, self.next_fid - 1)).fetchone()
            if b[0] is not None:  # else: only features without geometry so far
                origin = [round((b[0] + b[3]) / 2, -2), round((b[1] + b[4]) / 2, -2),
                          round(b[2], 0) if b[2] is not None else 0.0]
                conn.execute("UPDATE twin_meta SET value = ? WHERE key = 'origin'",
                             (json.dumps(origin),))
        self.report.update({
            "features": self.count, "replaced": self.replaced, "by_layer": self.by_layer,
            "by_type": self.by_type, "skipped_count": self.skipped_count,
            "skipped": self.skipped, "warnings": self.warnings,
            "seconds": round(time.perf_counter() - self.started, 3),
        })
        conn.execute(
            "UPDATE twin_batches SET finished = ?, status = 'complete', feature_count = ?, "
            "report = ?, fid_min = ?, fid_max = ? WHERE id = ?",
            (_now(), self.count, json.dumps(self.report, default=_json_default,
                                            ensure_ascii=False),
             self.first_fid if self.count else None, self.next_fid - 1 if self.count else None,
             self.id))


_TYPED_INDEX = {name: i for i, name in enumerate(_TYPED)}


def _free_json(free: dict[str, Any], feature_id: str) -> str | None:
    """The free-form attributes as stored (JSON), or a clear error."""
    try:
        return json.dumps(free, default=_json_default, ensure_ascii=False,
                          allow_nan=False) if free else None
    except ValueError as exc:
        raise FeatureError(f"feature {feature_id!r}: attribute value not storable: {exc}",
                           feature_id) from None
