"""Edit mode of a twin's layer views: edits saved by a GIS client are recorded.

By default the layer views refuse writes. ``twin edits enable`` switches a
layer's INSTEAD OF triggers to *recording* ones (GeoPackage:
:mod:`twin.store.gpkg.edits`, PostGIS: :mod:`twin.store.postgis.edits`):
each ``INSERT``, ``UPDATE`` or ``DELETE`` a client (QGIS, GDAL) runs on the
view adds a row to ``twin_pending_edits`` instead: the operation, the
feature's ``fid`` and id, the geometry as the client wrote it, and the other
columns' new (and, for an update, old) values as JSON. The twin's features
are not touched: ``twin edits apply`` validates the pending edits and turns
them into one import batch (:mod:`converters.gis_edits`).

``twin_pending_edits`` is no layer for GIS clients (not in ``gpkg_contents``
of a GeoPackage; no geometry column on the server).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import StoreError
from ..layers import Layer
from .rows import layer_view_columns

TABLE = "twin_pending_edits"
OPS = ("insert", "update", "delete")
_SELECT = (f"SELECT id, layer, op, fid, feature_id, geom, geom_changed, new_values, "
           f"old_values, recorded, refused FROM {TABLE} ORDER BY id")


@dataclass(frozen=True)
class PendingEdit:
    """One recorded edit: ``new`` (insert, update) and ``old`` (update) map
    the view's columns (without ``geom``) to the values; ``geom`` is a
    GeoPackage blob (``wkb`` false) or WKB; ``refused`` is why an earlier
    ``apply`` left it pending."""

    id: int
    layer: str
    op: str
    fid: int | None
    feature_id: str | None
    geom: bytes | None
    geom_changed: bool
    new: dict[str, Any]
    old: dict[str, Any]
    recorded: str
    refused: str | None
    wkb: bool = False


def view_columns(layer: Layer) -> list[str]:
    """A layer view's columns except ``geom`` (their names as clients see them)."""
    return [c.split(" AS ")[-1] for c in layer_view_columns(layer) if c != "geom"]


def _backend(store: Any) -> Any:
    from .gpkg.store import GeoPackageStore

    if isinstance(store, GeoPackageStore):
        from .gpkg import edits as gpkg

        return gpkg
    from .postgis import edits as pg

    return pg


def _values(raw: Any, edit: int) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        doc = json.loads(bytes(raw).decode() if isinstance(raw, (bytes, memoryview)) else raw)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
        raise StoreError(f"pending edit {edit} has unreadable values: {exc}") from None
    return doc if isinstance(doc, dict) else {}


def editable_layers(store: Any) -> list[str]:
    """The layers in edit mode."""
    return _backend(store).editable_layers(store)


def pending_count(store: Any) -> int:
    if not _backend(store).has_table(store):
        return 0
    return int(store._read(f"SELECT COUNT(*) FROM {TABLE}")[0][0])


def store_pending(store: Any) -> list[PendingEdit]:
    """The pending edits, in the order they were recorded."""
    backend = _backend(store)
    if not backend.has_table(store):
        return []
    return [PendingEdit(int(r[0]), r[1], r[2], r[3], r[4],
                        bytes(r[5]) if r[5] is not None else None, bool(r[6]),
                        _values(r[7], r[0]), _values(r[8], r[0]), str(r[9]), r[10],
                        backend.WKB) for r in store._read(_SELECT)]


def store_enable(store: Any, layers: list[str] | None = None) -> list[str]:
    """Put ``layers`` (all when ``None``) in edit mode; returns the layers
    now in edit mode."""
    known = {la.name: la for la in store.layers()}
    unknown = [n for n in layers or [] if n not in known]
    if unknown:
        raise StoreError(f"{store.path}: no layer {unknown[0]!r}; the twin has "
                         f"{', '.join(known)}")
    chosen = [known[n] for n in layers] if layers else list(known.values())
    backend = _backend(store)
    with store._transaction() as tx:
        backend.enable(store, tx, chosen)
    return editable_layers(store)


def store_disable(store: Any, discard_pending: bool = False) -> int:
    """Every layer read-only again; refused while edits are pending unless
    ``discard_pending`` (returns how many were discarded)."""
    n = pending_count(store)
    if n and not discard_pending:
        raise StoreError(f"{store.path}: {n} edit(s) are pending; apply them (twin edits apply) "
                         "or pass --discard to drop them")
    editing = set(editable_layers(store))
    backend = _backend(store)
    with store._transaction() as tx:
        if n:
            tx.execute(f"DELETE FROM {TABLE}")
        backend.disable(store, tx, [la for la in store.layers() if la.name in editing])
    return n


def store_settle(store: Any, applied: list[int], refused: dict[int, str]) -> None:
    """Drop the applied edits and note why the refused ones stay pending."""
    with store._transaction() as tx:
        for i in applied:
            tx.execute(f"DELETE FROM {TABLE} WHERE id = ?", (i,))
        for i, why in refused.items():
            tx.execute(f"UPDATE {TABLE} SET refused = ? WHERE id = ?", (why, i))


def settle_in_batch(store: Any, batch: Any, applied: list[int],
                    refused: dict[int, str]) -> None:
    """:func:`store_settle` inside an import batch's own transaction (its
    ``conn``), so that the batch and the end of its edits commit together."""
    p = _backend(store).PARAM
    for i in applied:
        batch.conn.execute(f"DELETE FROM {TABLE} WHERE id = {p}", (i,))
    for i, why in refused.items():
        batch.conn.execute(f"UPDATE {TABLE} SET refused = {p} WHERE id = {p}", (why, i))


def store_discard(store: Any) -> int:
    n = pending_count(store)
    if n:
        with store._transaction() as tx:
            tx.execute(f"DELETE FROM {TABLE}")
    return n


__all__ = ["TABLE", "PendingEdit", "editable_layers", "pending_count", "settle_in_batch",
           "store_disable", "store_discard", "store_enable", "store_pending", "store_settle",
           "view_columns"]
