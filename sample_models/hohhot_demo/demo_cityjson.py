"""The demo district's buildings as CityJSON 2.0 (``generate.py`` writes
``buildings.city.json`` with it): an LoD1 block and an LoD2 solid with
ground, wall and roof surfaces per building."""

from __future__ import annotations

from typing import Any

import numpy as np


def box_solid(b: dict, top: float) -> tuple[list, list]:
    """Vertices and one outward-facing shell of a flat-topped block."""
    x, y, w, d, z0 = b["x"], b["y"], b["w"], b["d"], b["base"]
    corners = [(x, y), (x + w, y), (x + w, y + d), (x, y + d)]
    verts = [(px, py, z0) for px, py in corners] + [(px, py, top) for px, py in corners]
    shell = [[[0, 3, 2, 1]], [[4, 5, 6, 7]],
             [[0, 1, 5, 4]], [[1, 2, 6, 5]], [[2, 3, 7, 6]], [[3, 0, 4, 7]]]
    return verts, shell


def gable_solid(b: dict) -> tuple[list, list]:
    """A block with a gabled roof, ridge along its long (east-west) side."""
    x, y, w, d, z0 = b["x"], b["y"], b["w"], b["d"], b["base"]
    eave, ridge = z0 + b["eave"], z0 + b["height"]
    corners = [(x, y), (x + w, y), (x + w, y + d), (x, y + d)]
    verts = ([(px, py, z0) for px, py in corners] + [(px, py, eave) for px, py in corners]
             + [(x, y + d / 2, ridge), (x + w, y + d / 2, ridge)])
    shell = [[[0, 3, 2, 1]],                                  # ground
             [[0, 1, 5, 4]], [[2, 3, 7, 6]],                  # south and north walls
             [[1, 2, 6, 9, 5]], [[3, 0, 4, 8, 7]],            # gable ends
             [[4, 5, 9, 8]], [[6, 7, 8, 9]]]                  # roof planes
    return verts, shell


def cityjson_buildings(d: Any, crs_url: str) -> dict:
    """The buildings as CityJSON 2.0: each with an LoD1 block (the 3D BAG way:
    flat at mid-roof height) and an LoD2 solid with ground, wall and roof
    surfaces; quantised vertices (1 mm)."""
    scale = 0.001
    translate = [d.x0, d.y0, 1000.0]
    vertices: list[list[int]] = []
    objects = {}
    for b in d.city_buildings:
        geoms = []
        lod1_top = b["base"] + (b["eave"] + b["height"]) / 2
        lod2 = gable_solid(b) if b["roof"] == "gabled" else box_solid(
            b, b["base"] + b["height"])
        for lod, (verts, shell) in (("1", box_solid(b, lod1_top)), ("2", lod2)):
            first = len(vertices)
            vertices.extend([round((v[k] - translate[k]) / scale) for k in range(3)]
                            for v in verts)
            boundaries = [[[[first + i for i in ring] for ring in surface]
                           for surface in shell]]
            geom = {"type": "Solid", "lod": lod, "boundaries": boundaries}
            if lod == "2":
                n_walls = len(shell) - 1 - (2 if b["roof"] == "gabled" else 1)
                kinds = ["GroundSurface"] + (
                    ["WallSurface"] * n_walls + ["RoofSurface"] * 2 if b["roof"] == "gabled"
                    else ["RoofSurface"] + ["WallSurface"] * 4)
                geom["semantics"] = {
                    "surfaces": [{"type": "GroundSurface"}, {"type": "WallSurface"},
                                 {"type": "RoofSurface"}],
                    "values": [[{"GroundSurface": 0, "WallSurface": 1, "RoofSurface": 2}[k]
                                for k in kinds]]}
            geoms.append(geom)
        objects[b["id"]] = {"type": "Building", "attributes": b["attributes"],
                            "geometry": geoms}
    arr = np.array(vertices, dtype=np.int64) * scale + np.array(translate)
    extent = [round(float(v), 3) for v in (*arr.min(axis=0), *arr.max(axis=0))]
    return {
        "type": "CityJSON", "version": "2.0",
        "transform": {"scale": [scale] * 3, "translate": translate},
        "metadata": {
            "title": "Hohhot Xinhua district (synthetic demo): buildings",
            "referenceSystem": crs_url,
            "geographicalExtent": extent,
            "referenceDate": "2025-06-30",
            "pointOfContact": {"contactName": "Digital twin toolkit demo",
                               "emailAddress": "demo@example.org"},
        },
        "CityObjects": objects,
        "vertices": vertices,
    }
