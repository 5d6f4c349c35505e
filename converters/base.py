"""What every converter receives and gives back."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pyproj import CRS

from twin.model import Feature

from .report import Note, no_notes

#: Largest source file a converter reads whole into memory, in bytes.
MAX_FILE_BYTES = 2 * 1024**3


@dataclass
class ConversionContext:
    """Settings of one conversion.

    ``twin_crs`` is the target; ``source_crs`` overrides whatever the file
    says; ``options`` holds format-specific options (``layer``, ``id_prefix``,
    ...). ``skip(source_id, reason)`` records an element that is not imported;
    ``progress(done, total)`` reports progress (``total`` may be ``None``).
    ``report`` collects facts for the closing summary (CRS used, version, ...).
    """

    twin_crs: CRS
    source: Path
    source_crs: CRS | None = None
    options: dict[str, Any] = field(default_factory=dict)
    skip: Callable[[str, str], None] = lambda source_id, reason: None
    progress: Callable[[int, int | None], None] = lambda done, total: None
    report: dict[str, Any] = field(default_factory=dict)
    strict: bool = False
    #: ground height under ``(n, 2)`` plan points from the twin's terrain
    #: (``nan`` where there is none); ``None`` when the twin has no terrain
    ground: Callable[[np.ndarray], np.ndarray] | None = None
    #: the twin's buildings ``(id, footprint)`` around a footprint, for BIM/GIS
    #: conflation; ``None`` when converting without a twin
    buildings_near: Callable[[Any], list[tuple[str, Any]]] | None = None
    #: which of some feature ids the twin holds already: a converter with
    #: slow work ahead (IFC geometry) asks before it starts, to refuse a
    #: re-import at once; ``None`` when existing features are to be replaced
    #: (``--replace``) or there is no twin
    existing_ids: Callable[[Iterable[str]], set[str]] | None = None


class Converter(Protocol):
    """A converter: yields twin features from one source file."""

    name: str
    version: str
    format: str

    def __call__(self, ctx: ConversionContext) -> Iterator[Feature]: ...


@dataclass(frozen=True)
class ConverterSpec:
    name: str
    version: str
    format: str
    extensions: tuple[str, ...]
    run: Callable[[ConversionContext], Iterator[Feature]]
    description: str = ""
    #: tells, from the file's first bytes, whether it is this format (for
    #: extensions that several formats share, such as EPANET and SWMM ``.inp``)
    sniff: Callable[[bytes], bool] | None = None
    #: what this converter's report means, as summary lines (see
    #: :mod:`converters.report`); called with ``ConversionContext.report``
    summarise: Callable[[Mapping[str, Any]], list[Note]] = no_notes
