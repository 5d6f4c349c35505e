"""Feature versions: updates by identity, history, validity (schema 3).

A twin keeps the **current** version of every feature in ``twin_features``
(so that every query of the current state reads exactly the rows and
indexes it read before versions existed) and each **earlier** version in
``twin_history``: the same row, moved there unchanged, plus
``retired_batch``, the import that replaced or retired it. A version is
valid from the import that wrote it (``batch_id``) until the one that ended
it (``retired_batch``; none for current rows); the times are those imports'
times in ``twin_batches``. Meshes and edges stay where they are, keyed by
the version's ``fid`` (every version has its own key).

An import with ``on_conflict="update"`` compares each feature with the
current version of the same id by its digest
(:func:`twin.store.digests.version_digests`):

* **added**: no current version;
* **unchanged**: same digest, nothing is written;
* **changed**: the current version moves to the history, the new one is
  written;
* **retired** (``retire_missing``): current features of the layers the
  delivery holds (``"layers"``), or of those layers inside the delivery's
  plan extent (``"extent"``), brought by the same converter, that the
  delivery does not hold move to the history with no successor.

An update that adds, changes and retires nothing is rolled back whole: the
twin, its revision and its batch list stay exactly as they were.

The state **as of** import batch ``B`` is: current rows written by batches
``<= B`` and history rows written by batches ``<= B`` and retired by a batch
``> B`` (:func:`as_of_condition`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ..errors import OptionError
from ..numbers import is_whole_number
from .digests import FIRST_FORMAT, version_digests
from .rows import EDGE_ROW_COLUMNS, FEATURE_COLUMNS, MESH_COLUMNS, TYPED, TYPED_SLICE, F

#: The ways of retiring the features a delivery no longer holds.
RETIRE_MODES = ("layers", "extent")
#: Changed features listed one by one in a report (all are counted).
MAX_CHANGES_LISTED = 200
_SQL_VARS = 900

Exec = Callable[[str, Sequence[Any]], Any]

#: The stored health checks (schema 3): one per year, the indicators as JSON
#: (``HealthCheck.to_dict``), when they were computed and as of which batch.
HEALTH_CHECKS_TABLE = ("CREATE TABLE twin_health_checks (year INTEGER PRIMARY KEY, "
                       "computed TEXT NOT NULL, as_of_batch BIGINT, report TEXT NOT NULL)")


def check_retire(mode: str | None, on_conflict: str) -> None:
    """A clear error for a retire mode that is not one, or without updates."""
    if mode is None:
        return
    if mode not in RETIRE_MODES:
        raise OptionError(f"retire_missing {mode!r} is not valid, must be one of "
                          f"{', '.join(RETIRE_MODES)}")
    if on_conflict != "update":
        raise OptionError("retire_missing needs on_conflict='update' (--update): only an "
                          "update knows which features a delivery no longer holds")


class Seen:
    """What a delivery holds: its ids, layers and plan extent (all features,
    unchanged ones included)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.layers: set[str] = set()
        self.extent: list[float] | None = None  # [xmin, ymin, xmax, ymax]

    def note(self, ids: Sequence[str], layers: Sequence[str], bounds: np.ndarray) -> None:
        self.ids.update(ids)
        self.layers.update(layers)
        known = ~np.isnan(bounds[:, 0])
        if known.any():
            b = bounds[known]
            e = [float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 3].max()),
                 float(b[:, 4].max())]
            if self.extent is not None:
                e = [min(e[0], self.extent[0]), min(e[1], self.extent[1]),
                     max(e[2], self.extent[2]), max(e[3], self.extent[3])]
            self.extent = e


