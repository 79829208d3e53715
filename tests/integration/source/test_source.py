"""VOPI reads: index use, no open transactions, the limited-privilege rule, query shape errors."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
import sqlalchemy as sa
import structlog
from psycopg import sql

from tests.conftest import ON_EVERY_ENGINE
from tests.integration.test_pipeline import apply_rules, holes, notifications, subscribe
from tests.support import Vopi, wait_for
from vopi_obvo import db, queries
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service
from vopi_obvo.errors import SourceQueryError
from vopi_obvo.ops.migrate import available_migrations, migrate
from vopi_obvo.ops.status import gather_status
from vopi_obvo.source.vopi import VopiSource


def test_poll_query_is_an_index_scan_on_a_large_event_log(vopi: Vopi, settings: Settings) -> None:
    app = vopi.application(vopi.party())
    vopi.conn.execute(
        "INSERT INTO vopi.event_log (event_type_code, application_id)"
        " SELECT 'KLAS', %s FROM generate_series(1, 200000)",
        (app,),
    )
    vopi.conn.execute("ANALYZE vopi.event_log")
    stmt = queries.vopi("vopi_events_after", settings.source.events_query)
    engine = db.source_engine(settings.source_url, 10)
    with engine.connect() as conn:
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                sa.text("EXPLAIN " + str(stmt)), {"after_id": 199_000, "limit": 500}
            )
        )
        # The hole lookup, whatever the size of the ranges: one bounded primary-key range
        # scan per range.
        ranges = queries.vopi("vopi_events_in_ranges", settings.source.events_query)
        hole_plan = "\n".join(
            r[0]
            for r in conn.execute(
                sa.text("EXPLAIN " + str(ranges)),
                {"lows": [10, 1_000, 50_000], "highs": [10, 190_000, 50_010], "limit": 500},
            )
        )
    engine.dispose()
    assert "Index Scan using event_log_pkey" in plan, plan
    assert "Seq Scan on event_log" not in plan, plan
    assert "Index Scan using event_log_pkey" in hole_plan, hole_plan
    assert "Index Cond: ((id >= r.lo) AND (id <= r.hi))" in hole_plan, hole_plan
    assert "Seq Scan on event_log" not in hole_plan, hole_plan


@ON_EVERY_ENGINE
def test_no_transaction_stays_open_on_vopi_between_polls(vopi: Vopi, settings: Settings) -> None:
    apply_rules(settings)
    party = vopi.party()
    app = vopi.application(party)
    subscribe(settings, party, email="a@example.si")
    vopi.event("KLAS", app)
    service = Service(settings)
    try:
        service.run(once=True)
        # MariaDB's INNODB_TRX is a cache up to 0.1 s old: wait for what must become true.
        states = wait_for(lambda: {"idle"} == reader_states(vopi) and reader_states(vopi))
    finally:
        service.close()
    assert states == {"idle"}, "the reader's pooled connection should still be there, idle"


def reader_states(vopi: Vopi) -> set[str]:
    """ "idle" or "in transaction" for each of OBVO's reader sessions on VOPI."""
    if not vopi.mariadb:
        rows = vopi.execute(
            vopi.conn,
            "SELECT state FROM pg_stat_activity WHERE application_name LIKE 'obvo%%(reader)'",
        )
        return {"idle" if r[0] == "idle" else "in transaction" for r in rows}
    rows = vopi.execute(
        vopi.conn,
        "SELECT p.ID, t.trx_id FROM information_schema.PROCESSLIST AS p"
        " LEFT JOIN information_schema.INNODB_TRX AS t ON t.trx_mysql_thread_id = p.ID"
        " WHERE p.DB = DATABASE() AND p.ID <> CONNECTION_ID()",
    )
    return {"idle" if r[1] is None else "in transaction" for r in rows}


