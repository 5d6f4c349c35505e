"""CRS handling of the API: OGC CRS URIs, output reprojection, axis order.

OGC API - Features returns WGS 84 longitude/latitude (CRS84) unless a client
asks for another CRS with ``crs`` (Part 2). Coordinates are then written in
the axis order the CRS defines: EPSG:4546 (CGCS2000 / 3-degree Gauss-Kruger)
is northing first, EPSG:4326 latitude first; CRS84 and most UTM CRSs are
x/easting first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from twin.crs import make_transformer, parse_crs
from twin.errors import CRSError

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_CRS84 = CRS.from_user_input("OGC:CRS84")


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
    tr = None if dst.crs == src else make_transformer(src, dst.crs)

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
    tr = make_transformer(choice.crs, twin_crs)
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
    tr = make_transformer(twin_crs, _CRS84)
    xs = np.array([b[0], b[2], b[2], b[0]])
    ys = np.array([b[1], b[1], b[3], b[3]])
    X, Y = tr.transform(xs, ys, errcheck=True)
    return (float(X.min()), float(Y.min()), float(X.max()), float(Y.max()))
