"""Import every public sample and compare with counts made without our converters.

Usage: ``python bench/corpus.py [--data DIR] [--out docs/corpus.md] [--only TEXT]
[--timeout S]``

Every file under the shared sample folder (``../shared/data``, with its
``MANIFEST.tsv``) that a converter reads (IFC, CityJSON, CityJSONSeq, EPANET
and SWMM ``.inp``, LandXML, GeoJSON) is imported into a fresh twin of its
own, in its own process (a crash or a hang is that file's row, not the end
of the run). Per file the table gives:

- **source**: its elements counted without our converters: city objects with
  ``json`` (CityJSON; every line of a CityJSONSeq), products with
  ifcopenshell's ``by_type("IfcProduct")`` (openings apart: they cut walls
  and are never features; files ifcopenshell cannot open are scanned as
  text against its schema's class tree), rows of the node and link sections
  of an ``.inp`` file read as plain text, ``Struct``/``Pipe``/``Channel``/
  ``Surface`` elements of a LandXML file, features of a GeoJSON file;
- **twin**: features the import stored, **skipped** with the first reasons,
  the warnings of its summary;
- **extent** of the stored features (metres, in the twin CRS) and where its
  centre lies (longitude/latitude, where the CRS has a place on Earth);
- **CRS / georeferencing**: the twin CRS, and where the source CRS or the
  placement came from (the file, ``--crs``, the IFC georeferencing used);
- **s**: seconds of the import.

The twin CRS comes from the manifest: the file's own CRS where it names one
(CityJSON ``referenceSystem``, an IFC map conversion, LandXML's EPSG code),
the UTM zone of the site where an IFC model gives only its latitude and
longitude or a GeoJSON is in longitude/latitude, an EPSG code its notes name
(the SWMM models whose title says EPSG:2817). Files with local coordinates
and no CRS go into a local engineering twin (:data:`LOCAL_CRS`: metres on a
transverse Mercator plane at 0, 0, no place on Earth), given as their CRS;
IFC models without georeferencing are placed there with ``--origin 0,0,0
--rotation 0``, as the converter asks.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

#: The frame of files with local coordinates and no CRS: metres on a plane
#: through 0, 0 (a projected CRS without an area of use on Earth).
LOCAL_CRS = ("+proj=tmerc +lat_0=0 +lon_0=0 +k=1 +x_0=0 +y_0=0 +ellps=GRS80 +units=m "
             "+no_defs +type=crs")

_READ = (".ifc", ".json", ".jsonl", ".inp", ".xml", ".geojson")

#: Import options a user would give, from the manifest's description: the
#: Rutland layers are sewers (GeoJSON features name no utility of their own).
OPTIONS = {"pipes/geojson/RutlandCityLinearFeatures.geojson": {"layer": "sewage"},
           "pipes/geojson/RutlandCityPointFeatures.geojson": {"layer": "sewage"}}

EPANET_SECTIONS = ("JUNCTIONS", "RESERVOIRS", "TANKS", "PIPES", "PUMPS", "VALVES")
SWMM_SECTIONS = ("JUNCTIONS", "OUTFALLS", "STORAGE", "DIVIDERS", "CONDUITS", "PUMPS",
                 "ORIFICES", "WEIRS", "OUTLETS")


def shared_data() -> Path:
    """The shared sample folder: ``shared/data`` beside the repository (or
    beside the folder of worktrees it is in)."""
    for base in REPO.parents:
        if (base / "shared" / "data" / "MANIFEST.tsv").is_file():
            return base / "shared" / "data"
    return REPO.parent / "shared" / "data"


# -- counting without our converters -----------------------------------------
def count_source(path: Path) -> tuple[int | None, str]:
    """Elements of ``path`` counted independently, and how."""
    name = path.name.lower()
    if name.endswith((".json", ".jsonl")):
        return _count_cityjson(path)
    if name.endswith(".ifc"):
        return _count_ifc(path)
    if name.endswith(".inp"):
        return _count_inp(path)
    if name.endswith(".xml"):
        return _count_landxml(path)
    if name.endswith(".geojson"):
        feats = json.loads(path.read_text(encoding="utf-8"))["features"]
        kinds = Counter(f["geometry"]["type"] for f in feats if f.get("geometry"))
        return len(feats), "features: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common())
    return None, "?"


def _count_cityjson(path: Path) -> tuple[int, str]:
    if path.suffix == ".jsonl":
        types: Counter = Counter()
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    types.update(o.get("type") for o in
                                 (json.loads(line).get("CityObjects") or {}).values())
    else:
        doc = json.loads(path.read_text(encoding="utf-8"))
        types = Counter(o.get("type") for o in (doc.get("CityObjects") or {}).values())
    top = ", ".join(f"{k} {v}" for k, v in types.most_common(3))
    return sum(types.values()), f"city objects: {top}{', ...' if len(types) > 3 else ''}"


def _count_ifc(path: Path) -> tuple[int, str]:
    import ifcopenshell

    try:
        model = ifcopenshell.open(str(path))
        classes = Counter(p.is_a() for p in model.by_type("IfcProduct"))
        how = "ifcopenshell by_type"
    except Exception:  # a schema ifcopenshell cannot open (IFC4X3_RC3): scan the text
        classes = _scan_ifc_products(path)
        how = "text scan (ifcopenshell cannot open it)"
    voids = sum(n for c, n in classes.items() if c.upper() in ("IFCOPENINGELEMENT",
                                                               "IFCOPENINGSTANDARDCASE",
                                                               "IFCVOIDINGFEATURE"))
    total = sum(classes.values())
    notes = sum(n for c, n in classes.items() if c.upper() == "IFCANNOTATION")
    return total - voids, (f"IfcProduct {total} ({how})"
                           + (f", {voids} openings not counted" if voids else "")
                           + (f", {notes} of them IfcAnnotation" if notes else ""))


def _scan_ifc_products(path: Path) -> Counter:
    import ifcopenshell

    text = path.read_text(encoding="latin-1")
    schema_name = (re.search(r"FILE_SCHEMA\s*\(\s*\(\s*'([^']+)'", text) or [None, "IFC4"])[1]
    base = "IFC4X3_ADD2" if schema_name.upper().startswith("IFC4X3") else schema_name
    schema = ifcopenshell.ifcopenshell_wrapper.schema_by_name(base)
    out: Counter = Counter()
    for cls in re.findall(r"^#\d+\s*=\s*(IFC\w+)\s*\(", text, re.M):
        try:
            d = schema.declaration_by_name(cls)
        except Exception:  # a class the released schema dropped
            continue
        while d is not None and d.name() != "IfcProduct":
            d = d.supertype()
        if d is not None:
            out[cls] += 1
    return out


def _count_inp(path: Path) -> tuple[int, str]:
    rows: Counter = Counter()
    section = None
    for raw in path.read_text(encoding="latin-1").splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^\[(\w+)\]", line)
        if m:
            section = m.group(1).upper()
        elif section:
            rows[section] += 1
    swmm = "CONDUITS" in rows or "SUBCATCHMENTS" in rows
    names = SWMM_SECTIONS if swmm else EPANET_SECTIONS
    shown = ", ".join(f"{n.lower()} {rows[n]}" for n in names if rows[n])
    return sum(rows[n] for n in names), f"{'SWMM' if swmm else 'EPANET'} rows: {shown}"


def _count_landxml(path: Path) -> tuple[int, str]:
    from defusedxml.ElementTree import iterparse

    tags: Counter = Counter()
    faces = 0
    for _, el in iterparse(str(path)):
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in ("Struct", "Pipe", "Channel", "Surface"):
            tags[tag] += 1
        elif tag == "F":
            faces += 1
        el.clear()
    shown = ", ".join(f"{k} {v}" for k, v in sorted(tags.items()))
    return sum(tags.values()), f"elements: {shown}" + (f" ({faces} TIN faces)" if faces else "")


# -- choosing the CRS ------------------------------------------------------------
def manifest(data: Path) -> dict[str, dict[str, str]]:
    with open(data / "MANIFEST.tsv", encoding="utf-8", newline="") as fh:
        return {row["local_path"]: row for row in csv.DictReader(fh, delimiter="\t")}


def choose_crs(rel: str, row: dict[str, str] | None, path: Path) -> tuple[str, str | None, str]:
    """``(twin CRS, source CRS to give or None, why)`` for one file."""
    crs = (row or {}).get("crs", "").strip()
    notes = (row or {}).get("notes", "")
    own = re.match(r"^(https?://www\.opengis\.net/def/crs/EPSG/0/(\d+)|urn:ogc:def:crs:EPSG::"
                   r"(\d+))", crs)
    if own:
        return f"EPSG:{own.group(2) or own.group(3)}", None, "the file's own CRS"
    code = re.match(r"^EPSG:(\d+)", crs)
    if code and code.group(1) == "4326":  # GeoJSON in lon/lat: the UTM zone of its centre
        lon, lat = _geojson_centre(path)
        return _utm(lon, lat), None, "lon/lat data, twin in its UTM zone"
    if code:
        return f"EPSG:{code.group(1)}", None, "the manifest's CRS (named in the file)"
    site = re.search(r"RefLat/Lon=(-?[\d.]+),(-?[\d.]+)", crs)
    if site:
        return (_utm(float(site.group(2)), float(site.group(1))), None,
                "IfcSite latitude/longitude, twin in its UTM zone")
    named = re.search(r"EPSG:(\d+)", notes)
    if named:
        return f"EPSG:{named.group(1)}", f"EPSG:{named.group(1)}", "EPSG code in its notes"
    return LOCAL_CRS, LOCAL_CRS, "local coordinates, no CRS: local engineering twin"


def _utm(lon: float, lat: float) -> str:
    zone = int((lon + 180) // 6) + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def _geojson_centre(path: Path) -> tuple[float, float]:
    import shapely

    doc = json.loads(path.read_text(encoding="utf-8"))
    geoms = [shapely.from_geojson(json.dumps(f["geometry"])) for f in doc["features"]
             if f.get("geometry")]
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    return (x0 + x1) / 2, (y0 + y1) / 2


# -- one import (in its own process) ---------------------------------------------
def import_one(path: Path, twin_crs: str, crs: str | None, options: dict[str, Any]
               ) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    import numpy as np
    from pyproj import Transformer

    import twin
    from converters import import_file

    with tempfile.TemporaryDirectory() as tmp:
        with twin.create_twin(Path(tmp) / "corpus.gpkg", twin_crs) as store:
            t0 = time.perf_counter()
            res = import_file(store, path, crs=crs, options=options)
            seconds = time.perf_counter() - t0
            boxes = np.array([f.bbox for f in store.query(twin.Query()) if f.bbox is not None],
                             dtype=float)
            store_crs = store.crs
    src = res.report.get("source") or {}
    geo = src.get("georeferencing") or {}
    how = geo.get("method") or src.get("crs_from") or ""
    if src.get("source_crs") and not geo:
        how = f"{src['source_crs']} from {how or '?'}"
    out: dict[str, Any] = {
        "features": res.features, "skipped": res.skipped,
        "reasons": [f"{s['source_id']}: {s['reason']}" for s in res.report.get("skipped", [])[:3]],
        "warnings": [n.text for n in res.notes if n.level == "warn"][:3],
        "georef": how, "seconds": seconds}
    if len(boxes):
        lo = np.nanmin(boxes[:, :3], axis=0)
        hi = np.nanmax(boxes[:, 3:], axis=0)
        out["size"] = (hi - lo).tolist()
        out["min"] = lo.tolist()
        if store_crs.area_of_use is not None:
            to_ll = Transformer.from_crs(store_crs, "EPSG:4326", always_xy=True)
            out["lonlat"] = list(to_ll.transform((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2))
    return out


def run_one(path: Path, twin_crs: str, crs: str | None, options: dict[str, Any],
            timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", str(path), twin_crs,
           crs or "", json.dumps(options)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout:.0f} s"}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode or not lines:
        tail = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
        error = tail[-1] if tail else f"exit status {r.returncode}"
        # the store's wrapping says the twin is unchanged (each file has its own anyway)
        error = error.split("the twin is unchanged: ", 1)[-1].replace(f"{path}: ", "")
        return {"error": error[:400]}
    return json.loads(lines[-1])


# -- the table -----------------------------------------------------------------
def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _extent(r: dict[str, Any]) -> str:
    if "size" not in r:
        return "no geometry"
    w, d, h = r["size"]
    fmt = ",.0f" if max(w, d) >= 10 else ".1f"
    text = (f"{w:{fmt}} x {d:{fmt}} m (2D)" if h != h else  # NaN: heights unknown
            f"{w:{fmt}} x {d:{fmt}} x {h:{fmt}} m")
    if "lonlat" in r:
        text += f" at {r['lonlat'][0]:.4f}, {r['lonlat'][1]:.4f}"
    else:
        text += f" from ({r['min'][0]:,.0f}, {r['min'][1]:,.0f})"
    return text


def row_text(rel: str, count: int | None, how: str, twin_crs: str, why: str,
             r: dict[str, Any]) -> str:
    crs = "local" if twin_crs == LOCAL_CRS else twin_crs
    if "error" in r:
        return (f"| {_cell(rel)} | {count if count is not None else '?'} ({_cell(how)}) | "
                f"failed: {_cell(r['error'])} | | | {crs} ({why}) | |")
    skipped = str(r["skipped"])
    if r["reasons"]:
        skipped += ": " + "; ".join(_cell(x[:140]) for x in r["reasons"])
    if r["warnings"]:
        skipped += "<br>warnings: " + "; ".join(_cell(x[:160]) for x in r["warnings"])
    return (f"| {_cell(rel)} | {count if count is not None else '?'} ({_cell(how)}) | "
            f"{r['features']} | {skipped} | {_extent(r)} | {crs} ({why}); "
            f"{_cell(r['georef'] or '-')} | {r['seconds']:.1f} |")


HEADER = """# Corpus run: every public sample, imported

