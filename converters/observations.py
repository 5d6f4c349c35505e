"""Meter exports (CSV, Parquet) into a twin's datastreams.

A meter reading system exports one row per reading: a time, a value, which
meter (datastream) and often a unit. :func:`read_observations` reads such a
file with pyarrow and maps its columns by a :class:`Mapping` (options, or a
TOML profile); :func:`import_observations` writes the readings into the
twin's datastreams in **one transaction**: all the file's readings land, or
none. Rows that cannot be used are skipped, counted and named in the report
(row number and reason): an empty or non-numeric value, an unknown
datastream, a unit that is not the datastream's.

Times: a time with an offset (``2024-05-01T08:00:00+08:00``, ``...Z``) is
taken as written; a time without one is in the zone given by ``timezone``
(an IANA name such as ``Asia/Shanghai``); a file that has times without an
offset and no zone given is refused as a whole (a meter's clock means
nothing without its zone). Parquet timestamp columns carry their zone or,
naive, take ``timezone`` the same way.

Units: the file's unit (a ``unit`` column, or the ``unit`` of the mapping
for the whole file) must be the datastream's ``unitOfMeasurement`` symbol
or name. Nothing is converted behind the user's back.

Profile (TOML)::

    [observations]
    time = "ReadingTime"
    value = "Reading"
    datastream = "MeterNo"   # a datastream id or name per row
    unit = "Unit"            # optional column
    timezone = "Asia/Shanghai"
"""

from __future__ import annotations

import sqlite3
import tomllib
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from twin.errors import ConversionError
from twin.sensors.foi import foi_of_location
from twin.sensors.model import ENTITY_SETS, to_ms
from twin.sensors.store import sensors_of
from twin.store.sqlstore import import_errors

#: Most rows read from one file (untrusted input is bounded).
MAX_ROWS = 50_000_000
#: Skipped rows named one by one in a report (all are counted).
MAX_NAMED = 100
FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class Mapping:
    """Which column holds what. ``datastream_column`` or ``datastream`` (one
    datastream, id or name, for the whole file); ``unit_column`` or ``unit``
    (the whole file's unit), or neither (the datastream's unit is assumed)."""

    time: str = "time"
    value: str = "value"
    datastream_column: str | None = None
    datastream: str | None = None
    unit_column: str | None = None
    unit: str | None = None
    timezone: str | None = None


def load_profile(path: str | Path) -> Mapping:
    """A :class:`Mapping` from the ``[observations]`` table of a TOML file."""
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConversionError(f"observations profile {path}: cannot be read: {exc}",
                              source=str(path)) from None
    table = doc.get("observations")
    if not isinstance(table, dict):
        raise ConversionError(f"observations profile {path}: no [observations] table",
                              source=str(path))
    known = {"time": "time", "value": "value", "datastream": "datastream_column",
             "unit": "unit_column", "timezone": "timezone"}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConversionError(f"observations profile {path}: unknown keys {unknown}; valid "
                              f"keys are {', '.join(known)}", source=str(path))
    if not all(isinstance(v, str) for v in table.values()):
        raise ConversionError(f"observations profile {path}: every value must be text",
                              source=str(path))
    return Mapping(**{known[k]: v for k, v in table.items()})


def merge(base: Mapping, **options: Any) -> Mapping:
    """``base`` with the options that were given (not ``None``) on top."""
    return replace(base, **{k: v for k, v in options.items() if v is not None})


def _zone(name: str | None, source: str) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConversionError(f"{source}: time zone {name!r} is unknown; give an IANA name "
                              "such as Asia/Shanghai or UTC", source=source) from None


def _read_table(path: Path, fmt: str, m: Mapping) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    wanted = [c for c in (m.time, m.value, m.datastream_column, m.unit_column) if c]
    try:
        if fmt == "parquet":
            meta = pq.read_metadata(path)
            if meta.num_rows > MAX_ROWS:
                raise ConversionError(f"{path}: {meta.num_rows} rows, more than {MAX_ROWS}",
                                      source=str(path))
            names = meta.schema.names
            missing = [c for c in wanted if c not in names]
            if missing:
                raise ConversionError(f"{path}: no column {missing[0]!r}; the file has "
                                      f"{', '.join(names)}", source=str(path))
            return pq.read_table(path, columns=wanted)
        # CSV: every column as text, parsed below row by row with its row named
        header = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)
                                ).schema.names
        missing = [c for c in wanted if c not in header]
        if missing:
            raise ConversionError(f"{path}: no column {missing[0]!r}; the header has "
                                  f"{', '.join(header)}", source=str(path))
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            include_columns=wanted, column_types={c: pa.string() for c in wanted},
            strings_can_be_null=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise ConversionError(f"{path}: cannot be read as {fmt.upper()}: {exc}",
                              source=str(path)) from None


