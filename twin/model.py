"""The twin's values: meshes, features, provenance, import batches.

All values are immutable: meshes hold read-only numpy arrays, features are
frozen dataclasses whose attribute mapping cannot be changed. Converters build
them, the store persists them, queries return them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from .errors import FeatureError, GeometryError

_ID_MAX = 256


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    if a.flags.writeable:
        a = a.copy() if a.base is not None else a
        a.flags.writeable = False
    return a


def _frozen_view(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


@dataclass(frozen=True, eq=False)
class Mesh:
    """A triangle mesh in the twin CRS.

    Parameters
    ----------
    vertices : (n, 3) float64
        Coordinates in the twin CRS (metres, absolute).
    faces : (m, 3) int
        Vertex indices of each triangle, counter-clockwise seen from outside.
    face_labels : (m,) int16, optional
        Index of each face's semantic label in ``labels`` (``-1``: none).
    labels : tuple of str
        Semantic surface names, e.g. ``("GroundSurface", "WallSurface",
        "RoofSurface")`` as CityJSON and CityGML name them.
    """

    vertices: np.ndarray
    faces: np.ndarray
    face_labels: np.ndarray | None = None
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        v = np.asarray(self.vertices, dtype=np.float64)
        f = np.asarray(self.faces)
        if v.ndim != 2 or v.shape[1] != 3:
            raise GeometryError(f"mesh vertices must be (n, 3), got {v.shape}")
        if f.size == 0:
            f = f.reshape(0, 3)
        if f.ndim != 2 or f.shape[1] != 3:
            raise GeometryError(f"mesh faces must be (m, 3), got {f.shape}")
        if not np.issubdtype(f.dtype, np.integer):
            raise GeometryError(f"mesh faces must be integers, got {f.dtype}")
        if not np.all(np.isfinite(v)):
            raise GeometryError("mesh vertices contain NaN or infinite values")
        if f.size and (f.min() < 0 or f.max() >= len(v)):
            raise GeometryError(
                f"mesh face index out of range: indices {f.min()}..{f.max()} for "
                f"{len(v)} vertices"
            )
        object.__setattr__(self, "vertices", _readonly(v))
        object.__setattr__(self, "faces", _readonly(f.astype(np.int64, copy=False)))
        object.__setattr__(self, "labels", tuple(self.labels))
        if self.face_labels is not None:
            fl = np.asarray(self.face_labels, dtype=np.int16)
            if fl.shape != (len(f),):
                raise GeometryError(
                    f"face_labels must have one entry per face ({len(f)}), got {fl.shape}"
                )
            if fl.size and (fl.min() < -1 or fl.max() >= len(self.labels)):
                raise GeometryError(
                    f"face label index out of range for {len(self.labels)} labels"
                )
            object.__setattr__(self, "face_labels", _readonly(fl))

    @classmethod
    def trusted(cls, vertices: np.ndarray, faces: np.ndarray,
                face_labels: np.ndarray | None = None, labels: tuple[str, ...] = ()) -> Mesh:
        """A mesh from arrays whose checks were done in bulk by the caller:
        ``float64`` vertices ``(n, 3)``, all finite; ``int64`` faces ``(m, 3)``
        within range; ``int16`` face labels within ``labels``. For the store's
        decoding and converters that build thousands of meshes at once (the
        checks of ``Mesh(...)`` cost more than the work on small meshes).
        The mesh holds read-only views of the arrays, not copies: the caller
        must not change them (nor the arrays they are slices of) afterwards."""
        mesh = object.__new__(cls)
        object.__setattr__(mesh, "vertices", _frozen_view(vertices))
        object.__setattr__(mesh, "faces", _frozen_view(faces))
        object.__setattr__(mesh, "face_labels",
                           _frozen_view(face_labels) if face_labels is not None else None)
        object.__setattr__(mesh, "labels", tuple(labels))
        return mesh

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    @property
    def n_faces(self) -> int:
        return len(self.faces)

    @property
    def bounds(self) -> tuple[float, float, float, float, float, float]:
        """``(xmin, ymin, zmin, xmax, ymax, zmax)``."""
        if len(self.vertices) == 0:
            raise GeometryError("empty mesh has no bounds")
        lo = self.vertices.min(axis=0)
        hi = self.vertices.max(axis=0)
        return (float(lo[0]), float(lo[1]), float(lo[2]), float(hi[0]), float(hi[1]),
                float(hi[2]))

    def label_counts(self) -> dict[str, int]:
        """Number of faces per semantic label."""
        if self.face_labels is None:
            return {}
        idx, counts = np.unique(self.face_labels, return_counts=True)
        return {self.labels[i]: int(c) for i, c in zip(idx, counts) if i >= 0}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mesh):
            return NotImplemented
        fl_eq = (self.face_labels is None and other.face_labels is None) or (
            self.face_labels is not None and other.face_labels is not None
            and np.array_equal(self.face_labels, other.face_labels)
        )
        return (self.labels == other.labels and fl_eq
                and np.array_equal(self.faces, other.faces)
                and np.array_equal(self.vertices, other.vertices))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Provenance:
    """Where a feature came from."""

    source_file: str
    source_format: str
    source_id: str | None
    batch_id: int
    converter: str
    converter_version: str


@dataclass(frozen=True)
class Edge:
    """The topology of a linear network feature: it runs ``start`` -> ``end``.

    ``start``/``end`` are node ids in the same ``network`` (typically the ids
    of manholes, valves or junction features in the ``pipe_nodes`` layer).
    """

    network: str
    start: str
    end: str


Bounds3D = tuple[float, float, float, float, float, float]


@dataclass(frozen=True)
class Feature:
    """One city object, element, pipe or node of the twin.

    Parameters
    ----------
    id : str
        Stable id, prefixed by its source: ``ifc:2O2Fr$t4X7Zf8NOew3FLOH``,
        ``cityjson:NL.IMBAG.Pand.0503100000000010``, ``survey:JS-0012``.
    layer : str
        Name of the layer (see :mod:`twin.layers`).
    type : str
        Object class: ``Building``, ``BuildingPart``, ``IfcWall``,
        ``PipeSegment``, ``Manhole``, ...
    name : str, optional
    parent : str, optional
        Id of the parent feature (building > storey > element, system > segment).
    attributes : mapping
        Typed attributes (:mod:`twin.attributes`) and free-form ones.
    footprint : shapely geometry, optional
        2D footprint (polygons), centreline (line, may carry Z) or position
        (point, may carry Z) in the twin CRS.
    meshes : mapping of LoD -> Mesh
        Triangle meshes, one per level of detail (``"1"``, ``"2.2"``, ...).
    lod : str, optional
        The LoD shown by default; the highest of ``meshes`` when omitted.
    edge : Edge, optional
        Network topology of a linear feature.
    source_id : str, optional
        The id of the object in its source file, when different from ``id``.
    provenance : Provenance, optional
        Filled in by the store; ignored on insert.
    """

    id: str
    layer: str
    type: str
    name: str | None = None
    parent: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    footprint: BaseGeometry | None = None
    meshes: Mapping[str, Mesh] = field(default_factory=dict)
    lod: str | None = None
    edge: Edge | None = None
    source_id: str | None = None
    provenance: Provenance | None = None
    bbox: Bounds3D | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip() or len(self.id) > _ID_MAX:
            raise FeatureError(
                f"feature id {self.id!r} is invalid: a non-empty string of at most "
                f"{_ID_MAX} characters is needed", self.id if isinstance(self.id, str) else None,
            )
        if not isinstance(self.type, str) or not self.type:
            raise FeatureError(f"feature {self.id!r} has no type", self.id)
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))
        meshes = dict(self.meshes)
        for lod, mesh in meshes.items():
            if not isinstance(mesh, Mesh):
                raise GeometryError(f"feature {self.id!r}: LoD {lod!r} is not a Mesh", self.id)
        object.__setattr__(self, "meshes", MappingProxyType(meshes))
        if self.lod is None and meshes:
            object.__setattr__(self, "lod", max(meshes, key=lod_key))
        elif self.lod is not None and meshes and self.lod not in meshes:
            raise GeometryError(
                f"feature {self.id!r}: default LoD {self.lod!r} has no mesh; meshes exist "
                f"for {sorted(meshes)}", self.id,
            )
        if self.footprint is not None:
            if not isinstance(self.footprint, BaseGeometry):
                raise GeometryError(
                    f"feature {self.id!r}: footprint must be a shapely geometry", self.id
                )
        if self.bbox is None:
            object.__setattr__(self, "bbox", compute_bounds(self))

    @property
    def mesh(self) -> Mesh | None:
        """The mesh of the default LoD, if any."""
        return self.meshes.get(self.lod) if self.lod is not None else None

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON Feature (footprint geometry, attributes as properties)."""
        geom = shapely.geometry.mapping(self.footprint) if self.footprint is not None else None
        props: dict[str, Any] = {
            "layer": self.layer, "type": self.type, "name": self.name,
            "parent": self.parent, "lod": self.lod,
        }
        if self.bbox is not None:
            props["zmin"], props["zmax"] = self.bbox[2], self.bbox[5]
        props.update(self.attributes)
        return {"type": "Feature", "id": self.id, "geometry": geom, "properties": props}


