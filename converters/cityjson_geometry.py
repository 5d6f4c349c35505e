"""City objects' geometry to twin meshes and footprints, many objects at once.

A chunk of city objects is read in one pass of plain Python that only
flattens their boundaries (ring sizes, vertex indices, semantic values) into
lists; everything after that runs over numpy arrays for the whole chunk:
index checks, ring cleaning, triangulation (:func:`triangulate_rings`), one
mesh per object and LoD with its own vertices, semantic labels per face,
bounds, and footprints (:mod:`converters.cityjson_footprints`).

**One geometry per LoD.** CityJSON lets an object carry several geometries
of the same LoD (a CityGML conversion often writes both an
``lod2MultiSurface`` with semantic surfaces and an ``lod2Solid`` of the same
faces). Merged, they would double every area and volume, so one is kept:
the one with semantic surfaces, else the one with more surfaces, else the
first in the file; the others are counted and named in the report.

An object whose geometry cannot be read (an index out of range, a ring that
is not a list, a semantic value pointing nowhere) is skipped with its reason
(:mod:`converters.cityjson_structure` puts it in words); the other objects of
the chunk are not affected. A failure that the file does not explain is a
bug of this module and propagates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import shapely

from twin.model import Mesh, lod_key

from .cityjson_arrays import Arrays, Gather, checked_arrays
from .cityjson_footprints import (
    footprint_polygons,
    object_footprints,
    polygon_plan_areas,
)
from .cityjson_structure import LEVELS, GeometryUnreadable, geometry_problem
from .plan_union import ring_plan_areas
from .ragged import member, offsets, run_starts
from .triangulate import TriangulationReport, triangulate_rings

_SURFACE_DEPTH = {"MultiSurface": 1, "CompositeSurface": 1, "Solid": 2, "MultiSolid": 3,
                  "CompositeSolid": 3}

#: Examples of left-out geometries kept for the report.
_EXAMPLES = 20


@dataclass
class ObjectGeometry:
    """What one city object's geometry became."""

    meshes: dict[str, Mesh] = field(default_factory=dict)
    footprint: Any = None  # a shapely geometry (plan), or None
    lines: Any = None  # points and lines (MultiPoint / MultiLineString), or None
    bbox: tuple | None = None


@dataclass
class VertexSet:
    """The vertices a chunk's boundaries index: ``twin`` in the twin CRS and
    ``source`` before reprojection (geometry instances are placed there)."""

    twin: np.ndarray
    source: np.ndarray


@dataclass
class GeometryReport:
    """What the geometry of a whole file showed besides its triangulation:
    geometries with appearances (not imported), and geometries left out
    (another of the same LoD kept, or a type CityJSON does not define),
    counted by reason with the first examples."""

    with_appearance: int = 0
    left_out: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def leave_out(self, reason: str, example: str) -> None:
        self.left_out[reason] = self.left_out.get(reason, 0) + 1
        if len(self.examples) < _EXAMPLES:
            self.examples.append(example)


#: Why a geometry was left out, as the report counts it.
SAME_LOD = "another geometry of the same LoD kept"
UNKNOWN_TYPE = "not a CityJSON geometry type"


def surfaces(geom: dict) -> tuple[list, list]:
    """The polygons of a surface geometry and their semantic values."""
    gtype = geom.get("type")
    depth = _SURFACE_DEPTH.get(gtype) if isinstance(gtype, str) else None
    if depth is None:
        return [], []
    b = geom.get("boundaries", [])
    values = (geom.get("semantics") or {}).get("values")
    if depth == 1:
        polys = list(b)
        sem = list(values) if isinstance(values, list) else [None] * len(polys)
    elif depth == 2:
        polys = list(chain.from_iterable(b))
        sem = _flatten_values(values, [len(s) for s in b])
    else:
        polys = [p for solid in b for shell in solid for p in shell]
        if isinstance(values, list):
            sem = []
            for di, solid in enumerate(b):
                dv = values[di] if di < len(values) else None
                sem.extend(_flatten_values(dv, [len(s) for s in solid]))
        else:
            sem = [None] * len(polys)
    if len(sem) != len(polys):
        sem = (sem + [None] * len(polys))[:len(polys)]
    return polys, sem


