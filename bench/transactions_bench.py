"""Benchmark of OGC API - Features - Part 4 writes against file imports.

One edit from a GIS client is one import batch of the twin. What does it
cost? A synthetic city of N features (``store_bench.py``'s generator), on
each backend, in one run:

1. **file import of one feature** (the baseline): a one-feature GeoJSON file
   through ``converters.import_file`` with ``--update``, in process, the way
   ``twin import one.geojson --update`` does it;
2. **POST** of one feature (GeoJSON in CRS84) to ``twin serve``'s app under
   uvicorn on 127.0.0.1, over HTTP with the token (validation, placement
   check, reprojection, one batch);
3. **PATCH** of one attribute of a feature (with ``If-Match``, read first
   with a GET, not timed);
4. **DELETE** (retire) of one feature.

Each is repeated ``--repeat`` times; the medians are printed with their
ratios to the baseline of the same run.

    python bench/transactions_bench.py [--n 5000] [--repeat 40] [--backends gpkg,postgis]
        [--pg URL] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from pyproj import Transformer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_bench import X0, Y0, make_chunk  # noqa: E402

import twin  # noqa: E402
from converters import import_file  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"
TO_LONLAT = Transformer.from_crs("EPSG:4546", "OGC:CRS84", always_xy=True)


def square(x: float, y: float, crs84: bool) -> list:
    ring = [(x, y), (x + 10, y), (x + 10, y + 10), (x, y + 10), (x, y)]
    if crs84:
        ring = [TO_LONLAT.transform(px, py) for px, py in ring]
    return [[list(p) for p in ring]]


@contextmanager
def served(path: str):
    import uvicorn

    from twin_api.app import create_app
    from twin_api.settings import ApiSettings

    app = create_app(ApiSettings(path, token=TOKEN, rate_limit=0))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def run(location: str, n: int, repeat: int, work: Path) -> dict[str, float]:
    import httpx2 as httpx

    rng = np.random.default_rng(3)
    store = twin.create_twin(location, "EPSG:4546")
    with store.import_batch("bench city", "synthetic", "bench", "1") as b:
        b.add(make_chunk(rng, 0, n)[0])
    times: dict[str, list[float]] = {"file import": [], "POST": [], "PATCH": [], "DELETE": []}
    for i in range(repeat):  # the baseline: one-feature files
        f = work / f"one-{i}.geojson"
        f.write_text(json.dumps({"type": "FeatureCollection", "features": [{
            "type": "Feature", "id": f"F{i}", "geometry": {
                "type": "Polygon", "coordinates": square(X0 + 20 * i, Y0 - 50, True)},
            "properties": {"layer": "buildings", "storeys": 3}}]}))
        t0 = time.perf_counter()
        import_file(store, f, on_conflict="update")
        times["file import"].append(time.perf_counter() - t0)
    store.close()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with served(location) as url, httpx.Client(base_url=url, timeout=60) as c:
        ids = []
        for i in range(repeat):
            body = {"type": "Feature", "geometry": {
                "type": "Polygon", "coordinates": square(X0 + 20 * i, Y0 - 100, True)},
                "properties": {"storeys": 3}}
            t0 = time.perf_counter()
            r = c.post("/collections/buildings/items", json=body, headers=auth)
            times["POST"].append(time.perf_counter() - t0)
            assert r.status_code == 201, r.text
            ids.append(r.json()["ids"][0])
        for i, fid in enumerate(ids):
            tag = c.get(f"/collections/buildings/items/{fid}").headers["ETag"]
            t0 = time.perf_counter()
            r = c.patch(f"/collections/buildings/items/{fid}",
                        json={"properties": {"storeys": 4 + i}},
                        headers={**auth, "If-Match": tag})
            times["PATCH"].append(time.perf_counter() - t0)
            assert r.status_code == 204, r.text
        for fid in ids:
            t0 = time.perf_counter()
            r = c.delete(f"/collections/buildings/items/{fid}", headers=auth)
            times["DELETE"].append(time.perf_counter() - t0)
            assert r.status_code == 204, r.text
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--backends", default="gpkg")
    ap.add_argument("--pg", default=None, help="PostGIS URL (a schema is made there)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "gpkg":
                location = str(work / "bench.gpkg")
            else:
                if not args.pg:
                    sys.exit("--pg URL is needed for the postgis backend")
                sep = "&" if "?" in args.pg else "?"
                location = f"{args.pg}{sep}schema=bench_tx_{int(time.time())}"
            med = run(location, args.n, args.repeat, work)
            base = med["file import"]
            print(f"{backend}: {args.n} features, median of {args.repeat}")
            for k, v in med.items():
                print(f"  {k:12s} {v * 1000:8.1f} ms   {v / base:5.2f}x the file import")
            results[backend] = med
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
