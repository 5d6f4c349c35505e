"""A throwaway PostgreSQL cluster for the tests and the benchmarks.

``initdb`` in a temporary folder, a server listening on a Unix socket in
that folder only (no TCP port), stopped and deleted at the end. PostgreSQL
refuses to run as root: as root, the cluster belongs to the ``postgres``
user that Debian's package creates (``runuser``); anyone else runs it as
themselves. The binaries are Debian's (``/usr/lib/postgresql/<version>/bin``,
with ``postgresql-15-postgis-3`` for PostGIS), or the folder named by
``TWIN_PG_BIN``.

``TWIN_TEST_PG`` names an existing server database instead
(``postgresql://user@host/db``, PostGIS installed or installable by that
user). Where its role is a superuser (``.ci/run``'s throwaway server),
:class:`Server` uses it as the tests use a cluster of their own: databases
made from templates, each named with a tag of this run and dropped at the
end. Otherwise the tests make their schemas in that database and drop them
afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit


class ClusterError(RuntimeError):
    """No PostgreSQL to test with: the message says what to install or set."""


def _bin_dir() -> Path:
    env = os.environ.get("TWIN_PG_BIN")
    if env:
        return Path(env)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if not found:
        raise ClusterError(
            "no PostgreSQL server binaries: install Debian's postgresql and "
            "postgresql-15-postgis-3 (.ci/run does), set TWIN_PG_BIN to the folder of initdb, "
            "or set TWIN_TEST_PG to the URL of a test database")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Databases:
    """Databases made, copied and dropped on a server; ``url(database)`` says
    where each one is, ``admin_database`` where to connect to make them."""

    admin_database = "postgres"
    #: in the names of the databases a run makes where other runs may make theirs
    tag = ""

    def url(self, database: str = "postgres", **params: str) -> str:
        raise NotImplementedError

    def name(self, base: str) -> str:
        """``base`` tagged for this run (where the server is shared)."""
        return f"{base}_{self.tag}" if self.tag else base

    def create_database(self, name: str) -> str:
        """A database with PostGIS; returns its URL."""
        import psycopg

        with psycopg.connect(self.url(self.admin_database), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(self.url(name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        return self.url(name)

    def clone_database(self, template: str, name: str) -> str:
        """A new database ``name``, a copy of ``template`` (which nobody may be
        connected to): cheaper than building a twin again. Returns its URL."""
        import psycopg

        with psycopg.connect(self.url(self.admin_database), autocommit=True) as conn:
            # FILE_COPY: a copy of the files, a few times faster than WAL_LOG here
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(self.admin_database), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Cluster(_Databases):
    """A private PostgreSQL server for this process."""

    def __init__(self, *, durable: bool = False):
        self.bin = _bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="twin-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()  # names the socket file; nothing listens on TCP
        self.durable = durable
        self._as = []
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self.started = False

    def _run(self, *args: str) -> None:
        proc = subprocess.run([*self._as, *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise ClusterError(f"{Path(args[0]).name} failed: {proc.stderr or proc.stdout}")

    def start(self) -> Cluster:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        opts = (f"-c listen_addresses='' -c unix_socket_directories={self.dir} "
                f"-p {self.port} -c max_connections=200 -c shared_buffers=256MB")
        if not self.durable:  # tests: no need to survive a power cut
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts,
                  "-l", str(self.dir / "server.log"), "-w", "-t", "60", "start")
        self.started = True
        return self

    def url(self, database: str = "postgres", **params: str) -> str:
        query = "&".join([f"host={quote(str(self.dir), safe='')}", f"port={self.port}"]
                         + [f"{k}={v}" for k, v in params.items()])
        return f"postgresql://postgres@/{database}?{query}"

    def stop(self) -> None:
        if self.started:
            subprocess.run([*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m",
                            "fast", "-w", "stop"], capture_output=True)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


class Server(_Databases):
    """The server ``TWIN_TEST_PG`` names, used like a cluster of our own where
    its role is a superuser (it may make databases and PostGIS in them). The
    databases made through it are dropped by :meth:`stop`; their names should
    carry a tag of the run (:attr:`tag`), since other runs may share the server."""

    def __init__(self, url: str):
        self._parts = urlsplit(url)
        self.admin_database = self._parts.path.lstrip("/") or "postgres"
        self.tag = uuid.uuid4().hex[:8]
        self._made: set[str] = set()

    def is_superuser(self) -> bool:
        import psycopg

        with psycopg.connect(self.url(self.admin_database), autocommit=True) as conn:
            row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                               ).fetchone()
        return bool(row and row[0])

    def url(self, database: str = "postgres", **params: str) -> str:
        query = "&".join([q for q in [self._parts.query] if q]
                         + [f"{k}={v}" for k, v in params.items()])
        return urlunsplit(self._parts._replace(path="/" + database, query=query))

    def create_database(self, name: str) -> str:
        self._made.add(name)
        return super().create_database(name)

    def clone_database(self, template: str, name: str) -> str:
        self._made.add(name)
        return super().clone_database(template, name)

    def drop_database(self, name: str) -> None:
        super().drop_database(name)
        self._made.discard(name)

    def stop(self) -> None:
        for name in sorted(self._made):
            self.drop_database(name)


def with_params(url: str, **params: str) -> str:
    """``url`` with more query parameters."""
    sep = "&" if "?" in url else "?"
    return url + sep + "&".join(f"{k}={v}" for k, v in params.items())


def new_schema_name() -> str:
    return "t_" + uuid.uuid4().hex[:12]


def drop_schema(url: str, schema: str) -> None:
    import psycopg

    from twin.store.location import parse_server

    with psycopg.connect(parse_server(url).conninfo, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def dump_schema(url: str) -> dict[str, list]:
    """Every row of every table of a server twin, to compare states exactly
    (the counterpart of ``builders.dump_twin`` for files)."""
    import psycopg

    from twin.store.location import parse_server

    loc = parse_server(url)
    with psycopg.connect(loc.conninfo, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "ORDER BY c.relname", (loc.schema,))]
        out = {}
        for t in tables:
            rows = conn.execute(f'SELECT * FROM "{loc.schema}"."{t}"').fetchall()
            out[t] = sorted(map(repr, rows))
        return out
