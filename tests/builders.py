"""Canonical tiny cases: builders of small synthetic twins shared by the tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
from shapely.geometry import LineString, Point, box

import twin
from twin.geometry import circle_profile, extrude_footprint, polyline_pipe

REPO = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO / "sample_models" / "hohhot_demo"



def demo_sources() -> list[Path]:
    """The demo district's files, as `make demo` imports them (not the survey)."""
    return sorted(DEMO_DIR.glob("*.geojson")) + [DEMO_DIR / "buildings.city.json",
                                                  DEMO_DIR / "community_centre.ifc"]


# a street corner in Hohhot, EPSG:4546
X0, Y0, GROUND = 559000.0, 4520800.0, 1050.0


def building(i: int, x: float, y: float, storeys: int, **attrs) -> twin.Feature:
    fp = box(x, y, x + 20, y + 12)
    h = storeys * 3.0
    return twin.Feature(
        id=f"test:B{i}", layer="buildings", type="Building", name=f"Building {i}",
        footprint=fp, meshes={"1": extrude_footprint(fp, GROUND, GROUND + h)},
        attributes={"storeys": storeys, "height": h, **attrs})


def pipe(i: int, layer: str, a: tuple, b: tuple, dia: float, start: str, end: str,
         network: str, **attrs) -> twin.Feature:
    line = LineString([a, b])
    return twin.Feature(
        id=f"test:P{i}", layer=layer, type="PipeSegment", footprint=line,
        meshes={"1": polyline_pipe(np.array([a, b]), circle_profile(dia / 2000, 8))},
        attributes={"diameter_mm": dia, "network": network, **attrs},
        edge=twin.Edge(network, start, end))


def node(name: str, xyz: tuple, ntype: str = "Valve") -> twin.Feature:
    return twin.Feature(id=name, layer="pipe_nodes", type=ntype, footprint=Point(xyz),
                        attributes={"network": "JS"})


def small_city() -> list[twin.Feature]:
    """Three buildings, a heating pipe 3 m under building 1, a water line with
    valves, and a storey (child) of building 1."""
    feats = [
        building(1, X0, Y0, 6, function="residential", year_built=1995, colour="grey"),
        building(2, X0 + 40, Y0, 20, function="residential", year_built=2019),
        building(3, X0 + 80, Y0 + 30, 4, function="school", year_built=2008),
        twin.Feature(id="test:B1-S1", layer="building_elements", type="IfcBuildingStorey",
                     parent="test:B1", footprint=box(X0, Y0, X0 + 20, Y0 + 12),
                     attributes={"storey": "1F"}),
        pipe(1, "heating", (X0 - 10, Y0 + 6, GROUND - 3), (X0 + 30, Y0 + 6, GROUND - 3), 300,
             "test:RL1", "test:RL2", "RL", install_year=1998, material="steel"),
        node("test:V1", (X0 - 10, Y0 - 5, GROUND - 1.2)),
        node("test:V2", (X0 + 60, Y0 - 5, GROUND - 1.2)),
        pipe(2, "water_supply", (X0 - 10, Y0 - 5, GROUND - 1.2), (X0 + 60, Y0 - 5, GROUND - 1.2),
             200, "test:V1", "test:V2", "JS", install_year=2012, material="PE"),
    ]
    return feats


def second_year() -> list[twin.Feature]:
    """The small city a year later: building 1 got a storey and moved 2 m
    (re-surveyed), building 3 was demolished, building 4 is new, valve 2 was
    renamed; everything else is as it was."""
    feats = [f for f in small_city() if f.id not in ("test:B1", "test:B3", "test:V2")]
    feats.append(building(1, X0 + 2, Y0, 7, function="residential", year_built=1995,
                          colour="grey"))
    feats.append(building(4, X0 + 120, Y0, 3, function="shop", year_built=2024))
    v2 = node("test:V2", (X0 + 60, Y0 - 5, GROUND - 1.2))
    feats.append(twin.Feature(id=v2.id, layer=v2.layer, type=v2.type, name="valve 2",
                              footprint=v2.footprint, attributes=dict(v2.attributes)))
    return feats


def update(store, feats, retire=None):
    with store.import_batch("city", "test", "tests", "1", on_conflict="update",
                            retire_missing=retire) as b:
        b.add(feats)
    return b


def dump_twin(path: Path | str) -> dict[str, list]:
    """Every row of every table of the twin, to compare states exactly."""
    if str(path).startswith("postgresql://"):
        from pgcluster import dump_schema

        rows = dump_schema(str(path))
        rows.pop("twin_jobs", None)  # the API's job board, not the twin (a GeoPackage keeps it
        return rows                  # in a file beside the twin)
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'twin_rtree_%' ORDER BY name")]
        return {n: sorted(map(repr, conn.execute(f'SELECT * FROM "{n}"'))) for n in names}
    finally:
        conn.close()


