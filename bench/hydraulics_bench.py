"""Benchmark of hydraulics from the twin against WNTR straight on the .inp.

For each EPANET model (Net3 from ``sample_models/``, and ky10 and L-TOWN
from ``../shared/data/pipes/epanet`` when they are there) the model is
imported into a temporary GeoPackage twin through the EPANET converter, then
timed in the same run, ``--repeat`` times each (median):

* **baseline**: WNTR reads the .inp and runs EpanetSimulator on it, in the
  state the twin keeps (its demand patterns, but flat those the converter
  does not keep, over ``MAX_PATTERN_VALUES``; its simple controls, not its
  rules; steady state);
* **twin**: the network read from the twin (:func:`twin.network.network_graph`),
  built into a hydraulic model (:func:`twin.analysis.hydraulic_model.hydraulic_network`)
  and run (:func:`twin.analysis.hydraulics.simulate`), with the time of each step.

It prints the ratio twin / baseline and the largest pressure difference at
any junction between the two runs (the agreement the tests hold Net3 to).

    python bench/hydraulics_bench.py [--repeat 3] [--inp FILE ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import twin  # noqa: E402
from converters import import_file  # noqa: E402
from converters.epanet import MAX_PATTERN_VALUES  # noqa: E402
from twin.analysis.hydraulic_model import hydraulic_network  # noqa: E402
from twin.analysis.hydraulics import simulate  # noqa: E402
from twin.network import network_graph  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: ../shared beside the checkout (or beside a worktree's parent folder)
SHARED = next((p / "shared" / "data" / "pipes" / "epanet" for p in REPO.parents
               if (p / "shared" / "data").is_dir()), REPO.parent / "shared" / "data")
DEFAULT = [REPO / "sample_models" / "epanet" / "Net3.inp", SHARED / "ky10.inp",
           SHARED / "L-TOWN.inp"]


def baseline(inp: Path, tmp: Path) -> tuple[float, dict[str, float]]:
    """WNTR on the .inp in the twin's state; seconds and junction pressures."""
    import wntr

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wn = wntr.network.WaterNetworkModel(str(inp))
    for name in list(wn.control_name_list):  # rule-based controls: not kept
        if not isinstance(wn.get_control(name), wntr.network.controls.Control):
            wn.remove_control(name)
    for name in wn.pattern_name_list:  # what the twin does not keep: flat
        pat = wn.get_pattern(name)
        if len(pat.multipliers) > MAX_PATTERN_VALUES:
            pat.multipliers = [1.0]
    wn.options.time.duration = 0
    res = wntr.sim.EpanetSimulator(wn).run_sim(file_prefix=str(tmp / "baseline"))
    dt = time.perf_counter() - t0
    p = res.node["pressure"].loc[0]
    return dt, {n: float(p[n]) for n in wn.junction_name_list}


def from_twin(store, network: str) -> tuple[dict[str, float], dict[str, float]]:
    t0 = time.perf_counter()
    g = network_graph(store, network)
    t1 = time.perf_counter()
    net = hydraulic_network(g)
    t2 = time.perf_counter()
    r = simulate(net)
    t3 = time.perf_counter()
    return ({"read": t1 - t0, "build": t2 - t1, "run": t3 - t2, "total": t3 - t0},
            r.pressure())


def bench(inp: Path, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="hydbench-") as d:
        tmp = Path(d)
        copy = tmp / inp.name
        copy.write_bytes(inp.read_bytes())
        store = twin.create_twin(tmp / "t.gpkg", "EPSG:4546")
        t0 = time.perf_counter()
        import_file(store, copy, crs="EPSG:4546", force=True)
        imported = time.perf_counter() - t0
        network = copy.stem
        base, ours = [], []
        for _ in range(repeat):
            dt, ref = baseline(copy, tmp)
            base.append(dt)
            times, p = from_twin(store, network)
            ours.append(times)
        store.close()
    prefix = f"epanet:{network}:node:"
    ref = {n: v for n, v in ref.items() if prefix + n in p}
    diffs = [abs(p[prefix + n] - v) for n, v in ref.items()]
    med = {k: statistics.median(t[k] for t in ours) for k in ours[0]}
    b = statistics.median(base)
    print(f"{inp.name}: {len(diffs)} junctions compared, import into the twin {imported:.2f} s")
    print(f"  baseline WNTR on the .inp: {b * 1000:.0f} ms")
    print(f"  from the twin: {med['total'] * 1000:.0f} ms (read {med['read'] * 1000:.0f}, "
          f"build {med['build'] * 1000:.0f}, run {med['run'] * 1000:.0f}); "
          f"ratio twin / baseline {med['total'] / b:.2f}")
    over = sorted((d, n) for d, n in zip(diffs, ref) if d > 0.01)
    names = ": " + ", ".join(n for _, n in over[-5:]) if over else ""
    print(f"  largest junction pressure difference: {max(diffs):.2e} m; "
          f"{len(over)} junctions over 1 cm{names}")
    rest = [d for d in diffs if d <= 0.01]
    if over and rest:
        print(f"  largest difference at the other junctions: {max(rest):.2e} m")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--inp", type=Path, nargs="*", default=None)
    args = ap.parse_args()
    for inp in args.inp or [p for p in DEFAULT if p.exists()]:
        bench(inp, args.repeat)


if __name__ == "__main__":
    main()
