"""Copying a twin into another store: a GeoPackage to PostGIS and back.

Everything is copied as stored, not re-imported: features with their ids,
attributes (typed columns and the free JSON text, unchanged), geometries,
exact bounds and partition keys; meshes as their stored blobs (byte for
byte); network edges; import batches with their ids, times, status, counts
and reports (so every feature's provenance is the same); user layers; the
CRS, height datum and local origin; the next batch id and feature key (so
the ids of removed batches are not given again); the sensing tables
(SensorThings entities, observations and rollups) with their ids, in a
second transaction. A copy that fails raises; the destination is a new
twin to remove.

Feature keys (``fid``) are kept when each batch's features form one range
of keys, in batch order: always so in a GeoPackage. Imports that ran at the
same time on a server interleave their keys; those are numbered again, in
batch and then insertion order (the order queries return), because a
GeoPackage finds a batch's features by its key range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .base import TwinStore
from .rows import EDGE_ROW_COLUMNS, F, M

_E_FID = EDGE_ROW_COLUMNS.index("fid")


def keys_in_batch_order(store: TwinStore) -> bool:
    """Whether each batch's features are one key range, ranges in batch order."""
    ranges = store._read(  # type: ignore[attr-defined]
        "SELECT batch_id, MIN(fid), MAX(fid) FROM (SELECT batch_id, fid FROM twin_features "
        "UNION ALL SELECT batch_id, fid FROM twin_history) v GROUP BY batch_id "
        "ORDER BY batch_id")
    return all(a[2] < b[1] for a, b in zip(ranges, ranges[1:]))


def copy_twin(src: TwinStore, dst_location: str, *, overwrite: bool = False,
              progress: Callable[[int], None] | None = None) -> TwinStore:
    """Copy the twin ``src`` into a new twin at ``dst_location`` (a file path
    or a ``postgresql://`` URL) and return it, open. ``progress`` is called
    with the number of features of each chunk written."""
    from . import create_twin

    dst = create_twin(dst_location, src.crs, vertical_datum=src.vertical_datum,
                      origin=src.origin, overwrite=overwrite)
    try:
        for layer in src.layers():
            if not layer.standard:
                dst.add_layer(replace(layer))
        renumber = not keys_in_batch_order(src)
        next_fid = 1
        counters = src.counters()  # type: ignore[attr-defined]
        if renumber:
            counters = (counters[0], 1)
        with dst.restore(src.raw_batches(), counters) as writer:  # type: ignore[attr-defined]
            for rows, geoms, meshes, edges in src.raw_chunks():  # type: ignore[attr-defined]
                if renumber:
                    rows, meshes, edges = _renumbered(rows, meshes, edges, next_fid)
                    next_fid += len(rows)
                writer.write_raw(rows, geoms, meshes, edges)
                if progress is not None:
                    progress(len(rows))
            # the earlier versions (schema 3), after the current ones
            for rows, geoms, meshes, edges in src.raw_chunks(history=True):  # type: ignore
                if renumber:
                    rows, meshes, edges = _renumbered(rows, meshes, edges, next_fid)
                    next_fid += len(rows)
                writer.write_raw(rows, geoms, meshes, edges, history=True)
        for hc in src.health_checks():  # type: ignore[attr-defined]
            dst.save_health_check(hc["year"], hc["report"], hc["as_of_batch"])  # type: ignore
        from ..sensors.copy import copy_sensors  # the sensing tables, ids as they are

        copy_sensors(src, dst)
    except BaseException:
        dst.close()
        raise
    return dst


def _renumbered(rows: list, meshes: list, edges: list, first: int
                ) -> tuple[list, list, list]:
    """A chunk's rows, meshes and edges with the features numbered from
    ``first`` on (in row order)."""
    new = {r[F.fid]: first + k for k, r in enumerate(rows)}
    return ([(new[r[F.fid]], *r[1:]) for r in rows],
            [(new[m[M.fid]], *m[1:]) for m in meshes],
            [(new[e[_E_FID]], *e[1:]) for e in edges])
