"""Edits saved from a GIS client into a twin's layers, as one import batch.

A layer in edit mode (``twin edits enable``, :mod:`twin.store.edits`)
records what QGIS or GDAL writes into its view instead of refusing it.
:func:`apply_edits` turns all pending edits into **one** import batch
(converter ``gis-edits``, an update by identity, :mod:`twin.store.versions`):
an updated feature gets a new version (its attributes and 2D geometry as the
client wrote them), an inserted one is added, a deleted one is retired. So
``twin history`` shows the edit and ``twin batches --remove N`` undoes it.

Every edit is checked first, as an OGC API Part 4 write is
(:mod:`twin_api.transactions`), with the same functions of ``twin/``:

* the geometry: a valid, non-empty geometry of the type the layer holds
  (:func:`twin.store.writer.check_feature`), placed where the twin CRS is
  meant to be used (:class:`converters.placement.PlacementCheck`, no force);
* the typed attributes (``storeys``, ``diameter_mm``, ...) must have their
  type (:func:`twin.attributes.coerce_typed`); the ``attributes`` column
  must stay a JSON object; ``feature_id`` cannot change; ``zmin``, ``zmax``,
  ``source_id`` and ``batch_id`` are derived and their edits ignored.

A refused edit is named with its reason and stays pending (its reason kept);
the others are applied. With ``strict`` nothing is applied, and nothing
written, when any edit is refused.
"""

from __future__ import annotations

import functools
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import shapely

from twin import __version__
from twin.attributes import TYPED_ATTRIBUTES, coerce_typed
from twin.errors import ConversionError, FeatureError, GeometryError, NotFoundError, TwinError
from twin.geometry import client_geometry_fault
from twin.layers import Layer, default_feature_type, default_network
from twin.model import Feature
from twin.store import edits as pending_edits
from twin.store.base import TwinStore
from twin.store.edits import PendingEdit
from twin.store.gpkg.blob import decode
from twin.store.writer import check_feature

from .placement import PlacementCheck

CONVERTER = "gis-edits"
FORMAT = "layer view edits (GIS client)"
#: Prefix of the ids given to features a client inserted without one.
NEW_ID_PREFIX = "gis:"
#: Columns of the view that are derived: a client's edit of them is ignored.
DERIVED = ("fid", "zmin", "zmax", "source_id", "batch_id")
#: The most pending edits one apply takes (each is a feature held in memory).
MAX_EDITS = 100_000
_FIELDS = {"type": "type", "name": "name", "parent_id": "parent", "lod": "lod"}


@dataclass
class EditsResult:
    """What :func:`apply_edits` did: the batch (0 when nothing changed or
    nothing was applied), the counts, and the refused edits with why."""

    batch: int = 0
    changed: int = 0
    added: int = 0
    retired: int = 0
    unchanged: int = 0
    refused: dict[int, str] = field(default_factory=dict)
    applied: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "changed": self.changed, "added": self.added,
                "retired": self.retired, "unchanged": self.unchanged,
                "refused": len(self.refused),
                "refused_edits": {str(k): v for k, v in self.refused.items()}}


def _where(e: PendingEdit) -> str:
    who = repr(e.feature_id) if e.feature_id else f"fid {e.fid}"
    return f"edit {e.id} ({e.op} of {who} in layer {e.layer!r})"


def _geometry(e: PendingEdit) -> Any:
    if e.geom is None:
        return None
    try:
        geom = shapely.from_wkb(e.geom) if e.wkb else decode([e.geom])[0]
    except (TwinError, shapely.errors.GEOSException, ValueError) as exc:
        raise GeometryError(f"the geometry the client wrote is not readable: {exc}") \
            from None
    if geom is None or geom.is_empty:
        return None
    fault = client_geometry_fault(geom)
    if fault:
        raise GeometryError(fault)
    return geom


def _free_attributes(text: Any, fid: str) -> dict[str, Any]:
    if text is None or text == "":
        return {}
    try:
        doc = text if isinstance(text, dict) else json.loads(text) if isinstance(
            text, str) else None
    except json.JSONDecodeError as exc:
        raise FeatureError(f"feature {fid!r}: column 'attributes' is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise FeatureError(f"feature {fid!r}: column 'attributes' must be a JSON object, got "
                           f"{text!r}")
    for k, v in doc.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise FeatureError(f"feature {fid!r}: attribute {k!r} is not a finite number")
    return {k: v for k, v in doc.items() if k not in TYPED_ATTRIBUTES}


