"""Clearance checks between underground utilities and to buildings.

Three kinds of rule (see ``twin/data/clearance_gb50289.toml``):

* **vertical**, at crossings: the clear distance between the outer walls of two
  pipes whose centrelines cross in plan, from the centreline heights at the
  crossing point minus the half heights;
* **horizontal**, between pipes that do not cross: the plan distance between
  centrelines minus the half widths;
* **building**: the plan distance from a pipe's outer wall to a building
  footprint (a pipe under a building has distance 0).

A vertical clash between two pipes whose depths are both assumed (a
default cover, ``depth_source=assumed``) is reported as *unconfirmed*
(``Violation.confirmed`` false) and counted apart: it says where a survey is
needed, not that the rule is broken.

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

from ..errors import ConfigError
from ..query import Query
from ..store.base import TwinStore
from .segments import RULE_GROUP, SegmentTable, load_segments

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
        raise ConfigError(f"clearance rules {path}: cannot be read: {exc}") from None
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
            raise ConfigError(f"clearance rules {origin}: rule {k + 1} is invalid: {exc}") from None
    return RuleSet(doc.get("name", origin), doc.get("source", origin), tuple(rules))


@dataclass(frozen=True)
class Violation:
    """One clearance below its rule.

    ``confirmed`` is false for a vertical clearance between two pipes whose
    heights are both assumed (``depth_source`` ``assumed``: a default cover
    under the terrain, not a survey): the clash may well not exist, and a
    survey of the crossing is needed before anyone acts on it.
    """

    kind: str
    a: str
    b: str
    distance_m: float
    required_m: float
    rule: str
    source: str
    location: tuple[float, ...]
    confirmed: bool = True

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


def _classes(seg: SegmentTable) -> tuple[np.ndarray, list[int]]:
    """A rule class per segment (same code, diameter, pressure, burial: same
    rules) and one representative segment per class."""
    keys: dict[tuple, int] = {}
    reps: list[int] = []
    cls = np.empty(len(seg), np.int64)
    for k in range(len(seg)):
        key = (seg.codes[k], float(seg.diameter_mm[k]) if np.isfinite(seg.diameter_mm[k])
               else None, seg.pressure_class[k], seg.burial[k])
        c = keys.get(key)
        if c is None:
            c = keys[key] = len(reps)
            reps.append(k)
        cls[k] = c
    return cls, reps


def _rule_matrix(rules: RuleSet, kind: str, seg: SegmentTable, reps: list[int]
                 ) -> tuple[np.ndarray, list[list[Rule | None]]]:
    """``required[ca, cb]`` (nan: no rule) and the rule objects, per class pair."""
    n = len(reps)
    req = np.full((n, n), np.nan)
    which: list[list[Rule | None]] = [[None] * n for _ in range(n)]
    for a in range(n):
        for b in range(n):
            found = _find_rule(rules, kind, seg, reps[a], reps[b])
            if found is not None:
                req[a, b] = found[0].min_m
                which[a][b] = found[0]
    return req, which


def _node_codes(seg: SegmentTable) -> tuple[np.ndarray, np.ndarray]:
    names = np.concatenate([seg.start, seg.end]).astype(str)
    uniq, inv = np.unique(names, return_inverse=True)
    inv = inv.astype(np.int64)
    if "" in set(uniq.tolist()):  # missing ids never match anything
        empty = int(np.flatnonzero(uniq == "")[0])
        inv = np.where(inv == empty, -1 - np.arange(len(inv)), inv)
    n = len(seg)
    return inv[:n], inv[n:]


def _crossing_heights(lines: np.ndarray, i: np.ndarray, j: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plan crossing point and the two centreline heights there, for pairs of
    crossing lines; closed form for straight segments, interpolation otherwise."""
    k = len(i)
    pts = np.full((k, 2), np.nan)
    zi = np.full(k, np.nan)
    zj = np.full(k, np.nan)
    if k == 0:
        return pts, zi, zj
    nv = shapely.get_num_coordinates(lines)
    straight = (nv[i] == 2) & (nv[j] == 2)
    if straight.any():
        si, sj = i[straight], j[straight]
        ci = shapely.get_coordinates(lines[si], include_z=True).reshape(-1, 2, 3)
        cj = shapely.get_coordinates(lines[sj], include_z=True).reshape(-1, 2, 3)
        p, r = ci[:, 0, :2], ci[:, 1, :2] - ci[:, 0, :2]
        q, sv = cj[:, 0, :2], cj[:, 1, :2] - cj[:, 0, :2]
        den = r[:, 0] * sv[:, 1] - r[:, 1] * sv[:, 0]
        qp = q - p
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (qp[:, 0] * sv[:, 1] - qp[:, 1] * sv[:, 0]) / den
            u = (qp[:, 0] * r[:, 1] - qp[:, 1] * r[:, 0]) / den
        ok = np.isfinite(t) & np.isfinite(u)
        idx = np.flatnonzero(straight)[ok]
        pts[idx] = p[ok] + t[ok, None] * r[ok]
        zi[idx] = ci[ok, 0, 2] + t[ok] * (ci[ok, 1, 2] - ci[ok, 0, 2])
        zj[idx] = cj[ok, 0, 2] + u[ok] * (cj[ok, 1, 2] - cj[ok, 0, 2])
    for m in np.flatnonzero(np.isnan(zi)):  # polylines and collinear overlaps
        pt = shapely.intersection(lines[i[m]], lines[j[m]])
        pt = pt if pt.geom_type == "Point" else shapely.get_parts(pt)[0].centroid
        pts[m] = (pt.x, pt.y)
        zi[m], zj[m] = _z_at(lines[i[m]], pt), _z_at(lines[j[m]], pt)
    return pts, zi, zj


