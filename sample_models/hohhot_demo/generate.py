"""Generate the Hohhot demo district (reproducible; no input data needed).

A plausible, synthetic district of Hohhot (呼和浩特), Inner Mongolia, in
CGCS2000 / 3-degree Gauss-Kruger CM 111E (EPSG:4546), heights in the 1985
National Height Datum (about 1,050 m here):

* a street grid of 8 x 6 blocks (140 m blocks, 24 m streets) on a gently
  sloping terrain;
* residential blocks of slabs and towers (6 to 33 storeys; some above the
  18-storey county limit), a school, a clinic, shops, two parks;
* a CJJ 61-style pipe survey under every street: JS water supply, WS sewage,
  YS rain water, RQ gas, RL heating (laid 1985-2024), DL power and TX telecom
  ducts, with valves, manholes and chambers at the crossings, and service
  connections from the water, gas and heating mains to every building.

Run ``python sample_models/hohhot_demo/generate.py`` to rewrite the GeoJSON
files beside this script and the CJJ 61 survey tables in ``survey/`` (GBK CSV,
the newly surveyed eastern extension of Xinhua Avenue); the same seed gives the
same files. The CityJSON buildings are written by ``demo_cityjson.py``, the
survey tables by ``demo_survey.py``, the IFC building by ``ifc_building.py``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from pyproj import Transformer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ifc_building  # noqa: E402  (beside this script)
from demo_cityjson import cityjson_buildings  # noqa: E402
from demo_survey import write_survey  # noqa: E402

SEED = 2025
NX, NY = 8, 6  # blocks
BLOCK = 140.0  # m
STREET = 24.0  # m
PITCH = BLOCK + STREET
CENTRE_LONLAT = (111.700, 40.820)
PREFIX = "hohhot"
CRS_URN = "urn:ogc:def:crs:EPSG::4546"
CRS_URL = "https://www.opengis.net/def/crs/EPSG/0/4546"
RIDGE = 3.5  # m, ridge above the eaves of a gabled roof
IFC_BLOCK = (5, 1)  # the clinic block; the community centre stands north of the clinic
IFC_BUILDING_ID = "0Hq8TcGm95Ax3OQmkdcZ1w"  # the IfcBuilding's GlobalId

# utility: (offset from street centreline m, cover depth m, size, material, node type);
# the cover depths stack the networks so that crossings keep the GB 50289 vertical
# clearances: telecom and power duct banks on top, then gas, water, heating, rain
# water and sewage (sewers get 0.8 m deeper per km downstream, to the north-west)
UTILITIES = {
    "JS": dict(offset=4.0, depth=2.34, diameter=200, main_diameter=300, material="DI",
               node="Valve", years=(1990, 2020), pressure_class="0.4 MPa"),
    "WS": dict(offset=0.0, depth=4.45, diameter=400, main_diameter=500, material="concrete",
               node="Manhole", years=(1988, 2018), gravity=True),
    "YS": dict(offset=-4.0, depth=3.42, diameter=600, main_diameter=800, material="concrete",
               node="Manhole", years=(1995, 2021), gravity=True),
    "RQ": dict(offset=8.0, depth=1.95, diameter=160, main_diameter=200, material="PE",
               node="Valve", years=(1996, 2022), pressure_class="medium B"),
    "RL": dict(offset=-8.0, depth=2.8, diameter=300, main_diameter=400, material="steel",
               node="ValveChamber", years=(1985, 2024), pressure_class="1.6 MPa"),
    "DL": dict(offset=10.0, depth=1.27, width=600, height=400, material="PVC duct",
               node="CableWell", years=(2000, 2023), cables=6),
    "TX": dict(offset=-10.0, depth=0.7, width=400, height=300, material="PVC duct",
               node="CableWell", years=(2003, 2024), cables=12),
}
SERVICE_UTILITIES = ("JS", "RQ", "RL")
# where each pressurised network is fed (the south-west crossing)
SOURCE_TYPE = {"JS": "Source", "RQ": "GasStation", "RL": "HeatSource"}
SERVICE_DIAMETER = {"JS": 50, "RQ": 40, "RL": 80}


def r3(v: float) -> float:
    return round(float(v), 3)


class District:
    def __init__(self) -> None:
        self.rng = np.random.default_rng(SEED)
        tr = Transformer.from_crs("EPSG:4326", "EPSG:4546", always_xy=True)
        cx, cy = tr.transform(*CENTRE_LONLAT)
        self.x0 = round(cx - NX * PITCH / 2, 0)
        self.y0 = round(cy - NY * PITCH / 2, 0)
        self.features: dict[str, list[dict]] = {k: [] for k in (
            "roads", "road_centrelines", "landuse", "vegetation", "terrain", "pipes",
            "pipe_nodes")}
        self.city_buildings: list[dict] = []
        self.buildings: list[tuple] = []
        self.ifc_origin: tuple[float, float, float] | None = None

    # -- terrain --------------------------------------------------------
    def ground(self, x: float, y: float) -> float:
        u, v = x - self.x0, y - self.y0
        return 1048.0 + 0.006 * u - 0.004 * v + 0.8 * math.sin(u / 310.0) * math.cos(v / 270.0)

    def street_x(self, i: int) -> float:  # centre of the i-th north-south street
        return self.x0 + i * PITCH

    def street_y(self, j: int) -> float:
        return self.y0 + j * PITCH

    def add(self, kind: str, fid: str, geom: dict, props: dict) -> None:
        self.features[kind].append({"type": "Feature", "id": fid, "geometry": geom,
                                    "properties": props})

    def build_terrain(self) -> None:
        step = PITCH / 2
        # one half-block margin around the grid so that the border streets lie on terrain
        for a in range(-1, 2 * NX + 1):
            for b in range(-1, 2 * NY + 1):
                x, y = self.x0 + a * step, self.y0 + b * step
                ring = [(x, y), (x + step, y), (x + step, y + step), (x, y + step), (x, y)]
                coords = [[r3(px), r3(py), r3(self.ground(px, py))] for px, py in ring]
                self.add("terrain", f"T-{a + 1:02d}-{b + 1:02d}", {"type": "Polygon",
                         "coordinates": [coords]}, {"type": "TINRelief"})

    def build_roads(self) -> None:
        h = STREET / 2
        for j in range(NY + 1):
            y = self.street_y(j)
            main = j == NY // 2
            name = "Xinhua Avenue" if main else f"Wei {j + 1} Road"
            ring = [(self.x0 - h, y - h), (self.x0 + NX * PITCH + h, y - h),
                    (self.x0 + NX * PITCH + h, y + h), (self.x0 - h, y + h)]
            self.add_road(f"R-EW-{j}", ring, name, "main" if main else "secondary")
        for i in range(NX + 1):
            x = self.street_x(i)
            main = i == NX // 2
            name = "Zhongshan Road" if main else f"Jing {i + 1} Street"
            # split at the east-west streets so that road polygons do not overlap
            for j in range(NY):
                ring = [(x - h, self.street_y(j) + h), (x + h, self.street_y(j) + h),
                        (x + h, self.street_y(j + 1) - h), (x - h, self.street_y(j + 1) - h)]
                self.add_road(f"R-NS-{i}-{j}", ring, name, "main" if main else "branch")

    def add_road(self, fid: str, ring: list, name: str, cls: str) -> None:
        # densify long edges so that the surface follows the terrain
        pts = []
        for k in range(len(ring)):
            (ax, ay), (bx, by) = ring[k], ring[(k + 1) % len(ring)]
            n = max(1, int(math.hypot(bx - ax, by - ay) // 82))
            for t in range(n):
                px, py = ax + (bx - ax) * t / n, ay + (by - ay) * t / n
                pts.append([r3(px), r3(py), r3(self.ground(px, py) + 0.05)])
        pts.append(pts[0])
        self.add("roads", fid, {"type": "Polygon", "coordinates": [pts]},
                 {"type": "Road", "name": name, "function": "road", "road_class": cls,
                  "width_m": STREET})

    # -- blocks and buildings -------------------------------------------
    def bulge(self, x0: float, y0: float, x1: float, y1: float) -> float:
        """How far the terrain mesh rises above the plane through a block's corners
        (the land-use surface is lifted by this so that no terrain shows through)."""
        g = [self.ground(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
        step = PITCH / 2
        worst = 0.0
        for a in np.arange(self.x0 - step, self.x0 + (NX + 1) * PITCH, step):
            for b in np.arange(self.y0 - step, self.y0 + (NY + 1) * PITCH, step):
                if x0 < a < x1 and y0 < b < y1:
                    u, v = (a - x0) / (x1 - x0), (b - y0) / (y1 - y0)
                    plane = (g[0] * (1 - u) * (1 - v) + g[1] * u * (1 - v) + g[2] * u * v
                             + g[3] * (1 - u) * v)
                    worst = max(worst, self.ground(a, b) - plane)
        return worst + 0.1 * (worst > 0)  # and for the diagonal the surface is cut along

    def block_bounds(self, i: int, j: int) -> tuple[float, float, float, float]:
        x = self.street_x(i) + STREET / 2
        y = self.street_y(j) + STREET / 2
        return x, y, x + BLOCK, y + BLOCK

    def build_blocks(self) -> None:
        special = {(1, 1): "park", (6, 4): "park", (3, 2): "school", (5, 1): "clinic"}
        n = 0
        for i in range(NX):
            for j in range(NY):
                x0, y0, x1, y1 = self.block_bounds(i, j)
                use = special.get((i, j), "residential")
                corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
                lift = self.bulge(x0, y0, x1, y1) + 0.03
                lu_ring = [[r3(px), r3(py), r3(self.ground(px, py) + lift)] for px, py in corners]
                self.add("landuse", f"LU-{i}-{j}", {"type": "Polygon", "coordinates": [lu_ring]},
                         {"type": "LandUse", "function": use, "name": f"Block {i}-{j}"})
                if use == "park":
                    self.build_park(i, j, x0, y0, x1, y1)
                    continue
                if use in ("school", "clinic"):
                    n += 1
                    self.add_building(n, x0 + 30, y0 + 35, 80, 40, 4 if use == "school" else 5,
                                      use, 2008 if use == "school" else 2015, i, j)
                    continue
                towers = self.rng.random() < 0.45
                for r in range(2):
                    for c in range(3):
                        n += 1
                        bx = x0 + 12 + c * 44
                        by = y0 + 18 + r * 64
                        if towers:
                            storeys = int(self.rng.choice([18, 22, 26, 33], p=[.3, .3, .25, .15]))
                            self.add_building(n, bx + 4, by + 4, 26, 26, storeys, "residential",
                                              int(self.rng.integers(2005, 2025)), i, j)
                        else:
                            storeys = int(self.rng.choice([5, 6, 7, 11], p=[.3, .35, .15, .2]))
                            func = "commercial" if (j == NY // 2 and r == 0) else "residential"
                            self.add_building(n, bx, by, 36, 14, storeys, func,
                                              int(self.rng.integers(1986, 2025)), i, j)

    def build_park(self, i: int, j: int, x0: float, y0: float, x1: float, y1: float) -> None:
        m = 8.0
        ring = [[r3(x0 + m), r3(y0 + m)], [r3(x1 - m), r3(y0 + m)], [r3(x1 - m), r3(y1 - m)],
                [r3(x0 + m), r3(y1 - m)], [r3(x0 + m), r3(y0 + m)]]
        # a pond in the middle as a hole of the lawn
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        pond = [[r3(cx - 20), r3(cy - 15)], [r3(cx - 20), r3(cy + 15)], [r3(cx + 20), r3(cy + 15)],
                [r3(cx + 20), r3(cy - 15)], [r3(cx - 20), r3(cy - 15)]]
        self.add("vegetation", f"V-{i}-{j}", {"type": "Polygon", "coordinates": [ring, pond]},
                 {"type": "PlantCover", "function": "lawn and trees", "height": 0.3,
                  # flat lawn: set on the highest corner so that no part sinks below
                  # the sloping land-use surface
                  "base_z": r3(max(self.ground(x, y) for x in (x0 + m, x1 - m)
                                   for y in (y0 + m, y1 - m)) + 0.02),
                  "name": f"Park {i}-{j}"})

    def add_building(self, n: int, x: float, y: float, w: float, d: float, storeys: int,
                     func: str, year: int, i: int, j: int) -> None:
        ring = [(x, y), (x + w, y), (x + w, y + d), (x, y + d), (x, y)]
        base = min(self.ground(px, py) for px, py in ring[:4])
        floor_h = {"residential": 3.0, "community centre": ifc_building.FLOOR_H}.get(func, 3.9)
        # mid-rise residential slabs have gabled roofs, the rest flat roofs with a parapet
        roof = "gabled" if (func == "residential" and storeys <= 11) else "flat"
        if roof == "gabled":
            eave = storeys * floor_h + 0.3
            height = eave + RIDGE
        else:
            eave = height = storeys * floor_h + 1.2
        new = year >= 2016
        attrs = {
            "name": f"Building {n:04d}", "function": func, "storeysAboveGround": storeys,
            "measuredHeight": r3(height), "roofType": roof, "yearOfConstruction": year,
            "floor_area_m2": r3(w * d * storeys),
            "green_star": int(self.rng.choice([0, 1, 2, 3], p=[.2, .45, .25, .1])) if new else 0,
            "prefabricated": bool(new and self.rng.random() < 0.38),
            "energy_retrofit": bool(year < 2008 and self.rng.random() < 0.55),
            "block": f"{i}-{j}",
        }
        fid = f"B-{n:04d}"
        self.city_buildings.append(dict(id=fid, x=x, y=y, w=w, d=d, base=base, eave=eave,
                                        height=height, roof=roof, attributes=attrs))
        self.buildings.append((fid, x, y, w, d, j, year))

    def add_ifc_building(self) -> None:
        """The community centre north of the clinic: in the GIS layer as a block like
        every building (its services point at this record), and as a detailed IFC
        model whose import links itself to it (BIM/GIS conflation)."""
        x0, y0, _, _ = self.block_bounds(*IFC_BLOCK)
        x, y = x0 + 40, y0 + 95
        w, d = ifc_building.LENGTH, ifc_building.WIDTH
        # the model's local origin is the plan's south-east corner, its X axis north
        base = r3(min(self.ground(px, py) for px, py in
                      ((x, y), (x + w, y), (x + w, y + d), (x, y + d))))
        self.ifc_origin = (x + w, y, base)
        n = len(self.city_buildings) + 1
        self.add_building(n, x, y, w, d, ifc_building.STOREYS, "community centre",
                          ifc_building.YEAR, *IFC_BLOCK)
        self.city_buildings[-1]["attributes"]["name"] = ifc_building.NAME

    # -- walking network --------------------------------------------------
    def build_centrelines(self) -> None:
        """Street centrelines between crossings (the network people walk along)."""
        def add(fid: str, a: tuple, b: tuple, name: str, cls: str) -> None:
            n = max(1, int(math.hypot(b[0] - a[0], b[1] - a[1]) // 41))
            pts = [[r3(a[0] + (b[0] - a[0]) * t / n), r3(a[1] + (b[1] - a[1]) * t / n)]
                   for t in range(n + 1)]
            for p in pts:
                p.append(r3(self.ground(p[0], p[1]) + 0.1))
            self.add("road_centrelines", fid, {"type": "LineString", "coordinates": pts},
                     {"type": "RoadCentreline", "name": name, "road_class": cls,
                      "width_m": STREET})

        for j in range(NY + 1):
            main = j == NY // 2
            for i in range(NX):
                add(f"RC-EW-{j}-{i}", (self.street_x(i), self.street_y(j)),
                    (self.street_x(i + 1), self.street_y(j)),
                    "Xinhua Avenue" if main else f"Wei {j + 1} Road",
                    "main" if main else "secondary")
        for i in range(NX + 1):
            main = i == NX // 2
            for j in range(NY):
                add(f"RC-NS-{i}-{j}", (self.street_x(i), self.street_y(j)),
                    (self.street_x(i), self.street_y(j + 1)),
                    "Zhongshan Road" if main else f"Jing {i + 1} Street",
                    "main" if main else "branch")

    # -- pipes ----------------------------------------------------------
    def build_pipes(self) -> None:
        rng = self.rng
        for code, u in UTILITIES.items():
            off = u["offset"]
            # nodes at the crossings
            node_xy = {}
            for i in range(NX + 1):
                for j in range(NY + 1):
                    node_xy[(i, j)] = (self.street_x(i) + off, self.street_y(j) + off)
            # tees for service connections on the east-west mains
            tees: dict[tuple[int, int], list[tuple[float, str, tuple]]] = {}
            if code in SERVICE_UTILITIES:
                for fid, bx, by, bw, bd, j, byear in self.buildings:
                    south = by - self.street_y(j)
                    north = self.street_y(j + 1) - (by + bd)
                    jj = j if south <= north else j + 1
                    # buildings south of the street tee in 2 m east of those north of it
                    cx = bx + bw / 2 + {"JS": -6, "RQ": 0, "RL": 6}[code] + (
                        -1.0 if jj == j else 1.0)
                    seg_i = int((cx - self.x0 - off) // PITCH)
                    wall_y = by if jj == j else by + bd
                    tees.setdefault((seg_i, jj), []).append((cx, fid, (cx, wall_y), byear))
            years_by_street = {}
            for key_street in [("EW", j) for j in range(NY + 1)] + [("NS", i) for i in range(NX + 1)]:
                lo, hi = u["years"]
                years_by_street[key_street] = int(rng.integers(lo, hi + 1))
            for (i, j), (x, y) in node_xy.items():
                ntype = SOURCE_TYPE.get(code) if (i, j) == (0, 0) else None
                self.add_node(code, f"{code}-N-{i}-{j}", x, y, u, years_by_street[("EW", j)],
                              ntype=ntype)
            # east-west mains, split at tees
            for j in range(NY + 1):
                main = j == NY // 2
                for i in range(NX):
                    a, b = f"{code}-N-{i}-{j}", f"{code}-N-{i + 1}-{j}"
                    ax, ay = node_xy[(i, j)]
                    bx_, _ = node_xy[(i + 1, j)]
                    chain = [(ax, a)]
                    for k, (tx, bfid, wall, byear) in enumerate(sorted(tees.get((i, j), []))):
                        tid = f"{code}-T-{bfid}"
                        self.add_node(code, tid, tx, ay, u, years_by_street[("EW", j)], tee=True)
                        chain.append((tx, tid))
                        # laid when the building was built, or with a newer main
                        self.add_service(code, bfid, tid, tx, ay, wall, u,
                                         max(byear, years_by_street[("EW", j)]))
                    chain.append((bx_, b))
                    for k in range(len(chain) - 1):
                        (x1, n1), (x2, n2) = chain[k], chain[k + 1]
                        if u.get("gravity"):  # drawn from upstream (east) to downstream
                            (x1, n1), (x2, n2) = (x2, n2), (x1, n1)
                        self.add_segment(code, f"{code}-EW-{j}-{i}-{k}", n1, n2, (x1, ay),
                                         (x2, ay), u, main, years_by_street[("EW", j)])
            for i in range(NX + 1):
                main = i == NX // 2
                for j in range(NY):
                    a, b = f"{code}-N-{i}-{j}", f"{code}-N-{i}-{j + 1}"
                    self.add_segment(code, f"{code}-NS-{i}-{j}", a, b, node_xy[(i, j)],
                                     node_xy[(i, j + 1)], u, main, years_by_street[("NS", i)])

    def pipe_z(self, code: str, x: float, y: float, u: dict, size_m: float) -> float:
        depth = u["depth"]
        if u.get("gravity"):
            # the ground falls towards the west and the north: so do the sewers, deeper
            # downstream, to the outfall at the north-west corner
            depth += 0.0008 * ((self.x0 + NX * PITCH - x) + (y - self.y0))
        return self.ground(x, y) - depth - size_m / 2

    def size_m(self, u: dict, main: bool) -> float:
        if "diameter" in u:
            return (u["main_diameter"] if main else u["diameter"]) / 1000
        return u["height"] / 1000

    def add_node(self, code: str, nid: str, x: float, y: float, u: dict, year: int,
                 tee: bool = False, ntype: str | None = None) -> None:
        g = self.ground(x, y)
        depth_to_invert = g - self.pipe_z(code, x, y, u, self.size_m(u, False)) + \
            self.size_m(u, False) / 2
        props = {"utility": code, "type": ntype or ("Tee" if tee else u["node"]),
                 "install_year": year}
        if not tee and u["node"] in ("Manhole", "ValveChamber", "CableWell"):
            props["depth_m"] = r3(depth_to_invert + 0.3)
            props["diameter_mm"] = 1000 if u["node"] == "Manhole" else 1500
        else:
            props["depth_m"] = r3(depth_to_invert)
        self.add("pipe_nodes", nid, {"type": "Point", "coordinates": [r3(x), r3(y), r3(g)]},
                 {"layer": "pipe_nodes", **props})

    def add_segment(self, code: str, sid: str, n1: str, n2: str, p1: tuple, p2: tuple,
                    u: dict, main: bool, year: int) -> None:
        size = self.size_m(u, main)
        z1 = self.pipe_z(code, *p1, u, size)
        z2 = self.pipe_z(code, *p2, u, size)
        props = {"utility": code, "type": "PipeSegment", "start_node": n1, "end_node": n2,
                 "material": u["material"], "install_year": year, "owner": f"Hohhot {code} Co.",
                 "depth_m": r3(u["depth"]), "burial": "direct" if "diameter" in u else "duct bank"}
        if "diameter" in u:
            props["diameter_mm"] = u["main_diameter"] if main else u["diameter"]
        else:
            props["width_mm"], props["height_mm"] = u["width"], u["height"]
            props["cable_count"] = u["cables"]
        if "pressure_class" in u:
            props["pressure_class"] = u["pressure_class"]
        coords = [[r3(p1[0]), r3(p1[1]), r3(z1)], [r3(p2[0]), r3(p2[1]), r3(z2)]]
        self.add("pipes", sid, {"type": "LineString", "coordinates": coords}, props)

    def add_service(self, code: str, bfid: str, tee: str, tx: float, ty: float, wall: tuple,
                    u: dict, year: int) -> None:
        end = f"{code}-S-{bfid}"
        wx, wy = wall
        g = self.ground(wx, wy)
        dia = SERVICE_DIAMETER[code]
        self.add("pipe_nodes", end, {"type": "Point", "coordinates": [r3(wx), r3(wy), r3(g)]},
                 {"layer": "pipe_nodes", "utility": code, "type": "ServiceConnection",
                  "serves": f"{PREFIX}:{bfid}", "depth_m": r3(u["depth"])})
        z1 = self.pipe_z(code, tx, ty, u, dia / 1000)
        z2 = g - u["depth"] - dia / 2000
        self.add("pipes", f"{code}-SP-{bfid}", {"type": "LineString", "coordinates": [
            [r3(tx), r3(ty), r3(z1)], [r3(wx), r3(wy), r3(z2)]]},
            {"utility": code, "type": "ServicePipe", "start_node": tee, "end_node": end,
             "serves": f"{PREFIX}:{bfid}", "diameter_mm": dia, "material": "PE" if code != "RL" else "steel",
             "install_year": year, "depth_m": r3(u["depth"])})

    def generate(self) -> dict[str, dict]:
        self.build_terrain()
        self.build_roads()
        self.build_centrelines()
        self.build_blocks()
        self.add_ifc_building()
        self.build_pipes()
        return {kind: {
            "type": "FeatureCollection", "name": kind,
            "crs": {"type": "name", "properties": {"name": CRS_URN}},
            "twin": {"id_prefix": PREFIX} | (
                {} if kind in ("pipes", "pipe_nodes") else {"layer": kind}),
            "features": feats} for kind, feats in self.features.items()}


def write(out_dir: Path) -> dict[str, int]:
    d = District()
    docs = d.generate()
    counts = {}
    for kind, doc in docs.items():
        (out_dir / f"{kind}.geojson").write_text(
            json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
        counts[kind] = len(doc["features"])
    city = cityjson_buildings(d, CRS_URL)
    (out_dir / "buildings.city.json").write_text(
        json.dumps(city, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    counts["buildings (CityJSON)"] = len(city["CityObjects"])
    assert d.ifc_origin is not None
    ifc = ifc_building.write_ifc(out_dir / "community_centre.ifc", *d.ifc_origin, seed=SEED,
                                 building_id=IFC_BUILDING_ID)
    counts["IFC elements"] = sum(ifc.values())
    counts.update(write_survey(District(), NX, NY, out_dir / "survey"))
    return counts


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    for k, v in write(target).items():
        sys.stdout.write(f"{k}: {v} features\n")
