"""CityJSON to a viewable twin: our converter against the floor and cjio.

For each file, each step in its own process (so that peak memory is its own):

- the floor: ``json.load`` of the file, nothing else;
- ours: import (read, validate, triangulate, store) plus a GLB of the whole
  model (one mesh per layer, ``viewer.gltf.merged_glb``);
- cjio's own ``load`` + ``export2glb`` on the small files (``--no-cjio``
  skips it: it takes minutes).

Prints seconds, peak memory (RSS) and the ratios. ``--city N`` adds a large
city: Delfshaven tiled N x N times with offsets (N=9 gives about 220 MB).

Usage: ``python bench/cityjson_bench.py [--no-cjio] [--city N] [FILE ...]``
(defaults: Delft and Delfshaven from ../shared/data/cityjson).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
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
            # what the API's scenes read: meshes and the typed attributes a GLB shows
            feats = store.query(twin.Query(with_meshes=True, free_attributes=False))
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


def floor(path: Path) -> tuple[float, int, int]:
    """``json.load`` of the file; of each line for CityJSONSeq."""
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        if path.suffix == ".jsonl":
            n = sum(len(json.loads(line).get("CityObjects", {})) for line in fh
                    if line.strip())
            return time.perf_counter() - t0, n, 0
        doc = json.load(fh)
    return time.perf_counter() - t0, len(doc.get("CityObjects", {})), 0


def tile_city(src: Path, n: int, out: Path) -> Path:
    """``src`` repeated on an n x n grid (offset by its own extent plus 20 m),
    object ids suffixed with the tile: a large city of real buildings."""
    doc = json.loads(src.read_text(encoding="utf-8"))
    import numpy as np

    v = np.asarray(doc["vertices"], dtype=np.int64)
    scale = np.asarray(doc["transform"]["scale"])
    step = ((v.max(axis=0) - v.min(axis=0))[:2] + np.rint(20 / scale[:2])).astype(np.int64)
    objs, verts = {}, []
    text_objs = json.dumps(doc["CityObjects"])
    nv = len(v)
    for i in range(n):
        for j in range(n):
            k = i * n + j
            shifted = v.copy()
            shifted[:, 0] += i * step[0]
            shifted[:, 1] += j * step[1]
            verts.append(shifted)
            tile = json.loads(text_objs)
            for oid, o in tile.items():
                for g in o.get("geometry", []):
                    g["boundaries"] = _shift(g["boundaries"], k * nv)
                for key in ("parents", "children"):
                    if key in o:
                        o[key] = [f"{x}-{k}" for x in o[key]]
                objs[f"{oid}-{k}"] = o
    doc["CityObjects"] = objs
    doc["vertices"] = np.concatenate(verts).tolist()
    doc.pop("appearance", None)  # textures refer to vertices of one tile only
    for o in objs.values():
        for g in o.get("geometry", []):
            g.pop("texture", None)
            g.pop("material", None)
    doc.get("metadata", {}).pop("geographicalExtent", None)
    out.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
    return out


def _shift(b, off):
    if isinstance(b, list):
        return [_shift(x, off) for x in b]
    return b + off if isinstance(b, int) else b


def _peak_rss_mb() -> float:
    """This process's peak resident memory. /proc's VmHWM starts afresh at exec;
    getrusage's ru_maxrss would carry the parent's peak over from the fork."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(step: str, path: str, crs: str) -> None:
    p = Path(path)
    if step == "floor":
        t, n, size = floor(p)
    elif step == "ours":
        t, n, size = ours(p, crs)
    else:
        t, size = cjio_baseline(p)
        n = 0
    peak_mb = _peak_rss_mb()
    print(json.dumps({"seconds": t, "objects": n, "glb": size, "peak_mb": peak_mb}))


def run_step(step: str, path: Path, crs: str) -> dict:
    r = subprocess.run([sys.executable, __file__, "--worker", step, str(path), crs],
                       capture_output=True, text=True)
    if r.returncode:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(*sys.argv[2:5])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", help="CityJSON files (CRS from the file)")
    ap.add_argument("--no-cjio", action="store_true", help="skip the cjio baseline")
    ap.add_argument("--city", type=int, default=0, metavar="N",
                    help="add Delfshaven tiled N x N (N=9: about 220 MB)")
    args = ap.parse_args()
    files = [(Path(f), "EPSG:7415") for f in args.files] or list(DEFAULT)
    with tempfile.TemporaryDirectory() as tmp:
        if args.city:
            big = tile_city(DEFAULT[1][0], args.city, Path(tmp) / f"city_{args.city}.json")
            files.append((big, "EPSG:28992"))
        print("| file | MB | objects | json.load | ours (import + GLB) | ratio to json.load "
              "| peak MB json.load / ours | cjio export2glb |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for path, crs in files:
            mb = path.stat().st_size / 1e6
            fl = run_step("floor", path, crs)
            us = run_step("ours", path, crs)
            cj = "skipped"
            if not args.no_cjio and mb < 20:
                c = run_step("cjio", path, crs)
                cj = (f"failed: {c['error'][:80]}" if "error" in c else
                      f"{c['seconds']:.1f} s ({c['seconds'] / us['seconds']:.0f}x ours)")
            if "error" in us:
                print(f"| {path.name} | {mb:.1f} | | {fl['seconds']:.2f} s | failed: "
                      f"{us['error'][:80]} | | | {cj} |", flush=True)
                continue
            print(f"| {path.name} | {mb:.1f} | {us['objects']:,} | {fl['seconds']:.2f} s | "
                  f"{us['seconds']:.2f} s | {us['seconds'] / fl['seconds']:.1f}x | "
                  f"{fl['peak_mb']:.0f} / {us['peak_mb']:.0f} | {cj} |", flush=True)


if __name__ == "__main__":
    main()
