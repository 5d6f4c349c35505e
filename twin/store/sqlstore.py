"""What both SQL backends do the same way, over a few primitives each provides.

:class:`SqlTwinStore` implements the reading half of
:class:`~twin.store.base.TwinStore` (features by id and by query, meshes,
edges, batches, nearest features) and the attribute edit, on top of:

* ``_read(sql, params)``: all rows of one statement (small results);
* ``_stream(sql, params)``: the rows of a large result, a chunk at a time;
* ``_decode_geometries(values)``: stored geometries to shapely;
* ``_transaction()``: a context manager yielding a connection whose
  ``execute(sql, params)`` runs inside one transaction;
* ``dialect``: the :class:`~twin.store.querysql.Dialect` of its SQL.

SQL here is written with ``?`` placeholders; the backend translates.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from shapely.geometry import Point

from ..attributes import coerce_typed
from ..errors import (
    FeatureError,
    ImportFailedError,
    NotFoundError,
    OptionError,
    QueryError,
    StoreError,
    TwinError,
)
from ..model import Feature, ImportBatch, Mesh, Provenance
from ..query import Query
from .base import TwinStore
from .codec import DEFAULT_TILE_SIZE, TYPED_INDEX, decode_mesh, free_json, rows_to_features
from .digests import digest_format_of
from .querysql import SELECT_SQL, Compiled, Dialect, compile_query
from .rows import (
    BATCH_COLUMNS,
    EDGE_COLUMNS,
    EDGE_ROW_COLUMNS,
    FEATURE_COLUMNS,
    HISTORY_COLUMNS,
    MESH_COLUMNS,
    F,
)
from .versions import as_of_condition, check_retire

#: Rows fetched per round trip when streaming a query.
STREAM_CHUNK = 2000
_SQL_VARS = 900


@contextmanager
def import_errors(source: str, database_errors: tuple[type[BaseException], ...]
                  ) -> Iterator[None]:
    """Inside an import: a bad input (:class:`TwinError`), a failing file or
    disk (``OSError``) or a database error becomes :class:`ImportFailedError`
    naming ``source``. Anything else is a bug of ours or of a converter and
    passes unchanged (the transaction is rolled back all the same)."""
    try:
        yield
    except StoreError:
        raise
    except (TwinError, OSError) + tuple(database_errors) as exc:
        raise ImportFailedError(
            f"import of {source} failed and was rolled back, the twin is unchanged: {exc}",
            source=source,
        ) from exc


def _outline(f: Feature) -> Any:
    """A feature's footprint, else its 2D box (a bbox query's features have one)."""
    if f.footprint is not None or f.bbox is None:
        return f.footprint
    return shapely.box(f.bbox[0], f.bbox[1], f.bbox[3], f.bbox[4])


def check_conflict(on_conflict: str, retire_missing: str | None = None) -> None:
    """A clear error for an ``on_conflict`` or ``retire_missing`` that is not one."""
    if on_conflict not in ("error", "replace", "update"):
        raise OptionError(f"on_conflict {on_conflict!r} is not valid, must be 'error', "
                          "'replace' or 'update'")
    check_retire(retire_missing, on_conflict)


class SqlTwinStore(TwinStore):
    """The shared half of the GeoPackage and PostGIS stores."""

    dialect: Dialect
    path: str
    #: the twin's ``twin_meta`` as read when it was opened, its CRS and SRS id
    _meta: dict[str, str]
    _crs: CRS
    _srs_id: int

    def __init__(self) -> None:
        self._batch_info: dict[int, tuple] = {}
        #: a view of the twin as of this batch (:meth:`at`), or ``None``: now
        self.as_of: int | None = None

    def at(self, as_of: int | None) -> SqlTwinStore:
        """This twin as it was right after import batch ``as_of`` committed
        (:func:`twin.store.resolve_as_of` turns a date into one): a read-only
        view sharing this store's connections, whose queries, ``get``,
        ``nearest`` and ``edges`` see the versions valid then. ``None``: this
        store itself. Close the store, not the view."""
        if as_of is None:
            return self
        import copy

        view = copy.copy(self)
        view.as_of = Query(as_of=as_of).as_of  # checked as a query checks it
        view.readonly = True  # type: ignore[attr-defined]
        return view

    def _dated(self, q: Query) -> Query:
        if self.as_of is None or q.as_of is not None:
            return q
        import dataclasses

        return dataclasses.replace(q, as_of=self.as_of)

    # -- metadata ---------------------------------------------------------------
    @property
    def crs(self) -> CRS:
        return self._crs

    @property
    def srs_id(self) -> int:
        return self._srs_id

    @property
    def tile_size(self) -> float:
        return float(self._meta.get("tile_size") or DEFAULT_TILE_SIZE)

    @property
    def digest_format(self) -> int:
        """How this twin's version digests hash numbers (:mod:`.digests`)."""
        return digest_format_of(self._meta)

    @property
    def vertical_datum(self) -> str:
        return self._meta.get("vertical_datum") or "unspecified"

    # -- primitives -------------------------------------------------------------
    @abstractmethod
    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]: ...

    @abstractmethod
    def _stream(self, sql: str, params: Iterable[Any]) -> Iterator[list[tuple]]: ...

    @abstractmethod
    def _decode_geometries(self, values: list[Any]) -> np.ndarray: ...

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]: ...

    # -- layers -----------------------------------------------------------------
    def layer(self, name: str):
        layers = self.layers()
        for layer in layers:
            if layer.name == name:
                return layer
        raise NotFoundError(
            f"layer {name!r} does not exist in {self.path}; layers: "
            f"{', '.join(x.name for x in layers)}"
        )

    # -- features ---------------------------------------------------------------
    def _features(self, rows: list[tuple], with_meshes: bool,
                  free_attributes: bool = True) -> list[Feature]:
        if not rows:
            return []
        geoms = self._decode_geometries([r[F.geom] for r in rows])
        meshes = self._load_meshes([r[F.fid] for r in rows]) if with_meshes else {}
        return rows_to_features(rows, geoms, meshes, with_meshes, free_attributes,
                                self._provenance)

    def _load_meshes(self, fids: list[int]) -> dict[int, dict[str, Mesh]]:
        out: dict[int, dict[str, Mesh]] = {}
        cols = ", ".join(MESH_COLUMNS)
        for i in range(0, len(fids), _SQL_VARS):
            part = fids[i:i + _SQL_VARS]
            for mr in self._read(f"SELECT {cols} FROM twin_meshes WHERE fid IN "
                                 f"({','.join('?' * len(part))})", part):
                out.setdefault(mr[0], {})[mr[1]] = decode_mesh(*mr[2:])
        return out

    def _provenance(self, batch_id: int, source_id: str | None) -> Provenance:
        cache = self._batch_info
        b = cache.get(batch_id)
        if b is None:  # a batch this instance has not seen yet
            cache.update({r[0]: r[1:] for r in self._read(
                "SELECT id, source, format, converter, converter_version FROM twin_batches")})
            b = cache.get(batch_id, ("?", "?", "?", "?"))
        return Provenance(source_file=b[0], source_format=b[1], source_id=source_id,
                          batch_id=batch_id, converter=b[2], converter_version=b[3])

    def get(self, feature_id: str, *, meshes: bool = True) -> Feature:
        if self.as_of is not None:
            rows = [r for chunk in self._stream(*self._compile_as_of(
                Query(ids=(feature_id,), as_of=self.as_of))[:2]) for r in chunk]
        else:
            rows = self._read(
                f"SELECT {SELECT_SQL} FROM twin_features f {self.dialect.edge_join} "
                "WHERE f.feature_id = ?", (feature_id,))
        if not rows:
            raise NotFoundError(f"feature {feature_id!r} does not exist in {self.path}")
        return self._features(rows, meshes)[0]

    def meshes(self, feature_id: str) -> dict[str, Mesh]:
        return dict(self.get(feature_id, meshes=True).meshes)

    def _compile(self, q: Query) -> Compiled:
        return compile_query(q, self.dialect)

    def _compile_as_of(self, q: Query) -> tuple[str, list[Any], str]:
        """``(SELECT without order, parameters, order column)``: over the current
        features, or, as of a batch, over the versions valid then (the current
        rows and the history's, one ``UNION ALL``)."""
        c = self._compile(q)
        if q.as_of is None:
            return c.select(), list(c.params), c.order
        h = compile_query(q, self.dialect, history=True)
        return (f"SELECT * FROM ({c.select()} UNION ALL {h.select()}) u",
                [*c.params, *h.params], "u." + c.order.split(".", 1)[1])

    def query(self, query: Query) -> Iterator[Feature]:
        """Stream the features selected by ``query`` (chunks of a few thousand)."""
        query = self._dated(query)
        select, params, order = self._compile_as_of(query)
        sql = select + f" ORDER BY {order}"
        refine = query.within is not None
        if not refine:
            if query.limit is not None:
                sql += " LIMIT ? OFFSET ?"
                params += [query.limit, query.offset]
            elif query.offset:
                sql += self.dialect.offset_only()
                params.append(query.offset)
        return self._features_of(sql, params, query, refine)

    def _features_of(self, sql: str, params: list, q: Query, refine: bool
                     ) -> Iterator[Feature]:
        chunks = self._stream(sql, params)
        try:
            skipped = 0
            emitted = 0
            if refine:
                shapely.prepare(q.within)
            pred = shapely.within if q.predicate == "within" else shapely.intersects
            for rows in chunks:
                if refine:
                    geoms = self._decode_geometries([r[F.geom] for r in rows])
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
                feats = self._features(rows, q.with_meshes, q.free_attributes)
                yield from feats
                emitted += len(feats)
                if refine and q.limit is not None and emitted >= q.limit:
                    return
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def count(self, query: Query) -> int:
        query = self._dated(query)
        if query.within is not None:
            return sum(1 for _ in self.query(query))
        c = self._compile(query)
        n = self._read(c.select("COUNT(*)"), c.params)[0][0]
        if query.as_of is not None:
            h = compile_query(query, self.dialect, history=True)
            n += self._read(h.select("COUNT(*)"), h.params)[0][0]
        n = max(n - query.offset, 0)
        return min(n, query.limit) if query.limit is not None else n

    def nearest(self, x: float, y: float, n: int = 1, *, layers: Iterable[str] = (),
                max_distance: float | None = None) -> list[tuple[Feature, float]]:
        """The ``n`` features nearest to ``(x, y)`` in plan (footprint distance),
        searched through the spatial index in growing squares."""
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
                geoms = np.array([_outline(f) for f in feats], dtype=object)
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
        features = "twin_features"
        params: list[Any] = []
        if self.as_of is not None:  # the versions valid then, current or earlier
            features = (f"(SELECT fid, feature_id, tile FROM twin_features WHERE "
                        f"{as_of_condition('twin_features')} UNION ALL SELECT fid, feature_id, "
                        f"tile FROM twin_history WHERE {as_of_condition('twin_history', True)})")
            params += [self.as_of] * 3
        sql = ("SELECT f.feature_id, e.network, e.start_node, e.end_node FROM twin_edges e "
               f"JOIN {features} f ON {self.dialect.edge_on}")
        if network is not None:
            sql += " WHERE e.network = ?"
            params.append(network)
        for rows in self._stream(sql + " ORDER BY e.fid", params):
            yield from (tuple(r) for r in rows)  # type: ignore[misc]

    def version_index(self, layers: tuple[str, ...] = ()) -> list[tuple[str, str, str | None]]:
        """``(feature id, layer, digest)`` of every feature (of ``layers``)
        this twin, or this view as of a batch, holds: what a diff compares
        first, without reading the features."""
        cond, params = "", []
        if layers:
            cond = f" AND layer IN ({','.join('?' * len(layers))})"
            params = list(layers)
        if self.as_of is None:
            sql = f"SELECT feature_id, layer, digest FROM twin_features WHERE 1 = 1{cond}"
            return [tuple(r) for r in self._read(sql, params)]  # type: ignore[misc]
        sql = (f"SELECT feature_id, layer, digest FROM twin_features f WHERE "
               f"{as_of_condition('f')}{cond} UNION ALL SELECT feature_id, layer, digest FROM "
               f"twin_history f WHERE {as_of_condition('f', True)}{cond}")
        return [tuple(r) for r in self._read(  # type: ignore[misc]
            sql, [self.as_of, *params, self.as_of, self.as_of, *params])]

    def versions_of(self, feature_id: str) -> list[dict[str, Any]]:
        """Every version of a feature, oldest first: ``{"feature", "batch",
        "valid_from", "retired_batch", "valid_to"}`` (``retired_batch`` and
        ``valid_to`` ``None`` for the current one; times are those of the
        imports in ``twin_batches``). Empty for an id the twin never held."""
        cols = ", ".join(f"f.{c}" for c in FEATURE_COLUMNS)
        edges = ", ".join(f"e.{c}" for c in EDGE_COLUMNS)
        rows = self._read(
            f"SELECT {cols}, {edges}, f.retired_batch FROM twin_history f "
            f"{self.dialect.edge_join} WHERE f.feature_id = ? ORDER BY f.batch_id", (feature_id,))
        rows += [(*r, None) for r in self._read(
            f"SELECT {cols}, {edges} FROM twin_features f {self.dialect.edge_join} "
            "WHERE f.feature_id = ?", (feature_id,))]
        if not rows:
            return []
        when = {int(r[0]): r[1] for r in self._read("SELECT id, finished FROM twin_batches")}
        feats = self._features([r[:-1] for r in rows], True)
        return [{"feature": f, "batch": int(r[F.batch_id]),
                 "valid_from": when.get(int(r[F.batch_id])),
                 "retired_batch": None if r[-1] is None else int(r[-1]),
                 "valid_to": None if r[-1] is None else when.get(int(r[-1]))}
                for f, r in zip(feats, rows)]

    # -- health checks (schema 3) ---------------------------------------------------
    def save_health_check(self, year: int, report: dict[str, Any],
                          as_of_batch: int | None = None) -> None:
        """Keep a health check's indicators (``HealthCheck.to_dict()``) for
        ``year`` in the twin, replacing that year's earlier run; ``as_of_batch``:
        the twin state it was computed on (``None``: the latest batch)."""
        if as_of_batch is None:
            last = self._read("SELECT MAX(id) FROM twin_batches")[0][0]
            as_of_batch = None if last is None else int(last)
        from .meta import now

        with self._transaction() as conn:
            conn.execute("DELETE FROM twin_health_checks WHERE year = ?", (int(year),))
            conn.execute("INSERT INTO twin_health_checks VALUES (?, ?, ?, ?)",
                         (int(year), now(), as_of_batch,
                          json.dumps(report, ensure_ascii=False, default=str)))

    def health_checks(self) -> list[dict[str, Any]]:
        """The stored health checks, by year: ``{"year", "computed",
        "as_of_batch", "report"}`` each."""
        return [{"year": int(r[0]), "computed": r[1], "as_of_batch": r[2],
                 "report": json.loads(r[3])} for r in self._read(
                     "SELECT year, computed, as_of_batch, report FROM twin_health_checks "
                     "ORDER BY year")]

    # -- copies ---------------------------------------------------------------------
    def raw_batches(self) -> list[tuple]:
        """The import batches as stored (:data:`~twin.store.rows.BATCH_COLUMNS`)."""
        return self._read(f"SELECT {', '.join(BATCH_COLUMNS)} FROM twin_batches ORDER BY id")

    def raw_chunks(self, history: bool = False
                   ) -> Iterator[tuple[list[tuple], np.ndarray, list[tuple], list[tuple]]]:
        """Every feature as stored, batch by batch in insertion order, a chunk
        at a time: ``(feature rows, their geometries decoded, mesh rows, edge
        rows)``. For copies between twins (values are kept exactly).
        ``history``: the earlier versions (rows end with ``retired_batch``)."""
        cols = ", ".join(f"f.{c}" for c in (HISTORY_COLUMNS if history else FEATURE_COLUMNS))
        table = "twin_history" if history else "twin_features"
        mesh_cols, edge_cols = ", ".join(MESH_COLUMNS), ", ".join(EDGE_ROW_COLUMNS)
        for rows in self._stream(f"SELECT {cols} FROM {table} f "
                                 "ORDER BY f.batch_id, f.fid", ()):
            fids = [r[F.fid] for r in rows]
            meshes: list[tuple] = []
            edges: list[tuple] = []
            for i in range(0, len(fids), _SQL_VARS):
                part = fids[i:i + _SQL_VARS]
                marks = ",".join("?" * len(part))
                meshes += self._read(f"SELECT {mesh_cols} FROM twin_meshes WHERE fid IN "
                                     f"({marks}) ORDER BY fid, lod", part)
                edges += self._read(f"SELECT {edge_cols} FROM twin_edges WHERE fid IN "
                                    f"({marks}) ORDER BY fid", part)
            yield ([tuple(r) for r in rows], self._decode_geometries([r[F.geom] for r in rows]),
                   [tuple(m) for m in meshes], [tuple(e) for e in edges])

    # -- batches and edits ----------------------------------------------------------
    def batches(self) -> list[ImportBatch]:
        rows = self._read(f"SELECT {', '.join(BATCH_COLUMNS)} FROM twin_batches ORDER BY id")
        return [ImportBatch(*r[:9], report=json.loads(r[9]) if r[9] else {})  # type: ignore[misc]
                for r in rows]

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
                if key in TYPED_INDEX:
                    sets.append(f"{key} = ?")
                    params.append(None if val is None else coerce_typed(key, val, feature_id))
                elif val is None:
                    free.pop(key, None)
                else:
                    free[key] = val
            encoded = free_json(free, feature_id)
            # an edited feature no longer matches its delivery: the next update of
            # that delivery writes a new version (digest unknown)
            conn.execute(f"UPDATE twin_features SET "
                         f"{', '.join(sets + ['attributes = ?', 'digest = NULL'])} "
                         "WHERE fid = ?", (*params, encoded, row[0]))
        return self.get(feature_id, meshes=False)
