"""Reading a CityJSON file or CityJSONSeq: the JSON itself and what its
header says about every object.

* :func:`parse_json` parses with orjson (``json`` reads what orjson
  refuses); :func:`load_json` refuses files that are no CityJSON, naming
  them; :func:`seq_lines` streams a CityJSONSeq line by line.
* :class:`Model` holds what the file (or the CityJSONSeq header) says of all
  its objects: the version, the ``transform`` that turns integer vertices
  into coordinates (required by 1.1 and 2.0: without it a millimetre model
  would be read 1,000 times too large, so the file is refused), the CRS and
  how to reach the twin's, and the geometry templates.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from pyproj import CRS

from twin.collector import COLLECTOR
from twin.crs import parse_crs, transform_xyz
from twin.errors import ConversionError

from .base import MAX_FILE_BYTES, ConversionContext
from .cityjson_structure import GeometryUnreadable


def parse_json(data: bytes | str) -> Any:
    """JSON text parsed by orjson (a third of ``json``'s time on a city
    model); text orjson refuses goes through ``json`` again, so that what
    is read, and how an error is worded, stay those of the standard parser
    (which also takes ``NaN`` and integers beyond 64 bits)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def load_json(path: Path) -> dict:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConversionError(f"{path}: larger than {MAX_FILE_BYTES} bytes; split it or "
                              "convert it to CityJSONSeq (cjio export jsonl)", str(path))
    try:
        doc = parse_json(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConversionError(f"{path}: not valid JSON: {exc}", str(path)) from None
    if not isinstance(doc, dict) or doc.get("type") != "CityJSON":
        raise ConversionError(f"{path}: not a CityJSON file (no \"type\": \"CityJSON\")",
                              str(path))
    return doc


class OutsideGc:
    """A parsed document kept out of the cycle collector's passes
    (:mod:`twin.collector`).

    Off while the document is parsed; then, from :meth:`parsed` to the end of
    the block, everything alive is frozen: conversion no longer pays for
    walks over the document (10 to 15% of its time)."""

    def __enter__(self) -> OutsideGc:
        COLLECTOR.hold()
        COLLECTOR.pause()
        self.paused = True
        return self

    def parsed(self) -> None:
        COLLECTOR.freeze()
        if self.paused:
            COLLECTOR.resume()
            self.paused = False

    def __exit__(self, *exc: object) -> None:
        if self.paused:
            COLLECTOR.resume()
        COLLECTOR.release()


def seq_lines(path: Path) -> Generator[tuple[int, Any], None, None]:
    """``(line number, parsed value)`` of each line that is not blank. Each
    line is parsed with the cycle collector off and then frozen
    (:mod:`twin.collector`), until the generator ends: the lines a chunk
    gathers, and the features made of them, are not walked again by every
    pass (12 to 15% of a 3D BAG CityJSONSeq's import)."""
    COLLECTOR.hold()
    try:
        with open(path, "rb") as fh:  # orjson reads bytes (and checks they are UTF-8)
            for no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                COLLECTOR.pause()
                try:
                    value = parse_json(line)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise ConversionError(f"{path}: line {no} is not valid JSON (UTF-8): "
                                          f"{exc}", str(path)) from None
                finally:
                    COLLECTOR.freeze()
                    COLLECTOR.resume()
                yield no, value
    finally:
        COLLECTOR.release()


# -- the file ------------------------------------------------------------------
class Model:
    """What a file (or a CityJSONSeq header) says about all of its objects."""

    def __init__(self, header: dict, ctx: ConversionContext, path: Path,
                 what: str = "the file"):
        self.path = path
        self.version = str(header.get("version", "?"))
        if self.version not in ("1.0", "1.1", "2.0"):
            raise ConversionError(
                f"{path}: CityJSON version {self.version!r} is not supported; this converter "
                "reads 1.0, 1.1 and 2.0", str(path))
        self.scale, self.translate = _transform(header, self.version, path, what)
        meta = header.get("metadata") or {}
        if not isinstance(meta, dict):
            raise ConversionError(f"{path}: \"metadata\" of {what} must be a JSON object",
                                  str(path))
        self.crs = self._crs(meta, ctx)
        self.twin_crs = ctx.twin_crs
        # a compound CRS (RD New + NAP) over the twin's own plan CRS: heights are
        # already in the file's vertical datum, the plan needs no transformation
        plan = self.crs.sub_crs_list[0] if self.crs.is_compound else self.crs
        twin_plan = ctx.twin_crs.sub_crs_list[0] if ctx.twin_crs.is_compound else ctx.twin_crs
        self._same_plan = plan == twin_plan
        self.templates, self.template_vertices = _templates(header, path)
        self.prefix = ctx.options.get("id_prefix") or "cityjson"
        ctx.report["cityjson_version"] = self.version
        ctx.report["metadata"] = {k: v for k, v in meta.items()
                                  if k in ("title", "identifier", "referenceDate",
                                           "datasetTitle", "referenceSystem",
                                           "pointOfContact", "datasetReferenceDate")}
        if header.get("extensions"):
            ctx.report["extensions"] = sorted(header["extensions"])
        extra_root = sorted(k for k in header if k.startswith("+"))
        if extra_root:
            ctx.report["extension_root_properties"] = extra_root

    def _crs(self, meta: dict, ctx: ConversionContext) -> CRS:
        if ctx.source_crs is not None:
            ctx.report["crs_from"] = "option"
            return ctx.source_crs
        ref = meta.get("referenceSystem")
        if ref is None and isinstance(meta.get("crs"), dict):  # pre-1.0 {"crs": {"epsg": N}}
            ref = meta["crs"].get("epsg")
        if ref is None:
            raise ConversionError(
                f"{self.path}: the file names no CRS (metadata.referenceSystem); give the "
                "CRS of its coordinates with --crs", str(self.path))
        ctx.report["crs_from"] = "metadata.referenceSystem"
        return parse_crs(str(ref) if not isinstance(ref, int) else f"EPSG:{ref}",
                         what=f"{self.path}: referenceSystem")

    def source_vertices(self, raw: Any, where: str) -> np.ndarray:
        """``vertices`` dequantised, in the file's CRS."""
        try:
            v = np.asarray(raw if raw is not None else [], dtype=np.float64)
        except (TypeError, ValueError):
            v = None
        if v is None or not (v.ndim == 2 and v.shape[1] == 3 or v.size == 0):
            raise ConversionError(f"{where}: \"vertices\" must be a list of [x, y, z] numbers",
                                  str(self.path))
        return v.reshape(-1, 3) * self.scale + self.translate

    def instance(self, geom: dict, source: np.ndarray, vbase: int, vcount: int
                 ) -> tuple[dict, np.ndarray]:
        """A GeometryInstance as its template's geometry over world vertices
        (twin CRS): the template's vertices through the instance's 4x4
        ``transformationMatrix``, moved to its reference vertex (``source``
        from ``vbase``, ``vcount`` of them)."""
        if not self.templates:
            raise GeometryUnreadable("a GeometryInstance, but the file has no geometry-templates")
        tpl = self.templates["templates"][geom["template"]]
        m = np.asarray(geom["transformationMatrix"], float).reshape(4, 4)
        ref_index = geom["boundaries"][0]
        if not isinstance(ref_index, int) or not 0 <= ref_index < vcount:
            raise GeometryUnreadable(f"reference vertex {ref_index!r} out of range (the file "
                                     f"has {vcount} vertices)")
        tv = self.template_vertices
        world = (np.column_stack([tv, np.ones(len(tv))]) @ m.T)[:, :3] + source[vbase + ref_index]
        return tpl, self.reproject(world)

    def reproject(self, v: np.ndarray) -> np.ndarray:
        if len(v) == 0 or self.crs == self.twin_crs or self._same_plan:
            return v
        return transform_xyz(self.crs, self.twin_crs, v, source=str(self.path))


def _transform(header: dict, version: str, path: Path, what: str
               ) -> tuple[np.ndarray, np.ndarray]:
    """``transform.scale`` and ``translate`` of a file or CityJSONSeq header:
    vertices are integers times the scale plus the translation. CityJSON 1.1
    and 2.0 require them (without, the vertices' unit is unknown: millimetre
    integers read as metres put a model 1,000 times too large); 1.0 files
    may store real coordinates without."""
    tr = header.get("transform")
    if tr is None:
        if version == "1.0":
            return np.ones(3), np.zeros(3)
        raise ConversionError(
            f"{path}: not valid CityJSON {version}: {what} has no \"transform\", which "
            f"CityJSON {version} requires (the scale and translation of the integer "
            "vertices); without it the coordinates are unknown", str(path))
    parts = []
    for key in ("scale", "translate"):
        v = tr.get(key) if isinstance(tr, dict) else None
        ok = isinstance(v, list) and len(v) == 3 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        arr = np.asarray(v, float) if ok else None
        if arr is None or not np.isfinite(arr).all() or (key == "scale" and (arr <= 0).any()):
            raise ConversionError(
                f"{path}: \"transform.{key}\" of {what} must be three finite numbers"
                f"{' above zero' if key == 'scale' else ''}, not {v!r:.80}", str(path))
        parts.append(arr)
    return parts[0], parts[1]


def _templates(header: dict, path: Path) -> tuple[dict | None, np.ndarray]:
    """The file's ``geometry-templates`` and their vertices ``(n, 3)``."""
    tpl = header.get("geometry-templates")
    if tpl is None:
        return None, np.zeros((0, 3))
    if not isinstance(tpl, dict) or not isinstance(tpl.get("templates"), list):
        raise ConversionError(f"{path}: \"geometry-templates\" must be an object with a "
                              "\"templates\" list", str(path))
    try:
        v = np.asarray(tpl.get("vertices-templates", []), dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        v = None
    if v is not None and v.size == 0:
        v = v.reshape(0, 3)
    if v is None or v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
        raise ConversionError(f"{path}: \"geometry-templates.vertices-templates\" must be a "
                              "list of [x, y, z] numbers", str(path))
    return tpl, v