def check_clearances(seg: SegmentTable, *, buildings: list | None = None,
                     building_ids: list[str] | None = None,
                     rules: RuleSet | None = None) -> list[Violation]:
    """All clearance violations among ``seg`` and to ``buildings`` (footprints).

    Gas rules that depend on the pressure class use ``seg.pressure_class``,
    power and telecom rules the ``burial``; a pair for which no rule exists is
    not a violation (and is not guessed). Vectorised: segments are grouped in
    rule classes, so the rules are looked up once per pair of classes.
    """
    rules = rules or load_rules()
    out: list[Violation] = []
    if len(seg) == 0:
        return out
    lines = seg.lines
    cls, reps = _classes(seg)
    tree = shapely.STRtree(lines)
    reach = max(rules.max_distance("horizontal"), rules.max_distance("vertical")) + \
        2 * float(max(seg.half_width.max(), seg.half_height.max(), 0.0))
    left, right = tree.query(lines, predicate="dwithin", distance=reach)
    keep = left < right
    left, right = left[keep], right[keep]
    s_code, e_code = _node_codes(seg)
    share = ((s_code[left] == s_code[right]) | (s_code[left] == e_code[right])
             | (e_code[left] == s_code[right]) | (e_code[left] == e_code[right]))
    left, right = left[~share], right[~share]
    crossing = shapely.intersects(lines[left], lines[right])
    has_z = shapely.has_z(lines)
    assumed = seg.assumed_depth

    # vertical, at crossings
    vreq, vrule = _rule_matrix(rules, "vertical", seg, reps)
    vi, vj = left[crossing], right[crossing]
    req = vreq[cls[vi], cls[vj]]
    cand = np.isfinite(req) & has_z[vi] & has_z[vj]
    vi, vj, req = vi[cand], vj[cand], req[cand]
    pts, zi, zj = _crossing_heights(lines, vi, vj)
    clear = np.abs(zi - zj) - seg.half_height[vi] - seg.half_height[vj]
    for m in np.flatnonzero(clear < req):
        i, j = vi[m], vj[m]
        rule = vrule[cls[i]][cls[j]]
        out.append(Violation("vertical", str(seg.ids[i]), str(seg.ids[j]),
                             round(float(clear[m]), 3), rule.min_m, f"{rule.id} {rule.ref}",
                             rule.source, (round(float(pts[m, 0]), 3), round(float(pts[m, 1]), 3),
                                           round(float(zi[m] + zj[m]) / 2, 3)),
                             confirmed=not (assumed[i] and assumed[j])))

    # horizontal, between pipes that do not cross
    hreq, hrule = _rule_matrix(rules, "horizontal", seg, reps)
    hi, hj = left[~crossing], right[~crossing]
    req = hreq[cls[hi], cls[hj]]
    cand = np.isfinite(req)
    hi, hj, req = hi[cand], hj[cand], req[cand]
    dist = shapely.distance(lines[hi], lines[hj]) - seg.half_width[hi] - seg.half_width[hj]
    for m in np.flatnonzero(dist < req):
        i, j = hi[m], hj[m]
        rule = hrule[cls[i]][cls[j]]
        p1, p2 = shapely.shortest_line(lines[i], lines[j]).coords[:2]
        out.append(Violation("horizontal", str(seg.ids[i]), str(seg.ids[j]),
                             round(float(dist[m]), 3), rule.min_m, f"{rule.id} {rule.ref}",
                             rule.source, (round((p1[0] + p2[0]) / 2, 3),
                                           round((p1[1] + p2[1]) / 2, 3))))

    # to buildings
    if buildings:
        bgeoms = np.asarray(buildings, dtype=object)
        btree = shapely.STRtree(bgeoms)
        by_class: list[Rule | None] = []
        for k in reps:
            by_class.append(next((r for r in sorted(rules.rules, key=lambda r: -r.min_m)
                                  if r.kind == "building" and r.matches_a(
                                      seg.codes[k], seg.diameter_mm[k], seg.pressure_class[k],
                                      seg.burial[k])), None))
        breq = np.array([r.min_m if r is not None else np.nan for r in by_class])
        reach_b = rules.max_distance("building") + float(seg.half_width.max())
        mains = ~np.isin(seg.types, SERVICE_TYPES)
        pi, bi = btree.query(lines, predicate="dwithin", distance=reach_b)
        keep = mains[pi] & np.isfinite(breq[cls[pi]])
        pi, bi = pi[keep], bi[keep]
        dist = np.maximum(shapely.distance(lines[pi], bgeoms[bi]) - seg.half_width[pi], 0)
        for m in np.flatnonzero(dist < breq[cls[pi]]):
            i, b = pi[m], bi[m]
            rule = by_class[cls[i]]
            p1, _ = shapely.shortest_line(lines[i], bgeoms[b]).coords[:2]
            bid = building_ids[b] if building_ids else str(b)
            out.append(Violation("building", str(seg.ids[i]), bid, round(float(dist[m]), 3),
                                 rule.min_m, f"{rule.id} {rule.ref}", rule.source,
                                 (round(p1[0], 3), round(p1[1], 3))))
    return out


