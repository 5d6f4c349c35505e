"""An IFC import's features and mesh bytes, as one digest per feature, to
compare two versions of the converter.

``python bench/ifc_compare.py FILE OUT.json [--crs EPSG:x] [--origin X,Y,Z]``
imports FILE into a fresh twin with the code on ``PYTHONPATH`` and writes,
for every feature, a SHA-256 of its layer, type, name, parent, source id,
attributes, bounding box and meshes (vertex, face and face-label bytes,
labels), its footprint (WKB) apart, and the import's report less its
timings. ``--diff A.json B.json`` lists what differs (exit status 1 if
anything): the digests byte for byte, the footprints as regions
(``bench/regions.py``: symmetric difference within ``--tolerance`` of the
area, the same polygons and holes). Run it once on the code before a change
and once after (the script of the newer tree, ``PYTHONPATH`` naming the
code).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from regions import Regions  # noqa: E402


def state(store) -> tuple[dict[str, str], dict[str, str | None]]:
    from twin.query import Query

    out = {}
    footprints = {}
    for f in store.query(Query()):
        h = hashlib.sha256()
        head = (f.layer, f.type, f.name, f.parent, f.source_id,
                json.dumps(f.attributes, sort_keys=True, default=str),
                None if f.bbox is None else list(f.bbox))
        h.update(json.dumps(head, default=str).encode())
        footprints[f.id] = None if f.footprint is None else f.footprint.wkb.hex()
        for lod, m in sorted(store.meshes(f.id).items()):
            h.update(lod.encode())
            h.update(m.vertices.tobytes())
            h.update(m.faces.tobytes())
            h.update(b"" if m.face_labels is None else m.face_labels.tobytes())
            h.update(json.dumps(list(m.labels or ())).encode())
        out[f.id] = h.hexdigest()
    return out, footprints


def report(res) -> dict:
    rep = json.loads(json.dumps(res.report, default=str))
    for k in ("seconds", "duration_s"):
        rep.pop(k, None)
    for run in rep["source"]["geometry"]["kernels"]:
        run.pop("seconds", None)
    rep["notes"] = [n for n in rep["notes"] if not n["text"].startswith("geometry:")]
    return rep


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("out", type=Path, nargs="?")
    ap.add_argument("--crs", default="EPSG:26919")
    ap.add_argument("--origin")
    ap.add_argument("--diff", action="store_true", help="FILE and OUT are two digests")
    ap.add_argument("--tolerance", type=float, default=1e-6,
                    help="largest symmetric difference of two footprints, relative to "
                         "the area (default 1e-6)")
    args = ap.parse_args()
    if args.diff:
        a, b = (json.loads(p.read_text()) for p in (args.file, args.out))
        bad = sorted(k for k in a["features"].keys() | b["features"].keys()
                     if a["features"].get(k) != b["features"].get(k))
        for k in bad[:20]:
            print("differs:", k)
        same_report = a["report"] == b["report"]
        if not same_report:
            print("reports differ")
        print(f"{len(a['features'])} / {len(b['features'])} features, {len(bad)} differ "
              "(footprints aside)")
        regions = Regions(args.tolerance)
        fa, fb = a.get("footprints", {}), b.get("footprints", {})
        for k in sorted(fa.keys() & fb.keys()):
            regions.add(k, None if fa[k] is None else bytes.fromhex(fa[k]),
                        None if fb[k] is None else bytes.fromhex(fb[k]))
        print(regions.summary())
        for k in (regions.over + regions.topology_grid)[:20]:
            print("footprint differs:", k)
        return 1 if bad or not same_report or not regions.ok else 0
    import twin
    from converters import import_file

    options = {"origin": tuple(float(v) for v in args.origin.split(","))} if args.origin \
        else {}
    with tempfile.TemporaryDirectory() as tmp:
        with twin.create_twin(Path(tmp) / "c.gpkg", args.crs) as store:
            res = import_file(store, args.file, options=options)
            feats, footprints = state(store)
    args.out.write_text(json.dumps({"features": feats, "footprints": footprints,
                                    "report": report(res)}, indent=0, sort_keys=True))
    print(f"{len(feats)} features")
    return 0


if __name__ == "__main__":
    sys.exit(main())
