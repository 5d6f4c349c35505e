"""Twin features to per-layer arrays a renderer draws in one call each.

Pure functions over numpy arrays: each layer's feature meshes (their default
LoD) are merged into one vertex and triangle array, vertices relative to the
twin's local origin (float32-safe), with a per-triangle index into the
layer's feature id list, so that a merged layer can still be picked feature
by feature.

What a scene draws for each feature (:func:`plan_scene`):

* **A mesh** when the feature has one, except a building whose children
  (storeys, walls, slabs ...) are drawn with meshes of their own: an IFC
  building's LoD1 envelope is a prism around its detailed model and would
  hide it. The envelope stays where its children are not drawn (a scene of
  the ``buildings`` layer alone: the overview).
* **Lines or points** from the footprint when the feature has no mesh (road
  centrelines, 2D pipes outside any DEM, a GIS layer of outlines or manhole
  points; a polygon draws its rings). Nothing is left out silently: such a
  feature is drawn at its own heights when it has them, else on the twin's
  terrain, else at the twin origin's height, and :class:`SceneCounts` says
  how many took which.
* **Nothing** only for a feature without any geometry (a storey record, a
  group), counted as well.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

from twin.errors import NotFoundError
from twin.model import Feature, Mesh

#: Layer whose features hand their drawing to their children when these have meshes.
ENVELOPE_LAYERS = frozenset({"buildings"})
#: Deepest parent chain followed (as twin.hierarchy does).
MAX_DEPTH = 64

#: How a feature without a mesh got its heights.
OWN, TERRAIN, ORIGIN = "own", "terrain", "origin"


@dataclass
class LayerArrays:
    """One layer, merged. ``cell_feature[k]`` indexes ``ids`` for triangle
    ``k``; ``line_feature[k]`` for polyline ``k``; ``point_feature[k]`` for
    point ``k``."""

    name: str
    ids: list[str] = field(default_factory=list)
    vertices: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    faces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    cell_feature: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lines: list[np.ndarray] = field(default_factory=list)
    line_feature: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    point_feature: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_faces(self) -> int:
        return len(self.faces)


@dataclass(frozen=True)
class SceneCounts:
    """What a scene did with its features, for the viewer to say.

    ``without_mesh`` features were drawn as lines or points; of them,
    ``heights_from_terrain`` had no heights and lie on the terrain,
    ``heights_from_origin`` had none and no terrain under them either, so
    they lie at the twin origin's height. ``without_geometry`` had nothing to
    draw; ``drawn_by_children`` are envelopes left out for their parts.
    """

    meshes: int = 0
    without_mesh: int = 0
    heights_from_terrain: int = 0
    heights_from_origin: int = 0
    without_geometry: int = 0
    drawn_by_children: int = 0

    def describe(self, origin_z: float | None = None) -> str:
        """One sentence for the command line ('' when there is nothing to say).

        >>> SceneCounts(meshes=3, without_mesh=2, heights_from_origin=2).describe(1050.0)
        '2 features without a 3D mesh drawn as lines or points (2 without heights, at the twin origin height 1050.0 m)'
        """
        parts = []
        if self.without_mesh:
            flat = []
            if self.heights_from_terrain:
                flat.append(f"{self.heights_from_terrain} without heights, on the terrain")
            if self.heights_from_origin:
                at = "" if origin_z is None else f" {origin_z:.1f} m"
                flat.append(f"{self.heights_from_origin} without heights, at the twin origin "
                            f"height{at}")
            parts.append(f"{self.without_mesh} features without a 3D mesh drawn as lines or "
                         "points" + (f" ({'; '.join(flat)})" if flat else ""))
        if self.without_geometry:
            parts.append(f"{self.without_geometry} without any geometry not drawn")
        if self.drawn_by_children:
            parts.append(f"{self.drawn_by_children} building envelopes left out for their "
                         "detailed parts")
        return "; ".join(parts)


@dataclass
class SceneArrays:
    origin: tuple[float, float, float]
    layers: dict[str, LayerArrays]
    counts: SceneCounts = field(default_factory=SceneCounts)

    @property
    def skipped(self) -> int:
        """Features with nothing to draw (no mesh and no footprint)."""
        return self.counts.without_geometry

    def bounds(self) -> np.ndarray:
        """``[xmin, ymin, zmin, xmax, ymax, zmax]`` relative to the origin."""
        pts = [la.vertices for la in self.layers.values() if len(la.vertices)]
        pts += [ln for la in self.layers.values() for ln in la.lines]
        pts += [la.points for la in self.layers.values() if len(la.points)]
        if not pts:
            return np.zeros(6)
        allp = np.concatenate(pts)
        return np.concatenate([allp.min(axis=0), allp.max(axis=0)])


@dataclass(frozen=True)
class Outline:
    """What a feature without a mesh draws: polylines ``[(n_i, 3), ...]`` and
    points ``(m, 3)`` in twin coordinates, and where the heights came from
    (:data:`OWN`, :data:`TERRAIN` or :data:`ORIGIN`)."""

    lines: tuple[np.ndarray, ...]
    points: np.ndarray
    heights: str


@dataclass(frozen=True)
class ScenePlan:
    """Each feature's part in a scene: ``meshed`` ones draw their mesh,
    ``outlined`` ones their :class:`Outline`; ``counts`` sums it up."""

    meshed: list[Feature]
    outlined: list[tuple[Feature, Outline]]
    counts: SceneCounts


#: ``(n, 2)`` plan points -> ground heights ``(n,)``, ``nan`` where unknown
Ground = Callable[[np.ndarray], np.ndarray]
#: feature id -> its parent's id (``None`` at the top or when unknown)
ParentOf = Callable[[str], "str | None"]


def merge_meshes(vertices: Sequence[np.ndarray], faces: Sequence[np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate meshes: ``(vertices, faces, owner)``, faces renumbered and
    ``owner[k]`` the input index of triangle ``k``."""
    if not vertices:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64)
    n_v = np.array([len(v) for v in vertices])
    n_f = np.array([len(f) for f in faces])
    offsets = np.concatenate([[0], np.cumsum(n_v)[:-1]])
    all_faces = np.concatenate(faces).astype(np.int64) + np.repeat(offsets, n_f)[:, None]
    owner = np.repeat(np.arange(len(faces)), n_f)
    return np.concatenate(vertices), all_faces, owner


