"""Benchmark of the twin's time series: bulk ingest, daily aggregates and
latest values, the GeoPackage file and PostgreSQL/PostGIS side by side.

A city's meters (issue 19): ``--meters`` datastreams (default 1,000), of
which ``--year-meters`` (default all) get a year of 15-minute readings
(35,040 each) and the others ``--days`` days; 1,000 meters for a year is the
issue's 35 million observations. Readings are made with numpy (not timed)
and written with :meth:`SensorWriter.add_observations`, one transaction per
``--per-tx`` meters.

Figures, each with a baseline measured in the same run:

* ingest rate (observations/s) against the row-by-row path (one INSERT per
  observation through :meth:`SensorWriter.add_observation`, as a naive
  SensorThings POST per reading would write);
* the daily aggregate (count/min/max/mean per day) of one year-long
  datastream, p50/p95 over ``--queries`` datastreams, against fetching its
  observations and aggregating them in numpy;
* the latest values of 1,000 datastreams, p50/p95, against the same answer
  computed from the observations (the latest row of each datastream by its
  index, one query).

Targets: ingest >= 100,000 observations/s; daily aggregate p50 <= 20 ms;
latest values of 1,000 datastreams p50 <= 50 ms (at 35 million observations).

    python bench/sensors_bench.py [--meters 1000] [--year-meters 1000] [--days 365]
        [--backends gpkg,postgis] [--queries 50] [--pg URL] [--out DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pg_database import postgis_database  # noqa: E402

import twin  # noqa: E402
from twin.sensors.model import to_ms  # noqa: E402
from twin.sensors.store import sensors_of  # noqa: E402

T0 = to_ms("2024-01-01T00:00:00+08:00")
QUARTER = 900_000
M = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


def readings(rng: np.random.Generator, days: int) -> tuple[np.ndarray, np.ndarray]:
    n = days * 96
    t = T0 + np.arange(n, dtype=np.int64) * QUARTER
    daily = 1 + 0.6 * np.sin((np.arange(n) % 96) / 96 * 2 * np.pi - 1.8)
    return t, np.round(20 * daily + rng.normal(0, 1.5, n), 3)


def make_meters(sensors, n: int) -> list[int]:
    with sensors.writing() as w:
        se = w.insert("Sensors", {"name": "EM", "description": "flow meter",
                                  "encoding_type": "text/plain", "metadata": "-"})
        op = w.insert("ObservedProperties", {"name": "flow", "description": "flow",
                                             "definition": "urn:flow"})
        ids = []
        for k in range(n):
            th = w.insert("Things", {"name": f"meter {k}", "description": "customer meter",
                                     "feature_id": f"bench:node:{k}"})
            ids.append(w.insert("Datastreams", {
                "name": f"M-{k:05d}", "description": "flow", "observation_type": M,
                "unit": {"name": "cubic metre per hour", "symbol": "m3/h", "definition": "-"},
                "thing_id": th, "sensor_id": se, "observed_property_id": op}))
    return ids


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, q))


def run_backend(location: str, args, rng_seed: int = 7) -> dict:
    store = twin.create_twin(location, "EPSG:4546", overwrite=True)
    sensors = sensors_of(store)
    ids = make_meters(sensors, args.meters)
    rng = np.random.default_rng(rng_seed)
    year = ids[:args.year_meters]
    plan = [(ds, 366 if ds in set(year) else args.days) for ds in ids]
    total, spent, cpu = 0, 0.0, 0.0
    for lo in range(0, len(plan), args.per_tx):
        chunk = [(ds, *readings(rng, days)) for ds, days in plan[lo:lo + args.per_tx]]
        t0, c0 = time.perf_counter(), time.process_time()
        with sensors.writing() as w:
            for ds, t, v in chunk:
                total += w.add_observations(ds, t, v)
        spent += time.perf_counter() - t0
        cpu += time.process_time() - c0
    rate = total / spent
    # baseline: row by row (one INSERT and summary update per observation)
    extra = make_meters(sensors, 1)[0]
    t, v = readings(rng, max(1, args.rowwise // 96))
    t0 = time.perf_counter()
    with sensors.writing() as w:
        for a, b in zip(t.tolist(), v.tolist()):
            w.add_observation(extra, {"phenomenon_time": a, "result": b})
    row_rate = len(t) / (time.perf_counter() - t0)

    picks = [int(x) for x in np.random.default_rng(1).choice(year, min(args.queries, len(year)),
                                                             replace=False)]
    agg, agg_base, agg_cpu = [], [], []
    for ds in picks:
        t0, c0 = time.perf_counter(), time.process_time()
        a = sensors.aggregate(ds, "day", utc_offset_minutes=480)
        agg.append(time.perf_counter() - t0)
        agg_cpu.append(time.process_time() - c0)
        t0 = time.perf_counter()
        s = sensors.observations(ds)
        keys = (s.times + 8 * 3_600_000) // 86_400_000
        u, inv = np.unique(keys, return_inverse=True)
        np.bincount(inv, weights=s.values) / np.bincount(inv)
        agg_base.append(time.perf_counter() - t0)
        assert len(a.start) == len(u) == 366
    thousand = ids[:1000]
    lat, lat_base, lat_cpu = [], [], []
    placeholders = ", ".join("?" * len(thousand))
    naive = ("SELECT d.id, (SELECT o.result FROM twin_sta_observations o WHERE o.datastream_id "
             "= d.id ORDER BY o.phenomenon_time DESC LIMIT 1) FROM twin_sta_datastreams d "
             f"WHERE d.id IN ({placeholders})")
    for _ in range(args.queries):
        t0, c0 = time.perf_counter(), time.process_time()
        got = sensors.latest(thousand)
        lat.append(time.perf_counter() - t0)
        lat_cpu.append(time.process_time() - c0)
    for _ in range(max(3, args.queries // 10)):
        t0 = time.perf_counter()
        ref = dict(store._read(naive, thousand))
        lat_base.append(time.perf_counter() - t0)
    assert all(got[k][1] == ref[k] for k in thousand)
    size = store.info().extra.get("file_size", 0)
    store.close()
    return {"observations": total, "ingest_per_s": rate, "ingest_per_cpu_s": total / cpu,
            "rowwise_per_s": row_rate,
            "aggregate_p50_ms": pct(agg, 50), "aggregate_p95_ms": pct(agg, 95),
            "aggregate_numpy_p50_ms": pct(agg_base, 50),
            "latest_p50_ms": pct(lat, 50), "latest_p95_ms": pct(lat, 95),
            "latest_naive_p50_ms": pct(lat_base, 50), "bytes": size,
            "aggregate_cpu_p50_ms": pct(agg_cpu, 50), "latest_cpu_p50_ms": pct(lat_cpu, 50)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--year-meters", type=int, default=None,
                    help="meters with a year of readings (default: all)")
    ap.add_argument("--days", type=int, default=365, help="days of the other meters")
    ap.add_argument("--per-tx", type=int, default=50, help="meters per transaction")
    ap.add_argument("--rowwise", type=int, default=20_000,
                    help="observations of the row-by-row baseline")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--backends", default="gpkg,postgis")
    ap.add_argument("--pg", default=None, help="a PostGIS database URL (default: a "
                                               "throwaway cluster)")
    ap.add_argument("--out", default=None, help="folder for the twin file (default: temp)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.year_meters is None:
        args.year_meters = args.meters
    out = Path(args.out or tempfile.mkdtemp(prefix="sensors-bench-"))
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    results = {}
    backends = args.backends.split(",")
    with postgis_database(args.pg, "postgis" in backends) as pg_url:
        for backend in backends:
            if backend == "gpkg":
                loc = str(out / "sensors.gpkg")
            else:  # its own schema in a throwaway cluster
                loc = pg_url if args.pg else (pg_url + ("&" if "?" in pg_url else "?")
                                                   + "schema=sensors_bench")
            r = run_backend(loc, args)
            results[backend] = r
            print(f"{backend}: {r['observations']:,} observations "
                  f"({args.meters} datastreams, {args.year_meters} with a year), "
                  f"{r['bytes'] / 1e6:.0f} MB")
            print(f"  ingest        {r['ingest_per_s']:>12,.0f} obs/s   row by row "
                  f"{r['rowwise_per_s']:,.0f} obs/s   ratio "
                  f"{r['ingest_per_s'] / r['rowwise_per_s']:.1f}x   (target >= 100,000)")
            print(f"                {r['ingest_per_cpu_s']:>12,.0f} obs per second of this "
                  "process's CPU (the GeoPackage's whole cost; PostgreSQL works in its server)")
            print(f"  daily agg     p50 {r['aggregate_p50_ms']:7.2f} ms  p95 "
                  f"{r['aggregate_p95_ms']:7.2f} ms   fetch+numpy p50 "
                  f"{r['aggregate_numpy_p50_ms']:.2f} ms   ratio "
                  f"{r['aggregate_numpy_p50_ms'] / r['aggregate_p50_ms']:.1f}x   (target <= 20)")
            print(f"  latest x1000  p50 {r['latest_p50_ms']:7.2f} ms  p95 "
                  f"{r['latest_p95_ms']:7.2f} ms   from observations p50 "
                  f"{r['latest_naive_p50_ms']:.2f} ms   ratio "
                  f"{r['latest_naive_p50_ms'] / r['latest_p50_ms']:.1f}x   (target <= 50)")
            if backend == "gpkg":  # all of its work is this process's
                print(f"  process CPU   daily agg p50 {r['aggregate_cpu_p50_ms']:.2f} ms, "
                      f"latest x1000 p50 {r['latest_cpu_p50_ms']:.2f} ms")
            sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
