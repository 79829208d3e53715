"""VOPI on MariaDB: the poll's plan on a large log, the session, the id generator in `check`,
old character sets and DATETIME without a zone, and the least-privilege reader."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable, Iterator

import pymysql
import pytest
import sqlalchemy as sa

from tests.integration.test_pipeline import apply_rules, subscribe
from tests.support import SmtpServer, Vopi, mariadb_params
from vopi_obvo import db
from vopi_obvo.admin import rules_ops
from vopi_obvo.admin.rendering import sample_values
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service
from vopi_obvo.ops import health, roles
from vopi_obvo.source import engines
from vopi_obvo.source.holes import Hole
from vopi_obvo.source.vopi import VopiSource

pytestmark = pytest.mark.parametrize("engine_kind", ["mariadb"], indirect=True)


@pytest.fixture
def source(settings: Settings) -> Iterator[VopiSource]:
    engine = db.source_engine(settings.source_url, 10)
    yield VopiSource(
        engine, settings.source.events_query, settings.source.parties_query, "Europe/Ljubljana"
    )
    engine.dispose()


def test_poll_is_a_range_scan_of_the_primary_key_on_a_million_events(
    vopi: Vopi, source: VopiSource
) -> None:
    app = vopi.application(vopi.party())
    vopi.execute(
        vopi.conn,
        "INSERT INTO event_log (event_type_code, application_id)"
        " SELECT 'KLAS', %s FROM seq_1_to_1000000",
        (app,),
    )
    vopi.execute(vopi.conn, "ANALYZE TABLE event_log")
    stmt = source.wrapped("vopi_events_after")
    with source.engine.connect() as conn:
        explain = sa.text("EXPLAIN FORMAT=JSON " + stmt.text)
        plan = conn.execute(explain, {"after_id": 999_000, "limit": 500}).scalar_one()
        conn.rollback()
    [log] = [t for t in _accesses(json.loads(plan)) if t["table_name"] == "e"]
    assert (log["access_type"], log["key"]) == ("range", "PRIMARY"), plan
    assert "materialized" not in plan, plan
    report = source.engine_report()
    assert report.warnings == []
    assert "poll plan: range scan on the primary key of e (derived table merged)" in report.notes


def _accesses(node: object) -> Iterator[dict[str, str]]:
    if isinstance(node, dict):
        if "access_type" in node:
            yield node
        for value in node.values():
            yield from _accesses(value)
    elif isinstance(node, list):
        for item in node:
            yield from _accesses(item)


def test_check_warns_when_the_derived_table_cannot_be_merged(
    vopi: Vopi, settings: Settings
) -> None:
    vopi.event("KLAS", vopi.application(vopi.party()))
    engine = db.source_engine(settings.source_url, 10)
    distinct = settings.source.events_query.replace("SELECT", "SELECT DISTINCT", 1)
    source = VopiSource(engine, distinct, settings.source.parties_query)
    report = source.engine_report()
    engine.dispose()
    [warning] = report.warnings
    assert "pushed into a materialised derived table" in warning
    assert "Remove DISTINCT, GROUP BY, LIMIT or UNION" in warning


def test_reader_session_is_read_only_read_committed_and_time_limited(
    source: VopiSource,
) -> None:
    with source.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT @@tx_read_only, @@tx_isolation, @@max_statement_time, @@time_zone")
        ).one()
        conn.rollback()
    assert tuple(row) == (1, "READ-COMMITTED", 10.0, "+00:00")


def test_check_names_the_id_generator_and_a_sequence_limits_the_evidence(
    vopi: Vopi, source: VopiSource, settings: Settings
) -> None:
    database = sa.engine.make_url(vopi.url).database
    report = source.engine_report()
    assert report.warnings == []
    assert f"event_id: AUTO_INCREMENT of {database}.event_log.id" in report.notes
    assert source.evidence_mode() == "full"

    # MariaDB's SEQUENCE caches 1000 values per server by default; and any value drawn before
    # its insert is invisible in INNODB_TRX.
    vopi.execute(vopi.conn, "CREATE SEQUENCE event_log_seq")
    vopi.execute(
        vopi.conn,
        "ALTER TABLE event_log MODIFY id BIGINT NOT NULL DEFAULT (NEXT VALUE FOR event_log_seq)",
    )
    fresh = VopiSource(source.engine, source.events_query, settings.source.parties_query)
    [warning] = fresh.engine_report().warnings
    assert f"SEQUENCE {database}.event_log_seq (CACHE 1000)" in warning
    assert "given up only after [source] hole_max_age" in warning
    assert fresh.evidence_mode().startswith("limited: event_id SEQUENCE")


@pytest.mark.parametrize("charset", ["latin2", "cp1250"])
def test_old_character_sets_and_local_datetimes_reach_the_citizen_intact(
    vopi: Vopi,
    settings: Settings,
    smtp_server: SmtpServer,
    charset: str,
) -> None:
    if charset != "latin2":  # the reference schema's own; its foreign keys pin the others
        vopi.execute(vopi.conn, "ALTER TABLE event_log DROP FOREIGN KEY event_log_ibfk_1")
        for table in ("applications", "event_types", "event_log"):
            vopi.execute(vopi.conn, f"ALTER TABLE {table} CONVERT TO CHARACTER SET {charset}")
    apply_rules(settings)
    party = vopi.party()
    subject = "Gradnja čebelnjaka, šupe in žage (ČŠŽ)"
    app = vopi.application(party)
    vopi.execute(vopi.conn, "UPDATE applications SET subject = %s WHERE id = %s", (subject, app))
    # Stored in one byte per letter: č is E8 in both latin2 and cp1250.
    [(stored,)] = vopi.execute(
        vopi.conn, "SELECT HEX(subject) FROM applications WHERE id = %s", (app,)
    )
    assert stored.startswith("477261646E6A6120E8")
    [(column_charset,)] = vopi.execute(
        vopi.conn,
        "SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA ="
        " DATABASE() AND TABLE_NAME = 'applications' AND COLUMN_NAME = 'subject'",
    )
    assert column_charset == charset
    subscribe(settings, party, email="ana@example.si")
    # 03:30 on the morning clocks go forward in Ljubljana: 01:30 UTC.
    vopi.execute(
        vopi.conn,
        "INSERT INTO event_log (event_type_code, application_id, created_at)"
        " VALUES ('VLOZ', %s, '2026-03-29 03:30:00')",
        (app,),
    )
    service = Service(settings)
    try:
        [event] = service.source.read_batch(0, 10, []).events
        service.run(once=True)
    finally:
        service.close()
    assert event.occurred_at == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)
    [mail] = smtp_server.messages
    assert f"»{subject}«" in mail.body
    assert "29. 3. 2026 03:30" in mail.body


def test_hole_ranges_are_read_lowest_first_and_bounded(vopi: Vopi, source: VopiSource) -> None:
    app = vopi.application(vopi.party())
    ids = vopi.events("KLAS", app, 12)
    seen = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    ranges = [Hole(ids[1], ids[3], seen, None), Hole(ids[6], ids[11], seen, None)]
    found, read_to = source.events_in_holes(ranges, 100)
    assert [e.event_id for e in found] == [*ids[1:4], *ids[6:12]]
    assert read_to is None  # every range read completely
    found, read_to = source.events_in_holes(ranges, 4)
    assert [e.event_id for e in found] == [*ids[1:4], ids[6]]
    assert read_to == ids[6]
    newest, gaps = source.recent_gaps(1000)
    assert (newest, gaps) == (ids[-1], [])


def test_lag_is_measured_on_vopis_wall_clock(vopi: Vopi, source: VopiSource) -> None:
    app = vopi.application(vopi.party())
    first = vopi.event("KLAS", app)
    lag = health.measure_lag(source, first - 1)
    assert lag.events_behind == 1
    assert lag.seconds is not None
    assert 0.0 <= lag.seconds < 60.0


class MariaDbUser:
    """A MariaDB user that `obvo roles`' script creates; dropped after the test."""

    def __init__(self, vopi: Vopi) -> None:
        self.vopi = vopi
        self.name = f"obvo_r_{secrets.token_hex(3)}"

    def apply(self, script: str) -> str:
        """Runs the script as an administrator; the new user's URL."""
        for statement in script.split(";\n"):
            body = "\n".join(
                line for line in statement.splitlines() if not line.startswith("--")
            ).strip()
            if body:
                self.vopi.execute(self.vopi.conn, body)
        head, _, rest = self.vopi.url.partition("://")
        return f"{head}://{self.name}@{rest.partition('@')[2]}"


