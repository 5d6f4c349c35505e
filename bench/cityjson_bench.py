"""CityJSON to a viewable twin: our converter against the floor and cjio.

For each file, each step in a process of its own (so that peak memory and
one-time costs are its own), ``--repeat`` times, the steps of one round
interleaved so that a busy machine slows them alike:

- the floor: ``json.load`` of the file, nothing else (``json.loads`` of each
  line for CityJSONSeq);
- ours: import (read, validate, triangulate, store), from creating the
  GeoPackage, plus a GLB of the whole model read back as the API's scenes
  read it (one mesh per layer, ``viewer.gltf.merged_glb``);
- before (``--before DIR``): the same measurement with the code of another
  checkout of the project (an earlier commit, ``git worktree add``), for
  before/after ratios from one run;
- cjio's own ``load`` + ``export2glb`` on the small files (``--cjio``: it
  takes minutes).

Prints the fastest run's wall seconds (and the median), CPU seconds, peak
memory (RSS) and the ratios to the floor, fastest to fastest. ``--city N``
adds a large city: Delfshaven tiled N x N times with offsets (N=9 gives
about 220 MB).

Usage: ``python bench/cityjson_bench.py [--repeat 5] [--before DIR] [--cjio]
[--city N] [FILE ...]`` (default: every CityJSON sample in
``../shared/data/cityjson``; files naming no CRS go into EPSG:7415).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = next((p / "shared" / "data" / "cityjson" for p in REPO.parents
             if (p / "shared" / "data" / "cityjson").is_dir()), REPO / "shared/data/cityjson")
#: the CRS of files that name none (the samples are Dutch or local)
FALLBACK_CRS = "EPSG:7415"


def file_crs(path: Path) -> tuple[str, str | None]:
    """The twin CRS for ``path`` and the CRS to give the import (``None``
    where the file names its own), from its ``referenceSystem``."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16).decode("utf-8", "replace")
    m = re.search(r'"referenceSystem"\s*:\s*"[^"]*?(?:EPSG/0/|EPSG::)(\d+)"', head)
    if m is None and path.suffix != ".jsonl":
        with open(path, encoding="utf-8") as fh:
            ref = (json.load(fh).get("metadata") or {}).get("referenceSystem", "")
        m = re.search(r"(?:EPSG/0/|EPSG::)(\d+)", str(ref))
    return (f"EPSG:{m.group(1)}", None) if m else (FALLBACK_CRS, FALLBACK_CRS)


def ours(path: Path, twin_crs: str, crs: str | None) -> tuple[int, int]:
    import twin
    from converters import import_file
    from viewer.gltf import merged_glb

    with tempfile.TemporaryDirectory() as tmp:
        with twin.create_twin(Path(tmp) / "b.gpkg", twin_crs) as store:
            # a file naming no CRS (FZK-Haus: local metres near 0, 0) is refused by the
            # placement check, rightly; for its speed it is imported anyway
            res = import_file(store, path, crs=crs, force=crs is not None)
            # what the API's scenes read: meshes and the typed attributes a GLB shows
            feats = store.query(twin.Query(with_meshes=True, free_attributes=False))
            colours = {x.name: x.colour for x in store.layers()}
            # a twin of features without geometry has no origin (merged_glb needs one)
            glb, _table = merged_glb(feats, store.origin or (0.0, 0.0, 0.0), colours)
        return res.features, len(glb)


def cjio_baseline(path: Path) -> tuple[int, int]:
    import contextlib
    import io

    from cjio import cityjson

    with open(path, encoding="utf-8") as fh:
        cm = cityjson.reader(fh, ignore_duplicate_keys=True)
    with contextlib.redirect_stdout(io.StringIO()):  # cjio prints per failed face
        glb = cm.export2glb()
    return 0, len(glb.getvalue())


def floor(path: Path) -> tuple[int, int]:
    """``json.load`` of the file; of each line for CityJSONSeq."""
    with open(path, "rb") as fh:
        if path.suffix == ".jsonl":
            return sum(len(json.loads(line).get("CityObjects", {})) for line in fh
                       if line.strip()), 0
        doc = json.load(fh)
    return len(doc.get("CityObjects", {})), 0


def tile_city(src: Path, n: int, out: Path) -> Path:
    """``src`` repeated on an n x n grid (offset by its own extent plus 20 m),
    object ids suffixed with the tile: a large city of real buildings."""
    import numpy as np

    doc = json.loads(src.read_text(encoding="utf-8"))
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


