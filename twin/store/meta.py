"""``twin_meta``: the few facts every twin keeps about itself, in any backend.

``format`` (which store wrote it), ``schema_version`` and
``toolkit_version``, ``created``, the CRS (``crs_wkt``, ``crs_name``,
``srs_id``), ``vertical_datum``, the local rendering ``origin`` (JSON, or
null until the first import sets it), ``revision`` (raised by every
committed change), ``tile_size`` (metres, of the partition key) and
``digest_format`` (how its version digests hash numbers, :mod:`.digests`;
absent in twins made before it was recorded).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pyproj import CRS

from .. import __version__
from ..errors import StoreError
from .codec import DEFAULT_TILE_SIZE
from .digests import DIGEST_FORMAT
from .migrate import SCHEMA_VERSION


def now() -> str:
    """The time stamps of batches and migrations: UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_origin(origin: Any) -> tuple[float, float, float] | None:
    """A local origin as three finite floats, or a clear error."""
    if origin is None:
        return None
    try:
        o = tuple(float(v) for v in origin)
    except (TypeError, ValueError):
        raise StoreError(f"origin {origin!r} must be three finite numbers") from None
    if len(o) != 3 or not all(np.isfinite(o)):
        raise StoreError(f"origin {origin!r} must be three finite numbers")
    return o  # type: ignore[return-value]


def new_meta(format_name: str, horizontal: CRS, srs_id: int, vdatum: str,
             origin: tuple[float, float, float] | None) -> dict[str, str | None]:
    """``twin_meta`` of a new twin."""
    return {
        "format": format_name, "schema_version": str(SCHEMA_VERSION),
        "toolkit_version": __version__, "created": now(),
        "crs_wkt": horizontal.to_wkt(), "crs_name": horizontal.name,
        "srs_id": str(srs_id), "vertical_datum": vdatum,
        "origin": json.dumps(origin) if origin is not None else None,
        "revision": "0", "tile_size": repr(DEFAULT_TILE_SIZE),
        "digest_format": str(DIGEST_FORMAT),
    }


def srs_id_of(ident: Any) -> int:
    """The SRS id a twin registers for its CRS: the EPSG code, or 100000 for
    a CRS without one."""
    return ident.code if ident.organization.upper() == "EPSG" and ident.code > 0 else 100000
