"""Work for other processes in the store tests: clients importing into one twin."""

from __future__ import annotations

from builders import GROUND, X0, Y0
from shapely.geometry import Point

import twin


def points(prefix: str, n: int) -> list[twin.Feature]:
    """``n`` valves on a grid, ids ``{prefix}:{i}``."""
    return [twin.Feature(id=f"{prefix}:{i}", layer="pipe_nodes", type="Valve",
                         footprint=Point(X0 + i % 100, Y0 + i // 100, GROUND - 1),
                         attributes={"network": prefix}) for i in range(n)]


def import_and_wait(location: str, prefix: str, n: int, extra: list[str], written, release,
                    results) -> None:
    """Import ``n`` points (and features with the ids in ``extra``) in one
    batch; once written, signal ``written`` and keep the transaction open
    until ``release`` is set. Reports ``(prefix, "ok" | error text)``."""
    try:
        with twin.open_twin(location) as store:
            with store.import_batch(f"{prefix}.csv", "test", "tests", "1") as b:
                feats = points(prefix, n) + [
                    twin.Feature(id=i, layer="pipe_nodes", type="Valve",
                                 footprint=Point(X0, Y0, GROUND)) for i in extra]
                b.add(feats)
                if written is not None:
                    written.wait(60)
                if release is not None and not release.wait(60):
                    raise TimeoutError("never released")
        results.put((prefix, "ok"))
    except Exception as exc:  # reported to the test, which checks the type and text
        results.put((prefix, f"{type(exc).__name__}: {exc}"))


def bulk_load_and_hang(path: str, hold: int, loading) -> None:
    """Load valves into the empty twin at ``path`` with a rollback journal
    (held back for ``hold`` features, a tiny page cache so that pages reach
    the file early); after ``20 * hold`` features signal ``loading`` and
    hang inside the import until killed."""
    import time

    from twin.store.gpkg import writer

    writer.HOLD_FEATURES = hold
    store = twin.open_twin(path)
    store._conn.execute("PRAGMA cache_size = -256")

    def valves():
        for i in range(10**7):
            if i == 20 * hold:
                loading.set()
                time.sleep(600)
            yield twin.Feature(id=f"bulk:{i}", layer="pipe_nodes", type="Valve",
                               footprint=Point(X0 + i % 100, Y0 + i // 100, GROUND - 1))

    with store.import_batch("bulk.csv", "test", "tests", "1") as b:
        b.add(valves())
