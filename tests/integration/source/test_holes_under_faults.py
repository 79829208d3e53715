"""Events never lost, on the real PostgreSQL: a gap of any size, ids cached by a sequence, the
first start with transactions open, VOPI timing out under the poller (issue 10)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from tests.integration.test_pipeline import apply_rules, holes, notifications, subscribe
from tests.support import Vopi, wait_for
from vopi_obvo import db
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service
from vopi_obvo.ops.migrate import available_migrations, migrate
from vopi_obvo.ops.status import gather_status
from vopi_obvo.poller import Poller


@pytest.fixture
def services(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Service]]:
    made: list[Service] = []

    def factory(**overrides: object) -> Service:
        service = Service(make_settings(**overrides))
        made.append(service)
        return service

    yield factory
    for service in made:
        service.close()


def hole_rows(settings: Settings) -> list[tuple[int, int]]:
    with psycopg.connect(settings.database.url) as conn:
        rows = conn.execute("SELECT first_id, last_id FROM obvo.pending_holes ORDER BY 1")
        return [(int(a), int(b)) for a, b in rows]


def insert_event(conn: psycopg.Connection[Any], event_type: str, case: int) -> int:
    """An event written in `conn`'s own session (and transaction, unless autocommit)."""
    row = conn.execute(
        "INSERT INTO vopi.event_log (event_type_code, application_id) VALUES (%s, %s) RETURNING id",
        (event_type, case),
    ).fetchone()
    assert row is not None
    return int(row[0])


def event_ids_notified(settings: Settings) -> set[int]:
    return {int(r["source_event_id"]) for r in notifications(settings)}


def citizen_case(vopi: Vopi, settings: Settings) -> int:
    """A case whose party is subscribed by e-mail to every event; returns the case id."""
    apply_rules(settings)
    party = vopi.party()
    subscribe(settings, party, email="ana@example.si")
    return vopi.application(party)


def drain(poller: Poller, settings: Settings) -> int:
    """Poll until a poll has nothing more to read at once; the most hole rows seen."""
    most = 0
    while True:
        result = poller.poll_once()
        most = max(most, len(hole_rows(settings)))
        if not result.batch_full:
            return most


# ---- 1. a gap of any size ----


def test_a_transaction_of_10050_events_committed_after_a_clerk_arrives_whole(
    vopi: Vopi, services: Callable[..., Service]
) -> None:
    service = services(delivery__storm_threshold=100_000)
    settings = service.settings
    case = citizen_case(vopi, settings)
    poller = service.poller
    drain(poller, settings)
    with vopi.open_transaction() as bulk:  # year-end archiving in one transaction
        rows = bulk.execute(
            "INSERT INTO vopi.event_log (event_type_code, application_id)"
            " SELECT 'KLAS', %s FROM generate_series(1, 10050) RETURNING id",
            (case,),
        ).fetchall()
        bulk_ids = sorted(int(r[0]) for r in rows)
        clerk = vopi.event("ODLOC", case)
        drain(poller, settings)
        drain(poller, settings)
        assert hole_rows(settings) == [(bulk_ids[0], bulk_ids[-1])]  # one row, not 10,050
        assert event_ids_notified(settings) == {clerk}
    most_rows = drain(poller, settings)
    assert event_ids_notified(settings) == {clerk, *bulk_ids}
    assert len(notifications(settings)) == 10_051
    assert hole_rows(settings) == []
    assert most_rows <= 1  # the range shrank from below, 500 ids a poll


def test_a_real_sequence_jump_is_one_range_given_up_on_evidence(
    vopi: Vopi, services: Callable[..., Service]
) -> None:
    service = services()
    settings = service.settings
    case = citizen_case(vopi, settings)
    first = vopi.event("KLAS", case)
    service.run(once=True)
    vopi.conn.execute("SELECT setval('vopi.event_log_id_seq', %s)", (first + 5_000_000,))
    jumped = vopi.event("ODLOC", case)
    service.run(once=True)
    # Nothing could commit the ids in between: given up at once, in one statement each.
    assert hole_rows(settings) == []
    assert event_ids_notified(settings) == {first, jumped}


# ---- 2. ids drawn long before they are inserted ----


