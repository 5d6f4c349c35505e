"""The converter registry: file extension -> converter."""

from __future__ import annotations

from pathlib import Path

from twin.errors import ConversionError

from . import geojson, survey
from .base import ConverterSpec

_BUILTIN: tuple[ConverterSpec, ...] = (*geojson.CONVERTERS, *survey.CONVERTERS)


def formats() -> list[ConverterSpec]:
    """Every registered converter."""
    return list(_BUILTIN)


def converter_for(path: str | Path, format: str | None = None) -> ConverterSpec:
    """The converter for ``path`` (by extension) or for the named ``format``."""
    specs = formats()
    if format is not None:
        for spec in specs:
            if spec.name == format:
                return spec
        raise ConversionError(
            f"format {format!r} is not known, must be one of {', '.join(s.name for s in specs)}",
            source=str(path))
    name = Path(path).name.lower()
    for spec in specs:
        if any(name.endswith(ext) for ext in spec.extensions):
            return spec
    exts = sorted({e for s in specs for e in s.extensions})
    raise ConversionError(
        f"{path}: no converter for this file type; known extensions: {', '.join(exts)}",
        source=str(path))
