"""The server twin: PostgreSQL with PostGIS, for a city shared by many.

Open with :func:`twin.store.open_twin` / create with
:func:`twin.store.create_twin` and a ``postgresql://`` URL
(:mod:`twin.store.location`). The tables are described in
:mod:`twin.store.postgis.schema`.

Isolation
---------
* An import is one transaction (READ COMMITTED): readers see all of it once
  it commits and none of it before; a failed import leaves nothing behind.
* Readers never wait: every read statement sees the latest committed state
  (PostgreSQL's MVCC), a streamed query reads one snapshot from start to end.
* Imports from several clients run at the same time: keys come from a
  sequence, rows go in with COPY. They queue only for a moment at the end,
  on the few shared rows they update (layer extents, origin, revision),
  always in the same order, so they never deadlock. If two imports bring the
  same feature id, the second waits for the first to commit and then fails,
  rolled back, with an error naming the id.
* Schema changes (``twin init``, upgrades, a new layer) hold an advisory
  lock on the twin's schema, so two clients never make them at once.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import shapely
from pyproj import CRS

from ... import __version__
from ...crs import identify, parse_crs, require_projected_metric, vertical_datum_of
from ...errors import LayerError, NotATwinError, NotFoundError, StoreError
from ...layers import STANDARD_LAYERS, Layer
from ..base import BatchWriter, TwinInfo
from ..jobs import JobBoard
from ..location import ServerLocation, parse_server
from ..meta import check_origin, new_meta, now, srs_id_of
from ..migrate import SCHEMA_VERSION, check_version, pending
from ..rows import BATCH_COLUMNS
from ..sqlstore import STREAM_CHUNK, SqlTwinStore, check_conflict, import_errors
from ..versions import (
    NothingChanged,
    give_back_counts,
    refuse_superseded,
    restore_from_history,
)
from . import qgis
from .connection import ConnectionPool, psycopg_module, quote_ident, run_on_two
from .dialect import POSTGRES
from .schema import (
    FORMAT_NAME,
    LAYER_INSERT,
    MIGRATIONS,
    TWIN_TABLES,
    layer_row,
    layer_statements,
    recompute_extents,
    schema_statements,
    spatial_indexes,
)
from .writer import PgBatchWriter

#: Every version's batch and key, current and earlier.
_ALL_VERSIONS = ("(SELECT batch_id, fid FROM twin_features UNION ALL SELECT ba"
                 "tch_id, fid FROM twin_history)")




class _Tx:
    """A connection inside a transaction that takes ``?`` placeholders."""

    def __init__(self, conn: Any):
        self.conn = conn

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Any:
        return self.conn.execute(POSTGRES.finish(sql), tuple(params))

    def execute_binary(self, sql: str, params: Iterable[Any] = ()) -> Any:
        """As :meth:`execute`, reading values in binary (geometries as EWKB bytes)."""
        return self.conn.cursor(binary=True).execute(POSTGRES.finish(sql), tuple(params))


def _lock_key(schema: str) -> int:
    """The advisory lock of a twin's schema changes."""
    return zlib.crc32(f"twin:{schema}".encode())


