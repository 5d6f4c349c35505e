"""Edit mode of a PostGIS twin (:mod:`twin.store.edits`): one recording
INSTEAD OF trigger per layer view (``<layer>_edits``, calling
``twin_record_edit()``) in place of the refusing one, and
``twin_pending_edits`` (its geometry as WKB in a ``bytea``: no geometry
column, so GIS clients do not offer it as a layer)."""

from __future__ import annotations

from typing import Any

from ...layers import Layer
from ..edits import TABLE
from .schema import READ_ONLY_FUNCTION, quote_ident

#: The placeholder of a parameter on an import batch's connection.
PARAM = "%s"
WKB = True
TABLE_SQL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, layer text NOT NULL, "
    "op text NOT NULL, fid bigint, feature_id text, geom bytea, "
    "geom_changed boolean NOT NULL DEFAULT false, new_values jsonb, old_values jsonb, "
    "recorded text NOT NULL DEFAULT to_char(now() AT TIME ZONE 'utc', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), refused text)")
_INSERT = f"INSERT INTO {TABLE} (layer, op, fid, feature_id, geom, geom_changed, new_values"


def _function_sql(schema: str) -> str:
    return (
        "CREATE OR REPLACE FUNCTION twin_record_edit() RETURNS trigger LANGUAGE plpgsql "
        f"SET search_path = {quote_ident(schema)}, public AS $$ BEGIN "
        f"IF TG_OP = 'INSERT' THEN {_INSERT}) VALUES (TG_TABLE_NAME, 'insert', NEW.fid, "
        "NEW.feature_id, ST_AsBinary(NEW.geom), true, to_jsonb(NEW) - 'geom'); RETURN NEW; "
        f"ELSIF TG_OP = 'UPDATE' THEN {_INSERT}, old_values) VALUES (TG_TABLE_NAME, 'update', "
        "OLD.fid, OLD.feature_id, ST_AsBinary(NEW.geom), NEW.geom IS DISTINCT FROM OLD.geom, "
        "to_jsonb(NEW) - 'geom', to_jsonb(OLD) - 'geom'); RETURN NEW; "
        f"ELSE INSERT INTO {TABLE} (layer, op, fid, feature_id) VALUES (TG_TABLE_NAME, "
        "'delete', OLD.fid, OLD.feature_id); RETURN OLD; END IF; END $$")


def has_table(store: Any) -> bool:
    return store._read(f"SELECT to_regclass('{TABLE}') IS NOT NULL")[0][0] is True


def editable_layers(store: Any) -> list[str]:
    rows = store._read(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
        "AND t.tgname = c.relname || '_edits' ORDER BY c.relname")
    return [r[0] for r in rows]


def enable(store: Any, tx: Any, layers: list[Layer]) -> None:
    tx.execute(TABLE_SQL)
    tx.execute(_function_sql(store.location.schema))
    for layer in layers:
        view = quote_ident(layer.name)
        tx.execute(f"DROP TRIGGER IF EXISTS {quote_ident(layer.name + '_read_only')} ON {view}")
        tx.execute(f"DROP TRIGGER IF EXISTS {quote_ident(layer.name + '_edits')} ON {view}")
        tx.execute(f"CREATE TRIGGER {quote_ident(layer.name + '_edits')} INSTEAD OF INSERT OR "
                   f"UPDATE OR DELETE ON {view} FOR EACH ROW EXECUTE FUNCTION "
                   "twin_record_edit()")


def disable(store: Any, tx: Any, layers: list[Layer]) -> None:
    tx.execute(READ_ONLY_FUNCTION)
    for layer in layers:
        view = quote_ident(layer.name)
        tx.execute(f"DROP TRIGGER IF EXISTS {quote_ident(layer.name + '_edits')} ON {view}")
        tx.execute(f"CREATE TRIGGER {quote_ident(layer.name + '_read_only')} INSTEAD OF INSERT "
                   f"OR UPDATE OR DELETE ON {view} FOR EACH ROW EXECUTE FUNCTION "
                   "twin_read_only()")
