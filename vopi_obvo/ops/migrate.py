"""OBVO's schema: ordered SQL files in `sql/migrations/`, each applied once, in one transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from vopi_obvo.errors import ConfigError
from vopi_obvo.resources import sql_path

_FILE = re.compile(r"^(\d{4})_([\w-]+)\.sql$")
_LOCK_NAME = "obvo-migrate"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def available_migrations() -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(sql_path("migrations").iterdir()):
        match = _FILE.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError("two migration files share a version number")
    return found


def applied_versions(conn: sa.Connection, schema: str) -> set[int]:
    exists = conn.execute(
        sa.text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f"{schema}.schema_migrations"}
    ).scalar_one()
    if not exists:
        return set()
    rows = conn.execute(sa.text(f'SELECT version FROM "{schema}".schema_migrations'))
    return {int(r[0]) for r in rows}


def pending_migrations(engine: sa.Engine, schema: str) -> list[Migration]:
    with engine.connect() as conn:
        done = applied_versions(conn, schema)
    return [m for m in available_migrations() if m.version not in done]


def require_up_to_date(engine: sa.Engine, schema: str) -> None:
    """ConfigError unless every migration is applied (servers refuse to start on an old
    schema rather than fail on the first request that needs a new table)."""
    pending = pending_migrations(engine, schema)
    if pending:
        raise ConfigError(
            f"OBVO's schema is not up to date ({len(pending)} migration(s) pending): "
            "run `obvo migrate` first"
        )


def migrate(engine: sa.Engine, schema: str) -> list[Migration]:
    """Apply what is missing; safe to run again and from two hosts at once."""
    applied: list[Migration] = []
    with engine.begin() as conn:
        # Serialise concurrent `obvo migrate` runs (two hosts upgrading at once).
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": _LOCK_NAME})
        # Only when missing: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the
        # database even when the schema exists, which a least-privilege owner role lacks.
        if not conn.execute(
            sa.text("SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = :s)"), {"s": schema}
        ).scalar_one():
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(sa.text(f'SET LOCAL search_path TO "{schema}", public'))
        conn.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        done = applied_versions(conn, schema)
        for migration in available_migrations():
            if migration.version in done:
                continue
            conn.exec_driver_sql(migration.path.read_text(encoding="utf-8"))
            conn.execute(
                sa.text("INSERT INTO schema_migrations (version, name) VALUES (:v, :n)"),
                {"v": migration.version, "n": migration.name},
            )
            applied.append(migration)
    return applied