@dataclass
class UpdateLog:
    """The counts and details of an update, kept in its batch's report."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0
    retired: int = 0
    #: what changed: attribute or field name -> number of features
    what: dict[str, int] = field(default_factory=dict)
    #: plan distance the changed features' bounds centres moved, metres
    moved: list[float] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    retired_ids: list[str] = field(default_factory=list)

    def to_dict(self, tolerance: float = 0.01) -> dict[str, Any]:
        m = np.array(self.moved) if self.moved else np.zeros(0)
        return {
            "added": self.added, "changed": self.changed, "unchanged": self.unchanged,
            "retired": self.retired, "what_changed": dict(sorted(self.what.items())),
            "moved": {"count": int((m > tolerance).sum()),
                      "max_m": round(float(m.max()), 3) if len(m) else 0.0,
                      "mean_m": round(float(m[m > tolerance].mean()), 3)
                      if (m > tolerance).any() else 0.0},
            "changes": self.examples, "retired_ids": self.retired_ids[:MAX_CHANGES_LISTED],
        }


def row_differences(old: Sequence[Any], new: Sequence[Any]) -> tuple[list[str], float]:
    """Which fields, attributes and geometry parts differ between two stored
    versions of a feature (rows in :data:`FEATURE_COLUMNS` order), and how far
    the centre of their plan bounds moved (metres; 0 without bounds)."""
    what: list[str] = []
    for name in ("layer", "type", "name", "parent_id", "lod", "source_id"):
        if old[getattr(F, name)] != new[getattr(F, name)]:
            what.append(name)
    for name, a, b in zip(TYPED, old[TYPED_SLICE], new[TYPED_SLICE]):
        if not _same(a, b):
            what.append(name)
    fa = json.loads(old[F.attributes]) if old[F.attributes] else {}
    fb = json.loads(new[F.attributes]) if new[F.attributes] else {}
    what += sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))
    if bytes(old[F.geom] or b"") != bytes(new[F.geom] or b""):
        what.append("geometry")
    moved = 0.0
    if old[F.min_x] is not None and new[F.min_x] is not None:
        ca = ((old[F.min_x] + old[F.max_x]) / 2, (old[F.min_y] + old[F.max_y]) / 2)
        cb = ((new[F.min_x] + new[F.max_x]) / 2, (new[F.min_y] + new[F.max_y]) / 2)
        moved = math.hypot(cb[0] - ca[0], cb[1] - ca[1])
    if not what:
        what.append("mesh or edge")  # the digest differs, the row does not
    return what, moved


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def fetch_rows(exec_: Exec, fids: Sequence[int]) -> dict[int, tuple]:
    """Current rows by key (``FEATURE_COLUMNS``), a few hundred keys a statement."""
    cols = ", ".join(FEATURE_COLUMNS)
    out: dict[int, tuple] = {}
    for i in range(0, len(fids), _SQL_VARS):
        part = list(fids[i:i + _SQL_VARS])
        for r in exec_(f"SELECT {cols} FROM twin_features WHERE fid IN "
                       f"({','.join('?' * len(part))})", part).fetchall():
            out[r[0]] = tuple(r)
    return out


def move_to_history(exec_: Exec, fids: Sequence[int], retired_batch: int) -> None:
    """Move current versions (by key) into ``twin_history``, ended by
    ``retired_batch``; their meshes and edges stay under their keys."""
    cols = ", ".join(FEATURE_COLUMNS)
    for i in range(0, len(fids), _SQL_VARS):
        part = list(fids[i:i + _SQL_VARS])
        marks = ",".join("?" * len(part))
        exec_(f"INSERT INTO twin_history ({cols}, retired_batch) SELECT {cols}, ? "
              f"FROM twin_features WHERE fid IN ({marks})", [retired_batch, *part])
        exec_(f"DELETE FROM twin_features WHERE fid IN ({marks})", part)


def restore_from_history(exec_: Exec, retired_batch: int) -> list[int]:
    """Make the versions ``retired_batch`` ended current again; their keys."""
    cols = ", ".join(FEATURE_COLUMNS)
    fids = [r[0] for r in exec_("SELECT fid FROM twin_history WHERE retired_batch = ? "
                                "ORDER BY fid", [retired_batch]).fetchall()]
    if fids:
        exec_(f"INSERT INTO twin_features ({cols}) SELECT {cols} FROM twin_history "
              "WHERE retired_batch = ? ORDER BY fid", [retired_batch])
        exec_("DELETE FROM twin_history WHERE retired_batch = ?", [retired_batch])
    return fids


def superseding_batch(exec_: Exec, batch_id: int) -> int | None:
    """A later batch that replaced or retired a version ``batch_id`` wrote
    (which must be removed first), or ``None``."""
    row = exec_("SELECT MIN(retired_batch) FROM twin_history WHERE batch_id = ?",
                [batch_id]).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def retire_candidates(exec_: Exec, seen: Seen, mode: str, converter: str | None
                      ) -> list[tuple[int, str, int]]:
    """``(fid, feature id, batch)`` of current features the delivery no
    longer holds: brought by the same converter (a CityJSON delivery never
    retires a building an IFC model brought), in the delivery's layers
    (``"layers"``), and inside its plan extent (``"extent"``: bounds wholly
    inside)."""
    if not seen.layers:
        return []
    layers = sorted(seen.layers)
    sql = (f"SELECT fid, feature_id, batch_id FROM twin_features WHERE layer IN "
           f"({','.join('?' * len(layers))})")
    params: list[Any] = list(layers)
    if converter is not None:
        sql += " AND batch_id IN (SELECT id FROM twin_batches WHERE converter = ?)"
        params.append(converter)
    if mode == "extent":
        if seen.extent is None:
            return []
        e = seen.extent
        sql += " AND min_x >= ? AND min_y >= ? AND max_x <= ? AND max_y <= ?"
        params += e
    return [(int(r[0]), r[1], int(r[2])) for r in exec_(sql, params).fetchall()
            if r[1] not in seen.ids]


def as_of_condition(alias: str = "f", history: bool = False) -> str:
    """The SQL condition (one ``?``: the batch id, twice for the history)
    that keeps the versions valid right after a batch committed."""
    if history:
        return f"{alias}.batch_id <= ? AND {alias}.retired_batch > ?"
    return f"{alias}.batch_id <= ?"


class _NothingChanged(Exception):
    """Raised inside an update's transaction to roll it back: it changed nothing."""


