"""Does an import land where it should? The placement check of every import.

A converter can place data perfectly consistently and still in the wrong
spot: a model georeferenced by a default latitude of the authoring tool, a
survey table in millimetres, a GIS layer in longitude/latitude read as
metres, a network in another CRS than the twin's. Nothing fails, the numbers
are finite, and the twin quietly gains features thousands of kilometres away
from the city. The importer therefore checks every import, whatever its
converter, against two things it knows without the converter's help:

* **The twin CRS's area of use** (EPSG records where each CRS is meant to be
  used, ``pyproj.CRS.area_of_use``): a projected CRS stays usable a little
  beyond it (a neighbouring zone, a city on the edge), so only data lying
  entirely more than :data:`FAR_M` outside is refused, and data partly
  outside gets a warning.
* **Plausible sizes**: one import for a city twin spans at most
  :data:`MAX_BATCH_SPAN_M`; a single building or building element at most
  :data:`MAX_FEATURE_SPAN_M` (the longest building, Prora on Rügen, is
  4.5 km long). A pipe network thousands of kilometres across, or a
  building kilometres long, is a unit or CRS mistake.

What is refused can be accepted with ``force`` (``--force``): the features
are imported and the summary keeps a warning. Coordinates that cannot be
right anywhere (more than :data:`ABSURD_M` from the area of use, heights
outside :data:`Z_RANGE`: a coordinate of 9.2e18 m, a height of -2,147 km
from an integer overflow) are never stored: such a feature is skipped with
its reason, and a file of nothing else is refused as one whose every
feature was skipped.

The refusal names the file, the extent found, the CRS's area of use and the
likely cause, from what the extent looks like (degrees read as metres,
millimetres, swapped axes, local coordinates near 0,0) and from what the
converter reported (the georeferencing it used and the alternatives it saw,
the source CRS and where it came from).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import ProjError

from twin.crs import make_transformer
from twin.errors import ConversionError
from twin.layers import UTILITY_LAYER_BY_CODE
from twin.model import Feature
from twin.store.writer import CHUNK_VERTICES, mesh_vertices

from .report import Note

#: Data lying entirely farther than this outside the twin CRS's area of use
#: is refused (metres in the twin CRS).
FAR_M = 200_000.0
#: Farther than this from the area of use, a coordinate is no place on
#: Earth that the CRS can stand for: the feature is skipped.
ABSURD_M = 10_000_000.0
#: Without an area of use, coordinates beyond this are absurd (metres).
ABSURD_ABS_M = 1e8
#: Heights (metres) outside this range are absurd for a city twin: the
#: deepest mines reach about 4 km below the surface, Everest 8,849 m.
Z_RANGE = (-5_000.0, 9_000.0)
#: The widest extent one import may plausibly span (metres).
MAX_BATCH_SPAN_M = 1_000_000.0
#: The widest a single feature of these layers may plausibly be (metres).
MAX_FEATURE_SPAN_M = {"buildings": 5_000.0, "building_elements": 5_000.0}
#: How many offending features a message names.
_EXAMPLES = 5
#: Features judged at once.
_CHUNK = 512

_WGS84 = CRS.from_epsg(4326)
_UTILITY = frozenset(UTILITY_LAYER_BY_CODE.values()) | {"pipe_nodes"}

Box = tuple[float, float, float, float]


def _gap(a: Box, b: Box) -> float:
    """Distance between two plan boxes ``(xmin, ymin, xmax, ymax)`` (0 when they meet)."""
    dx = max(0.0, b[0] - a[2], a[0] - b[2])
    dy = max(0.0, b[1] - a[3], a[1] - b[3])
    return math.hypot(dx, dy)


def _beyond(a: Box, b: Box) -> float:
    """How far box ``a`` reaches beyond box ``b`` (0 when it lies inside)."""
    dx = max(0.0, b[0] - a[0], a[2] - b[2])
    dy = max(0.0, b[1] - a[1], a[3] - b[3])
    return math.hypot(dx, dy)


def _grow(extent: list[float], box: Box) -> None:
    """Grow ``extent`` ``[xmin, ymin, xmax, ymax]`` in place to hold ``box``."""
    extent[0], extent[1] = min(extent[0], box[0]), min(extent[1], box[1])
    extent[2], extent[3] = max(extent[2], box[2]), max(extent[3], box[3])


def _inside(a: Box, b: Box) -> bool:
    return a[0] >= b[0] and a[1] >= b[1] and a[2] <= b[2] and a[3] <= b[3]


def _km(metres: float) -> str:
    return f"{metres / 1000:,.0f} km" if metres >= 10_000 else f"{metres:,.0f} m"


@dataclass(frozen=True)
class AreaOfUse:
    """Where a CRS is meant to be used: ``lonlat`` (west, south, east, north)
    in degrees, ``box`` the same area in the CRS's own coordinates (the box
    around it, drawn with densified edges) and its EPSG name."""

    name: str
    lonlat: Box
    box: Box

    @classmethod
    def of(cls, crs: CRS) -> AreaOfUse | None:
        """The area of use of ``crs``, worked out once per CRS (a third of a
        second: PROJ's database and a densified box)."""
        return _area_of(crs)

    @classmethod
    def _compute(cls, crs: CRS) -> AreaOfUse | None:
        aou = crs.area_of_use
        if aou is None:
            return None
        west, south, east, north = aou.bounds
        try:
            tr = Transformer.from_crs(degrees_of(crs), crs, always_xy=True)
            box = tr.transform_bounds(west, south, east, north, densify_pts=21)
        except ProjError:
            return None
        if not all(math.isfinite(v) for v in box):
            return None
        return cls(aou.name, (west, south, east, north), tuple(box))  # type: ignore[arg-type]

    def describe(self) -> str:
        w, s, e, n = self.lonlat
        return f"lon {w:g}..{e:g}, lat {s:g}..{n:g} ({self.name})"


def degrees_of(crs: CRS) -> CRS:
    """The geographic CRS this module reads ``crs``'s boxes in: the one of its
    own datum, a conversion PROJ sets up in about a millisecond, where WGS 84
    costs it an operation search (EPSG:4546 from WGS 84: 0.48 s, once per
    process and thread); else WGS 84. The datums differ by metres to a few
    hundred metres; placement is judged in kilometres."""
    g = crs.geodetic_crs
    return g if g is not None and g.is_geographic else _WGS84


@functools.lru_cache(maxsize=64)
def _area_of(crs: CRS) -> AreaOfUse | None:
    return AreaOfUse._compute(crs)


def _lonlat(crs: CRS, box: Box) -> Box | None:
    """A plan box of ``crs`` as (west, south, east, north) degrees, or ``None``
    (PROJ's ``errcheck`` fails on some boxes it transforms well, so the
    result's finiteness is the check)."""
    try:
        # a transformer costs PROJ a third of a second to make: one per thread and CRS
        # (twin.crs.make_transformer), not one per import
        out = make_transformer(crs, degrees_of(crs)).transform_bounds(*box, densify_pts=21)
    except ProjError:
        return None
    return tuple(out) if all(math.isfinite(v) for v in out) else None  # type: ignore[return-value]


class PlacementCheck:
    """Screens the features of one import and judges where they landed.

    Use :meth:`screen` around the converter's features (it skips absurd ones
    through ``skip`` and measures the rest), then :meth:`verdict` once the
    converter is done: it raises :class:`~twin.errors.ConversionError` when
    the import is misplaced (unless ``force``) and returns the summary notes.
    """

    def __init__(self, crs: CRS, source: str, *, force: bool = False) -> None:
        self.crs, self.source, self.force = crs, source, force
        self.area = AreaOfUse.of(crs)
        self.kept = 0
        self.extent: list[float] = [math.inf, math.inf, -math.inf, -math.inf]
        self.far: list[str] = []  # kept features far outside the area of use
        self.far_count = 0
        self.wide: list[str] = []  # kept features wider than plausible
        self.wide_count = 0
        self.absurd_count = 0  # skipped for absurd coordinates
        self.absurd_extent: list[float] = [math.inf, math.inf, -math.inf, -math.inf]
        self.absurd_first: str | None = None

    # -- per feature ----------------------------------------------------------
    def _absurd(self, box: Box, out: float, z: tuple[float, float]) -> str:
        """Why coordinates reaching ``out`` metres beyond the area of use with
        heights ``z`` are absurd."""
        if self.area is not None and out > ABSURD_M:
            return (f"coordinates x {box[0]:.6g}..{box[2]:.6g}, y {box[1]:.6g}..{box[3]:.6g} "
                    f"reach {_km(out)} beyond the area of use of {self.crs.name!r}: no "
                    "place on Earth in that CRS")
        if self.area is None and max(abs(v) for v in box) > ABSURD_ABS_M:
            return (f"coordinates x {box[0]:.6g}..{box[2]:.6g}, y {box[1]:.6g}..{box[3]:.6g} "
                    "are no place on Earth")
        lo, hi = Z_RANGE
        return (f"heights {z[0]:.6g}..{z[1]:.6g} m are outside {lo:g}..{hi:g} m "
                "(a no-data value, an overflow or millimetres?)")

    def screen(self, features: Iterable[Feature],
               skip: Callable[[str, str], None]) -> Iterator[Feature]:
        """Pass ``features`` on, skipping (with ``skip(id, reason)``) those
        whose coordinates are absurd and measuring the others; they are
        judged in chunks (of at most :data:`_CHUNK` features, and of meshes
        of about the store's chunk), with numpy, and passed on in their order."""
        chunk: list[Feature] = []
        weight = 0  # mesh vertices held in ``chunk``
        for f in features:
            chunk.append(f)
            weight += mesh_vertices(f)
            if len(chunk) >= _CHUNK or weight >= CHUNK_VERTICES:
                yield from self._screen_chunk(chunk, skip)
                chunk, weight = [], 0
        if chunk:
            yield from self._screen_chunk(chunk, skip)

    def _screen_chunk(self, feats: list[Feature],
                      skip: Callable[[str, str], None]) -> Iterator[Feature]:
        nan6 = (math.nan,) * 6
        b = np.array([f.bbox if f.bbox is not None else nan6 for f in feats], dtype=np.float64)
        has = np.isfinite(b[:, 0])
        boxes = b[:, [0, 1, 3, 4]]
        if self.area is not None:
            a = self.area.box
            dx = np.maximum.reduce([np.zeros(len(b)), a[0] - boxes[:, 0], boxes[:, 2] - a[2]])
            dy = np.maximum.reduce([np.zeros(len(b)), a[1] - boxes[:, 1], boxes[:, 3] - a[3]])
            out = np.hypot(dx, dy)
            absurd = out > ABSURD_M
        else:
            out = np.zeros(len(b))
            absurd = np.abs(boxes).max(axis=1) > ABSURD_ABS_M
        with np.errstate(invalid="ignore"):
            absurd |= (b[:, 2] < Z_RANGE[0]) | (b[:, 5] > Z_RANGE[1])
            far = out > FAR_M
        absurd &= has
        span = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        limits = np.array([MAX_FEATURE_SPAN_M.get(f.layer, math.inf) for f in feats])
        wide = has & ~absurd & (span > limits)
        kept = has & ~absurd
        if kept.any():
            k = boxes[kept]
            _grow(self.extent, (k[:, 0].min(), k[:, 1].min(), k[:, 2].max(), k[:, 3].max()))
        self.kept += int(len(feats) - absurd.sum())
        self.far_count += int((far & kept).sum())
        self.wide_count += int(wide.sum())
        for i in np.flatnonzero((far & kept) | wide)[:2 * _EXAMPLES]:
            f = feats[i]
            if far[i] and len(self.far) < _EXAMPLES:
                self.far.append(f.id)
            if wide[i] and len(self.wide) < _EXAMPLES:
                self.wide.append(f"{f.id} ({f.layer}, {_km(float(span[i]))} across)")
        if not absurd.any():
            yield from feats
            return
        for i, f in enumerate(feats):
            if not absurd[i]:
                yield f
                continue
            x0, y0, x1, y1 = (float(v) for v in boxes[i])
            box: Box = (x0, y0, x1, y1)
            reason = self._absurd(box, float(out[i]), (float(b[i, 2]), float(b[i, 5])))
            self.absurd_count += 1
            self.absurd_first = self.absurd_first or f"{f.id}: {reason}"
            _grow(self.absurd_extent, box)
            skip(f.id, reason)

    # -- the whole import -------------------------------------------------------
    def verdict(self, report: Mapping[str, Any]) -> tuple[list[Note], dict[str, Any]]:
        """Judge the import; raise (unless ``force``) when it is misplaced.

        Returns the summary notes and a JSON-able record for the batch report.
        ``report`` is the converter's report (its georeferencing and CRS are
        quoted as likely causes).
        """
        ex0, ey0, ex1, ey1 = self.extent
        e: Box = (ex0, ey0, ex1, ey1)
        if not math.isfinite(e[0]) and self.absurd_count:
            # every feature with coordinates had absurd ones: what is left is
            # a hierarchy without geometry, and --force cannot make it right
            ax0, ay0, ax1, ay1 = self.absurd_extent
            causes = likely_causes((ax0, ay0, ax1, ay1), self.area,
                                   max(ax1 - ax0, ay1 - ay0), report, False)
            raise ConversionError(
                f"{self.source}: refused: all {self.absurd_count} features with coordinates "
                f"have absurd ones (the first: {self.absurd_first})"
                + (f". Likely: {'; '.join(causes)}" if causes else "")
                + ". Fix the placement (--crs, --origin); --force cannot accept coordinates "
                "that are no place on Earth", source=self.source)
        if not math.isfinite(e[0]):
            return [], {"checked": False, "reason": "no feature has coordinates"}
        crs_name = self.crs.to_string()
        span = max(e[2] - e[0], e[3] - e[1])
        lonlat = _lonlat(self.crs, e)
        record: dict[str, Any] = {
            "extent": [round(v, 3) for v in e], "span_m": round(span, 3),
            "extent_lonlat": [round(v, 6) for v in lonlat] if lonlat else None,
            "area_of_use": list(self.area.lonlat) if self.area else None,
        }
        where = (f"x {e[0]:,.1f}..{e[2]:,.1f}, y {e[1]:,.1f}..{e[3]:,.1f}"
                 + (f" (lon {lonlat[0]:.4f}..{lonlat[2]:.4f}, lat {lonlat[1]:.4f}..{lonlat[3]:.4f})"
                    if lonlat else ""))
        problems: list[str] = []
        notes: list[Note] = []
        gap = _gap(e, self.area.box) if self.area else 0.0
        if self.area is None:
            notes.append(Note(f"placement: {where}, {_km(span)} across; {crs_name} records no "
                              "area of use to check it against"))
        elif gap > FAR_M:
            problems.append(f"the features lie {_km(gap)} outside the area of use of {crs_name}, "
                            f"{self.area.describe()}")
        elif self.far_count:
            problems.append(f"{self.far_count} features reach more than {_km(FAR_M)} beyond "
                            f"the area of use of {crs_name} while the rest is inside "
                            f"(first: {', '.join(self.far)})")
        elif not _inside(e, self.area.box) or (lonlat and not _inside(lonlat, self.area.lonlat)):
            notes.append(Note(f"placement: {where} reaches beyond the area of use of {crs_name}, "
                              f"{self.area.describe()}", "warn"))
        else:
            notes.append(Note(f"placement: {where}, {_km(span)} across, within the area of use "
                              f"of {crs_name}", "ok"))
        if span > MAX_BATCH_SPAN_M:
            problems.append(f"the features span {_km(span)}, more than any one import for a city "
                            f"twin ({_km(MAX_BATCH_SPAN_M)})")
        if self.wide_count:
            problems.append(f"{self.wide_count} features are wider than any building "
                            f"({_km(max(MAX_FEATURE_SPAN_M.values()))}): "
                            f"{', '.join(self.wide)}")
        record["problems"] = problems
        if not problems:
            return notes, record
        causes = likely_causes(e, self.area, span, report, self.wide_count > 0)
        record["likely_causes"] = causes
        text = (f"{'; '.join(problems)}. Extent found: {where} in {crs_name}."
                + (f" Likely: {'; '.join(causes)}." if causes else ""))
        if not self.force:
            raise ConversionError(
                f"{self.source}: refused, placed where it cannot belong: {text} Fix the "
                "placement (--crs, --origin) or pass --force to import it anyway",
                source=self.source)
        record["forced"] = True
        return [Note(f"placement check overridden (--force): {text}", "warn")], record


def likely_causes(extent: Box, area: AreaOfUse | None, span: float,
                  report: Mapping[str, Any], too_wide: bool) -> list[str]:
    """What a misplaced extent most likely means, most telling first."""
    out: list[str] = []
    x0, y0, x1, y1 = extent
    if area is not None and -180 <= x0 and x1 <= 180 and -90 <= y0 and y1 <= 90 \
            and _gap(extent, area.lonlat) < 1.0:
        out.append("the coordinates look like longitude/latitude in degrees read as metres: "
                   "as degrees they fall in the area of use (pass --crs EPSG:4326 or the "
                   "file's geographic CRS)")
    if area is not None:
        if _inside((y0, x0, y1, x1), area.box):
            out.append("easting and northing look swapped")
        if _inside(tuple(v / 1000 for v in extent), area.box):  # type: ignore[arg-type]
            out.append("the coordinates look like millimetres (divided by 1000 they fall in "
                       "the area of use)")
    if (span > MAX_BATCH_SPAN_M or too_wide) and span / 1000 <= MAX_BATCH_SPAN_M \
            and not any("millimetres" in c for c in out):
        out.append(f"the sizes look like millimetres ({_km(span)} across would be "
                   f"{_km(span / 1000)} in metres)")
    if max(abs(x0), abs(x1), abs(y0), abs(y1)) < 100_000 and not out:
        out.append("the coordinates are local (near 0,0): the file carries no georeferencing "
                   "(pass --crs with its real CRS, or --origin for a BIM model)")
    geo = report.get("georeferencing")
    if isinstance(geo, Mapping) and geo.get("method"):
        out.append(f"the model is placed by {geo['method']}")
        for alt in geo.get("alternatives") or []:
            xy = alt.get("twin_xy")
            inside = area is not None and xy is not None and _inside(
                (xy[0], xy[1], xy[0], xy[1]), area.box)
            at = f"x {xy[0]:,.1f}, y {xy[1]:,.1f}" if xy else "outside this CRS"
            out.append(f"the file's {alt['method']} would place it at {at}"
                       + (" (inside the area of use)" if inside else "")
                       + " (--origin places it yourself)")
    elif report.get("source_crs"):
        out.append(f"the source CRS is {report['source_crs']} (from "
                   f"{report.get('crs_from', '?')}): is it right? (--crs overrides it)")
    return out
