"""A new twin file: the GeoPackage tables, the twin's own tables, the
spatial reference systems, the standard layers and their QGIS styles, in one
transaction (a failed creation leaves no file behind)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from pyproj import CRS

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
    try:
        conn = sqlite3.connect(str(p), isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot create {p}: {exc}") from None
    try:
        conn.execute(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {GPKG_USER_VERSION}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN")
        for stmt in schema_statements():
            conn.execute(stmt)
        srs_rows = [
            ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian"),
            ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic"),
            ("WGS 84 geodetic", 4326, "EPSG", 4326, CRS.from_epsg(4326).to_wkt(),
             "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid"),
        ]
        if srs_id != 4326:
            srs_rows.append((ident.name, srs_id, ident.organization,
                             ident.code if ident.code else srs_id, ident.wkt, "twin CRS"))
        conn.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?,?,?,?,?,?)", srs_rows)
        meta = new_meta(FORMAT_NAME, horizontal, srs_id, vdatum, origin)
        meta["next_fid"] = "1"
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
    except BaseException:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(p) + suffix).unlink(missing_ok=True)
        raise
    conn.close()
    return p
