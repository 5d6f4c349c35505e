"""City objects' geometry to twin meshes and footprints, many objects at once.

A chunk of city objects is read in one pass of plain Python that only
flattens their boundaries (ring sizes, vertex indices, semantic values) into
lists; everything after that runs over numpy arrays for the whole chunk:
index checks, ring cleaning, triangulation (:func:`triangulate_rings`), one
mesh per object and LoD with its own vertices, semantic labels per face,
bounds, and footprints: ground polygons built by shapely in bulk, or for
meshes without ground surfaces outlines traced from unshared edges, GEOS
merging only what tracing cannot take (per-object numpy calls cost more
than the work itself on small objects).

An object whose geometry cannot be read (an index out of range, a ring that
is not a list, a semantic value pointing nowhere) is skipped with its reason;
the other objects of the chunk are not affected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import shapely

from twin.errors import ConversionError
from twin.model import Mesh, lod_key

from .ragged import gather, offsets, run_starts
from .triangulate import TriangulationReport, clean_rings, triangulate_rings

_SURFACE_DEPTH = {"MultiSurface": 1, "CompositeSurface": 1, "Solid": 2, "MultiSolid": 3,
                  "CompositeSolid": 3}


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


def surfaces(geom: dict) -> tuple[list, list]:
    """The polygons of a surface geometry and their semantic values."""
    depth = _SURFACE_DEPTH.get(geom.get("type"))
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


class _Gather:
    """The flat lists a chunk's surfaces are read into (see the module doc)."""

    def __init__(self) -> None:
        self.flat: list = []
        self.ring_sizes: list[int] = []
        self.poly_rings: list[int] = []
        self.sem: list = []
        # per surface geometry
        self.g_obj: list[int] = []
        self.g_group: list[int] = []
        self.g_polys: list[int] = []
        self.g_flat: list[int] = []
        self.g_base: list[int] = []
        self.g_count: list[int] = []
        self.g_remap: list[int] = []
        self.remap: list[int] = []
        self.g_labels: list[int] = []

    def mark(self) -> tuple:
        return tuple(len(x) for x in self._lists())

    def rollback(self, mark: tuple) -> None:
        for lst, n in zip(self._lists(), mark):
            del lst[n:]

    def _lists(self) -> tuple[list, ...]:
        return (self.flat, self.ring_sizes, self.poly_rings, self.sem, self.g_obj,
                self.g_group, self.g_polys, self.g_flat, self.g_base, self.g_count,
                self.g_remap, self.remap, self.g_labels)


