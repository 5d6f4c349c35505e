"""Soak test of ``twin serve`` on loopback: 50 clients for minutes, the
server's memory over time.

Builds (or reuses) the synthetic twin of ``api_bench.py`` (100,000 features),
starts ``twin serve`` in its own process (2 workers by default) and drives it
from this process with asyncio + httpx: each client loops over a mix of what
GIS users and the web viewer ask (CRS84 bbox pages, single features, the
catalogue, a 3D box search, the health-check indicators, network statistics,
small GLB scenes), and pauses now and then (bursts and idle spells: a thread
pool that retires idle threads starts new ones after each pause).

Every ``--every`` seconds it prints one line: requests, errors, p50/p99 of
that window, and the resident memory of the server (all its processes
together, from ``/proc``). At the end: the whole run's p50/p99 and errors,
and whether memory levelled off (the last third of the run grows less than
10% over the first sample after warm-up). Bounded in time (``--seconds``,
default 600) and requests (``--max-requests``).

Usage: ``python bench/api_soak.py [--seconds 600] [--clients 50] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_bench import bbox_requests, build, free_port  # noqa: E402
from store_bench import EXTENT, X0, Y0  # noqa: E402

import twin  # noqa: E402


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


def request_mix(store, rng: random.Random) -> list[str]:
    """URLs in the proportions of a working day: mostly map pages."""
    bboxes = bbox_requests(store, 200, rng)
    ids = [f.id for f in store.query(twin.Query(layers=("buildings",), limit=3000))]
    items = [f"/collections/buildings/items/{i}" for i in rng.sample(ids, 200)]
    search, scenes = [], []
    for _ in range(100):
        x, y = X0 + rng.random() * EXTENT, Y0 + rng.random() * EXTENT
        search.append(f"/twin/search?bbox={x:.0f},{y:.0f},{x + 300:.0f},{y + 300:.0f}"
                      "&layers=heating&limit=50")
        scenes.append(f"/twin/scene.glb?bbox={x:.0f},{y:.0f},{x + 150:.0f},{y + 150:.0f}")
    heavy = ["/indicators", "/twin/analyses/statistics", "/twin", "/twin/layers",
             "/collections"]
    mix = bboxes * 6 + items * 3 + search * 2 + scenes + heavy * 4
    rng.shuffle(mix)
    return mix


async def soak(base: str, urls: list[str], clients: int, seconds: float, every: float,
               max_requests: int, pid: int) -> dict:
    lat: list[tuple[float, float]] = []  # (time since start, ms)
    errors: list[tuple[float, int]] = []
    sent = 0
    t0 = time.perf_counter()
    t_end = t0 + seconds
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def client(k: int) -> None:
        nonlocal sent
        rng = random.Random(k)
        i = k * 7
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as c:
            while sent < max_requests and time.perf_counter() < t_end:
                if rng.random() < 0.01:  # an idle spell
                    await asyncio.sleep(rng.uniform(5, 15))
                    continue
                sent += 1
                url = urls[i % len(urls)]
                i += 1
                t1 = time.perf_counter()
                try:
                    r = await c.get(url)
                    await r.aread()
                    status = r.status_code
                except httpx.TransportError:
                    status = 0
                now = time.perf_counter()
                lat.append((now - t0, (now - t1) * 1000))
                if status != 200:
                    errors.append((now - t0, status))

    async def sampler() -> list[tuple[float, float, int, int, float, float]]:
        rows = []
        last = 0
        while time.perf_counter() < t_end and sent < max_requests:
            await asyncio.sleep(every)
            now = time.perf_counter() - t0
            window = [ms for t, ms in lat[last:]]
            errs = sum(1 for t, _ in errors if now - every <= t <= now)
            last = len(lat)
            p50 = float(np.percentile(window, 50)) if window else float("nan")
            p99 = float(np.percentile(window, 99)) if window else float("nan")
            rss = tree_rss_mb(pid)
            rows.append((now, rss, len(window), errs, p50, p99))
            print(f"{now:7.0f} s  rss {rss:7.1f} MB  {len(window):6d} requests  {errs:4d} errors"
                  f"  p50 {p50:8.1f} ms  p99 {p99:8.1f} ms", flush=True)
        return rows

    samples, *_ = await asyncio.gather(sampler(), *(client(k) for k in range(clients)))
    ms = np.array([m for _, m in lat])
    return {"requests": len(ms), "errors": len(errors),
            "error_codes": sorted({s for _, s in errors}),
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "samples": samples, "wall_s": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="features in the synthetic twin")
    ap.add_argument("--seconds", type=float, default=600.0, help="length of the soak")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--every", type=float, default=15.0, help="seconds between samples")
    ap.add_argument("--max-requests", type=int, default=2_000_000)
    ap.add_argument("--out", default=None, help="folder for the twin (reused if there)")
    args = ap.parse_args()

    tmp = Path(args.out or tempfile.mkdtemp(prefix="api-soak-"))
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "bench.gpkg"
    if not path.exists():
        t0 = time.perf_counter()
        build(path, args.n)
        print(f"twin of {args.n} features built in {time.perf_counter() - t0:.1f} s")
    with twin.open_twin(path, readonly=True) as store:
        urls = request_mix(store, random.Random(5))

    port = free_port()
    log = tmp / "access.log"
    log.unlink(missing_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "twin_cli.main", "serve", str(path), "--port", str(port),
         "--workers", str(args.workers), "--log-level", "warning", "--rate-limit", "0",
         "--access-log", str(log)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("server did not start: " + server.stderr.read().decode())
            time.sleep(0.2)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"server up: {tree_rss_mb(server.pid):.1f} MB; {args.clients} clients for "
              f"{args.seconds:.0f} s, {len(urls)} URLs in the mix")
        res = asyncio.run(soak(base, urls, args.clients, args.seconds, args.every,
                               args.max_requests, server.pid))
    finally:
        server.terminate()
        server.wait(30)
    rss = [s[1] for s in res["samples"]]
    print(f"\n{res['requests']} requests in {res['wall_s']:.0f} s "
          f"({res['requests'] / res['wall_s']:.1f} req/s), {res['errors']} errors "
          f"{res['error_codes']}; p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms")
    if len(rss) >= 4:
        warm = rss[max(1, len(rss) // 4)]
        tail = rss[len(rss) * 2 // 3:]
        growth = (max(tail) - warm) / warm
        print(f"memory: {rss[0]:.0f} MB first sample, {warm:.0f} MB after warm-up, "
              f"{max(rss):.0f} MB peak, {rss[-1]:.0f} MB last; last third grows "
              f"{growth * 100:+.1f}% over warm-up: "
              f"{'levels off' if growth < 0.10 else 'STILL GROWING'}")
    print(f"access log: {sum(1 for _ in open(log))} lines in {log}")


if __name__ == "__main__":
    main()