def _flatten_values(values: Any, shell_sizes: list[int]) -> list:
    if not isinstance(values, list):
        return [None] * sum(shell_sizes)
    out: list = []
    for si, n in enumerate(shell_sizes):
        sv = values[si] if si < len(values) else None
        out.extend(sv if isinstance(sv, list) else [None] * n)
    return out


@dataclass
class _Surface:
    """One surface geometry of an object, read but not yet gathered."""

    k: int  # its index in the object's geometry list
    geom: dict  # the template's geometry, for a GeometryInstance
    gtype: str
    lod: str
    polys: list
    sem: list
    base: int  # where its vertex indices start in the chunk's vertices
    count: int  # how many vertices they may index
    semantic: bool  # whether it has semantic surfaces

    def describe(self) -> str:
        return (f"geometry {self.k} ({self.gtype}, {len(self.polys)} surfaces"
                f"{', with semantics' if self.semantic else ''})")


def one_per_lod(found: list[_Surface]) -> tuple[list[_Surface], list[tuple[_Surface, _Surface]]]:
    """The surface geometries kept, one per LoD (the one with semantic
    surfaces, else the one with more surfaces, else the first), and the
    others as ``(left out, kept instead)``."""
    best: dict[str, _Surface] = {}
    for s in found:
        b = best.get(s.lod)
        if b is None or (s.semantic, len(s.polys)) > (b.semantic, len(b.polys)):
            best[s.lod] = s
    kept = [s for s in found if best[s.lod] is s]
    return kept, [(s, best[s.lod]) for s in found if best[s.lod] is not s]