def _worker(step: str, path: str, twin_crs: str, crs: str) -> None:
    # the code timed: this checkout's, or the one --before names
    sys.path.insert(0, os.environ.get("TWIN_BENCH_TREE") or str(REPO))
    if step == "ours":  # imports are not timed (a server or the CLI has them already)
        # imported by the first schema validation (0.014 s once per process)
        import fastjsonschema  # noqa: F401

        import converters  # noqa: F401
        import twin  # noqa: F401
        import viewer.gltf  # noqa: F401

    p = Path(path)
    t0, c0 = time.perf_counter(), time.process_time()
    if step == "floor":
        n, size = floor(p)
    elif step == "ours":
        n, size = ours(p, twin_crs, crs or None)
    else:
        n, size = cjio_baseline(p)
    print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                      "objects": n, "glb": size, "peak_mb": _peak_rss_mb()}))


def run_step(step: str, path: Path, twin_crs: str, crs: str | None, tree: Path | None = None
             ) -> dict:
    env = dict(os.environ)
    if tree is not None:
        env["TWIN_BENCH_TREE"] = str(tree)
    r = subprocess.run([sys.executable, __file__, "--worker", step, str(path), twin_crs,
                        crs or ""], capture_output=True, text=True, env=env)
    if r.returncode:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _best(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    best = min(ok, key=lambda r: r["seconds"])
    return {**best, "median": statistics.median(r["seconds"] for r in ok),
            "cpu": min(r["cpu"] for r in ok), "peak_mb": max(r["peak_mb"] for r in ok)}


def _ratio(a: float, b: float) -> str:
    """``a / b`` as ``3.1x``; a dash where ``b`` is below the clock's grain."""
    return f"{a / b:.1f}x" if b >= 0.002 else "-"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(*sys.argv[2:6])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path, help="CityJSON files (default: the samples)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each step (fastest kept)")
    ap.add_argument("--before", type=Path, default=None, metavar="DIR",
                    help="another checkout of the project to time the same way")
    ap.add_argument("--cjio", action="store_true", help="add cjio's export2glb (slow)")
    ap.add_argument("--city", type=int, default=0, metavar="N",
                    help="add Delfshaven tiled N x N (N=9: about 220 MB)")
    args = ap.parse_args()
    files = args.files or sorted(p for p in DATA.iterdir()
                                 if p.name.endswith((".json", ".jsonl")))
    steps = ["floor", "ours"] + (["before"] if args.before else [])
    with tempfile.TemporaryDirectory() as tmp:
        if args.city:
            files.append(tile_city(DATA / "3-20-DELFSHAVEN.city.json", args.city,
                                   Path(tmp) / f"city_{args.city}.json"))
        head = ("| file | MB | objects | json.load | ours (import + GLB) | ours / json.load "
                "| CPU s json.load / ours | CPU ours / json.load | peak MB json.load / ours |")
        if args.before:
            head += (" before | before / json.load | CPU s before | CPU before / json.load "
                     "| CPU ours / before |")
        print(head + (" cjio export2glb |" if args.cjio else ""))
        print("| --- " * (head.count("|") - 1 + args.cjio) + "|")
        for path in files:
            twin_crs, crs = file_crs(path)
            runs: dict[str, list[dict]] = {s: [] for s in steps}
            for _ in range(args.repeat):
                for s in steps:
                    runs[s].append(run_step("ours" if s == "before" else s, path, twin_crs, crs,
                                            args.before if s == "before" else None))
            fl, us = _best(runs["floor"]), _best(runs["ours"])
            mb = path.stat().st_size / 1e6
            if "error" in us:
                print(f"| {path.name} | {mb:.1f} | | {fl['seconds']:.3f} s | failed: "
                      f"{us['error'][:80]} |", flush=True)
                continue
            line = (f"| {path.name} | {mb:.2f} | {us['objects']:,} | {fl['seconds']:.3f} s | "
                    f"{us['seconds']:.3f} s (median {us['median']:.3f}) | "
                    f"{us['seconds'] / fl['seconds']:.1f}x | {fl['cpu']:.3f} / {us['cpu']:.3f} | "
                    f"{_ratio(us['cpu'], fl['cpu'])} | "
                    f"{fl['peak_mb']:.0f} / {us['peak_mb']:.0f} |")
            if args.before:
                b = _best(runs["before"])
                line += (f" failed: {b['error'][:60]} | | | | |" if "error" in b else
                         f" {b['seconds']:.3f} s | {b['seconds'] / fl['seconds']:.1f}x | "
                         f"{b['cpu']:.3f} | {_ratio(b['cpu'], fl['cpu'])} | "
                         f"{us['cpu'] / b['cpu']:.2f} |")
            if args.cjio:
                c = run_step("cjio", path, twin_crs, crs) if mb < 20 else {"error": "too large"}
                line += (f" failed: {c['error'][:60]} |" if "error" in c else
                         f" {c['seconds']:.1f} s ({c['seconds'] / us['seconds']:.0f}x ours) |")
            print(line, flush=True)


if __name__ == "__main__":
    main()