@ON_EVERY_ENGINE
def test_reader_session_is_read_only(vopi: Vopi, settings: Settings) -> None:
    engine = db.source_engine(settings.source_url, 10)
    with (
        engine.connect() as conn,
        pytest.raises(sa.exc.DBAPIError, match=r"read-only|READ ONLY transaction"),
    ):
        conn.execute(sa.text(f"INSERT INTO {vopi.t}event_types VALUES ('X', 'x')"))
    engine.dispose()


@pytest.mark.parametrize(
    ("engine_kind", "events_query", "message"),
    [
        (
            "postgresql",
            "SELECT id AS event_id, event_type_code AS event_type, application_id AS case_id"
            " FROM vopi.event_log",
            "must return the column(s) occurred_at",
        ),
        (
            "postgresql",
            "SELECT id::text AS event_id, event_type_code AS event_type, created_at AS occurred_at,"
            " application_id AS case_id FROM vopi.event_log",
            "failed in VOPI: operator does not exist",
        ),
        ("postgresql", "SELECT * FROM vopi.no_such_table", "events_query failed in VOPI: relation"),
        (
            "mariadb",
            "SELECT id AS event_id, event_type_code AS event_type, application_id AS case_id"
            " FROM event_log",
            "must return the column(s) occurred_at",
        ),
        (
            "mariadb",
            "SELECT CAST(id AS CHAR) AS event_id, event_type_code AS event_type,"
            " created_at AS occurred_at, application_id AS case_id FROM event_log",
            "events_query: column event_id must be an integer, got str",
        ),
        (
            "mariadb",
            "SELECT e.no_such_column AS event_id, e.event_type_code AS event_type,"
            " e.created_at AS occurred_at, e.application_id AS case_id FROM event_log e",
            "events_query failed in VOPI: Unknown column 'e.no_such_column'",
        ),
        (
            "mariadb",
            "SELECT * FROM no_such_table",
            "events_query failed in VOPI: Table '",
        ),
    ],
    indirect=["engine_kind"],
)
def test_wrong_query_shapes_are_named(
    vopi: Vopi, settings: Settings, events_query: str, message: str
) -> None:
    vopi.event("KLAS", vopi.application(vopi.party()))
    engine = db.source_engine(settings.source_url, 10)
    source = VopiSource(engine, events_query, settings.source.parties_query)
    with pytest.raises(SourceQueryError, match=re.escape(message)):
        source.read_batch(0, 10, [])
    engine.dispose()


def test_wrong_parties_query_is_named(settings: Settings) -> None:
    engine = db.source_engine(settings.source_url, 10)
    source = VopiSource(
        engine,
        settings.source.events_query,
        "SELECT application_id AS case_id FROM vopi.application_parties"
        " WHERE application_id IN :case_ids",
    )
    assert source.check() == [
        "parties_query must return the column(s) party_id (it returns: case_id); "
        "use `AS party_id` in the query"
    ]
    engine.dispose()


@pytest.fixture
def limited_reader(vopi: Vopi, database_url: str) -> Iterator[str]:
    """A VOPI role with SELECT only, without pg_read_all_stats or PROCESS (as at many
    municipalities)."""
    role = f"obvo_reader_{secrets.token_hex(4)}"
    head, _, rest = vopi.url.partition("://")
    _, _, hostpart = rest.partition("@")
    if vopi.mariadb:
        database = sa.engine.make_url(vopi.url).database
        vopi.execute(vopi.conn, f"CREATE USER '{role}'@'%'")
        vopi.execute(vopi.conn, f"GRANT SELECT ON {database}.* TO '{role}'@'%'")
        yield f"{head}://{role}@{hostpart}"
        vopi.execute(vopi.conn, f"DROP USER '{role}'@'%'")
        return
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA vopi TO {}").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA vopi TO {}").format(sql.Identifier(role))
        )
    yield f"{head}://{role}@{hostpart}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@ON_EVERY_ENGINE
