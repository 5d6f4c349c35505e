"""Benchmark of the stores: bulk imports and spatial queries at scale, the
GeoPackage file and PostgreSQL/PostGIS side by side in one run.

Inserts N synthetic features (default 1,000,000) into a fresh twin on each
backend: 80% buildings (box footprint, 12-triangle block mesh, typed
attributes) and 20% pipe segments 1-4 m underground (3D centreline,
16-triangle duct mesh), spread over a 20 x 20 km city. The same features
(same seed) go to every backend; making them is not timed. Then runs random
2D-bbox and 3D-box queries sized to return up to ~100 features on each
backend, and the same queries against a shapely STRtree over the same boxes
(an in-memory index with no I/O and no feature decoding: the floor).

Baselines measured in the same run: the GeoPackage's row-by-row path (an
import of ``--rowwise`` features into a twin that already holds one, where
every index is kept up to date row by row; before issue 23 every import
took it) and the STRtree.

PostGIS runs on a throwaway cluster this script starts in a temporary
folder (durable settings: fsync on), or on the database named by ``--pg``.
Targets (issues 17, 23): import >= 50,000 features/s, p50 <= 2 ms for queries
returning <= 100 features at 1M features.

    python bench/store_bench.py [--n 1000000] [--queries 1000] [--backends gpkg,postgis]
        [--rowwise 100000] [--pg URL] [--out DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pg_database import postgis_database  # noqa: E402

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


class ThreadClock:
    """CPU seconds (``time.thread_time``) of the store's two steps, each on its
    own thread: preparing chunks (checks, encoding, digests; the caller's
    thread) and writing them (the writer thread). Wraps the two methods of
    :class:`twin.store.writer.ChunkedBatchWriter` while the block runs."""

    def __init__(self) -> None:
        self.seconds = {"prepare": 0.0, "write": 0.0}

    def _timed(self, name: str, method):
        def timed(writer, *args):
            c = time.thread_time()
            try:
                return method(writer, *args)
            finally:
                self.seconds[name] += time.thread_time() - c
        return timed

    def __enter__(self) -> ThreadClock:
        from twin.store.writer import ChunkedBatchWriter as W

        self.saved = (W._prepare, W._write_all)
        W._prepare = self._timed("prepare", W._prepare)  # type: ignore[method-assign]
        W._write_all = self._timed("write", W._write_all)  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc) -> None:
        from twin.store.writer import ChunkedBatchWriter as W

        W._prepare, W._write_all = self.saved  # type: ignore[method-assign]


def load(store, n: int, chunk: int, keep: bool) -> tuple[dict, list, list]:
    """Import ``n`` features in one batch; ``(times, boxes, z ranges)``
    (boxes only when ``keep``). ``times``: wall seconds adding and
    committing, this process's CPU seconds (every thread) for each, and the
    CPU seconds of the preparing and the writing thread while adding."""
    rng = np.random.default_rng(42)
    all_boxes, all_z = [], []
    t_insert = c_insert = 0.0
    done = 0
    clock = ThreadClock()
    with store.import_batch("synthetic", "bench", "bench", "1") as batch, clock:
        while done < n:
            k = min(chunk, n - done)
            feats, boxes, zr = make_chunk(rng, done, k)
            t1, c1 = time.perf_counter(), time.process_time()
            batch.add(feats)
            t_insert += time.perf_counter() - t1
            c_insert += time.process_time() - c1
            if keep:
                all_boxes.append(boxes)
                all_z.append(zr)
            done += k
            sys.stderr.write(f"\r  {done:,}/{n:,}")
        t3, c3 = time.perf_counter(), time.process_time()
    times = {"insert": t_insert, "commit": time.perf_counter() - t3,
             "insert_cpu": c_insert, "commit_cpu": time.process_time() - c3,
             "prepare_cpu": clock.seconds["prepare"], "write_cpu": clock.seconds["write"]}
    sys.stderr.write("\n")
    return times, all_boxes, all_z


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--backends", default="gpkg,postgis")
    ap.add_argument("--rowwise", type=int, default=100_000,
                    help="features of the row-by-row baseline (0: none)")
    ap.add_argument("--pg", default=None, help="a PostGIS database URL (default: a "
                                               "throwaway cluster)")
    ap.add_argument("--out", default=None, help="folder for the twin files (default: temp)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    out = Path(args.out or tempfile.mkdtemp(prefix="twin-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    with postgis_database(args.pg, "postgis" in backends) as pg_url:
        figures = run(args, backends, out, pg_url)
    report(figures, args)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


def run(args, backends: list[str], out: Path, pg_url: str | None) -> dict:
    figures: dict = {"features": args.n, "backends": {}}
    boxes = zr = None
    for backend in backends:
        location = str(out / "bench.gpkg") if backend == "gpkg" else pg_url
        sys.stderr.write(f"{backend}: import\n")
        store = twin.create_twin(location, "EPSG:4546", overwrite=True)
        t, b, z = load(store, args.n, args.chunk, keep=boxes is None)
        if boxes is None:
            boxes, zr = np.vstack(b), np.vstack(z)
        size = store.info().extra.get("file_size", 0)
        r = {**load_figures(t, args.n), "size_mb": round(size / 1e6)}
        r.update(queries(store, args, boxes, zr))
        store.close()
        figures["backends"][backend] = r
    if "gpkg" in backends and args.rowwise:
        sys.stderr.write(f"gpkg row by row: {args.rowwise:,} features into a twin that "
                         "holds one\n")
        store = twin.create_twin(out / "rows.gpkg", "EPSG:4546", overwrite=True)
        with store.import_batch("seed", "bench", "bench", "1") as b:
            b.add([twin.Feature(id="seed", layer="generic", type="Seed")])
        t, _, _ = load(store, args.rowwise, args.chunk, keep=False)
        store.close()
        figures["gpkg_rowwise"] = {"features": args.rowwise, **load_figures(t, args.rowwise)}
    return figures


def load_figures(t: dict, n: int) -> dict:
    """The figures of a load of ``n`` features from :func:`load`'s times."""
    return {"insert_features_per_s": round(n / t["insert"]),
            "insert_incl_commit_features_per_s": round(n / (t["insert"] + t["commit"])),
            "insert_s": round(t["insert"], 1), "commit_s": round(t["commit"], 2),
            "client_cpu_us_per_feature": round(t["insert_cpu"] / n * 1e6, 1),
            "commit_client_cpu_s": round(t["commit_cpu"], 2),
            "prepare_cpu_us_per_feature": round(t["prepare_cpu"] / n * 1e6, 1),
            "write_cpu_us_per_feature": round(t["write_cpu"] / n * 1e6, 1)}