def chunk_geometry(items: list[tuple[str, dict, int, int]], vertices: VertexSet, model: Any,  # noqa: C901,E501 - one pass over a chunk, kept whole for speed
                   tri: TriangulationReport, report: GeometryReport
                   ) -> tuple[list[ObjectGeometry | None], dict[int, str]]:
    """Meshes, footprints and lines of a chunk of city objects.

    ``items`` are ``(id, object, vertex base, vertex count)``: an object's
    boundaries index ``vertices`` from its base (a CityJSONSeq chunk stacks
    the vertices of several features). ``model`` places geometry instances
    (``instance``, ``templates``) and names the file. Returns one
    :class:`ObjectGeometry` per item (``None`` for skipped ones) and the
    reasons of the skipped ones, by item index."""
    g = Gather()
    groups: dict[tuple[int, str], int] = {}
    group_labels: list[list[str]] = []
    extra: list[np.ndarray] = []
    n_extra = 0
    n_main = len(vertices.twin)
    lines: dict[int, list] = {}
    skipped: dict[int, str] = {}
    for oi, (oid, obj, vbase, vcount) in enumerate(items):
        mark = g.mark()
        extra_mark = (len(extra), n_extra)
        with_appearance = 0
        left_out: list[tuple[str, str]] = []
        k, gtype = -1, None  # where a failure happened
        try:
            geoms = obj.get("geometry") or []
            if not isinstance(geoms, list):
                raise GeometryUnreadable("\"geometry\" is not a list")
            found: list[_Surface] = []
            for k, geom in enumerate(geoms):
                gtype = None
                if not isinstance(geom, dict):
                    raise GeometryUnreadable("not a JSON object")
                if "material" in geom or "texture" in geom:
                    with_appearance += 1
                base, count = vbase, vcount
                gverts = None
                if geom.get("type") == "GeometryInstance":
                    geom, gverts = model.instance(geom, vertices.source, vbase, vcount)
                    base, count = n_main + n_extra, len(gverts)
                    extra.append(gverts)
                    n_extra += len(gverts)
                gtype = geom.get("type")
                if not isinstance(gtype, str):
                    left_out.append((UNKNOWN_TYPE, f"{oid!r}: geometry {k} has no type "
                                                   f"({gtype!r:.40} instead)"))
                    gtype = None
                    continue
                if gtype in ("MultiPoint", "MultiLineString"):
                    own = gverts if gverts is not None else vertices.twin[vbase:vbase + vcount]
                    lines.setdefault(oi, []).extend(_points_and_lines(geom, own))
                    continue
                if gtype not in LEVELS:
                    left_out.append((UNKNOWN_TYPE, f"{oid!r}: geometry {k} of type {gtype!r} "
                                                   "left out (not a CityJSON geometry type)"))
                    continue
                polys, sem = surfaces(geom)
                if polys:
                    semantics = geom.get("semantics") or {}
                    found.append(_Surface(k, geom, gtype, str(geom.get("lod", "0")), polys, sem,
                                          base, count, bool(semantics.get("surfaces"))))
            kept, dropped = one_per_lod(found)
            for s in kept:
                k, gtype = s.k, s.gtype
                _gather(g, s, oi, groups, group_labels)
            for s, instead in dropped:
                left_out.append((SAME_LOD, f"{oid!r}: LoD {s.lod}: {s.describe()} left out, "
                                           f"{instead.describe()} kept"))
        except GeometryUnreadable as exc:
            why = str(exc)
        except (IndexError, KeyError, TypeError, ValueError, AttributeError):
            # Python's words for a file not nested as CityJSON says, or a bug here:
            # only what the explicit walk finds in the file makes a reason to skip
            problem = geometry_problem(obj.get("geometry"), getattr(model, "templates", None))
            if problem is None:
                raise
            k, gtype, why = problem
        else:
            report.with_appearance += with_appearance
            for reason, example in left_out:
                report.leave_out(reason, f"{model.path.name}: object {example}")
            continue
        g.rollback(mark)
        del extra[extra_mark[0]:]
        n_extra = extra_mark[1]
        lines.pop(oi, None)
        where = "" if k < 0 else f"geometry {k}{f' ({gtype})' if gtype else ''}: "
        skipped[oi] = f"geometry cannot be read: {where}{why}"
    all_twin = np.concatenate([vertices.twin, *extra]) if extra else vertices.twin
    arrays = checked_arrays(g, skipped)
    out: list[ObjectGeometry | None] = [None if oi in skipped else ObjectGeometry()
                                        for oi in range(len(items))]
    if arrays is not None:
        _meshes(arrays, all_twin, groups, group_labels, items, model, tri, out, skipped)
    for oi, parts in lines.items():
        o = out[oi]
        if o is not None:
            o.lines = parts[0] if len(parts) == 1 else shapely.union_all(parts)
    for o in out:
        if o is not None and o.footprint is None and o.lines is not None:
            o.footprint = o.lines
    return out, skipped


def _gather(g: Gather, s: _Surface, oi: int, groups: dict[tuple[int, str], int],
            group_labels: list[list[str]]) -> None:
    """Append one surface geometry to the chunk's flat lists."""
    gi = groups.setdefault((oi, s.lod), len(groups))
    if gi == len(group_labels):
        group_labels.append([])
    labels = group_labels[gi]
    g.g_remap.append(len(g.remap))
    names = [str(x.get("type", "")) for x in (s.geom.get("semantics") or {}).get("surfaces")
             or []]
    for name in names:
        if name not in labels:
            labels.append(name)
        g.remap.append(labels.index(name))
    g.g_labels.append(len(names))
    rings = list(chain.from_iterable(s.polys))
    g.ring_sizes.extend(map(len, rings))
    before = len(g.flat)
    g.flat.extend(chain.from_iterable(rings))
    g.g_flat.append(len(g.flat) - before)
    g.poly_rings.extend(map(len, s.polys))
    g.sem.extend(s.sem)
    g.g_obj.append(oi)
    g.g_group.append(gi)
    g.g_polys.append(len(s.polys))
    g.g_base.append(s.base)
    g.g_count.append(s.count)


