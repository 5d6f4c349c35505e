"""An IfcBuilding as a twin building: LoD1 envelope, storeys, GIS links.

The envelope is what a city model (CityGML, CityJSON, 3D BAG) would hold
for the building at LoD1: its ground projection extruded to one roof
height. For a BIM model both are derived from the elements:

* **Footprint**: the union of the ground projections of the building's
  elements that stand more than a metre above its ground floor (furniture,
  spaces and distribution elements left out; paving, terraces, ground slabs
  and foundations beside the walls do not widen it), with hairline gaps
  between walls closed.
* **Base**: the lowest point of those elements (a basement's floor).
* **Top**: the 70th percentile of the building's top surface, sampled on a
  grid over the footprint (:mod:`converters.top_surface`) where it is
  roofed (2 m or more above the ground floor), as 3D BAG's LoD1.2 blocks
  do. The highest point would make the block as tall as a gable wall, a
  chimney or a lift shaft; the eaves alone would drop every attic. For a
  flat roof the percentile is the roof; for a pitched roof it lies between
  eaves and ridge (CityGML 3.0 calls such a height
  ``generalRoof``). The highest point is kept as ``roof_max_m``, and
  ``height`` is measured to it from the ground floor (CityGML's
  ``measuredHeight``).

Storeys count the building's IfcBuildingStorey elevations at or above the
ground floor; storeys more than half a metre below it are
``storeys_below``.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import shapely

from twin.attributes import coerce_typed
from twin.conflation import match_footprint
from twin.errors import GeometryError, TwinError
from twin.geometry import extrude_footprint
from twin.model import Feature, Mesh

from .base import ConversionContext
from .plan_union import triangle_unions
from .top_surface import grid_in, top_heights

#: A storey lower than this below elevation 0 counts as below ground.
GROUND_TOLERANCE = 0.5
#: Elements that do not shape a building's envelope.
NOT_ENVELOPE = ("IfcFurnishingElement", "IfcSpace", "IfcDistributionElement",
                "IfcFurniture", "IfcSystemFurnitureElement")
#: The percentile of the top surface that is the LoD1 roof height.
ROOF_PERCENTILE = 70.0
#: A top surface this high above the ground floor is a roof (a storey's
#: height, less a margin); lower ones are paving, terraces, ground slabs.
ROOFED = 2.0
#: Elements whose top stays this close to the ground floor (paving, ground
#: slabs, foundations) do not widen the footprint.
ABOVE_GROUND = 1.0
#: Most grid cells sampled over a footprint (the cell grows with the building).
_MAX_CELLS = 40_000

#: Most faces whose normals :func:`plan_outlines` finds in one numpy pass
#: (larger arrays cost more in page faults than they save in calls).
_BATCH_FACES = 50_000

#: Most vertices of envelope triangles read back from disk at once.
_READ_VERTICES = 100_000

#: Pset_BuildingCommon property -> typed twin attribute (both kept).
TYPED_FROM_PSET = {"Pset_BuildingCommon.YearOfConstruction": "year_built",
                   "Pset_BuildingCommon.OccupancyType": "function"}


def plan_outline(vertices: np.ndarray, faces: np.ndarray) -> Any:
    """The ground projection of one mesh: see :func:`plan_outlines`."""
    return plan_outlines([(vertices, faces)])[0]


def plan_outlines(meshes: list[tuple[np.ndarray, np.ndarray]]) -> list[Any]:
    """The ground projections of meshes ``(vertices (n, 3), faces (m, 3))``,
    all in one pass: the union of the shadows of each mesh's upward-facing
    triangles (a closed solid's downward faces cast the same shadow; a mesh
    of eight such triangles or fewer, a box or an open plate, unites its
    upward and its downward ones apart, then the two). Meshes of more than
    400 such triangles (curved furniture, fittings) get their convex hull
    instead, to bound the time. The unions come from
    :func:`converters.plan_union.triangle_unions` (normalised polygons); a
    mesh without a shadow gives ``None``."""
    out: list[Any] = [None] * len(meshes)
    if not meshes:
        return out
    n = len(meshes)
    count = np.zeros(n, np.int64)
    ups = np.zeros(n, np.int64)
    xys, tris, groups = [], [], []
    base = 0
    for lo, hi in _batches([len(f) for _, f in meshes], _BATCH_FACES):
        part = meshes[lo:hi]
        n_verts = np.array([len(v) for v, _ in part])
        n_faces = np.array([len(f) for _, f in part])
        xy = np.concatenate([v[:, :2] for v, _ in part])
        faces = np.concatenate([f for _, f in part]).astype(np.int64) \
            + np.repeat(np.cumsum(n_verts) - n_verts, n_faces)[:, None]
        owner = np.repeat(np.arange(hi - lo), n_faces)  # in the batch
        p0, p1, p2 = xy[faces[:, 0]], xy[faces[:, 1]], xy[faces[:, 2]]  # in plan only
        normal_z = ((p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1])
                    - (p2[:, 0] - p0[:, 0]) * (p1[:, 1] - p0[:, 1]))
        keep = np.abs(normal_z) > 2e-6
        upward = normal_z > 2e-6
        count[lo:hi] = np.bincount(owner[keep], minlength=hi - lo)
        ups[lo:hi] = np.bincount(owner[upward], minlength=hi - lo)
        hull = (count[lo:hi] == 0) | (count[lo:hi] > 400)
        # more than eight: the upward triangles; eight or fewer: up and down
        # apart (group 2 i + 1 for those facing down), then the two
        only_up = (count[lo:hi] > 8) & (ups[lo:hi] > 0)
        pick = np.where(only_up[owner], upward, keep) & ~hull[owner]
        xys.append(xy)
        tris.append(faces[pick] + base)
        groups.append(2 * (owner[pick] + lo) + ~upward[pick])
        base += len(xy)
    hull = (count == 0) | (count > 400)
    unions = triangle_unions(np.concatenate(xys), np.concatenate(tris), np.concatenate(groups),
                             2 * n)
    both = ~((count > 8) & (ups > 0)) & ~hull
    for i in range(n):
        out[i] = _up_and_down(unions[2 * i], unions[2 * i + 1]) if both[i] else unions[2 * i]
    hulls = np.flatnonzero(hull)
    if len(hulls):
        # the hull of one line through the points: shapely makes no point
        # object per vertex for it (a multipoint would: 4 times the time)
        lines = [shapely.linestrings(meshes[i][0][:, :2]) if len(meshes[i][0]) > 1 else
                 shapely.points(meshes[i][0][0, :2]) for i in hulls.tolist()]
        for i, h in zip(hulls.tolist(), shapely.convex_hull(lines)):
            out[i] = h if h.geom_type == "Polygon" else None
    return out


def _batches(sizes: list[int], most: int) -> Iterator[tuple[int, int]]:
    """Consecutive ranges ``(lo, hi)`` of items whose ``sizes`` add up to
    about ``most`` (an item larger than that alone)."""
    lo, total = 0, 0
    for i, size in enumerate(sizes):
        if total and total + size > most:
            yield lo, i
            lo, total = i, 0
        total += size
    if lo < len(sizes):
        yield lo, len(sizes)


def _up_and_down(up: Any, down: Any) -> Any:
    """The union of a small mesh's upward and downward shadows: either where
    the other is missing, one where both are the same (a box's top and
    bottom), else GEOS's union of the two, normalised."""
    if down is None or up is None:
        return up if down is None else down
    if shapely.equals_exact(up, down, 0.0):
        return up
    return shapely.normalize(shapely.union(up, down))