def test_without_stats_privilege_holes_wait_for_hole_max_age(
    vopi: Vopi,
    limited_reader: str,
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(source__url=limited_reader, source__hole_max_age=2.0)
    apply_rules(settings)
    party = vopi.party()
    app = vopi.application(party)
    subscribe(settings, party, phone="+38641123456")
    service = Service(settings)
    try:
        evidence = service.source.hole_evidence()
        assert evidence.can_see_all_sessions is False
        privilege = "PROCESS" if vopi.mariadb else "pg_read_all_stats"
        said = f"limited: the VOPI role lacks {privilege}, so holes are given up after"
        assert gather_status(service.obvo, service.source)["holes"]["evidence"].startswith(said)
        with structlog.testing.capture_logs() as logs:
            service.verify()
        [start] = [e for e in logs if e["event"] == "holes.evidence"]
        assert (start["log_level"], start["evidence"][: len(said)]) == ("warning", said)
        conn = vopi.connect()
        lost = vopi.event("KLAS", app, conn)
        seen = vopi.event("ODLOC", app)
        before_first_sight = time.monotonic()
        service.run(once=True)
        conn.rollback()
        conn.close()
        service.run(once=True)
        # Rolled back, but this role cannot prove that nothing else could still commit it.
        if time.monotonic() - before_first_sight < 2.0:  # a loaded machine may be slower
            assert holes(settings) == [lost]

        def given_up() -> bool:
            service.run(once=True)
            return holes(settings) == []

        wait_for(given_up, timeout=20)
        assert time.monotonic() - before_first_sight >= 2.0  # hole_max_age
        assert {r["source_event_id"] for r in notifications(settings)} == {seen}
    finally:
        service.close()


def test_migrate_is_idempotent_and_leaves_vopi_alone(empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA vopi")
        conn.execute("CREATE TABLE vopi.event_log (id bigserial PRIMARY KEY)")
    engine = db.obvo_engine(empty_database_url, "obvo")
    try:
        first = migrate(engine, "obvo")
        assert [m.version for m in first] == [m.version for m in available_migrations()]
        assert migrate(engine, "obvo") == []
    finally:
        engine.dispose()
    with psycopg.connect(empty_database_url) as conn:
        vopi_tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'vopi'"
        ).fetchall()
        obvo_tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'obvo'"
            )
        }
    assert vopi_tables == [("event_log",)]
    assert {"notifications", "subscribers", "source_cursor", "pending_holes"} <= obvo_tables


def test_check_names_columns_of_the_wrong_type(settings: Settings) -> None:
    engine = db.source_engine(settings.source_url, 10)
    source = VopiSource(
        engine,
        "SELECT id::text AS event_id, event_type_code AS event_type,"
        " created_at::date AS occurred_at, application_id AS case_id FROM vopi.event_log",
        settings.source.parties_query,
    )
    problems = source.check()
    engine.dispose()
    assert problems == [
        "events_query: column event_id must be an integer (bigint/integer) "
        "(PostgreSQL type oid 25); cast it in the query",
        "events_query: column occurred_at must be a timestamp "
        "(PostgreSQL type oid 1082); cast it in the query",
    ]


def test_timestamp_without_time_zone_is_vopi_local_time(vopi: Vopi, settings: Settings) -> None:
    app = vopi.application(vopi.party())
    # 01:30 UTC on the morning clocks go forward: 03:30 summer time on VOPI's wall clock.
    vopi.conn.execute(
        "INSERT INTO vopi.event_log (event_type_code, application_id, created_at)"
        " VALUES ('KLAS', %s, '2026-03-29 01:30:00+00')",
        (app,),
    )
    local_query = settings.source.events_query.replace(
        "e.created_at      AS occurred_at",
        "e.created_at AT TIME ZONE 'Europe/Ljubljana' AS occurred_at",
    )
    assert local_query != settings.source.events_query
    engine = db.source_engine(settings.source_url, 10)
    source = VopiSource(engine, local_query, settings.source.parties_query, "Europe/Ljubljana")
    [event] = source.read_batch(0, 10, []).events
    engine.dispose()
    assert event.occurred_at == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)
    assert event.occurred_at.utcoffset() == dt.timedelta(hours=2)
    assert event.values["occurred_at"] == event.occurred_at
