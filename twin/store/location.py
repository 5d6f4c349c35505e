"""Where a twin lives: a file path, or a PostgreSQL database named by a URL.

A server twin is named by a libpq connection URI::

    postgresql://gis@db.city.example/twin
    postgresql://gis@db.city.example:5433/twin?schema=district_7&sslmode=require
    postgresql:///twin?host=/var/run/postgresql

Besides libpq's own parameters, the URL may carry ``schema`` (the
PostgreSQL schema holding the twin, default ``public``; one database can
hold several twins) and, for ``twin init`` only, ``partitions`` (split the
big tables into that many partitions by the spatial key; see
``docs/store.md``).

A password never goes into the URL: it would end up in shell histories,
process lists and logs. libpq reads it from the environment (``PGPASSWORD``)
or from ``~/.pgpass``; a URL that carries one is refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import StoreError
from ..numbers import is_whole_number

SERVER_SCHEMES = ("postgresql://", "postgres://")
_OUR_PARAMS = ("schema", "partitions")
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def is_server(location: str | os.PathLike) -> bool:
    """Whether ``location`` names a server database rather than a file."""
    return isinstance(location, str) and location.lower().startswith(SERVER_SCHEMES)


@dataclass(frozen=True)
class ServerLocation:
    """A parsed server URL: what libpq gets, and what we keep for ourselves."""

    conninfo: str  #: the URL for libpq, without our own parameters
    schema: str  #: the PostgreSQL schema of the twin
    partitions: int  #: hash partitions asked for at creation (0: none)
    display: str  #: the URL as shown in messages (never holds a password)

    def __str__(self) -> str:
        return self.display


def parse_server(url: str) -> ServerLocation:
    """Split a server URL, refusing passwords and invalid parameters with a
    message that names what is wrong."""
    parts = urlsplit(url)
    safe_netloc = parts.netloc.rsplit("@", 1)[-1]
    shown = f"{parts.scheme}://...@{safe_netloc}{parts.path}" if "@" in parts.netloc else \
        f"{parts.scheme}://{safe_netloc}{parts.path}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.password is not None or any(k.lower() == "password" for k, _ in query):
        raise StoreError(
            f"{shown}: the URL carries a password; give it in the PGPASSWORD environment "
            "variable or in ~/.pgpass instead (a password in a URL ends up in shell "
            "histories, process lists and logs)")
    ours = {k: v for k, v in query if k in _OUR_PARAMS}
    rest = [(k, v) for k, v in query if k not in _OUR_PARAMS]
    schema = ours.get("schema", "public")
    if not _NAME_RE.match(schema) or schema.startswith("pg_"):
        raise StoreError(f"{shown}: schema {schema!r} is not valid: use lower-case letters, "
                         "digits and '_', starting with a letter (not pg_), at most 63")
    raw = ours.get("partitions", "0")
    if not is_whole_number(raw) or not 0 <= int(raw) <= 1024:
        raise StoreError(f"{shown}: partitions={raw!r} must be a whole number from 0 to 1024")
    conninfo = urlunsplit((parts.scheme if parts.scheme != "postgres" else "postgresql",
                           parts.netloc, parts.path, urlencode(rest), ""))
    display_query = urlencode([(k, v) for k, v in query if k != "partitions"])
    display = urlunsplit((parts.scheme, parts.netloc, parts.path, display_query, ""))
    return ServerLocation(conninfo=conninfo, schema=schema, partitions=int(raw),
                          display=display)