@pytest.fixture
def mariadb_user(vopi: Vopi) -> Iterator[MariaDbUser]:
    user = MariaDbUser(vopi)
    yield user
    vopi.execute(vopi.conn, f"DROP USER IF EXISTS `{user.name}`@'%'")


def test_roles_grant_exactly_the_tables_the_queries_use_and_nothing_to_write(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
    mariadb_user: MariaDbUser,
) -> None:
    settings = make_settings()
    database = sa.engine.make_url(vopi.url).database
    engine = db.source_engine(settings.source_url, 10)
    queries = [
        ("events_query", settings.source.events_query),
        ("parties_query", settings.source.parties_query),
    ]
    used = roles.used_objects(engine, queries)
    engine.dispose()
    assert [(o.schema, o.name) for o in used] == [
        (database, "application_parties"),
        (database, "applications"),
        (database, "event_log"),
    ]
    user = mariadb_user.name
    reader = engines.for_kind("mysql").reader_grants(user, used)
    grants = [line for line in reader if line.startswith("GRANT")]
    assert grants == [
        f"GRANT PROCESS ON *.* TO `{user}`@'%';",
        f"GRANT SELECT ON `{database}`.`application_parties` TO `{user}`@'%';",
        f"GRANT SELECT ON `{database}`.`applications` TO `{user}`@'%';",
        f"GRANT SELECT ON `{database}`.`event_log` TO `{user}`@'%';",
    ]
    script = roles.render(user, "obvo_owner", "obvo", used, engines.for_kind("mysql"))
    part_1 = script.split("-- ==== 2.")[0]
    reader_url = mariadb_user.apply(part_1)

    apply_rules(settings)
    party = vopi.party()
    subscribe(settings, party, email="janez@example.si")
    vopi.event("KLAS", vopi.application(party))
    as_reader = make_settings(source__url=reader_url)
    service = Service(as_reader)
    try:
        service.verify()
        assert service.source.evidence_mode() == "full"  # PROCESS
        service.run(once=True)
    finally:
        service.close()
    assert [m.recipients for m in smtp_server.messages] == [["janez@example.si"]]

    with pymysql.connect(**mariadb_params(reader_url), autocommit=True) as conn:
        for statement in (
            "INSERT INTO event_log (event_type_code, application_id) VALUES ('KLAS', 1)",
            "UPDATE event_log SET detail = 'x'",
            "DELETE FROM event_log",
            "UPDATE applications SET subject = 'x'",
            "SELECT name FROM parties",  # not used by the queries: not granted
        ):
            with conn.cursor() as cursor, pytest.raises(pymysql.err.OperationalError) as denied:
                cursor.execute(statement)
            assert denied.value.args[0] == 1142, statement  # command denied to user


def test_rules_check_samples_follow_mariadbs_column_types(source: VopiSource) -> None:
    kinds = dict(rules_ops.event_columns(source))
    assert kinds["event_id"] == "integer"
    assert kinds["occurred_at"] == "timestamp"  # a DATETIME
    assert kinds["case_subject"] is None  # VARCHAR: text
    values = sample_values(list(kinds.items()), "VLOZ")
    assert isinstance(values["occurred_at"], dt.datetime)
    assert values["case_subject"] == "<case_subject>"
