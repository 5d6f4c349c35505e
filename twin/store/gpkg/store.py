"""The embedded twin store: one SQLite file in GeoPackage form.

The layout of the file is described in :mod:`twin.store.gpkg.schema`.

Concurrency: WAL journal, one writer and any number of readers; a reader
never waits for an import and sees the twin as it was before it. Writers
queue on SQLite's lock (30 s, then "database is locked"). A bulk load into
an empty twin that no other connection holds open uses a rollback journal
for its transaction (:mod:`.journal`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS

from ... import __version__
from ...errors import LayerError, NotATwinError, NotFoundError, StoreError
from ...layers import Layer
from .. import writer_lock
from ..base import BatchWriter, TwinInfo
from ..board import connect_board
from ..jobs import JobBoard
from ..meta import now
from ..migrate import SCHEMA_VERSION, check_version, pending
from ..querysql import SQLITE
from ..rows import BATCH_COLUMNS
from ..sqlstore import STREAM_CHUNK, SqlTwinStore, check_conflict, import_errors
from ..versions import (
    NothingChanged,
    give_back_counts,
    refuse_superseded,
    restore_from_history,
)
from . import blob, qgis
from .create import create_file
from .journal import BulkJournal, ensure_wal
from .schema import (
    FORMAT_NAME,
    LAYER_SELECT,
    MIGRATIONS,
    UNBOUNDED,
    insert_layer,
    layer_from_row,
    recompute_extents,
    record_migration,
)
from .writer import GpkgBatchWriter

#: Restored versions back into the current R*Tree (unknown heights span all z).
_FILL_RTREE_KEYS = ("INSERT INTO twin_rtree SELECT fid, min_x, max_x, min_y, max_y, "
                    f"COALESCE(min_z, {-UNBOUNDED!r}), COALESCE(max_z, {UNBOUNDED!r}) "
                    "FROM twin_features WHERE min_x IS NOT NULL AND fid IN ({marks})")


#: Every version's batch and key, current and earlier.
_ALL_VERSIONS = ("(SELECT batch_id, fid FROM twin_features UNION ALL SELECT ba"
                 "tch_id, fid FROM twin_history)")


class GeoPackageStore(SqlTwinStore):
    """A twin kept in one GeoPackage file. Open with :func:`twin.store.open_twin`
    or create with :func:`twin.store.create_twin`."""

    dialect = SQLITE

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False):
        super().__init__()
        self.path = str(path)
        self.readonly = readonly
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        #: the board this store records its writes in, open from its first
        #: write to its close (opening a board makes its WAL files, closing it
        #: removes them: twice a write otherwise); used under ``_write_lock``
        self._board: sqlite3.Connection | None = None
        p = Path(self.path)
        if not p.exists():
            raise StoreError(f"{self.path}: no such twin file (create one with 'twin init')")
        if p.is_dir():
            raise NotATwinError(f"{self.path} is a directory, not a twin file")
        self._meta = self._load_meta()
        self._crs = CRS.from_wkt(self._meta["crs_wkt"])
        self._srs_id = int(self._meta["srs_id"])
        if not self.readonly:
            self._complete_for_gis()

    def _complete_for_gis(self) -> None:
        """Styles and spatial index views for QGIS (:mod:`.qgis`) in a twin made
        before they were written: added on a writable open, once. The twin's
        data and revision are untouched; a twin another process is writing
        gets them on a later open."""
        layers = self.layers()
        if not qgis.missing(self._conn, layers):
            return
        with self._write_lock:
            conn = self._conn
            board = self._writer_board()
            try:
                writer_lock.begin_write(conn, self.path, wait_s=0.0, board=board)
            except writer_lock.TwinBusyError:
                return  # someone writes now; the next writable open completes it
            with _held_write(conn, self.path, board, bump_revision=False):
                qgis.ensure_all(conn, layers)

    def _writer_board(self) -> sqlite3.Connection | None:
        """The board connection of this store's writes (under ``_write_lock``);
        None where the board cannot be opened (the record is then tried, and
        its failure logged, as a write without a kept board would)."""
        if self._board is None:
            try:
                self._board = connect_board(self.path)
            except StoreError:
                return None
        return self._board

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
        if not self.readonly:
            ensure_wal(conn, self.path)  # after a bulk load that could not switch back
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
        from ..gpkg_jobs import SqliteJobBoard

        return SqliteJobBoard(self.path)

    def close(self) -> None:
        board, self._board = self._board, None
        if board is not None:
            board.close()
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
        try:
            if check_version(int(meta.get("schema_version", "0")), self.path,
                             meta.get("toolkit_version", "?"), readonly=self.readonly):
                self._upgrade()
                meta = dict(conn.execute("SELECT key, value FROM twin_meta"))
        except BaseException:
            self.close()
            raise
        return meta

    def _upgrade(self) -> None:
        """Bring an older twin to this toolkit's layout, in one transaction."""
        with self._write_lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            found = -1
            try:
                # read again under the write lock: another process may have upgraded it
                meta = dict(conn.execute("SELECT key, value FROM twin_meta"))
                found = int(meta.get("schema_version", "0"))
                for step in pending(found, MIGRATIONS):
                    step.apply(conn, meta)
                    record_migration(conn, step.version, step.description, now())
                if found < SCHEMA_VERSION:
                    conn.execute("UPDATE twin_meta SET value = ? WHERE key = 'schema_version'",
                                 (str(SCHEMA_VERSION),))
                    conn.execute("UPDATE twin_meta SET value = ? WHERE key = 'toolkit_version'",
                                 (__version__,))
                    _bump_revision(conn)
                conn.execute("COMMIT")
            except BaseException as exc:
                conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(
                        f"{self.path}: upgrading the twin from schema version {found} to "
                        f"{SCHEMA_VERSION} failed, the twin is unchanged: {exc}") from exc
                raise

    # -- creation -------------------------------------------------------
    @classmethod
    def create(
        cls, path: str | os.PathLike, crs: Any, *, vertical_datum: str | None = None,
        origin: tuple[float, float, float] | None = None, overwrite: bool = False,
    ) -> GeoPackageStore:
        return cls(create_file(path, crs, vertical_datum=vertical_datum, origin=origin,
                               overwrite=overwrite))

    # -- primitives of SqlTwinStore -----------------------------------------------
    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def _stream(self, sql: str, params: Iterable[Any]) -> Iterator[list[tuple]]:
        cur = self._conn.execute(sql, tuple(params))
        try:
            while True:
                rows = cur.fetchmany(STREAM_CHUNK)
                if not rows:
                    return
                yield rows
        finally:
            cur.close()

    def _decode_geometries(self, values: list[Any]) -> np.ndarray:
        return blob.decode(values)

    # -- metadata -------------------------------------------------------
    @property
    def origin(self) -> tuple[float, float, float] | None:
        raw = self._conn.execute("SELECT value FROM twin_meta WHERE key='origin'").fetchone()
        if raw is None or raw[0] in (None, "null"):
            return None
        return tuple(json.loads(raw[0]))  # type: ignore[return-value]

    def revision(self) -> int:
        row = self._conn.execute("SELECT value FROM twin_meta WHERE key = 'revision'").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def now(self) -> str:
        return now()

    def layers(self) -> list[Layer]:
        return [layer_from_row(r) for r in self._conn.execute(LAYER_SELECT).fetchall()]

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
            insert_layer(conn, layer, pos, self._srs_id)
            qgis.ensure_tables(conn)
            qgis.register_layer(conn, layer)

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
        b = conn.execute("SELECT MIN(min_x), MIN(min_y), MIN(min_z), MAX(max_x), MAX(max_y), "
                         "MAX(max_z) FROM twin_features").fetchone()
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
            extra={"file_size": os.path.getsize(self.path), "backend": "GeoPackage"},
        )

    # -- writing --------------------------------------------------------
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
            board = self._writer_board()
            # fails fast, naming who writes
            writer_lock.begin_write(conn, self.path, board=board)
            with _held_write(conn, self.path, board, bump_revision=True):
                yield conn

    @contextmanager
    def import_batch(self, source: str, format: str, converter: str,
                     converter_version: str, *, on_conflict: str = "error",
                     retire_missing: str | None = None) -> Iterator[BatchWriter]:
        """One import as one transaction.

        Usage::

            with store.import_batch("city.json", "CityJSON 2.0", "cityjson", "0.1") as b:
                b.add(features)
                b.skip("obj-17", "no geometry")

        If the block fails on bad input, a file or the database, everything
        is rolled back and :class:`~twin.errors.ImportFailedError` is raised
        naming ``source``; the twin is exactly as it was. Other exceptions
        (bugs) are rolled back too and pass unchanged.

        ``on_conflict``: ``"error"`` (an id the twin holds fails the import),
        ``"replace"`` (its row is overwritten, no history) or ``"update"``
        (a new version when it changed, nothing when not; the earlier version
        is kept, see :mod:`twin.store.versions`, with ``retire_missing``). An
        update that changes nothing is rolled back: ``writer.id`` is then 0.
        """
        check_conflict(on_conflict, retire_missing)
        journal = BulkJournal(self._conn, self.path, self._writer_board)
        try:
            with import_errors(source, (sqlite3.Error,)), self._transaction() as conn:
                row = (source, format, converter, converter_version, now())
                cur = conn.execute(
                    "INSERT INTO twin_batches (source, format, converter, converter_version, "
                    "started, status) VALUES (?, ?, ?, ?, ?, 'running')", row)
                writer = GpkgBatchWriter(self, conn, int(cur.lastrowid or 0), on_conflict,
                                         retire_missing)
                writer.converter = converter
                if writer.rtree_later:  # an empty twin: a large import is a bulk load
                    writer.restart = lambda: journal.restart(writer.id, row)
                yield writer
                writer.conclude()
        except NothingChanged:  # rolled back, writer.id is 0
            pass
        finally:
            journal.end()

    def counters(self) -> tuple[int, int]:
        """``(next batch id, next feature key)``: ids a removed batch had are
        not given again."""
        seq = self._conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'twin_batches'").fetchone()
        top = self._conn.execute("SELECT COALESCE(MAX(fid), 0) FROM twin_features").fetchone()[0]
        next_fid = int(self._conn.execute("SELECT value FROM twin_meta WHERE key = 'next_fid'"
                                          ).fetchone()[0])
        return (seq[0] if seq else 0) + 1, max(next_fid, top + 1)

    @contextmanager
    def restore(self, batches: list[tuple], counters: tuple[int, int] = (1, 1)
                ) -> Iterator[GpkgBatchWriter]:
        """Fill this empty twin with another twin's batches (rows of
        :data:`~twin.store.rows.BATCH_COLUMNS`) and then, through the writer
        yielded, its rows (:meth:`~twin.store.writer.ChunkedBatchWriter.write_raw`):
        one transaction, like an import; ``counters`` are the source's
        :meth:`counters`. For :func:`twin.store.copy.copy_twin`."""
        with import_errors(self.path, (sqlite3.Error,)), self._transaction() as conn:
            if conn.execute("SELECT EXISTS (SELECT 1 FROM twin_features) OR "
                            "EXISTS (SELECT 1 FROM twin_batches)").fetchone()[0]:
                raise StoreError(f"{self.path} is not empty: a copy goes into a new twin")
            conn.executemany(f"INSERT INTO twin_batches ({', '.join(BATCH_COLUMNS)}) VALUES "
                             f"({', '.join('?' * len(BATCH_COLUMNS))})", batches)
            writer = GpkgBatchWriter(self, conn, 0, "error")
            yield writer
            writer.build_indexes_and_rtree()
            top = conn.execute(f"SELECT COALESCE(MAX(fid), 0) FROM {_ALL_VERSIONS} v"
                               ).fetchone()[0]
            conn.execute("UPDATE twin_meta SET value = ? WHERE key = 'next_fid'",
                         (str(max(top + 1, counters[1])),))
            last = max(counters[0] - 1, max((b[0] for b in batches), default=0))
            conn.execute("DELETE FROM sqlite_sequence WHERE name = 'twin_batches'")
            if last:
                conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('twin_batches', ?)",
                             (last,))
            conn.execute("UPDATE twin_batches SET fid_min = r.lo, fid_max = r.hi FROM "
                         f"(SELECT batch_id, MIN(fid) lo, MAX(fid) hi FROM {_ALL_VERSIONS} v "
                         "GROUP BY batch_id) r WHERE r.batch_id = twin_batches.id")
            recompute_extents(conn)

    def remove_batch(self, batch_id: int) -> int:
        with self._transaction() as conn:
            row = conn.execute("SELECT fid_min, fid_max FROM twin_batches WHERE id = ?",
                               (batch_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"import batch {batch_id} does not exist in {self.path}")
            lo, hi = row
            exec_ = conn.execute
            refuse_superseded(exec_, batch_id, self.path)
            n = 0
            if lo is not None:
                for table, col in (("twin_rtree", "id"), ("twin_meshes", "fid"),
                                   ("twin_edges", "fid")):
                    conn.execute(f"DELETE FROM {table} WHERE {col} BETWEEN ? AND ?", (lo, hi))
                n = conn.execute("DELETE FROM twin_features WHERE fid BETWEEN ? AND ?",
                                 (lo, hi)).rowcount
            restored = restore_from_history(exec_, batch_id)
            for i in range(0, len(restored), 900):
                part = restored[i:i + 900]
                marks = ",".join("?" * len(part))
                conn.execute(f"DELETE FROM twin_history_rtree WHERE id IN ({marks})", part)
                conn.execute(_FILL_RTREE_KEYS.format(marks=marks), part)
            if restored:
                counts = conn.execute(
                    "SELECT batch_id, COUNT(*) FROM twin_features WHERE fid IN "
                    "(SELECT value FROM json_each(?)) GROUP BY batch_id",
                    (json.dumps(restored),)).fetchall()
                give_back_counts(exec_, batch_id, dict(counts))
            conn.execute("DELETE FROM twin_batches WHERE id = ?", (batch_id,))
            recompute_extents(conn)
        return n

    def set_origin(self, origin: tuple[float, float, float]) -> None:
        """Set the local rendering origin (viewers render relative to it)."""
        with self._transaction() as conn:
            conn.execute("UPDATE twin_meta SET value = ? WHERE key = 'origin'",
                         (json.dumps([float(v) for v in origin]),))


def _bump_revision(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT OR IGNORE INTO twin_meta VALUES ('revision', '0')")
    conn.execute("UPDATE twin_meta SET value = CAST(value AS INTEGER) + 1 "
                 "WHERE key = 'revision'")


@contextmanager
def _held_write(conn: sqlite3.Connection, path: str, board: sqlite3.Connection | None, *,
                bump_revision: bool) -> Iterator[sqlite3.Connection]:
    """The end of a write that :func:`~twin.store.writer_lock.begin_write`
    started on ``conn``: committed whole (the twin's revision raised first
    when ``bump_revision``) or rolled back whole, and the writer's record
    cleared either way. How long the begin waits is the caller's rule: a
    write waits :data:`~twin.store.writer_lock.WAIT_S`, the styles pass of an
    open does not wait at all."""
    try:
        yield conn
        if bump_revision:
            _bump_revision(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        writer_lock.end_write(path, board)
