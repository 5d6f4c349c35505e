"""IFC4.3 alignments as 3D polylines on the road centreline layer.

An ``IfcAlignment`` is the reference line of a road, railway or other linear
work. IFC4.3 describes it twice:

* as *design parameters*: an ``IfcAlignmentHorizontal`` layout (lines,
  circular arcs, clothoids with their lengths and radii), an
  ``IfcAlignmentVertical`` layout (constant gradients and parabolic arcs
  over the distance along the horizontal) and possibly an
  ``IfcAlignmentCant``, each nested in the alignment (``IfcRelNests``) and
  made of ``IfcAlignmentSegment`` elements;
* as *geometry*: a ``FootPrint`` (plan, ``IfcCompositeCurve``) and an
  ``Axis`` representation (3D, ``IfcGradientCurve`` or
  ``IfcSegmentedReferenceCurve``) whose curves ifcopenshell evaluates.

Each alignment becomes a ``LineString Z`` (its 3D axis, else its plan
without heights) on ``road_centrelines``, the twin's layer of linear
references of roads and railways. Each segment gets the piece of that line
between its distances along (the horizontal ones by their cumulative
lengths, the vertical and cant ones by ``StartDistAlong`` and
``HorizontalLength``), its design parameters as attributes and the layout
as its parent; the layouts themselves are features without geometry of
their own. Stationing referents (``IfcReferent``) are points on ``generic``
where their placement holds a position.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point
from shapely.ops import substring

from .ifc_semantics import is_any

#: Classes of an alignment and its parts.
ALIGNMENT_CLASSES = ("IfcAlignment", "IfcAlignmentHorizontal", "IfcAlignmentVertical",
                     "IfcAlignmentCant", "IfcAlignmentSegment")
LAYER = "road_centrelines"
#: Curve points closer than this to the line through their neighbours are
#: dropped (ifcopenshell evaluates curves every 0.5 m, straights included).
SIMPLIFY_M = 0.002

_CURVES_3D = ("IfcGradientCurve", "IfcSegmentedReferenceCurve")


def is_alignment_part(element: Any) -> bool:
    """Whether ``element`` is an alignment, one of its layouts or a segment."""
    return is_any(element, ALIGNMENT_CLASSES)


def by_type(model: Any, cls: str) -> list[Any]:
    """``model.by_type(cls)``, empty where the schema has no such class
    (IFC2X3 and IFC4 have no alignments)."""
    try:
        return list(model.by_type(cls))
    except RuntimeError:
        return []


def _evaluate(item: Any) -> np.ndarray:
    """``(n, 3)`` metres along the curve ``item``, in its representation's
    coordinates (ifcopenshell converts the project's length unit)."""
    import ifcopenshell.geom

    # a curve's shape has verts and edges (the stubs type the union of every shape kind)
    shape: Any = ifcopenshell.geom.create_shape(ifcopenshell.geom.settings(), item)
    verts = np.asarray(shape.verts, dtype=np.float64).reshape(-1, 3)
    edges = np.asarray(shape.edges, dtype=np.int64).reshape(-1, 2)
    if len(edges):  # in the order the edges run
        order = np.concatenate([edges[:, 0], edges[-1:, 1]])
        verts = verts[order]
    return verts


def _placement(element: Any, unit: float) -> np.ndarray:
    import ifcopenshell.util.placement as up

    m = (up.get_local_placement(element.ObjectPlacement)
         if element.ObjectPlacement is not None else np.eye(4))
    m = np.array(m, dtype=np.float64)
    m[:3, 3] *= unit
    return m


def alignment_curves(alignment: Any, unit: float) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The alignment's plan curve and 3D axis, ``(n, 3)`` local metres each
    (``None`` where the file has none)."""
    rep = alignment.Representation
    if rep is None:
        return None, None
    plan = axis = None
    m = _placement(alignment, unit)
    for r in rep.Representations:
        for item in r.Items:
            if not item.is_a("IfcCurve"):
                continue
            pts = _evaluate(item)
            if len(pts) < 2:
                continue
            world = pts @ m[:3, :3].T + m[:3, 3]
            if item.is_a() in _CURVES_3D or (r.RepresentationType or "") == "Curve3D":
                axis = axis if axis is not None else world
            else:
                plan = plan if plan is not None else world
    return plan, axis


def _nested(element: Any) -> list[Any]:
    """The elements nested in ``element``, in their order."""
    out: list[Any] = []
    for rel in getattr(element, "IsNestedBy", ()) or ():
        out.extend(rel.RelatedObjects)
    return out


def _design(segment: Any) -> dict[str, Any]:
    """A segment's design parameters as plain attributes (``design.<name>``)."""
    d = getattr(segment, "DesignParameters", None)
    if d is None:
        return {}
    out: dict[str, Any] = {"segment_type": d.is_a()}
    for key, value in d.get_info(recursive=False, include_identifier=False).items():
        if key == "type" or value is None:
            continue
        if isinstance(value, (int, float, str, bool)):
            out[f"design.{key}"] = value
    return out


def segment_ranges(layout: Any) -> dict[int, tuple[float, float]]:
    """Step id -> (start, end) distance along the horizontal of each segment
    of a layout (zero-length closing segments left out)."""
    out: dict[int, tuple[float, float]] = {}
    along = 0.0
    for seg in _nested(layout):
        d = getattr(seg, "DesignParameters", None)
        if d is None:
            continue
        if d.is_a("IfcAlignmentHorizontalSegment"):
            length = abs(float(d.SegmentLength or 0.0))
            start = along
            along += length
        elif hasattr(d, "StartDistAlong") and hasattr(d, "HorizontalLength"):
            start, length = float(d.StartDistAlong or 0.0), float(d.HorizontalLength or 0.0)
        else:
            continue
        if length > 0:
            out[seg.id()] = (start, start + length)
    return out


def simplify_3d(points: np.ndarray, tolerance: float) -> np.ndarray:
    """``(n, 3)`` polyline points less those that add nothing in plan nor in
    profile: a point stays where Douglas-Peucker (shapely) keeps it in the
    plan ``(x, y)`` or in the profile ``(distance along, z)``. Simplifying
    the plan alone would flatten a crest on a straight road.

    >>> pts = np.array([[0, 0, 0], [1, 0, 1], [2, 0, 0], [3, 0, 0]], dtype=float)
    >>> simplify_3d(pts, 0.01).tolist()
    [[0.0, 0.0, 0.0], [1.0, 0.0, 1.0], [2.0, 0.0, 0.0], [3.0, 0.0, 0.0]]
    >>> simplify_3d(pts[[0, 2, 3]], 0.01).tolist()
    [[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]
    """
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 3:
        return pts
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts[:, :2], axis=0).T))])
    keep = np.zeros(len(pts), dtype=bool)
    keep[[0, -1]] = True
    for xy in (pts[:, :2], np.column_stack([along, pts[:, 2]])):
        kept = shapely.get_coordinates(shapely.simplify(LineString(xy), tolerance))
        # the kept points are points of the line: find them by exact match
        index = {tuple(c): i for i, c in enumerate(xy.tolist())}
        keep[[index[tuple(c)] for c in kept.tolist() if tuple(c) in index]] = True
    return pts[keep]