def _has_mesh(f: Feature) -> bool:
    m = f.mesh
    return m is not None and m.n_faces > 0


def drawn_by_children(features: Sequence[Feature], parent_of: ParentOf | None = None,
                      has_mesh: Callable[[Feature], bool] | None = None) -> frozenset[str]:
    """Ids of the envelope features (``buildings`` layer) that have a
    descendant with a mesh among ``features``: the scene draws those
    descendants instead. Parents are followed through ``features`` first,
    then through ``parent_of`` (an IFC element's storey may not be selected).
    ``has_mesh`` tells which features draw a mesh (default: those holding
    one; a caller that read features without their meshes says otherwise).

    >>> from twin.model import Feature
    >>> from twin.geometry import extrude_footprint
    >>> from shapely.geometry import box
    >>> cube = extrude_footprint(box(0, 0, 1, 1), 0, 1)
    >>> b = Feature(id="b", layer="buildings", type="Building", meshes={"1": cube})
    >>> wall = Feature(id="w", layer="building_elements", type="IfcWall", parent="s",
    ...                meshes={"bim": cube})
    >>> sorted(drawn_by_children([b, wall], {"s": "b"}.get))
    ['b']
    >>> sorted(drawn_by_children([b]))
    []
    """
    parent = {f.id: f.parent for f in features}
    layer = {f.id: f.layer for f in features}

    def up(fid: str) -> str | None:
        if fid in parent:
            return parent[fid]
        return parent_of(fid) if parent_of is not None else None

    above: set[str] = set()  # every ancestor of a meshed feature
    meshed = has_mesh or _has_mesh
    for f in features:
        if not meshed(f):
            continue
        p, depth = f.parent, 0
        while p is not None and p not in above and depth < MAX_DEPTH:
            above.add(p)
            p, depth = up(p), depth + 1
    return frozenset(i for i in above if layer.get(i) in ENVELOPE_LAYERS)