def queries(store, args, boxes: np.ndarray, zr: np.ndarray) -> dict:
    """Random bbox and 3D-box queries on the store and on an STRtree over the
    same boxes (checked to agree), and look-ups by id."""
    geoms = shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])
    tree = shapely.STRtree(geoms)
    # query windows: ~155 m squares hold <= ~100 features at 1M / 400 km^2
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

    out: dict = {"query_side_m": round(side, 1)}
    for label, is3d in (("bbox2d", False), ("box3d", True)):
        s_lat, s_cnt = run_store(is3d)
        b_lat, b_cnt = run_tree(is3d)
        if s_cnt != b_cnt:
            bad = next(i for i, (a, b) in enumerate(zip(s_cnt, b_cnt)) if a != b)
            raise SystemExit(f"{label}: store and STRtree disagree on query {bad}: "
                             f"{s_cnt[bad]} vs {b_cnt[bad]} features")
        out[label] = {
            "store_p50_ms": percentiles(s_lat)[0], "store_p99_ms": percentiles(s_lat)[1],
            "strtree_p50_ms": percentiles(b_lat)[0], "strtree_p99_ms": percentiles(b_lat)[1],
            "features_mean": float(np.mean(s_cnt)), "features_max": int(np.max(s_cnt)),
        }
    ids = qrng.integers(0, args.n, 1000)
    t = time.perf_counter()
    for i in ids:
        try:
            store.get(f"bench:B{i}", meshes=False)
        except twin.NotFoundError:
            store.get(f"bench:P{i}", meshes=False)
    out["get_by_id_ms"] = round((time.perf_counter() - t), 3)
    return out


