"""The server twin store: PostgreSQL with PostGIS, shared by many clients.

* :mod:`.connection`: connections (psycopg 3), lent to readers and writers;
* :mod:`.schema`: the tables, the layers' GIS views, partitions, upgrades;
* :mod:`.writer`: an import's rows through COPY;
* :mod:`.store`: :class:`PostGISStore`, the :class:`~twin.store.base.TwinStore`.
"""

from __future__ import annotations

from .schema import FORMAT_NAME
from .store import PostGISStore

__all__ = ["FORMAT_NAME", "PostGISStore"]
