"""VOPI on MariaDB (>= 10.6) or MySQL (>= 8.0), InnoDB, through PyMySQL.

- Sessions: `READ COMMITTED, READ ONLY`; statements stop after `max_statement_time`
  (MariaDB, seconds) or `max_execution_time` (MySQL, milliseconds, SELECT only); the session
  time zone is UTC, so TIMESTAMP columns arrive in UTC and DATETIME columns (no zone) are
  VOPI's wall clock ([source] timezone).
- Evidence: `information_schema.INNODB_TRX.trx_started` (needs PROCESS). `trx_started` is in
  the server's system time zone and whole seconds, and the view is a cache refreshed at most
  every 0.1 s: the evidence query turns it into UTC at its earliest reading (a DST hour is
  ambiguous) and counts a transaction as started one second ago that the cache may not show
  yet. Without PROCESS, holes end by the age rule.
- AUTO_INCREMENT draws an id at the insert, inside the transaction InnoDB lists; a SEQUENCE
  (MariaDB) or an id the application computes is drawn earlier, where INNODB_TRX shows nothing
  (tested: even a NOCACHE sequence's NEXT VALUE FOR starts no InnoDB transaction). Then holes
  end by the age rule, and `obvo check` and `obvo status` say why.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from vopi_obvo import __version__
from vopi_obvo import queries as sql_queries
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

# PyMySQL's field type codes (pymysql.constants.FIELD_TYPE).
_INTEGER_TYPES = {1, 2, 3, 8, 9}  # TINY, SHORT, LONG, LONGLONG, INT24
_DATETIME, _TIMESTAMP = 12, 7
_KIND_OF_TYPE: dict[int, str] = {
    **dict.fromkeys(_INTEGER_TYPES, "integer"),
    **dict.fromkeys((4, 5), "float"),  # FLOAT, DOUBLE
    **dict.fromkeys((0, 246), "numeric"),  # DECIMAL, NEWDECIMAL
    **dict.fromkeys((10, 14), "date"),  # DATE, NEWDATE
    _DATETIME: "timestamp",
    _TIMESTAMP: "timestamp",
}
_EXPECTED_TYPES: ExpectedTypes = {
    "event_id": (_INTEGER_TYPES, "an integer (BIGINT/INT)"),
    "occurred_at": ({_DATETIME, _TIMESTAMP}, "a DATETIME or TIMESTAMP"),
}
# Server errors that are the query's fault: ambiguous or unknown column, syntax, no such
# table or function, privileges on a table or column, wrong operand count, bad values,
# mixed collations.
_QUERY_ERRORS = {
    1052,
    1054,
    1064,
    1142,
    1143,
    1146,
    1149,
    1241,
    1248,
    1267,
    1271,
    1292,
    1305,
    1366,
}
_ACCESS_DENIED = {1227, 1142, 1143}  # PROCESS missing; table or column privilege missing
_SEQUENCE_DEFAULT = re.compile(r"nextval\(`?([^`.]+)`?\.`?([^`)]+)`?\)", re.IGNORECASE)


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _is_mariadb(dbapi_connection: Any) -> bool:
    return "mariadb" in str(dbapi_connection.get_server_info()).lower()


class MySQL:
    name = "MariaDB/MySQL"
    evidence_privilege = "PROCESS"

    def create_engine(self, url: str, statement_timeout: float) -> sa.Engine:
        engine = sa.create_engine(
            _sqlalchemy_url(url),
            pool_size=2,
            max_overflow=1,
            pool_pre_ping=False,
            # Below the server's wait_timeout (8 h by default), so a pooled connection is not
            # found closed by the server after a quiet night.
            pool_recycle=3600,
            connect_args={
                # The server converts latin2/cp1250 columns to this: č, š, ž arrive intact.
                "charset": "utf8mb4",
                "connect_timeout": 10,
                "program_name": f"obvo {__version__} (reader)",
            },
        )

        @sa.event.listens_for(engine, "connect")
        def _session(dbapi_connection: Any, _record: Any) -> None:
            limit = (
                f"max_statement_time = {statement_timeout:g}"
                if _is_mariadb(dbapi_connection)
                else f"max_execution_time = {int(statement_timeout * 1000)}"
            )
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY")
                cursor.execute(f"SET SESSION {limit}, time_zone = '+00:00'")

        return engine

    def wrapped(self, name: str, events_query: str) -> sa.TextClause:
        if name == "vopi_events_by_id":  # IN with an expanding list: MySQL has no = ANY(array)
            return sql_queries.vopi("mysql_vopi_events_by_id", events_query).bindparams(
                sa.bindparam("event_ids", expanding=True)
            )
        if name == "vopi_events_in_ranges":  # no arrays, and MariaDB has no LATERAL
            return sql_queries.vopi("mysql_vopi_events_in_ranges", events_query)
        return sql_queries.vopi(name, events_query)

    def is_query_error(self, exc: sa.exc.DBAPIError) -> bool:
        # PyMySQL raises OperationalError for most server errors, the query's own among them.
        return isinstance(exc, sa.exc.ProgrammingError | sa.exc.DataError) or (
            _error_code(exc) in _QUERY_ERRORS
        )

    def clock(self, conn: sa.Connection) -> Clock:
        now = conn.execute(sql_queries.q("mysql_vopi_clock")).scalar_one()
        return Clock(_utc(now), None)

    def hole_evidence(self, conn: sa.Connection) -> Evidence:
        try:
            row = conn.execute(sql_queries.q("mysql_vopi_hole_evidence")).one()
        except sa.exc.DBAPIError as exc:
            if _error_code(exc) not in _ACCESS_DENIED:
                raise
            return Evidence(self.clock(conn).now, None, None, can_see_all_sessions=False)
        return Evidence(
            now=_utc(row.now),
            oldest_transaction_start=_utc(row.oldest_transaction_start),
            oldest_running_xid=None,
            can_see_all_sessions=True,
        )

    def naive_zones(self, result: sa.CursorResult[Any], local: dt.tzinfo) -> dict[str, dt.tzinfo]:
        zones: dict[str, dt.tzinfo] = {}
        for name, type_code, *_ in result.cursor.description or ():
            if type_code == _DATETIME:
                zones[str(name)] = local
            elif type_code == _TIMESTAMP:
                zones[str(name)] = dt.UTC  # the session's time zone
        return zones

    def column_kinds(self, result: sa.CursorResult[Any]) -> list[tuple[str, str | None]]:
        return column_kinds_by_type(result, _KIND_OF_TYPE)

    def column_problems(self, result: sa.CursorResult[Any]) -> list[str]:
        return column_type_problems(
            result, _EXPECTED_TYPES, "MySQL field type", "CAST it in the query"
        )

    def check(self, conn: sa.Connection, events_query: str) -> EngineReport:
        notes: list[str] = []
        warnings: list[str] = []
        plan_note, plan_warning = _plan(conn, self.wrapped("vopi_events_after", events_query))
        notes.extend(plan_note)
        warnings.extend(plan_warning)
        blockers = self.evidence_blockers(conn, events_query)
        generator = _id_generator(conn, events_query)
        notes.append(f"event_id: {generator}")
        if conn.dialect.server_version_info and not _supported(conn):
            version = ".".join(str(v) for v in conn.dialect.server_version_info)
            warnings.append(f"VOPI's server {version} is older than MariaDB 10.6 / MySQL 8.0")
        return EngineReport(notes, [*warnings, *blockers])

    def id_origin(
        self, conn: sa.Connection, events_query: str, probed: sa.CursorResult[Any]
    ) -> IdOrigin:
        # A cached SEQUENCE or application ids already end holes by the age rule here
        # (evidence_blockers); the generator is named for `status`.
        return IdOrigin(None, None, note=f"event_id {_id_generator(conn, events_query)}")

    def evidence_blockers(self, conn: sa.Connection, events_query: str) -> list[str]:
        """Why INNODB_TRX cannot prove a hole dead for this event log, if it cannot."""
        generator = _id_generator(conn, events_query)
        if generator.startswith("AUTO_INCREMENT"):
            return []
        return [
            f"event_id {generator}: an id drawn before its insert is invisible in INNODB_TRX, "
            "so holes are given up only after [source] hole_max_age"
        ]

    def used_objects(
        self, engine: sa.Engine, queries: Sequence[tuple[str, str]]
    ) -> list[UsedObject]:
        """The tables and views the queries name, each checked in information_schema. MySQL
        records no dependencies of a query, so the names come from the SQL text (FROM and
        JOIN); a view is granted as a whole (its definer's rights read the tables)."""
        found: dict[tuple[str, str], str] = {}
        with engine.connect() as conn:
            default = conn.execute(sa.text("SELECT DATABASE()")).scalar_one()
            for name, query in queries:
                for schema, table in named_tables(query):
                    database = schema or default
                    kind = conn.execute(
                        sql_queries.q("mysql_table_kind"), {"schema": database, "name": table}
                    ).scalar_one_or_none()
                    if kind is None:
                        raise ConfigError(
                            f"[source] {name}: cannot be analysed: table {database}.{table} "
                            "does not exist (or the role cannot see it)"
                        )
                    found[(database, table)] = "view" if "VIEW" in str(kind) else "table"
            conn.rollback()
        return [UsedObject(s, n, k, None) for (s, n), k in sorted(found.items())]

    def reader_grants(self, reader: str, objects: Sequence[UsedObject]) -> list[str]:
        user = f"{_quote(reader)}@'%'"
        lines = [
            f"-- {reader}: reads the tables OBVO's queries use, nothing else. Run as an",
            "-- administrator of VOPI's MariaDB/MySQL server, e.g. `mariadb < roles.sql`; the",
            "-- host part '%' may be narrowed to OBVO's host. Set the password with",
            f"-- ALTER USER {user} IDENTIFIED BY '…' (not here).",
            f"CREATE USER IF NOT EXISTS {user};",
            "-- Evidence for giving up holes (other sessions' transactions in INNODB_TRX).",
            f"GRANT PROCESS ON *.* TO {user};",
        ]
        for o in objects:
            lines.append(f"-- {o.kind} {o.schema}.{o.name}")
            lines.append(f"GRANT SELECT ON {_quote(o.schema)}.{_quote(o.name)} TO {user};")
        return lines


def _sqlalchemy_url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"mysql+pymysql://{rest}" if scheme.lower() != "mysql+pymysql" else url


def _utc(value: dt.datetime) -> dt.datetime:
    """A naive datetime of this session (time_zone '+00:00'), made aware."""
    return value.replace(tzinfo=dt.UTC)


def _error_code(exc: sa.exc.DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _supported(conn: sa.Connection) -> bool:
    version = tuple(conn.dialect.server_version_info or ())
    mariadb = bool(getattr(conn.dialect, "is_mariadb", False))
    return version >= ((10, 6) if mariadb else (8, 0))


def _plan(conn: sa.Connection, stmt: sa.TextClause) -> tuple[list[str], list[str]]:
    """Does the wrapped poll read the event log as a range of its primary key, with the
    derived table merged (or the condition pushed into it)? From EXPLAIN FORMAT=JSON."""
    explain = sa.text("EXPLAIN FORMAT=JSON " + stmt.text)
    plan = json.loads(conn.execute(explain, {"after_id": 0, "limit": 500}).scalar_one())
    tables = list(_tables(plan, materialized=False))
    ranges = [(t, inside) for t, inside in tables if _primary_range(t)]
    if not ranges:
        shown = ", ".join(f"{t.get('table_name')}: {t.get('access_type')}" for t, _ in tables)
        return [], [
            "events_query: the wrapped poll is not a range scan of the event log's primary "
            f"key ({shown}); keep event_id a plain column of the primary key"
        ]
    table, inside = ranges[0]
    if inside:
        return [], [
            f"events_query: the poll's condition is pushed into a materialised derived table "
            f"(range on PRIMARY of {table.get('table_name')}), but ORDER BY and LIMIT are not: "
            "every poll materialises all events above the cursor. Remove DISTINCT, GROUP BY, "
            "LIMIT or UNION from events_query so that it can be merged"
        ]
    return [
        f"poll plan: range scan on the primary key of {table.get('table_name')} "
        "(derived table merged)"
    ], []


def _tables(node: Any, materialized: bool) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every table access in an EXPLAIN FORMAT=JSON document (MariaDB's and MySQL's), with
    whether it sits inside a materialised derived table."""
    if isinstance(node, dict):
        if "table_name" in node and "access_type" in node:
            yield node, materialized
        for key, value in node.items():
            inside = materialized or key in ("materialized", "materialized_from_subquery")
            yield from _tables(value, inside)
    elif isinstance(node, list):
        for item in node:
            yield from _tables(item, materialized)


def _primary_range(table: dict[str, Any]) -> bool:
    return table.get("access_type") == "range" and table.get("key") == "PRIMARY"


def _id_generator(conn: sa.Connection, events_query: str) -> str:
    """Where event_id comes from: "AUTO_INCREMENT of db.table", "SEQUENCE db.seq (CACHE n)",
    or "assigned by the application" / "of unknown origin"."""
    origin = _event_id_origin(conn, events_query)
    if origin is None:
        return "of unknown origin (not a plain column of one table)"
    schema, table, column = origin
    row = conn.execute(
        sql_queries.q("mysql_id_column"), {"schema": schema, "table": table, "column": column}
    ).first()
    where = f"{schema}.{table}.{column}"
    if row is None:
        return f"of unknown origin ({where} is not visible in information_schema)"
    if "auto_increment" in str(row.extra).lower():
        return f"AUTO_INCREMENT of {where}"
    sequence = _SEQUENCE_DEFAULT.search(str(row.column_default or ""))
    if sequence:
        seq_schema, seq_name = sequence.groups()
        try:
            cache = conn.execute(
                sa.text(f"SELECT cache_size FROM {_quote(seq_schema)}.{_quote(seq_name)}")
            ).scalar_one()
        except sa.exc.DBAPIError:
            cache = "unknown"
        return f"SEQUENCE {seq_schema}.{seq_name} (CACHE {cache}) of {where}"
    return f"assigned by the application ({where} has neither AUTO_INCREMENT nor a SEQUENCE)"


def _event_id_origin(conn: sa.Connection, events_query: str) -> tuple[str, str, str] | None:
    """The table and column behind event_id, from the result's column metadata (the derived
    table of the wrapped query hides it, so the events query runs bare, with LIMIT 0)."""
    try:
        result = conn.execute(sa.text(events_query.strip().rstrip(";") + " LIMIT 0"))
    except sa.exc.DBAPIError:
        return None
    fields = getattr(getattr(result.cursor, "_result", None), "fields", None) or ()
    result.close()
    for field in fields:
        if field.name == "event_id" and field.org_table and field.org_name:
            return (
                field.db.decode() if isinstance(field.db, bytes) else str(field.db),
                str(field.org_table),
                str(field.org_name),
            )
    return None


def named_tables(query: str) -> list[tuple[str | None, str]]:
    """(database or None, table) after FROM and JOIN (and in comma lists after FROM), at the
    top level or in a subquery; not the FROM of EXTRACT(… FROM …), TRIM or SUBSTRING."""
    text = re.sub(r"'(?:[^'\\]|\\.|'')*'|--[^\n]*|#[^\n]*|/\*.*?\*/", " ", query, flags=re.S)
    tokens = re.findall(r"`(?:[^`]|``)+`|[\w$]+|[(),.]", text)
    found: list[tuple[str | None, str]] = []
    subquery = [True]  # per open parenthesis: does a SELECT start it?
    index = 0
    while index < len(tokens):
        part = tokens[index]
        index += 1
        if part == "(":
            subquery.append(index < len(tokens) and tokens[index].upper() == "SELECT")
            continue
        if part == ")":
            if len(subquery) > 1:
                subquery.pop()
            continue
        if part.upper() not in ("FROM", "JOIN") or not subquery[-1]:
            continue
        while index < len(tokens) and tokens[index] != "(":
            first = _unquote(tokens[index])
            if index + 2 < len(tokens) and tokens[index + 1] == ".":
                found.append((first, _unquote(tokens[index + 2])))
                index += 3
            else:
                if first.upper() != "DUAL":
                    found.append((None, first))
                index += 1
            # An alias, then either a comma (another table) or the end of the list.
            while index < len(tokens) and tokens[index] not in (",", "(", ")"):
                if tokens[index].upper() in _CLAUSE_WORDS:
                    break
                index += 1
            if index < len(tokens) and tokens[index] == ",":
                index += 1
                continue
            break
    return list(dict.fromkeys(found))


_CLAUSE_WORDS = {
    "WHERE",
    "JOIN",
    "LEFT",
    "RIGHT",
    "INNER",
    "OUTER",
    "CROSS",
    "STRAIGHT_JOIN",
    "ON",
    "USING",
    "GROUP",
    "ORDER",
    "HAVING",
    "LIMIT",
    "UNION",
    "NATURAL",
    "WINDOW",
    "FOR",
}


def _unquote(token: str) -> str:
    return token[1:-1].replace("``", "`") if token.startswith("`") else token


MYSQL = MySQL()