def report(figures: dict, args) -> None:
    w = sys.stdout.write
    n = figures["features"]
    w(f"store benchmark: {n:,} features, one run, same machine\n\n")
    w("| backend | import features/s | with commit | size MB | bbox p50 / p99 ms | "
      "3D box p50 / p99 ms | get by id ms |\n|---|---|---|---|---|---|---|\n")
    for name, r in figures["backends"].items():
        w(f"| {name} | {r['insert_features_per_s']:,} | "
          f"{r['insert_incl_commit_features_per_s']:,} | {r['size_mb']:,} | "
          f"{r['bbox2d']['store_p50_ms']:.2f} / {r['bbox2d']['store_p99_ms']:.2f} | "
          f"{r['box3d']['store_p50_ms']:.2f} / {r['box3d']['store_p99_ms']:.2f} | "
          f"{r['get_by_id_ms']:.3f} |\n")
    any_r = next(iter(figures["backends"].values()), None)
    if any_r is not None:
        w(f"| STRtree (in memory, floor) | | | | {any_r['bbox2d']['strtree_p50_ms']:.3f} / "
          f"{any_r['bbox2d']['strtree_p99_ms']:.3f} | {any_r['box3d']['strtree_p50_ms']:.3f} / "
          f"{any_r['box3d']['strtree_p99_ms']:.3f} | |\n")
        w(f"\nqueries: {args.queries} random {any_r['query_side_m']:.0f} m squares, mean "
          f"{any_r['bbox2d']['features_mean']:.0f} / max {any_r['bbox2d']['features_max']} "
          f"features (3D: 0-5 m below ground, mean {any_r['box3d']['features_mean']:.0f}); "
          "every backend returned the STRtree's counts\n")
    w("\nwall seconds (load + what follows: index builds, commit) and this process's CPU "
      "(every thread; PostGIS: the client only, the server works in its own processes):\n")
    for name, r in [*figures["backends"].items(), ("gpkg row by row", figures.get("gpkg_rowwise"))]:
        if r:
            w(f"  {name}: {r['insert_s']} + {r['commit_s']} s wall; CPU "
              f"{r['client_cpu_us_per_feature']} us a feature + {r['commit_client_cpu_s']} s "
              f"(per thread: preparing {r['prepare_cpu_us_per_feature']} us, writing "
              f"{r['write_cpu_us_per_feature']} us a feature)\n")
    rw = figures.get("gpkg_rowwise")
    g = figures["backends"].get("gpkg")
    if rw and g:
        w(f"GeoPackage row by row ({rw['features']:,} features into a non-empty twin): "
          f"{rw['insert_features_per_s']:,} features/s ({rw['insert_incl_commit_features_per_s']:,}"
          f" with commit); bulk load into an empty twin "
          f"{g['insert_incl_commit_features_per_s'] / rw['insert_incl_commit_features_per_s']:.1f}x"
          " that (with commit)\n")
    p = figures["backends"].get("postgis")
    if p and g:
        rate = "insert_incl_commit_features_per_s"
        w(f"PostGIS / GeoPackage: import {p[rate] / g[rate]:.2f}x, "
          f"bbox p50 {p['bbox2d']['store_p50_ms'] / g['bbox2d']['store_p50_ms']:.2f}x, "
          f"3D box p50 {p['box3d']['store_p50_ms'] / g['box3d']['store_p50_ms']:.2f}x\n")


if __name__ == "__main__":
    main()