def _typed(layer: Layer, values: Mapping[str, Any], fid: str) -> dict[str, Any]:
    """The typed attribute columns among ``values``, each checked (``None`` kept)."""
    out = {}
    for k in layer.attributes:
        if k in values and k in TYPED_ATTRIBUTES:
            try:
                out[k] = coerce_typed(k, values[k], fid)
            except TwinError as exc:
                spec = TYPED_ATTRIBUTES[k]
                raise FeatureError(f"{exc} (column {k!r} of layer {layer.name!r} is "
                                   f"{'a number' if spec.kind == 'real' else spec.kind})") \
                    from None
            v = out[k]
            if isinstance(v, int) and not -2**63 <= v < 2**63:
                raise FeatureError(f"feature {fid!r}: attribute {k!r} = {v} does not fit a "
                                   "64-bit integer")
    return out


def _text(values: Mapping[str, Any], col: str) -> str | None:
    v = values.get(col)
    return None if v is None else str(v)


def _updated(current: Feature, e: PendingEdit, layer: Layer) -> Feature:
    """The feature with the columns the client changed."""
    changed = {c for c in e.new if c not in DERIVED and e.new.get(c) != e.old.get(c)}
    if "feature_id" in changed:
        raise FeatureError(f"feature {current.id!r}: feature_id cannot change (to "
                           f"{e.new['feature_id']!r}); delete the feature and insert it anew")
    attrs = dict(current.attributes)
    if "attributes" in changed:
        free = _free_attributes(e.new.get("attributes"), current.id)
        attrs = {k: v for k, v in attrs.items() if k in TYPED_ATTRIBUTES} | free
    for k, v in _typed(layer, {c: e.new[c] for c in changed}, current.id).items():
        if v is None:
            attrs.pop(k, None)
        else:
            attrs[k] = v
    fields = {"type": current.type, "name": current.name, "parent": current.parent,
              "lod": current.lod}
    for col, key in _FIELDS.items():
        if col in changed:
            fields[key] = _text(e.new, col)
    if not fields["type"]:
        raise FeatureError(f"feature {current.id!r}: 'type' cannot be emptied")
    geom, meshes = current.footprint, dict(current.meshes)
    if e.geom_changed:
        geom, meshes = _geometry(e), {}  # the meshes were the old shape's (kept in history)
    return Feature(id=current.id, layer=current.layer, type=str(fields["type"]),
                   name=fields["name"], parent=fields["parent"], attributes=attrs,
                   footprint=geom, meshes=meshes, lod=fields["lod"] if meshes else None,
                   edge=current.edge, source_id=current.source_id)


def _inserted(e: PendingEdit, layer: Layer) -> Feature:
    fid = _text(e.new, "feature_id") or NEW_ID_PREFIX + uuid.uuid4().hex
    geom = _geometry(e)
    attrs = _free_attributes(e.new.get("attributes"), fid)
    attrs |= {k: v for k, v in _typed(layer, e.new, fid).items() if v is not None}
    network = default_network(layer.name)
    if network is not None and "network" not in attrs:
        attrs["network"] = network
    ftype = _text(e.new, "type") or default_feature_type(
        layer.name, geom.geom_type if geom is not None else None)
    return Feature(id=fid, layer=layer.name, type=ftype, name=_text(e.new, "name"),
                   parent=_text(e.new, "parent_id"), attributes=attrs, footprint=geom,
                   source_id=fid)


class _Plan:
    """The features the pending edits lead to, edit by edit."""

    def __init__(self, store: TwinStore) -> None:
        self.store = store
        self.layers = {la.name: la for la in store.layers()}
        self.state: dict[str, Feature | None] = {}  # None: retired
        self.new: set[str] = set()  # inserted here
        self.edits_of: dict[str, list[int]] = {}

    def current(self, fid: str | None) -> Feature:
        if not fid:
            raise FeatureError("the edited row has no feature_id")
        if fid in self.state:
            f = self.state[fid]
            if f is None:
                raise NotFoundError(f"feature {fid!r} was deleted by an earlier edit")
            return f
        return self.store.get(fid, meshes=True)

    def take(self, e: PendingEdit) -> str:
        layer = self.layers.get(e.layer)
        if layer is None:
            raise FeatureError(f"layer {e.layer!r} no longer exists")
        if e.op == "delete":
            fid = self.current(e.feature_id).id
            self.state[fid] = None
        elif e.op == "update":
            f = _updated(self.current(e.feature_id), e, layer)
            check_feature(f, self.layers)
            fid = f.id
            self.state[fid] = f
        else:
            f = _inserted(e, layer)
            if f.id in self.state and self.state[f.id] is not None:
                raise FeatureError(f"feature {f.id!r} is inserted twice")
            if f.id not in self.state:
                try:
                    self.store.get(f.id, meshes=False)
                    raise FeatureError(f"feature {f.id!r} already exists in the twin")
                except NotFoundError:
                    pass
            check_feature(f, self.layers)
            fid = f.id
            self.state[fid] = f
            self.new.add(fid)
        self.edits_of.setdefault(fid, []).append(e.id)
        return fid

    def drop(self, fid: str, why: str, refused: dict[int, str]) -> None:
        for i in self.edits_of.pop(fid, []):
            refused[i] = why
        self.state.pop(fid, None)
        self.new.discard(fid)


