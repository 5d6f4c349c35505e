"""Network statistics: lengths by diameter, material and age band."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from ..numbers import is_whole_number
from .ageing import DEFAULT_BANDS, age_band_index, band_labels
from .segments import SegmentTable


@dataclass(frozen=True)
class NetworkStatistics:
    layer: str
    segments: int
    length_km: float
    by_diameter_km: dict[str, float] = field(default_factory=dict)
    by_material_km: dict[str, float] = field(default_factory=dict)
    by_age_band_km: dict[str, float] = field(default_factory=dict)


def size_order(key: str) -> tuple:
    """Sort key of size labels: ``DN50 < DN100 < DN1000``, then ducts
    ``W x H`` by width and height, then ``unknown`` (numbers, not text).

    >>> sorted(["DN1000", "unknown", "600x400", "DN50", "DN200"], key=size_order)
    ['DN50', 'DN200', 'DN1000', '600x400', 'unknown']
    """
    if key.startswith("DN"):
        return (0, float(key[2:]), 0.0)
    if "x" in key:
        w, _, h = key.partition("x")
        return (1, float(w), float(h))
    return (2, 0.0, 0.0)


def band_order(key: str) -> tuple:
    """Sort key of age bands: ``0-9 < 10-19 < 40+ < unknown``."""
    head = key.split("-")[0].rstrip("+")
    return (0, int(head)) if is_whole_number(head) else (1, 0)


def network_statistics(seg: SegmentTable, year: int,
                       bands: tuple[int, ...] = DEFAULT_BANDS) -> list[NetworkStatistics]:
    """One summary per utility layer. Ducts (no diameter) count as
    ``WxH`` sizes; unknown values are reported as ``unknown``. Sizes and age
    bands are in numeric order (:func:`size_order`), materials by name."""
    labels = band_labels(bands)
    out = []
    for layer in sorted(set(seg.layers)):
        s = seg.select(seg.layers == layer)
        dia: dict[str, float] = defaultdict(float)
        mat: dict[str, float] = defaultdict(float)
        age: dict[str, float] = defaultdict(float)
        idx = age_band_index(np.where(s.install_year >= 0, year - s.install_year, -1), bands)
        for k in range(len(s)):
            km = float(s.length[k]) / 1000
            if np.isfinite(s.diameter_mm[k]):
                dkey = f"DN{s.diameter_mm[k]:g}"
            elif s.half_width[k] > 0:
                dkey = f"{s.half_width[k] * 2000:g}x{s.half_height[k] * 2000:g}"
            else:
                dkey = "unknown"
            dia[dkey] += km
            mat[s.material[k] or "unknown"] += km
            age[labels[idx[k]] if idx[k] >= 0 else "unknown"] += km
        rnd = lambda d, key=None: {k: round(d[k], 4) for k in sorted(d, key=key)}  # noqa: E731
        out.append(NetworkStatistics(layer, len(s), round(float(s.length.sum()) / 1000, 4),
                                     rnd(dia, size_order), rnd(mat), rnd(age, band_order)))
    return out
