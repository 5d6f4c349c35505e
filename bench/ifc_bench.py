"""IFC to a viewable twin: our import against ifcopenshell's own glTF export.

Three runs on the same file and the same elements (every product with a
representation, less openings, annotations, grids and ports), in one go:

1. ifcopenshell's glTF serializer with the default OpenCASCADE kernel (what
   ``IfcConvert model.ifc model.glb`` does): the coverage baseline;
2. the same with the ``manifold`` kernel: the speed baseline;
3. our ``import_file`` into a fresh twin (fast kernel, OpenCASCADE retry of
   what it missed, georeferencing, attributes, envelope, store).

Prints seconds, elements converted and triangles for each, and the ratio of
our time to the manifold run (target: <= 1.5 with the OpenCASCADE coverage).

Usage: ``python bench/ifc_bench.py [FILE] [--crs EPSG:xxxx] [--skip-occ]``
(default: the 27 MB Janesville restaurant from ../shared/data/ifc, placed
by its site's latitude/longitude, in UTM 19N).
"""

from __future__ import annotations

import argparse
import os
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


def serializer_run(path: Path, kernel: str) -> tuple[float, int, int]:
    """ifcopenshell's glTF serializer over the iterator, like IfcConvert."""
    import ifcopenshell
    import ifcopenshell.geom as geom

    t0 = time.perf_counter()
    model = ifcopenshell.open(str(path))
    elements = [p for p in model.by_type("IfcProduct") if p.Representation is not None
                and not any(p.is_a(c) for c in EXCLUDED_CLASSES) and not p.is_a("IfcPort")]
    settings = geom.settings()
    with tempfile.TemporaryDirectory() as tmp:
        out = geom.serializers.gltf(str(Path(tmp) / "model.glb"), settings)
        out.setFile(model)
        out.writeHeader()
        it = geom.iterator(settings, model, os.cpu_count() or 1, include=elements,
                           geometry_library=kernel)
        n = tri = 0
        if it.initialize():
            while True:
                shape = it.get()
                out.write(shape)
                n += 1
                tri += len(shape.geometry.faces) // 3
                if not it.next():
                    break
        out.finalize()
    return time.perf_counter() - t0, n, tri


def our_run(path: Path, crs: str) -> tuple[float, int, int, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with twin.create_twin(Path(tmp) / "b.gpkg", crs) as store:
            res = import_file(store, path)
        seconds = time.perf_counter() - t0
    geo = res.report["source"]["geometry"]
    return seconds, geo["converted"], geo["triangles"], geo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--crs", default="EPSG:26919", help="twin CRS (default UTM 19N)")
    ap.add_argument("--skip-occ", action="store_true", help="skip the slow OpenCASCADE run")
    args = ap.parse_args()
    print(f"{args.file.name}: {args.file.stat().st_size / 1e6:.1f} MB, "
          f"{os.cpu_count()} cores")
    rows = []
    if not args.skip_occ:
        rows.append(("ifcopenshell glTF, opencascade", *serializer_run(args.file, "opencascade")))
    manifold = serializer_run(args.file, "manifold")
    rows.append(("ifcopenshell glTF, manifold", *manifold))
    ours = our_run(args.file, args.crs)
    rows.append(("twin import (manifold + retry)", *ours[:3]))
    print(f"{'run':34s} {'seconds':>9s} {'elements':>9s} {'triangles':>10s}")
    for name, sec, n, tri in rows:
        print(f"{name:34s} {sec:9.2f} {n:9d} {tri:10d}")
    print(f"our time / manifold time: {ours[0] / manifold[0]:.2f} (target <= 1.5)")
    if not args.skip_occ:
        print(f"our elements / opencascade elements: {ours[1]} / {rows[0][2]}")
    for k in ours[3]["kernels"]:
        print(f"  kernel {k['kernel']}: {k['converted']}/{k['requested']} in {k['seconds']} s"
              + (" (crashed)" if k["crashed"] else ""))


if __name__ == "__main__":
    main()