def as_polygons(geom: Any) -> Any:
    """``geom`` as a Polygon or MultiPolygon (its polygon parts), or ``None``."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [g for g in getattr(geom, "geoms", []) if g.geom_type == "Polygon"]
    return shapely.MultiPolygon(polys) if polys else None


class EnvelopeParts:
    """What one building's LoD1 envelope needs of its elements, kept small
    so that an import streams: each element's ground projection and height
    range in memory, its triangles in a temporary file, read back a chunk
    at a time for the top surface. Parts are used in the order of their
    ``rank`` (the model's order), whatever order they came in."""

    def __init__(self) -> None:
        self.ranks: list[int] = []
        self.outlines: list[Any] = []
        self.zmin: list[float] = []
        self.zmax: list[float] = []
        #: ``(offset, vertices, faces)`` of each part's triangles in the file
        self.spans: list[tuple[int, int, int]] = []
        self.plan_lo = np.full(2, np.inf)
        self.plan_hi = np.full(2, -np.inf)
        self._file: Any = None

    def __len__(self) -> int:
        return len(self.ranks)

    def add(self, rank: int, mesh: Mesh, outline: Any) -> None:
        """Keep what the envelope needs of one element's ``mesh``."""
        v = np.ascontiguousarray(mesh.vertices, dtype=np.float64)
        f = np.ascontiguousarray(mesh.faces, dtype=np.int32)
        if self._file is None:
            self._file = tempfile.TemporaryFile()
        offset = self._file.seek(0, 2)
        self._file.write(v.tobytes())
        self._file.write(f.tobytes())
        if len(f):
            used = np.zeros(len(v), dtype=bool)
            used[f.ravel()] = True
            xy = v[:, :2] if used.all() else v[used, :2]  # the vertices of its triangles
            self.plan_lo = np.minimum(self.plan_lo, xy.min(axis=0))
            self.plan_hi = np.maximum(self.plan_hi, xy.max(axis=0))
        self.ranks.append(rank)
        self.outlines.append(outline)
        self.zmin.append(float(v[:, 2].min()))
        self.zmax.append(float(v[:, 2].max()))
        self.spans.append((offset, len(v), len(f)))

    def ordered(self) -> None:
        """Put the parts in the order of their ranks."""
        order = np.argsort(np.asarray(self.ranks, dtype=np.int64), kind="stable").tolist()
        for name in ("ranks", "outlines", "zmin", "zmax", "spans"):
            seq = getattr(self, name)
            setattr(self, name, [seq[i] for i in order])

    @property
    def plan_scale(self) -> float:
        """The plan extent of all the triangles (as :func:`top_heights` measures it)."""
        if not np.isfinite(self.plan_lo).all():
            return 1.0
        return float(np.maximum((self.plan_hi - self.plan_lo).max(), 1.0))

    def triangles(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(vertices (n, 3), faces (m, 3))`` chunks of the parts' meshes."""
        group: list[tuple[int, int, int]] = []
        count = 0
        for span in self.spans:
            group.append(span)
            count += span[1]
            if count >= _READ_VERTICES:
                yield self._read(group)
                group, count = [], 0
        if group:
            yield self._read(group)

    def _read(self, spans: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        verts, faces, base = [], [], 0
        for offset, nv, nf in spans:
            self._file.seek(offset)
            raw = self._file.read(24 * nv + 12 * nf)
            verts.append(np.frombuffer(raw, np.float64, 3 * nv).reshape(-1, 3))
            faces.append(np.frombuffer(raw, np.int32, 3 * nf, 24 * nv).reshape(-1, 3) + base)
            base += nv
        return np.concatenate(verts), np.concatenate(faces)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def roof_height(footprint: Any, parts: EnvelopeParts, ground: float) -> float | None:
    """The :data:`ROOF_PERCENTILE` of the top surface of the ``parts``
    over ``footprint``, where it is roofed (at least :data:`ROOFED` above
    ``ground``: paving, terraces and ground slabs outside the walls are not
    the roof); ``None`` when nothing is. The parts' triangles are read a
    chunk at a time; the top surface is the highest of the chunks'."""
    x0, y0, x1, y1 = footprint.bounds
    cell = max(0.25, float(np.sqrt(max((x1 - x0) * (y1 - y0), 1e-9) / _MAX_CELLS)))
    pts = grid_in(footprint, cell)
    if len(pts) == 0:
        return None
    z = np.full(len(pts), np.nan)
    scale = parts.plan_scale
    for verts, faces in parts.triangles():
        z = np.fmax(z, top_heights(verts, faces, pts, cell=cell, plan_scale=scale))
    z = z[np.isfinite(z) & (z >= ground + ROOFED)]
    return percentile(z, ROOF_PERCENTILE) if len(z) else None


def percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear, of a non-empty 1-D array) as numpy
    computes it, without the ``np.unique`` inside it that imports
    ``numpy.ma`` on first use (20 ms of CPU in an import process).

    >>> percentile(np.array([1.0, 2.0, 4.0, 8.0]), 75)
    5.0
    """
    s = np.sort(np.asarray(values, dtype=np.float64))
    at = (len(s) - 1) * (q / 100)
    lo = min(int(math.floor(at)), len(s) - 1)
    hi = min(lo + 1, len(s) - 1)
    t = at - lo
    a, b = s[lo], s[hi]
    d = b - a
    return float(b - d * (1 - t) if t >= 0.5 else a + d * t)  # numpy's lerp


def _conflate(feature_id: str, name: str | None, footprint, attrs: dict,
              ctx: ConversionContext) -> None:
    """Link the BIM building to the GIS buildings it stands on (see twin.conflation)."""
    m = match_footprint(footprint, ctx.buildings_near(footprint))  # type: ignore[misc]
    rec = {"bim": feature_id, "name": name, "gis": list(m.gis_ids), "iou": m.iou,
           "partial": [list(p) for p in m.partial]}
    if m.linked:
        attrs.update(same_as=list(m.gis_ids), conflation_iou=m.iou, map_geometry="bim")
    if m.linked or m.partial:
        ctx.report.setdefault("conflation", []).append(rec)


def _typed_from_pset(attrs: dict, feature_id: str, ctx: ConversionContext) -> None:
    for src, dst in TYPED_FROM_PSET.items():
        value = attrs.get(src)
        if value in (None, "") or dst in attrs:
            continue
        try:
            attrs[dst] = coerce_typed(dst, value, feature_id)
        except TwinError:
            ctx.report.setdefault("warnings", []).append(
                f"{feature_id}: {src}={value!r} does not fit the typed attribute {dst}; "
                f"kept as {src} only")


def building_feature(feature_id: str, name: str | None, parent: str | None, source_id: str,
                     attrs: dict[str, Any], parts: EnvelopeParts,
                     storey_elevations: list[float], ground_offset: float,
                     ctx: ConversionContext) -> Feature:
    """The building with its LoD1 envelope (see the module docs).

    ``parts`` holds the meshes and ground projections of the elements that
    shape the envelope; ``storey_elevations`` the
    storeys' elevations (metres, model heights); ``ground_offset`` the
    height in the twin of model height 0.
    """
    elevs = sorted(storey_elevations)
    if elevs:
        attrs["storeys"] = sum(1 for e in elevs if e >= -GROUND_TOLERANCE)
        below = sum(1 for e in elevs if e < -GROUND_TOLERANCE)
        if below:
            attrs["storeys_below"] = below
    meshes_out: dict[str, Mesh] = {}
    footprint = None
    parts.ordered()
    outlines = parts.outlines
    zmin = min(parts.zmin, default=np.nan)
    zmax = max(parts.zmax, default=np.nan)
    above = [e for e in elevs if e >= -GROUND_TOLERANCE]
    # the ground floor's level (the lowest point where there are no storeys)
    ground = max(zmin, ground_offset + above[0]) if above else zmin
    # the footprint is what stands above the ground floor: paving, terraces
    # and foundations next to the walls do not widen it
    standing = [o for o, top in zip(outlines, parts.zmax) if top > ground + ABOVE_GROUND]
    shadows = [o for o in (standing or outlines) if o is not None and not o.is_empty]
    if shadows:
        merged = shapely.union_all(shadows, grid_size=1e-3)
        # close the hairline gaps between walls, then drop slivers; normalised
        # after the simplification, so that the bytes do not depend on where
        # the simplified rings start
        merged = merged.buffer(0.05, join_style="mitre").buffer(-0.05, join_style="mitre")
        footprint = as_polygons(shapely.normalize(shapely.simplify(merged, 0.01)))
    if footprint is not None and len(parts):
        top = roof_height(footprint, parts, ground)
        top = zmax if top is None else top
        if top > zmin:
            attrs["height"] = round(zmax - ground, 3)
            attrs["base_m"], attrs["top_m"] = round(zmin, 3), round(top, 3)
            attrs["roof_max_m"] = round(zmax, 3)
            try:
                meshes_out["1"] = extrude_footprint(footprint, zmin, top)
            except GeometryError as exc:
                ctx.skip(feature_id, f"building envelope could not be built: {exc}")
    attrs["envelope"] = (f"LoD1 from the ground projection of the BIM elements, up to the "
                         f"{ROOF_PERCENTILE:g}th percentile of their top surface")
    _typed_from_pset(attrs, feature_id, ctx)
    if footprint is not None and ctx.buildings_near is not None:
        _conflate(feature_id, name, footprint, attrs, ctx)
    return Feature(id=feature_id, layer="buildings", type="Building", name=name,
                   parent=parent, attributes=attrs, footprint=footprint, meshes=meshes_out,
                   source_id=source_id)