def _line(points: np.ndarray, with_z: bool) -> LineString:
    if with_z:
        return LineString(simplify_3d(points, SIMPLIFY_M))
    return shapely.simplify(LineString(points[:, :2]), SIMPLIFY_M)


class Alignments:
    """The geometry of every alignment of a model, placed in the twin.

    ``lines`` maps the step id of each alignment and segment to its line;
    ``failed`` the alignments whose curves ifcopenshell could not evaluate,
    with the reason.
    """

    def __init__(self, model: Any, unit: float, placer: Any) -> None:
        self.lines: dict[int, LineString] = {}
        self.attributes: dict[int, dict[str, Any]] = {}
        self.failed: dict[int, str] = {}
        for alignment in by_type(model, "IfcAlignment"):
            try:
                plan, axis = alignment_curves(alignment, unit)
            except RuntimeError as exc:
                self.failed[alignment.id()] = f"its curve could not be evaluated: {exc}"
                continue
            local = axis if axis is not None else plan
            if local is None:
                self.failed[alignment.id()] = "no FootPrint or Axis curve"
                continue
            line = _line(placer(local), axis is not None)
            self.lines[alignment.id()] = line
            self.attributes[alignment.id()] = {
                "length_m": round(line.length, 3), "has_heights": axis is not None}
            plan_line = _line(placer(plan), False) if plan is not None else None
            for layout in _nested(alignment):
                for sid, (a, b) in segment_ranges(layout).items():
                    # a piece with heights where the 3D axis reaches, else in plan
                    base = line if line.length >= b - 1e-6 or plan_line is None else plan_line
                    piece = substring(base, a, min(b, base.length))
                    if piece.geom_type == "LineString" and not piece.is_empty:
                        self.lines[sid] = piece
                    self.attributes[sid] = {"start_m": round(a, 4), "length_m": round(b - a, 4)}


def referent_point(referent: Any, unit: float, placer: Any) -> Point | None:
    """Where a referent lies, from the position its linear placement caches
    (``IfcLinearPlacement.CartesianPosition``); ``None`` without one."""
    pl = referent.ObjectPlacement
    pos = getattr(pl, "CartesianPosition", None) if pl is not None else None
    if pos is None or pos.Location is None:
        return None
    xyz = (list(pos.Location.Coordinates) + [0.0, 0.0])[:3]
    p = placer(np.array([xyz], dtype=np.float64) * unit)[0]
    return Point(p) if all(math.isfinite(v) for v in p) else None


def alignment_attributes(element: Any, found: Alignments) -> dict[str, Any]:
    """Attributes of an alignment part: its design parameters and measures."""
    out = _design(element)
    out.update(found.attributes.get(element.id(), {}))
    return out
