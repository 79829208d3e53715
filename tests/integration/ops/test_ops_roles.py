"""Least privilege: the daemon runs with the two roles `obvo roles` creates, delivers, and
cannot write VOPI through either of them."""

from __future__ import annotations

import secrets
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.acceptance.test_cli import Deployment
from tests.ops_support import run_cli
from tests.support import EXAMPLE_CONFIG, EXAMPLE_RULES, ROOT, SmsGateway, SmtpServer, Vopi
from vopi_obvo import db, store
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service
from vopi_obvo.errors import ConfigError
from vopi_obvo.ops import roles
from vopi_obvo.ops.migrate import migrate
from vopi_obvo.rules import parse_rules_document
from vopi_obvo.source.engines import postgresql


def example_queries() -> list[tuple[str, str]]:
    source = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))["source"]
    return [(name, source[name]) for name in ("events_query", "parties_query")]


def as_role(url: str, role: str) -> str:
    head, _, rest = url.partition("://")
    return f"{head}://{role}@{rest.partition('@')[2]}"


@dataclass(frozen=True)
class Roles:
    reader: str
    owner: str
    schema: str
    reader_url: str
    owner_url: str


@pytest.fixture
def least_privilege(database_url: str) -> Iterator[Roles]:
    tag = secrets.token_hex(3)
    made = Roles(
        reader=f"obvo_r_{tag}",
        owner=f"obvo_o_{tag}",
        schema=f"obvo_{tag}",
        reader_url=as_role(database_url, f"obvo_r_{tag}"),
        owner_url=as_role(database_url, f"obvo_o_{tag}"),
    )
    engine = db.source_engine(database_url, 10)
    try:
        script = roles.render(
            made.reader, made.owner, made.schema, roles.used_objects(engine, example_queries())
        )
    finally:
        engine.dispose()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(script)
    # OBVO's own schema, created by its owner role and nobody else.
    owner_engine = db.obvo_engine(made.owner_url, made.schema)
    try:
        migrate(owner_engine, made.schema)
        with owner_engine.begin() as conn:
            store.save_rules(
                conn, parse_rules_document(tomllib.loads(EXAMPLE_RULES.read_text("utf-8")))
            )
    finally:
        owner_engine.dispose()
    yield made
    with psycopg.connect(database_url, autocommit=True) as conn:
        for role in (made.reader, made.owner):
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_daemon_delivers_with_least_privilege_and_cannot_write_vopi(
    least_privilege: Roles,
    make_settings: Callable[..., Settings],
    vopi: Vopi,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    r = least_privilege
    settings = make_settings(
        database__url=r.owner_url, database__schema=r.schema, source__url=r.reader_url
    )
    party = vopi.party()
    app = vopi.application(party)
    with psycopg.connect(r.owner_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.subscribers (party_id, email, phone) VALUES (%s, %s, %s)"
            ).format(sql.Identifier(r.schema)),
            (str(party), "janez@example.si", "+38641123456"),
        )
    event = vopi.event("KLAS", app)
    service = Service(settings)
    try:
        service.verify()
        assert service.source.hole_evidence().can_see_all_sessions  # pg_read_all_stats
        service.run(once=True)
    finally:
        service.close()
    assert [m.recipients for m in smtp_server.messages] == [["janez@example.si"]]
    assert [s.payload["to"] for s in sms_gateway.messages] == ["+38641123456"]

    writes = [
        "INSERT INTO vopi.event_log (event_type_code, application_id) VALUES ('KLAS', 1)",
        f"UPDATE vopi.event_log SET detail = 'x' WHERE id = {event}",
        "DELETE FROM vopi.event_log",
        "TRUNCATE vopi.event_log",
        "UPDATE vopi.applications SET subject = 'x'",
    ]
    with psycopg.connect(r.reader_url, autocommit=True) as conn:
        # The role is read-only by default; even with that switched off, writing is refused.
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(writes[0])
        conn.execute("SET default_transaction_read_only = off")
        for statement in writes:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                conn.execute(statement)
        # Only the columns the queries use: not the parties' names or tax numbers.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT tax_number FROM vopi.parties")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT received_at FROM vopi.applications")
        row = conn.execute("SELECT count(*) FROM vopi.event_log").fetchone()
        assert row == (1,)
    with psycopg.connect(r.owner_url, autocommit=True) as conn:
        for statement in writes[:2]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                conn.execute(statement)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT id FROM vopi.event_log")
    with psycopg.connect(vopi.url) as conn:
        assert conn.execute("SELECT count(*) FROM vopi.event_log").fetchone() == (1,)


def test_obvo_check_and_status_work_with_the_two_roles(
    least_privilege: Roles,
    tmp_path: Path,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = least_privilege
    config = Deployment(tmp_path, r.owner_url, smtp_server, sms_gateway).config
    env = {"OBVO_DATABASE_SCHEMA": r.schema, "OBVO_SOURCE_URL": r.reader_url}
    code, output = run_cli(monkeypatch, capsys, config, "check", **env)
    assert code == 0, output
    code, output = run_cli(
        monkeypatch, capsys, config, "status", OBVO_HEALTH_MAX_HEARTBEAT_AGE="0", **env
    )
    assert code == 0, output
    assert "hole evidence" not in output  # full evidence: pg_read_all_stats works


def test_roles_sql_in_the_repository_is_what_obvo_roles_prints(
    database_url: str,
    tmp_path: Path,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = Deployment(tmp_path, database_url, smtp_server, sms_gateway).config
    code, output = run_cli(monkeypatch, capsys, config, "roles")
    assert code == 0, output
    assert output == (ROOT / "sql" / "roles.sql").read_text(encoding="utf-8") + "\n"
    code, output = run_cli(monkeypatch, capsys, config, "roles", "--reader", "Robert'); DROP")
    assert code == 78
    assert "--reader must be a lower-case SQL identifier" in output


def test_a_query_that_does_not_compile_is_named(database_url: str) -> None:
    engine = db.source_engine(database_url, 10)
    try:
        with pytest.raises(ConfigError, match=r"\[source\] events_query: cannot be analysed"):
            roles.used_objects(engine, [("events_query", "SELECT nope FROM vopi.event_log")])
    finally:
        engine.dispose()


def test_whole_row_and_view_uses_are_granted_whole(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE VIEW vopi.recent AS SELECT id, created_at FROM vopi.event_log")
    engine = db.source_engine(database_url, 10)
    try:
        used = roles.used_objects(
            engine,
            [
                ("events_query", "SELECT r.id AS event_id FROM vopi.recent r"),
                ("parties_query", "SELECT count(*) FROM vopi.parties WHERE id IN :case_ids"),
            ],
        )
    finally:
        engine.dispose()
    assert used == [
        roles.UsedObject("vopi", "parties", "table", ("id",)),
        roles.UsedObject("vopi", "recent", "view", ("id",)),
    ]
    assert postgresql.probe_text("SELECT 1::int WHERE x IN :ids AND y = :y;") == (
        "SELECT 1::int WHERE x IN (NULL) AND y = NULL"
    )