def _parts(fp) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A footprint's polylines and points, coordinates ``(n, 2 or 3)``."""
    lines, points = [], []
    with_z = fp.has_z
    for part in shapely.get_parts(fp):
        kind = part.geom_type
        if kind == "Point":
            points.append(shapely.get_coordinates(part, include_z=with_z))
        elif kind in ("LineString", "LinearRing"):
            lines.append(shapely.get_coordinates(part, include_z=with_z))
        elif kind == "Polygon":
            lines += [shapely.get_coordinates(r, include_z=with_z)
                      for r in shapely.get_rings(part)]
        else:  # a collection inside a collection
            sub_lines, sub_points = _parts(part)
            lines += sub_lines
            points += sub_points
    return lines, points


def outlines(features: Sequence[Feature], origin_z: float, ground: Ground | None = None
             ) -> list[Outline | None]:
    """The :class:`Outline` of each feature (``None``: no footprint to draw).

    Heights: the footprint's own Z; else the feature's known height range
    (its lower end); else the terrain under each vertex (``ground``); else
    ``origin_z``. The terrain is sampled once for all vertices.

    >>> from shapely.geometry import LineString
    >>> from twin.model import Feature
    >>> pipe = Feature(id="p", layer="heating", type="PipeSegment",
    ...                footprint=LineString([(0, 0), (10, 0)]))
    >>> o = outlines([pipe], 1050.0)[0]
    >>> o.heights, o.lines[0][:, 2].tolist()
    ('origin', [1050.0, 1050.0])
    """
    out: list[Outline | None] = []
    flat: list[tuple[int, list[np.ndarray], np.ndarray]] = []  # (index, lines, points), z to find
    for f in features:
        fp = f.footprint
        if fp is None or fp.is_empty:
            out.append(None)
            continue
        lines, points = _parts(fp)
        pts = np.concatenate(points) if points else np.zeros((0, 3 if fp.has_z else 2))
        zs = [c[:, 2] for c in [*lines, pts] if c.shape[1] == 3 and len(c)]
        if fp.has_z and all(np.isfinite(z).all() for z in zs):
            out.append(Outline(tuple(lines), pts.reshape(-1, 3), OWN))
            continue
        b = f.bbox
        if b is not None and math.isfinite(b[2]):  # a height range known without per-vertex z
            out.append(Outline(tuple(_with_z(c[:, :2], b[2]) for c in lines),
                               _with_z(pts[:, :2], b[2]), OWN))
            continue
        out.append(None)
        flat.append((len(out) - 1, [c[:, :2] for c in lines], pts[:, :2]))
    if not flat:
        return out
    xy = np.concatenate([c for _, lines, pts in flat for c in (*lines, pts)])
    z = np.asarray(ground(xy), dtype=np.float64) if ground is not None else np.full(len(xy),
                                                                                   np.nan)
    known = np.isfinite(z)
    z = np.where(known, z, origin_z)
    at = 0
    for k, lines, pts in flat:
        n = sum(len(c) for c in lines) + len(pts)
        zk, onk = z[at:at + n], known[at:at + n]
        pieces, i = [], 0
        for c in (*lines, pts):
            pieces.append(np.column_stack([c, zk[i:i + len(c)]]))
            i += len(c)
        out[k] = Outline(tuple(pieces[:-1]), pieces[-1].reshape(-1, 3),
                         TERRAIN if n and onk.all() else ORIGIN)
        at += n
    return out


def _with_z(xy: np.ndarray, z: float) -> np.ndarray:
    return np.column_stack([xy, np.full(len(xy), z)]).reshape(-1, 3)


