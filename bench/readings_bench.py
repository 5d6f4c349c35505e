"""Benchmark of the viewers' readings (``GET /twin/viewer/readings``) for
1,000 datastreams, against the plain ``SensorStore.latest()`` of the same
1,000 datastreams in the same run (the summary rows: the floor any answer
"per meter, one value" can reach).

``--meters`` datastreams (default 1,000) on as many features get ``--days``
days of 15-minute readings (as ``bench/sensors_bench.py`` makes them). Timed,
p50/p95 over ``--queries`` requests, each at another time (the server keeps
answers per twin revision and request, so a repeated time would be a cache
hit):

* ``latest()``: the store call, the baseline;
* ``as of, summary``: the endpoint at a time after every datastream's latest
  reading (answered from the summaries);
* ``as of, past``: the endpoint at a time inside the range (an index probe
  per datastream: a time slider's usual case);
* ``window PT1H``: the mean of the hour before a time on the hour (from the
  hourly rollups);
* ``as of, store``: :meth:`SensorStore.latest_at` alone (no HTTP, no JSON).

The endpoint is called through the ASGI app in process (Starlette's
TestClient): routing, validation, the service and JSON, without a socket.

    python bench/readings_bench.py [--meters 1000] [--days 30] [--queries 30]
        [--backends gpkg,postgis] [--pg URL] [--json FILE]
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sensors_bench import QUARTER, T0, make_meters, readings  # noqa: E402

import twin  # noqa: E402
from twin.sensors.model import iso  # noqa: E402
from twin.sensors.store import sensors_of  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, q))


def timed(fn, n: int) -> list[float]:
    out = []
    for k in range(n):
        t0 = time.perf_counter()
        fn(k)
        out.append(time.perf_counter() - t0)
    return out


def run_backend(location: str, args) -> dict:
    from fastapi.testclient import TestClient

    from twin_api.app import create_app
    from twin_api.settings import ApiSettings

    store = twin.create_twin(location, "EPSG:4546", overwrite=True)
    sensors = sensors_of(store)
    ids = make_meters(sensors, args.meters)
    rng = np.random.default_rng(7)
    t, _ = readings(rng, args.days)
    for lo in range(0, len(ids), 100):
        with sensors.writing() as w:
            for ds in ids[lo:lo + 100]:
                w.add_observations(ds, t, readings(rng, args.days)[1])
    store.close()
    n = args.queries
    end = int(t[-1])
    out: dict = {"datastreams": len(ids), "observations": len(ids) * len(t)}
    store = twin.open_twin(location, readonly=True)
    try:
        s = sensors_of(store)
        s.latest(ids)  # warm
        out["latest"] = timed(lambda k: s.latest(ids), n)
        past = [int(T0 + (k + 1) * (end - T0) // (n + 2)) // QUARTER * QUARTER + QUARTER // 3
                for k in range(n)]
        out["as_of_store"] = timed(lambda k: s.latest_at(ids, past[k]), n)
    finally:
        store.close()
    with TestClient(create_app(ApiSettings(location))) as client:
        def get(**params) -> None:
            r = client.get("/twin/viewer/readings", params=params)
            assert r.status_code == 200 and len(r.json()["features"]) == len(ids), r.text

        get(property="flow")  # warm: the value range, the first connection
        out["as_of_summary"] = timed(lambda k: get(property="flow",
                                                   at=iso(end + 60_000 * (k + 1))), n)
        out["as_of_past"] = timed(lambda k: get(property="flow", at=iso(past[k])), n)
        hours = [p // 3_600_000 * 3_600_000 for p in past]
        out["window_hour"] = timed(lambda k: get(property="flow", at=iso(hours[k] + 3_600_000),
                                                 window="PT1H"), n)
    return {k: (v if not isinstance(v, list) else {"p50_ms": pct(v, 50), "p95_ms": pct(v, 95)})
            for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--backends", default="gpkg,postgis")
    ap.add_argument("--pg", default=None, help="a PostGIS database URL (default: a "
                                               "throwaway cluster)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="readings-bench-"))
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    results, cluster = {}, None
    try:
        for backend in args.backends.split(","):
            if backend == "gpkg":
                loc = str(out / "readings.gpkg")
            else:
                url = args.pg
                if url is None:
                    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
                    from pgcluster import Cluster, with_params

                    cluster = Cluster(durable=True).start()
                    url = with_params(cluster.create_database("bench"), schema="readings")
                loc = url
            r = run_backend(loc, args)
            results[backend] = r
            base = r["latest"]["p50_ms"]
            print(f"{backend}: {r['datastreams']:,} datastreams, {r['observations']:,} "
                  f"observations ({args.days} days of 15-minute readings)")
            for key, label in (("latest", "latest() (store, baseline)"),
                               ("as_of_store", "latest_at() (store, past)"),
                               ("as_of_summary", "endpoint, as of now"),
                               ("as_of_past", "endpoint, as of a past time"),
                               ("window_hour", "endpoint, window PT1H")):
                p = r[key]
                print(f"  {label:30s} p50 {p['p50_ms']:8.2f} ms  p95 {p['p95_ms']:8.2f} ms  "
                      f"{p['p50_ms'] / base:6.1f}x latest()")
            sys.stdout.flush()
    finally:
        if cluster is not None:
            cluster.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