def _note(bad: list[str], _fid: str, why: str) -> None:
    bad.append(why)


def _placement(plan: _Plan, refused: dict[int, str]) -> None:
    """The placement check of every import, on each edited or added feature
    by itself (one misplaced row is refused, not the others with it)."""
    for f in [f for f in plan.state.values() if f is not None and f.footprint is not None]:
        check = PlacementCheck(plan.store.crs, f"the edit of feature {f.id!r}")
        bad: list[str] = []
        list(check.screen([f], functools.partial(_note, bad)))
        if not bad:
            try:
                check.verdict({})
            except ConversionError as exc:
                bad.append(str(exc).replace(" or pass --force to import it anyway", "").replace(
                    "Fix the placement (--crs, --origin)", "Fix the geometry in the GIS client"))
        if bad:
            why = bad[0] if repr(f.id) in bad[0] else f"feature {f.id!r}: {bad[0]}"
            plan.drop(f.id, why, refused)


def apply_edits(store: TwinStore, *, strict: bool = False) -> EditsResult:
    """All pending edits of ``store`` as one import batch (see the module)."""
    edits = pending_edits.store_pending(store)
    result = EditsResult()
    if not edits:
        return result
    if len(edits) > MAX_EDITS:
        raise ConversionError(f"{store.path}: {len(edits)} pending edits; one apply takes at "
                              f"most {MAX_EDITS} (discard them and import the data as a file)")
    plan = _Plan(store)
    for e in edits:
        try:
            plan.take(e)
        except TwinError as exc:
            text = str(exc).strip("'\"")
            result.refused[e.id] = f"{_where(e)}: {text}"
    source = (f"GIS edits saved in {store.path} ({len(edits)} edit(s) recorded "
              f"{edits[0].recorded} .. {edits[-1].recorded}, twin edits apply)")
    _placement(plan, result.refused)
    if strict and result.refused:
        raise ConversionError(
            f"{store.path}: {len(result.refused)} of {len(edits)} pending edit(s) refused, "
            "nothing applied (--strict): " + "; ".join(list(result.refused.values())[:5]))
    add = [f for f in plan.state.values() if f is not None]
    retire = [fid for fid, f in plan.state.items() if f is None and fid not in plan.new]
    result.added = sum(1 for f in add if f.id in plan.new)
    result.changed = len(add) - result.added
    result.retired = len(retire)
    result.applied = sorted(i for ids in plan.edits_of.values() for i in ids)
    if add or retire:
        with store.import_batch(source, FORMAT, CONVERTER, __version__,
                                on_conflict="update") as batch:
            batch.report.update({"edits": len(result.applied),  # counts: report["update"]
                                 "refused": len(result.refused),
                                 "refused_edits": list(result.refused.values())[:50]})
            if add:
                batch.add(add)
            if retire:
                batch.retire(retire)
            # the edits end with the batch, in its transaction
            pending_edits.settle_in_batch(store, batch, result.applied, result.refused)
        result.batch = batch.id
        log = batch.report.get("update") or {}  # what the update really wrote
        result.added, result.changed = int(log.get("added", 0)), int(log.get("changed", 0))
        result.unchanged = int(log.get("unchanged", 0))
        result.retired = int(log.get("retired", result.retired))
    if not result.batch:  # nothing to write, or it changed nothing (rolled back)
        pending_edits.store_settle(store, result.applied, result.refused)
    return result


__all__ = ["CONVERTER", "FORMAT", "EditsResult", "apply_edits"]
