"""What GIS layer readers share: generated stable ids, multi-part geometries,
topology from line ends.

GIS layers are exported, not designed: an ogr2ogr GeoJSON has no ``id``
member, a Shapefile's only key may be its row number, a utility's pipe layer
holds a MultiLineString where a main was drawn in two pieces. The GeoJSON and
the OGR line readers treat these the same way:

* **ids**: a unique, complete id field gives the ids; otherwise every
  feature gets a *generated* id derived from the layer name and the feature's
  own content (geometry and attributes, not its position in the file), so
  the same file imported twice gives the same ids, and a re-export that
  reorders the rows too (:func:`content_id`, :func:`assign_ids`);
* **multi-part geometries** are exploded into their parts where the target
  layer holds single lines or points; parts get the feature's id with
  ``#1``, ``#2``, ... (:func:`explode`);
* **topology** from line ends: ends within a tolerance become one node, whose
  id is derived from its position, not from the order of the lines
  (:func:`snapped_nodes`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

from twin.attributes import coerce_typed
from twin.layers import STANDARD_LAYERS, UTILITY_LAYER_BY_CODE

from .base import ConversionContext

#: Geometry type each standard layer holds (``LINESTRING``, ``POINT``, ...).
LAYER_GEOMETRY = {layer.name: layer.geometry_type for layer in STANDARD_LAYERS}
#: Hex digits of a generated id.
ID_DIGITS = 12


def content_id(layer: str, geometry: bytes, attributes: Mapping[str, Any]) -> str:
    """A stable id from the layer name, the geometry's bytes and the attributes.

    >>> content_id("mains", b"\\x01", {"b": 1, "a": "x"}) == content_id(
    ...     "mains", b"\\x01", {"a": "x", "b": 1})
    True
    """
    h = hashlib.sha1(layer.encode("utf-8"))
    h.update(b"\0")
    h.update(geometry)
    h.update(b"\0")
    h.update(json.dumps(attributes, sort_keys=True, default=str, ensure_ascii=False)
             .encode("utf-8"))
    return "g" + h.hexdigest()[:ID_DIGITS]


def assign_ids(values: Sequence[Any] | None, field: str | None, layer: str,
               geometries: Sequence[bytes], attributes: Sequence[Mapping[str, Any]]
               ) -> tuple[list[str], dict[str, Any]]:
    """The ids of a layer's features, and how they were made (for the report).

    ``values`` are the id field's values (``None``: no id field). They give the
    ids when every feature has one and no two are equal; otherwise ids are
    generated with :func:`content_id`, and identical features (same geometry
    and attributes) are told apart by ``-2``, ``-3``, ... in file order (which
    of two identical features is which does not matter)."""
    if values is not None:
        texts = ["" if v is None else str(v).strip() for v in values]
        empty = sum(1 for t in texts if not t or t.lower() == "nan")
        dups = len(texts) - len(set(texts))
        if not empty and not dups:
            return texts, {"ids_from": f"field {field}"}
        why = (f"field {field} has " + ", ".join(
            p for p in (f"{empty} empty values" if empty else "",
                        f"{dups} repeated values" if dups else "") if p))
    else:
        why = "no id field"
    out: list[str] = []
    seen: dict[str, int] = {}
    for g, a in zip(geometries, attributes):
        base = content_id(layer, g, a)
        n = seen.get(base, 0) + 1
        seen[base] = n
        out.append(base if n == 1 else f"{base}-{n}")
    return out, {"ids_from": "generated", "ids_generated_because": why,
                 "ids_generated_from": f"layer name {layer!r}, geometry and attributes"}


def explode(geom: BaseGeometry, layer: str) -> list[BaseGeometry] | None:
    """The single parts of a multi-part ``geom`` when ``layer`` holds single
    lines or points (a one-part multi geometry is its part); ``None`` when it
    needs no exploding. A geometry collection is never exploded here."""
    target = LAYER_GEOMETRY.get(layer)
    kind = geom.geom_type
    if (kind == "MultiLineString" and target == "LINESTRING") or (
            kind == "MultiPoint" and target == "POINT"):
        return [p for p in shapely.get_parts(geom) if not p.is_empty]
    return None


def part_ids(fid: str, n: int) -> list[str]:
    """``fid`` for one part, ``fid#1`` ... ``fid#n`` for several.

    >>> part_ids("a", 1), part_ids("a", 2)
    (['a'], ['a#1', 'a#2'])
    """
    return [fid] if n == 1 else [f"{fid}#{k}" for k in range(1, n + 1)]


def snapped_nodes(ends: np.ndarray, tolerance: float) -> list[str]:
    """One node name per line end ``(n, 2)``: ends within ``tolerance`` of each
    other (transitively) share a node, named after the lowest end of the
    group rounded to the millimetre, so names do not depend on line order."""
    import networkx as nx

    pts = shapely.points(ends)
    left, right = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=tolerance)
    g = nx.Graph()
    g.add_nodes_from(range(len(ends)))
    g.add_edges_from(zip(left.tolist(), right.tolist()))
    names = [""] * len(ends)
    for comp in nx.connected_components(g):
        members = sorted(comp)
        key = min((round(float(ends[k, 0]), 3), round(float(ends[k, 1]), 3)) for k in members)
        name = hashlib.sha1(f"{key[0]:.3f},{key[1]:.3f}".encode()).hexdigest()[:ID_DIGITS]
        for k in members:
            names[k] = name
    return names


def drape(geom: BaseGeometry, layer: str, attrs: dict[str, Any], ctx: ConversionContext,
           fid: str) -> BaseGeometry:
    """Heights for a 2D utility line from the terrain (see the module docstring)."""
    code = next((c for c, n in UTILITY_LAYER_BY_CODE.items() if n == layer), None)
    if code is None or geom.geom_type != "LineString" or geom.has_z:
        return geom
    xy = shapely.get_coordinates(geom)
    ground = ctx.ground(xy) if ctx.ground is not None else np.full(len(xy), np.nan)
    if np.isnan(ground).any():
        attrs["depth_source"] = "unknown"
        return geom
    ctx.report["ground_used"] = ctx.report.get("ground_used", 0) + 1
    d, h = attrs.get("diameter_mm"), attrs.get("height_mm")
    half = (float(d) if d is not None else float(h) if h is not None else 0.0) / 2000.0
    if attrs.get("depth_m") is not None:
        cover = float(coerce_typed("depth_m", attrs["depth_m"], fid))
        attrs["depth_source"] = "depth_m+terrain"
    else:
        cover = default_cover(code)
        attrs["depth_source"] = "assumed"
    return LineString(np.column_stack([xy, ground - cover - half]))


def default_cover(code: str) -> float:
    return _cjj61_covers().get(code, 1.0)


@functools.lru_cache(maxsize=1)
def _cjj61_covers() -> MappingProxyType:
    """The CJJ 61 default covers, read from the shipped profile once (not per feature)."""
    from .survey import load_profile

    return MappingProxyType(dict(load_profile("cjj61").default_depth_m))
