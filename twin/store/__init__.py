"""Twin stores: where a twin lives.

:func:`open_twin` and :func:`create_twin` pick the backend from the location:
a file path is the embedded GeoPackage store (the default, no server).
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import StoreError
from .base import BatchWriter, TwinInfo, TwinStore
from .gpkg import GeoPackageStore
from .migrate import SCHEMA_VERSION

__all__ = ["BatchWriter", "GeoPackageStore", "SCHEMA_VERSION", "TwinInfo", "TwinStore",
           "create_twin", "open_twin"]

_SERVER_SCHEMES = ("postgresql://", "postgres://", "postgis://")


def _check_location(location: str | os.PathLike) -> str:
    loc = os.fspath(location)
    if loc.lower().startswith(_SERVER_SCHEMES):
        raise StoreError(
            f"{loc.split('@')[-1]}: server databases (PostGIS) are not supported by this "
            "version yet; use a .gpkg file"
        )
    return loc


def open_twin(location: str | os.PathLike, *, readonly: bool = False) -> TwinStore:
    """Open an existing twin (``city.gpkg``)."""
    return GeoPackageStore(_check_location(location), readonly=readonly)


def create_twin(location: str | os.PathLike, crs: Any, *, vertical_datum: str | None = None,
                origin: tuple[float, float, float] | None = None,
                overwrite: bool = False) -> TwinStore:
    """Create a new, empty twin in the projected metric ``crs``."""
    return GeoPackageStore.create(_check_location(location), crs,
                                  vertical_datum=vertical_datum, origin=origin,
                                  overwrite=overwrite)
