"""Benchmark of the test suite's per-test twins (``tests/conftest.py``, issue 23).

Most store, query, analysis and API tests start from ``empty_twin`` or
``city`` (the small hand-checked city). Two ways to give each test its own:

1. **built** per test (the baseline; the suite did this before): create the
   twin, import the small city, and afterwards drop it (a PostGIS schema);
2. **copied** per test from one built per session (the suite does this now):
   the GeoPackage's files copied (``shutil.copyfile``) and opened, or a
   PostgreSQL database made by ``CREATE DATABASE ... TEMPLATE`` with its
   schema renamed, opened, and dropped afterwards.

Prints, per backend, the wall-clock and process CPU time per test twin of
each and the ratio copied/built, from the same run. PostGIS uses a throwaway
cluster (``tests/pgcluster.py``, not durable, as the tests run it); its
server's CPU is not in the process CPU time.

    python bench/fixtures_bench.py [--n 20] [--backends gpkg,postgis]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from builders import small_city  # noqa: E402

import twin  # noqa: E402


def _build(location) -> twin.TwinStore:
    store = twin.create_twin(location, "EPSG:4546", vertical_datum="1985 National Height Datum")
    with store.import_batch("small_city", "test", "tests", "1") as b:
        b.add(small_city())
    return store


def _timed(fn, n: int) -> tuple[float, float]:
    """Wall and CPU seconds per call of ``fn(i)``, over ``n`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n


def gpkg(n: int) -> dict[str, tuple[float, float]]:
    out = Path(tempfile.mkdtemp(prefix="twin-seeds-bench-"))
    try:
        _build(out / "seed.gpkg").close()
        seed = sorted(out.glob("seed.gpkg*"))

        def built(i):
            _build(out / f"b{i}.gpkg").close()

        def copied(i):
            for f in seed:
                shutil.copyfile(f, out / f"c{i}{f.name[len('seed'):]}")
            twin.open_twin(out / f"c{i}.gpkg").close()
        return {"built": _timed(built, n), "copied": _timed(copied, n)}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def postgis(n: int) -> dict[str, tuple[float, float]]:
    import psycopg
    from pgcluster import Cluster, drop_schema, new_schema_name, with_params

    cluster = Cluster().start()
    try:
        base = cluster.create_database("bench")
        _build(with_params(cluster.create_database("seed"), schema="twin")).close()

        def built(i):
            schema = new_schema_name()
            _build(with_params(base, schema=schema)).close()
            drop_schema(base, schema)

        def copied(i):
            database, schema = new_schema_name(), new_schema_name()
            cluster.clone_database("seed", database)
            with psycopg.connect(cluster.url(database), autocommit=True) as conn:
                conn.execute(f'ALTER SCHEMA twin RENAME TO "{schema}"')
                conn.execute(f'UPDATE "{schema}".layer_styles SET f_table_catalog = '
                             "current_database(), f_table_schema = %s", (schema,))
            twin.open_twin(with_params(cluster.url(database), schema=schema)).close()
            cluster.drop_database(database)
        return {"built": _timed(built, n), "copied": _timed(copied, n)}
    finally:
        cluster.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20, help="test twins per way (default 20)")
    ap.add_argument("--backends", default="gpkg,postgis")
    args = ap.parse_args()
    runs = {"gpkg": gpkg, "postgis": postgis}
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        fig = runs[name](args.n)
        (bw, bc), (cw, cc) = fig["built"], fig["copied"]
        sys.stdout.write(
            f"{name}: built {bw * 1000:.0f} ms wall / {bc * 1000:.0f} ms CPU per test twin, "
            f"copied {cw * 1000:.0f} ms / {cc * 1000:.0f} ms: copied/built "
            f"{cw / bw:.2f}x wall, {cc / bc:.2f}x CPU\n")


if __name__ == "__main__":
    main()