def chunk_geometry(items: list[tuple[str, dict, int, int]], vertices: VertexSet, model: Any,
                   tri: TriangulationReport, appearance: dict
                   ) -> tuple[list[ObjectGeometry | None], dict[int, str]]:
    """Meshes, footprints and lines of a chunk of city objects.

    ``items`` are ``(id, object, vertex base, vertex count)``: an object's
    boundaries index ``vertices`` from its base (a CityJSONSeq chunk stacks
    the vertices of several features). ``model`` places geometry instances
    (``template``, ``reproject``) and names the file. Returns one
    :class:`ObjectGeometry` per item (``None`` for skipped ones) and the
    reasons of the skipped ones, by item index."""
    g = _Gather()
    groups: dict[tuple[int, str], int] = {}
    group_labels: list[list[str]] = []
    extra: list[np.ndarray] = []
    n_extra = 0
    n_main = len(vertices.twin)
    lines: dict[int, list] = {}
    skipped: dict[int, str] = {}
    for oi, (_oid, obj, vbase, vcount) in enumerate(items):
        mark = g.mark()
        extra_mark = (len(extra), n_extra)
        with_appearance = 0
        k, gtype = -1, None  # where a failure happened
        try:
            geoms = obj.get("geometry") or []
            if not isinstance(geoms, list):
                raise ValueError("\"geometry\" is not a list")
            for k, geom in enumerate(geoms):
                gtype = None
                if not isinstance(geom, dict):
                    raise ValueError("not a JSON object")
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
                if gtype in ("MultiPoint", "MultiLineString"):
                    own = gverts if gverts is not None else vertices.twin[vbase:vbase + vcount]
                    lines.setdefault(oi, []).extend(_points_and_lines(geom, own))
                    continue
                polys, sem = surfaces(geom)
                if not polys:
                    continue
                lod = str(geom.get("lod", "0"))
                gi = groups.setdefault((oi, lod), len(groups))
                if gi == len(group_labels):
                    group_labels.append([])
                labels = group_labels[gi]
                g.g_remap.append(len(g.remap))
                names = [str(s.get("type", "")) for s in
                         (geom.get("semantics") or {}).get("surfaces") or []]
                for name in names:
                    if name not in labels:
                        labels.append(name)
                    g.remap.append(labels.index(name))
                g.g_labels.append(len(names))
                rings = list(chain.from_iterable(polys))
                g.ring_sizes.extend(map(len, rings))
                before = len(g.flat)
                g.flat.extend(chain.from_iterable(rings))
                g.g_flat.append(len(g.flat) - before)
                g.poly_rings.extend(map(len, polys))
                g.sem.extend(sem)
                g.g_obj.append(oi)
                g.g_group.append(gi)
                g.g_polys.append(len(polys))
                g.g_base.append(base)
                g.g_count.append(count)
        except (IndexError, KeyError, TypeError, ValueError, AttributeError,
                ConversionError) as exc:
            g.rollback(mark)
            del extra[extra_mark[0]:]
            n_extra = extra_mark[1]
            lines.pop(oi, None)
            why = str(exc)
            if isinstance(exc, (TypeError, AttributeError)):  # Python's words for bad nesting
                why = f"its boundaries or semantics are not nested as a {gtype} needs ({exc})"
            where = "" if k < 0 else f"geometry {k}{f' ({gtype})' if gtype else ''}: "
            skipped[oi] = f"geometry cannot be read: {where}{why}"
            continue
        appearance["geometries_with_appearance"] += with_appearance
    all_twin = np.concatenate([vertices.twin, *extra]) if extra else vertices.twin
    arrays = _arrays(g, skipped)
    out: list[ObjectGeometry | None] = [None if oi in skipped else ObjectGeometry()
                                        for oi in range(len(items))]
    if arrays is not None:
        _meshes(arrays, all_twin, groups, group_labels, items, model, tri, out, skipped)
    for oi, parts in lines.items():
        if out[oi] is not None:
            out[oi].lines = parts[0] if len(parts) == 1 else shapely.union_all(parts)
    need = [oi for oi, o in enumerate(out) if o is not None and o.footprint is None
            and o.meshes]
    for oi, fp in zip(need, mesh_footprints([out[oi].meshes[max(out[oi].meshes, key=lod_key)]
                                             for oi in need])):
        out[oi].footprint = fp
    for o in out:
        if o is not None and o.footprint is None and o.lines is not None:
            o.footprint = o.lines
    return out, skipped


def _points_and_lines(geom: dict, verts: np.ndarray) -> list:
    if geom["type"] == "MultiPoint":
        pts = verts[_indices(geom["boundaries"], len(verts))]
        return [shapely.points(pts[0]) if len(pts) == 1 else shapely.multipoints(pts)]
    return [shapely.linestrings(verts[_indices(ls, len(verts))]) for ls in geom["boundaries"]]


def _indices(values: Any, n: int) -> np.ndarray:
    idx = np.asarray(values)
    if idx.dtype.kind not in "iu":
        raise TypeError("vertex indices must be integers")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"vertex index {int(idx.max())} out of range (the file has {n} "
                         "vertices)")
    return idx


@dataclass
class _Arrays:
    flat: np.ndarray
    ring_sizes: np.ndarray
    poly_rings: np.ndarray
    sem: np.ndarray  # float, nan where none
    g_obj: np.ndarray
    g_group: np.ndarray
    g_polys: np.ndarray
    g_flat: np.ndarray
    g_base: np.ndarray
    g_count: np.ndarray
    g_remap: np.ndarray
    g_labels: np.ndarray
    remap: np.ndarray


