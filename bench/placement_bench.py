"""What the placement check costs an import.

Builds N synthetic heating pipes in a Hohhot twin (EPSG:4546) and times, in
the same run: storing them with ``import_batch`` (the baseline: what an
import costs without any converter), and screening them with
:class:`converters.placement.PlacementCheck` plus its verdict. Prints the
seconds per feature of each and the ratio.

Usage: ``python bench/placement_bench.py [--n 50000]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import shapely  # noqa: E402

import twin  # noqa: E402
from converters.placement import PlacementCheck  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    n = ap.parse_args().n
    feats = [twin.Feature(id=f"p{i}", layer="heating", type="PipeSegment",
                          footprint=shapely.LineString([
                              (559_000 + 12 * (i % 1000), 4_520_000 + 12 * (i // 1000), 1040.0),
                              (559_010 + 12 * (i % 1000), 4_520_000 + 12 * (i // 1000), 1040.0)]),
                          attributes={"diameter_mm": 300})
             for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        store = twin.create_twin(Path(tmp) / "b.gpkg", "EPSG:4546")
        t0 = time.perf_counter()
        with store.import_batch("bench", "bench", "bench", "1") as batch:
            batch.add(feats)
        stored = time.perf_counter() - t0
        store.close()
    check = PlacementCheck(store.crs, "bench")
    t0 = time.perf_counter()
    kept = sum(1 for _ in check.screen(feats, lambda i, r: None))
    check.verdict({})
    screened = time.perf_counter() - t0
    assert kept == n
    print(f"{n:,} features: store {stored:.2f} s ({1e6 * stored / n:.1f} us each), "
          f"placement check {screened:.2f} s ({1e6 * screened / n:.1f} us each), "
          f"ratio {screened / stored:.3f}")


if __name__ == "__main__":
    main()
