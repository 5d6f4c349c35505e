"""Clearance checks between underground utilities and to buildings.

Three kinds of rule (see ``twin/data/clearance_gb50289.toml``):

* **vertical**, at crossings: the clear distance between the outer walls of two
  pipes whose centrelines cross in plan, from the centreline heights at the
  crossing point minus the half heights;
* **horizontal**, between pipes that do not cross: the plan distance between
  centrelines minus the half widths;
* **building**: the plan distance from a pipe's outer wall to a building
  footprint (a pipe under a building has distance 0).

Pairs are found through a shapely STRtree (``dwithin`` the largest rule
distance), never by testing all pairs. Segments that share a network node
(a pipe and the next one, a main and its service pipe) are not checked against
each other; service pipes are not checked against buildings (they enter them
by design).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from ..errors import TwinError
from .segments import RULE_GROUP, SegmentTable

SERVICE_TYPES = ("ServicePipe",)


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    a: str
    b: str
    min_m: float
    ref: str
    source: str
    a_max_diameter_mm: float | None = None
    a_min_diameter_mm: float | None = None
    a_pressure: str | None = None
    a_burial: str | None = None
    verify: bool = False

    def matches_a(self, code: str, diameter: float, pressure: str, burial: str = "") -> bool:
        if self.a != "*" and RULE_GROUP.get(code, code) != self.a:
            return False
        if self.a_max_diameter_mm is not None and not (diameter <= self.a_max_diameter_mm):
            return False
        if self.a_min_diameter_mm is not None and not (diameter > self.a_min_diameter_mm):
            return False
        if self.a_pressure is not None and self.a_pressure.lower() not in pressure.lower():
            return False
        if self.a_burial is not None and self.a_burial.lower() not in burial.lower():
            return False
        return True


@dataclass(frozen=True)
class RuleSet:
    name: str
    source: str
    rules: tuple[Rule, ...]

    def max_distance(self, kind: str) -> float:
        return max((r.min_m for r in self.rules if r.kind == kind), default=0.0)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """The shipped GB 50289 defaults, or a user's TOML file of the same form."""
    try:
        if path is None:
            text = resources.files("twin").joinpath("data/clearance_gb50289.toml").read_text(
                encoding="utf-8")
            origin = "clearance_gb50289.toml"
        else:
            text = Path(path).read_text(encoding="utf-8")
            origin = str(path)
        doc = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TwinError(f"clearance rules {path}: cannot be read: {exc}") from None
    rules = []
    for k, r in enumerate(doc.get("rule", [])):
        try:
            kind = r["kind"]
            if kind not in ("vertical", "horizontal", "building"):
                raise ValueError(f"kind {kind!r} must be vertical, horizontal or building")
            rules.append(Rule(
                id=f"{kind}:{r['a']}-{r.get('b', 'building')}#{k}", kind=kind, a=r["a"],
                b=r.get("b", "building"), min_m=float(r["min_m"]), ref=r.get("ref", ""),
                source=doc.get("source", origin),
                a_max_diameter_mm=r.get("a_max_diameter_mm"),
                a_min_diameter_mm=r.get("a_min_diameter_mm"), a_pressure=r.get("a_pressure"),
                a_burial=r.get("a_burial"),
                verify=bool(r.get("verify", False))))
        except (KeyError, ValueError, TypeError) as exc:
            raise TwinError(f"clearance rules {origin}: rule {k + 1} is invalid: {exc}") from None
    return RuleSet(doc.get("name", origin), doc.get("source", origin), tuple(rules))


@dataclass(frozen=True)
class Violation:
    """One clearance below its rule."""

    kind: str
    a: str
    b: str
    distance_m: float
    required_m: float
    rule: str
    source: str
    location: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _find_rule(rules: RuleSet, kind: str, seg: SegmentTable, i: int, j: int
               ) -> tuple[Rule, bool] | None:
    """The strictest rule for the pair, trying both orders; ``swapped`` tells
    whether b took the role of a."""
    best = None
    for r in rules.rules:
        if r.kind != kind:
            continue
        for swapped, (a, b) in ((False, (i, j)), (True, (j, i))):
            c2 = seg.codes[b]
            if r.matches_a(seg.codes[a], seg.diameter_mm[a], seg.pressure_class[a],
                           seg.burial[a]) and (r.b == "*" or RULE_GROUP.get(c2, c2) == r.b):
                if best is None or r.min_m > best[0].min_m:
                    best = (r, swapped)
    return best