NothingChanged = _NothingChanged


def give_back_counts(exec_: Exec, removed_batch: int, restored: dict[int, int]) -> None:
    """Batches whose versions became current again (``batch -> count``) hold
    them again: their counts rise and ``replaced_by`` forgets the removed batch."""
    for old, n in sorted(restored.items()):
        row = exec_("SELECT report FROM twin_batches WHERE id = ?", [old]).fetchone()
        if row is None:
            continue
        rep = json.loads(row[0]) if row[0] else {}
        by = rep.get("replaced_by") or {}
        left = by.get(str(removed_batch), 0) - n
        if left > 0:
            by[str(removed_batch)] = left
        else:
            by.pop(str(removed_batch), None)
        if by:
            rep["replaced_by"] = by
        else:
            rep.pop("replaced_by", None)
        exec_("UPDATE twin_batches SET feature_count = feature_count + ?, report = ? "
              "WHERE id = ?", [n, json.dumps(rep, ensure_ascii=False), old])


def refuse_superseded(exec_: Exec, batch_id: int, where: str) -> None:
    """A clear error when a later batch replaced or retired versions of
    ``batch_id``: removing it first would leave that batch's history dangling."""
    from ..errors import StoreError

    later = superseding_batch(exec_, batch_id)
    if later is not None:
        raise StoreError(
            f"import batch {batch_id} of {where} cannot be removed while batch {later} holds "
            f"newer versions of its features (or retired them); remove batch {later} first")


def fill_digests(exec_: Any) -> None:
    """Compute the digest of every current feature row from what is stored
    (both backends' upgrades to schema 3; ``exec_(sql, params)`` returns a
    cursor that reads geometries as bytes)."""
    cols = ", ".join(FEATURE_COLUMNS)
    mesh_cols, edge_cols = ", ".join(MESH_COLUMNS), ", ".join(EDGE_ROW_COLUMNS)
    last = -1
    while True:
        rows = exec_(f"SELECT {cols} FROM twin_features WHERE fid > ? ORDER BY fid LIMIT 900",
                     (last,)).fetchall()
        if not rows:
            return
        fids = [r[0] for r in rows]
        marks = ",".join("?" * len(fids))
        meshes: dict[int, list] = {}
        for m in exec_(f"SELECT {mesh_cols} FROM twin_meshes WHERE fid IN ({marks})",
                       fids).fetchall():
            meshes.setdefault(m[0], []).append(m)
        edges = {e[0]: e for e in exec_(f"SELECT {edge_cols} FROM twin_edges WHERE fid IN "
                                        f"({marks})", fids).fetchall()}
        digests = version_digests(FEATURE_COLUMNS, rows, meshes, edges, FIRST_FORMAT)
        for fid, d in zip(fids, digests):
            exec_("UPDATE twin_features SET digest = ? WHERE fid = ?", (d, fid))
        last = fids[-1]


def parse_moment(text: str) -> datetime:
    """A moment given as an ISO date (the end of that day, UTC) or date and
    time (UTC unless it names its offset)."""
    t = text.strip()
    try:
        if len(t) == 10:  # a date: as the twin was at the end of that day
            d = datetime.fromisoformat(t)
            return d.replace(hour=23, minute=59, second=59, tzinfo=UTC)
        d = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise OptionError(f"as-of {text!r} is neither an import batch number nor an ISO date "
                          "or time (2025-06-30, 2025-06-30T12:00:00Z)") from None
    return d if d.tzinfo is not None else d.replace(tzinfo=UTC)


def resolve_as_of(store: Any, value: str | int | None) -> int | None:
    """The import batch whose state ``value`` names: a batch number (that
    batch must exist), or a date or time (the last batch that committed by
    then; 0, an empty twin, before the first). ``None`` stays ``None`` (now)."""
    if value is None or value == "":
        return None
    batches = store.batches()
    text = value if isinstance(value, int) else str(value).strip()
    if isinstance(text, int) or is_whole_number(text):
        n = int(text)  # stripped as checked: int() keeps what str.strip drops ('\x1c')
        if n != 0 and n not in {b.id for b in batches}:
            raise OptionError(f"as-of batch {n} does not exist in {store.path}; batches: "
                              f"{', '.join(str(b.id) for b in batches) or 'none'}")
        return n
    moment = parse_moment(str(value))
    done = [b.id for b in batches if b.finished and
            datetime.fromisoformat(b.finished) <= moment]
    return max(done, default=0)