class PostGISStore(SqlTwinStore):
    """A twin kept in a PostgreSQL database with PostGIS."""

    dialect = POSTGRES

    def __init__(self, location: str | ServerLocation, *, readonly: bool = False):
        super().__init__()
        self.location = location if isinstance(location, ServerLocation) else \
            parse_server(location)
        self.path = self.location.display
        self.readonly = readonly
        self.psycopg = psycopg_module()
        self._pool = ConnectionPool(self.location, readonly=readonly)
        try:
            self._meta = self._load_meta()
        except BaseException:
            self._pool.close()
            raise
        self._crs = CRS.from_wkt(self._meta["crs_wkt"])
        self._srs_id = int(self._meta["srs_id"])
        self.partitioned = self._meta.get("partitions", "0") != "0"

    # -- opening --------------------------------------------------------------
    def _load_meta(self) -> dict[str, str]:
        with self._pool.borrow() as conn:
            found = conn.execute("SELECT to_regclass('twin_meta') IS NOT NULL").fetchone()[0]
            if not found:
                raise NotATwinError(
                    f"{self.path}: schema {self.location.schema!r} holds no twin (no "
                    "twin_meta table); create one with 'twin init'")
            meta = dict(conn.execute("SELECT key, value FROM twin_meta").fetchall())
        if meta.get("format") != FORMAT_NAME:
            raise NotATwinError(f"{self.path}: twin_meta does not mark a PostGIS twin")
        if check_version(int(meta.get("schema_version", "0")), self.path,
                         meta.get("toolkit_version", "?"), readonly=self.readonly):
            self._upgrade()
            with self._pool.borrow() as conn:
                meta = dict(conn.execute("SELECT key, value FROM twin_meta").fetchall())
        return meta

    def _upgrade(self) -> None:
        with self._pool.borrow() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(self.location.schema),))
            meta = dict(conn.execute("SELECT key, value FROM twin_meta").fetchall())
            found = int(meta.get("schema_version", "0"))
            for step in pending(found, MIGRATIONS):
                step.apply(_Tx(conn), meta)
                conn.execute("INSERT INTO twin_migrations VALUES (%s, %s, %s, %s)",
                             (step.version, now(), __version__, step.description))
            if found < SCHEMA_VERSION:
                conn.execute("UPDATE twin_meta SET value = %s WHERE key = 'schema_version'",
                             (str(SCHEMA_VERSION),))
                conn.execute("UPDATE twin_meta SET value = %s WHERE key = 'toolkit_version'",
                             (__version__,))
                _bump_revision(conn)

    # -- creation -------------------------------------------------------------
    @classmethod
    def create(cls, location: str, crs: Any, *, vertical_datum: str | None = None,
               origin: tuple[float, float, float] | None = None, overwrite: bool = False
               ) -> PostGISStore:
        loc = parse_server(location)
        full = parse_crs(crs, what="twin CRS")
        horizontal = require_projected_metric(full)
        vdatum = vertical_datum or vertical_datum_of(full) or "unspecified"
        origin = check_origin(origin)
        ident = identify(horizontal)
        srs_id = srs_id_of(ident)
        pg = psycopg_module()
        pool = ConnectionPool(loc, readonly=False)
        try:
            with pool.borrow() as conn:
                _ensure_postgis(conn, loc, pg)
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(loc.schema),))
                    if loc.schema != "public":
                        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(loc.schema)}")
                    if conn.execute("SELECT to_regclass('twin_meta') IS NOT NULL").fetchone()[0]:
                        if not overwrite:
                            raise StoreError(
                                f"{loc}: a twin already exists there; pass overwrite=True "
                                "(--force) to replace it")
                        _drop_twin(conn)
                    _ensure_srs(conn, loc, srs_id, ident, horizontal)
                    for stmt in schema_statements(loc.partitions):
                        conn.execute(stmt)
                    meta = new_meta(FORMAT_NAME, horizontal, srs_id, vdatum, origin)
                    meta["partitions"] = str(loc.partitions)
                    with conn.cursor() as cur:
                        cur.executemany("INSERT INTO twin_meta VALUES (%s, %s)",
                                        list(meta.items()))
                    for pos, layer in enumerate(STANDARD_LAYERS):
                        _add_layer(conn, layer, pos, srs_id, loc.schema)
        except pg.Error as exc:
            raise StoreError(f"{loc}: cannot create the twin: {str(exc).strip()}") from None
        finally:
            pool.close()
        return cls(loc)

    # -- primitives of SqlTwinStore -----------------------------------------------
    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        with self._pool.borrow() as conn:
            cur = conn.cursor(binary=True)
            return cur.execute(POSTGRES.finish(sql), tuple(params)).fetchall()

    def _stream(self, sql: str, params: Iterable[Any]) -> Iterator[list[tuple]]:
        # one statement, its rows in chunks as they come (bounded memory, one
        # snapshot); the connection stays with this stream until it ends
        with self._pool.borrow() as conn:
            cur = conn.cursor(binary=True)
            chunk: list[tuple] = []
            rows = cur.stream(POSTGRES.finish(sql), tuple(params), size=STREAM_CHUNK)
            try:
                for row in rows:
                    chunk.append(row)
                    if len(chunk) >= STREAM_CHUNK:
                        yield chunk
                        chunk = []
                if chunk:
                    yield chunk
            finally:
                rows.close()

    def _decode_geometries(self, values: list[Any]) -> np.ndarray:
        geoms = shapely.from_wkb(np.array(values, dtype=object))
        return shapely.set_srid(geoms, 0)  # as read from a file: the CRS is the twin's

    @contextmanager
    def _transaction(self) -> Iterator[_Tx]:
        self._require_writable()
        with self._pool.borrow() as conn, conn.transaction():
            yield _Tx(conn)
            _bump_revision(conn)

    def _require_writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only")

    def job_board(self) -> JobBoard:
        from .jobs import PgJobBoard

        return PgJobBoard(self.location)

    def close(self) -> None:
        self._pool.close()

    # -- metadata -------------------------------------------------------------
    @property
    def origin(self) -> tuple[float, float, float] | None:
        rows = self._read("SELECT value FROM twin_meta WHERE key = 'origin'")
        if not rows or rows[0][0] in (None, "null"):
            return None
        return tuple(json.loads(rows[0][0]))  # type: ignore[return-value]

    def revision(self) -> int:
        rows = self._read("SELECT value FROM twin_meta WHERE key = 'revision'")
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def now(self) -> str:
        return now()

    def layers(self) -> list[Layer]:
        rows = self._read("SELECT name, title, title_zh, grp, colour, geometry_type, code, "
                          "attributes, standard FROM twin_layers ORDER BY position")
        return [Layer(name=r[0], title=r[1], title_zh=r[2] or "", group=r[3], colour=r[4],
                      geometry_type=r[5], code=r[6], attributes=tuple(json.loads(r[7])),
                      standard=bool(r[8])) for r in rows]

    def add_layer(self, layer: Layer) -> None:
        if layer.standard:
            raise LayerError(f"layer {layer.name!r}: user layers cannot be marked standard")
        with self._transaction() as tx:
            tx.execute("SELECT pg_advisory_xact_lock(?)", (_lock_key(self.location.schema),))
            taken = tx.execute(
                "SELECT 1 FROM twin_layers WHERE name = ? UNION ALL SELECT 1 FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND "
                "c.relname = ?", (layer.name, self.location.schema, layer.name)).fetchone()
            if taken:
                raise LayerError(f"layer {layer.name!r} already exists in {self.path}")
            pos = tx.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM twin_layers"
                             ).fetchone()[0]
            _add_layer(tx.conn, layer, pos, self._srs_id, self.location.schema)
        self.ensure_spatial_indexes()

    def layer_extents(self) -> dict[str, tuple[float, float, float, float]]:
        rows = self._read("SELECT name, min_x, min_y, max_x, max_y FROM twin_layers "
                          "WHERE min_x IS NOT NULL")
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def info(self) -> TwinInfo:
        by_layer = dict(self._read("SELECT layer, COUNT(*) FROM twin_features GROUP BY layer "
                                   "ORDER BY layer"))
        b = self._read("SELECT MIN(min_x), MIN(min_y), MIN(min_z), MAX(max_x), MAX(max_y), "
                       "MAX(max_z) FROM twin_features")[0]
        mesh_count, tri = self._read("SELECT COUNT(*), COALESCE(SUM(n_faces), 0) "
                                     "FROM twin_meshes")[0]
        size = self._read(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND "
            "c.relkind IN ('r', 'p') AND c.relname LIKE 'twin%'", (self.location.schema,))[0][0]
        return TwinInfo(
            path=self.path, crs=self._crs, vertical_datum=self.vertical_datum,
            origin=self.origin, schema_version=int(self._meta["schema_version"]),
            toolkit_version=self._meta.get("toolkit_version", "?"),
            feature_count=sum(by_layer.values()), features_by_layer=by_layer,
            bounds=tuple(b) if b[0] is not None else None,  # type: ignore[arg-type]
            batch_count=self._read("SELECT COUNT(*) FROM twin_batches")[0][0],
            mesh_count=int(mesh_count), triangle_count=int(tri),
            edge_count=self._read("SELECT COUNT(*) FROM twin_edges")[0][0],
            extra={"file_size": int(size), "backend": "PostGIS",
                   "partitions": int(self._meta.get("partitions", "0"))},
        )

    # -- writing --------------------------------------------------------------
    @contextmanager
    def import_batch(self, source: str, format: str, converter: str,
                     converter_version: str, *, on_conflict: str = "error",
                     retire_missing: str | None = None) -> Iterator[BatchWriter]:
        """One import as one transaction (see
        :meth:`twin.store.gpkg.GeoPackageStore.import_batch`)."""
        check_conflict(on_conflict, retire_missing)
        try:
            with import_errors(source, (self.psycopg.Error,)), self._pool.borrow() as keys, \
                    self._transaction() as tx:
                batch_id = tx.execute(
                    "INSERT INTO twin_batches (source, format, converter, converter_version, "
                    "started, status) VALUES (?, ?, ?, ?, ?, 'running') RETURNING id",
                    (source, format, converter, converter_version, now())).fetchone()[0]
                writer = PgBatchWriter(self, tx.conn, keys, batch_id, on_conflict,
                                       retire_missing)
                writer.converter = converter
                yield writer
                writer.conclude()
        except NothingChanged:  # rolled back, writer.id is 0
            return
        self.ensure_spatial_indexes()

    def counters(self) -> tuple[int, int]:
        """``(next batch id, next feature key)`` (see
        :meth:`twin.store.gpkg.GeoPackageStore.counters`)."""
        batch_seq = self._read("SELECT pg_get_serial_sequence('twin_batches', 'id')")[0][0]
        out = []
        for seq in (batch_seq, "twin_fid_seq"):  # names PostgreSQL gave, quoted as needed
            last, called = self._read(f"SELECT last_value, is_called FROM {seq}")[0]
            out.append(int(last) + (1 if called else 0))
        return out[0], out[1]

    @contextmanager
    def restore(self, batches: list[tuple], counters: tuple[int, int] = (1, 1)
                ) -> Iterator[PgBatchWriter]:
        """Fill this empty twin with another twin's batches and rows (see
        :meth:`twin.store.gpkg.GeoPackageStore.restore`)."""
        with import_errors(self.path, (self.psycopg.Error,)), self._pool.borrow() as keys, \
                self._transaction() as tx:
            if tx.execute("SELECT EXISTS (SELECT 1 FROM twin_features) OR "
                          "EXISTS (SELECT 1 FROM twin_batches)").fetchone()[0]:
                raise StoreError(f"{self.path} is not empty: a copy goes into a new twin")
            with tx.conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO twin_batches ({', '.join(BATCH_COLUMNS)}) VALUES "
                    f"({', '.join(['%s'] * len(BATCH_COLUMNS))})", batches)
            tx.execute("SELECT setval(pg_get_serial_sequence('twin_batches', 'id'), "
                       "GREATEST(COALESCE(MAX(id), 0) + 1, ?), false) FROM twin_batches",
                       (counters[0],))
            writer = PgBatchWriter(self, tx.conn, keys, 0, "error")
            yield writer
            tx.execute("SELECT setval('twin_fid_seq', GREATEST(COALESCE(MAX(fid), 0) + 1, ?), "
                       f"false) FROM {_ALL_VERSIONS} v", (counters[1],))
            tx.execute("UPDATE twin_batches b SET fid_min = r.lo, fid_max = r.hi FROM "
                       f"(SELECT batch_id, MIN(fid) lo, MAX(fid) hi FROM {_ALL_VERSIONS} v "
                       "GROUP BY batch_id) r WHERE r.batch_id = b.id")
            recompute_extents(tx.conn)
        self.ensure_spatial_indexes()

    def ensure_spatial_indexes(self) -> list[str]:
        """Build the GiST indexes the twin lacks (after its first import, or
        a new layer), in a transaction of their own: a plain ``CREATE INDEX``
        takes a lock that stops writers for the build (seconds for a million
        features) but never readers; two at a time, on two connections (a
        build takes one core of the server), except on the partitioned
        layout, where PostgreSQL names each partition's index as it builds
        it. One client builds at a time; another that finds them being built
        goes on (queries are right without them, only slower). Returns the
        names built."""
        self._require_writable()
        with self._pool.borrow() as conn:
            existing = {r[0] for r in conn.execute(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
                (self.location.schema,)).fetchall()}
            wanted = spatial_indexes(self.layers(), self._srs_id)
            missing = [name for name in wanted if name not in existing]
            if not missing:
                return []
            with conn.transaction():
                got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)",
                                   (_lock_key(self.location.schema) + 1,)).fetchone()[0]
                if not got:
                    return []
                statements = [wanted[name] for name in missing]
                if self.partitioned:
                    # each build on the parent names an index on every partition
                    # itself; two at once may pick the same name and one fails
                    for sql in statements:
                        conn.execute(sql)
                else:
                    run_on_two(conn, self._pool, statements)
        return missing

    def remove_batch(self, batch_id: int) -> int:
        with self._transaction() as tx:
            if tx.execute("SELECT 1 FROM twin_batches WHERE id = ?", (batch_id,)
                          ).fetchone() is None:
                raise NotFoundError(f"import batch {batch_id} does not exist in {self.path}")
            refuse_superseded(tx.execute, batch_id, self.path)
            for table in ("twin_meshes", "twin_edges"):
                tx.execute(f"DELETE FROM {table} x USING twin_features f WHERE x.fid = f.fid "
                           "AND x.tile = f.tile AND f.batch_id = ?", (batch_id,))
            if self.partitioned:
                tx.execute("DELETE FROM twin_ids i USING twin_features f WHERE "
                           "i.feature_id = f.feature_id AND f.batch_id = ?", (batch_id,))
            n = tx.execute("DELETE FROM twin_features WHERE batch_id = ?", (batch_id,)).rowcount
            restored = restore_from_history(tx.execute, batch_id)
            if restored:
                if self.partitioned:
                    tx.execute("INSERT INTO twin_ids (feature_id, tile, fid) SELECT feature_id, "
                               "tile, fid FROM twin_features WHERE fid = ANY(?)", (restored,))
                counts = tx.execute("SELECT batch_id, COUNT(*) FROM twin_features WHERE "
                                    "fid = ANY(?) GROUP BY batch_id", (restored,)).fetchall()
                give_back_counts(tx.execute, batch_id, dict(counts))
            tx.execute("DELETE FROM twin_batches WHERE id = ?", (batch_id,))
            recompute_extents(tx.conn)
        return n

    def set_origin(self, origin: tuple[float, float, float]) -> None:
        """Set the local rendering origin (viewers render relative to it)."""
        with self._transaction() as tx:
            tx.execute("UPDATE twin_meta SET value = ? WHERE key = 'origin'",
                       (json.dumps([float(v) for v in origin]),))


