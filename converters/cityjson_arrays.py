"""A chunk of city objects' boundaries as flat lists, then as checked arrays.

The converter's one pass of plain Python appends every surface geometry of
a chunk to the lists of a :class:`Gather` (vertex indices, ring sizes,
polygon ring counts, semantic values, and per geometry its object, group,
vertex base and labels). :func:`checked_arrays` turns them into numpy arrays
for the whole chunk and checks what the schema check left to numpy: indices
that are no integers or out of range, semantic values that point to no
surface. The objects at fault are skipped with their reason and their data
dropped; the others go on unaffected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ragged import member


class Gather:
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



@dataclass
class Arrays:
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


def checked_arrays(g: Gather, skipped: dict[int, str]) -> Arrays | None:
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
    a = Arrays(flat.astype(np.int64, copy=False), np.asarray(g.ring_sizes, np.int64),
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
        kept = _drop(a, member(a.g_obj, np.fromiter(bad, np.int64, len(bad))))
        if kept is None:
            return None
        a = kept
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


def _blame_types(g: Gather, geo: dict, skipped: dict[int, str]
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


def _drop(a: Arrays, gone: np.ndarray) -> Arrays | None:
    """``a`` without the geometries ``gone`` (a mask over geometries)."""
    if gone.all():
        return None
    if not gone.any():
        return a
    poly_gone = np.repeat(gone, a.g_polys)
    ring_gone = np.repeat(poly_gone, a.poly_rings)
    flat_gone = np.repeat(gone, a.g_flat)
    keep = ~gone
    return Arrays(a.flat[~flat_gone], a.ring_sizes[~ring_gone], a.poly_rings[~poly_gone],
                   a.sem[~poly_gone], a.g_obj[keep], a.g_group[keep], a.g_polys[keep],
                   a.g_flat[keep], a.g_base[keep], a.g_count[keep], a.g_remap[keep],
                   a.g_labels[keep], a.remap)