def _times(col: Any, zone: ZoneInfo | None, source: str, name: str
           ) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Milliseconds since 1970 UTC per row (0 where unusable) and the rows skipped."""
    import pyarrow as pa

    n = len(col)
    out = np.zeros(n, dtype=np.int64)
    bad: list[tuple[int, str]] = []
    if pa.types.is_timestamp(col.type):
        if col.type.tz is None:
            if zone is None:
                raise ConversionError(f"{source}: column {name!r} holds times without a zone; "
                                      "give the zone of the meters' clocks (--timezone)",
                                      source=source)
            values = [None if v is None else v.replace(tzinfo=zone) for v in col.to_pylist()]
        else:
            values = col.to_pylist()
        for i, v in enumerate(values):
            if v is None:
                bad.append((i, f"no {name}"))
            else:
                out[i] = to_ms(v)
        return out, bad
    for i, text in enumerate(col.cast(pa.string()).to_pylist()):
        if text is None or not text.strip():
            bad.append((i, f"no {name}"))
            continue
        try:
            dt = datetime.fromisoformat(text.strip())
        except ValueError:
            bad.append((i, f"{name} {text!r} is not an ISO 8601 time"))
            continue
        if dt.tzinfo is None:
            if zone is None:
                raise ConversionError(
                    f"{source}: row {i + 2}: time {text!r} has no offset and no time zone was "
                    "given; give the zone of the meters' clocks (--timezone Asia/Shanghai) "
                    "or write times with their offset", source=source)
            dt = dt.replace(tzinfo=zone)
        out[i] = to_ms(dt)
    return out, bad


def _values(col: Any, name: str) -> tuple[np.ndarray, list[tuple[int, str]]]:
    import pyarrow as pa

    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        raw = col.to_pylist()
        v = np.array([np.nan if x is None else x for x in raw], dtype=np.float64)
        return v, [(i, f"no {name}" if raw[i] is None else f"{name} is not finite")
                   for i in np.flatnonzero(~np.isfinite(v)).tolist()]
    v = np.full(len(col), np.nan)
    bad: list[tuple[int, str]] = []
    for i, text in enumerate(col.cast(pa.string()).to_pylist()):
        try:
            x = float(text) if text is not None and text.strip() else None
        except ValueError:
            x = None
        if x is None or not np.isfinite(x):
            bad.append((i, f"no {name}" if text is None or not text.strip() else
                        f"{name} {text!r} is not a number"))
        else:
            v[i] = x
    return v, bad


@dataclass
class ObservationTable:
    """What a file holds, mapped: per row its time (ms), value, datastream
    key (id or name, as text) and unit, and the rows already found unusable
    (index, reason)."""

    times: np.ndarray
    values: np.ndarray
    datastreams: list[str]
    units: list[str | None]
    skipped: list[tuple[int, str]]


def read_observations(path: str | Path, mapping: Mapping, fmt: str | None = None
                      ) -> ObservationTable:
    """Read and map a CSV or Parquet file (format by ``fmt`` or extension)."""
    p = Path(path)
    fmt = (fmt or p.suffix.lstrip(".")).lower()
    if fmt == "pq":
        fmt = "parquet"
    if fmt not in FORMATS:
        raise ConversionError(f"{p}: format {fmt!r} is not known, must be one of "
                              f"{', '.join(FORMATS)}", source=str(p))
    if (mapping.datastream_column is None) == (mapping.datastream is None):
        raise ConversionError(f"{p}: name the datastream column or the one datastream of the "
                              "file (one of the two)", source=str(p))
    zone = _zone(mapping.timezone, str(p))
    table = _read_table(p, fmt, mapping)
    if table.num_rows > MAX_ROWS:
        raise ConversionError(f"{p}: {table.num_rows} rows, more than {MAX_ROWS}",
                              source=str(p))
    times, bad_t = _times(table.column(mapping.time).combine_chunks(), zone, str(p),
                          "time")
    values, bad_v = _values(table.column(mapping.value).combine_chunks(), "value")
    n = table.num_rows
    if mapping.datastream_column:
        ds = [None if x is None else str(x).strip()
              for x in table.column(mapping.datastream_column).to_pylist()]
    else:
        ds = [mapping.datastream] * n
    units = ([None if x is None else str(x).strip()
              for x in table.column(mapping.unit_column).to_pylist()]
             if mapping.unit_column else [mapping.unit] * n)
    skipped: dict[int, str] = {}
    for i, reason in bad_t + bad_v + [(i, "no datastream") for i, d in enumerate(ds) if not d]:
        skipped.setdefault(i, reason)
    return ObservationTable(times, values, [d or "" for d in ds], units,
                            sorted(skipped.items()))


def _datastreams(sensors: Any) -> tuple[dict[str, int], dict[int, set[str]]]:
    """Datastream keys (id and name) -> id, and each id's accepted unit labels."""
    rows = sensors.select(ENTITY_SETS["Datastreams"])
    keys: dict[str, int] = {}
    names: dict[str, list[int]] = {}
    units: dict[int, set[str]] = {}
    for r in rows:
        keys[str(r["id"])] = r["id"]
        names.setdefault(r["name"], []).append(r["id"])
        u = r["unit"] or {}
        units[r["id"]] = {str(u[k]).strip() for k in ("symbol", "name") if u.get(k)}
    for name, ids in names.items():
        if len(ids) == 1:
            keys.setdefault(name, ids[0])
    return keys, units