def _points_and_lines(geom: dict, verts: np.ndarray) -> list:
    b = geom.get("boundaries")
    if geom["type"] == "MultiPoint":
        pts = verts[_indices(b, len(verts), "the points")]
        return [shapely.points(pts[0]) if len(pts) == 1 else shapely.multipoints(pts)]
    if not isinstance(b, list):
        raise GeometryUnreadable("the boundaries of a MultiLineString must be a list of lines")
    out = []
    for i, line in enumerate(b):
        idx = _indices(line, len(verts), f"line {i}")
        if len(idx) < 2:
            raise GeometryUnreadable(f"line {i} has {len(idx)} vertex, a line needs two")
        out.append(shapely.linestrings(verts[idx]))
    return out


def _indices(values: Any, n: int, what: str) -> np.ndarray:
    """Vertex indices as an array, checked: a flat non-empty list of
    integers within the ``n`` vertices."""
    if not isinstance(values, list) or not values or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in values):
        raise GeometryUnreadable(f"{what}: not a non-empty list of vertex indices (integers)")
    idx = np.asarray(values, dtype=np.int64)
    if idx.min() < 0 or idx.max() >= n:
        bad = int(idx[(idx < 0) | (idx >= n)][0])
        raise GeometryUnreadable(f"{what}: vertex index {bad} out of range (the file has {n} "
                                 "vertices)")
    return idx


def _meshes(a: Arrays, verts: np.ndarray, groups: dict, group_labels: list[list[str]],
            items: list, model: Any, tri: TriangulationReport,
            out: list[ObjectGeometry | None], skipped: dict[int, str]) -> None:
    """Triangulate the chunk and cut it into one mesh per object and LoD."""
    n_geoms = len(a.g_obj)
    poly_geom = np.repeat(np.arange(n_geoms), a.g_polys)
    first_poly = offsets(a.g_polys)
    faces, owner, issues = triangulate_rings(verts, a.flat, a.ring_sizes, a.poly_rings)
    file = model.path.name

    def name(k: int) -> str:
        gk = int(poly_geom[k])
        return (f"{file}: object {items[int(a.g_obj[gk])][0]!r}: polygon "
                f"{k - int(first_poly[gk])}")

    tri.add(issues, len(a.poly_rings), len(faces), name)
    # semantic label of each polygon, in its mesh's (object and LoD) label list
    s = a.sem
    known = ~np.isnan(s)
    label = np.full(len(s), -1, np.int64)
    label[known] = a.remap[a.g_remap[poly_geom[known]] + s[known].astype(np.int64)]
    if not len(faces):
        return
    poly_group = a.g_group[poly_geom]
    group_of_face = poly_group[owner]
    order = np.argsort(group_of_face, kind="stable")
    faces, owner, group_of_face = faces[order], owner[order], group_of_face[order]
    face_label = label[owner]
    n_all = len(verts)
    keys, inverse = np.unique(group_of_face[:, None] * n_all + faces, return_inverse=True)
    inverse = inverse.reshape(-1, 3)
    vert_group = keys // n_all
    present = group_of_face[run_starts(group_of_face)]
    v_start = np.searchsorted(vert_group, present)
    v_end = np.searchsorted(vert_group, present, side="right")
    f_start = np.searchsorted(group_of_face, present)
    f_end = np.searchsorted(group_of_face, present, side="right")
    mesh_vertices = verts[keys % n_all]
    local = inverse - v_start[np.searchsorted(present, group_of_face)][:, None]
    lo = np.minimum.reduceat(mesh_vertices, v_start, axis=0)
    hi = np.maximum.reduceat(mesh_vertices, v_start, axis=0)
    # vertices that reprojected to infinity (outside the CRS's area) spoil their mesh
    finite = np.isfinite(mesh_vertices).all(axis=1)
    bad_group = np.zeros(len(present), bool)
    if not finite.all():
        bad_group[np.searchsorted(v_start, np.flatnonzero(~finite), side="right") - 1] = True
    face_label = face_label.astype(np.int16)
    group_key = list(groups)
    for k, gi in enumerate(present.tolist()):
        oi, lod = group_key[gi]
        o = out[oi]
        if o is None:
            continue
        if bad_group[k]:
            out[oi] = None
            skipped[oi] = (f"LoD {lod}: vertices outside the area where the file's CRS "
                           "reaches the twin's (not finite after reprojection)")
            continue
        labels = group_labels[gi]
        # checked above for the whole chunk: finite vertices, indices local and in range
        mesh = Mesh.trusted(mesh_vertices[v_start[k]:v_end[k]], local[f_start[k]:f_end[k]],
                            face_label[f_start[k]:f_end[k]] if labels else None, tuple(labels))
        o.meshes[lod] = mesh
        box = (*lo[k].tolist(), *hi[k].tolist())
        o.bbox = box if o.bbox is None else (
            *np.minimum(o.bbox[:3], box[:3]).tolist(), *np.maximum(o.bbox[3:], box[3:]).tolist())
    _footprints(a, verts, label, poly_group, groups, group_labels, present, out)


