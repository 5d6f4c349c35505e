"""The Hohhot demo district a year and two years later (2026, 2027).

Derived from the 2025 files beside this script, reproducibly (fixed seed),
as a survey office and a BIM team would deliver them again:

* ``buildings.city.json``: residential buildings built before 2000 get an
  energy retrofit (three a year), the oldest low buildings are
  demolished (3 a year), new buildings go up on the empty land east of the
  district (2 a year, 15 to 18 storeys);
* ``pipes.geojson``: heating mains and service pipes laid before 1996 are
  renewed (about 15% of them a year: ``install_year`` becomes the year,
  pre-insulated steel);
* ``community_centre.ifc`` (2026): the BIM team's revision: the occupancy
  type and a partition's name changed (same GlobalIds).

Each year is imported with ``twin import --update --retire-missing layers``
(``make demo-build``), so the twin keeps three years of history.

    python sample_models/hohhot_demo/years.py OUT_DIR     # writes OUT_DIR/2026, OUT_DIR/2027
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 2026
YEARS = (2026, 2027)


def _new_building(city: dict, template_id: str, new_id: str, dx: float, storeys: int,
                  year: int) -> None:
    """A copy of a building ``dx`` metres east, with its own vertices."""
    obj = copy.deepcopy(city["CityObjects"][template_id])
    verts = city["vertices"]
    scale = city["transform"]["scale"][0]
    remap: dict[int, int] = {}

    def walk(b):
        if isinstance(b, list):
            return [walk(x) for x in b]
        if b not in remap:
            x, y, z = verts[b]
            remap[b] = len(verts)
            verts.append([x + int(round(dx / scale)), y, z])
        return remap[b]

    for g in obj["geometry"]:
        g["boundaries"] = walk(g["boundaries"])
    a = obj["attributes"]
    a.update({"name": f"Building {new_id}", "storeysAboveGround": storeys,
              "yearOfConstruction": year, "green_star": 3, "prefabricated": True,
              "energy_retrofit": False, "block": "east"})
    city["CityObjects"][new_id] = obj


def buildings(city: dict, year: int, rng: np.random.Generator) -> dict:
    city = copy.deepcopy(city)
    objs = city["CityObjects"]
    old = sorted(k for k, o in objs.items() if o["attributes"].get("function") == "residential"
                 and o["attributes"].get("yearOfConstruction", 3000) < 2000
                 and not o["attributes"].get("energy_retrofit"))
    for i in rng.choice(len(old), size=min(3, len(old)), replace=False):
        objs[old[int(i)]]["attributes"]["energy_retrofit"] = True
    oldest = sorted((o["attributes"].get("yearOfConstruction", 3000),
                     o["attributes"].get("storeysAboveGround", 99), k) for k, o in objs.items()
                    if o["attributes"].get("storeysAboveGround", 99) <= 6)
    for _y, _s, k in oldest[:3]:
        del objs[k]
    template = sorted(k for k, o in objs.items()
                      if o["attributes"].get("storeysAboveGround", 0) >= 15)[0]
    n = 2 * (year - 2025)
    for i in range(n):  # the east development grows year by year (the earlier ones stay)
        _new_building(city, template, f"E-{2026 + i // 2}-{i % 2 + 1}", 1400.0 + 60.0 * i,
                      15 + i % 4, 2026 + i // 2)
    return city


def pipes(doc: dict, year: int, rng: np.random.Generator) -> dict:
    doc = copy.deepcopy(doc)
    for f in doc["features"]:
        p = f["properties"]
        if p.get("utility") == "RL" and p.get("install_year", 3000) < 1996 \
                and rng.random() < 0.15:
            p["install_year"] = year
            p["material"] = "pre-insulated steel"
    return doc


def ifc_revision(text: str) -> str:
    return (text.replace("IFCLABEL('community centre')", "IFCLABEL('community centre, day care')")
            .replace("'1F partition 1'", "'1F partition 1 (moved for day care)'"))


def main(out: Path) -> None:
    rng = np.random.default_rng(SEED)
    city = json.loads((HERE / "buildings.city.json").read_text(encoding="utf-8"))
    net = json.loads((HERE / "pipes.geojson").read_text(encoding="utf-8"))
    ifc = (HERE / "community_centre.ifc").read_text(encoding="utf-8")
    for year in YEARS:
        d = out / str(year)
        d.mkdir(parents=True, exist_ok=True)
        city = buildings(city, year, rng)
        city["metadata"]["referenceDate"] = f"{year}-06-30"
        net = pipes(net, year, rng)
        (d / "buildings.city.json").write_text(json.dumps(city, separators=(",", ":")),
                                               encoding="utf-8")
        (d / "pipes.geojson").write_text(json.dumps(net, separators=(",", ":")),
                                         encoding="utf-8")
        ifc = ifc_revision(ifc)
        (d / "community_centre.ifc").write_text(ifc, encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.rsplit("\n\n", 1)[-1])
    main(Path(sys.argv[1]))
