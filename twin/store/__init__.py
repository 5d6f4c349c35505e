"""Twin stores: where a twin lives.

:func:`open_twin` and :func:`create_twin` pick the backend from the location:

* a file path: the embedded GeoPackage store (one file, no server;
  :mod:`twin.store.gpkg`);
* a ``postgresql://`` URL: the server store on PostgreSQL/PostGIS
  (:mod:`twin.store.postgis`; the URL's forms in :mod:`twin.store.location`).

Both implement :class:`TwinStore`; nothing above the store needs to know
which one it talks to. :func:`copy_twin` copies a twin between any two.
"""

from __future__ import annotations

import os
from typing import Any

from .base import BatchWriter, TwinInfo, TwinStore
from .gpkg import GeoPackageStore
from .location import is_server
from .migrate import SCHEMA_VERSION
from .versions import resolve_as_of

__all__ = ["BatchWriter", "GeoPackageStore", "SCHEMA_VERSION", "TwinInfo", "TwinStore",
           "create_twin", "is_server", "open_twin", "resolve_as_of"]


def _location(location: str | os.PathLike) -> str:
    loc = os.fspath(location)
    if loc.lower().startswith("postgis://"):  # a common slip: libpq's scheme is postgresql
        loc = "postgresql://" + loc[len("postgis://"):]
    return loc


def open_twin(location: str | os.PathLike, *, readonly: bool = False) -> TwinStore:
    """Open an existing twin (``city.gpkg`` or ``postgresql://user@host/db``).

    A twin written by an older toolkit is upgraded when opened writable, and
    refused when opened read-only (:class:`~twin.errors.SchemaVersionError`)."""
    loc = _location(location)
    if is_server(loc):
        from .postgis import PostGISStore  # psycopg only when a server is used

        return PostGISStore(loc, readonly=readonly)
    return GeoPackageStore(loc, readonly=readonly)


def create_twin(location: str | os.PathLike, crs: Any, *, vertical_datum: str | None = None,
                origin: tuple[float, float, float] | None = None,
                overwrite: bool = False) -> TwinStore:
    """Create a new, empty twin in the projected metric ``crs``."""
    loc = _location(location)
    if is_server(loc):
        from .postgis import PostGISStore

        return PostGISStore.create(loc, crs, vertical_datum=vertical_datum, origin=origin,
                                   overwrite=overwrite)
    return GeoPackageStore.create(loc, crs, vertical_datum=vertical_datum, origin=origin,
                                  overwrite=overwrite)
