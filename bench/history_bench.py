"""Benchmark of feature versions: re-imports, diffs and as-of queries.

A synthetic city of N features (the generator of ``store_bench.py``: 80%
buildings with block meshes, 20% heating pipes with duct meshes, over a
20 x 20 km city), on each backend, in one run:

1. **first import** of the city with ``--update`` into an empty twin (the
   baseline);
2. **unchanged re-import** of the same city (target <= 1.5x the first):
   every feature's digest is compared, nothing is written, the transaction
   is rolled back;
3. **second year**: 5% of the buildings get a storey, 1% move 2 m, 1% are
   demolished (retired), 1% new ones (timed, reported);
4. **diff** of the two versions (``twin.diff.diff_twins``) (target <= 10 s at
   100,000 features; the ratio is to the first import);
5. **as-of bbox queries** (as of the first year) against the same queries
   now, random boxes returning ~100 features (target: p50 <= 1.5x).

Ratios are against baselines measured in the same run. The default size
runs in a few minutes on a small machine; ``--n 100000`` is the issue's size.

    python bench/history_bench.py [--n 20000] [--queries 300] [--backends gpkg,postgis]
        [--pg URL] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pg_database import postgis_database  # noqa: E402
from store_bench import EXTENT, X0, Y0, make_chunk  # noqa: E402

import twin  # noqa: E402
from twin.diff import diff_twins  # noqa: E402
from twin.geometry import box_mesh  # noqa: E402

CHUNK = 20_000


def city(n: int) -> list:
    rng = np.random.default_rng(42)
    feats: list = []
    while len(feats) < n:
        k = min(CHUNK, n - len(feats))
        feats += make_chunk(rng, len(feats), k)[0]
    return feats


def second_year(feats: list, seed: int = 7) -> tuple[list, dict[str, int]]:
    """The city a year later, and how many features of each change it holds."""
    rng = np.random.default_rng(seed)
    out = []
    counts = {"storey": 0, "moved": 0, "demolished": 0, "new": 0}
    for f in feats:
        r = rng.random()
        if f.layer != "buildings" or r >= 0.07:
            out.append(f)
        elif r < 0.05:
            a = dict(f.attributes)
            a["storeys"] += 1
            out.append(dataclasses.replace(f, attributes=a))
            counts["storey"] += 1
        elif r < 0.06:
            fp = shapely.affinity.translate(f.footprint, 2.0, 0.0)
            b = fp.bounds
            mesh = box_mesh((b[0], b[1], f.bbox[2]), (b[2], b[3], f.bbox[5]))
            out.append(dataclasses.replace(f, footprint=fp, meshes={"1": mesh}, bbox=None))
            counts["moved"] += 1
        else:
            counts["demolished"] += 1
    rng2 = np.random.default_rng(seed + 1)
    for i in range(counts["demolished"]):
        x, y = rng2.random(2) * EXTENT + (X0, Y0)
        fp = shapely.box(x, y, x + 15, y + 12)
        out.append(twin.Feature(id=f"bench:N{i}", layer="buildings", type="Building",
                                footprint=fp, meshes={"1": box_mesh((x, y, 1050.0),
                                                                    (x + 15, y + 12, 1065.0))},
                                attributes={"storeys": 5, "height": 15.0, "year_built": 2025}))
        counts["new"] += 1
    return out, counts


def timed_import(store, feats, retire=None):
    t0 = time.perf_counter()
    with store.import_batch("bench", "bench", "bench", "1", on_conflict="update",
                            retire_missing=retire) as b:
        b.add(feats)
    return time.perf_counter() - t0, b


def queries(store, as_of, boxes: np.ndarray) -> list[float]:
    ms = []
    for b in boxes:
        q = twin.Query(bbox=tuple(b), as_of=as_of)
        t0 = time.perf_counter()
        sum(1 for _ in store.query(q))
        ms.append((time.perf_counter() - t0) * 1000)
    return ms


def run_backend(location: str, n: int, n_queries: int) -> dict:
    feats = city(n)
    store = twin.create_twin(location, "EPSG:4546", overwrite=True)
    try:
        t_first, b1 = timed_import(store, feats)
        t_same, same = timed_import(store, feats)
        assert same.id == 0 and same.report["update"]["unchanged"] == n, same.report["update"]
        year2, made = second_year(feats)
        t_second, b2 = timed_import(store, year2, retire="layers")
        rep = b2.report["update"]
        t0 = time.perf_counter()
        cs = diff_twins(store.at(b1.id), store.at(b2.id))
        t_diff = time.perf_counter() - t0
        counts = {k: sum(v[k] for v in cs.counts().values())
                  for k in ("added", "removed", "changed")}
        rng = np.random.default_rng(3)
        side = np.sqrt(100 / n) * EXTENT  # boxes holding ~100 features
        corners = rng.random((n_queries, 2)) * (EXTENT - side) + (X0, Y0)
        boxes = np.column_stack([corners, corners + side])
        queries(store, None, boxes[:20])  # warm the cache alike for both
        now_ms = queries(store, None, boxes)
        then_ms = queries(store, b1.id, boxes)
    finally:
        store.close()
    return {
        "first_import_s": round(t_first, 3), "unchanged_reimport_s": round(t_same, 3),
        "reimport_ratio": round(t_same / t_first, 3),
        "second_year_s": round(t_second, 3),
        "second_year": {k: rep[k] for k in ("added", "changed", "unchanged", "retired")},
        "made": made, "diff_s": round(t_diff, 3), "diff_counts": counts,
        "diff_s_at_100k_estimate": round(t_diff * 100_000 / n, 2),
        "query_p50_now_ms": round(float(np.median(now_ms)), 3),
        "query_p50_as_of_ms": round(float(np.median(then_ms)), 3),
        "as_of_ratio": round(float(np.median(then_ms) / np.median(now_ms)), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000, help="features in the city")
    ap.add_argument("--queries", type=int, default=300, help="bbox queries each way")
    ap.add_argument("--backends", default="gpkg", help="gpkg, postgis or both (comma)")
    ap.add_argument("--pg", default=None, help="a PostGIS database URL (default: a "
                                               "throwaway cluster)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    out = Path(tempfile.mkdtemp(prefix="twin-history-bench-"))
    figures: dict = {"features": args.n, "backends": {}}
    with postgis_database(args.pg, "postgis" in backends) as pg_url:
        for name in backends:
            loc = str(out / "city.gpkg") if name == "gpkg" else pg_url
            sys.stderr.write(f"{name}: {args.n:,} features\n")
            figures["backends"][name] = run_backend(loc, args.n, args.queries)
    for name, f in figures["backends"].items():
        print(f"{name}, {args.n:,} features")
        print(f"  first import            {f['first_import_s']:8.2f} s")
        print(f"  unchanged re-import     {f['unchanged_reimport_s']:8.2f} s   "
              f"{f['reimport_ratio']:.2f}x the first (target <= 1.5x)")
        print(f"  second year             {f['second_year_s']:8.2f} s   {f['second_year']}")
        print(f"  diff of the two years   {f['diff_s']:8.2f} s   {f['diff_counts']}; "
              f"~{f['diff_s_at_100k_estimate']:.1f} s at 100,000 (target <= 10 s)")
        print(f"  bbox query p50 now      {f['query_p50_now_ms']:8.2f} ms")
        print(f"  bbox query p50 as-of    {f['query_p50_as_of_ms']:8.2f} ms   "
              f"{f['as_of_ratio']:.2f}x now (target <= 1.5x)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
