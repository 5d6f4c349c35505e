"""Coordinate reference systems of the twin.

A twin lives in **one projected, metric CRS** (for a Hohhot district
EPSG:4546, CGCS2000 / 3-degree Gauss-Kruger CM 111E). Geographic CRSs
(degrees) are refused for the twin itself because lengths, areas, clearances
and meshes must be in metres; input data in any CRS is reprojected into the
twin CRS with :func:`make_transformer`.

Transformers are built with ``always_xy=True`` (easting/longitude first,
whatever the authority's axis order) and used with ``errcheck=True`` so that
a failed transformation raises instead of returning ``inf``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as _PyprojCRSError
from pyproj.exceptions import ProjError

from .errors import CRSError
from .numbers import is_whole_number


def parse_crs(value: object, *, what: str = "CRS") -> CRS:
    """Return a :class:`pyproj.CRS` for any form pyproj accepts.

    ``value`` may be ``"EPSG:4546"``, ``4546``, a WKT string, a PROJ string,
    an OGC URL/URN (``http://www.opengis.net/def/crs/EPSG/0/4546``,
    ``urn:ogc:def:crs:EPSG::4546``) or a CRS object.
    """
    if isinstance(value, CRS):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        raise CRSError(f"{what} is missing")
    text = value
    if isinstance(value, str):
        text = _normalise_ogc_crs_uri(value.strip())
    try:
        return CRS.from_user_input(text)
    except (_PyprojCRSError, TypeError, ValueError) as exc:
        raise CRSError(f"{what} {value!r} is not a CRS pyproj understands: {exc}") from None


def _normalise_ogc_crs_uri(text: str) -> str:
    """Turn OGC CRS URLs/URNs (as CityJSON and OGC APIs write them) into ``AUTH:CODE``."""
    lowered = text.lower()
    for prefix in ("http://www.opengis.net/def/crs/", "https://www.opengis.net/def/crs/"):
        if lowered.startswith(prefix):
            parts = [p for p in text[len(prefix):].split("/") if p]
            if len(parts) >= 3:
                auth, code = parts[0], parts[-1]
                if auth.upper() == "OGC" and code.upper() in ("CRS84", "84"):
                    return "OGC:CRS84"
                return f"{auth.upper()}:{code}"
    if lowered.startswith("urn:ogc:def:crs:"):
        parts = text.split(":")
        # urn:ogc:def:crs:EPSG::4546 or urn:ogc:def:crs:EPSG:6.18:4546
        if len(parts) >= 6:
            return f"{parts[4].upper()}:{parts[-1]}"
    return text


def require_projected_metric(crs: CRS) -> CRS:
    """Check that ``crs`` can be a twin CRS: projected, with metre axes.

    Compound CRSs (projected + vertical) are accepted and reduced to their
    horizontal part; the vertical datum is kept as a label on the twin.
    """
    horizontal = crs
    if crs.is_compound:
        subs = [c for c in crs.sub_crs_list if not c.is_vertical]
        if not subs:
            raise CRSError(f"compound CRS {crs.name!r} has no horizontal part")
        horizontal = subs[0]
    if horizontal.is_geographic:
        raise CRSError(
            f"CRS {crs.name!r} is geographic (degrees); a twin needs a projected, "
            "metric CRS such as EPSG:4546 (CGCS2000 / 3-degree Gauss-Kruger CM 111E) "
            "or a UTM zone. Input data in degrees is fine: it is reprojected on import."
        )
    if not horizontal.is_projected:
        raise CRSError(f"CRS {crs.name!r} is not a projected CRS")
    units = {ax.unit_name.lower() for ax in horizontal.axis_info}
    if not units <= {"metre", "meter", "m"}:
        raise CRSError(
            f"CRS {crs.name!r} has axis units {sorted(units)}; the twin needs metres"
        )
    return horizontal


def vertical_datum_of(crs: CRS) -> str | None:
    """The name of the vertical datum of a compound CRS, if any."""
    if crs.is_compound:
        for sub in crs.sub_crs_list:
            if sub.is_vertical:
                return sub.name
    return None


@dataclass(frozen=True)
class CRSIdentity:
    """How a CRS is recorded in ``gpkg_spatial_ref_sys``."""

    organization: str
    code: int
    name: str
    wkt: str


def identify(crs: CRS) -> CRSIdentity:
    """Authority and code of ``crs`` (``NONE``/-1 style fallback when it has none)."""
    auth = crs.to_authority(min_confidence=90)
    wkt = crs.to_wkt()
    if auth is not None and is_whole_number(auth[1]):
        return CRSIdentity(auth[0], int(auth[1]), crs.name, wkt)
    return CRSIdentity("NONE", 0, crs.name, wkt)


_THREAD = threading.local()


def make_transformer(src: CRS, dst: CRS) -> Transformer:
    """An ``always_xy`` transformer from ``src`` to ``dst``, cached per thread
    (pyproj transformers must not be shared between threads: the API serves
    requests from a thread pool)."""
    cache = getattr(_THREAD, "transformers", None)
    if cache is None:
        cache = _THREAD.transformers = {}
    key = (src.to_wkt(), dst.to_wkt())
    tr = cache.get(key)
    if tr is None:
        if len(cache) >= 64:
            cache.clear()
        tr = cache[key] = Transformer.from_crs(src, dst, always_xy=True)
    return tr


def transform_xyz(
    src: CRS, dst: CRS, xyz: np.ndarray, *, source: str | None = None
) -> np.ndarray:
    """Transform an ``(n, 2)`` or ``(n, 3)`` float array from ``src`` into ``dst``.

    Heights pass through unchanged unless both CRSs are 3D. Raises
    :class:`CRSError` naming ``source`` if any point fails to transform.
    """
    pts = np.asarray(xyz, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] not in (2, 3):
        raise CRSError(f"coordinates must be (n, 2) or (n, 3), got {pts.shape}")
    if src == dst or len(pts) == 0:
        return pts.copy()
    tr = make_transformer(src, dst)
    try:
        x, y = tr.transform(pts[:, 0], pts[:, 1], errcheck=True)
    except ProjError as exc:
        where = f" in {source}" if source else ""
        raise CRSError(
            f"coordinates{where} could not be transformed from {src.name!r} to "
            f"{dst.name!r}: {exc}. Is the source CRS right?"
        ) from None
    out = pts.copy()
    out[:, 0] = x
    out[:, 1] = y
    if not np.all(np.isfinite(out[:, :2])):
        where = f" in {source}" if source else ""
        raise CRSError(f"coordinates{where} fall outside the area of {src.name!r}")
    return out
