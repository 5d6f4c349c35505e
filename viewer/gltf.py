"""Twin features to binary glTF (GLB) scenes for web viewers.

glTF is Y-up and renders in float32, so vertices are written relative to
the twin's local origin (no jitter at city coordinates) and rotated from the
twin's (east, north, up) into glTF's (x = east, y = up, z = -north). The
origin and the axis convention are recorded in the asset's ``extras`` so that
a client can place picks back in the twin CRS.

Two layouts:

- :func:`scene_glb` one node per feature, its id, layer, type, name and key
  attributes in the node's ``extras`` and, typed, in the GLB's
  ``EXT_structural_metadata`` property table (each vertex's
  ``_FEATURE_ID_0``, declared by ``EXT_mesh_features``, is the feature's
  row): what a viewer needs to pick a feature and show its attributes
  without another request. Right for API scenes of a
  few thousand features. Features without a mesh are drawn as lines or
  points, a building whose parts have meshes by its parts
  (:func:`viewer.scene.plan_scene`); the asset's ``extras["counts"]`` says
  how many of each (:class:`viewer.scene.SceneCounts`).
- :func:`merged_glb` one mesh per layer with a per-vertex feature index
  (``_FEATURE_ID_0`` as in ``EXT_mesh_features``) into the GLB's
  ``EXT_structural_metadata`` property table, the same rows in ``extras``:
  few draw calls for large tiles (3D Tiles content).

The metadata (:mod:`viewer.gltf_metadata`) is what CesiumJS and other 3D
Tiles clients read; the ``extras`` what the project's web viewer reads
(three.js does not parse the metadata extension); both are written from the
same rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pygltflib as gl

from twin.model import Feature, Mesh

from .glb_pack import glb_bytes, json_chunk
from .gltf_metadata import MetadataWriter
from .scene import Ground, Outline, ParentOf, mesh_of, plan_scene

#: Attributes copied into node extras (when a feature has them).
KEY_ATTRIBUTES = (
    "function", "storeys", "height", "year_built", "network", "diameter_mm", "width_mm",
    "height_mm", "material", "install_year", "depth_m", "pressure_class", "status",
)

_FLOAT, _UINT32, _UINT16 = 5126, 5125, 5123
_POINTS, _LINES = 0, 1  # primitive modes
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


def to_gltf_axes(vertices: np.ndarray, origin: Sequence[float] | np.ndarray,
                 linear: np.ndarray | None = None) -> np.ndarray:
    """Twin coordinates ``(n, 3)`` (E, N, up) to glTF float32 ``(n, 3)``
    (x = E - ox, y = up - oz, z = -(N - oy)); ``linear`` (3 x 3) is applied
    to the offsets from the origin first."""
    v = np.asarray(vertices, dtype=np.float64) - np.asarray(origin, dtype=np.float64)
    if linear is not None:
        v = v @ np.asarray(linear, dtype=np.float64).T
    out = np.empty(v.shape, dtype=np.float32)
    out[:, 0] = v[:, 0]
    out[:, 1] = v[:, 2]
    out[:, 2] = -v[:, 1]
    return out


def hex_to_rgba(colour: str, alpha: float = 1.0) -> list[float]:
    """``"#rrggbb"`` to linear-ish RGBA factors in 0..1 (glTF base colour)."""
    c = colour.lstrip("#")
    rgb = [int(c[i:i + 2], 16) / 255.0 for i in (0, 2, 4)]
    # glTF base colours are linear; convert from sRGB so the browser shows the catalogue colour
    lin = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in rgb]
    return [*lin, float(alpha)]


@dataclass
class _Builder:
    """Accumulates buffer views and accessors into one binary blob."""

    gltf: gl.GLTF2
    blob: bytearray

    def _view(self, data: bytes, target: int | None, align: int = 4) -> int:
        pad = (-len(self.blob)) % align
        self.blob.extend(b"\0" * pad)
        self.gltf.bufferViews.append(gl.BufferView(
            buffer=0, byteOffset=len(self.blob), byteLength=len(data), target=target))
        self.blob.extend(data)
        return len(self.gltf.bufferViews) - 1

    def positions(self, v: np.ndarray) -> int:
        view = self._view(v.astype(np.float32).tobytes(), _ARRAY_BUFFER)
        self.gltf.accessors.append(gl.Accessor(
            bufferView=view, componentType=_FLOAT, count=len(v), type="VEC3",
            min=[float(x) for x in v.min(axis=0)], max=[float(x) for x in v.max(axis=0)]))
        return len(self.gltf.accessors) - 1

    def scalars(self, a: np.ndarray) -> int:
        view = self._view(a.astype(np.float32).tobytes(), _ARRAY_BUFFER)
        self.gltf.accessors.append(gl.Accessor(
            bufferView=view, componentType=_FLOAT, count=len(a), type="SCALAR"))
        return len(self.gltf.accessors) - 1

    def indices(self, f: np.ndarray, n_vertices: int) -> int:
        flat = f.reshape(-1)
        if n_vertices <= 65535:
            data, ctype = flat.astype(np.uint16).tobytes(), _UINT16
        else:
            data, ctype = flat.astype(np.uint32).tobytes(), _UINT32
        view = self._view(data, _ELEMENT_ARRAY_BUFFER)
        self.gltf.accessors.append(gl.Accessor(
            bufferView=view, componentType=ctype, count=len(flat), type="SCALAR"))
        return len(self.gltf.accessors) - 1

    def metadata_view(self, data: bytes) -> int:
        """A buffer view of property table values (8-byte aligned, no target)."""
        return self._view(data, None, align=8)

    def finish(self, node_extras: Mapping[int, dict] | None = None,
               metadata: dict | None = None) -> bytes:
        """The GLB. ``node_extras`` (by node index) and the
        ``EXT_structural_metadata`` object are added to the JSON as it is
        written: large feature tables would pass through the dataclass
        conversion many times slower than through ``json``. The bytes are
        pygltflib's, without its deep copies (:mod:`viewer.glb_pack`)."""
        self.blob.extend(b"\0" * ((-len(self.blob)) % 4))
        self.gltf.buffers = [gl.Buffer(byteLength=len(self.blob))]
        return glb_bytes(self.gltf, bytes(self.blob), node_extras, metadata)


