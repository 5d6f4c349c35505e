"""GeoPackage geometry blobs (GeoPackage 1.4, clause 2.1.3), vectorised.

A blob is a small header (``GP``, version, flags, srs id, envelope) followed
by ISO WKB. We always write little-endian blobs with an XY envelope.
"""

from __future__ import annotations

import struct

import numpy as np
import shapely

from ...errors import GeometryError

_HEADER = struct.Struct("<2sBBi4d")  # magic, version, flags, srs_id, minx maxx miny maxy
_FLAGS_XY_ENVELOPE_LE = 0b0000_0011
_ENVELOPE_SIZES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


_MULTI_POLYGON_ONE = struct.pack("<BII", 1, 6, 1)  # little-endian MultiPolygon of 1 part


def encode(geoms: np.ndarray, srs_id: int, promote_multi: np.ndarray | None = None
           ) -> list[bytes | None]:
    """Encode an array of shapely geometries (``None`` allowed) as GPKG blobs.

    Where ``promote_multi`` is true, a Polygon is written as a MultiPolygon of
    one part (done on the WKB bytes: far cheaper than building the geometry).
    """
    geoms = np.asarray(geoms, dtype=object)
    out: list[bytes | None] = [None] * len(geoms)
    present = ~shapely.is_missing(geoms)
    if not present.any():
        return out
    idx = np.flatnonzero(present)
    g = geoms[idx]
    has_z = shapely.has_z(g)
    wkb2 = shapely.to_wkb(g, output_dimension=2, byte_order=1, flavor="iso")
    if has_z.any():
        wkb3 = shapely.to_wkb(g[has_z], output_dimension=3, byte_order=1, flavor="iso")
        wkb2[has_z] = wkb3
    bounds = shapely.bounds(g)
    promote = (promote_multi[idx] if promote_multi is not None else np.zeros(len(idx), bool)
               ).tolist()
    pack = _HEADER.pack
    for i, b, w, p in zip(idx.tolist(), bounds.tolist(), wkb2.tolist(), promote):
        if p:
            w = _MULTI_POLYGON_ONE + w
        if b[0] != b[0]:  # NaN: an empty geometry: flag bit 4, no envelope
            out[i] = struct.pack("<2sBBi", b"GP", 0, 0b0001_0001, srs_id) + w
        else:
            out[i] = pack(b"GP", 0, _FLAGS_XY_ENVELOPE_LE, srs_id, b[0], b[2], b[1], b[3]) + w
    return out


def wkb_of(blob: bytes) -> bytes:
    """The WKB part of one GPKG blob."""
    if len(blob) < 8 or blob[:2] != b"GP":
        raise GeometryError("not a GeoPackage geometry blob (bad magic)")
    flags = blob[3]
    env = (flags >> 1) & 0b111
    if env not in _ENVELOPE_SIZES:
        raise GeometryError(f"GeoPackage blob has an invalid envelope code {env}")
    return blob[8 + _ENVELOPE_SIZES[env]:]


def decode(blobs: list[bytes | None]) -> np.ndarray:
    """Decode GPKG blobs into an array of shapely geometries (``None`` kept)."""
    wkbs = np.array([wkb_of(b) if b is not None else None for b in blobs], dtype=object)
    return shapely.from_wkb(wkbs)
