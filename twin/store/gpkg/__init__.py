"""The embedded twin store: one GeoPackage file (SQLite), no server.

* :mod:`.schema`: the tables, their creation and upgrades;
* :mod:`.create`: a new twin file;
* :mod:`.blob`: GeoPackage geometry blobs;
* :mod:`.writer`: an import's rows into the file (bulk loads included);
* :mod:`.store`: :class:`GeoPackageStore`, the :class:`~twin.store.base.TwinStore`.
"""

from __future__ import annotations

from ..migrate import SCHEMA_VERSION
from .schema import FORMAT_NAME
from .store import GeoPackageStore

__all__ = ["FORMAT_NAME", "SCHEMA_VERSION", "GeoPackageStore"]
