"""Layer styles for QGIS in a PostGIS twin.

QGIS keeps the styles of PostgreSQL layers in a ``layer_styles`` table that
it finds through the connection's search path (``public`` by default) and
creates itself when a style is first saved. The twin writes that table in
its own schema (QGIS's layout, lower-case as PostgreSQL folds QGIS's
unquoted names), with one default style per layer view in the catalogue
colour (:mod:`twin.store.styles`, the same QML and SLD as the GeoPackage
store). A twin in ``public``, the default, is therefore drawn in its
catalogue colours by a plain QGIS connection; for a twin in another schema,
QGIS finds them when that schema is on the connection's search path. Rows
of other owners (styles saved from QGIS) are kept.
"""

from __future__ import annotations

from typing import Any

from ...layers import Layer
from ..styles import OWNER, STYLE_NAME, style_qml, style_sld

#: QGIS's own layout of the table (``QgsPostgresProvider``), created if missing.
LAYER_STYLES_SQL = (
    "CREATE TABLE IF NOT EXISTS layer_styles (id serial PRIMARY KEY, "
    "f_table_catalog varchar, f_table_schema varchar, f_table_name varchar, "
    "f_geometry_column varchar, stylename text, styleqml xml, stylesld xml, "
    "useasdefault boolean, description text, owner varchar(63) DEFAULT CURRENT_USER, "
    "ui xml, update_time timestamp DEFAULT CURRENT_TIMESTAMP, type varchar)")


def write_style(conn: Any, layer: Layer, schema: str, mark: str = "%s") -> None:
    """The layer's default style (replacing the one written before: the
    catalogue colour may have changed); default unless a user's style is.
    ``mark`` is the connection's parameter mark."""
    conn.execute(LAYER_STYLES_SQL)
    key = (schema, layer.name, OWNER, STYLE_NAME)
    conn.execute(f"DELETE FROM layer_styles WHERE f_table_schema = {mark} AND "
                 f"f_table_name = {mark} AND owner = {mark} AND stylename = {mark}", key)
    default = conn.execute(
        f"SELECT 1 FROM layer_styles WHERE f_table_schema = {mark} AND f_table_name = {mark} "
        "AND useasdefault", (schema, layer.name)).fetchone() is None
    conn.execute(
        "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
        "f_geometry_column, stylename, styleqml, stylesld, useasdefault, description, owner, "
        f"type) VALUES (current_database(), {mark}, {mark}, 'geom', {mark}, "
        f"XMLPARSE(DOCUMENT {mark}), XMLPARSE(DOCUMENT {mark}), {mark}, {mark}, {mark}, "
        "'vector')",
        (schema, layer.name, STYLE_NAME, style_qml(layer), style_sld(layer), default,
         f"{layer.title} {layer.title_zh}: catalogue colour {layer.colour}".strip(), OWNER))
