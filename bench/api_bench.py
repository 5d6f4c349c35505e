"""Load test of the twin API on loopback: throughput and latency at 1, 10 and
50 concurrent clients.

Builds a synthetic twin (default 100,000 features: buildings and heating
pipes over 20 km x 20 km, as ``store_bench.py`` makes them), starts
``twin serve`` on 127.0.0.1 in its own process, and drives it from this
process with asyncio + httpx. Every level is bounded in requests and seconds.

Measured per level, in the same run:

- ``conformance``: a response without any twin access (the framework's own
  cost: the baseline),
- ``item``: one feature by id (``/collections/buildings/items/{id}``),
- ``bbox``: a CRS84 bbox page of <= 100 buildings, reprojected to CRS84, the
  request QGIS makes when panning.

Usage: ``python bench/api_bench.py [--n 100000] [--workers 2] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
import numpy as np
from pyproj import Transformer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import twin  # noqa: E402
from store_bench import EXTENT, X0, Y0, make_chunk  # noqa: E402


def build(path: Path, n: int) -> None:
    rng = np.random.default_rng(7)
    with twin.create_twin(path, "EPSG:4546") as store:
        with store.import_batch("synthetic", "bench", "api_bench", "1") as b:
            for start in range(0, n, 50_000):
                feats, _, _ = make_chunk(rng, start, min(50_000, n - start))
                b.add(feats)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bbox_requests(store, count: int, rng: random.Random) -> list[str]:
    """CRS84 bboxes around random points, each holding 1..100 buildings."""
    tr = Transformer.from_crs("EPSG:4546", "OGC:CRS84", always_xy=True)
    out = []
    while len(out) < count:
        x = X0 + rng.random() * EXTENT
        y = Y0 + rng.random() * EXTENT
        half = rng.uniform(100, 350)
        n = store.count(twin.Query(layers=("buildings",),
                                   bbox=(x - half, y - half, x + half, y + half)))
        if not 1 <= n <= 100:
            continue
        lon0, lat0 = tr.transform(x - half, y - half)
        lon1, lat1 = tr.transform(x + half, y + half)
        out.append(f"/collections/buildings/items?limit=100&bbox={lon0:.7f},{lat0:.7f},"
                   f"{lon1:.7f},{lat1:.7f}")
    return out


async def run_level(base: str, urls: list[str], clients: int, max_requests: int,
                    max_seconds: float) -> dict:
    """Each client has its own connection (as 50 GIS users would), opened and
    warmed by one untimed request before the clock starts."""
    lat: list[float] = []
    errors = 0
    sent = 0
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    conns = [httpx.AsyncClient(base_url=base, limits=limits, timeout=60)
             for _ in range(clients)]
    try:
        await asyncio.gather(*(c.get(urls[0]) for c in conns))
        t_end = time.perf_counter() + max_seconds

        async def worker(k: int, c: httpx.AsyncClient) -> None:
            nonlocal sent, errors
            i = k
            while sent < max_requests and time.perf_counter() < t_end:
                sent += 1
                url = urls[i % len(urls)]
                i += clients
                t0 = time.perf_counter()
                r = await c.get(url)
                await r.aread()
                lat.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k, c) for k, c in enumerate(conns)))
        wall = time.perf_counter() - t0
    finally:
        await asyncio.gather(*(c.aclose() for c in conns))
    a = np.asarray(lat)
    return {"clients": clients, "requests": len(a), "errors": errors,
            "throughput_rps": round(len(a) / wall, 1),
            "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="features in the synthetic twin")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--levels", default="1,10,50", help="concurrent clients per level")
    ap.add_argument("--requests", type=int, default=2000, help="most requests per level")
    ap.add_argument("--seconds", type=float, default=20.0, help="most seconds per level")
    ap.add_argument("--out", default=None, help="folder for the twin file (default: temp)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()

    tmp = Path(args.out or tempfile.mkdtemp(prefix="api-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "bench.gpkg"
    if path.exists():
        path.unlink()
    t0 = time.perf_counter()
    build(path, args.n)
    print(f"twin of {args.n} features built in {time.perf_counter() - t0:.1f} s")

    rng = random.Random(11)
    with twin.open_twin(path, readonly=True) as store:
        bboxes = bbox_requests(store, 300, rng)
        ids = [f.id for f in store.query(twin.Query(layers=("buildings",), limit=5000))]
        items = [f"/collections/buildings/items/{i}" for i in rng.sample(ids, 300)]
        # the floor: one 500 m box of buildings (limit 100) straight on the
        # store, in this process, 200 times (no HTTP, no reprojection, no JSON)
        floor_box = twin.Query(layers=("buildings",), bbox=(X0, Y0, X0 + 500, Y0 + 500),
                               limit=100)
        q_ms = []
        for _ in range(200):
            t1 = time.perf_counter()
            list(store.query(floor_box))
            q_ms.append((time.perf_counter() - t1) * 1000)

    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "twin_cli.main", "serve", str(path), "--port", str(port),
         "--workers", str(args.workers), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/conformance", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("server did not start: " + server.stderr.read().decode())
            time.sleep(0.2)
        results: dict[str, list] = {"conformance": [], "item": [], "bbox": []}
        for clients in [int(x) for x in args.levels.split(",")]:
            for name, urls in (("conformance", ["/conformance"]), ("item", items),
                               ("bbox", bboxes)):
                r = asyncio.run(run_level(base, urls, clients, args.requests, args.seconds))
                results[name].append(r)
                print(f"{name:12s} clients {clients:3d}: {r['throughput_rps']:8.1f} req/s  "
                      f"p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
                      f"({r['requests']} requests, {r['errors']} errors)")
    finally:
        server.terminate()
        server.wait(10)
    floor = float(np.percentile(q_ms, 50))
    print(f"store query of one 500 m box in process (no HTTP, no JSON): p50 {floor:.2f} ms")
    for c, b in zip(results["conformance"], results["bbox"]):
        print(f"clients {b['clients']:3d}: bbox p99 / conformance p99 = "
              f"{b['p99_ms'] / max(c['p99_ms'], 1e-9):.1f}x")
    at50 = [b for b in results["bbox"] if b["clients"] == 50]
    if at50:
        print(f"target bbox p99 < 50 ms at 50 clients: "
              f"{'met' if at50[0]['p99_ms'] < 50 else 'NOT met'} ({at50[0]['p99_ms']:.1f} ms)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "n": args.n, "workers": args.workers, "store_bbox_p50_ms": floor, **results},
            indent=2))


if __name__ == "__main__":
    main()
