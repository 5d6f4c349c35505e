"""Run a converter into a twin, as one transaction."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twin.conflation import gis_candidates
from twin.crs import parse_crs
from twin.errors import ConversionError, ImportFailedError
from twin.extras import missing_extra
from twin.hierarchy import ParentLoopGuard
from twin.query import Query
from twin.store.base import TwinStore
from twin.terrain import TerrainSampler

from .base import ConversionContext
from .placement import PlacementCheck
from .registry import converter_for
from .report import Note, as_dicts, batch_notes, common_notes, skipped_notes


@dataclass(frozen=True)
class ImportResult:
    """The outcome of one import: its batch id and report."""

    source: str
    batch_id: int
    converter: str
    features: int
    skipped: int
    seconds: float
    report: dict[str, Any]

    @property
    def notes(self) -> list[Note]:
        """The summary of this import, line by line: what the converter says
        of its report, then what the store did and what was skipped."""
        return ([Note.from_dict(d) for d in self.report.get("notes", [])]
                + batch_notes(self.report) + skipped_notes(self.report))


def _ground_source(store: TwinStore, options: dict[str, Any]):
    """Ground heights for converters: a DEM given with the ``dem`` option (a
    raster path), then the twin's terrain layer where the DEM has no value."""
    terrain = TerrainSampler(store)
    dem = None
    if options.get("dem"):
        from .dem import DemSampler

        dem = DemSampler(options["dem"], store.crs,
                         parse_crs(options["dem_crs"], what="DEM CRS (--dem-crs)")
                         if options.get("dem_crs") else None)
    if dem is None:
        return (terrain.heights if terrain.available else None,
                {"terrain": "the twin's terrain layer"} if terrain.available else None)

    def heights(xy):
        z = dem.heights(xy)
        if terrain.available and np.isnan(z).any():
            gap = np.isnan(z)
            z[gap] = terrain.heights(np.asarray(xy, float).reshape(-1, 2)[gap])
        return z

    src = dem.describe()
    if terrain.available:
        src["then"] = "the twin's terrain layer where the DEM has no value"
    return heights, src


def _existing_ids(store: TwinStore) -> Callable[[Iterable[str]], set[str]]:
    """Which of some feature ids the twin holds already (in chunks of 500)."""
    def existing(ids: Iterable[str]) -> set[str]:
        todo = list(dict.fromkeys(ids))
        found: set[str] = set()
        for i in range(0, len(todo), 500):
            q = Query(ids=tuple(todo[i:i + 500]), free_attributes=False)
            found.update(f.id for f in store.query(q))
        return found
    return existing


def _parent_of(store: TwinStore) -> Callable[[str], str | None]:
    """The parent of a feature the twin holds (``None`` if none or unknown)."""
    def parent(fid: str) -> str | None:
        for f in store.query(Query(ids=(fid,), free_attributes=False)):
            return f.parent
        return None
    return parent


class _Skips:
    """Counts the skipped elements of one import and keeps the first reasons."""

    def __init__(self, record: Callable[[str, str], None], strict: bool, source: Path) -> None:
        self.record, self.strict, self.source = record, strict, source
        self.count = 0
        self.first: list[str] = []

    def __call__(self, source_id: str, reason: str) -> None:
        if self.strict:
            raise ConversionError(f"{self.source}: element {source_id!r}: {reason}",
                                  source=str(self.source))
        self.count += 1
        if len(self.first) < 3:
            self.first.append(f"{source_id}: {reason}")
        self.record(source_id, reason)


def import_file(
    store: TwinStore, path: str | Path, **kwargs: Any) -> ImportResult:
    """Convert ``path`` and add its features to ``store`` in one transaction
    (see :func:`_import_file` for the options); a converter whose library
    this installation left out raises :class:`~twin.errors.MissingExtraError`
    naming the file and the extra to install."""
    try:
        return _import_file(store, path, **kwargs)
    except ModuleNotFoundError as exc:
        err = missing_extra(exc, f"importing {Path(path).name}")
        if err is None:
            raise
        raise err from exc


def _import_file(
    store: TwinStore, path: str | Path, *, crs: Any = None, format: str | None = None,
    options: dict[str, Any] | None = None, on_conflict: str = "error", strict: bool = False,
    force: bool = False, progress: Callable[[int, int | None], None] | None = None,
    source_label: str | None = None, retire_missing: str | None = None,
) -> ImportResult:
    """Convert ``path`` and add its features to ``store`` in one transaction.

    ``source_label`` is recorded as the batch's source instead of ``path``
    (the API records the client's file name and job, not where the server
    kept the upload). ``crs`` overrides the source file's CRS. With ``strict`` the first element
    that cannot be converted fails the import; otherwise it is skipped,
    counted and named in the report. Any failure leaves the twin unchanged
    and raises :class:`~twin.errors.ImportFailedError` naming the file; so
    does an import whose every element was skipped.

    Every import is checked for its placement (:mod:`converters.placement`):
    features with absurd coordinates are skipped, and an import that lands
    far outside the twin CRS's area of use, or spans an implausible extent,
    is refused unless ``force`` (``--force``) accepts it with a warning.

    ``on_conflict="update"`` updates by identity (:mod:`twin.store.versions`):
    the report's ``update`` entry counts added, changed, unchanged and retired
    features (``retire_missing``) and says what changed; an update that
    changes nothing records no batch (``batch_id`` 0).
    """
    p = Path(path)
    if not p.is_file():
        raise ImportFailedError(f"{p}: no such file", source=str(p))
    opts = options or {}
    spec = converter_for(p, format, opts)  # by extension and content (registry)
    src_crs = parse_crs(crs, what="source CRS (--crs)") if crs is not None else None
    t0 = time.perf_counter()
    placement = PlacementCheck(store.crs, str(p), force=force)
    with store.import_batch(source_label or str(p), spec.format, spec.name, spec.version,
                            on_conflict=on_conflict, retire_missing=retire_missing) as batch:
        skip = _Skips(batch.skip, strict, p)
        ground, ground_from = _ground_source(store, opts)
        ctx = ConversionContext(
            twin_crs=store.crs, source=p, source_crs=src_crs, options=dict(opts),
            skip=skip, progress=progress or (lambda d, t: None), strict=strict,
            ground=ground,
            buildings_near=lambda footprint: gis_candidates(store, footprint),
            existing_ids=_existing_ids(store) if on_conflict == "error" else None,
        )
        loops = ParentLoopGuard(_parent_of(store))
        added = batch.add(loops.screen(placement.screen(spec.run(ctx), skip), skip))
        if added == 0 and skip.count:
            raise ConversionError(
                f"{p}: nothing imported: all {skip.count} elements were skipped; the first: "
                + "; ".join(skip.first), source=str(p))
        placed, batch.report["placement"] = placement.verdict(ctx.report)
        if ground_from and ctx.report.get("ground_used"):
            ctx.report["ground_from"] = ground_from
        batch.report["source"] = ctx.report
        batch.report["notes"] = as_dicts(common_notes(ctx.report) + spec.summarise(ctx.report)
                                         + placed)
    report = dict(batch.report)
    return ImportResult(
        source=source_label or str(p), batch_id=batch.id, converter=spec.name,
        features=int(report.get("features", 0)), skipped=int(report.get("skipped_count", 0)),
        seconds=time.perf_counter() - t0, report=report,
    )
