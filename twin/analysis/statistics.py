"""Network statistics: lengths by diameter, material and age band."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

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


def network_statistics(seg: SegmentTable, year: int,
                       bands: tuple[int, ...] = DEFAULT_BANDS) -> list[NetworkStatistics]:
    """One summary per utility layer. Ducts (no diameter) count as
    ``WxH`` sizes; unknown values are reported as ``unknown``."""
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
        rnd = lambda d: {k: round(v, 4) for k, v in sorted(d.items())}  # noqa: E731
        out.append(NetworkStatistics(layer, len(s), round(float(s.length.sum()) / 1000, 4),
                                     rnd(dia), rnd(mat), rnd(age)))
    return out
