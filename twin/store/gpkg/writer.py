"""Writing an import's rows into the GeoPackage (one SQLite transaction).

**Bulk load.** Keeping the id, layer and parent indexes up to date row by
row costs more than the rows themselves once a table outgrows the page
cache. An import into an empty twin therefore drops them first and builds
them again, sorted, when the import ends; so does a large import into a
twin, once it has written more features than the twin held before. Inside
the import's transaction, so a failed import gets them back as they were.
Without the id index, an id that comes twice is found when the unique index
is built again (the error names it, as the row-by-row check would).
An empty twin's R*Tree is built once at the end too, packed in one pass
(:mod:`.rtree_bulk`); a twin that holds features gets its new entries chunk
by chunk, copied by SQLite from the rows just written.

An import into an empty twin holds back its first rows; once it has
:data:`HOLD_FEATURES`, the store begins its transaction again with a
rollback journal (:mod:`.journal`), and the rows held go in.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import FeatureError
from ..codec import report_json
from ..rows import EDGE_ROW_COLUMNS, FEATURE_COLUMNS, HISTORY_COLUMNS, MESH_COLUMNS
from ..writer import ChunkedBatchWriter, PreparedChunk
from . import blob, qgis
from .rtree_bulk import node_size, pack, write_packed
from .schema import FEATURE_INDEXES, UNBOUNDED, grow_extents, recompute_extents

if TYPE_CHECKING:
    from .store import GeoPackageStore

#: An import switches to the bulk path after this many features at least.
BULK_MIN_FEATURES = 100_000
#: An import into an empty twin holds back its rows until it has this many
#: features, or this many mesh vertices; then it goes on with a rollback
#: journal (:mod:`.journal`).
HOLD_FEATURES = 20_000
HOLD_VERTICES = 2_000_000

#: Columns with a default other than NULL: always written.
_DEFAULTED = frozenset(("tile",))
_SQL_VARS = 900  # bound values per statement, below SQLite's oldest limit (999)
#: A range of features into the R-tree; unknown heights span all z.
_FILL_RTREE = (f"INSERT INTO twin_rtree SELECT fid, min_x, max_x, min_y, max_y, "
               f"COALESCE(min_z, {-UNBOUNDED!r}), COALESCE(max_z, {UNBOUNDED!r}) "
               f"FROM twin_features WHERE fid BETWEEN ? AND ? AND min_x IS NOT NULL")
#: Versions just moved to the history into its R*Tree (``AND fid IN (...)`` follows).
_FILL_HISTORY_RTREE = (f"INSERT INTO twin_history_rtree SELECT fid, min_x, max_x, min_y, "
                       f"max_y, COALESCE(min_z, {-UNBOUNDED!r}), COALESCE(max_z, "
                       f"{UNBOUNDED!r}) FROM twin_history WHERE min_x IS NOT NULL")


def insert_rows(conn: sqlite3.Connection, table: str, columns: tuple[str, ...],
                rows: Sequence[tuple]) -> None:
    """``INSERT`` ``rows`` (values in ``columns`` order) into ``table``.

    Columns that are null in every row are left out: they are null anyway,
    and binding a parameter, even a null, costs Python's sqlite3 about as
    much as SQLite storing the row (a chunk of buildings leaves out most
    typed attributes). The rows go in a few hundred to a statement
    (``INSERT ... VALUES (...), (...), ...``): ``executemany`` takes the GIL
    back after every row's step, and beside a busy thread (the one preparing
    the next chunk) each row then waits for a switch interval; one statement
    of many rows binds them at once and lets SQLite store them all with the
    GIL free (:data:`ROWS_PER_INSERT`)."""
    if not rows:
        return
    n = len(rows)
    written = tuple(i for i, col in enumerate(zip(*rows))
                    if columns[i] in _DEFAULTED or col.count(None) != n)
    values: Sequence[tuple]
    if not written or len(written) == len(columns):
        cols, values = columns, rows
    elif len(written) == 1:
        cols, values = (columns[written[0]],), [(r[written[0]],) for r in rows]
    else:
        cols = tuple(columns[i] for i in written)
        values = list(map(itemgetter(*written), rows))
    per = max(1, min(ROWS_PER_INSERT,
                     conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(cols)))
    i = 0
    while i < n:
        # full statements, then the rest in powers of two: a few statement
        # texts per table and columns, which the connection keeps compiled
        k = per if n - i >= per else 1 << ((n - i).bit_length() - 1)
        conn.execute(_insert_sql(table, cols, k), list(chain.from_iterable(values[i:i + k])))
        i += k


#: Rows of one multi-row ``INSERT`` (fewer where SQLite's limit on bound
#: values is lower): 200,000 rows of 18 values beside a busy Python thread,
#: 962 us a row with ``executemany``, 23 us in statements of 256 rows; alone,
#: 1.5 and 1.1 us.
ROWS_PER_INSERT = 256


@lru_cache(maxsize=256)
def _insert_sql(table: str, columns: tuple[str, ...], rows: int = 1) -> str:
    one = f"({', '.join('?' * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * rows)}"


class GpkgBatchWriter(ChunkedBatchWriter):
    """One import into a :class:`~twin.store.gpkg.GeoPackageStore`."""

    def __init__(self, store: GeoPackageStore, conn: sqlite3.Connection, batch_id: int,
                 on_conflict: str, retire_missing: str | None = None):
        super().__init__({layer.name: layer for layer in store.layers()}, batch_id,
                         on_conflict, store.tile_size, retire_missing,
                         digest_format=store.digest_format)
        self.store = store
        self.conn = conn
        next_fid = int(conn.execute(
            "SELECT value FROM twin_meta WHERE key = 'next_fid'").fetchone()[0])
        top = conn.execute("SELECT MAX(fid) FROM twin_features").fetchone()[0]
        self.next_fid = max(next_fid, (top or 0) + 1)
        self.first_fid = self.next_fid
        #: rows the twin may hold (an upper bound: the highest key)
        self.existing = top or 0
        self.bulk = False
        #: an empty twin's R-tree is built once at the end (rtree_bulk)
        self.rtree_later = self.existing == 0 and not conn.execute(
            "SELECT EXISTS (SELECT 1 FROM twin_rtree_rowid)").fetchone()[0]
        self._rtree_ids: list[np.ndarray] = []
        self._rtree_boxes: list[np.ndarray] = []
        if self.existing == 0:
            self._go_bulk()
        #: set by the store for an import into an empty twin: called once the
        #: import holds :data:`HOLD_FEATURES` (:meth:`.journal.BulkJournal.restart`)
        self.restart: Callable[[], None] | None = None
        self._held: list[PreparedChunk] = []
        self._held_size = [0, 0]  # features, mesh vertices

    # -- ChunkedBatchWriter hooks ---------------------------------------------
    def _allocate_fids(self, n: int) -> Sequence[int]:
        fids = range(self.next_fid, self.next_fid + n)
        self.next_fid += n
        return fids

    def _encode_geometries(self, geoms: np.ndarray, promote: np.ndarray) -> list[Any]:
        return blob.encode(geoms, self.store.srs_id, promote_multi=promote)

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, tuple(params))

    def _history_moved(self, fids: list[int]) -> None:
        # their boxes move from the current R*Tree to the history's
        for i in range(0, len(fids), _SQL_VARS):
            part = fids[i:i + _SQL_VARS]
            marks = ",".join("?" * len(part))
            self.conn.execute(f"DELETE FROM twin_rtree WHERE id IN ({marks})", part)
            self.conn.execute(_FILL_HISTORY_RTREE + f" AND fid IN ({marks})", part)

    def _write_history(self, p: PreparedChunk) -> None:
        conn = self.conn
        insert_rows(conn, "twin_history", HISTORY_COLUMNS, p.rows)
        conn.execute(_FILL_HISTORY_RTREE + " AND fid BETWEEN ? AND ?",
                     (min(r[0] for r in p.rows), max(r[0] for r in p.rows)))
        insert_rows(conn, "twin_meshes", MESH_COLUMNS, p.mesh_rows)
        insert_rows(conn, "twin_edges", EDGE_ROW_COLUMNS, p.edge_rows)

    def _ready(self, chunk: PreparedChunk) -> list[PreparedChunk]:
        if self.restart is None:
            return [chunk]
        self._held.append(chunk)
        self._held_size[0] += len(chunk.rows)
        self._held_size[1] += sum(m[2] for m in chunk.mesh_rows)
        if self._held_size[0] < HOLD_FEATURES and self._held_size[1] < HOLD_VERTICES:
            return []
        restart, self.restart = self.restart, None
        restart()  # a new transaction: the indexes are back
        self._go_bulk()
        held, self._held = self._held, []
        return held

    def _write(self, p: PreparedChunk) -> None:
        conn = self.conn
        if not self.bulk:
            p = self._check_existing(p)
            if not p.rows:
                return
        elif self.on_conflict == "update":
            self.log.added += len(p.rows)  # a bulk load: into an empty twin
        insert_rows(conn, "twin_features", FEATURE_COLUMNS, p.rows)
        if self.rtree_later:
            self._keep_for_rtree(p)
        else:
            # SQLite copies the chunk's bounds into the R-tree by itself (no
            # Python values to bind, and the GIL is free meanwhile)
            conn.execute(_FILL_RTREE, (p.rows[0][0], p.rows[-1][0]))
        insert_rows(conn, "twin_meshes", MESH_COLUMNS, p.mesh_rows)
        insert_rows(conn, "twin_edges", EDGE_ROW_COLUMNS, p.edge_rows)
        if not self.bulk and self.on_conflict == "error" and \
                self.count >= max(BULK_MIN_FEATURES, self.existing):
            self._go_bulk()  # a large import: cheaper to build the indexes once

    def _keep_for_rtree(self, p: PreparedChunk) -> None:
        b = p.bounds
        known = ~np.isnan(b[:, 0])
        if not known.any():
            return
        z_unknown = np.isnan(b[:, 2]) | np.isnan(b[:, 5])
        boxes = np.column_stack([b[:, 0], b[:, 3], b[:, 1], b[:, 4],
                                 np.where(z_unknown, -UNBOUNDED, b[:, 2]),
                                 np.where(z_unknown, UNBOUNDED, b[:, 5])])
        self._rtree_ids.append(np.array([r[0] for r in p.rows], np.int64)[known])
        self._rtree_boxes.append(boxes[known])

    def build_indexes_and_rtree(self) -> None:
        """What a bulk load left for its end: the feature indexes (when it
        dropped them) and the R-tree of an import into an empty twin, in one
        pass. The tree is packed on another thread while SQLite builds the
        indexes on this one (numpy's and Python's work beside SQLite's: the
        GIL is free for the one while the other works)."""
        if not (self.rtree_later and self._rtree_ids):
            if self.bulk:
                self.build_indexes()
            return
        ids, boxes = np.concatenate(self._rtree_ids), np.concatenate(self._rtree_boxes)
        self._rtree_ids, self._rtree_boxes = [], []
        size = node_size(self.conn, "twin_rtree")
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="twin-rtree") as pool:
            packing = pool.submit(pack, ids, boxes, size)
            if self.bulk:
                self.build_indexes()
            tree = packing.result()
        write_packed(self.conn, "twin_rtree", tree)

    # -- the row-by-row path ------------------------------------------------------
    def _check_existing(self, p: PreparedChunk) -> PreparedChunk:
        conn = self.conn
        ids = p.ids
        existing: list[tuple] = []
        for i in range(0, len(ids), _SQL_VARS):
            part = ids[i:i + _SQL_VARS]
            existing += conn.execute(
                f"SELECT fid, feature_id, batch_id, digest FROM twin_features WHERE feature_id "
                f"IN ({','.join('?' * len(part))})", part).fetchall()
        if not existing:
            if self.on_conflict == "update":
                self.log.added += len(p.rows)
            return p
        again = next((e for e in existing if e[2] == self.id), None)
        if again is not None:
            raise FeatureError(f"feature {again[1]!r} appears twice in this import", again[1])
        if self.on_conflict == "error":
            _fid, name, b, _d = existing[0]
            raise _exists(name, b)
        if self.on_conflict == "update":
            return self.sort_versions(p, existing)
        old = [e[0] for e in existing]
        self.count_replaced(e[2] for e in existing)
        for i in range(0, len(old), _SQL_VARS):
            part = old[i:i + _SQL_VARS]
            marks = ",".join("?" * len(part))
            conn.execute(f"DELETE FROM twin_rtree WHERE id IN ({marks})", part)
            conn.execute(f"DELETE FROM twin_meshes WHERE fid IN ({marks})", part)
            conn.execute(f"DELETE FROM twin_edges WHERE fid IN ({marks})", part)
            conn.execute(f"DELETE FROM twin_features WHERE fid IN ({marks})", part)
        self.replaced += len(old)
        return p

    # -- the bulk path ------------------------------------------------------------
    def _go_bulk(self) -> None:
        for name in FEATURE_INDEXES:
            self.conn.execute(f"DROP INDEX IF EXISTS {name}")
        self.bulk = True

    def build_indexes(self) -> None:
        conn = self.conn
        qgis.planner_stats(conn)  # dropping the layer index dropped its statistics
        for sql in FEATURE_INDEXES.values():
            try:
                conn.execute(sql)
            except sqlite3.IntegrityError:  # only the unique id index can fail
                row = conn.execute(
                    "SELECT feature_id, MIN(batch_id) FROM twin_features GROUP BY feature_id "
                    "HAVING COUNT(*) > 1 LIMIT 1").fetchone()
                if row is None:
                    raise
                if row[1] == self.id:
                    raise FeatureError(f"feature {row[0]!r} appears twice in this import",
                                       row[0]) from None
                raise _exists(row[0], row[1]) from None

    # -- the end --------------------------------------------------------------------
    def finish(self) -> None:
        """Indexes, extents, origin and the batch's record (inside the import's
        transaction)."""
        conn = self.conn
        self.restart = None
        held, self._held = self._held, []
        self._write_all(held)  # a small import: written as every import was
        self.build_indexes_and_rtree()
        self.finish_update()
        conn.execute("UPDATE twin_meta SET value = ? WHERE key = 'next_fid'",
                     (str(self.next_fid),))
        if self.versions_ended:
            recompute_extents(conn)
        elif self.extents:
            grow_extents(conn, self.extents)
        b = self.batch_bounds()
        if self.store.origin is None and b is not None:
            origin = [round((b[0] + b[3]) / 2, -2), round((b[1] + b[4]) / 2, -2),
                      0.0 if np.isnan(b[2]) else round(b[2], 0)]
            conn.execute("UPDATE twin_meta SET value = ? WHERE key = 'origin'",
                         (json.dumps(origin),))
        self.update_replaced_batches(conn, "?")
        report = self.final_report()
        conn.execute(
            "UPDATE twin_batches SET finished = ?, status = 'complete', feature_count = ?, "
            "report = ?, fid_min = ?, fid_max = ? WHERE id = ?",
            (self.store.now(), self.count, report_json(report),
             self.first_fid if self.count else None, self.next_fid - 1 if self.count else None,
             self.id))


def _exists(feature_id: str, batch: int) -> FeatureError:
    return FeatureError(
        f"feature {feature_id!r} already exists in the twin (import batch {batch}); "
        f"remove that batch or import with on_conflict='replace' (--replace) or 'update' "
        "(--update)", feature_id)
