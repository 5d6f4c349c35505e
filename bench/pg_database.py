"""A PostGIS database for a bench run: the one given with ``--pg``, or a
throwaway cluster (the tests' ``pgcluster``) started for the run and
stopped after it, whatever happens."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def postgis_database(given: str | None, needed: bool, name: str = "bench"
                     ) -> Iterator[str | None]:
    """Yield ``given`` when set; else, when ``needed``, the URL of database
    ``name`` in a throwaway cluster; else ``None``."""
    if given is not None or not needed:
        yield given
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pgcluster import Cluster

    cluster = Cluster(durable=True).start()
    try:
        yield cluster.create_database(name)
    finally:
        cluster.stop()
