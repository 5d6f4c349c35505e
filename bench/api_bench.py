"""Load test of the twin API on loopback: throughput, latency and server CPU
per request at 1, 10 and 50 concurrent clients, against baselines measured
in the same run.

Builds a synthetic twin (default 100,000 features: buildings and heating
pipes over 20 km x 20 km, as ``store_bench.py`` makes them), starts
``twin serve`` on 127.0.0.1 in its own process, and drives it from this
process with asyncio + httpx. Every level is bounded in requests and seconds.

Measured per level:

- ``conformance``: a response without any twin access (the framework's own
  cost: the baseline of every other figure),
- ``item``: one feature by id (``/collections/buildings/items/{id}``),
- ``bbox``: a CRS84 bbox page of <= 100 buildings, reprojected to CRS84, the
  request QGIS makes when panning,
- ``bbox_twin``: the same boxes in the twin's CRS, answered in it (what the
  pygeoapi comparison asks for, see below).

Besides latency and throughput each level reports the server's CPU per
request (all its processes, from ``/proc``): on a shared machine the
latencies move with the neighbours' load, the CPU per request much less.

Baselines in the same run, on the same twin file:

- ``--baseline-ref REF`` (e.g. ``main`` or a commit): the server of that
  revision of this repository (``git archive``), ``bbox`` at every level.
- ``--pygeoapi PYTHON``: pygeoapi (OGC API - Features reference
  implementation, its Starlette app under uvicorn with the same number of
  workers) serving the ``buildings`` layer of the same GeoPackage through its
  OGR provider, ``bbox_twin`` at every level. pygeoapi must be installed for
  that interpreter (with GDAL's Python bindings: a venv with
  ``--system-site-packages`` over Debian's ``python3-gdal``). pygeoapi
  transforms a CRS84 bbox into the EPSG axis order of the storage CRS and hands
  it to OGR, which filters in easting/northing order: for a northing-first CRS
  such as EPSG:4546 its CRS84 pages come back empty and its output coordinates
  swapped. So both servers are asked in the twin's CRS, without reprojection
  (pygeoapi in its easting-first quirk), and the bench checks that both return
  the same features.

Usage: ``python bench/api_bench.py [--n 100000] [--workers 2]
[--baseline-ref main] [--pygeoapi /path/venv/bin/python] [--json out.json]``.
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

from store_bench import EXTENT, X0, Y0, make_chunk  # noqa: E402

import twin  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EPSG4546 = "http://www.opengis.net/def/crs/EPSG/0/4546"


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


def bbox_boxes(store, count: int, rng: random.Random
               ) -> list[tuple[float, float, float, float, int]]:
    """Twin-CRS boxes around random points, each holding 1..100 buildings."""
    out = []
    while len(out) < count:
        x = X0 + rng.random() * EXTENT
        y = Y0 + rng.random() * EXTENT
        half = rng.uniform(100, 350)
        box = (x - half, y - half, x + half, y + half)
        n = store.count(twin.Query(layers=("buildings",), bbox=box))
        if 1 <= n <= 100:
            out.append((*box, n))
    return out


def bbox_requests(store, count: int, rng: random.Random) -> list[str]:
    """CRS84 bbox pages of 1..100 buildings (what QGIS asks when panning)."""
    tr = Transformer.from_crs("EPSG:4546", "OGC:CRS84", always_xy=True)
    out = []
    for x0, y0, x1, y1, _ in bbox_boxes(store, count, rng):
        lon0, lat0 = tr.transform(x0, y0)
        lon1, lat1 = tr.transform(x1, y1)
        out.append(f"/collections/buildings/items?limit=100&bbox={lon0:.7f},{lat0:.7f},"
                   f"{lon1:.7f},{lat1:.7f}")
    return out


def twin_crs_requests(boxes, easting_first: bool) -> list[str]:
    """The same boxes in the twin CRS, answered in it. EPSG:4546 is northing
    first; ``easting_first`` writes them the way pygeoapi's OGR filter reads."""
    out = []
    for x0, y0, x1, y1, _ in boxes:
        b = (x0, y0, x1, y1) if easting_first else (y0, x0, y1, x1)
        out.append(f"/collections/buildings/items?limit=100&bbox={b[0]:.2f},{b[1]:.2f},"
                   f"{b[2]:.2f},{b[3]:.2f}&bbox-crs={EPSG4546}&crs={EPSG4546}")
    return out


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


