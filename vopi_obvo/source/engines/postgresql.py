"""VOPI on PostgreSQL: read-only sessions, `pg_stat_activity` evidence, `pg_depend` for roles.

The wrapped queries are the [vopi] queries of sql/queries.sql as written. Evidence on holes
needs `pg_read_all_stats` (other roles' sessions in `pg_stat_activity`); without it the
fallback is the server-wide xid check plus the age rule (source/holes.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from vopi_obvo import __version__, queries
from vopi_obvo.db import options, sqlalchemy_url
from vopi_obvo.errors import ConfigError
from vopi_obvo.source.engines import (
    Clock,
    EngineReport,
    ExpectedTypes,
    IdOrigin,
    UsedObject,
    column_kinds_by_type,
    column_type_problems,
)
from vopi_obvo.source.holes import Evidence

# PostgreSQL type OIDs the wrapped query relies on: integer ids, timestamps.
_EXPECTED_TYPES: ExpectedTypes = {
    "event_id": ({20, 21, 23}, "an integer (bigint/integer)"),
    "occurred_at": ({1114, 1184}, "a timestamp"),
}
_TIMESTAMP_WITHOUT_ZONE = 1114
_KIND_OF_TYPE: dict[int, str] = {
    **dict.fromkeys((20, 21, 23, 26), "integer"),
    **dict.fromkeys((700, 701), "float"),
    1700: "numeric",
    16: "boolean",
    1082: "date",
    **dict.fromkeys((1114, 1184), "timestamp"),
}

# A bind parameter (`:case_ids`), not a cast (`::text`).
_BIND = re.compile(r"(?<![:\w]):(\w+)")
_IN_BIND = re.compile(r"\bIN\s+:(\w+)", re.IGNORECASE)

_DEPENDENCIES = sa.text(
    """
    SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind,
           d.refobjsubid AS column_number, a.attname AS column_name
    FROM pg_rewrite AS r
    JOIN pg_depend AS d
      ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
     AND d.refclassid = 'pg_class'::regclass
    JOIN pg_class AS c ON c.oid = d.refobjid
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    LEFT JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid
    WHERE r.ev_class = CAST(:view AS regclass) AND c.oid <> r.ev_class
    """
)

_KINDS = {
    "r": "table",
    "p": "table",
    "v": "view",
    "m": "materialized view",
    "f": "foreign table",
}


def probe_text(query: str) -> str:
    """The query with its bind parameters as NULL, so that it can define a view."""
    text = query.strip().rstrip(";")
    text = _IN_BIND.sub("IN (NULL)", text)
    return _BIND.sub("NULL", text)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgreSQL:
    name = "PostgreSQL"
    evidence_privilege = "pg_read_all_stats"

    def create_engine(self, url: str, statement_timeout: float) -> sa.Engine:
        """Read-only at the session level (a bug here can never write VOPI), with a short
        statement timeout so a slow query cannot hold VOPI's vacuum back."""
        return sa.create_engine(
            sqlalchemy_url(url),
            pool_size=2,
            max_overflow=1,
            pool_pre_ping=False,
            connect_args={
                "options": options(
                    default_transaction_read_only="on",
                    statement_timeout=str(int(statement_timeout * 1000)),
                    idle_in_transaction_session_timeout=str(int(statement_timeout * 3000)),
                ),
                "application_name": f"obvo {__version__} (reader)",
                "connect_timeout": 10,
            },
        )

    def wrapped(self, name: str, events_query: str) -> sa.TextClause:
        return queries.vopi(name, events_query)

    def is_query_error(self, exc: sa.exc.DBAPIError) -> bool:
        return isinstance(exc, sa.exc.ProgrammingError | sa.exc.DataError)

    def clock(self, conn: sa.Connection) -> Clock:
        row = conn.execute(queries.q("vopi_clock")).one()
        return Clock(row.now, int(row.xmax))

    def hole_evidence(self, conn: sa.Connection) -> Evidence:
        row = conn.execute(queries.q("vopi_hole_evidence")).one()
        return Evidence(
            now=row.now,
            oldest_transaction_start=row.oldest_transaction_start,
            oldest_running_xid=row.oldest_running_xid,
            can_see_all_sessions=bool(row.can_see_all_sessions),
            in_recovery=bool(row.in_recovery),
            prepared_transactions=int(row.prepared_transactions),
            oldest_session_start=row.oldest_session_start,
        )

    def id_origin(
        self, conn: sa.Connection, events_query: str, probed: sa.CursorResult[Any]
    ) -> IdOrigin:
        """From the result's column origin (table OID and column number, which PostgreSQL
        resolves through subqueries) to the sequence, through pg_depend or the default."""
        names = list(probed.keys())
        pgresult = getattr(probed.cursor, "pgresult", None)
        if "event_id" not in names or pgresult is None:
            return IdOrigin(None, None)
        index = names.index("event_id")
        table_oid, column_number = pgresult.ftable(index), pgresult.ftablecol(index)
        if not table_oid or not column_number:
            return IdOrigin(None, None)
        row = conn.execute(
            queries.q("vopi_id_sequence"), {"table_oid": table_oid, "column_number": column_number}
        ).first()
        if row is None:
            return IdOrigin(None, None)
        if row.sequence_name is None:
            return IdOrigin(row.column_name, None)
        return IdOrigin(
            row.column_name, row.sequence_name, int(row.cache_size), int(row.increment_by)
        )

    def naive_zones(self, result: sa.CursorResult[Any], local: dt.tzinfo) -> dict[str, dt.tzinfo]:
        # `timestamp without time zone` is VOPI's wall clock; timestamptz arrives aware.
        return {
            str(d[0]): local
            for d in result.cursor.description or ()
            if d[1] == _TIMESTAMP_WITHOUT_ZONE
        }

    def column_kinds(self, result: sa.CursorResult[Any]) -> list[tuple[str, str | None]]:
        return column_kinds_by_type(result, _KIND_OF_TYPE)

    def column_problems(self, result: sa.CursorResult[Any]) -> list[str]:
        return column_type_problems(
            result, _EXPECTED_TYPES, "PostgreSQL type oid", "cast it in the query"
        )

    def evidence_blockers(self, conn: sa.Connection, events_query: str) -> list[str]:
        return []

    def check(self, conn: sa.Connection, events_query: str) -> EngineReport:
        return EngineReport([], [])

    def used_objects(
        self, engine: sa.Engine, queries: Sequence[tuple[str, str]]
    ) -> list[UsedObject]:
        """Asked of PostgreSQL itself: each query becomes a temporary view in a transaction
        that is rolled back, and the view's recorded dependencies (`pg_depend`) name every
        relation and column it reads. Nothing is left behind in VOPI."""
        found: dict[tuple[str, str], tuple[str, set[str] | None]] = {}
        with engine.connect() as conn:
            try:
                conn.execute(sa.text("SET TRANSACTION READ WRITE"))  # temporary views only
                for index, (name, query) in enumerate(queries):
                    view = f"obvo_roles_probe_{index}"
                    try:
                        with conn.begin_nested():
                            conn.execute(
                                sa.text(f"CREATE TEMPORARY VIEW {view} AS {probe_text(query)}")
                            )
                    except sa.exc.DBAPIError as exc:
                        detail = str(exc.orig or exc).strip().splitlines()[0]
                        raise ConfigError(
                            f"[source] {name}: cannot be analysed: {detail}"
                        ) from None
                    for row in conn.execute(_DEPENDENCIES, {"view": f"pg_temp.{view}"}):
                        if row.schema.startswith("pg_temp"):
                            continue
                        key = (row.schema, row.name)
                        kind, columns = found.get(key, (_KINDS.get(row.kind, row.kind), set()))
                        if row.column_number == 0 or columns is None:
                            columns = None
                        else:
                            columns.add(row.column_name)
                        found[key] = (kind, columns)
            finally:
                conn.rollback()  # the probe views go with the transaction
        return [
            UsedObject(schema, name, kind, None if cols is None else tuple(sorted(cols)))
            for (schema, name), (kind, cols) in sorted(found.items())
        ]

    def reader_grants(self, reader: str, objects: Sequence[UsedObject]) -> list[str]:
        schemas = sorted({o.schema for o in objects})
        lines = [
            *create_role(reader, f"{reader}: reads what OBVO's queries use, nothing else."),
            "-- A second guard besides OBVO's own read-only sessions.",
            f"ALTER ROLE {quote_ident(reader)} SET default_transaction_read_only = on;",
            "-- Evidence for giving up holes (other sessions' transactions in pg_stat_activity).",
            f"GRANT pg_read_all_stats TO {quote_ident(reader)};",
            "-- Start from nothing in the schemas the queries read, then grant what they use.",
        ]
        role = quote_ident(reader)
        for schema in schemas:
            lines.append(f"REVOKE ALL ON ALL TABLES IN SCHEMA {quote_ident(schema)} FROM {role};")
            lines.append(f"GRANT USAGE ON SCHEMA {quote_ident(schema)} TO {role};")
        for o in objects:
            lines.append(f"-- {o.kind} {o.schema}.{o.name}")
            target = f"ON {quote_ident(o.schema)}.{quote_ident(o.name)} TO {quote_ident(reader)};"
            if o.columns is None:
                lines.append(f"GRANT SELECT {target}")
            else:
                lines.append("GRANT SELECT (")
                lines.extend(f"    {quote_ident(c)}," for c in o.columns[:-1])
                lines.append(f"    {quote_ident(o.columns[-1])}")
                lines.append(f") {target}")
        return lines


def create_role(role: str, comment: str) -> list[str]:
    """A login role that may connect to the current database (idempotent)."""
    return [
        f"-- {comment}",
        "DO $$",
        "BEGIN",
        f"    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN",
        f"        CREATE ROLE {quote_ident(role)} LOGIN;",
        "    END IF;",
        "END",
        "$$;",
        f"ALTER ROLE {quote_ident(role)} NOSUPERUSER NOCREATEDB NOCREATEROLE;",
        "DO $$",
        "BEGIN",
        "    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(),",
        f"                   '{role}');",
        "END",
        "$$;",
    ]


POSTGRESQL = PostgreSQL()
