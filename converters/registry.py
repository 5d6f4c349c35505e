"""The converter registry: file extension and content -> converter.

Most formats are known by their extension. Some extensions are shared and the
content decides:

* ``.inp``: EPANET or SWMM, by the sections the file has;
* ``.xml``: LandXML by its root element;
* GIS files (``.shp``, ``.gpkg``, ``.fgb``, ...): a layer of **lines** is a
  utility's pipe layer (:mod:`converters.gis_lines`); a table of points, or
  a line table imported with its point table (``--points``), is a pipeline
  survey (:mod:`converters.survey`);
* ``.geojson``: the GeoJSON converter, unless it is a survey table (with
  ``--points``) or a field mapping is given for a line layer (``--field``,
  or ``--profile`` for a file of lines).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from twin.errors import ConversionError

from . import cityjson, epanet, geojson, gis_lines, ifc, landxml, survey, swmm
from .base import ConverterSpec

_BUILTIN: tuple[ConverterSpec, ...] = (*geojson.CONVERTERS, *survey.CONVERTERS,
                                       *epanet.CONVERTERS, *landxml.CONVERTERS,
                                       *swmm.CONVERTERS, *cityjson.CONVERTERS,
                                       *ifc.CONVERTERS, *gis_lines.CONVERTERS)


def formats() -> list[ConverterSpec]:
    """Every registered converter."""
    return list(_BUILTIN)


def _by_content(path: Path, options: Mapping[str, Any]) -> str | None:
    """The converter name for GIS files whose extension does not decide."""
    name = path.name.lower()
    if options.get("points"):
        return survey.NAME if name.endswith((*survey.GIS_TABLES, ".csv")) else None
    if name.endswith((".geojson", ".geo.json")):
        if options.get("fields") or (options.get("profile") and gis_lines.line_layers(path)):
            return gis_lines.NAME
        if options.get("profile"):
            return survey.NAME  # a survey point table as GeoJSON
        return None
    if name.endswith(gis_lines.CONVERTERS[0].extensions):
        return gis_lines.NAME if gis_lines.line_layers(path) else survey.NAME
    return None


def converter_for(path: str | Path, format: str | None = None,
                  options: Mapping[str, Any] | None = None) -> ConverterSpec:
    """The converter for ``path`` (by extension and content, see the module
    docstring) or for the named ``format``; ``options`` are the import's
    options (``points``, ``fields``, ``profile`` take part in the choice)."""
    specs = formats()
    if format is None and Path(path).is_file():
        format = _by_content(Path(path), options or {})
    if format is not None:
        for spec in specs:
            if spec.name == format:
                return spec
        raise ConversionError(
            f"format {format!r} is not known, must be one of {', '.join(s.name for s in specs)}",
            source=str(path))
    name = Path(path).name.lower()
    matches = [spec for spec in specs if any(name.endswith(ext) for ext in spec.extensions)]
    if len(matches) == 1 and matches[0].sniff is None:
        return matches[0]
    if matches:
        try:
            with open(path, "rb") as fh:
                head = fh.read(65536)
        except OSError as exc:
            raise ConversionError(f"{path}: cannot be read: {exc}", source=str(path)) from None
        for spec in matches:
            if spec.sniff is None or spec.sniff(head):
                return spec
        raise ConversionError(
            f"{path}: not recognised as any of {', '.join(s.format for s in matches)}",
            source=str(path))
    exts = sorted({e for s in specs for e in s.extensions})
    raise ConversionError(
        f"{path}: no converter for this file type; known extensions: {', '.join(exts)}",
        source=str(path))