def _z_at(line, point) -> float:
    """Height of a 3D centreline above ``point`` (plan), interpolated."""
    c = shapely.get_coordinates(line, include_z=True)
    d = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(c[:, :2], axis=0).T))])
    s = shapely.line_locate_point(line, point)
    return float(np.interp(s, d, c[:, 2]))


def check_clearances(seg: SegmentTable, *, buildings: list | None = None,
                     building_ids: list[str] | None = None,
                     rules: RuleSet | None = None) -> list[Violation]:
    """All clearance violations among ``seg`` and to ``buildings`` (footprints).

    Gas rules that depend on the pressure class use ``seg.pressure_class``; a
    pair for which no rule exists is not a violation (and is not guessed).
    """
    rules = rules or load_rules()
    n = len(seg)
    pressure = seg.pressure_class
    out: list[Violation] = []
    if n == 0:
        return out
    lines = seg.lines
    tree = shapely.STRtree(lines)
    reach = max(rules.max_distance("horizontal"), rules.max_distance("vertical")) + \
        2 * float(max(seg.half_width.max(), seg.half_height.max(), 0.0))
    left, right = tree.query(lines, predicate="dwithin", distance=reach)
    keep = left < right
    left, right = left[keep], right[keep]
    # pairs joined at a node are one network's own connections
    share = np.array([bool({seg.start[i], seg.end[i]} & {seg.start[j], seg.end[j]} - {""})
                      for i, j in zip(left, right)], bool) if len(left) else np.zeros(0, bool)
    left, right = left[~share], right[~share]
    crossing = shapely.intersects(lines[left], lines[right])
    # vertical, at crossings
    for i, j in zip(left[crossing], right[crossing]):
        found = _find_rule(rules, "vertical", seg, i, j)
        if found is None or not (lines[i].has_z and lines[j].has_z):
            continue
        rule, _ = found
        pt = shapely.intersection(lines[i], lines[j])
        pt = pt if pt.geom_type == "Point" else shapely.get_parts(pt)[0].centroid
        zi, zj = _z_at(lines[i], pt), _z_at(lines[j], pt)
        clear = abs(zi - zj) - seg.half_height[i] - seg.half_height[j]
        if clear < rule.min_m:
            out.append(Violation("vertical", str(seg.ids[i]), str(seg.ids[j]),
                                 round(float(clear), 3), rule.min_m, f"{rule.id} {rule.ref}",
                                 rule.source, (round(pt.x, 3), round(pt.y, 3),
                                               round((zi + zj) / 2, 3))))
    # horizontal, between pipes that do not cross
    hl, hr = left[~crossing], right[~crossing]
    if len(hl):
        dist = shapely.distance(lines[hl], lines[hr]) - seg.half_width[hl] - seg.half_width[hr]
        for i, j, dd in zip(hl, hr, dist):
            found = _find_rule(rules, "horizontal", seg, i, j)
            if found is None or dd >= found[0].min_m:
                continue
            rule = found[0]
            p1, p2 = shapely.shortest_line(lines[i], lines[j]).coords[:2]
            out.append(Violation("horizontal", str(seg.ids[i]), str(seg.ids[j]),
                                 round(float(dd), 3), rule.min_m, f"{rule.id} {rule.ref}",
                                 rule.source, (round((p1[0] + p2[0]) / 2, 3),
                                               round((p1[1] + p2[1]) / 2, 3))))
    # to buildings
    if buildings:
        btree = shapely.STRtree(np.asarray(buildings, dtype=object))
        breach = rules.max_distance("building") + float(seg.half_width.max())
        mains = ~np.isin(seg.types, SERVICE_TYPES)
        pi, bi = btree.query(lines, predicate="dwithin", distance=breach)
        keep = mains[pi]
        pi, bi = pi[keep], bi[keep]
        if len(pi):
            bgeoms = np.asarray(buildings, dtype=object)
            dist = np.maximum(shapely.distance(lines[pi], bgeoms[bi]) - seg.half_width[pi], 0)
            for i, b, dd in zip(pi, bi, dist):
                rule = next((r for r in sorted(rules.rules, key=lambda r: -r.min_m)
                             if r.kind == "building"
                             and r.matches_a(seg.codes[i], seg.diameter_mm[i], pressure[i],
                                             seg.burial[i])), None)
                if rule is None or dd >= rule.min_m:
                    continue
                p1, _ = shapely.shortest_line(lines[i], bgeoms[b]).coords[:2]
                bid = building_ids[b] if building_ids else str(b)
                out.append(Violation("building", str(seg.ids[i]), bid, round(float(dd), 3),
                                     rule.min_m, f"{rule.id} {rule.ref}", rule.source,
                                     (round(p1[0], 3), round(p1[1], 3))))
    return out