def test_a_cached_id_inserted_10_s_later_arrives(
    vopi: Vopi, services: Callable[..., Service]
) -> None:
    vopi.conn.execute("ALTER SEQUENCE vopi.event_log_id_seq CACHE 20")
    service = services(source__hole_min_age=30.0)
    settings = service.settings
    case = citizen_case(vopi, settings)
    origin = service.source.id_origin()
    assert (origin.column, origin.sequence, origin.cache_size) == (
        "vopi.event_log.id",
        "vopi.event_log_id_seq",
        20,
    )
    assert "CACHE 20" in origin.describe()
    assert any("CACHE 20" in note for note in service.source.engine_report().notes)  # obvo check
    service.run(once=True)
    # A clerk's desktop session: its first insert draws a block of 20 ids.
    desk = psycopg.connect(vopi.url, autocommit=True)
    try:
        first = insert_event(desk, "KLAS", case)
        other = vopi.event("ODLOC", case)  # another session: the next block
        assert other > first + 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # polls while the desk session idles
            service.run(once=True)
        report = gather_status(service.obvo, service.source, None, settings.source)
        assert "hole_min_age" in report["holes"]["rule"]
        later = insert_event(desk, "KLAS", case)
        assert later == first + 1  # from the session's cache, below the cursor
        service.run(once=True)
        assert event_ids_notified(settings) == {first, other, later}
        assert hole_rows(settings) == [(later + 1, other - 1)]
    finally:
        desk.close()
    # Cached ids die with their session: once every session that was connected when the
    # hole was seen has gone, the hole goes too, long before hole_min_age.
    vopi.conn.close()

    def polled_empty() -> bool:
        service.run(once=True)
        return hole_rows(settings) == []

    wait_for(polled_empty, timeout=20)


# ---- 4. the first start with transactions open ----


def test_first_start_latest_keeps_ids_of_open_transactions(
    vopi: Vopi, services: Callable[..., Service]
) -> None:
    service = services(source__start="latest")
    settings = service.settings
    case = citizen_case(vopi, settings)
    vopi.events("KLAS", case, 3)  # history: never sent
    with vopi.open_transaction() as slow:
        open_id = insert_event(slow, "ODLOC", case)
        vopi.event("KLAS", case)  # committed history above it
        service.run(once=True)  # the first start
        assert holes(settings) == [open_id]
        assert notifications(settings) == []
    service.run(once=True)
    assert event_ids_notified(settings) == {open_id}
    assert holes(settings) == []


def test_first_start_earliest_keeps_ids_of_open_transactions_below_every_visible_one(
    vopi: Vopi, services: Callable[..., Service]
) -> None:
    service = services(source__start="earliest")
    settings = service.settings
    case = citizen_case(vopi, settings)
    vopi.conn.execute("SELECT setval('vopi.event_log_id_seq', 20000)")
    with vopi.open_transaction() as slow:
        open_id = insert_event(slow, "ODLOC", case)
        visible = vopi.event("KLAS", case)
        service.run(once=True)
        assert hole_rows(settings) == [(1, open_id)]
    service.run(once=True)
    assert event_ids_notified(settings) == {open_id, visible}
    assert hole_rows(settings) == []


# ---- 10. VOPI trouble is VOPI's ----


def test_a_statement_timeout_on_vopi_keeps_the_poller_lock_and_is_retried(
    vopi: Vopi, services: Callable[..., Service]
) -> None:
    active = services(source__statement_timeout=0.3)
    standby = services(source__statement_timeout=0.3)
    settings = active.settings
    case = citizen_case(vopi, settings)
    active.run(once=True)
    with vopi.open_transaction() as dba:  # a DBA's maintenance holds the event log
        dba.execute("LOCK TABLE vopi.event_log IN ACCESS EXCLUSIVE MODE")
        with capture_logs() as logs:
            wait = active._guarded_cycle(once=False)
        assert wait is not None and wait > 0
        failed = [e for e in logs if e["event"] == "source.unavailable"]
        assert failed and failed[0]["query"] == "vopi_events_after", logs
        assert "statement timeout" in failed[0]["error"]
        assert active.polling
        assert standby._hold_poller_lock() is False  # the standby does not flap in
        dba.rollback()
    event = vopi.event("KLAS", case)
    active._guarded_cycle(once=False)  # retried
    assert active._errors == 0
    assert active.polling
    assert event_ids_notified(settings) == {event}


# ---- migration 0008 ----


def test_migration_turns_one_id_rows_into_ranges(empty_database_url: str) -> None:
    engine = db.obvo_engine(empty_database_url, "obvo")
    before = [m for m in available_migrations() if m.version < 8]
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA obvo"))
        conn.execute(sa.text("SET LOCAL search_path TO obvo, public"))
        conn.execute(
            sa.text(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        for m in before:
            conn.exec_driver_sql(m.path.read_text(encoding="utf-8"))
            conn.execute(
                sa.text("INSERT INTO schema_migrations (version, name) VALUES (:v, :n)"),
                {"v": m.version, "n": m.name},
            )
        conn.execute(
            sa.text(
                "INSERT INTO pending_holes (source, event_id, first_seen_at, first_seen_xmax)"
                " SELECT 'vopi', i, timestamptz '2026-07-01 12:00+00', 900"
                " FROM unnest(ARRAY[5, 6, 7, 9]) i"
                " UNION ALL SELECT 'vopi', 10, timestamptz '2026-07-01 12:01+00', 950"
            )
        )
    try:
        assert [m.version for m in migrate(engine, "obvo")] == [
            m.version for m in available_migrations() if m.version >= 8
        ]
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT first_id, last_id, first_seen_xmax FROM obvo.pending_holes"
                    " ORDER BY first_id"
                )
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [(5, 7, 900), (9, 9, 900), (10, 10, 950)]
