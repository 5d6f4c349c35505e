"""CityJSON imports with two versions of the code, compared row by row.

Each sample file (or the files given) is imported into a fresh GeoPackage
twin, as ``bench/cityjson_bench.py`` does (files naming no CRS forced into
EPSG:7415), once with this checkout's code and once with the code of
``--before DIR`` (another checkout, e.g. ``git worktree add /tmp/before
main``), each in a process of its own. Compared: every row of every table
of the twin (the R-tree's shadow tables aside, as ``tests/builders.py``'s
``dump_twin`` reads them), the import's report and the bytes of the merged
GLB the API's scenes make. Times are left out: the twin's ``created``, the
batches' start and end times, the report's seconds.

Footprints (the ``geom`` of the features and of their history) are
compared as regions (``bench/regions.py``: symmetric difference within
``--tolerance`` of the area, the same polygons and holes), everything else
byte for byte; a feature's version ``digest`` hashes its footprint's bytes,
so it is compared only where those are the same (where they differ, so
does the digest: a re-import with ``--update`` sees the feature changed).

Usage: ``python bench/cityjson_compare.py --before DIR [FILE ...]``; exit
status 1 when anything differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cityjson_bench import DATA, file_crs  # noqa: E402
from regions import Regions  # noqa: E402

#: (table, column) pairs that hold times, not results
TIME_COLUMNS = {("twin_batches", "started"), ("twin_batches", "finished"),
                ("twin_migrations", "applied"), ("gpkg_contents", "last_change")}
#: keys of twin_meta that hold times
TIME_META = {"created"}
#: report keys that hold times
TIME_REPORT = {"seconds", "duration_s", "timings"}
#: tables whose ``geom`` is a footprint, compared as a region
FOOTPRINT_TABLES = {"twin_features", "twin_history"}


def dump(path: Path) -> tuple[dict[str, list[str]], dict[str, list]]:
    """Every row of every table, times masked, sorted (as ``repr``), with the
    footprints and digests masked in the rows and given apart: ``{table:
    [[fid, feature id, WKB hex, digest], ...]}``."""
    from twin.store.gpkg.blob import wkb_of

    conn = sqlite3.connect(path)
    geoms: dict[str, list] = {}
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'twin_rtree_%' ORDER BY name")]
        out = {}
        for n in names:
            cur = conn.execute(f'SELECT * FROM "{n}"')
            cols = [d[0] for d in cur.description]
            rows = []
            for row in cur:
                r = ["<time>" if (n, c) in TIME_COLUMNS or "time" in c.lower() else v
                     for c, v in zip(cols, row)]
                if n == "twin_meta" and r[0] in TIME_META:
                    r[1] = "<time>"
                if n == "twin_batches" and "report" in cols and r[cols.index("report")]:
                    i = cols.index("report")
                    r[i] = json.dumps(_untimed(json.loads(r[i])), sort_keys=True)
                if n in FOOTPRINT_TABLES:
                    g, d = cols.index("geom"), cols.index("digest")
                    wkb = None if r[g] is None else wkb_of(r[g]).hex()
                    geoms.setdefault(n, []).append([r[0], r[1], wkb, r[d]])
                    r[g], r[d] = "<footprint>", "<digest>"
                rows.append(repr(tuple(r)))
            out[n] = sorted(rows)
        return out, geoms
    finally:
        conn.close()


def _untimed(x):
    if isinstance(x, dict):
        return {k: _untimed(v) for k, v in x.items() if k not in TIME_REPORT}
    if isinstance(x, list):
        return [_untimed(v) for v in x]
    return x


def worker(path: Path, out: Path) -> None:
    """Import ``path`` with the code on ``sys.path``; write the state to ``out``."""
    import twin
    from converters import import_file
    from viewer.gltf import merged_glb

    twin_crs, crs = file_crs(path)
    with tempfile.TemporaryDirectory() as tmp:
        gpkg = Path(tmp) / "c.gpkg"
        with twin.create_twin(gpkg, twin_crs) as store:
            res = import_file(store, path, crs=crs, force=crs is not None)
            feats = store.query(twin.Query(with_meshes=True, free_attributes=False))
            colours = {x.name: x.colour for x in store.layers()}
            glb, _table = merged_glb(feats, store.origin or (0.0, 0.0, 0.0), colours)
        rows, geoms = dump(gpkg)
    report = _untimed(json.loads(json.dumps(res.report, default=str)))
    out.write_text(json.dumps({"rows": rows, "geoms": geoms, "report": report,
                               "glb": hashlib.sha256(glb).hexdigest(),
                               "features": res.features}, sort_keys=True))


def run(tree: Path, path: Path, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(path),
                    str(out)], cwd=tree, env=env, check=True)
    return json.loads(out.read_text())


def diff(a: dict, b: dict, regions: Regions) -> list[str]:
    out = []
    for t in sorted(a["geoms"].keys() | b["geoms"].keys()):
        ga = {(r[0], r[1]): r[2:] for r in a["geoms"].get(t, [])}
        gb = {(r[0], r[1]): r[2:] for r in b["geoms"].get(t, [])}
        if ga.keys() != gb.keys():
            out.append(f"table {t}: other features")
            continue
        for k in sorted(ga):
            (wa, da), (wb, db) = ga[k], gb[k]
            regions.add(f"{t} {k[1]}", None if wa is None else bytes.fromhex(wa),
                        None if wb is None else bytes.fromhex(wb))
            if wa == wb and da != db:
                out.append(f"table {t}: {k[1]}: digests differ, footprints do not")
    for t in sorted(a["rows"].keys() | b["rows"].keys()):
        ra, rb = a["rows"].get(t), b["rows"].get(t)
        if ra != rb:
            if ra is None or rb is None:
                out.append(f"table {t}: only in one")
                continue
            only_a = sorted(set(ra) - set(rb))
            only_b = sorted(set(rb) - set(ra))
            out.append(f"table {t}: {len(only_a)} rows only before, {len(only_b)} only after"
                       + (f"; e.g. {only_a[:1]} / {only_b[:1]}"[:600] if only_a or only_b
                          else " (counts differ)"))
    if a["report"] != b["report"]:
        out.append("reports differ")
    if a["glb"] != b["glb"]:
        out.append("GLBs differ")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path)
    ap.add_argument("--tolerance", type=float, default=1e-6,
                    help="largest symmetric difference of two footprints, relative to "
                         "the area (default 1e-6)")
    ap.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", type=Path)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    if args.before is None:
        ap.error("--before DIR is required")
    files = args.files or sorted(p for p in DATA.iterdir() if p.suffix in (".json", ".jsonl"))
    here = Path(__file__).resolve().parents[1]
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(files):
            a = run(args.before.resolve(), path.resolve(), Path(tmp) / f"{i}a.json")
            b = run(here, path.resolve(), Path(tmp) / f"{i}b.json")
            regions = Regions(args.tolerance)
            problems = diff(a, b, regions)
            rows = sum(len(v) for v in b["rows"].values())
            same = not problems and regions.ok
            print(f"{path.name}: {b['features']} features, {rows} rows: "
                  + ("identical" if same and regions.same_region == 0 else
                     "the same, footprints as regions" if same else "DIFFERENT"))
            for p in problems:
                print("   ", p)
            print("   ", regions.summary())
            bad += not same
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
