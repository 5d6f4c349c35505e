"""IFC to a twin: our import against ifcopenshell's iterator on the same file.

Runs on the same file and the same elements (every product with a
representation, less openings, annotations, grids and ports), in one go:

1. ifcopenshell's ``manifold`` iterator in this process, local coordinates,
   all cores, reading each shape's buffers: the floor (what the kernel
   alone costs, with opening the file), as issue 23 set it;
2. the same on one thread: the kernel's least CPU (its iterator spends
   nearly twice the CPU on two threads for little or no time gained on a
   2-core machine; our import gives it the cores less one, see
   :func:`converters.ifc_geometry.default_threads`);
3. the same in world coordinates (``--world``), as IfcConvert would;
4. the same with OpenCASCADE (``--occ``, slow): the coverage baseline;
5. our ``import_file`` into a fresh twin (the kernel chain in a worker
   process, georeferencing, attributes, envelope, store).

Each run is a fresh process of its own, so that its peak memory is its
own. Prints CPU seconds (the process and its children, all threads), wall
seconds, peak RSS (the process's, and its largest child's: our geometry
worker), elements and triangles for each, and the ratios of our CPU and
peak RSS to the floor's (CPU target: <= 1.5, with every element that any
kernel can build). The machine's other load inflates wall seconds, much
less CPU seconds.

With ``--synthetic N,N,...`` it writes synthetic buildings of those many
elements (:mod:`bench.ifc_synth`) and measures each: our import's memory
should stay flat as the model grows, beside the floor's.

Usage: ``python bench/ifc_bench.py [FILE] [--crs EPSG:xxxx] [--origin X,Y,Z] [--world]
[--occ] [--repeat N] [--synthetic 5000,10000,20000]``
(default: the 27 MB Janesville restaurant from ../shared/data/ifc, placed
by its site's latitude/longitude, in UTM 19N).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import twin  # noqa: E402
from converters import import_file  # noqa: E402
from converters.ifc_geometry import EXCLUDED_CLASSES  # noqa: E402

#: ../shared/data/ifc beside the checkout (or beside a worktree's parent folder)
DATA = next((p / "shared" / "data" / "ifc" for p in Path(__file__).resolve().parents[2:4]
             if (p / "shared" / "data" / "ifc").is_dir()),
            Path(__file__).resolve().parents[2] / "shared" / "data" / "ifc")
DEFAULT = DATA / "revit2012_janesville_restaurant.ifc"


def cpu_split() -> tuple[float, float]:
    """CPU seconds of this process (all threads) and of its finished children
    (the geometry workers and their forker)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def cpu() -> float:
    """CPU seconds of this process and its finished children, all threads."""
    return sum(cpu_split())


def peak_mb() -> tuple[float, float]:
    """Peak RSS (MB) of this process and of its largest finished child."""
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return me / 1024, kids / 1024


def iterator_run(path: Path, kernel: str, world: bool, threads: int
                 ) -> tuple[float, float, int, int]:
    """ifcopenshell's iterator in process: ``(cpu, wall, elements, triangles)``."""
    import ifcopenshell
    import ifcopenshell.geom as geom

    c0, t0 = cpu(), time.perf_counter()
    model = ifcopenshell.open(str(path))
    elements = [p for p in model.by_type("IfcProduct") if p.Representation is not None
                and not any(p.is_a(c) for c in EXCLUDED_CLASSES) and not p.is_a("IfcPort")]
    settings = geom.settings()
    settings.set("use-world-coords", world)
    settings.set("weld-vertices", True)
    settings.set("apply-default-materials", True)
    it = geom.iterator(settings, model, threads, include=elements,
                       geometry_library=kernel)
    n = tri = 0
    if it.initialize():
        while True:
            g = it.get().geometry
            n += 1
            tri += len(g.faces_buffer) // 12
            len(g.verts_buffer)
            if not it.next():
                break
    return cpu() - c0, time.perf_counter() - t0, n, tri