@dataclass(frozen=True)
class TwinClearances:
    """The clearance check of a whole twin: what was checked and what failed
    (``unconfirmed``: vertical clashes between two pipes of assumed depth)."""

    rules: RuleSet
    segments: int
    buildings: int
    violations: list[Violation]

    @property
    def confirmed(self) -> list[Violation]:
        return [v for v in self.violations if v.confirmed]

    @property
    def unconfirmed(self) -> list[Violation]:
        return [v for v in self.violations if not v.confirmed]


def check_twin_clearances(store: TwinStore, rules: RuleSet | None = None) -> TwinClearances:
    """:func:`check_clearances` over every utility segment of ``store`` and
    the footprints of its ``buildings`` layer."""
    rules = rules or load_rules()
    seg = load_segments(store)
    blds = list(store.query(Query(layers=("buildings",))))
    v = check_clearances(seg, buildings=[b.footprint for b in blds],
                         building_ids=[b.id for b in blds], rules=rules)
    return TwinClearances(rules, len(seg), len(blds), v)


def check_clearances_naive(seg: SegmentTable, rules: RuleSet | None = None
                           ) -> set[tuple[str, str, str]]:
    """Reference check between pipes: every pair, no index, one at a time.

    Quadratic: only for verifying :func:`check_clearances` on small sets
    (tests, benchmarks). Returns ``{(kind, a, b)}`` for the pipe-to-pipe
    violations.
    """
    rules = rules or load_rules()
    out: set[tuple[str, str, str]] = set()
    lines = seg.lines
    for i in range(len(seg)):
        for j in range(i + 1, len(seg)):
            if {seg.start[i], seg.end[i]} & {seg.start[j], seg.end[j]} - {""}:
                continue
            if shapely.intersects(lines[i], lines[j]):
                found = _find_rule(rules, "vertical", seg, i, j)
                if found is None or not (lines[i].has_z and lines[j].has_z):
                    continue
                pt = shapely.intersection(lines[i], lines[j])
                pt = pt if pt.geom_type == "Point" else shapely.get_parts(pt)[0].centroid
                clear = abs(_z_at(lines[i], pt) - _z_at(lines[j], pt)) - seg.half_height[i] \
                    - seg.half_height[j]
                if clear < found[0].min_m:
                    out.add(("vertical", str(seg.ids[i]), str(seg.ids[j])))
            else:
                found = _find_rule(rules, "horizontal", seg, i, j)
                if found is None:
                    continue
                d = shapely.distance(lines[i], lines[j]) - seg.half_width[i] - seg.half_width[j]
                if d < found[0].min_m:
                    out.add(("horizontal", str(seg.ids[i]), str(seg.ids[j])))
    return out