`python bench/corpus.py --out docs/corpus.md` imports each public sample of
`shared/data` into a fresh twin of its own (one process per file) and sets
what the twin holds against the file's elements counted without our
converters (see the script's documentation for how each format is counted
and how the twin CRS is chosen). A file that fails is a row with its error.
"local" is the local engineering twin of files with local coordinates and
no CRS (metres on a plane through 0, 0).

Differences between the two counts are expected where the twin holds
something else than the source counts: an IFC model's storeys, building and
site are features too, and every IfcBuilding gets an LoD1 envelope;
EPANET/SWMM nodes and links become features one for one; a LandXML TIN
surface is one terrain feature.

What a run showed is written below its table (findings of that run; a new
run replaces the table, not the findings).

"""


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        path, twin_crs, crs, options = sys.argv[2], sys.argv[3], sys.argv[4] or None, \
            json.loads(sys.argv[5])
        print(json.dumps(import_one(Path(path), twin_crs, crs, options)))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="sample folder with MANIFEST.tsv")
    ap.add_argument("--out", type=Path, default=None, help="write the table as Markdown here")
    ap.add_argument("--only", default="", help="only files whose path contains this text")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per file")
    args = ap.parse_args()
    data = args.data or shared_data()
    rows = manifest(data)
    files = sorted(p for p in data.rglob("*") if p.is_file() and p.name.lower().endswith(_READ)
                   and args.only in str(p.relative_to(data)))
    lines = ["| file | source (counted without our converters) | twin | skipped: first "
             "reasons; summary warnings | extent, centre | twin CRS; source CRS / "
             "georeferencing | s |", "| --- | --- | ---: | --- | --- | --- | ---: |"]
    print("\n".join(lines), flush=True)
    started = time.strftime("%Y-%m-%d %H:%M")
    for path in files:
        rel = str(path.relative_to(data))
        twin_crs, crs, why = choose_crs(rel, rows.get(rel), path)
        try:
            count, how = count_source(path)
        except Exception as exc:  # the counting itself must not end the run
            count, how = None, f"could not count: {exc}"
        options = dict(OPTIONS.get(rel, {}))
        if twin_crs == LOCAL_CRS and path.suffix.lower() == ".ifc":
            # a model without georeferencing is placed where the user says: here at 0, 0
            options.update(origin=(0.0, 0.0, 0.0), rotation=0.0)
        line = row_text(rel, count, how, twin_crs, why,
                        run_one(path, twin_crs, crs, options, args.timeout))
        lines.append(line)
        print(line, flush=True)
    if args.out:
        old = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        findings = old[old.index("\n## Findings"):] if "\n## Findings" in old else ""
        args.out.write_text(HEADER + f"Run of {started}, {len(files)} files from `{data}`.\n\n"
                            + "\n".join(lines) + "\n" + findings, encoding="utf-8")


if __name__ == "__main__":
    main()