def our_run(path: Path, crs: str, options: dict) -> tuple[float, float, int, int, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        (s0, k0), t0 = cpu_split(), time.perf_counter()
        with twin.create_twin(Path(tmp) / "b.gpkg", crs) as store:
            res = import_file(store, path, options=options)
        (s1, k1), wall = cpu_split(), time.perf_counter() - t0
    geo = dict(res.report["source"]["geometry"])
    geo["process_cpu"], geo["workers_cpu"] = s1 - s0, k1 - k0
    return s1 - s0 + k1 - k0, wall, geo["converted"], geo["triangles"], geo


def one(kind: str, path: Path, crs: str, options: dict) -> dict:
    """One run in this process (a fresh one): its figures as a dict."""
    import ifcopenshell.geom  # noqa: F401  (both sides need it: not timed)
    import ifcopenshell.util.element  # noqa: F401

    geo = None
    if kind == "ours":
        sec, wall, n, tri, geo = our_run(path, crs, options)
    else:
        cores = os.cpu_count() or 1
        kernel, world, threads = {"floor": ("manifold", False, cores),
                                  "floor1": ("manifold", False, 1),
                                  "world": ("manifold", True, cores),
                                  "occ": ("opencascade", False, cores)}[kind]
        sec, wall, n, tri = iterator_run(path, kernel, world, threads)
    me, kid = peak_mb()
    return {"cpu": sec, "wall": wall, "elements": n, "triangles": tri, "rss": me,
            "worker_rss": kid, "geometry": geo}


def measure(kind: str, path: Path, crs: str, options: dict) -> dict | None:
    """:func:`one` in a fresh Python process; ``None`` when it crashed (the
    manifold kernel segfaults in process on some files: no floor there)."""
    cmd = [sys.executable, __file__, str(path), "--crs", crs, "--one", kind]
    if options.get("origin"):
        cmd += ["--origin", ",".join(str(v) for v in options["origin"])]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        if kind == "ours":
            raise RuntimeError(f"our import failed:\n{done.stderr[-3000:]}")
        print(f"{NAMES[kind]}: the process crashed (exit code {done.returncode}): no figure")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


NAMES = {"floor": "ifcopenshell manifold, local (floor)",
         "floor1": "ifcopenshell manifold, one thread",
         "world": "ifcopenshell manifold, world", "occ": "ifcopenshell opencascade, local",
         "ours": "twin import (chain, whole import)"}


def table(rows: list[tuple[str, dict]]) -> None:
    print(f"{'run':36s} {'cpu s':>8s} {'wall s':>8s} {'elements':>9s} {'triangles':>10s} "
          f"{'peak MB':>8s} {'worker MB':>9s}")
    for name, r in rows:
        print(f"{name:36s} {r['cpu']:8.2f} {r['wall']:8.2f} {r['elements']:9d} "
              f"{r['triangles']:10d} {r['rss']:8.0f} "
              + (f"{r['worker_rss']:9.0f}" if name == NAMES["ours"] else f"{'-':>9s}"))


def synthetic(sizes: list[int], crs: str) -> None:
    """Our import's peak memory against the model's size, beside the floor's."""
    from bench.ifc_synth import write_model

    print(f"{'elements':>9s} {'MB':>6s} {'floor cpu':>9s} {'ours cpu':>8s} {'ratio':>6s} "
          f"{'floor MB':>8s} {'ours MB':>8s} {'worker MB':>9s}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = write_model(Path(tmp) / f"synthetic_{n}.ifc", n)
            floor = measure("floor", path, crs, {})
            ours = measure("ours", path, crs, {})
            assert floor is not None and ours is not None
            print(f"{n:9d} {path.stat().st_size / 1e6:6.1f} {floor['cpu']:9.2f} "
                  f"{ours['cpu']:8.2f} {ours['cpu'] / floor['cpu']:6.2f} {floor['rss']:8.0f} "
                  f"{ours['rss']:8.0f} {ours['worker_rss']:9.0f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--crs", help="twin CRS (default UTM 19N; with --synthetic UTM 16N, "
                    "where bench/ifc_synth.py places its site)")
    ap.add_argument("--origin", help="X,Y[,Z] of the local origin, for a file without "
                    "georeferencing")
    ap.add_argument("--world", action="store_true", help="also manifold in world coordinates")
    ap.add_argument("--occ", action="store_true", help="also the slow OpenCASCADE run")
    ap.add_argument("--synthetic", help="element counts of synthetic buildings to measure "
                    "instead of FILE (comma-separated)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds (floor, then ours) to run")
    ap.add_argument("--one", choices=sorted(NAMES), help=argparse.SUPPRESS)
    args = ap.parse_args()
    options = {"origin": tuple(float(v) for v in args.origin.split(","))} if args.origin \
        else {}
    if args.crs is None and not args.synthetic:
        args.crs = "EPSG:26919"
    if args.one:
        print(json.dumps(one(args.one, args.file, args.crs, options)))
        return
    if args.synthetic:
        synthetic([int(v) for v in args.synthetic.split(",")], args.crs or "EPSG:26916")
        return
    print(f"{args.file.name}: {args.file.stat().st_size / 1e6:.1f} MB, "
          f"{os.cpu_count()} cores; each run a fresh process")
    kinds = ["floor", "floor1"] + ["world"] * args.world + ["occ"] * args.occ + ["ours"]
    for _ in range(args.repeat):
        runs = {k: measure(k, args.file, args.crs, options) for k in kinds}
        report(kinds, runs)


def report(kinds: list[str], runs: dict[str, dict | None]) -> None:
    """One round's table and ratios."""
    table([(NAMES[k], r) for k in kinds if (r := runs[k]) is not None])
    floor, ours = runs["floor"], runs["ours"]
    assert ours is not None
    print(f"ours: import process {ours['geometry']['process_cpu']:.2f} s CPU, geometry "
          f"workers {ours['geometry']['workers_cpu']:.2f} s")
    if floor is not None:
        print(f"our cpu / floor cpu: {ours['cpu'] / floor['cpu']:.2f} (target <= 1.5); "
              f"wall: {ours['wall'] / floor['wall']:.2f}; peak RSS: "
              f"{ours['rss'] / floor['rss']:.2f} (worker {ours['worker_rss'] / floor['rss']:.2f})")
    if (one := runs.get("floor1")) is not None:
        print(f"our cpu / the one-thread floor's cpu: {ours['cpu'] / one['cpu']:.2f}; its wall "
              f"{one['wall']:.2f} s against the floor's "
              + (f"{floor['wall']:.2f} s" if floor is not None else "-"))
    for k in ours["geometry"]["kernels"]:
        print(f"  kernel {k['kernel']}: {k['converted']}/{k['requested']} in {k['seconds']} s"
              + (f" (crashed on {k['crashed_on_count']})" if k["crashed"] else ""))


if __name__ == "__main__":
    main()
