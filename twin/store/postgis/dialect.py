"""The SQL of PostgreSQL/PostGIS where it differs from SQLite's
(:class:`twin.store.querysql.Dialect`)."""

from __future__ import annotations

from ..querysql import Dialect


class PostgresDialect(Dialect):
    """The SQL of PostgreSQL/PostGIS where it differs from SQLite's."""

    index_hint = ""
    edge_on = "e.fid = f.fid AND e.tile = f.tile"

    def box_source(self, box, table="twin_features"):
        # the GiST index over the plan bounds (float4 boxes, rounded outwards)
        return (f"{table} f {self.edge_join}",
                ["ST_MakeEnvelope(f.min_x, f.min_y, f.max_x, f.max_y) && "
                 "ST_MakeEnvelope(?, ?, ?, ?)"], [box[0], box[1], box[3], box[4]])

    def batch_condition(self, batch):
        return "f.batch_id = ?", [batch]

    def json_number(self, field):
        return ("(CASE WHEN json_typeof(f.attributes -> ?::text) = 'number' THEN "
                "(f.attributes ->> ?::text)::double precision END)", [field, field])

    def json_text(self, field):
        return ("(CASE WHEN json_typeof(f.attributes -> ?::text) = 'string' THEN "
                "f.attributes ->> ?::text END)", [field, field])

    def json_any(self, field):
        return "(f.attributes ->> ?::text)", [field]

    def like(self, column):
        # SQLite's LIKE ignores ASCII case and has no escape character
        return f"{column} ILIKE ? ESCAPE ''"

    def as_text(self, column):
        return f"CAST({column} AS text)"

    def offset_only(self):
        return " OFFSET ?"

    def finish(self, sql):
        # psycopg's placeholders are %s; a literal % is written %%
        return sql.replace("%", "%%").replace("?", "%s")


POSTGRES = PostgresDialect()
