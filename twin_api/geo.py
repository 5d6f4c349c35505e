"""CRS handling of the API: OGC CRS URIs, output reprojection, axis order.

OGC API - Features returns WGS 84 longitude/latitude (CRS84) unless a client
asks for another CRS with ``crs`` (Part 2). Coordinates are then written in
the axis order the CRS defines: EPSG:4546 (CGCS2000 / 3-degree Gauss-Kruger)
is northing first, EPSG:4326 latitude first; CRS84 and most UTM CRSs are
x/easting first.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import ProjError
from shapely.geometry.base import BaseGeometry

from twin.crs import parse_crs
from twin.errors import CRSError

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_CRS84 = CRS.from_user_input("OGC:CRS84")


class _Operations:
    """Transformers for the server's threads, made cheaply.

    ``Transformer.from_crs`` searches PROJ's database for the best operation
    between two CRSs: about 0.6 s for the twin's CGCS2000 Gauss-Kruger CRS to
    CRS84, every time, and pyproj repeats it whenever a transformer is first
    used on another thread. A server answering from a thread pool paid that on
    every new thread (82% of its time in a profile under load). The search
    is done once per CRS pair here; each thread then builds its transformer
    from the chosen operation's PROJ pipeline (0.2 ms). An operation PROJ
    picks only when transforming (several candidates, grids) has no fixed
    pipeline: such pairs are built with ``from_crs`` per thread, as before.
    The memo holds only PROJ strings (immutable, a few per twin).
    """

    def __init__(self) -> None:
        self._pipelines: dict[tuple[str, str], str | None] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def get(self, src: CRS, dst: CRS) -> Transformer:
        key = (src.srs, dst.srs)  # what each CRS was made from (to_wkt() costs ~0.3 ms)
        mine = getattr(self._local, "transformers", None)
        if mine is None:
            mine = self._local.transformers = {}
        tr = mine.get(key)
        if tr is not None:
            return tr
        with self._lock:
            known = key in self._pipelines
            pipeline = self._pipelines.get(key)
        if pipeline is not None:
            tr = Transformer.from_pipeline(pipeline)
        else:
            tr = Transformer.from_crs(src, dst, always_xy=True)
            if not known:
                with self._lock:
                    self._pipelines[key] = _pipeline_of(tr)
        if len(mine) >= 64:
            mine.clear()
        mine[key] = tr
        return tr


def _pipeline_of(tr: Transformer) -> str | None:
    """The PROJ pipeline of a transformer, when it has one that rebuilds it."""
    try:
        definition = tr.definition
        Transformer.from_pipeline(definition)
    except ProjError:  # "unavailable until proj_trans is called": chosen per call
        return None
    return definition


_OPERATIONS = _Operations()


def transformer(src: CRS, dst: CRS) -> Transformer:
    """An ``always_xy`` transformer from ``src`` to ``dst`` for this thread."""
    return _OPERATIONS.get(src, dst)


def warm_transformers(twin_crs: CRS) -> None:
    """Find the operations between the twin CRS and the CRSs the API offers
    now, so that no client's request waits for the search."""
    for uri in supported_crs(twin_crs):
        other = _CRS84 if uri == CRS84 else parse_crs(uri)
        if other != twin_crs:
            transformer(twin_crs, other)
            transformer(other, twin_crs)


def crs_uri(crs: CRS) -> str:
    """The OGC URI of ``crs`` (``http://www.opengis.net/def/crs/EPSG/0/4546``)."""
    if crs == _CRS84:
        return CRS84
    auth = crs.to_authority(min_confidence=90)
    if auth is None:
        raise CRSError(f"CRS {crs.name!r} has no authority code to name it by in the API")
    if auth[0] == "OGC":
        return f"http://www.opengis.net/def/crs/OGC/1.3/{auth[1]}"
    return f"http://www.opengis.net/def/crs/{auth[0]}/0/{auth[1]}"


def _northing_first(crs: CRS) -> bool:
    axes = crs.axis_info
    return bool(axes) and axes[0].direction.lower() in ("north", "south")


