"""The part of an import that is the same on every backend.

An import streams features from a converter. They are checked and turned
into rows here, a chunk of a few thousand at a time, while the backend
writes the previous chunk on a worker thread (SQLite and the PostgreSQL
client release the GIL while they work, so the two overlap). What a backend
adds is how rows reach its tables (:meth:`ChunkedBatchWriter._write`), how
feature keys are handed out and how geometries are encoded.

The report an import leaves with its batch (``features``, ``replaced``,
``by_layer``, ``by_type``, ``skipped_count``, ``skipped``, ``warnings``,
``seconds``, and whatever the converter added) is built here too.
"""

from __future__ import annotations

import json
import math
import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from ..collector import paused
from ..errors import FeatureError, GeometryError, LayerError, OptionError
from ..layers import Layer
from ..model import Feature, Mesh
from .base import BatchWriter
from .codec import encode_meshes, split_attributes, tile_keys
from .digests import version_digests
from .rows import BOUNDS_SLICE, FEATURE_COLUMNS, HISTORY_COLUMNS, F
from .versions import (
    MAX_CHANGES_LISTED,
    NothingChanged,
    Seen,
    UpdateLog,
    check_retire,
    fetch_rows,
    move_to_history,
    retire_candidates,
    row_differences,
)

#: Features per chunk handed to the backend.
CHUNK = 2000
#: ... or fewer, when their meshes reach this many vertices: an import holds
#: a chunk or two of meshes, not the whole delivery's.
CHUNK_VERTICES = 500_000
#: Skipped elements listed one by one in a report (all are counted).
MAX_SKIPS_LISTED = 10000

_NAN6 = (math.nan,) * 6
#: Ids per statement when looking features up.
_SQL_VARS = 900


@dataclass(frozen=True)
class PreparedChunk:
    """A chunk of features turned into rows, ready for the writer thread.

    ``rows`` follow :data:`twin.store.rows.FEATURE_COLUMNS`; ``mesh_rows`` and
    ``edge_rows`` the mesh and edge columns. ``bounds`` is ``(n, 6)``: the
    3D bounds per row (NaN where unknown)."""

    ids: list[str]
    rows: list[tuple]
    bounds: np.ndarray
    mesh_rows: list[tuple]
    edge_rows: list[tuple]
    #: rows of ``twin_history`` (a copy's earlier versions, ``retired_batch`` last)
    history: bool = False


def check_feature(f: Any, layers: dict[str, Layer]) -> tuple[Layer, Any, bool]:
    """``(layer, 2D geometry to store, promote to multi)`` for a feature, or a
    clear error: an unknown layer, or a geometry the layer does not hold.

    Footprints are stored 2D (``MULTIPOLYGON`` layers: a polygon is promoted
    to a multipolygon of one part); lines and points keep their heights."""
    if not isinstance(f, Feature):
        raise FeatureError(f"expected a Feature, got {type(f).__name__}")
    layer = layers.get(f.layer)
    if layer is None:
        raise LayerError(
            f"feature {f.id!r}: layer {f.layer!r} does not exist; add it first or use one "
            f"of {', '.join(sorted(layers))}")
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


# shapely's geometry type ids
_POINT, _LINE, _POLYGON, _MULTI_LINE, _MULTI_POLYGON = 0, 1, 3, 5, 6


