"""The web viewer's scene: a lean GLB of few draw calls, still pickable per feature.

A viewer in a browser pays per draw call and per scene-graph node far more
than per triangle (WebGL in software rendering most of all): the demo
district as one glTF node per feature is about 5,000 draw calls. This GLB
has, per layer:

- one **merged mesh** of all features whose shape is their own (buildings,
  pipe segments, terrain), each vertex carrying its feature's row in the
  layer's feature table (``_FEATURE_ID_0``, the vertex attribute of
  ``EXT_mesh_features`` that the 3D Tiles content of
  :mod:`viewer.tiles3d` uses too, so one viewer code path reads both);
- one **instanced mesh** (``EXT_mesh_gpu_instancing``) per shape repeated
  at least ``min_instances`` times: pipe fittings and manholes of a survey
  are the same cylinder placed and stretched thousands of times. The shape
  is stored once in a unit box; each instance carries a translation and a
  per-axis scale, and instance ``k`` is row ``k`` of the node's table;
- for utility layers, the **centrelines** as a ``LINES`` primitive with the
  same feature ids, which a viewer draws a few pixels wide so that a 300 mm
  pipe still reads on a city-wide view.

Each node's ``extras`` carry ``layer``, ``kind`` (``merged``, ``instanced``
or ``lines``), ``features``: the rows (id, type, name and the key
attributes of :data:`viewer.gltf.KEY_ATTRIBUTES`), and ``feature_offset``:
the feature id of its first row. Feature ids are unique in the GLB: they
index its one ``EXT_structural_metadata`` property table, where every
node's rows follow one another with their layer and typed attributes (what
CesiumJS and other 3D Tiles clients read; ``EXT_instance_features`` gives
the instances theirs); a node's row ``k`` is feature id
``feature_offset + k``. Vertices are relative to
the twin's origin in glTF axes (x = east, y = up, z = -north), as in
:func:`viewer.gltf.to_gltf_axes`. No normals are written: viewers shade
the flat faces of city models from screen-space derivatives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import shapely

from twin.model import Feature

from .glb_pack import glb_of
from .gltf import KEY_ATTRIBUTES, hex_to_rgba, to_gltf_axes
from .gltf_metadata import MetadataWriter
from .scene import Ground, Outline, ParentOf, SceneCounts, mesh_of, plan_scene

_FLOAT, _UINT16, _UINT32 = 5126, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_LINES = 1

#: A shape repeated at least this many times in a layer is drawn instanced.
MIN_INSTANCES = 8
#: Shapes are compared in their unit box to this many parts (1/10,000 of their size).
SHAPE_GRID = 10_000


@dataclass(frozen=True)
class SceneStats:
    """What :func:`web_scene_glb` wrote: features, draw calls by kind, bytes."""

    features: int
    merged: int
    instanced: int
    instances: int
    lines: int
    bytes: int
    #: what the scene did with features without a mesh, envelopes, ...
    counts: SceneCounts = field(default_factory=SceneCounts)


def feature_row(f: Feature) -> dict:
    """A feature's row in a node's feature table: what a viewer shows and
    styles without asking the server."""
    row = {"id": f.id, "type": f.type}
    if f.name:
        row["name"] = f.name
    for k in KEY_ATTRIBUTES:
        v = f.attributes.get(k)
        if v is not None:
            row[k] = v
    return row


def shape_key(vertices: np.ndarray, faces: np.ndarray) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A mesh's shape up to translation and per-axis scale.

    Returns ``(key, low, size)``: ``key`` is equal for two meshes whose
    vertices, mapped into their bounding box as the unit cube, agree to
    1/:data:`SHAPE_GRID` with the same triangles; ``low`` ``(3,)`` and
    ``size`` ``(3,)`` place the unit shape back (``low + unit * size``).
    A flat axis keeps size 1 so that the unit shape stays finite.
    """
    low = vertices.min(axis=0)
    size = vertices.max(axis=0) - low
    size = np.where(size > 1e-9, size, 1.0)
    unit = np.rint((vertices - low) / size * SHAPE_GRID).astype(np.int32)
    h = hashlib.blake2b(digest_size=16)
    h.update(np.asarray(faces, dtype=np.int64).tobytes())
    h.update(unit.tobytes())
    return h.digest(), low, size