def lod_key(lod: str) -> tuple:
    """Sort key of LoD names: numbers in numeric order (``"1.2" < "2.2"``), other
    names after them."""
    try:
        return (0, float(lod), lod)
    except ValueError:
        return (1, 0.0, lod)


def compute_bounds(feature: Feature) -> Bounds3D | None:
    """3D bounds ``(xmin, ymin, zmin, xmax, ymax, zmax)`` of a feature: its
    meshes, else its footprint (z from its coordinates when it has Z, else
    ``nan``: the heights are unknown)."""
    boxes = [m.bounds for m in feature.meshes.values() if m.n_vertices]
    if boxes:
        arr = np.array(boxes)
        lo = arr[:, :3].min(axis=0)
        hi = arr[:, 3:].max(axis=0)
        return (*map(float, lo), *map(float, hi))  # type: ignore[return-value]
    fp = feature.footprint
    if fp is None or fp.is_empty:
        return None
    coords = shapely.get_coordinates(fp, include_z=fp.has_z)
    if not np.all(np.isfinite(coords[:, :2])):
        raise GeometryError(f"feature {feature.id!r}: footprint has non-finite coordinates",
                            feature.id)
    xmin, ymin = coords[:, 0].min(), coords[:, 1].min()
    xmax, ymax = coords[:, 0].max(), coords[:, 1].max()
    if fp.has_z and coords.shape[1] == 3 and np.all(np.isfinite(coords[:, 2])):
        zmin, zmax = coords[:, 2].min(), coords[:, 2].max()
    else:
        zmin = zmax = math.nan  # heights unknown: 2D queries find it, 3D boxes do not
    vals = (xmin, ymin, zmin, xmax, ymax, zmax)
    if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
        raise GeometryError(f"feature {feature.id!r}: non-finite bounds", feature.id)
    return tuple(float(v) for v in vals)  # type: ignore[return-value]


@dataclass(frozen=True)
class ImportBatch:
    """A record of one import: what came in, from where, and how it ended."""

    id: int
    source: str
    format: str
    converter: str
    converter_version: str
    started: str
    finished: str | None
    status: str
    feature_count: int
    report: Mapping[str, Any] = field(default_factory=dict)
