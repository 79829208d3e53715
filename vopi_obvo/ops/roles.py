"""Least privilege: the SQL that creates OBVO's two database roles (`obvo roles`).

- The **reader** (the role of `[source] url`) may only SELECT the VOPI tables, views and
  columns that the configured queries use, plus `pg_read_all_stats` for the evidence on holes;
  it is read-only by default as well.
- The **owner** (the role of `[database] url`) owns OBVO's schema and nothing else: it has no
  privilege on VOPI at all.

Which objects and columns the queries use is asked of PostgreSQL itself: each query becomes a
temporary view in a transaction that is rolled back, and the view's recorded dependencies
(`pg_depend`) name every relation and column it reads. Nothing is left behind in VOPI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from vopi_obvo.errors import ConfigError

# A bind parameter (`:case_ids`), not a cast (`::text`).
_BIND = re.compile(r"(?<![:\w]):(\w+)")
_IN_BIND = re.compile(r"\bIN\s+:(\w+)", re.IGNORECASE)
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_$]{0,62}")

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


@dataclass(frozen=True)
class UsedObject:
    schema: str
    name: str
    kind: str  # "table", "view", …
    columns: tuple[str, ...] | None  # None: the whole relation (e.g. count(*), a whole row)


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


def used_objects(engine: sa.Engine, queries: Sequence[tuple[str, str]]) -> list[UsedObject]:
    """Relations and columns the (name, query) pairs read, as PostgreSQL records them."""
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
                    raise ConfigError(f"[source] {name}: cannot be analysed: {detail}") from None
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


def check_identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ConfigError(
            f"{what} must be a lower-case SQL identifier (letters, digits, _), not {value!r}"
        )
    return value


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _create_role(role: str, comment: str) -> list[str]:
    return [
        f"-- {comment}",
        "DO $$",
        "BEGIN",
        f"    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN",
        f"        CREATE ROLE {_ident(role)} LOGIN;",
        "    END IF;",
        "END",
        "$$;",
        f"ALTER ROLE {_ident(role)} NOSUPERUSER NOCREATEDB NOCREATEROLE;",
        "DO $$",
        "BEGIN",
        "    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(),",
        f"                   '{role}');",
        "END",
        "$$;",
    ]


def render(reader: str, owner: str, obvo_schema: str, objects: Iterable[UsedObject]) -> str:
    """The whole script (pure): part 1 for VOPI's database, part 2 for OBVO's."""
    used = list(objects)
    schemas = sorted({o.schema for o in used})
    lines = [
        "-- OBVO's database roles, least privilege (generated by `obvo roles`; run it again",
        "-- after changing [source] queries). Run as a superuser, e.g. `psql -f roles.sql`.",
        "-- Passwords are not set here: `\\password <role>` in psql, then put them only in the",
        "-- EnvironmentFile (OBVO_SOURCE_URL, OBVO_DATABASE_URL).",
        "",
        "-- ==== 1. In VOPI's database: the reader ([source] url) ====",
        "",
        *_create_role(reader, f"{reader}: reads what OBVO's queries use, nothing else."),
        "-- A second guard besides OBVO's own read-only sessions.",
        f"ALTER ROLE {_ident(reader)} SET default_transaction_read_only = on;",
        "-- Evidence for giving up holes (other sessions' transactions in pg_stat_activity).",
        f"GRANT pg_read_all_stats TO {_ident(reader)};",
        "-- Start from nothing in the schemas the queries read, then grant what they use.",
    ]
    for schema in schemas:
        lines.append(f"REVOKE ALL ON ALL TABLES IN SCHEMA {_ident(schema)} FROM {_ident(reader)};")
        lines.append(f"GRANT USAGE ON SCHEMA {_ident(schema)} TO {_ident(reader)};")
    for o in used:
        lines.append(f"-- {o.kind} {o.schema}.{o.name}")
        target = f"ON {_ident(o.schema)}.{_ident(o.name)} TO {_ident(reader)};"
        if o.columns is None:
            lines.append(f"GRANT SELECT {target}")
        else:
            lines.append("GRANT SELECT (")
            lines.extend(f"    {_ident(c)}," for c in o.columns[:-1])
            lines.append(f"    {_ident(o.columns[-1])}")
            lines.append(f") {target}")
    lines += [
        "",
        "-- ==== 2. In OBVO's database (the same one when [source] url is empty): the owner ====",
        "",
        *_create_role(owner, f"{owner}: owns the schema {obvo_schema} and nothing else."),
        f"CREATE SCHEMA IF NOT EXISTS {_ident(obvo_schema)} AUTHORIZATION {_ident(owner)};",
        f"ALTER SCHEMA {_ident(obvo_schema)} OWNER TO {_ident(owner)};",
        "-- Then, as this role: obvo migrate (creates OBVO's tables in its own schema). Tables",
        "-- an earlier install created as another role: REASSIGN OWNED BY <that role> TO",
        f"-- {owner} (careful: moves all of that role's objects in this database).",
        "",
    ]
    return "\n".join(lines)