async def run_level(base: str, urls: list[str], clients: int, max_requests: int,
                    max_seconds: float, pid: int | None = None) -> dict:
    """Each client has its own connection (as 50 GIS users would), opened and
    warmed by one untimed request before the clock starts."""
    lat: list[float] = []
    errors = 0
    sent = 0
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    conns = [httpx.AsyncClient(base_url=base, limits=limits, timeout=120)
             for _ in range(clients)]
    try:
        await asyncio.gather(*(c.get(urls[k % len(urls)]) for k, c in enumerate(conns)))
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

        cpu0 = tree_cpu_s(pid) if pid else 0.0
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k, c) for k, c in enumerate(conns)))
        wall = time.perf_counter() - t0
        cpu = tree_cpu_s(pid) - cpu0 if pid else float("nan")
    finally:
        await asyncio.gather(*(c.aclose() for c in conns))
    a = np.asarray(lat)
    return {"clients": clients, "requests": len(a), "errors": errors,
            "throughput_rps": round(len(a) / wall, 1),
            "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2),
            "server_cpu_ms": round(cpu * 1000 / max(len(a), 1), 2)}


def start(cmd: list[str], env: dict[str, str], probe: str, cwd: str | None = None
          ) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(probe, timeout=5).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit(f"{cmd[:4]} did not start: " + proc.stderr.read().decode()[-2000:])
        time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, 15)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait(10)
    proc.stderr.close()


def measure(name: str, base: str, pid: int, kinds: dict[str, list[str]], levels: list[int],
            args) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {k: [] for k in kinds}
    for clients in levels:
        for kind, urls in kinds.items():
            r = asyncio.run(run_level(base, urls, clients, args.requests, args.seconds, pid))
            out[kind].append(r)
            print(f"{name:9s} {kind:12s} clients {clients:3d}: {r['throughput_rps']:8.1f} req/s"
                  f"  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:8.2f} ms  server CPU "
                  f"{r['server_cpu_ms']:6.2f} ms/req  ({r['requests']} requests, "
                  f"{r['errors']} errors)", flush=True)
    return out


def pygeoapi_config(folder: Path, gpkg: Path, port: int) -> Path:
    cfg = folder / "pygeoapi.yml"
    cfg.write_text(f"""server:
  bind: {{host: 127.0.0.1, port: {port}}}
  url: http://127.0.0.1:{port}
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  language: en-US
  limits: {{default_items: 100, max_items: 10000}}
  map:
    url: "https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png"
    attribution: OSM
logging: {{level: ERROR}}
metadata:
  identification: {{title: bench, description: bench, keywords: [bench], keywords_type: theme,
                   terms_of_service: none, url: "http://example.org"}}
  license: {{name: CC-BY 4.0, url: "https://creativecommons.org/licenses/by/4.0/"}}
  provider: {{name: bench, url: "http://example.org"}}
  contact: {{name: bench, position: bench, address: x, city: x, stateorprovince: x,
            postalcode: x, country: x, phone: x, fax: x, email: x@example.org,
            url: "http://example.org", hours: x, instructions: x, role: pointOfContact}}
resources:
  buildings:
    type: collection
    title: buildings
    description: buildings
    keywords: [buildings]
    extents:
      spatial: {{bbox: [-180, -90, 180, 90], crs: "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}
    providers:
      - type: feature
        name: OGR
        data: {{source_type: GPKG, source: "{gpkg}"}}
        id_field: feature_id
        layer: buildings
        storage_crs: "{EPSG4546}"
        crs: ["http://www.opengis.net/def/crs/OGC/1.3/CRS84", "{EPSG4546}"]
""")
    return cfg