def _arrays(g: _Gather, skipped: dict[int, str]) -> _Arrays | None:
    """The chunk's lists as arrays, with the objects whose bulk values are
    wrong (indices that are no integers or out of range, semantic values that
    point nowhere) skipped and their data dropped."""
    if not g.g_obj:
        return None
    geo = {k: np.asarray(getattr(g, k), dtype=np.int64) for k in
           ("g_obj", "g_group", "g_polys", "g_flat", "g_base", "g_count", "g_remap",
            "g_labels")}
    flat = _integers(g.flat)
    sem = _semantic_values(g.sem)
    if flat is None or sem is None:  # find the objects at fault
        flat, sem = _blame_types(g, geo, skipped)
    a = _Arrays(flat.astype(np.int64, copy=False), np.asarray(g.ring_sizes, np.int64),
                np.asarray(g.poly_rings, np.int64), sem,
                remap=np.asarray(g.remap, np.int64), **geo)
    bad: dict[int, str] = {oi: skipped[oi] for oi in set(a.g_obj.tolist()) & set(skipped)}
    limit = np.repeat(a.g_count, a.g_flat)
    wrong = (a.flat < 0) | (a.flat >= limit)
    if wrong.any():
        geom_of = np.repeat(np.arange(len(a.g_obj)), a.g_flat)
        for k in np.flatnonzero(wrong)[::-1].tolist():  # the first one of each object wins
            bad[int(a.g_obj[geom_of[k]])] = skipped.get(int(a.g_obj[geom_of[k]])) or (
                f"geometry cannot be read: vertex index {int(a.flat[k])} out of range (the "
                f"file has {int(limit[k])} vertices)")
    poly_geom = np.repeat(np.arange(len(a.g_obj)), a.g_polys)
    s = a.sem
    known = ~np.isnan(s)
    n_labels = a.g_labels[poly_geom]
    wrong = known & ((s < 0) | (s >= n_labels) | (s != np.round(s)))
    for k in np.flatnonzero(wrong)[::-1].tolist():
        oi = int(a.g_obj[poly_geom[k]])
        bad.setdefault(oi, f"geometry cannot be read: semantic value {s[k]:g} points to "
                           f"no surface (the geometry has {int(n_labels[k])})")
    if bad:
        skipped.update(bad)
        a = _drop(a, np.isin(a.g_obj, list(bad)))
        if a is None:
            return None
    a.flat = a.flat + np.repeat(a.g_base, a.g_flat)
    return a


def _integers(values: list) -> np.ndarray | None:
    try:
        f = np.array(values)
    except (TypeError, ValueError):  # ragged: a list where an index should be
        return None
    return f if f.ndim == 1 and (f.dtype.kind in "iu" or not len(f)) else None


