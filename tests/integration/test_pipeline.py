"""From VOPI rows to messages on a real SMTP server and SMS gateway, through real PostgreSQL."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from tests.conftest import ON_EVERY_ENGINE
from tests.support import EXAMPLE_RULES, SmsGateway, SmtpServer, Vopi, wait_for
from vopi_obvo import store
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service
from vopi_obvo.rules import parse_rules_document


def apply_rules(settings: Settings, document: dict[str, Any] | None = None) -> None:
    doc = document or tomllib.loads(EXAMPLE_RULES.read_text(encoding="utf-8"))
    engine = sa.create_engine(
        settings.database.url.replace("postgresql://", "postgresql+psycopg://")
    )
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL search_path TO obvo"))
        store.save_rules(conn, parse_rules_document(doc))
    engine.dispose()


def subscribe(
    settings: Settings,
    party_id: int,
    *,
    email: str | None = None,
    phone: str | None = None,
    events: str = "all",
    language: str = "sl",
) -> int:
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO obvo.subscribers (party_id, email, phone, events, language)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (str(party_id), email, phone, events, language),
        ).fetchone()
    assert row is not None
    return int(row[0])


def notifications(settings: Settings) -> list[dict[str, Any]]:
    with psycopg.connect(settings.database.url) as conn:
        cur = conn.execute(
            "SELECT id, source_event_id, subscriber_id, channel, event_type, status, attempts,"
            " recipient, subject, body, last_error, provider_id, language"
            " FROM obvo.notifications ORDER BY id"
        )
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def attempts(settings: Settings, notification_id: int) -> list[tuple[int, str, str | None]]:
    with psycopg.connect(settings.database.url) as conn:
        return [
            (int(r[0]), str(r[1]), r[2])
            for r in conn.execute(
                "SELECT attempt, outcome, error FROM obvo.notification_attempts"
                " WHERE notification_id = %s ORDER BY id",
                (notification_id,),
            )
        ]


def holes(settings: Settings) -> list[int]:
    with psycopg.connect(settings.database.url) as conn:
        return [
            int(r[0])
            for r in conn.execute(
                "SELECT i FROM obvo.pending_holes, generate_series(first_id, last_id) AS i"
                " ORDER BY 1"
            )
        ]


@pytest.fixture
def service_factory(settings: Settings) -> Iterator[Callable[..., Service]]:
    made: list[Service] = []

    def factory(custom: Settings | None = None) -> Service:
        service = Service(custom or settings)
        made.append(service)
        return service

    yield factory
    for service in made:
        service.close()


@pytest.fixture
def citizen(vopi: Vopi, settings: Settings) -> dict[str, int]:
    """One party with an application, subscribed by e-mail and SMS to all events."""
    apply_rules(settings)
    party = vopi.party("Janez Novak")
    app = vopi.application(party)
    sub = subscribe(settings, party, email="janez@example.si", phone="+38641123456")
    return {"party": party, "application": app, "subscriber": sub}


def test_key_event_reaches_inbox_and_phone(
    vopi: Vopi,
    citizen: dict[str, int],
    settings: Settings,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    service_factory: Callable[..., Service],
) -> None:
    event_id = vopi.event("KLAS", citizen["application"])
    service_factory().run(once=True)

    [mail] = smtp_server.messages
    assert mail.recipients == ["janez@example.si"]
    assert mail.subject == f"Vaša vloga 354-{citizen['application']}/2026 je uvrščena v obravnavo"
    assert "klasifikacijsko oznako 354-1" in mail.body
    assert mail.message["Auto-Submitted"] == "auto-generated"
    [sms] = sms_gateway.messages
    assert sms.payload["to"] == "+38641123456"
    assert sms.payload["sender"] == "KOPER"
    assert sms.payload["text"] == f"Vloga 354-{citizen['application']}/2026: klasifikacija 354-1."
    assert sms.headers["Authorization"] == "Bearer test-token"
    rows = notifications(settings)
    assert {(r["channel"], r["status"], r["source_event_id"]) for r in rows} == {
        ("email", "sent", event_id),
        ("sms", "sent", event_id),
    }
    sms_row = next(r for r in rows if r["channel"] == "sms")
    assert sms.payload["reference"] == str(sms_row["id"])
    assert sms_row["provider_id"] == "gw-1"


@ON_EVERY_ENGINE
@pytest.mark.parametrize(
    ("event_type", "level", "expected"),
    [
        ("OGLED", "all", 0),  # internal
        ("OGLED", "key", 0),
        ("ARHIV", "all", 0),  # unclassified
        ("ARHIV", "key", 0),
        ("VLOZ", "all", 2),  # notify
        ("VLOZ", "key", 0),
        ("KLAS", "all", 2),  # key
        ("KLAS", "key", 2),
    ],
)
def test_kind_and_level_matrix(
    vopi: Vopi,
    settings: Settings,
    service_factory: Callable[..., Service],
    event_type: str,
    level: str,
    expected: int,
) -> None:
    apply_rules(settings)
    party = vopi.party()
    app = vopi.application(party)
    subscribe(settings, party, email="a@example.si", phone="+38641000001", events=level)
    vopi.event(event_type, app)
    service_factory().run(once=True)
    rows = notifications(settings)
    assert len(rows) == expected
    assert all(r["status"] == "sent" for r in rows)


def test_every_subscribed_party_of_a_case_is_told_in_their_language(
    vopi: Vopi,
    settings: Settings,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    service_factory: Callable[..., Service],
) -> None:
    apply_rules(settings)
    applicant, co_applicant, unsubscribed = vopi.party(), vopi.party(), vopi.party()
    app = vopi.application(applicant, co_applicant, unsubscribed)
    subscribe(settings, applicant, email="ana@example.si")
    subscribe(settings, co_applicant, phone="+38640222333", language="it")
    vopi.event("VLOZ", app)
    service_factory().run(once=True)
    assert [m.recipients for m in smtp_server.messages] == [["ana@example.si"]]
    [sms] = sms_gateway.messages
    assert sms.payload["text"].startswith("Comune: domanda")


def test_unclassified_types_are_counted(
    vopi: Vopi, citizen: dict[str, int], settings: Settings, service_factory: Callable[..., Service]
) -> None:
    vopi.events("ARHIV", citizen["application"], 3)
    service_factory().run(once=True)
    with psycopg.connect(settings.database.url) as conn:
        rows = conn.execute(
            "SELECT event_type, seen_count FROM obvo.unclassified_event_types"
        ).fetchall()
    assert rows == [("ARHIV", 3)]


@ON_EVERY_ENGINE
def test_first_start_latest_does_not_replay_history(
    vopi: Vopi,
    citizen: dict[str, int],
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
    service_factory: Callable[..., Service],
) -> None:
    settings = make_settings(source__start="latest")
    vopi.events("KLAS", citizen["application"], 5)
    service_factory(settings).run(once=True)
    assert notifications(settings) == []
    new_id = vopi.event("ODLOC", citizen["application"])
    service_factory(settings).run(once=True)
    assert {r["source_event_id"] for r in notifications(settings)} == {new_id}
    assert len(smtp_server.messages) == 1


def test_start_at_a_given_event_id(
    vopi: Vopi,
    citizen: dict[str, int],
    make_settings: Callable[..., Settings],
    service_factory: Callable[..., Service],
) -> None:
    ids = vopi.events("KLAS", citizen["application"], 4)
    settings = make_settings(source__start=str(ids[2]))
    service_factory(settings).run(once=True)
    assert {r["source_event_id"] for r in notifications(settings)} == {ids[2], ids[3]}


def test_rereading_after_a_crash_creates_no_duplicates(
    vopi: Vopi,
    citizen: dict[str, int],
    settings: Settings,
    smtp_server: SmtpServer,
    service_factory: Callable[..., Service],
) -> None:
    vopi.events("KLAS", citizen["application"], 3)
    service_factory().run(once=True)
    # As if the process died after inserting notifications but before moving the cursor.
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        conn.execute("UPDATE obvo.source_cursor SET last_event_id = 0")
    service_factory().run(once=True)
    assert len(notifications(settings)) == 6
    assert len(smtp_server.messages) == 3


@ON_EVERY_ENGINE
def test_out_of_order_commit_is_delivered(
    vopi: Vopi,
    citizen: dict[str, int],
    settings: Settings,
    smtp_server: SmtpServer,
    service_factory: Callable[..., Service],
) -> None:
    app = citizen["application"]
    service = service_factory()
    with vopi.open_transaction() as slow:
        slow_id = vopi.event("KLAS", app, slow)
        fast_id = vopi.event("ODLOC", app)
        # Far longer than the poll interval: the cursor moves past the open transaction's id.
        for _ in range(20):
            service.run(once=True)
        assert holes(settings) == [slow_id]
        assert {r["source_event_id"] for r in notifications(settings)} == {fast_id}
    service.run(once=True)
    assert holes(settings) == []
    assert {r["source_event_id"] for r in notifications(settings)} == {slow_id, fast_id}
    assert len(smtp_server.messages) == 2


@ON_EVERY_ENGINE
def test_id_reserved_with_nextval_and_inserted_later_is_delivered(
    vopi: Vopi,
    citizen: dict[str, int],
    settings: Settings,
    service_factory: Callable[..., Service],
) -> None:
    app = citizen["application"]
    vopi.draw_ids_from_a_sequence()
    service = service_factory()
    with vopi.open_transaction() as slow:
        reserved = vopi.draw_id(slow)
        later = vopi.event("KLAS", app)
        for _ in range(10):
            service.run(once=True)
        # PostgreSQL: the open transaction has no xid yet; only pg_stat_activity shows it.
        # MariaDB: nothing shows a drawn sequence value; the engine falls back to the age rule.
        assert holes(settings) == [reserved]
        vopi.insert_event_with_id(slow, reserved, "ODLOC", app)
        service.run(once=True)
        assert holes(settings) == [reserved]
    service.run(once=True)
    assert holes(settings) == []
    assert {r["source_event_id"] for r in notifications(settings)} == {reserved, later}


@ON_EVERY_ENGINE
def test_rolled_back_id_is_given_up_and_never_stalls(
    vopi: Vopi,
    citizen: dict[str, int],
    settings: Settings,
    service_factory: Callable[..., Service],
) -> None:
    app = citizen["application"]
    service = service_factory()
    conn = vopi.connect()
    lost = vopi.event("KLAS", app, conn)
    after = vopi.event("ODLOC", app)
    service.run(once=True)
    assert holes(settings) == [lost]
    conn.rollback()
    conn.close()
    later = vopi.event("ODLOC", app)

    def given_up() -> bool:
        # PostgreSQL: at the next poll; MariaDB: once INNODB_TRX's cache (0.1 s, whole
        # seconds) is certain to show every transaction that could still commit it.
        service.run(once=True)
        return holes(settings) == []

    wait_for(given_up, timeout=10)
    assert {r["source_event_id"] for r in notifications(settings)} == {after, later}


def test_template_error_fails_that_notification_and_the_batch_goes_on(
    vopi: Vopi,
    citizen: dict[str, int],
    settings: Settings,
    smtp_server: SmtpServer,
    service_factory: Callable[..., Service],
) -> None:
    # An administrator edits a template in SQL and refers to a column the query lacks.
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE obvo.templates SET email_body = 'Vloga {{ event.no_such_column }}'"
            " WHERE event_type = 'KLAS' AND language = 'sl'"
        )
    broken = vopi.event("KLAS", citizen["application"])
    fine = vopi.event("ODLOC", citizen["application"])
    service_factory().run(once=True)
    rows = {(r["source_event_id"], r["channel"]): r for r in notifications(settings)}
    failed = rows[(broken, "email")]
    assert failed["status"] == "failed"
    assert "no_such_column" in failed["last_error"]
    assert "KLAS" in failed["last_error"]
    assert rows[(broken, "sms")]["status"] == "sent"
    assert rows[(fine, "email")]["status"] == "sent"
    assert len(smtp_server.messages) == 1


def test_smtp_outage_retries_then_delivers(
    vopi: Vopi,
    citizen: dict[str, int],
    settings: Settings,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    service_factory: Callable[..., Service],
) -> None:
    smtp_server.stop()
    vopi.event("KLAS", citizen["application"])
    service = service_factory()
    service.run(once=True)
    [email_row] = [r for r in notifications(settings) if r["channel"] == "email"]
    assert email_row["status"] == "pending"
    assert email_row["attempts"] == 1
    assert "SMTP" in email_row["last_error"]
    assert len(sms_gateway.messages) == 1  # SMS is not held up by the mail server
    smtp_server.start()

    def delivered() -> bool:
        service.dispatcher._paused_until.clear()
        service.run(once=True)
        return len(smtp_server.messages) == 1

    wait_for(delivered, timeout=10)
    [email_row] = [r for r in notifications(settings) if r["channel"] == "email"]
    assert email_row["status"] == "sent"
    assert email_row["attempts"] >= 2
    history = attempts(settings, email_row["id"])
    assert [a[0] for a in history] == list(range(1, email_row["attempts"] + 1))
    assert [a[1] for a in history] == ["retry"] * (len(history) - 1) + ["sent"]
    assert "SMTP" in (history[0][2] or "")


def test_sms_gateway_5xx_retries_until_max_attempts(
    vopi: Vopi,
    citizen: dict[str, int],
    make_settings: Callable[..., Settings],
    sms_gateway: SmsGateway,
    service_factory: Callable[..., Service],
) -> None:
    settings = make_settings(
        delivery__max_attempts=3, delivery__retry_initial_delay=0.05, delivery__retry_max_delay=0.1
    )
    sms_gateway.status = 503
    vopi.event("KLAS", citizen["application"])
    service = service_factory(settings)

    def sms_row() -> dict[str, Any]:
        return next(r for r in notifications(settings) if r["channel"] == "sms")

    def finished() -> bool:
        service.dispatcher._paused_until.clear()
        service.run(once=True)
        return bool(sms_row()["status"] == "failed")

    wait_for(finished, timeout=10)
    row = sms_row()
    assert row["attempts"] == 3
    assert row["last_error"].startswith("SMS gateway HTTP 503")


def test_permanent_errors_fail_at_once(
    vopi: Vopi,
    citizen: dict[str, int],
    settings: Settings,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    service_factory: Callable[..., Service],
) -> None:
    smtp_server.handler.refuse["janez@example.si"] = "550 5.1.1 mailbox unavailable"
    sms_gateway.status = 400
    vopi.event("KLAS", citizen["application"])
    service_factory().run(once=True)
    rows = {r["channel"]: r for r in notifications(settings)}
    assert rows["email"]["status"] == "failed"
    assert rows["email"]["attempts"] == 1
    assert rows["email"]["last_error"].startswith("SMTP 550")
    assert rows["sms"]["status"] == "failed"
    assert rows["sms"]["last_error"].startswith("SMS gateway HTTP 400")


def test_smtp_4xx_is_temporary(
    vopi: Vopi,
    citizen: dict[str, int],
    settings: Settings,
    smtp_server: SmtpServer,
    service_factory: Callable[..., Service],
) -> None:
    smtp_server.handler.refuse["janez@example.si"] = "451 4.3.0 try again later"
    vopi.event("KLAS", citizen["application"])
    service_factory().run(once=True)
    rows = {r["channel"]: r for r in notifications(settings)}
    assert rows["email"]["status"] == "pending"
    assert rows["email"]["last_error"].startswith("SMTP 451")


def test_claims_of_a_dead_worker_are_taken_back(
    vopi: Vopi,
    citizen: dict[str, int],
    settings: Settings,
    smtp_server: SmtpServer,
    service_factory: Callable[..., Service],
) -> None:
    vopi.event("KLAS", citizen["application"])
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        # A process claimed everything, then died: its heartbeat is long gone.
        conn.execute(
            "INSERT INTO obvo.workers (id, hostname, pid, heartbeat_at)"
            " VALUES ('dead/1/x', 'dead', 1, now() - interval '1 hour')"
        )
    service = service_factory()
    assert service.poller.poll_once().notifications == 2
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE obvo.notifications"
            " SET status = 'sending', claimed_by = 'dead/1/x', attempts = 1"
        )
    service.run(once=True)
    rows = notifications(settings)
    assert all(r["status"] == "sent" for r in rows)
    assert len(smtp_server.messages) == 1
    assert [(a, o) for a, o, _ in attempts(settings, rows[0]["id"])] == [
        (1, "taken_back"),
        (2, "sent"),
    ]


def test_claims_of_a_live_worker_are_left_alone(
    vopi: Vopi,
    citizen: dict[str, int],
    settings: Settings,
    service_factory: Callable[..., Service],
) -> None:
    vopi.event("KLAS", citizen["application"])
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        conn.execute("INSERT INTO obvo.workers (id, hostname, pid) VALUES ('live/2/y', 'live', 2)")
    service = service_factory()
    service.poller.poll_once()
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        conn.execute("UPDATE obvo.notifications SET status = 'sending', claimed_by = 'live/2/y'")
    service.run(once=True)
    assert {r["status"] for r in notifications(settings)} == {"sending"}


def test_only_one_poller_at_a_time(
    vopi: Vopi, citizen: dict[str, int], service_factory: Callable[..., Service]
) -> None:
    first, second = service_factory(), service_factory()
    assert first._hold_poller_lock() is True
    assert second._hold_poller_lock() is False
    first._drop_lock_connection()
    assert second._hold_poller_lock() is True
