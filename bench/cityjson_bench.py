"""CityJSON to a viewable twin: our converter against cjio in the same run.

For each file: our import (read, validate, triangulate, store) plus a GLB
of the whole model (one mesh per layer, ``viewer.gltf.merged_glb``), timed
against cjio's own ``load`` + ``export2glb`` on the same file (the baseline;
``--no-cjio`` skips it: it takes minutes). Prints seconds and the ratio.

Usage: ``python bench/cityjson_bench.py [--no-cjio] [FILE ...]`` (defaults:
Delft and Delfshaven from ../shared/data/cityjson).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import twin  # noqa: E402
from converters import import_file  # noqa: E402
from viewer.gltf import merged_glb  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cityjson"
DEFAULT = [(DATA / "cjio_delft.json", "EPSG:7415"),
           (DATA / "3-20-DELFSHAVEN.city.json", "EPSG:28992")]


def ours(path: Path, crs: str) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with twin.create_twin(Path(tmp) / "b.gpkg", crs) as store:
            res = import_file(store, path)
            feats = store.query(twin.Query(with_meshes=True))
            colours = {x.name: x.colour for x in store.layers()}
            glb, table = merged_glb(feats, store.origin, colours)
        return time.perf_counter() - t0, res.features, len(glb)


def cjio_baseline(path: Path) -> tuple[float, int]:
    import contextlib
    import io

    from cjio import cityjson

    t0 = time.perf_counter()
    with open(path, encoding="utf-8") as fh:
        cm = cityjson.reader(fh, ignore_duplicate_keys=True)
    with contextlib.redirect_stdout(io.StringIO()):  # cjio prints per failed face
        glb = cm.export2glb()
    return time.perf_counter() - t0, len(glb.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", help="CityJSON files (CRS from the file)")
    ap.add_argument("--no-cjio", action="store_true", help="skip the cjio baseline")
    args = ap.parse_args()
    files = [(Path(f), None) for f in args.files] or DEFAULT
    for path, crs in files:
        t, n, size = ours(path, crs or "EPSG:7415")
        line = f"{path.name}: ours {t:.2f} s ({n} objects, GLB {size / 1e6:.1f} MB)"
        if not args.no_cjio:
            try:
                tb, size_b = cjio_baseline(path)
                line += (f"; cjio export2glb {tb:.1f} s (GLB {size_b / 1e6:.1f} MB): "
                         f"{tb / t:.0f}x")
            except Exception as exc:  # the baseline's own failure is a result too
                line += f"; cjio export2glb failed: {type(exc).__name__}: {exc}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
