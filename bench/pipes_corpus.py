"""Import every public pipe sample and compare with counts made without our converters.

Usage: python bench/pipes_corpus.py [DATA_DIR]   (default ../shared/data/pipes)

Per file: elements in the source (counted from the text: .inp section rows,
LandXML <Struct>/<Pipe> elements, GeoJSON features), features in the twin,
skipped with their first reasons, notes that warn. Coordinates of the .inp
models carry no CRS: the CRS given here is the one their manifest suggests
(or any metric one for local coordinates).
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import twin  # noqa: E402
from converters import import_file  # noqa: E402
from converters.inp_sections import rows_of, scan  # noqa: E402

DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data" / "pipes"
#: file -> (twin CRS, --crs, options)
CASES = {
    "epanet/Net3.inp": ("EPSG:4546", "EPSG:4546", {}),
    "epanet/ky10.inp": ("EPSG:3088", "EPSG:3089", {}),
    "epanet/L-TOWN.inp": ("EPSG:4546", "EPSG:4546", {}),
    "epanet/BWSN_Network_2.inp": ("EPSG:4546", "EPSG:4546", {}),
    "swmm/Example1.inp": ("EPSG:2817", "EPSG:2817", {}),
    "swmm/model_state_plane.inp": ("EPSG:2817", None, {}),
    "swmm/test_inlet_drains.inp": ("EPSG:2817", "EPSG:2817", {}),
    "swmm/model_full_features_network_xy.inp": ("EPSG:2817", "EPSG:2817", {}),
    "landxml/DrainageSystem-1-1.xml": ("EPSG:3878", None, {}),
    "geojson/RutlandCityLinearFeatures.geojson": ("EPSG:32145", None, {"layer": "sewage"}),
    "geojson/RutlandCityPointFeatures.geojson": ("EPSG:32145", None, {"layer": "sewage"}),
}
EPANET = ("JUNCTIONS", "RESERVOIRS", "TANKS", "PIPES", "PUMPS", "VALVES")
SWMM = ("JUNCTIONS", "OUTFALLS", "STORAGE", "DIVIDERS", "CONDUITS", "PUMPS", "ORIFICES",
        "WEIRS", "OUTLETS")


def source_count(path: Path) -> int:
    if path.suffix == ".inp":
        secs = scan(path.read_text(encoding="latin-1"))
        names = SWMM if any(s.name == "CONDUITS" for s in secs) else EPANET
        return sum(len(rows_of(secs, n)) for n in names)
    if path.suffix == ".xml":
        text = path.read_text(encoding="latin-1")
        return len(re.findall(r"<Struct\b", text)) + len(re.findall(r"<Pipe\b", text))
    doc = json.loads(path.read_text(encoding="utf-8"))
    return sum(len(f["geometry"]["coordinates"]) if f["geometry"]["type"].startswith("Multi")
               else 1 for f in doc["features"])


def main() -> None:
    print(f"{'file':45} {'source':>7} {'twin':>7} {'skipped':>7} {'s':>6}  "
          "first reasons / warnings")
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, (twin_crs, crs, opts)) in enumerate(CASES.items()):
            path = DATA / name
            if not path.exists():
                continue
            with twin.create_twin(Path(tmp) / f"c{k}.gpkg", twin_crs) as store:
                t0 = time.perf_counter()
                res = import_file(store, path, crs=crs, options=opts)
                dt = time.perf_counter() - t0
            reasons = sorted({s["reason"].split(":")[-1].strip()[:50]
                              for s in res.report["skipped"]})[:2]
            warns = [n.text[:70] for n in res.notes if n.level == "warn"][:2]
            print(f"{name:45} {source_count(path):7d} {res.features:7d} {res.skipped:7d} "
                  f"{dt:6.2f}  {'; '.join(reasons + warns)}")


if __name__ == "__main__":
    main()
