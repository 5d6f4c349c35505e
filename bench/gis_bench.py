"""What outside clients get, timed against baselines from the same run.

1. GDAL's spatial filter on a GeoPackage twin (what QGIS does on every pan
   and zoom) with the twin's spatial index registered for the layer (the
   ``rtree_<layer>_geom`` views of ``twin/store/gpkg/qgis.py``) against the
   same file without it (GDAL then reads every footprint of the layer):
   pyogrio (its own GDAL) reading small bboxes of ``buildings``.
2. A CQL2 filter on ``/items`` (``twin_api.features``, no HTTP) against the
   same selection as a property filter (``storeys=7``): what parsing and
   translating CQL2 costs; and a nested filter that only CQL2 can say.

Builds a synthetic twin (default 100,000 features, as ``store_bench.py``
makes them). Prints medians and ratios; nothing is asserted.

    python bench/gis_bench.py --n 100000
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyogrio  # noqa: E402
from store_bench import EXTENT, X0, Y0, load  # noqa: E402

import twin  # noqa: E402


def timed(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def without_index(src: Path, dst: Path) -> None:
    shutil.copy(src, dst)
    conn = sqlite3.connect(dst)
    conn.execute("DELETE FROM gpkg_extensions WHERE extension_name = 'gpkg_rtree_index'")
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view' AND "
                                "name LIKE 'rtree_%'").fetchall():
        conn.execute(f'DROP VIEW "{name}"')
    conn.commit()
    conn.close()


def spatial(path: Path, bare: Path, queries: int) -> dict[str, float]:
    rng = np.random.default_rng(7)
    corners = rng.random((queries, 2)) * (EXTENT - 300) + (X0, Y0)
    boxes = [(x, y, x + 300, y + 300) for x, y in corners]

    def run(p: Path) -> tuple[list[float], int]:
        n = 0
        ms = []
        for b in boxes:
            t = time.perf_counter()
            meta, _, geoms, _ = pyogrio.raw.read(p, layer="buildings", bbox=b,
                                                 columns=["feature_id"])
            ms.append((time.perf_counter() - t) * 1000)
            n += len(geoms)
        return ms, n

    with_ms, n1 = run(path)
    bare_ms, n2 = run(bare)
    assert n1 == n2, (n1, n2)  # the same features either way
    return {"indexed_ms": statistics.median(with_ms), "bare_ms": statistics.median(bare_ms),
            "features": n1 / len(boxes)}


def cql2(path: Path, reps: int) -> dict[str, float]:
    from twin_api import features as ogc

    with twin.open_twin(path, readonly=True) as store:
        def page(params: dict[str, list[str]]) -> int:
            req = ogc.parse_items_request("buildings", params, default_limit=100,
                                          max_limit=10_000)
            _, body = ogc.items(store, req, params, "http://bench")
            return len(b"".join(body))

        prop = {"storeys": ["7"], "limit": ["100"]}
        text = {"filter": ["storeys = 7"], "limit": ["100"]}
        nested = {"filter": ["(storeys > 25 AND height < 80) OR NOT (year_built BETWEEN "
                             "1960 AND 2020)"], "limit": ["100"]}
        assert page(prop) > 1000
        out = {}
        for name, params in (("property_ms", prop), ("cql2_ms", text),
                             ("cql2_nested_ms", nested)):
            out[name] = statistics.median(timed(lambda p=params: page(p), reps))
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", default=None, help="folder for the twin files (default: temp)")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="gis-bench-"))
    path = out / "bench.gpkg"
    store = twin.create_twin(path, "EPSG:4546", overwrite=True)
    load(store, args.n, 50_000, keep=False)
    store.close()
    bare = out / "bare.gpkg"
    without_index(path, bare)
    s = spatial(path, bare, args.queries)
    print(f"GDAL bbox read of buildings ({args.n:,} features, 300 m boxes, "
          f"{s['features']:.1f} features each), median:")
    print(f"  with the twin's spatial index   {s['indexed_ms']:8.2f} ms")
    print(f"  without (baseline)              {s['bare_ms']:8.2f} ms   "
          f"ratio {s['bare_ms'] / s['indexed_ms']:.1f}x faster with the index")
    c = cql2(path, args.queries)
    print("a page of 100 buildings from /items (no HTTP), median:")
    print(f"  storeys=7 (baseline)            {c['property_ms']:8.2f} ms")
    print(f"  filter=storeys = 7 (CQL2 text)  {c['cql2_ms']:8.2f} ms   "
          f"ratio {c['cql2_ms'] / c['property_ms']:.2f}")
    print(f"  nested AND/OR/NOT/BETWEEN       {c['cql2_nested_ms']:8.2f} ms   "
          f"ratio {c['cql2_nested_ms'] / c['property_ms']:.2f}")
    if not args.out:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
