"""Analysis results as highlight sets: which features to show in which colour.

Both viewers use the same sets: the desktop viewer colours them in the
scene, the web viewer gets them from the API. A spec names the analysis:

- ``renewal`` or ``renewal:YEAR``: heating pipes in service 20 years or more
  (the renewal list of the health check), in red;
- ``clearance``: both features of every GB 50289 clearance violation, in red;
- ``isolation:SEGMENT_ID``: a burst on that segment: the failed segment (red),
  the valves to close (blue), the segments shut off with it (orange) and the
  buildings that lose supply (yellow);
- ``changes:DATE|BATCH``: what changed since then (:mod:`twin.diff`): added
  features green, changed amber, removed red (a removed feature is not in
  the twin now: view the twin ``--as-of`` that moment to see it).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

import numpy as np
import shapely

from twin.errors import QueryError
from twin.query import Query
from twin.store.base import TwinStore

RED, BLUE, ORANGE, YELLOW = "#e0161b", "#1f5fff", "#ff9a1f", "#ffd21f"
#: The colours of a diff (``changes:``), as in the HTML change report.
ADDED, REMOVED, CHANGED = "#2da44e", "#cf222e", "#d4a72c"


@dataclass(frozen=True)
class HighlightGroup:
    label: str
    colour: str
    ids: frozenset[str]


@dataclass(frozen=True)
class Highlight:
    spec: str
    title: str
    groups: tuple[HighlightGroup, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def colour_of(self) -> dict[str, str]:
        """Feature id -> colour (the first group that holds it wins)."""
        out: dict[str, str] = {}
        for g in reversed(self.groups):
            out.update(dict.fromkeys(g.ids, g.colour))
        return out

    @property
    def ids(self) -> frozenset[str]:
        return frozenset().union(*(g.ids for g in self.groups))

    def as_dict(self) -> dict:
        return {"spec": self.spec, "title": self.title, "notes": list(self.notes),
                "groups": [{"label": g.label, "colour": g.colour, "ids": sorted(g.ids)}
                           for g in self.groups]}


def highlight_geometry(store: TwinStore, group: HighlightGroup, origin=None,
                       max_features: int = 50_000) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The 3D centrelines and points of a group's features, relative to
    ``origin`` (default: the twin's): what a viewer draws thick so that a
    highlighted pipe or valve shows at city scale."""
    o = np.asarray(origin if origin is not None else (store.origin or (0.0, 0.0, 0.0)))
    ids = sorted(group.ids)[:max_features]
    lines, points = [], []
    for f in store.query(Query(ids=tuple(ids))) if ids else ():
        fp = f.footprint
        if fp is None or not fp.has_z:
            continue
        if fp.geom_type in ("LineString", "MultiLineString"):
            lines += [shapely.get_coordinates(p, include_z=True) - o
                      for p in shapely.get_parts(fp)]
        elif fp.geom_type == "Point":
            points.append(shapely.get_coordinates(fp, include_z=True)[0] - o)
    return lines, points


def highlight(store: TwinStore, spec: str) -> Highlight:
    """Compute the highlight sets for ``spec`` (see the module documentation)."""
    name, _, arg = spec.strip().partition(":")
    name = name.lower()
    if name == "renewal":
        from twin.analysis.ageing import renewal_list
        from twin.analysis.segments import load_segments

        try:
            year = int(arg) if arg else datetime.date.today().year
        except ValueError:
            raise QueryError(f"highlight {spec!r}: the year must be a number, as in "
                             "renewal:2025") from None
        rl = renewal_list(load_segments(store, ("heating",)), year, 20, ("heating",))
        ids = frozenset(i.id for i in rl.items)
        km = sum(i.length_m for i in rl.items) / 1000
        return Highlight(spec, f"Heating pipes in service 20+ years in {year}: {len(ids)} "
                         f"segments, {km:.1f} km",
                         (HighlightGroup("awaiting renewal", RED, ids),))
    if name == "clearance":
        from twin.analysis.clearance import check_twin_clearances

        c = check_twin_clearances(store)
        ids = frozenset(x for v in c.violations for x in (v.a, v.b))
        return Highlight(spec, f"GB 50289 clearance violations: {len(c.violations)}",
                         (HighlightGroup("too close", RED, ids),))
    if name == "isolation":
        from twin.analysis.isolation import isolation_for

        if not arg:
            raise QueryError("highlight 'isolation' needs the failed segment, as in "
                             "isolation:hohhot:JS-EW-3-4-0")
        r = isolation_for(store, arg)
        return Highlight(
            spec, f"Burst on {r.failed}: close {len(r.valves_to_close)} valves, "
                  f"{len(r.buildings_without_supply)} buildings without supply",
            (HighlightGroup("failed segment", RED, frozenset([r.failed])),
             HighlightGroup("valves to close", BLUE, frozenset(r.valves_to_close)),
             HighlightGroup("shut off", ORANGE,
                            frozenset(r.isolated_segments) | frozenset(r.cut_off_segments)),
             HighlightGroup("without supply", YELLOW, frozenset(r.buildings_without_supply))),
            notes=(r.note,) if r.note else ())
    if name == "changes":
        return _changes(store, spec, arg)
    raise QueryError(f"unknown highlight {spec!r}: use renewal[:YEAR], clearance, "
                     "isolation:SEGMENT_ID or changes:DATE|BATCH")


def _changes(store: TwinStore, spec: str, since: str) -> Highlight:
    from twin.diff import diff_twins
    from twin.store import resolve_as_of

    if not since:
        raise QueryError("highlight 'changes' needs the moment to compare with, as in "
                         "changes:2024-12-31 or changes:10 (an import batch)")
    batch = resolve_as_of(store, since)
    cs = diff_twins(store.at(batch), store)
    kinds = {k: frozenset(c.id for c in cs.by_kind(k)) for k in ("added", "changed", "removed")}
    notes = (f"{len(kinds['removed'])} removed features are not in the twin now: view it as "
             f"of batch {batch} to see them",) if kinds["removed"] else ()
    return Highlight(
        spec, f"Changes since batch {batch}: {len(kinds['added'])} added, "
              f"{len(kinds['changed'])} changed, {len(kinds['removed'])} removed",
        (HighlightGroup("added", ADDED, kinds["added"]),
         HighlightGroup("changed", CHANGED, kinds["changed"]),
         HighlightGroup("removed", REMOVED, kinds["removed"])), notes=notes)