def _footprints(a: Arrays, verts: np.ndarray, label: np.ndarray, poly_group: np.ndarray,
                groups: dict[tuple[int, str], int], group_labels: list[list[str]],
                present: np.ndarray, out: list[ObjectGeometry | None]) -> None:
    """Each object's plan footprint from its polygons
    (:mod:`converters.cityjson_footprints`): ground surfaces, else the
    polygons of the LoD it shows."""
    group_key = list(groups)
    lods = sorted({lod for _, lod in group_key}, key=lod_key)
    rank_of = {lod: i for i, lod in enumerate(lods)}
    group_object = np.array([oi for oi, _ in group_key], np.int64)
    group_rank = np.array([rank_of[lod] for _, lod in group_key], np.int64)
    alive = np.array([out[oi] is not None for oi, _ in group_key], bool)
    group_shown = np.zeros(len(group_key), bool)
    group_shown[present] = True
    group_shown &= alive
    ground_label = np.array([lab.index("GroundSurface") if "GroundSurface" in lab else -2
                             for lab in group_labels], dtype=np.int64)
    is_ground = (label >= 0) & (label == ground_label[poly_group]) & alive[poly_group]
    with np.errstate(invalid="ignore"):  # vertices outside the CRS's reach (their objects
        # are skipped) give no area
        area = polygon_plan_areas(ring_plan_areas(verts, a.flat, a.ring_sizes), a.poly_rings)
    area = np.where(np.isfinite(area), area, 0.0)
    poly_object = group_object[poly_group]
    pick = footprint_polygons(area, poly_group, group_object, group_rank, group_shown,
                              is_ground)
    found = object_footprints(verts, a.flat, a.ring_sizes, a.poly_rings, pick, poly_object,
                              area)
    # ground surfaces that make no polygon (all degenerate): the shown LoD instead
    lost = poly_object[pick & is_ground]
    lost = lost[~member(lost, np.fromiter(found, np.int64, len(found)))]
    if len(lost):
        pick = footprint_polygons(area, poly_group, group_object, group_rank, group_shown,
                                  np.zeros_like(is_ground)) & member(poly_object, lost)
        found.update(object_footprints(verts, a.flat, a.ring_sizes, a.poly_rings, pick,
                                       poly_object, area))
    for oi, fp in found.items():
        o = out[oi]
        if o is not None and o.meshes:
            o.footprint = fp
