"""Writing an import's rows into PostgreSQL with COPY (one transaction).

Each prepared chunk goes in with binary ``COPY ... FROM STDIN``: features,
meshes and edges (and, in the partitioned layout, the id directory
``twin_ids``), a few thousand rows per statement. Geometries travel as
EWKB (the server's ``geometry`` reads it directly), free attributes as the
JSON text the ``json`` column keeps.

Feature keys come from the sequence ``twin_fid_seq``, drawn on a second
connection outside the import's transaction, in blocks that grow with the
import (up to :data:`FID_BLOCK`): two imports from two clients never wait
for each other for keys (their keys interleave; a batch's features are
found by ``batch_id``).

Another client may commit the same feature id while this import runs: the
unique index makes the second writer wait for the first to commit and then
fail; the import is rolled back with an error naming the id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from ...attributes import TYPED_ATTRIBUTES
from ...errors import FeatureError
from ..codec import report_json
from ..rows import EDGE_ROW_COLUMNS, FEATURE_COLUMNS, HISTORY_COLUMNS, MESH_COLUMNS, F
from ..writer import ChunkedBatchWriter, PreparedChunk
from .schema import grow_extents, recompute_extents

if TYPE_CHECKING:
    from .store import PostGISStore

_PG_COPY_TYPES = {"real": "float8", "integer": "int8", "text": "text"}
# binary COPY: each value in the column's wire format; geometry reads EWKB and
# json reads its text, so they are sent as bytea and text
_FEATURE_TYPES = (["int8"] + ["text"] * 6 + ["bytea"] + ["float8"] * 6 + ["text", "int8", "text"]
                  + [_PG_COPY_TYPES[a.kind] for a in TYPED_ATTRIBUTES.values()] + ["int8", "text"])
_MESH_TYPES = ["int8", "text", "int4", "int4", "float8", "float8", "float8", "bytea", "bytea",
               "bytea", "text", "int8"]
_EDGE_TYPES = ["int8", "text", "text", "text", "int8"]
_ID_TYPES = ["text", "int8", "int8"]

_COPY_FEATURES = f"COPY twin_features ({', '.join(FEATURE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_COPY_HISTORY = (f"COPY twin_history ({', '.join(HISTORY_COLUMNS)}) FROM STDIN "
                 "(FORMAT BINARY)")
_COPY_MESHES = f"COPY twin_meshes ({', '.join(MESH_COLUMNS)}, tile) FROM STDIN (FORMAT BINARY)"
_COPY_EDGES = (f"COPY twin_edges ({', '.join(EDGE_ROW_COLUMNS)}, tile) FROM STDIN "
               "(FORMAT BINARY)")
_COPY_IDS = "COPY twin_ids (feature_id, tile, fid) FROM STDIN (FORMAT BINARY)"
#: The most feature keys drawn from the sequence at once (keys an import
#: drew and did not use are left out of the sequence: gaps, as a rolled-back
#: import leaves).
FID_BLOCK = 16384
_KEY_RE = re.compile(r"Key \((?:feature_id)\)=\((.*)\) already exists", re.S)


def ewkb(geoms: np.ndarray, promote: np.ndarray, srid: int) -> list[bytes | None]:
    """Geometries as EWKB with the twin's SRID (``None`` stays ``None``);
    where ``promote``, a polygon becomes a multipolygon of one part."""
    geoms = np.asarray(geoms, dtype=object).copy()
    out: list[bytes | None] = [None] * len(geoms)
    present = ~shapely.is_missing(geoms)
    if not present.any():
        return out
    if promote.any():
        idx = np.flatnonzero(promote & present)
        geoms[idx] = shapely.multipolygons(geoms[idx], indices=np.arange(len(idx)))
    idx = np.flatnonzero(present)
    g = shapely.set_srid(geoms[idx], srid)
    wkb = shapely.to_wkb(g, output_dimension=3, byte_order=1, flavor="extended",
                         include_srid=True)
    for i, w in zip(idx.tolist(), wkb.tolist()):
        out[i] = w
    return out


class PgBatchWriter(ChunkedBatchWriter):
    """One import into a :class:`~twin.store.postgis.PostGISStore`."""

    def __init__(self, store: PostGISStore, conn: Any, keys_conn: Any, batch_id: int,
                 on_conflict: str, retire_missing: str | None = None):
        super().__init__({layer.name: layer for layer in store.layers()}, batch_id,
                         on_conflict, store.tile_size, retire_missing,
                         digest_format=store.digest_format)
        self.store = store
        self.conn = conn
        self.keys_conn = keys_conn
        self.partitioned = store.partitioned
        self.fid_min: int | None = None
        self.fid_max: int | None = None
        self._keys: list[int] = []  # drawn from the sequence, not used yet
        self._drawn = 0
        self._pg = store.psycopg

    # -- ChunkedBatchWriter hooks ---------------------------------------------
    def _allocate_fids(self, n: int) -> Sequence[int]:
        if len(self._keys) < n:
            # a block that doubles as the import goes on, up to FID_BLOCK: a
            # large import asks for keys every few chunks instead of every one
            want = max(n - len(self._keys), min(FID_BLOCK, 2 * self._drawn))
            drawn = self.keys_conn.execute(
                "SELECT array_agg(nextval('twin_fid_seq')) FROM generate_series(1, %s)",
                (want,)).fetchone()[0]
            drawn.sort()  # drawn after the keys held, so all above them
            self._keys += drawn
            self._drawn += want
        fids, self._keys = self._keys[:n], self._keys[n:]
        if fids:
            self.fid_min = fids[0] if self.fid_min is None else min(self.fid_min, fids[0])
            self.fid_max = fids[-1] if self.fid_max is None else max(self.fid_max, fids[-1])
        return fids

    def _encode_geometries(self, geoms: np.ndarray, promote: np.ndarray) -> list[Any]:
        return ewkb(geoms, promote, self.store.srs_id)

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self.conn.cursor(binary=True)  # geometries as EWKB bytes
        return cur.execute(sql.replace("?", "%s"), tuple(params))

    def _history_moved(self, fids: list[int]) -> None:
        if self.partitioned:  # the id directory holds current versions only
            self.conn.execute("DELETE FROM twin_ids WHERE fid = ANY(%s)", (fids,))

    def _write(self, p: PreparedChunk) -> None:
        try:
            if self.on_conflict != "error":
                # an error-mode import leaves clashes to the unique index (the
                # look-ups cost the server an eighth of a bulk load)
                p = self._check_existing(p)
            if p.rows:
                self._copy(p)
        except self._pg.errors.UniqueViolation as exc:
            m = _KEY_RE.search(exc.diag.message_detail or "")
            if m is None:  # not a feature id (no such unique index is known)
                raise FeatureError(f"a feature clashes with one the twin holds: "
                                   f"{exc.diag.message_detail or exc}") from None
            raise self._clash(m.group(1)) from None

    def _clash(self, name: str) -> FeatureError:
        """The error for feature id ``name``, which the unique index found
        twice: in a batch committed before (this import's transaction is
        aborted, so the other connection looks), or in this import."""
        row = self.keys_conn.execute("SELECT batch_id FROM twin_features WHERE feature_id = %s",
                                     (name,)).fetchone()
        if row is None:
            return FeatureError(f"feature {name!r} appears twice in this import", name)
        if self.on_conflict == "error":
            return FeatureError(
                f"feature {name!r} already exists in the twin (import batch {row[0]}); remove "
                "that batch or import with on_conflict='replace' (--replace) or 'update' "
                "(--update)", name)
        return FeatureError(
            f"feature {name!r} already exists in the twin: another import committed it "
            "while this one ran (import again to replace it or to see its batch)", name)

    def _write_history(self, p: PreparedChunk) -> None:
        self._copy(p)

    def _copy(self, p: PreparedChunk) -> None:
        cur = self.conn.cursor()
        tile_of = {r[0]: r[F.tile] for r in p.rows}
        with cur.copy(_COPY_HISTORY if p.history else _COPY_FEATURES) as cp:
            cp.set_types(_FEATURE_TYPES + ["int8"] if p.history else _FEATURE_TYPES)
            for row in p.rows:
                cp.write_row(row)
        if self.partitioned and not p.history:
            with cur.copy(_COPY_IDS) as cp:
                cp.set_types(_ID_TYPES)
                for row in p.rows:
                    cp.write_row((row[1], row[F.tile], row[0]))
        if p.mesh_rows:
            with cur.copy(_COPY_MESHES) as cp:
                cp.set_types(_MESH_TYPES)
                for row in p.mesh_rows:
                    cp.write_row((*row, tile_of[row[0]]))
        if p.edge_rows:
            with cur.copy(_COPY_EDGES) as cp:
                cp.set_types(_EDGE_TYPES)
                for row in p.edge_rows:
                    cp.write_row((*row, tile_of[row[0]]))

    def _check_existing(self, p: PreparedChunk) -> PreparedChunk:
        existing = self.conn.execute(
            "SELECT fid, feature_id, batch_id, digest FROM twin_features "
            "WHERE feature_id = ANY(%s)", (p.ids,)).fetchall()
        if not existing:
            if self.on_conflict == "update":
                self.log.added += len(p.rows)
            return p
        again = next((e for e in existing if e[2] == self.id), None)
        if again is not None:
            raise FeatureError(f"feature {again[1]!r} appears twice in this import", again[1])
        if self.on_conflict == "update":
            return self.sort_versions(p, existing)
        fids = [e[0] for e in existing]
        self.count_replaced(e[2] for e in existing)
        for table in ("twin_meshes", "twin_edges", "twin_features"):
            self.conn.execute(f"DELETE FROM {table} WHERE fid = ANY(%s)", (fids,))
        if self.partitioned:
            self.conn.execute("DELETE FROM twin_ids WHERE feature_id = ANY(%s)",
                              ([e[1] for e in existing],))
        self.replaced += len(existing)
        return p

    # -- the end --------------------------------------------------------------------
    def finish(self) -> None:
        """Extents, origin and the batch's record, inside the import's
        transaction; shared rows are updated in one fixed order (layers by
        name, then the origin, then the batch, then the revision) so that
        concurrent imports queue instead of deadlocking."""
        conn = self.conn
        self.finish_update()
        if self.versions_ended:
            recompute_extents(conn)
        elif self.extents:
            grow_extents(conn, self.extents)
        b = self.batch_bounds()
        if b is not None:
            origin = [round((b[0] + b[3]) / 2, -2), round((b[1] + b[4]) / 2, -2),
                      0.0 if np.isnan(b[2]) else round(b[2], 0)]
            conn.execute("UPDATE twin_meta SET value = %s WHERE key = 'origin' AND "
                         "(value IS NULL OR value = 'null')", (json.dumps(origin),))
        self.update_replaced_batches(conn, "%s")
        report = self.final_report()
        conn.execute(
            "UPDATE twin_batches SET finished = %s, status = 'complete', feature_count = %s, "
            "report = %s, fid_min = %s, fid_max = %s WHERE id = %s",
            (self.store.now(), self.count, report_json(report),
             self.fid_min if self.count else None, self.fid_max if self.count else None,
             self.id))