def _first_row(path: str | Path, fmt: str | None) -> int:
    """The row number of a file's first record (a CSV's header is row 1)."""
    return 2 if (fmt or Path(path).suffix.lstrip(".")).lower() == "csv" else 1


def import_observations(store: Any, path: str | Path, mapping: Mapping, fmt: str | None = None
                        ) -> dict[str, Any]:
    """Import a meter export into the twin's datastreams, one transaction.

    Returns the report: ``observations`` written, per-datastream counts,
    ``skipped`` (count) and ``skipped_rows`` (the first ones, with the file's
    row number: the header is row 1 in a CSV, the first record row 1 in a
    Parquet file). Raises :class:`~twin.errors.ImportFailedError` (the twin
    unchanged) when the file cannot be used at all."""
    source = str(path)
    db_errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
    if getattr(store, "psycopg", None) is not None:
        db_errors += (store.psycopg.Error,)
    with import_errors(source, db_errors):
        table = read_observations(path, mapping, fmt)
        sensors = sensors_of(store)
        keys, units = _datastreams(sensors)
        skipped = dict(table.skipped)
        ids = np.full(len(table.times), -1, dtype=np.int64)
        for i, (key, unit) in enumerate(zip(table.datastreams, table.units)):
            if i in skipped:
                continue
            ds = keys.get(key)
            if ds is None:
                skipped[i] = f"unknown datastream {key!r}"
            elif unit is not None and units[ds] and unit not in units[ds]:
                skipped[i] = (f"unit {unit!r} is not the unit of datastream {key!r} "
                              f"({' / '.join(sorted(units[ds]))})")
            else:
                ids[i] = ds
        if len(ids) and not (ids >= 0).any():
            i, reason = min(skipped.items())
            raise ConversionError(f"{source}: every row was skipped ({len(skipped)}), the "
                                  f"first, row {i + _first_row(path, fmt)}: {reason}",
                                  source=source)
        counts: dict[int, int] = {}
        fois: dict[int, int | None] = {}
        with sensors.writing() as w:
            for ds in np.unique(ids[ids >= 0]).tolist():
                sel = ids == ds
                # each Observation has a FeatureOfInterest: the one made from its
                # Thing's Location (twin.sensors.foi), as the API gives one
                counts[ds] = w.add_observations(ds, table.times[sel], table.values[sel],
                                                foi_id=foi_of_location(w, ds, fois))
    first = _first_row(path, fmt)
    named = sorted(skipped.items())[:MAX_NAMED]
    return {"source": source, "rows": len(table.times), "observations": sum(counts.values()),
            "datastreams": {str(k): v for k, v in counts.items()},
            "features_of_interest": {str(k): v for k, v in fois.items()},
            "without_feature_of_interest": sum(counts[k] for k, v in fois.items() if v is None),
            "skipped": len(skipped),
            "skipped_rows": [{"row": i + first, "reason": r} for i, r in named]}
