"""A small generated county town for the three-level federation demo.

A street grid of four by three blocks near the seat of Tumed Left Banner
(土默特左旗), west of Hohhot, in EPSG:4546 (the CRS of the Hohhot demo):
two to four buildings per block (storeys, build year, green-building stars,
prefabrication, energy retrofit), heating and water mains under the streets
with install years, and the street centrelines. One GeoJSON file, made the
same on every run (seeded), imported with ``twin import``::

    python sample_models/county_demo/generate.py out/county
    twin init out/county.gpkg --crs EPSG:4546
    twin import out/county/county_town.geojson --twin out/county.gpkg
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

X0, Y0, GROUND = 511_000.0, 4_503_000.0, 1010.0
BLOCK, STREET = 120.0, 24.0
COLS, ROWS = 4, 3
FUNCTIONS = ("residential", "residential", "residential", "commercial", "school", "clinic")


def _feature(fid: str, geom: dict, **props) -> dict:
    return {"type": "Feature", "id": fid, "geometry": geom, "properties": props}


def _buildings(rng: np.random.Generator) -> list[dict]:
    out = []
    n = 0
    for c in range(COLS):
        for r in range(ROWS):
            bx, by = X0 + c * (BLOCK + STREET), Y0 + r * (BLOCK + STREET)
            for k in range(int(rng.integers(2, 5))):
                n += 1
                x, y = bx + 10 + (k % 2) * 55, by + 10 + (k // 2) * 55
                w, d = float(rng.integers(18, 40)), float(rng.integers(12, 30))
                storeys = int(rng.choice([2, 3, 5, 6, 6, 11, 18, 24]))
                year = int(rng.integers(1985, 2025))
                ring = [[x, y, GROUND], [x + w, y, GROUND], [x + w, y + d, GROUND],
                        [x, y + d, GROUND], [x, y, GROUND]]
                out.append(_feature(
                    f"B-{n:03d}", {"type": "Polygon", "coordinates": [ring]},
                    layer="buildings", type="Building", name=f"County building {n}",
                    function=str(rng.choice(FUNCTIONS)), storeys=storeys, year_built=year,
                    height=storeys * 3.0, floor_area_m2=round(w * d * storeys, 1),
                    green_star=int(rng.integers(0, 3)) if year >= 2015 else 0,
                    prefabricated=bool(rng.random() < 0.3) if year >= 2015 else False,
                    energy_retrofit=bool(rng.random() < 0.4)))
    return out


def _streets(rng: np.random.Generator) -> list[dict]:
    out = []
    width, height = COLS * (BLOCK + STREET), ROWS * (BLOCK + STREET)
    lines = [((X0 - STREET / 2 + i * (BLOCK + STREET), Y0 - STREET / 2),
              (X0 - STREET / 2 + i * (BLOCK + STREET), Y0 - STREET / 2 + height))
             for i in range(COLS + 1)]
    lines += [((X0 - STREET / 2, Y0 - STREET / 2 + j * (BLOCK + STREET)),
               (X0 - STREET / 2 + width, Y0 - STREET / 2 + j * (BLOCK + STREET)))
              for j in range(ROWS + 1)]
    for i, (a, b) in enumerate(lines):
        out.append(_feature(f"RC-{i}", {"type": "LineString", "coordinates": [a, b]},
                            layer="road_centrelines", type="RoadCentreline",
                            name=f"County street {i}"))
        for code, offset, depth, dia in (("RL", 3.0, 1.8, 300), ("JS", -3.0, 1.5, 200)):
            dx, dy = (offset, 0.0) if a[0] == b[0] else (0.0, offset)
            z = GROUND - depth
            pa, pb = [a[0] + dx, a[1] + dy, z], [b[0] + dx, b[1] + dy, z]
            out.append(_feature(
                f"{code}-{i}", {"type": "LineString", "coordinates": [pa, pb]},
                utility=code, type="Pipe", diameter_mm=dia, material="steel" if code == "RL"
                else "PE", install_year=int(rng.integers(1990, 2024)), depth_m=depth,
                start_node=f"{code}-N{i}a", end_node=f"{code}-N{i}b"))
    return out


def write(out_dir: Path) -> Path:
    rng = np.random.default_rng(20)
    doc = {"type": "FeatureCollection", "name": "county_town",
           "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4546"}},
           "twin": {"id_prefix": "county"},
           "features": _buildings(rng) + _streets(rng)}
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "county_town.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "out/county"))
