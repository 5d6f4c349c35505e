"""Benchmark of the embedded store: inserts and spatial queries at scale.

Inserts N synthetic features (default 1,000,000) into a fresh twin: 80%
buildings (box footprint, 12-triangle block mesh, typed attributes) and 20%
pipe segments 1-4 m underground (3D centreline, 16-triangle duct mesh), spread
over a 20 x 20 km city. Then runs 1,000 random 2D-bbox and 1,000 random
3D-box queries sized to return up to ~100 features, and the same queries
against a shapely STRtree built over the same footprints in the same run
(the baseline: an in-memory index with no I/O and no feature decoding).

Prints insert throughput, query latency p50/p99 (ms) and the ratio to the
baseline. Targets (issue 2): p50 <= 2 ms for queries returning <= 100
features at 1M features; insert >= 50,000 features/s.

    python bench/store_bench.py [--n 1000000] [--queries 1000] [--out DIR]
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
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import twin  # noqa: E402
from twin.geometry import box_mesh, rect_profile, sweep_segments  # noqa: E402

EXTENT = 20_000.0
X0, Y0, GROUND = 540_000.0, 4_500_000.0, 1050.0


def make_chunk(rng: np.random.Generator, start: int, n: int) -> tuple[list, np.ndarray, np.ndarray]:
    """Features ``start .. start+n``, plus their 2D boxes and z ranges (for the baseline)."""
    xy = rng.random((n, 2)) * EXTENT + (X0, Y0)
    size = rng.uniform(8, 30, (n, 2))
    is_pipe = rng.random(n) < 0.2
    feats = []
    boxes = np.empty((n, 4))
    zr = np.empty((n, 2))
    # pipes: all duct meshes at once
    pidx = np.flatnonzero(is_pipe)
    starts = np.column_stack([xy[pidx], GROUND - rng.uniform(1, 4, len(pidx))])
    ends = starts + np.column_stack([size[pidx, 0] * 2, np.zeros(len(pidx)), np.zeros(len(pidx))])
    pverts, pfaces = sweep_segments(starts, ends, rect_profile(0.4, 0.4))
    pk = 0
    for k in range(n):
        fid = start + k
        x, y = xy[k]
        if is_pipe[k]:
            a, b = starts[pk], ends[pk]
            mesh = twin.Mesh(pverts[pk], pfaces)
            pk += 1
            fp = shapely.LineString([a, b])
            f = twin.Feature(id=f"bench:P{fid}", layer="heating", type="PipeSegment",
                             footprint=fp, meshes={"1": mesh},
                             attributes={"diameter_mm": 400.0, "install_year": 1985 + fid % 40})
        else:
            w, d = size[k]
            h = 3.0 * (1 + fid % 30)
            fp = shapely.box(x, y, x + w, y + d)
            mesh = box_mesh((x, y, GROUND), (x + w, y + d, GROUND + h))
            f = twin.Feature(id=f"bench:B{fid}", layer="buildings", type="Building",
                             footprint=fp, meshes={"1": mesh},
                             attributes={"storeys": 1 + fid % 30, "height": h,
                                         "year_built": 1950 + fid % 75})
        feats.append(f)
        bb = f.bbox
        boxes[k] = (bb[0], bb[1], bb[3], bb[4])
        zr[k] = (bb[2], bb[5])
    return feats, boxes, zr


def percentiles(ms: list[float]) -> tuple[float, float]:
    a = np.asarray(ms)
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--out", default=None, help="folder for the twin file (default: temp)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()

    out = Path(args.out or tempfile.mkdtemp(prefix="twin-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bench.gpkg"
    store = twin.create_twin(path, "EPSG:4546", overwrite=True)
    rng = np.random.default_rng(42)
    all_boxes, all_z = [], []
    t_make = t_insert = 0.0
    done = 0
    with store.import_batch("synthetic", "bench", "bench", "1") as batch:
        while done < args.n:
            n = min(args.chunk, args.n - done)
            t0 = time.perf_counter()
            feats, boxes, zr = make_chunk(rng, done, n)
            t1 = time.perf_counter()
            batch.add(feats)
            t2 = time.perf_counter()
            t_make += t1 - t0
            t_insert += t2 - t1
            all_boxes.append(boxes)
            all_z.append(zr)
            done += n
            sys.stderr.write(f"\rinserted {done:,}/{args.n:,}")
        t3 = time.perf_counter()
    t_commit = time.perf_counter() - t3
    sys.stderr.write("\n")
    boxes = np.vstack(all_boxes)
    zr = np.vstack(all_z)
    size_mb = os.path.getsize(path) / 1e6

    # the baseline: shapely STRtree over the same 2D boxes (built in this run)
    t0 = time.perf_counter()
    geoms = shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])
    tree = shapely.STRtree(geoms)
    t_tree = time.perf_counter() - t0

    # query windows: ~100 m squares contain ~<= 100 features at 1M / 400 km^2 density
    density = args.n / (EXTENT * EXTENT)
    side = float(np.sqrt(60.0 / density))
    qrng = np.random.default_rng(7)
    corners = qrng.random((args.queries, 2)) * (EXTENT - side) + (X0, Y0)

    def run_store(box3d: bool) -> tuple[list[float], list[int]]:
        lat, counts = [], []
        for cx, cy in corners:
            if box3d:  # everything 0 to 5 m below ground here
                q = twin.Query(box3d=(cx, cy, GROUND - 5, cx + side, cy + side, GROUND - 0.01))
            else:
                q = twin.Query(bbox=(cx, cy, cx + side, cy + side))
            t = time.perf_counter()
            res = list(store.query(q))
            lat.append((time.perf_counter() - t) * 1000)
            counts.append(len(res))
        return lat, counts

    def run_tree(box3d: bool) -> tuple[list[float], list[int]]:
        lat, counts = [], []
        for cx, cy in corners:
            t = time.perf_counter()
            idx = tree.query(shapely.box(cx, cy, cx + side, cy + side))
            if box3d:
                z = zr[idx]
                idx = idx[(z[:, 0] <= GROUND - 0.01) & (z[:, 1] >= GROUND - 5)]
            lat.append((time.perf_counter() - t) * 1000)
            counts.append(len(idx))
        return lat, counts

    results = {}
    for label, is3d in (("bbox2d", False), ("box3d", True)):
        s_lat, s_cnt = run_store(is3d)
        b_lat, b_cnt = run_tree(is3d)
        if s_cnt != b_cnt:
            bad = next(i for i, (a, b) in enumerate(zip(s_cnt, b_cnt)) if a != b)
            raise SystemExit(f"{label}: store and STRtree disagree on query {bad}: "
                             f"{s_cnt[bad]} vs {b_cnt[bad]} features")
        results[label] = {
            "store_p50_ms": percentiles(s_lat)[0], "store_p99_ms": percentiles(s_lat)[1],
            "strtree_p50_ms": percentiles(b_lat)[0], "strtree_p99_ms": percentiles(b_lat)[1],
            "features_mean": float(np.mean(s_cnt)), "features_max": int(np.max(s_cnt)),
        }
    # id look-ups, for reference
    ids = qrng.integers(0, args.n, 1000)
    t = time.perf_counter()
    for i in ids:
        try:
            store.get(f"bench:B{i}", meshes=False)
        except twin.NotFoundError:
            store.get(f"bench:P{i}", meshes=False)
    get_ms = (time.perf_counter() - t)

    store.close()
    figures = {
        "features": args.n, "file_mb": round(size_mb, 1),
        "insert_features_per_s": round(args.n / t_insert),
        "insert_incl_commit_features_per_s": round(args.n / (t_insert + t_commit)),
        "make_features_s": round(t_make, 1), "insert_s": round(t_insert, 1),
        "commit_s": round(t_commit, 2), "strtree_build_s": round(t_tree, 2),
        "get_by_id_ms": round(get_ms, 3), "query_side_m": round(side, 1), **results,
    }
    w = sys.stdout.write
    w(f"store benchmark: {args.n:,} features, file {size_mb:.0f} MB ({path})\n")
    w(f"  insert: {figures['insert_features_per_s']:,} features/s "
      f"({figures['insert_incl_commit_features_per_s']:,}/s with commit); "
      f"building the features in Python took {t_make:.1f} s more\n")
    w(f"  get by id: {get_ms:.3f} ms per feature (1,000 look-ups)\n")
    for label, r in results.items():
        w(f"  {label} ({side:.0f} m squares, mean {r['features_mean']:.0f} / max "
          f"{r['features_max']} features): store p50 {r['store_p50_ms']:.2f} ms, p99 "
          f"{r['store_p99_ms']:.2f} ms | STRtree p50 {r['strtree_p50_ms']:.3f} ms, p99 "
          f"{r['strtree_p99_ms']:.3f} ms | store/STRtree p50 ratio "
          f"{r['store_p50_ms'] / r['strtree_p50_ms']:.0f}x\n")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