def _new(origin: Sequence[float], crs: str, extras: Mapping | None) -> _Builder:
    g = gl.GLTF2(asset=gl.Asset(version="2.0", generator="digital-twin-city"))
    g.asset.extras = {"origin": [float(x) for x in origin], "crs": crs,
                      "axes": "x=east, y=up, z=-north, metres from origin",
                      **(dict(extras) if extras else {})}
    g.scene = 0
    g.scenes = [gl.Scene(nodes=[])]
    return _Builder(g, bytearray())


def _materials(b: _Builder, colours: Mapping[str, str], opacity: Mapping[str, float]
               ) -> dict[str, int]:
    index: dict[str, int] = {}
    for layer, colour in colours.items():
        alpha = float(opacity.get(layer, 1.0))
        b.gltf.materials.append(gl.Material(
            name=layer, doubleSided=True, alphaMode="BLEND" if alpha < 1 else "OPAQUE",
            pbrMetallicRoughness=gl.PbrMetallicRoughness(
                baseColorFactor=hex_to_rgba(colour, alpha), metallicFactor=0.0,
                roughnessFactor=0.85)))
        index[layer] = len(b.gltf.materials) - 1
    return index


def _extras(f: Feature) -> dict:
    ex = {"id": f.id, "layer": f.layer, "type": f.type}
    if f.name:
        ex["name"] = f.name
    if f.parent:
        ex["parent"] = f.parent
    for k in KEY_ATTRIBUTES:
        v = f.attributes.get(k)
        if v is not None:
            ex[k] = v
    return ex


