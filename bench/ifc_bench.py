"""IFC to a twin: our import against ifcopenshell's iterator on the same file.

Runs on the same file and the same elements (every product with a
representation, less openings, annotations, grids and ports), in one go:

1. ifcopenshell's ``manifold`` iterator in this process, local coordinates,
   all cores, reading each shape's buffers: the floor (what the kernel
   alone costs, with opening the file);
2. the same in world coordinates (``--world``), as IfcConvert would;
3. the same with OpenCASCADE (``--occ``, slow): the coverage baseline;
4. our ``import_file`` into a fresh twin (the kernel chain in a worker
   process, georeferencing, attributes, envelope, store).

Prints CPU seconds (this process and its children, all threads) and wall
seconds, elements and triangles for each, and the ratio of our CPU to the
floor's (target: <= 1.5, with every element that any kernel can build).
The machine's other load inflates wall seconds, much less CPU seconds.

Usage: ``python bench/ifc_bench.py [FILE] [--crs EPSG:xxxx] [--origin X,Y,Z] [--world]
[--occ]``
(default: the 27 MB Janesville restaurant from ../shared/data/ifc, placed
by its site's latitude/longitude, in UTM 19N).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import twin  # noqa: E402
from converters import import_file  # noqa: E402
from converters.ifc_geometry import EXCLUDED_CLASSES  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ifc"
DEFAULT = DATA / "revit2012_janesville_restaurant.ifc"


def cpu() -> float:
    """CPU seconds of this process and its finished children, all threads."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def iterator_run(path: Path, kernel: str, world: bool) -> tuple[float, float, int, int]:
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
    it = geom.iterator(settings, model, os.cpu_count() or 1, include=elements,
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
        c0, t0 = cpu(), time.perf_counter()
        with twin.create_twin(Path(tmp) / "b.gpkg", crs) as store:
            res = import_file(store, path, options=options)
        seconds, wall = cpu() - c0, time.perf_counter() - t0
    geo = res.report["source"]["geometry"]
    return seconds, wall, geo["converted"], geo["triangles"], geo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--crs", default="EPSG:26919", help="twin CRS (default UTM 19N)")
    ap.add_argument("--origin", help="X,Y[,Z] of the local origin, for a file without "
                    "georeferencing")
    ap.add_argument("--world", action="store_true", help="also manifold in world coordinates")
    ap.add_argument("--occ", action="store_true", help="also the slow OpenCASCADE run")
    args = ap.parse_args()
    print(f"{args.file.name}: {args.file.stat().st_size / 1e6:.1f} MB, "
          f"{os.cpu_count()} cores")
    import ifcopenshell.geom  # noqa: F401  (both sides need it: not timed)
    import ifcopenshell.util.element  # noqa: F401

    floor = iterator_run(args.file, "manifold", False)
    rows = [("ifcopenshell manifold, local (floor)", *floor)]
    if args.world:
        rows.append(("ifcopenshell manifold, world", *iterator_run(args.file, "manifold", True)))
    if args.occ:
        rows.append(("ifcopenshell opencascade, local",
                     *iterator_run(args.file, "opencascade", False)))
    options = {"origin": tuple(float(v) for v in args.origin.split(","))} if args.origin \
        else {}
    ours = our_run(args.file, args.crs, options)
    rows.append(("twin import (chain, whole import)", *ours[:4]))
    print(f"{'run':36s} {'cpu s':>8s} {'wall s':>8s} {'elements':>9s} {'triangles':>10s}")
    for name, sec, wall, n, tri in rows:
        print(f"{name:36s} {sec:8.2f} {wall:8.2f} {n:9d} {tri:10d}")
    print(f"our cpu / floor cpu: {ours[0] / floor[0]:.2f} (target <= 1.5); "
          f"wall: {ours[1] / floor[1]:.2f}")
    for k in ours[4]["kernels"]:
        print(f"  kernel {k['kernel']}: {k['converted']}/{k['requested']} in {k['seconds']} s"
              + (f" (crashed on {k['crashed_on_count']})" if k["crashed"] else ""))


if __name__ == "__main__":
    main()