def plan_scene(features: Iterable[Feature], origin_z: float, *, ground: Ground | None = None,
               parent_of: ParentOf | None = None) -> ScenePlan:
    """Decide what each feature draws (see the module docstring).

    ``ground`` gives terrain heights for features without any (else they lie
    at ``origin_z``); ``parent_of`` finds parents that are not among
    ``features``, so that a building whose parts are drawn is not drawn too.
    """
    feats = list(features)
    covered = drawn_by_children(feats, parent_of)
    meshed, rest = [], []
    hidden = 0
    for f in feats:
        if _has_mesh(f):
            if f.id in covered:
                hidden += 1
            else:
                meshed.append(f)
        else:
            rest.append(f)
    outlined, heights, empty = [], {OWN: 0, TERRAIN: 0, ORIGIN: 0}, 0
    for f, o in zip(rest, outlines(rest, origin_z, ground)):
        if o is None:
            empty += 1
            continue
        outlined.append((f, o))
        heights[o.heights] += 1
    return ScenePlan(meshed, outlined, SceneCounts(
        meshes=len(meshed), without_mesh=len(outlined), heights_from_terrain=heights[TERRAIN],
        heights_from_origin=heights[ORIGIN], without_geometry=empty, drawn_by_children=hidden))


def scene_arrays(features: Iterable[Feature], origin: Sequence[float], *,
                 ground: Ground | None = None, parent_of: ParentOf | None = None
                 ) -> SceneArrays:
    """Merge ``features`` per layer, relative to ``origin`` (see :func:`plan_scene`)."""
    o = np.asarray(origin, dtype=np.float64)
    plan = plan_scene(features, float(o[2]), ground=ground, parent_of=parent_of)
    raw: dict[str, dict] = {}

    def layer(name: str) -> dict:
        return raw.setdefault(name, {"ids": [], "v": [], "f": [], "own": [], "lines": [],
                                     "line_own": [], "points": [], "point_own": []})

    for f in plan.meshed:
        r = layer(f.layer)
        r["own"].append(len(r["ids"]))
        mesh = mesh_of(f)
        r["v"].append(mesh.vertices - o)
        r["f"].append(mesh.faces)
        r["ids"].append(f.id)
    for f, out in plan.outlined:
        r = layer(f.layer)
        k = len(r["ids"])
        r["ids"].append(f.id)
        for ln in out.lines:
            r["lines"].append(ln - o)
            r["line_own"].append(k)
        if len(out.points):
            r["points"].append(out.points - o)
            r["point_own"] += [k] * len(out.points)
    layers = {}
    for name, r in raw.items():
        v, faces, owner = merge_meshes(r["v"], r["f"])
        own = np.asarray(r["own"], dtype=np.int64)
        layers[name] = LayerArrays(
            name, r["ids"], v, faces, own[owner] if len(owner) else owner, r["lines"],
            np.asarray(r["line_own"], dtype=np.int64),
            np.concatenate(r["points"]) if r["points"] else np.zeros((0, 3)),
            np.asarray(r["point_own"], dtype=np.int64))
    return SceneArrays((float(o[0]), float(o[1]), float(o[2])), layers, plan.counts)


def mesh_of(f: Feature) -> Mesh:
    """The mesh of a feature chosen for its mesh (a scene plan's ``meshed``,
    a layer's features with faces); one without is a bug of the caller."""
    if f.mesh is None:
        raise RuntimeError(f"feature {f.id!r} was drawn by its mesh but has none")
    return f.mesh


@dataclass(frozen=True)
class TwinLookups:
    """What a scene needs from the twin beyond its features: terrain heights
    and parents outside the selection (see :func:`plan_scene`)."""

    ground: Ground | None
    parent_of: ParentOf

    @classmethod
    def of(cls, store) -> TwinLookups:
        """Lookups on ``store`` (a :class:`~twin.store.base.TwinStore`); the
        terrain is decoded once, each parent asked for once."""
        from twin.terrain import TerrainSampler

        terrain = TerrainSampler(store)
        known: dict[str, str | None] = {}

        def parent_of(fid: str) -> str | None:
            if fid not in known:
                try:
                    known[fid] = store.get(fid, meshes=False).parent
                except NotFoundError:  # a parent from a file not imported yet
                    known[fid] = None
            return known[fid]

        return cls(terrain.heights if terrain.available else None, parent_of)