def scene_glb(features: Iterable[Feature], origin: Sequence[float], colours: Mapping[str, str],
              *, crs: str = "", opacity: Mapping[str, float] | None = None,
              extras: Mapping | None = None, ground: Ground | None = None,
              parent_of: ParentOf | None = None) -> tuple[bytes, int]:
    """A GLB with one node per feature: its mesh (default LoD), or for a
    feature without one its footprint as lines and points (at its heights,
    else on ``ground``, else at the origin's height; the node's
    ``extras["drawn_as"]`` and ``extras["heights"]`` say which).

    Nodes are grouped under one parent node per layer (named after it, so a
    viewer can toggle layers). ``parent_of`` finds parents outside
    ``features`` so that a building whose parts are in the scene is drawn by
    its parts only. Returns ``(glb_bytes, n_features_written)``; the asset's
    ``extras["counts"]`` holds the :class:`~viewer.scene.SceneCounts`.
    """
    plan = plan_scene(features, float(origin[2]), ground=ground, parent_of=parent_of)
    b = _new(origin, crs, {**(dict(extras) if extras else {}), "counts": asdict(plan.counts)})
    mats = _materials(b, colours, opacity or {})
    layer_nodes: dict[str, int] = {}
    meta = MetadataWriter()

    def add_node(f: Feature, prims: list[gl.Primitive], ex: dict) -> None:
        row = meta.add(f.layer, [_extras(f)])
        for p in prims:  # every vertex of the feature: its row in the property table
            n = b.gltf.accessors[p.attributes.POSITION].count
            p.attributes._FEATURE_ID_0 = b.scalars(  # type: ignore[attr-defined]
                np.full(n, row, dtype=np.float32))
            p.extensions = {"EXT_mesh_features": {"featureIds": [
                {"featureCount": 1, "attribute": 0, "propertyTable": 0}]}}
        b.gltf.meshes.append(gl.Mesh(name=f.id, primitives=prims))
        b.gltf.nodes.append(gl.Node(name=f.id, mesh=len(b.gltf.meshes) - 1, extras=ex))
        node = len(b.gltf.nodes) - 1
        if f.layer not in layer_nodes:
            b.gltf.nodes.append(gl.Node(name=f.layer, children=[], extras={"layer": f.layer}))
            layer_nodes[f.layer] = len(b.gltf.nodes) - 1
            b.gltf.scenes[0].nodes.append(layer_nodes[f.layer])
        b.gltf.nodes[layer_nodes[f.layer]].children.append(node)

    for f in plan.meshed:
        mesh: Mesh = f.mesh  # type: ignore[assignment]
        v = to_gltf_axes(mesh.vertices, origin)
        add_node(f, [gl.Primitive(attributes=gl.Attributes(POSITION=b.positions(v)),
                                  indices=b.indices(mesh.faces, len(v)),
                                  material=mats.get(f.layer))], _extras(f))
    for f, out in plan.outlined:
        prims, kinds = _outline_primitives(b, out, origin, mats.get(f.layer))
        add_node(f, prims, {**_extras(f), "drawn_as": kinds, "heights": out.heights})
    if meta:
        b.gltf.extensionsUsed = ["EXT_mesh_features", "EXT_structural_metadata"]
    metadata = meta.finish(b.metadata_view) if meta else None
    return b.finish(metadata=metadata), len(plan.meshed) + len(plan.outlined)


def _outline_primitives(b: _Builder, out: Outline, origin: Sequence[float],
                        material: int | None) -> tuple[list[gl.Primitive], str]:
    """Line segments (``LINES``: each polyline's vertex pairs) and points."""
    prims, kinds = [], []
    if out.lines:
        v = to_gltf_axes(np.concatenate(out.lines), origin)
        sizes = np.array([len(ln) for ln in out.lines])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        first = np.arange(len(v))
        last_of_line = np.zeros(len(v), bool)
        last_of_line[starts + sizes - 1] = True
        first = first[~last_of_line]  # a segment from every vertex but each line's last
        pairs = np.column_stack([first, first + 1])
        prims.append(gl.Primitive(attributes=gl.Attributes(POSITION=b.positions(v)),
                                  indices=b.indices(pairs, len(v)), material=material,
                                  mode=_LINES))
        kinds.append("lines")
    if len(out.points):
        v = to_gltf_axes(out.points, origin)
        prims.append(gl.Primitive(attributes=gl.Attributes(POSITION=b.positions(v)),
                                  material=material, mode=_POINTS))
        kinds.append("points")
    return prims, "+".join(kinds)