class _Blob:
    """Buffer views and accessors of one binary chunk, glTF JSON kept as dicts."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def _view(self, raw: bytes, target: int | None, align: int = 4) -> int:
        self.data.extend(b"\0" * ((-len(self.data)) % align))
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": len(raw)}
        if target is not None:
            view["target"] = target
        self.data.extend(raw)
        self.views.append(view)
        return len(self.views) - 1

    def metadata_view(self, raw: bytes) -> int:
        """A buffer view of property table values (8-byte aligned, no target)."""
        return self._view(raw, None, align=8)

    def floats(self, a: np.ndarray, kind: str, bounds: bool = False,
               target: int | None = _ARRAY_BUFFER) -> int:
        a = np.ascontiguousarray(a, dtype=np.float32)
        acc = {"bufferView": self._view(a.tobytes(), target), "componentType": _FLOAT,
               "count": len(a), "type": kind}
        if bounds:
            acc["min"] = [float(x) for x in a.min(axis=0)]
            acc["max"] = [float(x) for x in a.max(axis=0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def indices(self, f: np.ndarray, n_vertices: int) -> int:
        flat = np.asarray(f).reshape(-1)
        small = n_vertices <= 65535
        raw = flat.astype(np.uint16 if small else np.uint32).tobytes()
        self.accessors.append({"bufferView": self._view(raw, _ELEMENT_ARRAY_BUFFER),
                               "componentType": _UINT16 if small else _UINT32,
                               "count": len(flat), "type": "SCALAR"})
        return len(self.accessors) - 1


def _centreline(f: Feature) -> list[np.ndarray]:
    fp = f.footprint
    if fp is None or not fp.has_z or fp.geom_type not in ("LineString", "MultiLineString"):
        return []
    return [shapely.get_coordinates(p, include_z=True) for p in shapely.get_parts(fp)]


#: Half the arm of the plan cross that stands for a point without a mesh (m).
POINT_ARM = 1.0


def _outline_parts(out: Outline) -> list[np.ndarray]:
    """Polylines of a feature without a mesh: its lines, and a small plan
    cross at each of its points (a ``LINES`` primitive draws and picks both)."""
    parts = [ln for ln in out.lines if len(ln) >= 2]
    for p in np.asarray(out.points).reshape(-1, 3):
        for d in ((POINT_ARM, 0.0, 0.0), (0.0, POINT_ARM, 0.0)):
            parts.append(np.array([p - d, p + d]))
    return parts


def _segments(drawn: list[tuple[Feature, list[np.ndarray]]], o: np.ndarray
              ) -> tuple[list[dict], list[np.ndarray], list[np.ndarray]]:
    """Rows, segment vertex pairs (glTF axes) and their rows (k: the k-th row)."""
    rows: list[dict] = []
    segs: list[np.ndarray] = []
    fids: list[np.ndarray] = []
    for f, parts in drawn:
        if not parts:
            continue
        for p in parts:
            if len(p) < 2:
                continue
            seg = np.stack([p[:-1], p[1:]], axis=1).reshape(-1, 3)
            segs.append(to_gltf_axes(seg, o))
            fids.append(np.full(len(seg), len(rows), dtype=np.float32))
        rows.append(feature_row(f))
    return rows, segs, fids


def web_scene_glb(features: Iterable[Feature], origin: Sequence[float],
                  colours: Mapping[str, str], *, crs: str = "",
                  opacity: Mapping[str, float] | None = None,
                  line_layers: Iterable[str] = (), min_instances: int = MIN_INSTANCES,
                  ground: Ground | None = None, parent_of: ParentOf | None = None
                  ) -> tuple[bytes, SceneStats]:
    """The lean scene GLB of ``features`` (see the module documentation).

    ``colours``: layer -> ``#rrggbb`` (one material per layer, ``opacity``
    below 1 blends); ``line_layers``: layers whose 3D centrelines are added
    as ``LINES``. What each feature draws follows
    :func:`viewer.scene.plan_scene`, as in every other scene: a building
    whose parts are in the scene is drawn by them, not by its envelope; a
    feature without a mesh is drawn by its outline (lines, and a small cross
    per point) in its layer's ``LINES`` node, on the terrain (``ground``) or at
    the origin's height when it has no heights. The asset's
    ``extras["counts"]`` says how many of each. Returns the GLB and what it holds.
    """
    o = np.asarray(origin, dtype=np.float64)
    opacity = opacity or {}
    line_layers = set(line_layers)
    plan = plan_scene(features, float(o[2]), ground=ground, parent_of=parent_of)
    by_layer: dict[str, list[Feature]] = {}
    for f in plan.meshed:
        by_layer.setdefault(f.layer, []).append(f)
    outlined: dict[str, list[tuple[Feature, Outline]]] = {}
    for f, out in plan.outlined:
        by_layer.setdefault(f.layer, [])
        outlined.setdefault(f.layer, []).append((f, out))
    blob = _Blob()
    meta = MetadataWriter()
    materials: list[dict] = []
    meshes: list[dict] = []
    nodes: list[dict] = []
    n_feat = n_merged = n_inst = n_instances = n_lines = 0

    def material(layer: str) -> int:
        alpha = float(opacity.get(layer, 1.0))
        materials.append({"name": layer, "doubleSided": True,
                          "alphaMode": "BLEND" if alpha < 1 else "OPAQUE",
                          "pbrMetallicRoughness": {
                              "baseColorFactor": hex_to_rgba(colours.get(layer, "#999999"),
                                                             alpha),
                              "metallicFactor": 0.0, "roughnessFactor": 0.85}})
        return len(materials) - 1

    def node(layer: str, kind: str, rows: list[dict], first: int, mesh: dict, **extra) -> None:
        meshes.append(mesh)
        nodes.append({"name": f"{layer}:{kind}", "mesh": len(meshes) - 1,
                      "extras": {"layer": layer, "kind": kind, "features": rows,
                                 "feature_offset": first}, **extra})

    def feature_ids(n: int) -> dict:
        return {"featureIds": [{"featureCount": n, "attribute": 0, "propertyTable": 0}]}

    for layer, feats in by_layer.items():
        mat = material(layer)
        solid = [f for f in feats if f.mesh is not None and f.mesh.n_faces]
        n_feat += len(solid)
        groups: dict[bytes, list[tuple[Feature, np.ndarray, np.ndarray, np.ndarray]]] = {}
        for f in solid:
            mesh = mesh_of(f)
            v = to_gltf_axes(mesh.vertices, o)
            key, low, size = shape_key(v, mesh.faces)
            groups.setdefault(key, []).append((f, v, low, size))
        merged: list[tuple[Feature, np.ndarray]] = []
        for members in groups.values():
            if len(members) < min_instances:
                merged += [(f, v) for f, v, _, _ in members]
                continue
            f0, v0, low0, size0 = members[0]
            unit = (v0 - low0) / size0
            attrs = {"POSITION": blob.floats(unit, "VEC3", bounds=True)}
            prim = {"attributes": attrs, "indices": blob.indices(mesh_of(f0).faces, len(unit)),
                    "material": mat}
            ext = {"EXT_mesh_gpu_instancing": {"attributes": {
                "TRANSLATION": blob.floats(np.array([m[2] for m in members]), "VEC3",
                                           target=None),
                "SCALE": blob.floats(np.array([m[3] for m in members]), "VEC3",
                                     target=None)}}}
            rows = [feature_row(m[0]) for m in members]
            first = meta.add(layer, rows)
            ext["EXT_mesh_gpu_instancing"]["attributes"]["_FEATURE_ID_0"] = blob.floats(
                np.arange(first, first + len(members), dtype=np.float32), "SCALAR",
                target=None)
            ext["EXT_instance_features"] = feature_ids(len(rows))
            node(layer, "instanced", rows, first,
                 {"name": f"{layer}:instanced", "primitives": [prim]}, extensions=ext)
            n_inst += 1
            n_instances += len(members)
        if merged:
            counts = np.array([len(v) for _, v in merged])
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            faces = np.concatenate([mesh_of(f).faces + s for (f, _), s in zip(merged, starts)])
            pos = np.concatenate([v for _, v in merged])
            rows = [feature_row(f) for f, _ in merged]
            first = meta.add(layer, rows)
            fid = np.repeat(np.arange(first, first + len(merged), dtype=np.float32), counts)
            prim = {"attributes": {"POSITION": blob.floats(pos, "VEC3", bounds=True),
                                   "_FEATURE_ID_0": blob.floats(fid, "SCALAR")},
                    "indices": blob.indices(faces, len(pos)), "material": mat,
                    "extensions": {"EXT_mesh_features": feature_ids(len(rows))}}
            node(layer, "merged", rows, first,
                 {"name": f"{layer}:merged", "primitives": [prim]})
            n_merged += 1
        drawn = [(f, _centreline(f)) for f in feats] if layer in line_layers else []
        drawn += [(f, _outline_parts(out)) for f, out in outlined.get(layer, [])]
        n_feat += len(outlined.get(layer, []))
        if drawn:
            rows, segs, fids = _segments(drawn, o)
            if segs:
                first = meta.add(layer, rows)
                prim = {"attributes": {
                    "POSITION": blob.floats(np.concatenate(segs), "VEC3", bounds=True),
                    "_FEATURE_ID_0": blob.floats(np.concatenate(fids) + first, "SCALAR")},
                    "mode": _LINES, "material": mat,
                    "extensions": {"EXT_mesh_features": feature_ids(len(rows))}}
                node(layer, "lines", rows, first,
                     {"name": f"{layer}:lines", "primitives": [prim]})
                n_lines += 1
    used = ["EXT_mesh_features", "EXT_structural_metadata"] if meta else []
    if n_inst:
        used += ["EXT_mesh_gpu_instancing", "EXT_instance_features"]
    metadata = meta.finish(blob.metadata_view) if meta else None
    doc = {"asset": {"version": "2.0", "generator": "digital-twin-city web scene",
                     "extras": {"origin": [float(x) for x in o], "crs": crs,
                                "axes": "x=east, y=up, z=-north, metres from origin",
                                "counts": asdict(plan.counts)}},
           "scene": 0, "scenes": [{"nodes": list(range(len(nodes)))}], "nodes": nodes,
           "meshes": meshes, "materials": materials, "accessors": blob.accessors,
           "bufferViews": blob.views}
    if blob.data:
        doc["buffers"] = [{"byteLength": len(blob.data) + (-len(blob.data)) % 4}]
    if used:
        doc["extensionsUsed"] = used
    if metadata:
        doc["extensions"] = {"EXT_structural_metadata": metadata}
    glb = glb_of(doc, bytes(blob.data))
    return glb, SceneStats(n_feat, n_merged, n_inst, n_instances, n_lines, len(glb),
                           plan.counts)
