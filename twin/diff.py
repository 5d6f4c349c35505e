"""What changed between two moments of a twin, or between two twins.

:func:`diff_twins` compares the features of two sides by their stable ids
(CityJSON object ids, IFC GlobalIds, survey and network ids), layer by layer:

* **added**: an id only the second side holds; **removed**: only the first;
* **changed**: both hold it and it differs: which fields and attributes,
  whether its geometry **moved** (the plan centre of its footprint or
  bounds shifted by more than ``tolerance`` metres), was **reshaped**
  (after undoing that shift, the footprints still lie more than
  ``tolerance`` apart, Hausdorff distance), its top rose or fell
  (``top_z``), or only its meshes or its network edge changed.

A side is a store, or a store's view as of a batch (``store.at(batch)``).
Within one twin, a feature whose stored version is the same on both sides is
skipped without reading it (the versions' digests, :mod:`twin.store.versions`);
between two twins every feature both hold is compared by value, so twins in
different stores (a GeoPackage and PostGIS) compare as well.

>>> from twin.diff import Change
>>> Change("b:1", "buildings", "changed", ("height",), moved=0.0).summary()
'changed: height'
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from .errors import OptionError
from .model import Feature
from .query import Query

#: Features read per query while comparing.
_CHUNK = 500


@dataclass(frozen=True)
class Change:
    """One feature that differs between the two sides.

    ``kind``: ``added``, ``removed`` or ``changed``; ``what``: the fields and
    attributes that changed (``geometry: moved`` / ``geometry: reshaped`` /
    ``mesh`` too); ``moved`` and ``reshaped``: metres; ``feature``: the
    feature on the second side (the first for a removed one)."""

    id: str
    layer: str
    kind: str
    what: tuple[str, ...] = ()
    moved: float = 0.0
    reshaped: float = 0.0
    feature: Feature | None = None
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        if self.kind != "changed":
            return self.kind
        return "changed: " + ", ".join(self.what)


@dataclass
class ChangeSet:
    """Every change between two sides, with per-layer counts."""

    first: str
    second: str
    tolerance: float
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0

    def counts(self) -> dict[str, dict[str, int]]:
        """``layer -> {"added": n, "removed": n, "changed": n}``."""
        out: dict[str, dict[str, int]] = {}
        for c in self.changes:
            row = out.setdefault(c.layer, {"added": 0, "removed": 0, "changed": 0})
            row[c.kind] += 1
        return dict(sorted(out.items()))

    def by_kind(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "first": self.first, "second": self.second, "tolerance_m": self.tolerance,
            "unchanged": self.unchanged, "counts": self.counts(),
            "changes": [{"id": c.id, "layer": c.layer, "change": c.kind, "what": list(c.what),
                         "moved_m": round(c.moved, 3), "reshaped_m": round(c.reshaped, 3),
                         "before": c.before, "after": c.after} for c in self.changes],
        }

    def to_geojson(self, crs: str | None = None) -> dict[str, Any]:
        """A GeoJSON FeatureCollection of the changes, in the twin CRS (named
        in a ``crs`` member when given, as GDAL reads it: ``urn:ogc:def:crs:
        EPSG::4546``): each feature's footprint (or bounds) with
        ``id``, ``layer``, ``change`` (added / removed / changed), ``what``,
        ``moved_m``, ``reshaped_m`` and the changed values before and after."""
        feats = []
        for c in self.changes:
            g = _plan(c.feature) if c.feature is not None else None
            feats.append({
                "type": "Feature", "id": c.id,
                "geometry": None if g is None else shapely.geometry.mapping(g),
                "properties": {"id": c.id, "layer": c.layer, "change": c.kind,
                               "what": list(c.what), "moved_m": round(c.moved, 3),
                               "reshaped_m": round(c.reshaped, 3),
                               "before": c.before, "after": c.after}})
        doc: dict[str, Any] = {"type": "FeatureCollection"}
        if crs:
            doc["crs"] = {"type": "name", "properties": {"name": crs}}
        doc["features"] = feats
        return doc


def _plan(f: Feature) -> Any:
    """A feature's plan shape: its footprint, else its plan bounds."""
    if f.footprint is not None and not f.footprint.is_empty:
        return shapely.force_2d(f.footprint)
    if f.bbox is not None and not math.isnan(f.bbox[0]):
        b = f.bbox
        return shapely.box(b[0], b[1], b[3], b[4])
    return None


def _index(store: Any, layers: tuple[str, ...]) -> dict[str, tuple[str, str | None]]:
    """``id -> (layer, digest)`` of every feature a side holds."""
    rows = store.version_index(layers)
    return {r[0]: (r[1], r[2]) for r in rows}


def _read(store: Any, ids: list[str], meshes: bool = False) -> Iterator[Feature]:
    for i in range(0, len(ids), _CHUNK):
        yield from store.query(Query(ids=tuple(ids[i:i + _CHUNK]), with_meshes=meshes))


def _plain(v: Any) -> Any:
    return json.loads(json.dumps(v, default=str))