def merged_glb(features: Iterable[Feature], origin: Sequence[float], colours: Mapping[str, str],
               *, crs: str = "", opacity: Mapping[str, float] | None = None,
               extras: Mapping | None = None, linear: np.ndarray | None = None,
               node_matrix: Sequence[float] | None = None, metadata: bool = True
               ) -> tuple[bytes, list[dict]]:
    """A GLB with one mesh per layer; each vertex carries its feature's row
    in the GLB's ``EXT_structural_metadata`` property table
    (``_FEATURE_ID_0``, declared as ``EXT_mesh_features`` feature ids as 3D
    Tiles 1.1 expects; typed columns: what CesiumJS reads when a feature is
    picked or styled, see :mod:`viewer.gltf_metadata`). The layers' rows
    follow one another in the table; a layer node's ``extras["features"]``
    holds its rows as JSON and ``extras["feature_offset"]`` the row of the
    first (what the project's web viewer reads: three.js does not parse the
    metadata extension). ``metadata=False`` leaves the property table out
    (extras and feature ids only, as the tiles were before; the benchmark's
    baseline). Returns ``(glb, table)``, the table's rows."""
    by_layer: dict[str, list[Feature]] = {}
    for f in features:
        if f.mesh is not None and f.mesh.n_faces:
            by_layer.setdefault(f.layer, []).append(f)
    b = _new(origin, crs, extras)
    mats = _materials(b, colours, opacity or {})
    table: list[dict] = []
    late: dict[int, dict] = {}
    meta = MetadataWriter()
    for layer, feats in by_layer.items():
        verts, faces, fids = [], [], []
        base = 0
        first = len(table)
        for k, f in enumerate(feats):
            m = mesh_of(f)
            verts.append(m.vertices)
            faces.append(m.faces + base)
            fids.append(np.full(m.n_vertices, first + k, dtype=np.float32))
            base += m.n_vertices
            table.append(_extras(f))
        v = to_gltf_axes(np.concatenate(verts), origin, linear)
        attrs = gl.Attributes(POSITION=b.positions(v))
        attrs._FEATURE_ID_0 = b.scalars(np.concatenate(fids))  # type: ignore[attr-defined]
        prim = gl.Primitive(attributes=attrs, indices=b.indices(np.concatenate(faces), len(v)),
                            material=mats.get(layer))
        # 3D Tiles 1.1 feature ids (EXT_mesh_features): the vertex attribute indexes
        # this layer's rows of the feature table
        prim.extensions = {"EXT_mesh_features": {"featureIds": [
            {"featureCount": len(feats), "attribute": 0,
             **({"propertyTable": 0} if metadata else {})}]}}
        if metadata:
            meta.add(layer, table[first:])
        b.gltf.meshes.append(gl.Mesh(name=layer, primitives=[prim]))
        b.gltf.nodes.append(gl.Node(name=layer, mesh=len(b.gltf.meshes) - 1, extras={
            "layer": layer}, matrix=list(node_matrix) if node_matrix is not None else None))
        b.gltf.scenes[0].nodes.append(len(b.gltf.nodes) - 1)
        late[len(b.gltf.nodes) - 1] = {"features": table[first:], "feature_offset": first}
    if by_layer:
        b.gltf.extensionsUsed = ["EXT_mesh_features"] + (["EXT_structural_metadata"]
                                                         if metadata else [])
    return b.finish(late, meta.finish(b.metadata_view) if meta else None), table


def _with_json(glb: bytes, doc: dict) -> bytes:
    """``glb`` with its JSON chunk replaced by ``doc`` (the binary chunk kept):
    the container of the glTF 2.0 specification, section "GLB File Format"."""
    old_len = int.from_bytes(glb[12:16], "little")
    rest = glb[20 + old_len:]  # the BIN chunk, header included
    text = json_chunk(doc)
    total = 12 + 8 + len(text) + len(rest)
    return (b"glTF" + (2).to_bytes(4, "little") + total.to_bytes(4, "little")
            + len(text).to_bytes(4, "little") + b"JSON" + text + rest)


def read_glb_json(data: bytes) -> dict:
    """The JSON chunk of a GLB (for tests and tools)."""
    if data[:4] != b"glTF":
        raise ValueError("not a GLB (no 'glTF' magic)")
    length = int.from_bytes(data[12:16], "little")
    return json.loads(data[20:20 + length])
