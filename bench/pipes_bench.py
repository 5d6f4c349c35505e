"""Benchmark of the pipe analyses on a synthetic city network.

Builds a street grid with seven CJJ 61 utilities under every street (about
100,000 segments by default, depths jittered so that some crossings violate
GB 50289), then times in one run:

* meshing every segment as a swept pipe or duct (vectorised, one call);
* the clearance check through the STRtree (:func:`check_clearances`);
* the same check on a subset with the STRtree and with a naive all-pairs
  loop (the baseline), checking that both find the same violations.

* import, meshing and clearance check of a real model, BWSN_Network_2.inp
  (14,822 pipes) from ``../shared/data/pipes/epanet`` when it is there.

    python bench/pipes_bench.py [--segments 100000] [--subset 1500] [--bwsn PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.analysis.clearance import (  # noqa: E402
    check_clearances,
    check_clearances_naive,
    load_rules,
)
from twin.analysis.segments import SegmentTable  # noqa: E402
from twin.geometry import circle_profile, rect_profile, sweep_segments  # noqa: E402

UTIL = {  # code: (offset m, cover m, diameter mm or (w, h) mm, burial)
    "JS": (4.0, 2.34, 300, ""), "WS": (0.0, 4.45, 500, ""), "YS": (-4.0, 3.42, 800, ""),
    "RQ": (8.0, 1.95, 200, ""), "RL": (-8.0, 2.8, 400, ""),
    "DL": (10.0, 1.27, (600, 400), "duct bank"), "TX": (-10.0, 0.7, (400, 300), "duct bank"),
}
LAYER = {"JS": "water_supply", "WS": "sewage", "YS": "rainwater", "RQ": "gas", "RL": "heating",
         "DL": "power", "TX": "telecom"}


def synthetic_network(target: int, pitch: float = 120.0, seed: int = 3) -> SegmentTable:
    rng = np.random.default_rng(seed)
    n = int(np.ceil(np.sqrt(target / 14))) + 1  # 14 n (n - 1) segments
    cols: dict[str, list] = {k: [] for k in SegmentTable.__dataclass_fields__}
    for code, (off, cover, size, burial) in UTIL.items():
        if isinstance(size, tuple):
            hw, hh, dia = size[0] / 2000, size[1] / 2000, np.nan
        else:
            hw = hh = size / 2000
            dia = float(size)
        for i in range(n):
            for j in range(n - 1):
                for ew in (True, False):
                    a = (j * pitch + off, i * pitch + off) if ew else (i * pitch + off,
                                                                         j * pitch + off)
                    b = ((j + 1) * pitch + off, a[1]) if ew else (a[0], (j + 1) * pitch + off)
                    za = -cover - hh + rng.normal(0, 0.05)
                    zb = -cover - hh + rng.normal(0, 0.05)
                    na = f"{code}-{a[0]:.0f}-{a[1]:.0f}"
                    nb = f"{code}-{b[0]:.0f}-{b[1]:.0f}"
                    cols["ids"].append(f"{code}-{'EW' if ew else 'NS'}-{i}-{j}")
                    cols["layers"].append(LAYER[code])
                    cols["codes"].append(code)
                    cols["types"].append("PipeSegment")
                    cols["diameter_mm"].append(dia)
                    cols["half_width"].append(hw)
                    cols["half_height"].append(hh)
                    cols["material"].append("steel")
                    cols["install_year"].append(int(rng.integers(1985, 2025)))
                    cols["length"].append(pitch)
                    cols["start"].append(na)
                    cols["end"].append(nb)
                    cols["serves"].append("")
                    cols["pressure_class"].append("medium B" if code == "RQ" else "")
                    cols["burial"].append(burial)
                    cols["lines"].append(shapely.LineString([(*a, za), (*b, zb)]))
    arr = {}
    for k, v in cols.items():
        if k in ("diameter_mm", "half_width", "half_height", "length"):
            arr[k] = np.array(v, float)
        elif k == "install_year":
            arr[k] = np.array(v, np.int64)
        else:
            arr[k] = np.array(v, dtype=object)
    return SegmentTable(**arr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--segments", type=int, default=100_000)
    ap.add_argument("--subset", type=int, default=1500)
    ap.add_argument("--bwsn", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                          / "pipes" / "epanet" / "BWSN_Network_2.inp"))
    args = ap.parse_args()
    rules = load_rules()

    t = time.perf_counter()
    seg = synthetic_network(args.segments)
    t_build = time.perf_counter() - t

    t = time.perf_counter()
    coords = shapely.get_coordinates(seg.lines, include_z=True).reshape(-1, 2, 3)
    round_ = np.isfinite(seg.diameter_mm)
    v1, f1 = sweep_segments(coords[round_, 0], coords[round_, 1], circle_profile(1.0, 12)
                            * seg.half_width[round_][:, None, None])
    v2, f2 = sweep_segments(coords[~round_, 0], coords[~round_, 1],
                            np.stack([rect_profile(2 * w, 2 * h) for w, h in
                                      zip(seg.half_width[~round_], seg.half_height[~round_])]))
    t_mesh = time.perf_counter() - t
    tris = len(f1) * len(v1) + len(f2) * len(v2)

    t = time.perf_counter()
    found = check_clearances(seg, rules=rules)
    t_check = time.perf_counter() - t

    # same region, both ways: segments whose start lies in the lower-left corner
    xy = coords[:, 0, :2]
    order = np.argsort(np.maximum(xy[:, 0], xy[:, 1]), kind="stable")[: args.subset]
    sub = seg.select(np.isin(np.arange(len(seg)), order))
    t = time.perf_counter()
    idx = {(v.kind, v.a, v.b) for v in check_clearances(sub, rules=rules)}
    t_idx = time.perf_counter() - t
    t = time.perf_counter()
    base = check_clearances_naive(sub, rules)
    t_naive = time.perf_counter() - t
    if idx != base:
        raise SystemExit(f"indexed and naive checks disagree: {len(idx)} vs {len(base)}")

    w = sys.stdout.write
    w(f"pipes benchmark: {len(seg):,} segments of 7 utilities (network built in {t_build:.1f} s)\n")
    w(f"  meshing: {t_mesh:.2f} s for {len(seg):,} segments ({tris:,} triangles)\n")
    w(f"  clearance check (STRtree): {t_check:.2f} s, {len(found):,} violations\n")
    w(f"  subset of {len(sub):,} segments: STRtree {t_idx * 1000:.0f} ms vs naive all-pairs "
      f"{t_naive:.1f} s ({t_naive / t_idx:.0f}x), same {len(idx)} violations\n")
    if Path(args.bwsn).is_file():
        bwsn(Path(args.bwsn), rules, w)


def bwsn(path: Path, rules, w) -> None:
    """Import (with meshing), then load and check a real EPANET model."""
    import tempfile

    import twin
    from converters import import_file
    from twin.analysis.segments import load_segments

    with tempfile.TemporaryDirectory() as tmp:
        store = twin.create_twin(Path(tmp) / "bwsn.gpkg", "EPSG:32650")
        t = time.perf_counter()
        res = import_file(store, path, crs="EPSG:32650")  # local coordinates: taken as metres
        t_import = time.perf_counter() - t
        t = time.perf_counter()
        seg = load_segments(store)
        t_load = time.perf_counter() - t
        t = time.perf_counter()
        v = check_clearances(seg, rules=rules)
        t_check = time.perf_counter() - t
        store.close()
    w(f"BWSN_Network_2: import {res.features:,} features ({res.report['by_type']['PipeSegment']:,}"
      f" pipes, meshes included) in {t_import:.1f} s; load {len(seg):,} segments "
      f"{t_load:.2f} s; clearance check {t_check:.2f} s, {len(v)} violations\n")


if __name__ == "__main__":
    main()