@dataclass(frozen=True)
class CrsChoice:
    """A CRS a request named, and whether its axes are swapped relative to x/y."""

    uri: str
    crs: CRS
    swap: bool


def supported_crs(twin_crs: CRS) -> list[str]:
    """CRSs every collection offers: CRS84, WGS 84 (lat/lon) and the twin's own."""
    return [CRS84, "http://www.opengis.net/def/crs/EPSG/0/4326", crs_uri(twin_crs)]


def choose_crs(uri: str | None, twin_crs: CRS, what: str = "crs") -> CrsChoice:
    """Resolve a ``crs``/``bbox-crs`` parameter; only the supported CRSs are
    accepted (OGC API Part 2 wants a 400 for any other)."""
    if uri is None or uri == "":
        return CrsChoice(CRS84, _CRS84, False)
    allowed = supported_crs(twin_crs)
    norm = uri.strip().strip("<>")
    if norm not in allowed:
        raise CRSError(f"{what} {uri!r} is not offered; use one of: {', '.join(allowed)}")
    crs = _CRS84 if norm == CRS84 else parse_crs(norm, what=what)
    return CrsChoice(norm, crs, _northing_first(crs))


def reproject_geometries(geoms: Sequence[BaseGeometry | None], src: CRS, dst: CrsChoice
                         ) -> list[BaseGeometry | None]:
    """Reproject shapely geometries (Z kept as is) into the chosen CRS and axis order."""
    arr = np.array(list(geoms), dtype=object)
    if len(arr) == 0:
        return []
    present = np.array([g is not None for g in arr])
    if dst.crs == src and not dst.swap:
        return list(arr)
    tr = None if dst.crs == src else transformer(src, dst.crs)

    def fn(xy: np.ndarray) -> np.ndarray:
        out = xy.copy()
        if tr is not None:
            x, y = tr.transform(xy[:, 0], xy[:, 1], errcheck=True)
            out[:, 0], out[:, 1] = x, y
        if dst.swap:
            out[:, [0, 1]] = out[:, [1, 0]]
        return out

    res = arr.copy()
    if present.any():
        res[present] = shapely.transform(arr[present].astype(object), fn, include_z=None)
    return list(res)


def bbox_to_twin(bbox: Sequence[float], choice: CrsChoice, twin_crs: CRS
                 ) -> tuple[float, float, float, float]:
    """A 2D bbox given in ``choice``'s axis order into the twin CRS (the
    envelope of its densified outline, so a rotated grid loses nothing)."""
    x0, y0, x1, y1 = bbox
    if choice.swap:
        x0, y0, x1, y1 = y0, x0, y1, x1
    if choice.crs == twin_crs:
        return (x0, y0, x1, y1)
    tr = transformer(choice.crs, twin_crs)
    t = np.linspace(0.0, 1.0, 21)
    xs = np.concatenate([x0 + (x1 - x0) * t, np.full(21, x1), x1 - (x1 - x0) * t, np.full(21, x0)])
    ys = np.concatenate([np.full(21, y0), y0 + (y1 - y0) * t, np.full(21, y1), y1 - (y1 - y0) * t])
    try:
        X, Y = tr.transform(xs, ys, errcheck=True)
    except Exception as exc:  # pyproj raises ProjError; name the bbox
        raise CRSError(f"bbox {list(bbox)} cannot be transformed into the twin CRS: {exc}"
                       ) from None
    return (float(np.min(X)), float(np.min(Y)), float(np.max(X)), float(np.max(Y)))


def bbox_to_crs84(b: Sequence[float], twin_crs: CRS) -> tuple[float, float, float, float]:
    """A twin-CRS bbox ``(xmin, ymin, xmax, ymax)`` as a CRS84 bbox."""
    tr = transformer(twin_crs, _CRS84)
    xs = np.array([b[0], b[2], b[2], b[0]])
    ys = np.array([b[1], b[1], b[3], b[3]])
    X, Y = tr.transform(xs, ys, errcheck=True)
    return (float(X.min()), float(Y.min()), float(X.max()), float(Y.max()))
