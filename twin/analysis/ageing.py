"""Ageing of pipe networks: age bands and the renewal list.

Urban renewal policy asks cities to renew, for example, heating pipes that have
been in service for 20 years or more. Age is ``year - install_year``; pipes
without an install year are counted apart (``unknown``), never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .segments import SegmentTable

#: Default age bands in years: [0, 10), [10, 20), [20, 30), [30, 40), 40+.
DEFAULT_BANDS = (0, 10, 20, 30, 40)


def band_labels(bands: tuple[int, ...] = DEFAULT_BANDS) -> list[str]:
    labels = [f"{a}-{b - 1}" for a, b in zip(bands[:-1], bands[1:])]
    return labels + [f"{bands[-1]}+"]


def age_band_index(ages: np.ndarray, bands: tuple[int, ...] = DEFAULT_BANDS) -> np.ndarray:
    """Band index of each age (-1 where the age is unknown, i.e. negative)."""
    idx = np.searchsorted(np.asarray(bands), ages, side="right") - 1
    return np.where(ages < 0, -1, idx)


@dataclass(frozen=True)
class AgeBandRow:
    layer: str
    band: str
    segments: int
    length_km: float


def age_bands(seg: SegmentTable, year: int, bands: tuple[int, ...] = DEFAULT_BANDS,
              types: tuple[str, ...] | None = None) -> list[AgeBandRow]:
    """Segment count and length per layer and age band (plus ``unknown``)."""
    if types:
        seg = seg.select(np.isin(seg.types, types))
    known = seg.install_year >= 0
    ages = np.where(known, year - seg.install_year, -1)
    idx = age_band_index(ages, bands)
    labels = band_labels(bands)
    out = []
    for layer in sorted(set(seg.layers)):
        m = seg.layers == layer
        for k, label in [*enumerate(labels), (-1, "unknown")]:
            sel = m & (idx == k)
            if sel.any():
                out.append(AgeBandRow(layer, label, int(sel.sum()),
                                      round(float(seg.length[sel].sum()) / 1000, 4)))
    return out


@dataclass(frozen=True)
class RenewalItem:
    id: str
    layer: str
    type: str
    install_year: int
    age: int
    length_m: float
    diameter_mm: float
    material: str


@dataclass(frozen=True)
class RenewalList:
    """Segments in service ``min_age`` years or more, oldest first."""

    year: int
    min_age: int
    items: tuple[RenewalItem, ...]
    total_segments: int
    total_length_m: float
    unknown_age_segments: int

    @property
    def length_m(self) -> float:
        return float(sum(i.length_m for i in self.items))

    @property
    def share_by_length(self) -> float:
        return self.length_m / self.total_length_m if self.total_length_m else 0.0


def renewal_list(seg: SegmentTable, year: int, min_age: int = 20,
                 layers: tuple[str, ...] = ("heating",)) -> RenewalList:
    """The renewal list: segments of ``layers`` with ``year - install_year >= min_age``."""
    m = np.isin(seg.layers, layers)
    s = seg.select(m)
    known = s.install_year >= 0
    age = year - s.install_year
    due = known & (age >= min_age)
    order = np.lexsort((s.ids[due].astype(str), -age[due]))
    items = tuple(
        RenewalItem(str(s.ids[due][k]), str(s.layers[due][k]), str(s.types[due][k]),
                    int(s.install_year[due][k]), int(age[due][k]),
                    round(float(s.length[due][k]), 3), float(s.diameter_mm[due][k]),
                    str(s.material[due][k]))
        for k in order)
    return RenewalList(year=year, min_age=min_age, items=items, total_segments=len(s),
                       total_length_m=float(s.length.sum()),
                       unknown_age_segments=int((~known).sum()))