def check_features(feats: Sequence[Feature], layers: dict[str, Layer]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`check_feature` of many features at once: ``(geometries to
    store, promote to multi)``, with shapely's array functions in place of
    a few property reads per feature. The first feature that fails gets
    :func:`check_feature`'s own error."""
    if not feats:
        return np.empty(0, dtype=object), np.zeros(0, bool)
    kind_of = {name: layer.geometry_type for name, layer in layers.items()}
    kinds = [kind_of.get(f.layer) for f in feats]
    fps = np.empty(len(feats), dtype=object)
    fps[:] = [f.footprint for f in feats]
    gt = np.array(["" if k is None else k for k in kinds])  # "": an unknown layer
    tid = shapely.get_type_id(fps)
    present = (tid >= 0) & ~shapely.is_empty(fps)
    polys, lines, points = gt == "MULTIPOLYGON", gt == "LINESTRING", gt == "POINT"
    multi_line = present & lines & (tid == _MULTI_LINE)
    one_line = np.zeros(len(feats), bool)
    if multi_line.any():
        one_line[multi_line] = shapely.get_num_geometries(fps[multi_line]) == 1
    ok = (gt != "") & (~present | ~(polys | lines | points)
          | (polys & ((tid == _POLYGON) | (tid == _MULTI_POLYGON)))
          | (lines & ((tid == _LINE) | one_line)) | (points & (tid == _POINT)))
    if not ok.all():  # the first feature in error raises it
        check_feature(feats[int(np.argmin(ok))], layers)
        raise AssertionError("check_feature passed a feature check_features refused")
    flat = present & polys & shapely.has_z(fps)
    if flat.any():
        fps[flat] = shapely.force_2d(fps[flat])
    if one_line.any():
        fps[one_line] = shapely.get_geometry(fps[one_line], 0)
    return fps, present & polys & (tid == _POLYGON)


def mesh_vertices(feature: Any) -> int:
    """The vertices of a feature's meshes (0 for anything else)."""
    n = 0
    meshes = getattr(feature, "meshes", None)
    if meshes:
        for m in meshes.values():
            n += len(m.vertices)
    return n


def duplicate_in(ids: Sequence[str]) -> str | None:
    """The first id that appears twice in ``ids``, or ``None``."""
    if len(set(ids)) == len(ids):
        return None
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            return i
        seen.add(i)
    return None  # pragma: no cover - the set sizes said there is one


class ChunkedBatchWriter(BatchWriter):
    """Checks, encodes and counts an import's features; a backend writes them.

    Subclasses implement :meth:`_allocate_fids`, :meth:`_encode_geometries`
    and :meth:`_write`, and call :meth:`final_report` when the import ends.
    """

    def __init__(self, layers: dict[str, Layer], batch_id: int, on_conflict: str,
                 tile_size: float, retire_missing: str | None = None, *,
                 digest_format: int):
        check_retire(retire_missing, on_conflict)
        self.id = batch_id
        #: ``"layers"``/``"extent"``: retire what an update no longer holds
        self.retire_missing = retire_missing
        self.seen = Seen()
        self.log = UpdateLog()
        #: the converter of this import (retiring keeps to its features)
        self.converter: str | None = None
        self.layers = layers
        self.on_conflict = on_conflict
        self.tile_size = tile_size
        #: how this twin writes its version digests (:mod:`.digests`)
        self.digest_format = digest_format
        self.count = 0
        #: unchanged features an update did not write (counted on the writer thread)
        self.dropped = 0
        self.replaced = 0
        #: earlier batch -> how many of its features this import replaced
        self.replaced_from: dict[int, int] = {}
        self.by_layer: dict[str, int] = {}
        self.by_type: dict[str, int] = {}
        self.skipped: list[dict[str, str]] = []
        self.skipped_count = 0
        self.warnings: list[str] = []
        self.report: dict[str, Any] = {}
        self.started = time.perf_counter()
        #: per layer: (6,) [xmin, ymin, zmin, xmax, ymax, zmax] of this import's features
        self.extents: dict[str, np.ndarray] = {}

    # -- backend hooks -----------------------------------------------------
    @abstractmethod
    def finish(self) -> None:
        """Write what is still buffered and the batch's record (the end of
        the import's body, inside its transaction)."""

    @abstractmethod
    def _allocate_fids(self, n: int) -> Sequence[int]:
        """Keys for the next ``n`` features, in insertion order."""

    @abstractmethod
    def _encode_geometries(self, geoms: np.ndarray, promote: np.ndarray) -> list[Any]:
        """The stored form of 2D geometries (``None`` stays ``None``)."""

    @abstractmethod
    def _write(self, chunk: PreparedChunk) -> None:
        """Write one prepared chunk (runs on the writer thread)."""

    @abstractmethod
    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement (``?`` placeholders) in the import's transaction;
        a cursor whose ``fetchall`` gives stored values (geometries as bytes)."""

    def _ready(self, chunk: PreparedChunk) -> list[PreparedChunk]:
        """The chunks to write now that ``chunk`` is prepared (on the caller's
        thread, nothing being written); a backend may hold some back a while."""
        return [chunk]

    def _write_all(self, chunks: list[PreparedChunk]) -> None:
        for chunk in chunks:
            self._write(chunk)

    def _history_moved(self, fids: list[int]) -> None:
        """After current versions moved to the history: a backend's own
        bookkeeping (the GeoPackage's R*Trees, PostGIS's id directory)."""

    # -- the BatchWriter interface ------------------------------------------
    def skip(self, source_id: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_SKIPS_LISTED:
            self.skipped.append({"source_id": str(source_id), "reason": reason})

    def add(self, features: Iterable[Feature]) -> int:
        """Insert features in chunks. Preparing a chunk (checks, encoding) and
        the converter producing the next features run on this thread while
        one worker writes the previous chunk. Errors from either side end the
        import."""
        n = 0
        pending: Future | None = None
        chunk: list[Feature] = []
        weight = 0  # mesh vertices in ``chunk``

        def submit(part: list[Feature]) -> None:
            nonlocal pending, n
            with paused():  # rows and tuples, no cycles: a sixth of a bulk load's CPU
                prepared = self._prepare(part)
            if pending is not None:
                pending.result()  # the previous chunk is written (or its error raised)
                pending = None
            if ready := self._ready(prepared):
                pending = pool.submit(self._write_all, ready)
            n += len(part)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="twin-writer") as pool:
            try:
                for feat in features:
                    chunk.append(feat)
                    weight += mesh_vertices(feat)
                    if len(chunk) >= CHUNK or weight >= CHUNK_VERTICES:
                        submit(chunk)
                        chunk, weight = [], 0
                if chunk:
                    submit(chunk)
                if pending is not None:
                    pending.result()
                    pending = None
            finally:
                if pending is not None:  # an error here: let the writer stop first
                    pending.exception()
        return n

    # -- preparing ------------------------------------------------------------
    def _prepare(self, feats: list[Feature]) -> PreparedChunk:
        """Everything about a chunk that needs no database: checks and rows."""
        ids = [f.id for f in feats] if all(isinstance(f, Feature) for f in feats) else None
        if ids is None:
            bad = next(f for f in feats if not isinstance(f, Feature))
            raise FeatureError(f"expected a Feature, got {type(bad).__name__}")
        dup = duplicate_in(ids)
        if dup is not None:
            raise FeatureError(f"feature {dup!r} appears twice in this import", dup)
        geoms = self._encode_geometries(*check_features(feats, self.layers))
        bounds = np.array([f.bbox if f.bbox is not None else _NAN6 for f in feats],
                          dtype=np.float64).reshape(-1, 6)
        tiles = tile_keys(bounds, self.tile_size).tolist()
        fids = self._allocate_fids(len(feats))
        rows: list[tuple] = []
        edge_rows: list[tuple] = []
        mesh_fids: list[int] = []
        mesh_lods: list[str] = []
        mesh_list: list[Mesh] = []
        batch, isnan = self.id, math.isnan
        # rows without their digest (the last column), added below
        for f, fid, geom, tile in zip(feats, fids, geoms, tiles):
            typed, free = split_attributes(f.attributes, f.id)
            b = f.bbox
            if b is None:  # a semantic object without geometry (a group, a storey record)
                rows.append((fid, f.id, f.layer, f.type, f.name, f.parent, f.lod, geom,
                             None, None, None, None, None, None, f.source_id, batch,
                             free, *typed, tile))
            else:
                z_known = not (isnan(b[2]) or isnan(b[5]))
                zlo, zhi = (b[2], b[5]) if z_known else (None, None)
                rows.append((fid, f.id, f.layer, f.type, f.name, f.parent, f.lod, geom,
                             b[0], b[1], zlo, b[3], b[4], zhi, f.source_id, batch, free,
                             *typed, tile))
            for lod, mesh in f.meshes.items():
                if len(mesh.vertices):
                    mesh_fids.append(fid)
                    mesh_lods.append(lod)
                    mesh_list.append(mesh)
            if f.edge is not None:
                edge_rows.append((fid, f.edge.network, f.edge.start, f.edge.end))
        layer_names = [f.layer for f in feats]
        type_names = [f.type for f in feats]
        for counts, names in ((self.by_layer, layer_names), (self.by_type, type_names)):
            for name, k in Counter(names).items():
                counts[name] = counts.get(name, 0) + k
        mesh_rows = [(fid_, lod_, *enc) for fid_, lod_, enc in
                     zip(mesh_fids, mesh_lods, encode_meshes(mesh_list))]
        by_fid: dict[int, list[tuple]] = {}
        for mr in mesh_rows:
            by_fid.setdefault(mr[0], []).append(mr)
        digests = version_digests(FEATURE_COLUMNS[:F.digest], rows, by_fid,
                                  {e[0]: e for e in edge_rows}, self.digest_format)
        rows = [r + (dg,) for r, dg in zip(rows, digests)]
        if self.on_conflict == "update":
            self.seen.note(ids, layer_names, bounds)
        self._grow_extents(layer_names, bounds)
        self.count += len(feats)
        return PreparedChunk(ids, rows, bounds, mesh_rows, edge_rows)

    def write_raw(self, rows: list[tuple], geoms: np.ndarray, mesh_rows: list[tuple],
                  edge_rows: list[tuple], history: bool = False) -> None:
        """Write rows read from another twin as they are (a copy): feature rows
        in :data:`~twin.store.rows.FEATURE_COLUMNS` order with their geometries
        decoded in ``geoms``, mesh and edge rows as stored. Keys are kept.
        ``history``: earlier versions (:data:`~twin.store.rows.HISTORY_COLUMNS`),
        into the history."""
        encoded = self._encode_geometries(geoms, np.zeros(len(rows), bool))
        g = F.geom
        rows = [(*r[:g], e, *r[g + 1:]) for r, e in zip(rows, encoded)]
        # digests of the rows as this store keeps them (its geometry encoding)
        by_fid: dict[Any, list[tuple]] = {}
        for mr in mesh_rows:
            by_fid.setdefault(mr[0], []).append(mr)
        digests = version_digests(HISTORY_COLUMNS if history else FEATURE_COLUMNS, rows,
                                  by_fid, {e[0]: e for e in edge_rows}, self.digest_format)
        d = F.digest
        rows = [(*r[:d], dg, *r[d + 1:]) for r, dg in zip(rows, digests)]
        bounds = np.array([[np.nan if v is None else v for v in r[BOUNDS_SLICE]]
                           for r in rows], dtype=np.float64).reshape(-1, 6)
        if history:
            self._write_history(PreparedChunk([r[F.feature_id] for r in rows], rows, bounds,
                                              mesh_rows, edge_rows, True))
            return
        self.count += len(rows)
        self._write(PreparedChunk([r[F.feature_id] for r in rows], rows, bounds,
                                  mesh_rows, edge_rows))

    def _write_history(self, p: PreparedChunk) -> None:
        """Write a copy's earlier versions (backends add their index entries)."""
        raise NotImplementedError

    def _grow_extents(self, layer_names: list[str], bounds: np.ndarray) -> None:
        names = np.array(layer_names, dtype=object)
        known = ~np.isnan(bounds[:, 0])
        for name in set(layer_names):
            sel = (names == name) & known
            if not sel.any():
                continue
            # fmin/fmax skip NaN (unknown heights) unless all are NaN
            new = np.concatenate([np.fmin.reduce(bounds[sel, :3], axis=0),
                                  np.fmax.reduce(bounds[sel, 3:], axis=0)])
            old = self.extents.get(name)
            if old is not None:
                new = np.concatenate([np.fmin(old[:3], new[:3]), np.fmax(old[3:], new[3:])])
            self.extents[name] = new

    # -- updates by identity (versions.py) -------------------------------------------
    @property
    def versions_ended(self) -> bool:
        """Whether this import removed or ended current versions (extents
        must then be computed again)."""
        return bool(self.replaced or self.log.changed or self.log.retired)

    @property
    def nothing_changed(self) -> bool:
        """An update that added, changed and retired nothing (it is rolled back)."""
        log = self.log
        return self.on_conflict == "update" and not (log.added or log.changed or log.retired)

    def conclude(self) -> None:
        """The end of an import batch's body: :meth:`finish`, then, for an
        update that changed nothing, ``id`` 0 and :class:`NothingChanged`,
        which the store's ``import_batch`` catches after its transaction
        rolled back."""
        self.finish()
        if self.nothing_changed:
            self.id = 0
            raise NothingChanged

    def sort_versions(self, p: PreparedChunk, existing: list[tuple]) -> PreparedChunk:
        """An update's chunk against the current versions of its ids
        (``(fid, feature id, batch, digest)`` rows): unchanged features are
        dropped, changed ones end their current version (moved to the
        history), new ones are added. Returns what is left to write."""
        log = self.log
        cur = {e[1]: e for e in existing}
        keep: list[int] = []
        ended: list[tuple[int, int]] = []  # (old fid, row index)
        for i, row in enumerate(p.rows):
            e = cur.get(row[F.feature_id])
            if e is None:
                log.added += 1
                keep.append(i)
            elif e[3] == row[F.digest]:
                log.unchanged += 1
            else:
                log.changed += 1
                keep.append(i)
                ended.append((int(e[0]), i))
        if ended:
            old = fetch_rows(self._exec, [o for o, _ in ended])
            for o, i in ended:
                what, moved = row_differences(old[o], p.rows[i])
                for w in what:
                    log.what[w] = log.what.get(w, 0) + 1
                log.moved.append(moved)
                if len(log.examples) < MAX_CHANGES_LISTED:
                    log.examples.append({"id": p.rows[i][F.feature_id], "changed": what,
                                         "moved_m": round(moved, 3)})
            self.count_replaced(old[o][F.batch_id] for o, _ in ended)
            fids = [o for o, _ in ended]
            move_to_history(self._exec, fids, self.id)
            self._history_moved(fids)
        if len(keep) == len(p.rows):
            return p
        self.dropped += len(p.rows) - len(keep)  # the writer thread's own counter
        rows = [p.rows[i] for i in keep]
        kept = {r[F.fid] for r in rows}
        return PreparedChunk([p.ids[i] for i in keep], rows, p.bounds[keep],
                             [m for m in p.mesh_rows if m[0] in kept],
                             [e for e in p.edge_rows if e[0] in kept])

    def finish_update(self) -> None:
        """An update's end: retire what the delivery no longer holds (if
        asked) and put the counts into the report."""
        if self.on_conflict != "update":
            return
        self.count -= self.dropped  # every chunk is written: the threads are joined
        self.dropped = 0
        if self.retire_missing:
            gone = retire_candidates(self._exec, self.seen, self.retire_missing,
                                     self.converter)
            if gone:
                fids = [g[0] for g in gone]
                move_to_history(self._exec, fids, self.id)
                self._history_moved(fids)
                self.count_replaced(g[2] for g in gone)
                self.log.retired += len(gone)
                self.log.retired_ids += sorted(g[1] for g in gone)
        self.report["update"] = self.log.to_dict()

    def retire(self, feature_ids: Iterable[str]) -> list[str]:
        """End the current versions of ``feature_ids`` (see
        :meth:`BatchWriter.retire`); the ids the twin does not hold are returned."""
        if self.on_conflict != "update":
            raise OptionError("retiring features needs on_conflict='update': only versions "
                              "keep what a retired feature was")
        ids = sorted(set(feature_ids))
        found: list[tuple[int, str, int]] = []
        for i in range(0, len(ids), _SQL_VARS):
            part = ids[i:i + _SQL_VARS]
            found += [(int(r[0]), r[1], int(r[2])) for r in self._exec(
                "SELECT fid, feature_id, batch_id FROM twin_features WHERE feature_id IN "
                f"({','.join('?' * len(part))})", part).fetchall()]
        if found:
            fids = [g[0] for g in found]
            move_to_history(self._exec, fids, self.id)
            self._history_moved(fids)
            self.count_replaced(g[2] for g in found)
            self.log.retired += len(found)
            self.log.retired_ids += sorted(g[1] for g in found)
        held = {g[1] for g in found}
        return [i for i in ids if i not in held]

    def count_replaced(self, batch_ids: Iterable[int]) -> None:
        """Note the batches that held the features this import replaces."""
        for b in batch_ids:
            self.replaced_from[int(b)] = self.replaced_from.get(int(b), 0) + 1

    def update_replaced_batches(self, conn: Any, mark: str) -> None:
        """Earlier batches whose features this import replaced hold fewer now:
        their counts drop and their reports say by which batch (``mark`` is the
        backend's parameter mark, ``?`` or ``%s``; batches in a fixed order so
        that concurrent imports queue instead of deadlocking)."""
        for old, n in sorted(self.replaced_from.items()):
            row = conn.execute(f"SELECT report FROM twin_batches WHERE id = {mark}",
                               (old,)).fetchone()
            rep = json.loads(row[0]) if row and row[0] else {}
            by = rep.setdefault("replaced_by", {})
            by[str(self.id)] = by.get(str(self.id), 0) + n
            conn.execute(f"UPDATE twin_batches SET feature_count = feature_count - {mark}, "
                         f"report = {mark} WHERE id = {mark}",
                         (n, json.dumps(rep, ensure_ascii=False), old))

    def batch_bounds(self) -> tuple[float, float, float, float, float, float] | None:
        """The 3D bounds of this import's features so far (z NaN if unknown),
        or ``None`` when none has bounds."""
        if not self.extents:
            return None
        e = np.array(list(self.extents.values()))
        lo = np.fmin.reduce(e[:, :3], axis=0)
        hi = np.fmax.reduce(e[:, 3:], axis=0)
        return (*map(float, lo), *map(float, hi))  # type: ignore[return-value]

    def final_report(self) -> dict[str, Any]:
        """The report kept with the batch (the converter's entries included)."""
        self.report.update({
            "features": self.count, "received": len(self.seen.ids) or self.count,
            "replaced": self.replaced,
            "replaced_from": {str(k): v for k, v in sorted(self.replaced_from.items())},
            "by_layer": self.by_layer,
            "by_type": self.by_type, "skipped_count": self.skipped_count,
            "skipped": self.skipped, "warnings": self.warnings,
            "seconds": round(time.perf_counter() - self.started, 3),
        })
        return self.report

