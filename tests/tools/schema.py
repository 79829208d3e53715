"""sql/schema.sql: OBVO's whole current schema, generated from sql/migrations/ (`make schema`).

`make schema` replays every migration into a scratch database with `obvo migrate`'s own code
(vopi_obvo.ops.migrate), dumps the `obvo` schema with pg_dump (structure only, no owners or
grants, the pg_dump version lines and psql meta-commands left out so the file runs through any
driver), adds the schema_migrations rows, and checks that a database built from the new file
describes the same as the migrated one. tests/integration/ops/test_schema.py makes the same
comparison on every test run, through the catalogs alone (no pg_dump needed there).

The scratch database is created on the server of $OBVO_TEST_DATABASE_URL (default: the
machine's PostgreSQL at 127.0.0.1:5432, user postgres); pg_dump must be of the server's major
version or newer.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from vopi_obvo import db
from vopi_obvo.ops.migrate import available_migrations, migrate

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "sql" / "schema.sql"
SCHEMA = "obvo"
REGENERATE = "make schema"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"

HEADER = f"""\
-- OBVO's whole current schema (`{SCHEMA}`), generated from sql/migrations/ by `{REGENERATE}`:
-- do not edit by hand; add a migration and run `{REGENERATE}` again.
-- tests/integration/ops/test_schema.py fails when this file and the migrations disagree.
"""

# One line per fact of the schema: tables and their columns (type, default, nullability, in
# order), constraints, indexes, sequences, functions, triggers, views and comments. Lines are
# compared as sets, so a difference shows as the lines only one side has.
_DESCRIBE = """
SELECT format('relation %%s kind %%s', c.relname, c.relkind)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
UNION ALL
SELECT format('column %%s.%%s #%%s %%s%%s%%s%%s%%s', c.relname, a.attname,
              row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
              format_type(a.atttypid, a.atttypmod),
              CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
              CASE WHEN d.adbin IS NULL THEN ''
                   ELSE ' default ' || pg_get_expr(d.adbin, d.adrelid) END,
              CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END,
              CASE WHEN a.attgenerated <> '' THEN ' generated ' || a.attgenerated::text ELSE '' END)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT format('constraint %%s.%%s %%s', c.relname, k.conname, pg_get_constraintdef(k.oid))
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s
UNION ALL
SELECT format('sequence %%s %%s start %%s increment %%s min %%s max %%s cache %%s cycle %%s',
              s.sequencename, s.data_type, s.start_value, s.increment_by, s.min_value,
              s.max_value, s.cache_size, s.cycle)
FROM pg_sequences s WHERE s.schemaname = %(schema)s
UNION ALL
SELECT format('sequence %%s owned by %%s.%%s', seq.relname, t.relname, a.attname)
FROM pg_depend d
JOIN pg_class seq ON seq.oid = d.objid AND seq.relkind = 'S'
JOIN pg_namespace n ON n.oid = seq.relnamespace
JOIN pg_class t ON t.oid = d.refobjid
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE n.nspname = %(schema)s AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
UNION ALL
SELECT 'function ' || pg_get_functiondef(p.oid)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %(schema)s
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid)
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND NOT t.tgisinternal
UNION ALL
SELECT format('view %%s %%s', c.relname, pg_get_viewdef(c.oid))
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('v', 'm')
UNION ALL
SELECT format('type %%s %%s', t.typname, t.typtype)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = %(schema)s AND t.typtype IN ('e', 'd', 'c', 'r')
  AND NOT EXISTS (SELECT FROM pg_class c WHERE c.reltype = t.oid AND c.relkind <> 'c')
UNION ALL
SELECT format('comment on %%s.%%s: %%s', c.relname, coalesce(a.attname, '-'), d.description)
FROM pg_description d
JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
WHERE n.nspname = %(schema)s
"""


def describe(url: str, schema: str = SCHEMA) -> set[str]:
    """The schema's structure as comparable lines, plus which migrations it records."""
    with psycopg.connect(url) as conn:
        lines = {row[0] for row in conn.execute(_DESCRIBE, {"schema": schema})}
        versions = conn.execute(
            sql.SQL("SELECT version, name FROM {}.schema_migrations ORDER BY version").format(
                sql.Identifier(schema)
            )
        ).fetchall()
    lines.update(f"migration {version:04d}_{name}" for version, name in versions)
    return lines


def expected_migrations() -> set[str]:
    return {f"migration {m.version:04d}_{m.name}" for m in available_migrations()}


def load_schema_file(url: str, path: Path = SCHEMA_FILE) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(path.read_text(encoding="utf-8").encode())


def migrate_database(url: str) -> None:
    engine = db.obvo_engine(url, SCHEMA)
    try:
        migrate(engine, SCHEMA)
    finally:
        engine.dispose()


def differences(built: set[str], migrated: set[str]) -> str:
    """The lines only one side has, as a reader wants them: what to do first."""
    lines = [f"Regenerate sql/schema.sql with `{REGENERATE}` (it differs from the migrations):"]
    lines += [f"  only in sql/schema.sql:    {line}" for line in sorted(built - migrated)]
    lines += [f"  only after the migrations: {line}" for line in sorted(migrated - built)]
    return "\n".join(lines)


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}" + (f"?{query}" if query else "")


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    name = f"obvo_schema_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def dump(url: str) -> str:
    """pg_dump of the schema's structure, without lines that differ from run to run."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise SystemExit("pg_dump not found: install postgresql-client (apt-get install ...)")
    result = subprocess.run(
        [pg_dump, "--schema-only", f"--schema={SCHEMA}", "--no-owner", "--no-privileges", url],
        check=True,
        capture_output=True,
        text=True,
    )
    kept = [
        line
        for line in result.stdout.splitlines()
        # \restrict and \unrestrict carry a random key and are psql meta-commands; the
        # version lines change with the machine.
        if not line.startswith(("\\restrict", "\\unrestrict", "-- Dumped from", "-- Dumped by"))
    ]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip() + "\n"


def recorded_migrations(url: str) -> str:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            sql.SQL("SELECT version, name FROM {}.schema_migrations ORDER BY version").format(
                sql.Identifier(SCHEMA)
            )
        ).fetchall()
    values = ",\n".join(f"    ({version}, '{name}')" for version, name in rows)
    return (
        "-- The migrations this schema holds, so `obvo migrate` on it applies only newer ones.\n"
        f"INSERT INTO {SCHEMA}.schema_migrations (version, name) VALUES\n{values};\n"
    )


def generate(server_url: str) -> str:
    with scratch_database(server_url) as url:
        migrate_database(url)
        text = HEADER + "\n" + dump(url) + "\n" + recorded_migrations(url)
        migrated = describe(url)
    check = SCHEMA_FILE.with_suffix(".sql.new")
    check.write_text(text, encoding="utf-8")
    try:
        with scratch_database(server_url) as url:
            load_schema_file(url, check)
            built = describe(url)
        if built != migrated:
            raise SystemExit(differences(built, migrated))
        check.replace(SCHEMA_FILE)
    finally:
        check.unlink(missing_ok=True)
    return text


def main() -> int:
    server_url = os.environ.get("OBVO_TEST_DATABASE_URL", DEFAULT_SERVER)
    generate(server_url)
    print(f"wrote {SCHEMA_FILE.relative_to(ROOT)} ({len(available_migrations())} migrations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