def _semantic_values(sem: list) -> np.ndarray | None:
    try:
        s = np.array(sem, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return s if s.ndim == 1 else None


def _blame_types(g: _Gather, geo: dict, skipped: dict[int, str]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices and semantic values with the geometries of objects whose
    values are no numbers replaced by harmless ones (those objects are
    skipped and dropped later)."""
    flat_out, sem_out = [], []
    fpos = ppos = 0
    for k, oi in enumerate(geo["g_obj"].tolist()):
        nf, npoly = int(geo["g_flat"][k]), int(geo["g_polys"][k])
        f = _integers(g.flat[fpos:fpos + nf])
        s = _semantic_values(g.sem[ppos:ppos + npoly])
        if f is None:
            skipped.setdefault(oi, "geometry cannot be read: a vertex index is not an integer")
            f = np.zeros(nf, np.int64)
        if s is None:
            skipped.setdefault(oi, "geometry cannot be read: a semantic value is not an "
                                   "integer")
            s = np.full(npoly, np.nan)
        flat_out.append(f.astype(np.int64).reshape(-1))
        sem_out.append(s)
        fpos += nf
        ppos += npoly
    return np.concatenate(flat_out), np.concatenate(sem_out)


def _drop(a: _Arrays, gone: np.ndarray) -> _Arrays | None:
    """``a`` without the geometries ``gone`` (a mask over geometries)."""
    if gone.all():
        return None
    if not gone.any():
        return a
    poly_gone = np.repeat(gone, a.g_polys)
    ring_gone = np.repeat(poly_gone, a.poly_rings)
    flat_gone = np.repeat(gone, a.g_flat)
    keep = ~gone
    return _Arrays(a.flat[~flat_gone], a.ring_sizes[~ring_gone], a.poly_rings[~poly_gone],
                   a.sem[~poly_gone], a.g_obj[keep], a.g_group[keep], a.g_polys[keep],
                   a.g_flat[keep], a.g_base[keep], a.g_count[keep], a.g_remap[keep],
                   a.g_labels[keep], a.remap)


def _meshes(a: _Arrays, verts: np.ndarray, groups: dict, group_labels: list[list[str]],
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
    # ground polygons of each object, for its footprint
    ground_label = np.array([lab.index("GroundSurface") if "GroundSurface" in lab else -2
                             for lab in group_labels], dtype=np.int64)
    group_key = list(groups)
    is_ground = (label >= 0) & (label == ground_label[poly_group])
    if is_ground.any():
        # the ground of one LoD, the highest that has one (the others repeat it)
        best: dict[int, int] = {}
        for gi in np.unique(poly_group[is_ground]).tolist():
            oi, lod = group_key[gi]
            if oi not in best or lod_key(lod) > lod_key(group_key[best[oi]][1]):
                best[oi] = gi
        chosen = np.zeros(len(group_key), bool)
        chosen[list(best.values())] = True
        is_ground &= chosen[poly_group]
    grounds = _ground_polygons(a, verts, is_ground, poly_geom) if is_ground.any() else {}
    # vertices that reprojected to infinity (outside the CRS's area) spoil their mesh
    finite = np.isfinite(mesh_vertices).all(axis=1)
    bad_group = np.zeros(len(present), bool)
    if not finite.all():
        bad_group[np.searchsorted(v_start, np.flatnonzero(~finite), side="right") - 1] = True
    face_label = face_label.astype(np.int16)
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
    for oi, parts in grounds.items():
        if out[oi] is None:
            continue
        fp = parts[0] if len(parts) == 1 else _union(np.array(parts, dtype=object))
        if fp is not None and not fp.is_empty:
            out[oi].footprint = _as_area(fp)


def _ground_polygons(a: _Arrays, verts: np.ndarray, is_ground: np.ndarray,
                     poly_geom: np.ndarray) -> dict[int, list]:
    """Plan polygons of the ground surfaces, built in bulk; by object."""
    ring_poly = np.repeat(np.arange(len(a.poly_rings)), a.poly_rings)
    ring_ground = is_ground[ring_poly]
    sizes = a.ring_sizes[ring_ground]
    flat, sizes, distinct = clean_rings(
        a.flat[gather(offsets(a.ring_sizes)[ring_ground], sizes)], sizes)
    polys_of_rings = ring_poly[ring_ground]
    # a ground polygon needs an outer ring of three distinct vertices; holes too
    dead = polys_of_rings[run_starts(polys_of_rings) & (distinct < 3)]
    ok = (distinct >= 3) & ~np.isin(polys_of_rings, dead)
    if not ok.any():
        return {}
    sizes_ok = sizes[ok]
    coords = verts[flat[gather(offsets(sizes)[ok], sizes_ok)]][:, :2]
    ring_ids = np.repeat(np.arange(len(sizes_ok)), sizes_ok)
    rings = shapely.linearrings(coords, indices=ring_ids)
    poly_ids = polys_of_rings[ok]  # ascending
    new = run_starts(poly_ids)
    polys = shapely.polygons(rings, indices=np.cumsum(new) - 1)
    owners = a.g_obj[poly_geom[poly_ids[new]]]
    invalid = ~shapely.is_valid(polys)
    if invalid.any():
        polys[invalid] = shapely.make_valid(polys[invalid])
    area = shapely.area(polys)
    by_obj: dict[int, list] = {}
    for oi, p in zip(owners[area > 1e-6].tolist(), polys[area > 1e-6]):
        by_obj.setdefault(oi, []).append(p)
    return by_obj


def _as_area(g):
    """Polygons of ``g`` (make_valid may add lines or points)."""
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else None


def mesh_footprints(meshes: list[Mesh]) -> list:
    """The plan footprints of meshes without ground surfaces, all at once: a
    closed solid's downward faces cover it once, without overlaps (closed
    when they project to as much area as its upward faces do); else all of
    its faces. ``None`` where a mesh has no face with plan area."""
    if not meshes:
        return []
    nv = np.array([m.n_vertices for m in meshes])
    nf = np.array([m.n_faces for m in meshes])
    voff = np.repeat(offsets(nv), nf)
    vidx = np.concatenate([m.faces for m in meshes]) + voff[:, None]  # ids unique per mesh
    tris = np.concatenate([m.vertices for m in meshes])[vidx]
    owner = np.repeat(np.arange(len(meshes)), nf)
    nz = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])[:, 2]
    up = np.bincount(owner, weights=np.where(nz > 0, nz, 0), minlength=len(meshes))
    down = np.bincount(owner, weights=np.where(nz < 0, -nz, 0), minlength=len(meshes))
    closed = (down > 0) & (np.abs(up - down) <= 1e-3 * np.maximum(up, down))
    area = np.abs(nz) / 2
    has_area = area > 1e-6
    out: list = [None] * len(meshes)
    # closed solids from their downward faces first; where that gives nothing,
    # and for open meshes, from all faces
    pending = np.ones(len(meshes), bool)
    for select in (closed[owner] & (nz < 0), np.ones(len(tris), bool)):
        pick = has_area & select & pending[owner]
        if not pick.any():
            continue
        who, plan, a = owner[pick], tris[pick][:, :, :2], area[pick]
        # most are one patch of triangles with one outline: traced, no GEOS union
        traced = _outlines(plan, vidx[pick], nz[pick] < 0, who, a)
        for k, poly in traced.items():
            out[k] = poly
            pending[k] = False
        rest = pending[who]
        if not rest.any():
            continue
        t = plan[rest]
        polys = shapely.polygons(np.concatenate([t, t[:, :1]], axis=1))
        who, a = who[rest], a[rest]
        bounds = np.r_[np.flatnonzero(run_starts(who)), len(who)]
        for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            k = int(who[s])
            out[k] = _plan_union(polys[s:e], float(a[s:e].sum()))
            pending[k] = out[k] is None
    return out


def _outlines(tris: np.ndarray, vidx: np.ndarray, clockwise: np.ndarray, owner: np.ndarray,
              area: np.ndarray) -> dict[int, Any]:
    """Plan outlines of groups of triangles ``(m, 3, 2)`` (``owner``, ascending)
    that form one patch without holes: the edges that no neighbour shares,
    followed round once. A group is traced only where that gives one simple
    ring whose area is the triangles' total (no overlaps, no gaps, no
    holes, vertices shared by index); the others are left to GEOS."""
    v = np.where(clockwise[:, None], vidx[:, [0, 2, 1]], vidx)  # all counter-clockwise
    xy = np.where(clockwise[:, None, None], tris[:, [0, 2, 1]], tris)
    start = v.reshape(-1)
    end = v[:, [1, 2, 0]].reshape(-1)
    grp = np.repeat(owner, 3)
    span = int(vidx.max()) + 1
    fwd = (grp * span + start) * span + end
    rev = (grp * span + end) * span + start
    # an inner edge is walked both ways, by its two triangles (a sorted search:
    # np.isin would hash)
    rev.sort()
    at = np.minimum(np.searchsorted(rev, fwd), len(rev) - 1)
    outer = rev[at] != fwd
    if not outer.any():
        return {}
    e_start, e_end, e_grp = start[outer], end[outer], grp[outer]
    e_xy = xy.reshape(-1, 2)[outer]
    order = np.lexsort((e_start, e_grp))
    e_start, e_end, e_grp, e_xy = e_start[order], e_end[order], e_grp[order], e_xy[order]
    key_start = e_grp * span + e_start
    key_end = e_grp * span + e_end
    # one outgoing edge per vertex, or the outline is no simple ring
    forked = np.zeros(len(key_start), bool)
    forked[1:] = key_start[1:] == key_start[:-1]
    nxt = np.searchsorted(key_start, key_end)
    nxt = np.minimum(nxt, len(key_start) - 1)
    broken = key_start[nxt] != key_end
    bad_group = set(e_grp[forked | broken].tolist())
    first = np.flatnonzero(run_starts(e_grp))  # sorted by group
    counts = np.diff(np.r_[first, len(e_grp)])
    groups = e_grp[first]
    nxt_list = nxt.tolist()
    rings, ring_groups = [], []
    for g, f, c in zip(groups.tolist(), first.tolist(), counts.tolist()):
        if g in bad_group:
            continue
        seq = [f]
        e = nxt_list[f]
        while e != f and len(seq) <= c:
            seq.append(e)
            e = nxt_list[e]
        if len(seq) == c and e == f:  # one ring through every outline edge
            rings.append(e_xy[seq])
            ring_groups.append(g)
    if not rings:
        return {}
    sizes = np.array([len(r) for r in rings])
    polys = shapely.polygons(shapely.linearrings(np.concatenate(rings),
                                                 indices=np.repeat(np.arange(len(rings)),
                                                                   sizes)))
    total = np.bincount(owner, weights=area)[ring_groups]
    good = shapely.is_valid(polys) & (np.abs(shapely.area(polys) - total)
                                      <= 1e-6 * np.maximum(total, 1.0))
    return {g: p for g, p, ok in zip(ring_groups, polys, good.tolist()) if ok}


def mesh_footprint(mesh: Mesh):
    """The plan footprint of one mesh (:func:`mesh_footprints`)."""
    return mesh_footprints([mesh])[0]


def _union(polys: np.ndarray):
    """The union of plan polygons (a coverage first, see :func:`_plan_union`)."""
    return _plan_union(polys, float(shapely.area(polys).sum()))


def _plan_union(polys: np.ndarray, total: float):
    """The union of plan polygons (triangles, ground surfaces) of ``total``
    area."""
    if len(polys) == 1:
        return polys[0]
    # a floor, a terrain, a road are coverages: no two triangles overlap in plan,
    # and GEOS merges those far faster; a coverage's union has exactly the
    # triangles' total area, which tells the two cases apart
    try:
        u = shapely.coverage_union_all(polys)
    except shapely.errors.GEOSException:  # GEOS noticed an overlap itself
        u = None
    if u is not None and u.is_valid and abs(u.area - total) <= 1e-6 * max(total, 1.0):
        return u
    u = shapely.union_all(polys, grid_size=1e-4)
    return u if not u.is_empty else None
