"""BIM/GIS conflation: one real building, two models of it.

A city's GIS layer holds every building as an LoD1/LoD2 block; a BIM team
delivers a detailed IFC model of one of them. When the IFC building's
footprint overlaps GIS buildings strongly, they are linked as the same real
building, and the twin remembers which geometry the map shows.

Matching (:func:`match_footprint`, pure): every GIS footprint that lies
mostly (:data:`PART_INSIDE` of its area) inside the BIM footprint counts as a
part of the same building (a GIS layer may cut one building into parts);
the parts' union is compared with the BIM footprint by intersection over
union, and :data:`MIN_IOU` or more makes a match. Overlaps that are weaker
are reported, not linked (a new building replacing an old one, a wrong
georeference).

The link lives on the BIM building feature: ``same_as`` (the GIS ids),
``conflation_iou`` and ``map_geometry`` (``"bim"`` or ``"gis"``, which one
viewers draw). :func:`hidden_by_conflation` gives the features a viewer
leaves out; :func:`set_map_geometry` changes the choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import shapely
from shapely.geometry.base import BaseGeometry

from .errors import QueryError
from .query import Query, parse_filter
from .store.base import TwinStore

#: Intersection over union from which footprints are one building.
MIN_IOU = 0.5
#: Share of a GIS footprint's area inside the BIM footprint for it to count
#: as a part of that building.
PART_INSIDE = 0.5
MAP_GEOMETRY = ("bim", "gis")


@dataclass(frozen=True)
class Match:
    gis_ids: tuple[str, ...]
    iou: float
    #: candidates that overlap but were not linked (id, share of their area inside)
    partial: tuple[tuple[str, float], ...] = ()

    @property
    def linked(self) -> bool:
        return bool(self.gis_ids) and self.iou >= MIN_IOU


def match_footprint(bim: BaseGeometry, candidates: Sequence[tuple[str, BaseGeometry]]
                    ) -> Match:
    """Match a BIM footprint against GIS footprints ``(id, polygon)``."""
    if bim is None or bim.is_empty or bim.area <= 0:
        return Match((), 0.0)
    parts, partial = [], []
    for cid, geom in candidates:
        if geom is None or geom.is_empty or geom.area <= 0:
            continue
        inside = shapely.intersection(geom, bim).area / geom.area
        if inside >= PART_INSIDE:
            parts.append((cid, geom))
        elif inside > 0.01:
            partial.append((cid, round(inside, 3)))
    if not parts:
        return Match((), 0.0, tuple(partial))
    union = shapely.union_all([g for _, g in parts])
    iou = shapely.intersection(union, bim).area / shapely.union(union, bim).area
    if iou < MIN_IOU:
        return Match((), round(iou, 3), tuple(partial) + tuple(
            (cid, round(shapely.intersection(g, bim).area / g.area, 3)) for cid, g in parts))
    return Match(tuple(sorted(cid for cid, _ in parts)), round(iou, 4), tuple(partial))


def gis_candidates(store: TwinStore, footprint: BaseGeometry,
                   exclude: Iterable[str] = ()) -> list[tuple[str, BaseGeometry]]:
    """Buildings of the twin (not BIM models themselves) around ``footprint``."""
    skip = set(exclude)
    out = []
    for f in store.query(Query(layers=("buildings",), bbox=tuple(footprint.bounds))):
        if f.id in skip or "ifc_class" in f.attributes or f.footprint is None:
            continue
        out.append((f.id, f.footprint))
    return out


def _bim_buildings(store: TwinStore):
    """The IFC buildings of the twin (the only ones that carry links), selected
    in the store: the API asks for links on every scene it draws."""
    return store.query(Query(layers=("buildings",),
                             filters=(parse_filter("ifc_class=IfcBuilding"),)))


def links(store: TwinStore) -> list[dict]:
    """Every BIM building linked to GIS buildings, with its display choice."""
    out = []
    for f in _bim_buildings(store):
        same = f.attributes.get("same_as")
        if same:
            out.append({"bim": f.id, "gis": list(same), "name": f.name,
                        "iou": f.attributes.get("conflation_iou"),
                        "map_geometry": f.attributes.get("map_geometry", "bim")})
    return out


def match_twin(store: TwinStore) -> list[dict]:
    """Link every BIM building of the twin to the GIS buildings it stands on
    (for twins where the GIS layer was imported after the IFC models). An
    existing display choice is kept. Returns :func:`links`."""
    for f in _bim_buildings(store):
        if f.footprint is None:
            continue
        m = match_footprint(f.footprint, gis_candidates(store, f.footprint, [f.id]))
        if m.linked:
            store.update_attributes(f.id, {
                "same_as": list(m.gis_ids), "conflation_iou": m.iou,
                "map_geometry": f.attributes.get("map_geometry", "bim")})
        elif f.attributes.get("same_as"):
            store.update_attributes(f.id, {"same_as": None, "conflation_iou": None,
                                           "map_geometry": None})
    return links(store)


def set_map_geometry(store: TwinStore, show: str, bim_id: str | None = None) -> list[dict]:
    """Show the ``"bim"`` or the ``"gis"`` geometry for one linked building
    (``bim_id``) or for all of them."""
    if show not in MAP_GEOMETRY:
        raise QueryError(f"map geometry {show!r}: use one of {', '.join(MAP_GEOMETRY)}")
    current = links(store)
    if bim_id is not None and bim_id not in {x["bim"] for x in current}:
        raise QueryError(f"{bim_id!r} is not a BIM building linked to a GIS building; "
                         f"linked: {', '.join(x['bim'] for x in current) or 'none'}")
    for x in current:
        if bim_id is None or x["bim"] == bim_id:
            store.update_attributes(x["bim"], {"map_geometry": show})
    return links(store)


def hidden_by_conflation(store: TwinStore) -> frozenset[str]:
    """Features a map leaves out because their twin is shown instead: the GIS
    buildings of links showing BIM, the BIM building and everything below it
    (storeys, elements) of links showing GIS."""
    hidden: set[str] = set()
    roots = []
    for x in links(store):
        if x["map_geometry"] == "gis":
            roots.append(x["bim"])
        else:
            hidden.update(x["gis"])
    while roots:
        fid = roots.pop()
        if fid in hidden:
            continue
        hidden.add(fid)
        roots.extend(c.id for c in store.query(Query(parent=fid)))
    return frozenset(hidden)
