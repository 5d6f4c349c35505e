"""A new twin file: the GeoPackage tables, the twin's own tables, the
spatial reference systems, the standard layers and their QGIS styles, in one
transaction (a failed creation leaves no file behind).

An empty twin is the same file for every twin of one toolkit version and
CRS but for its ``twin_meta`` rows (creation time, vertical datum, origin)
and the layers' ``last_change``: about 400 statements that every test, CLI
call and import would run again. The first creation in a CRS keeps that file
as a template in the cache folder (:func:`twin.cache.cache_dir`), keyed by
everything its content depends on (the statements, the SRS rows, the
standard layers, this package's code, SQLite's version); later creations
copy it and write their own ``twin_meta`` and times. The result dumps
(``sqlite3 .dump``) exactly as a twin built statement by statement."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

from pyproj import CRS

from ... import __version__
from ...cache import cache_dir
from ...crs import identify, parse_crs, require_projected_metric, vertical_datum_of
from ...errors import StoreError
from ...layers import STANDARD_LAYERS
from ..meta import check_origin, new_meta, srs_id_of
from . import qgis
from .schema import (
    FORMAT_NAME,
    GPKG_APPLICATION_ID,
    GPKG_USER_VERSION,
    insert_layer,
    schema_statements,
)

_SIDE_FILES = ("", "-wal", "-shm")


def create_file(
    path: str | os.PathLike, crs: Any, *, vertical_datum: str | None = None,
    origin: tuple[float, float, float] | None = None, overwrite: bool = False,
) -> Path:
    """Write an empty twin file at ``path`` in ``crs`` (a projected, metric
    CRS, perhaps compound with a vertical datum); returns its path. An
    existing file is an error unless ``overwrite``."""
    full = parse_crs(crs, what="twin CRS")
    horizontal = require_projected_metric(full)
    vdatum = vertical_datum or vertical_datum_of(full) or "unspecified"
    p = Path(path)
    if p.exists():
        if not overwrite:
            raise StoreError(f"{p} already exists; pass overwrite=True (--force) to replace it")
        for suffix in ("", "-wal", "-shm", "-board", "-board-wal", "-board-shm"):
            Path(str(p) + suffix).unlink(missing_ok=True)
    origin = check_origin(origin)
    ident = identify(horizontal)
    srs_id = srs_id_of(ident)
    srs_rows = [
        ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian"),
        ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic"),
        ("WGS 84 geodetic", 4326, "EPSG", 4326, _wgs84_wkt(),
         "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid"),
    ]
    if srs_id != 4326:
        srs_rows.append((ident.name, srs_id, ident.organization,
                         ident.code if ident.code else srs_id, ident.wkt, "twin CRS"))
    meta = new_meta(FORMAT_NAME, horizontal, srs_id, vdatum, origin)
    meta["next_fid"] = "1"
    template = _template(srs_rows, srs_id)
    if template is not None and _from_template(template, p, meta):
        return p
    try:
        conn = sqlite3.connect(str(p), isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot create {p}: {exc}") from None
    try:
        _build(conn, srs_rows, srs_id, meta)
    except BaseException:
        conn.close()
        _remove(p)
        raise
    conn.close()
    return p


_WGS84_WKT: list[str] = []


def _wgs84_wkt() -> str:
    if not _WGS84_WKT:
        _WGS84_WKT.append(CRS.from_epsg(4326).to_wkt())
    return _WGS84_WKT[0]


def _remove(p: Path) -> None:
    for suffix in _SIDE_FILES:
        Path(str(p) + suffix).unlink(missing_ok=True)


def _build(conn: sqlite3.Connection, srs_rows: list[tuple], srs_id: int,
           meta: dict[str, str | None] | None) -> None:
    """Every statement of an empty twin, in one transaction; ``meta`` the
    ``twin_meta`` rows (``None`` for a template: none)."""
    conn.execute(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {GPKG_USER_VERSION}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    for stmt in schema_statements():
        conn.execute(stmt)
    conn.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)", srs_rows)
    if meta is not None:
        conn.executemany("INSERT INTO twin_meta VALUES (?, ?)", list(meta.items()))
    # registering one attributes table also stops GDAL from listing the
    # store's private tables as layers; GIS users see the import history
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
        "VALUES ('twin_batches', 'attributes', 'twin_batches', 'Import batches')")
    qgis.ensure_tables(conn)
    for pos, layer in enumerate(STANDARD_LAYERS):
        insert_layer(conn, layer, pos, srs_id)
        qgis.register_layer(conn, layer)
    conn.execute("COMMIT")


def _template(srs_rows: list[tuple], srs_id: int) -> Path | None:
    """The cached empty twin (no ``twin_meta`` rows) for these SRS rows, made
    now if missing; ``None`` where there is no cache folder or it cannot be
    written."""
    where = cache_dir()
    if where is None:
        return None
    here = Path(__file__).resolve().parent
    code = b"".join((here / name).read_bytes() for name in ("create.py", "schema.py", "qgis.py"))
    key = hashlib.sha256(json.dumps(
        [__version__, sqlite3.sqlite_version, schema_statements(), srs_rows, srs_id,
         repr(STANDARD_LAYERS), GPKG_APPLICATION_ID, GPKG_USER_VERSION,
         hashlib.sha256(code).hexdigest()], default=str).encode()).hexdigest()[:40]
    path = where / f"twin-template-{key}.gpkg"
    if path.is_file():
        return path
    # one name per process and thread: a server creating twins in two threads
    tmp = where / f"twin-template-{key}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        _remove(tmp)
        conn = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            _build(conn, srs_rows, srs_id, None)
        finally:
            conn.close()  # checkpoints the WAL into the file
        if any(Path(str(tmp) + s).exists() for s in _SIDE_FILES[1:]):
            return None  # not checkpointed (another process held it): do not keep
        os.replace(tmp, path)  # whole or not at all, whoever writes at the same time
    except (OSError, sqlite3.Error):
        return None
    finally:
        _remove(tmp)
    return path


def _from_template(template: Path, p: Path, meta: dict[str, str | None]) -> bool:
    """Copy ``template`` to ``p`` and write its own ``twin_meta`` and times;
    ``False`` (and no file at ``p``) where that fails, for a creation
    statement by statement."""
    try:
        shutil.copyfile(template, p)
    except OSError:
        _remove(p)
        return False
    try:
        conn = sqlite3.connect(str(p), isolation_level=None)
        try:
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO twin_meta VALUES (?, ?)", list(meta.items()))
            conn.execute("UPDATE gpkg_contents SET "
                         "last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now')")
            conn.execute("COMMIT")
        finally:
            conn.close()
    except sqlite3.Error:  # a damaged template: built afresh
        _remove(p)
        return False
    except BaseException:
        _remove(p)
        raise
    return True
