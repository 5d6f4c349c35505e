"""What an IFC import says about itself: schema, georeferencing, BIM/GIS links,
elements by class, which kernels built the geometry and what got none."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .report import Note, examples


def summarise(src: Mapping[str, Any]) -> list[Note]:
    out: list[Note] = []
    if src.get("schema_note"):
        out.append(Note(str(src["schema_note"]), "warn"))
    for c in src.get("conflation", []):
        if c["gis"]:
            gis = ", ".join(c["gis"][:5]) + (" ..." if len(c["gis"]) > 5 else "")
            out.append(Note(
                f"linked {c['bim']} ({c['name']}) to GIS building(s) {gis} (footprint overlap "
                f"IoU {c['iou']:.2f}); the map shows the BIM model (twin conflate --show gis "
                "to change)", "ok"))
        else:
            parts = ", ".join(f"{g} ({100 * share:.0f}% of it)" for g, share in c["partial"][:5])
            out.append(Note(f"not linked {c['bim']}: it overlaps {parts} too little to be the "
                            "same building", "warn"))
    if src.get("elements_by_class"):
        out.append(Note("elements by class: " + ", ".join(
            f"{k} {v}" for k, v in src["elements_by_class"].items())))
    geo = src.get("geometry")
    if geo:
        out.append(Note(f"geometry: {geo['converted']} of {geo['requested']} elements; " + ", ".join(
            f"{k['kernel']} {k['converted']}/{k['requested']} in {k['seconds']:.1f} s"
            + (" (crashed)" if k["crashed"] else "") for k in geo["kernels"])))
        missing = list(src.get("no_geometry", []))
        shown, more = examples(missing, src.get("no_geometry_count", len(missing)))
        for miss in shown:
            out.append(Note(f"no geometry {miss['id']} {miss['class']} {miss['name']!r}: "
                            f"{miss['reason']}", "warn", depth=2))
        if more:
            out.append(more)
    if src.get("unclassified_network_elements"):
        out.append(Note(str(src["unclassified_network_elements"]), "warn"))
    return out
