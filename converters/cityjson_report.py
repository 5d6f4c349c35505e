"""What a CityJSON import says about itself: the schema verdict, the
triangulation, geometries left out (a second geometry of the same LoD,
unknown types, lines on a layer of areas), and what the twin does not keep
(appearances, extensions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .cityjson_geometry import SAME_LOD
from .report import Note, examples


def summarise(src: Mapping[str, Any]) -> list[Note]:
    out: list[Note] = []
    version = src.get("cityjson_version")
    if not version:
        return out
    schema = src.get("schema")
    if isinstance(schema, list) and schema:
        out.append(Note(f"CityJSON {version}: {len(schema)} schema error(s)"
                        f"{' (first 20)' if len(schema) >= 20 else ''}, e.g. {schema[0]}",
                        "warn"))
    elif schema:
        out.append(Note(f"CityJSON {version}: schema {schema}"))
    tri = src.get("triangulation") or {}
    if tri:
        issues = [f"{tri[k]} {k.replace('_', ' ')}" for k in
                  ("degenerate_rings", "degenerate_polygons", "non_planar") if tri.get(k)]
        text = (f"triangulated {tri['polygons']} polygons into {tri['triangles']} triangles"
                + (f" ({tri['holes']} holes)" if tri.get("holes") else ""))
        if issues:
            out.append(Note(f"{text}; {', '.join(issues)} (twin batches --json for examples)",
                            "warn"))
        else:
            out.append(Note(text))
    left = src.get("geometries_left_out")
    if left:
        reasons = "; ".join(f"{n} {why}" for why, n in sorted(left["by_reason"].items()))
        rule = ("; of several geometries of one object and LoD the twin keeps one: the one "
                "with semantic surfaces, else the one with more surfaces, else the first"
                if SAME_LOD in left["by_reason"] else "")
        out.append(Note(f"{left['count']} geometries left out ({reasons}){rule}", "warn"))
        shown, more = examples(list(left.get("examples", [])), left["count"])
        out += [Note(str(e), depth=2) for e in shown]
        if more:
            out.append(more)
    if src.get("objects_without_geometry"):
        out.append(Note(f"{src['objects_without_geometry']} objects without geometry"))
    app = src.get("appearance_not_imported")
    if app:
        out.append(Note(f"appearance not imported: {app['materials']} materials, "
                        f"{app['textures']} textures on {app['geometries_with_appearance']} "
                        "geometries (layers are coloured by the catalogue)", "warn"))
    if src.get("extensions"):
        out.append(Note(f"extensions: {', '.join(src['extensions'])}"))
    return out