def run_sql(location: Path | str, sql: str, params: tuple = ()) -> list[tuple]:
    """Run one SQL statement on a twin's database as any client would, with
    ``?`` placeholders (a file: SQLite; a URL: PostgreSQL, in the twin's schema)."""
    if str(location).startswith("postgresql://"):
        import psycopg

        from twin.store.location import parse_server

        loc = parse_server(str(location))
        with psycopg.connect(loc.conninfo, autocommit=True,
                             options=f"-c search_path={loc.schema},public") as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []
    conn = sqlite3.connect(location)
    try:
        rows = conn.execute(sql, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def section(path, name):
    """Rows of one [SECTION] of an .inp file, read independently of wntr."""
    rows, inside = [], False
    for line in path.read_text(encoding="latin-1").splitlines():
        line = line.split(";")[0].strip()
        if line.startswith("["):
            inside = line.upper() == f"[{name}]"
            continue
        if inside and line:
            rows.append(line.split())
    return rows


def back_to_schema_2(location: Path | str) -> None:
    """Take a twin back to the layout of schema 2, as a twin written by the
    toolkit before feature versions (3) and the sensing tables (4)."""
    from twin.sensors.schema import SENSOR_TABLES

    for table in SENSOR_TABLES:
        run_sql(location, f"DROP TABLE {table}")
    for sql in ("DROP TABLE twin_history", "DROP TABLE twin_health_checks",
                "ALTER TABLE twin_features DROP COLUMN digest",
                "UPDATE twin_meta SET value = '2' WHERE key = 'schema_version'",
                "DELETE FROM twin_meta WHERE key = 'digest_format'"):
        run_sql(location, sql)
    if not str(location).startswith("postgresql"):
        run_sql(location, "DROP TABLE twin_history_rtree")


# a water network with a reservoir, for hydraulics (twin.analysis.hydraulics)
WATER_X0, WATER_Y0, WATER_Z = 500_000.0, 4_500_000.0, 1000.0
WATER_HEAD = WATER_Z + 50.0
#: base demands (m3/s) of the hand-made water network
WATER_DEMAND = {"B": 0.008, "C": 0.004, "E": 0.002, "X": 0.001, "D": 0.002}


def _water_node(name, x, y, ntype="Junction", **attrs):
    return twin.Feature(id=f"h:{name}", layer="pipe_nodes", type=ntype,
                        footprint=Point(WATER_X0 + x, WATER_Y0 + y, WATER_Z),
                        attributes={"network": "W", **attrs})


def _water_pipe(name, a, b, length, dia, where, **attrs):
    (xa, ya), (xb, yb) = where[a], where[b]
    return twin.Feature(
        id=f"h:{name}", layer="water_supply", type="PipeSegment",
        footprint=LineString([(WATER_X0 + xa, WATER_Y0 + ya, WATER_Z - 1.2),
                              (WATER_X0 + xb, WATER_Y0 + yb, WATER_Z - 1.2)]),
        attributes={"network": "W", "diameter_mm": dia, "length_m": length,
                    "roughness": 130.0, **attrs},
        edge=twin.Edge("W", f"h:{a}", f"h:{b}"))


def water_district(extra_pipes=(), source=True, pump=None) -> list[twin.Feature]:
    """R - A - V1 - X - V2 - B - C along a main (DN300), with E off A, D off X
    and a long DN100 loop from A to B; V1, V2 are valve nodes."""
    where = {"R": (0, 0), "A": (100, 0), "V1": (200, 0), "X": (300, 0), "V2": (400, 0),
             "B": (500, 0), "C": (600, 0), "E": (100, 100), "D": (300, 100)}
    feats = [_water_node(n, *xy, ntype="Valve") for n, xy in where.items() if n in ("V1", "V2")]
    feats += [_water_node(n, *where[n], base_demand_m3s=WATER_DEMAND.get(n, 0.0)) for n in "ABCDEX"]
    if source:
        feats.append(_water_node("R", *where["R"], ntype="Reservoir", head_m=WATER_HEAD))
    else:
        feats.append(_water_node("R", *where["R"]))
    mains = [("RA", "R", "A", 500, 300), ("AV1", "A", "V1", 100, 300),
             ("V1X", "V1", "X", 100, 300), ("XV2", "X", "V2", 100, 300),
             ("V2B", "V2", "B", 100, 300), ("BC", "B", "C", 300, 150),
             ("AE", "A", "E", 200, 150), ("XD", "X", "D", 150, 150),
             ("AB", "A", "B", 1500, 100)]
    feats += [_water_pipe(*m, where) for m in mains]
    for name, a, b in extra_pipes:
        where.setdefault(a, (700, 50))
        where.setdefault(b, (800, 50))
        feats += [_water_node(n, *where[n]) for n in (a, b) if f"h:{n}" not in
                  {f.id for f in feats}]
        feats.append(_water_pipe(name, a, b, 100, 100, where))
    return feats