def _bump_revision(conn: Any) -> None:
    conn.execute("UPDATE twin_meta SET value = (value::bigint + 1)::text WHERE key = 'revision'")


def _add_layer(conn: Any, layer: Layer, position: int, srid: int, schema: str) -> None:
    conn.execute(LAYER_INSERT, layer_row(layer, position))
    for stmt in layer_statements(layer, srid):
        conn.execute(stmt)
    qgis.write_style(conn, layer, schema)


def _ensure_postgis(conn: Any, loc: ServerLocation, pg: Any) -> None:
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone():
        return
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except pg.Error as exc:
        raise StoreError(
            f"{loc}: the database has no PostGIS and this user cannot add it "
            f"({str(exc).strip()}); a database owner or superuser runs "
            "'CREATE EXTENSION postgis' in it once") from None


def _ensure_srs(conn: Any, loc: ServerLocation, srs_id: int, ident: Any, crs: CRS) -> None:
    """Register the twin CRS in PostGIS's ``spatial_ref_sys`` when it is not
    there (a CRS without an EPSG code)."""
    if conn.execute("SELECT 1 FROM spatial_ref_sys WHERE srid = %s", (srs_id,)).fetchone():
        return
    conn.execute("INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text) "
                 "VALUES (%s, %s, %s, %s, %s)",
                 (srs_id, ident.organization, ident.code or srs_id, ident.wkt,
                  crs.to_proj4()))


def _drop_twin(conn: Any) -> None:
    """Remove a twin's tables and layer views from the schema (nothing else)."""
    layers = [r[0] for r in conn.execute("SELECT name FROM twin_layers").fetchall()] \
        if conn.execute("SELECT to_regclass('twin_layers') IS NOT NULL").fetchone()[0] else []
    for name in layers:
        conn.execute(f"DROP VIEW IF EXISTS {quote_ident(name)}")
    for table in TWIN_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    if conn.execute("SELECT to_regclass('layer_styles') IS NOT NULL").fetchone()[0]:
        conn.execute("DELETE FROM layer_styles WHERE owner = %s AND f_table_schema = "
                     "current_schema()", (qgis.OWNER,))
    conn.execute("DROP SEQUENCE IF EXISTS twin_fid_seq")
    conn.execute("DROP FUNCTION IF EXISTS twin_read_only()")
