"""Every public IFC sample through ``import_file``: what came in, and where.

For each file of ``shared/data/ifc`` (see its MANIFEST.tsv) this imports
into a fresh twin in a CRS that suits the place the file says it is, and
prints: the products in the file (counted by ifcopenshell itself, less
openings, annotations, grids and ports), the features in the twin, the
skipped elements with their first reason, the georeferencing source, the
alternatives the file holds and how far they lie, and the extent of the
imported features in the twin CRS. A refusal (placement check, missing
georeferencing) is printed as the outcome of that file.

Usage: ``python bench/ifc_corpus.py [DATA_DIR] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import twin  # noqa: E402
from converters import import_file  # noqa: E402
from converters.ifc_geometry import EXCLUDED_CLASSES  # noqa: E402
from twin.errors import TwinError  # noqa: E402

#: file -> (twin CRS, import options): the CRS of the place the file is at
#: (by its map conversion or site latitude/longitude), or a local one.
CASES: dict[str, tuple[str, dict]] = {
    "AC20-FZK-Haus.ifc": ("EPSG:25832", {}),
    "IfcOpenHouse_IFC4.ifc": ("EPSG:4546", {"origin": (500000.0, 4500000.0, 1000.0)}),
    "ISSUE_021_Mini_Project.ifc": ("EPSG:4546", {"origin": (500000.0, 4500000.0, 1000.0)}),
    "bonsai_geolocation-mapconversion-angle.ifc": ("EPSG:32631", {}),
    "duplex.ifc": ("EPSG:26916", {}),
    "geographic-referencing-gk.ifc": ("EPSG:31467", {}),
    "geographic-referencing-rigid-operation.ifc": ("EPSG:25833", {}),
    "geographic-referencing-utm.ifc": ("EPSG:25832", {}),
    "infra_DrainageSystem-1-1.ifc": ("EPSG:3878", {"origin": (0.0, 0.0, 0.0)}),
    "infra_DrainageSystem-2.IFC": ("EPSG:3878", {}),
    "revit2012_janesville_restaurant.ifc": ("EPSG:26919", {}),
    "utilitynetwork2ifc_Testfeld1ToGML.ifc": ("EPSG:25832", {}),
    "web-ifc_example.ifc": ("EPSG:26919", {}),
}


def _data_dir() -> Path:
    here = Path(__file__).resolve()
    for up in here.parents:
        cand = up / "shared" / "data" / "ifc"
        if cand.is_dir():
            return cand
    raise SystemExit("shared/data/ifc not found; pass the folder")


def products_in(path: Path) -> int:
    """Products ifcopenshell finds, counted the way the converter selects them
    (a pre-release IFC4.3 header read as IFC4X3_ADD2, as the converter does)."""
    from converters.ifc_open import open_model

    model, _ = open_model(path, {})
    return sum(1 for p in model.by_type("IfcProduct")
               if not any(p.is_a(c) for c in EXCLUDED_CLASSES) and not p.is_a("IfcPort"))


def run(path: Path, crs: str, options: dict) -> dict:
    row: dict = {"file": path.name, "twin_crs": crs, "products": products_in(path)}
    with tempfile.TemporaryDirectory() as tmp:
        store = twin.create_twin(Path(tmp) / "t.gpkg", crs)
        t0 = time.perf_counter()
        try:
            res = import_file(store, path, options=options)
        except TwinError as exc:
            row.update(outcome="refused", error=str(exc).replace(str(path), path.name))
            store.close()
            return row
        src = res.report["source"]
        geo = src.get("georeferencing", {})
        row.update(
            outcome="imported", seconds=round(time.perf_counter() - t0, 2),
            features=res.features, skipped=res.skipped,
            first_skip=(res.report.get("skipped") or [{}])[0].get("reason"),
            georeferencing=geo.get("method"),
            alternatives=[(a["method"], a.get("distance_m")) for a in geo.get("alternatives", [])],
            extent=res.report.get("placement", {}).get("extent"),
            span_m=res.report.get("placement", {}).get("span_m"),
            geometry=f"{src['geometry']['converted']}/{src['geometry']['requested']}",
        )
        store.close()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    data = args.data or _data_dir()
    rows = []
    for path in sorted(data.iterdir()):
        if path.suffix.lower() != ".ifc":
            continue
        crs, options = CASES.get(path.name, ("EPSG:4546", {}))
        row = run(path, crs, options)
        rows.append(row)
        if row["outcome"] == "refused":
            print(f"{row['file']}: REFUSED ({crs}): {row['error']}")
            continue
        ext = row["extent"]
        alts = "; ".join(f"{m} {d / 1000:,.1f} km away" if d is not None else f"{m} ?"
                         for m, d in row["alternatives"]) or "none"
        print(f"{row['file']}: {row['products']} products -> {row['features']} features, "
              f"{row['skipped']} skipped, geometry {row['geometry']}, {row['seconds']} s\n"
              f"    georeferencing: {row['georeferencing']} (alternatives: {alts})\n"
              f"    extent in {crs}: "
              + (f"x {ext[0]:,.1f}..{ext[2]:,.1f}, y {ext[1]:,.1f}..{ext[3]:,.1f} "
                 f"({row['span_m']:,.1f} m across)" if ext else "none"))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