def geometry_shifts(olds: list[Feature], news: list[Feature]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(moved, reshaped)``, metres, of pairs of versions, in one vectorised
    pass: how far the plan centroid moved, and the Hausdorff distance left
    once that move is undone (``inf`` where only one side has a shape)."""
    pa = np.array([_plan(f) for f in olds], dtype=object)
    pb = np.array([_plan(f) for f in news], dtype=object)
    n = len(pa)
    moved, reshaped = np.zeros(n), np.zeros(n)
    both = ~(shapely.is_missing(pa) | shapely.is_missing(pb))
    reshaped[shapely.is_missing(pa) != shapely.is_missing(pb)] = math.inf
    if not both.any():
        return moved, reshaped
    a, b = pa[both], pb[both]
    ca, cb = shapely.get_coordinates(shapely.centroid(a)), shapely.get_coordinates(
        shapely.centroid(b))
    d = cb - ca
    moved[both] = np.hypot(d[:, 0], d[:, 1])
    coords, idx = shapely.get_coordinates(a, return_index=True)
    shifted = shapely.set_coordinates(a.copy(), coords + d[idx])
    reshaped[both] = shapely.hausdorff_distance(shifted, b)
    return moved, reshaped


def compare(a: Feature, b: Feature, tolerance: float,
            shift: tuple[np.ndarray, np.ndarray] | None = None
            ) -> tuple[list[str], float, float, dict, dict]:
    """``(what changed, moved m, reshaped m, values before, values after)``
    of two versions of one feature (``shift``: its :func:`geometry_shifts`,
    when computed for many at once)."""
    what: list[str] = []
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name in ("layer", "type", "name", "parent", "lod", "source_id"):
        va, vb = getattr(a, name), getattr(b, name)
        if va != vb:
            what.append(name)
            before[name], after[name] = va, vb
    keys = set(a.attributes) | set(b.attributes)
    for k in sorted(keys):
        va, vb = a.attributes.get(k), b.attributes.get(k)
        if _differs(va, vb):
            what.append(k)
            before[k], after[k] = _plain(va), _plain(vb)
    if shift is None:
        shift = geometry_shifts([a], [b])
    moved, reshaped = float(shift[0][0]), float(shift[1][0])
    if moved > tolerance:
        what.append("geometry: moved")
    if reshaped > tolerance:
        what.append("geometry: reshaped")
    za = a.bbox[5] if a.bbox is not None else math.nan
    zb = b.bbox[5] if b.bbox is not None else math.nan
    if not (math.isnan(za) and math.isnan(zb)) and not abs(za - zb) <= tolerance:
        what.append("top_z")
        before["top_z"], after["top_z"] = _num(za), _num(zb)
    if not what and a.meshes and b.meshes and _meshes_differ(a, b, tolerance):
        what.append("mesh")
    if not what and a.edge != b.edge:
        what.append("edge")
    return what, moved, (0.0 if math.isinf(reshaped) else reshaped), before, after


def _num(v: float) -> float | None:
    return None if math.isnan(v) else round(v, 3)


def _differs(va: Any, vb: Any) -> bool:
    if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and \
            not isinstance(va, bool) and not isinstance(vb, bool):
        return float(va) != float(vb)
    return va != vb


def _meshes_differ(a: Feature, b: Feature, tolerance: float) -> bool:
    if set(a.meshes) != set(b.meshes):
        return True
    for lod, ma in a.meshes.items():
        mb = b.meshes[lod]
        if ma.vertices.shape != mb.vertices.shape or not np.array_equal(ma.faces, mb.faces):
            return True
        if len(ma.vertices) and np.abs(ma.vertices - mb.vertices).max() > tolerance:
            return True
    return False


def diff_twins(first: Any, second: Any, *, tolerance: float = 0.01,
               layers: Iterable[str] = (), first_name: str = "first",
               second_name: str = "second") -> ChangeSet:
    """The changes from ``first`` to ``second`` (stores or views as of a
    batch; see the module). ``tolerance``: metres below which geometry
    counts as unchanged (mesh vertices are kept to float32 precision)."""
    if not tolerance >= 0:
        raise OptionError(f"tolerance must be >= 0 metres, got {tolerance!r}")
    layers = tuple(layers)
    ia, ib = _index(first, layers), _index(second, layers)
    same_twin = getattr(first, "path", None) == getattr(second, "path", None)
    out = ChangeSet(first_name, second_name, tolerance)
    removed = sorted(set(ia) - set(ib))
    added = sorted(set(ib) - set(ia))
    both = [i for i in ia if i in ib]
    maybe = [i for i in both if not (same_twin and ia[i][1] is not None
                                     and ia[i][1] == ib[i][1])]
    out.unchanged = len(both) - len(maybe)
    for f in _read(first, removed):
        out.changes.append(Change(f.id, f.layer, "removed", feature=f))
    for f in _read(second, added):
        out.changes.append(Change(f.id, f.layer, "added", feature=f))
    for i in range(0, len(maybe), _CHUNK):
        part = maybe[i:i + _CHUNK]
        olds = {f.id: f for f in _read(first, part)}
        news = list(_read(second, part))
        mv, rs = geometry_shifts([olds[f.id] for f in news], news)
        same: list[str] = []
        for k, f in enumerate(news):
            what, moved, reshaped, before, after = compare(
                olds[f.id], f, tolerance, (mv[k:k + 1], rs[k:k + 1]))
            if what:
                out.changes.append(Change(f.id, f.layer, "changed", tuple(what), moved,
                                          reshaped, f, before, after))
            else:
                same.append(f.id)
        # the rest differ, if at all, in their meshes only: read those now
        olds = {f.id: f for f in _read(first, same, meshes=True)}
        for f in _read(second, same, meshes=True):
            if _meshes_differ(olds[f.id], f, tolerance):
                out.changes.append(Change(f.id, f.layer, "changed", ("mesh",), feature=f))
            else:
                out.unchanged += 1
    order = {"removed": 0, "changed": 1, "added": 2}
    out.changes.sort(key=lambda c: (c.layer, order[c.kind], c.id))
    return out
