"""Ragged arrays in numpy: many variable-length segments (rings of a
polygon, polygons of a geometry, triangles of a mesh) laid end to end in
one flat array, described by their sizes."""

from __future__ import annotations

import numpy as np


def offsets(sizes: np.ndarray) -> np.ndarray:
    """Where each segment starts, for segments of ``sizes`` laid end to end."""
    return np.cumsum(sizes) - sizes


def gather(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The flat positions ``starts[i], ..., starts[i] + sizes[i] - 1`` of the
    segments, one after the other (to pick some segments out of a ragged
    array)."""
    return np.repeat(starts - offsets(sizes), sizes) + np.arange(int(np.sum(sizes)))


def run_starts(keys: np.ndarray) -> np.ndarray:
    """Whether each item of sorted ``keys`` starts a run of equal keys."""
    out = np.ones(len(keys), bool)
    out[1:] = keys[1:] != keys[:-1]
    return out


def member(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Whether each of the integer ``values`` is one of ``keys``: a sorted
    search (``np.isin`` and ``np.unique`` may first import ``numpy.ma``, a
    cost that a small file's import notices).

    >>> member(np.array([3, 1, 7]), np.array([7, 3])).tolist()
    [True, False, True]
    """
    values = np.asarray(values)
    keys = np.sort(np.asarray(keys, dtype=values.dtype if values.size else None).ravel())
    if not len(keys):
        return np.zeros(values.shape, bool)
    at = np.minimum(search(keys, values.ravel()), len(keys) - 1).reshape(values.shape)
    return keys[at] == values


def search(keys: np.ndarray, values: np.ndarray, side: str = "left") -> np.ndarray:
    """``np.searchsorted(keys, values, side)`` of a flat array of many
    ``values`` in any order, the values sorted first: numpy's binary search
    is two to three times faster over values that come in order (each search
    starts from the last one's place) than over values in the order of a
    ring's edges, sorting included (141,000 edge keys: 10 ms to 3.9 ms).

    >>> search(np.array([1, 3, 5]), np.array([6, 0, 3])).tolist()
    [3, 0, 1]
    """
    values = np.asarray(values)
    order = np.argsort(values)
    out = np.empty(len(values), np.intp)
    out[order] = np.searchsorted(keys, values[order], side)  # type: ignore[call-overload]
    return out


def unique(values: np.ndarray) -> np.ndarray:
    """The sorted distinct items of ``values`` (flattened): ``np.unique``
    without its check for masked arrays, which imports ``numpy.ma`` the first
    time (20 ms of CPU, a sixth of a small CityJSON file's import).

    >>> unique(np.array([3, 1, 3, 7, 1])).tolist()
    [1, 3, 7]
    """
    s = np.sort(np.asarray(values), axis=None)
    return s[run_starts(s)]
