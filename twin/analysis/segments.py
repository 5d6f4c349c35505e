"""Pipe segments as arrays: the common input of the network analyses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString

from ..layers import UTILITY_LAYER_BY_CODE
from ..query import Query
from ..store.base import TwinStore

#: Rule groups of the CJJ 61 codes: rain water and sewage are drainage.
RULE_GROUP = {"JS": "JS", "PS": "PS", "YS": "PS", "WS": "PS", "RQ": "RQ", "RL": "RL",
              "DL": "DL", "TX": "TX", "GY": "GY"}
CODE_BY_LAYER = {layer: code for code, layer in UTILITY_LAYER_BY_CODE.items()}


@dataclass(frozen=True)
class SegmentTable:
    """Pipe segments of one or more utility layers.

    Attributes (all arrays of length ``n``): ``ids``, ``layers``, ``codes``
    (CJJ 61 code of the layer), ``types``, ``diameter_mm`` (nan if unknown),
    ``half_width``/``half_height`` (m, outer half sizes; 0 if unknown),
    ``material``, ``install_year`` (-1 if unknown), ``length`` (m, 3D when the
    centreline has Z), ``start``/``end`` (node ids, ``""`` if none),
    ``serves`` (building served by a service pipe, ``""`` if none),
    ``pressure_class`` and ``burial`` (``""`` if unknown), ``depth_source``
    (how the centreline heights were found: ``invert``, ``surveyed``,
    ``assumed``, ...; ``""`` if not said) and ``lines``: shapely centrelines
    (with Z where known).
    """

    ids: np.ndarray
    layers: np.ndarray
    codes: np.ndarray
    types: np.ndarray
    diameter_mm: np.ndarray
    half_width: np.ndarray
    half_height: np.ndarray
    material: np.ndarray
    install_year: np.ndarray
    length: np.ndarray
    start: np.ndarray
    end: np.ndarray
    serves: np.ndarray
    pressure_class: np.ndarray
    burial: np.ndarray
    lines: np.ndarray
    depth_source: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.depth_source is None:
            object.__setattr__(self, "depth_source", np.full(len(self.ids), "", dtype=object))

    @property
    def assumed_depth(self) -> np.ndarray:
        """Segments whose heights are (at least partly) assumed, not measured."""
        sources = self.depth_source if self.depth_source is not None else ()
        return np.array(["assumed" in str(d) for d in sources], dtype=bool)

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, mask: np.ndarray) -> SegmentTable:
        return SegmentTable(**{k: getattr(self, k)[mask] for k in self.__dataclass_fields__})


def _length(line: LineString) -> float:
    c = shapely.get_coordinates(line, include_z=line.has_z)
    return float(np.sqrt((np.diff(c, axis=0) ** 2).sum(axis=1)).sum())


def load_segments(store: TwinStore, layers: tuple[str, ...] | None = None,
                  bbox: tuple[float, float, float, float] | None = None) -> SegmentTable:
    """Every linear feature of the utility ``layers`` (default: all of them)."""
    layers = tuple(layers) if layers else tuple(CODE_BY_LAYER)
    rows = []
    for f in store.query(Query(layers=layers, bbox=bbox)):
        if f.footprint is None or f.footprint.geom_type != "LineString":
            continue
        a = f.attributes
        d = a.get("diameter_mm")
        w, h = a.get("width_mm"), a.get("height_mm")
        if d is not None:
            hw = hh = float(d) / 2000.0
        elif w is not None and h is not None:
            hw, hh = float(w) / 2000.0, float(h) / 2000.0
        else:
            hw = hh = 0.0
        rows.append((
            f.id, f.layer, CODE_BY_LAYER.get(f.layer, str(a.get("network", ""))), f.type,
            float(d) if d is not None else np.nan, hw, hh, str(a.get("material", "")),
            int(a["install_year"]) if a.get("install_year") is not None else -1,
            _length(f.footprint), f.edge.start if f.edge else "", f.edge.end if f.edge else "",
            str(a.get("serves", "")), str(a.get("pressure_class", "")),
            str(a.get("burial", "")), f.footprint, str(a.get("depth_source", ""))))
    cols = list(zip(*rows)) if rows else [()] * len(SegmentTable.__dataclass_fields__)
    obj = lambda k: np.array(cols[k], dtype=object)  # noqa: E731
    return SegmentTable(
        ids=obj(0), layers=obj(1), codes=obj(2), types=obj(3),
        diameter_mm=np.array(cols[4], float), half_width=np.array(cols[5], float),
        half_height=np.array(cols[6], float), material=obj(7),
        install_year=np.array(cols[8], np.int64), length=np.array(cols[9], float),
        start=obj(10), end=obj(11), serves=obj(12), pressure_class=obj(13), burial=obj(14),
        lines=obj(15), depth_source=obj(16))
