"""The converter registry: file extension -> converter."""

from __future__ import annotations

from pathlib import Path

from twin.errors import ConversionError

from . import cityjson, epanet, geojson, ifc, landxml, survey, swmm
from .base import ConverterSpec

_BUILTIN: tuple[ConverterSpec, ...] = (*geojson.CONVERTERS, *survey.CONVERTERS,
                                       *epanet.CONVERTERS, *landxml.CONVERTERS,
                                       *swmm.CONVERTERS, *cityjson.CONVERTERS,
                                       *ifc.CONVERTERS)


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