def ids_of(base: str, url: str) -> list[str]:
    doc = httpx.get(base + url, timeout=60).json()
    return sorted(str(f["id"]) for f in doc["features"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="features in the synthetic twin")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--levels", default="1,10,50", help="concurrent clients per level")
    ap.add_argument("--requests", type=int, default=2000, help="most requests per level")
    ap.add_argument("--seconds", type=float, default=20.0, help="most seconds per level")
    ap.add_argument("--out", default=None, help="folder for the twin file (default: temp)")
    ap.add_argument("--reuse", action="store_true", help="reuse the twin in --out if there")
    ap.add_argument("--baseline-ref", default=None,
                    help="also measure the server of this git revision (bbox pages)")
    ap.add_argument("--pygeoapi", default=None, metavar="PYTHON",
                    help="also measure pygeoapi run by this Python (twin-CRS bbox pages)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (latencies "
          "follow it on a shared machine; CPU per request much less)")

    tmp = Path(args.out or tempfile.mkdtemp(prefix="api-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "bench.gpkg"
    if not (args.reuse and path.exists()):
        for suffix in ("", "-wal", "-shm", "-board"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        t0 = time.perf_counter()
        build(path, args.n)
        print(f"twin of {args.n} features built in {time.perf_counter() - t0:.1f} s")

    rng = random.Random(11)
    with twin.open_twin(path, readonly=True) as store:
        boxes = bbox_boxes(store, 300, rng)
        bboxes = bbox_requests(store, 300, random.Random(11))
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
    ours_twin = twin_crs_requests(boxes, easting_first=False)

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
    results: dict[str, dict] = {}
    port = free_port()
    server = start([sys.executable, "-m", "twin_cli.main", "serve", str(path), "--port",
                    str(port), "--workers", str(args.workers), "--log-level", "warning",
                    "--rate-limit", "0", "--access-log", str(tmp / "access.log")],
                   env, f"http://127.0.0.1:{port}/conformance")
    try:
        base = f"http://127.0.0.1:{port}"
        results["ours"] = measure("ours", base, server.pid,
                                  {"conformance": ["/conformance"], "item": items,
                                   "bbox": bboxes, "bbox_twin": ours_twin}, levels, args)
        expected = ids_of(base, ours_twin[0])
    finally:
        stop(server)

    if args.baseline_ref:
        src = tmp / "baseline"
        src.mkdir(exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline_ref],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
        port = free_port()
        server = start([sys.executable, "-m", "twin_cli.main", "serve", str(path), "--port",
                        str(port), "--workers", str(args.workers), "--log-level", "warning"],
                       {**env, "PYTHONPATH": str(src)}, f"http://127.0.0.1:{port}/conformance",
                       cwd=str(src))
        try:
            results["baseline"] = measure(f"{args.baseline_ref[:9]}", f"http://127.0.0.1:{port}",
                                          server.pid, {"bbox": bboxes}, levels, args)
        finally:
            stop(server)

    if args.pygeoapi:
        port = free_port()
        cfg = pygeoapi_config(tmp, path, port)
        oapi = tmp / "pygeoapi-openapi.yml"
        penv = {**os.environ, "PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(oapi)}
        subprocess.run([str(Path(args.pygeoapi).parent / "pygeoapi"), "openapi", "generate",
                        str(cfg), "--output-file", str(oapi)], env=penv, check=True,
                       capture_output=True)
        theirs = twin_crs_requests(boxes, easting_first=True)
        server = start([args.pygeoapi, "-m", "uvicorn", "pygeoapi.starlette_app:APP", "--port",
                        str(port), "--workers", str(args.workers), "--log-level", "warning"],
                       penv, f"http://127.0.0.1:{port}/conformance", cwd=str(tmp))
        try:
            got = ids_of(f"http://127.0.0.1:{port}", theirs[0])
            print(f"pygeoapi returns the same {len(got)} features as ours: {got == expected}")
            results["pygeoapi"] = measure("pygeoapi", f"http://127.0.0.1:{port}", server.pid,
                                          {"bbox_twin": theirs}, levels, args)
        finally:
            stop(server)

    floor = float(np.percentile(q_ms, 50))
    ours = results["ours"]
    print(f"\nstore query of one 500 m box in process (no HTTP, no JSON): p50 {floor:.2f} ms")
    for c, b in zip(ours["conformance"], ours["bbox"]):
        print(f"clients {b['clients']:3d}: bbox p99 / conformance p99 = "
              f"{b['p99_ms'] / max(c['p99_ms'], 1e-9):.1f}x; bbox CPU / conformance CPU = "
              f"{b['server_cpu_ms'] / max(c['server_cpu_ms'], 1e-9):.1f}x")
    by = {r["clients"]: r for r in ours["bbox"]}
    if 10 in by and 50 in by:
        ratio = by[50]["throughput_rps"] / by[10]["throughput_rps"]
        print(f"bbox throughput at 50 clients / at 10: {ratio:.2f} "
              f"({'no collapse' if ratio >= 1 else 'COLLAPSES'})")
    if 10 in by:
        print(f"bbox p99 at 10 clients: {by[10]['p99_ms']:.1f} ms (target <= 50 ms: "
              f"{'met' if by[10]['p99_ms'] <= 50 else 'NOT met'})")
    for other, kind in (("baseline", "bbox"), ("pygeoapi", "bbox_twin")):
        if other in results:
            for o, t in zip(ours[kind], results[other][kind]):
                print(f"{other} {kind} clients {o['clients']:3d}: ours / theirs throughput "
                      f"{o['throughput_rps'] / max(t['throughput_rps'], 1e-9):.2f}x, p99 "
                      f"{t['p99_ms'] / max(o['p99_ms'], 1e-9):.2f}x lower, CPU/request "
                      f"{t['server_cpu_ms'] / max(o['server_cpu_ms'], 1e-9):.2f}x lower")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "n": args.n, "workers": args.workers, "store_bbox_p50_ms": floor,
            "baseline_ref": args.baseline_ref, **results}, indent=2))


if __name__ == "__main__":
    main()
