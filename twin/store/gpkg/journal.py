"""A bulk load into an empty GeoPackage twin, written once: a rollback journal.

In WAL mode every page an import writes goes to the WAL first, and the
checkpoint at the commit copies it into the file: a million features are
600 MB written twice, about 3 s of the commit and 5 s of CPU during the
load. A rollback journal keeps instead the original of every page a
transaction changes, and pages past the end the file had when the
transaction began have no original: they are written once, into the file.
An import into an empty twin changes only a handful of existing pages.

So an import into an empty twin holds back its first rows
(:data:`~twin.store.gpkg.writer.HOLD_FEATURES`): a smaller import is
written in WAL mode as always. When it grows past that, its transaction,
which has written nothing but its batch record, is rolled back; if no other
connection has the twin open (SQLite cannot leave WAL mode while one has:
an API server or QGIS reading the twin keeps the import in WAL mode), the
connection switches to ``journal_mode=DELETE``; the transaction begins
again with the same batch id (:meth:`BulkJournal.restart`). When the import ends,
committed or rolled back, the twin goes back to WAL (:meth:`BulkJournal.end`);
a writable open puts back WAL on a twin left otherwise (:func:`ensure_wal`).

What still holds: one transaction per import; a failed import leaves every
row as it was; a killed process leaves a hot journal that the next
connection rolls back before it reads anything. What changes while such a
load runs: a reader that opens the twin then waits for the import (its busy
timeout, 30 s) instead of reading the empty twin; and the file header's
change counter moves by two.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from ...errors import StoreError
from .. import writer_lock

log = logging.getLogger(__name__)


def set_journal(conn: sqlite3.Connection, mode: str, wait_ms: int) -> bool:
    """Switch ``conn``'s database to journal ``mode`` (``WAL`` or
    ``DELETE``), waiting at most ``wait_ms`` for other connections; whether
    it is in that mode now."""
    before = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
    try:
        got = conn.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0]
    except sqlite3.OperationalError as exc:  # another connection has the twin open
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout = {before}")
    return str(got).lower() == mode.lower()


def ensure_wal(conn: sqlite3.Connection, path: str) -> None:
    """Put a twin that is not in WAL mode (a bulk load was killed, or could
    not switch back) into WAL mode, if no other connection prevents it."""
    if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    if not set_journal(conn, "WAL", 0):
        log.warning("%s is not in WAL mode and another connection keeps it so; the next "
                    "writable open tries again", path)


class BulkJournal:
    """The journal of one import into an empty twin on ``conn``."""

    def __init__(self, conn: sqlite3.Connection, path: str,
                 board: Callable[[], sqlite3.Connection | None]):
        self.conn = conn
        self.path = path
        #: the store's board connection for the writer record (at the restart)
        self.board = board
        #: whether the twin is in a rollback journal now (switched back at :meth:`end`)
        self.switched = False

    def restart(self, batch_id: int, batch_row: tuple) -> None:
        """Roll back the import's transaction (its batch record and dropped
        indexes: nothing else is written yet), switch to a rollback journal
        if no other connection prevents it, and begin again, recording batch
        ``batch_id`` with ``batch_row`` (``source, format, converter,
        converter_version, started``).

        Another process may write to the twin in the moment between: the
        import then fails, asking to import again (its rows were prepared
        for an empty twin)."""
        conn = self.conn
        revision = _revision(conn)
        conn.execute("ROLLBACK")
        self.switched = set_journal(conn, "DELETE", 0)
        try:
            writer_lock.begin_write(conn, self.path, board=self.board())
        except BaseException:
            conn.execute("BEGIN")  # for the import's rollback to end
            raise
        if _revision(conn) != revision or conn.execute(
                "SELECT EXISTS (SELECT 1 FROM twin_features)").fetchone()[0]:
            raise StoreError(f"{self.path}: another process wrote to the twin while this "
                             "import changed its journal; import again")
        conn.execute("INSERT INTO twin_batches (id, source, format, converter, "
                     "converter_version, started, status) VALUES (?, ?, ?, ?, ?, ?, "
                     "'running')", (batch_id, *batch_row))

    def end(self) -> None:
        """After the import's commit or rollback: back to WAL (waiting for
        readers that opened the twin meanwhile, up to 30 s)."""
        if self.switched and not set_journal(self.conn, "WAL", 30_000):
            log.warning("%s: could not switch back to WAL mode after a bulk load (another "
                        "connection holds the twin); the next writable open does", self.path)
        self.switched = False


def _revision(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM twin_meta WHERE key = 'revision'").fetchone()
    return row[0] if row else None
