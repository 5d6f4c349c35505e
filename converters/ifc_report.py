"""What an IFC import says about itself: schema, georeferencing, BIM/GIS links,
elements by class, which kernels built the geometry and what got none."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .report import Note, examples


def _km(metres: float) -> str:
    return f"{metres / 1000:,.0f} km" if metres >= 10_000 else f"{metres:,.1f} m"


def _crash_note(k: Mapping[str, Any], later: bool) -> Note:
    """Which kernel crashed, how, and on which elements."""
    n = int(k.get("crashed_on_count", 0))
    named = list(k.get("crashed_on", []))
    if n == 0:
        which = ("with several elements at work; one at a time it converted them all "
                 "without crashing")
    elif n == 1:
        which = f"on {named[0]}"
    else:
        which = f"on {n} elements ({', '.join(named[:3])}{' ...' if n > 3 else ''})"
    then = ("; the next kernel took " + ("it" if n == 1 else "them") + " over"
            if later and n else "")
    return Note(f"the {k['kernel']} kernel crashed ({k['crash']}) {which}{then}", "warn",
                depth=2)


def _georef_notes(geo: Mapping[str, Any]) -> list[Note]:
    """Where the model was put, and where the other sources in the file
    would have put it (the method itself is a common note)."""
    out: list[Note] = []
    xy = geo.get("twin_xy")
    if xy:
        out.append(Note(f"local origin at x {xy[0]:,.2f}, y {xy[1]:,.2f} in the twin", depth=2))
    for alt in geo.get("alternatives") or []:
        where = (f"x {alt['twin_xy'][0]:,.2f}, y {alt['twin_xy'][1]:,.2f}" if alt.get("twin_xy")
                 else "a point outside the twin CRS")
        far = alt.get("distance_m")
        level: Literal["warn", "info"] = "warn" if far is not None and far > 100 else "info"
        out.append(Note(f"not used: {alt['method']} -> {where}"
                        + (f", {_km(far)} away" if far is not None else ""), level, depth=2))
    return out


def summarise(src: Mapping[str, Any]) -> list[Note]:
    out: list[Note] = []
    if isinstance(src.get("georeferencing"), Mapping):
        out += _georef_notes(src["georeferencing"])
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
        out.append(Note(f"geometry: {geo['converted']} of {geo['requested']} elements; "
                        + ", ".join(
            f"{k['kernel']} {k['converted']}/{k['requested']} in {k['seconds']:.1f} s"
            + (" (crashed)" if k["crashed"] else "") for k in geo["kernels"])))
        for i, k in enumerate(geo["kernels"]):
            if k.get("crashed") and k.get("crash"):
                out.append(_crash_note(k, i + 1 < len(geo["kernels"])))
        missing = list(src.get("no_geometry", []))
        shown, more = examples(missing, src.get("no_geometry_count", len(missing)))
        for miss in shown:
            out.append(Note(f"no geometry {miss['id']} {miss['class']} {miss['name']!r}: "
                            f"{miss['reason']}", "warn", depth=2))
        if more:
            out.append(more)
    al = src.get("alignments")
    if al:
        out.append(Note(f"alignments: {al['curves']} curves (alignments and segments) on "
                        "road_centrelines" + (f", {al['failed']} without a curve" if al["failed"]
                                              else "")))
    if src.get("unclassified_network_elements"):
        out.append(Note(str(src["unclassified_network_elements"]), "warn"))
    return out
