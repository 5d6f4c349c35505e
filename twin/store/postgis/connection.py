"""Connections to the twin's database: opened on demand, kept for reuse.

Every statement of a reader runs on its own (autocommit: each sees the
latest committed state); a streamed query keeps one connection, inside one
read-only transaction, for as long as it is read, so its chunks all come
from the same snapshot. A write borrows a connection for its transaction.
Idle connections are kept (a few) and lent again: an API worker's threads
share them without opening one per request.

psycopg (3) is imported here only, when a server twin is opened: ``import
twin`` stays light for file twins.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from ...errors import StoreError
from ..location import ServerLocation

#: Idle connections kept per store.
MAX_IDLE = 8


def psycopg_module() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - a dependency of the toolkit
        raise StoreError("server twins need the psycopg package: pip install "
                         "'psycopg[binary]'") from None
    return psycopg


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ConnectionPool:
    """Connections to one twin (one database and schema), lent one at a time."""

    def __init__(self, location: ServerLocation, *, readonly: bool):
        self.location = location
        self.readonly = readonly
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False
        self._psycopg = psycopg_module()

    def connect(self) -> Any:
        """A new connection, set up for the twin (search path, text loaders)."""
        pg = self._psycopg
        schema = self.location.schema
        path = quote_ident(schema) + (",public" if schema != "public" else "")
        options = f"-c search_path={path}"
        if self.readonly:
            options += " -c default_transaction_read_only=on"
        try:
            conn = pg.connect(self.location.conninfo, autocommit=True, options=options,
                              application_name="twin")
        except pg.OperationalError as exc:
            raise StoreError(f"{self.location}: cannot connect to the database: "
                             f"{str(exc).strip()}") from None
        # JSON columns are read as the JSON text they hold (decoded where needed)
        from psycopg.types.string import TextBinaryLoader, TextLoader

        conn.adapters.register_loader("json", TextLoader)
        conn.adapters.register_loader("json", TextBinaryLoader)
        return conn

    @contextmanager
    def borrow(self) -> Iterator[Any]:
        """A connection for a while; it goes back to the idle list when it is
        healthy and outside any transaction, and is closed otherwise."""
        with self._lock:
            if self._closed:
                raise StoreError(f"{self.location}: the twin is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed:
            conn = self.connect()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def _give_back(self, conn: Any) -> None:
        pg = self._psycopg
        ok = not conn.closed and conn.info.transaction_status == pg.pq.TransactionStatus.IDLE
        with self._lock:
            if ok and not self._closed and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def run_on_two(conn: Any, pool: ConnectionPool, statements: list[str]) -> None:
    """Run ``statements`` (independent ones: index builds) on ``conn`` and on
    a second connection from ``pool`` at once, each taking the next one left.

    PostgreSQL builds a GiST index on one core; two builds of one table run
    side by side (both take a ``SHARE`` lock). ``conn``'s statements run in
    its transaction, if it is in one; the second connection's each commit on
    their own. An error of either is raised once both have stopped."""
    if len(statements) < 2:
        for sql in statements:
            conn.execute(sql)
        return
    left = list(reversed(statements))
    lock = threading.Lock()

    def take() -> str | None:
        with lock:
            return left.pop() if left else None

    def work(c: Any) -> None:
        while (sql := take()) is not None:
            try:
                c.execute(sql)
            except BaseException:
                with lock:
                    left.clear()  # the other stops after its current statement
                raise

    with pool.borrow() as other, ThreadPoolExecutor(max_workers=1) as ex:
        second = ex.submit(work, other)
        try:
            work(conn)
        finally:
            error = second.exception()
        if error is not None:
            raise error
