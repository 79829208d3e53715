"""The storm guard and the per-subscriber limit end to end: held, shown, released, cancelled."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
import structlog

from tests.integration.messages_helpers import citizen, execute, rows, run_once
from tests.integration.test_pipeline import apply_rules, subscribe
from tests.support import SmsGateway, SmtpServer, Vopi
from vopi_obvo import db
from vopi_obvo.config import Settings
from vopi_obvo.delivery.storm_store import cancel_held, release_held
from vopi_obvo.ops.status import format_status, gather_status


def statuses(settings: Settings) -> Counter[tuple[str, str]]:
    return Counter((r["event_type"], r["status"]) for r in rows(settings))


def storms(settings: Settings) -> list[str]:
    with db.obvo_engine(settings.database.url, settings.database.schema).connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT event_type FROM storms")]


def decide(settings: Settings, event_type: str, *, release: bool) -> int:
    engine = db.obvo_engine(settings.database.url, settings.database.schema)
    try:
        with engine.begin() as conn:
            outcome = (release_held if release else cancel_held)(
                conn, settings.database.schema, event_type
            )
        return outcome.notifications
    finally:
        engine.dispose()


def status_report(settings: Settings) -> tuple[dict[str, object], str]:
    engine = db.obvo_engine(settings.database.url, settings.database.schema)
    try:
        report = gather_status(engine, None)
    finally:
        engine.dispose()
    return report, format_status(report)


def test_a_storm_is_held_shown_and_released(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings(delivery__storm_threshold=5)
    who = citizen(vopi, settings, phone=None)
    vopi.events("VLOZ", who["application"], 8)  # one minute, 8 e-mails: over 5
    vopi.events("KLAS", who["application"], 3)  # another type, under the threshold
    with structlog.testing.capture_logs() as logs:
        run_once(settings)

    assert statuses(settings) == {("VLOZ", "held"): 8, ("KLAS", "sent"): 3}
    assert {r["held_reason"] for r in rows(settings, "status = 'held'")} == {"storm"}
    assert len(smtp_server.messages) == 3
    assert storms(settings) == ["VLOZ"]
    loud = [e for e in logs if e["event"] == "storm.held" and e.get("storm_started")]
    assert len(loud) == 1
    assert loud[0]["log_level"] == "warning"
    assert loud[0]["event_type"] == "VLOZ"
    assert "obvo notifications release --event-type VLOZ" in loud[0]["hint"]

    report, text = status_report(settings)
    held = report["held"]
    assert isinstance(held, dict)
    assert [(h["event_type"], h["reason"], h["count"]) for h in held["held"]] == [
        ("VLOZ", "storm", 8)
    ]
    assert [s["event_type"] for s in held["storms"]] == ["VLOZ"]
    assert "STORM             VLOZ: 6 notifications in the minute" in text
    assert "(threshold 5)" in text
    assert "held              VLOZ" in text
    assert "obvo notifications release --event-type VLOZ" in text

    # The storm goes on: new ones of the type are held too, even in a later minute.
    execute(
        settings,
        "INSERT INTO vopi.event_log (event_type_code, application_id, created_at)"
        " VALUES ('VLOZ', %s, now() + interval '5 minutes')",
        (who["application"],),
    )
    run_once(settings)
    assert statuses(settings)[("VLOZ", "held")] == 9
    assert len(smtp_server.messages) == 3  # held is never sent ...

    assert decide(settings, "VLOZ", release=True) == 9
    assert storms(settings) == []
    run_once(settings)
    assert statuses(settings) == {("VLOZ", "sent"): 9, ("KLAS", "sent"): 3}  # ... nor dropped
    assert len(smtp_server.messages) == 12


def test_counting_spans_batches_and_pending_ones_of_the_minute_are_held_too(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings(delivery__storm_threshold=5, source__batch_size=3)
    who = citizen(vopi, settings, phone=None)
    vopi.events("VLOZ", who["application"], 10)
    # Poll 3 events: under the threshold, not sent yet (no dispatcher here).
    from vopi_obvo.daemon import Service  # noqa: PLC0415

    service = Service(settings)
    try:
        service.poller.poll_once()
        assert statuses(settings) == {("VLOZ", "pending"): 3}
        service.poller.poll_once()  # the 6th crosses the line: the 3 pending are held too
        assert statuses(settings) == {("VLOZ", "held"): 6}
        service.run(once=True)
    finally:
        service.close()
    assert statuses(settings) == {("VLOZ", "held"): 10}
    assert smtp_server.messages == []


def test_sent_ones_stay_sent_when_a_storm_begins(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings(delivery__storm_threshold=5, source__batch_size=3)
    who = citizen(vopi, settings, phone=None)
    vopi.events("VLOZ", who["application"], 10)
    run_once(settings)  # each cycle polls 3 and sends what is pending
    assert statuses(settings) == {("VLOZ", "sent"): 3, ("VLOZ", "held"): 7}
    assert len(smtp_server.messages) == 3


def test_cancel_keeps_the_rows_and_ends_the_storm(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings(delivery__storm_threshold=2)
    who = citizen(vopi, settings, phone=None)
    vopi.events("DODELJ", who["application"], 4)
    run_once(settings)
    assert statuses(settings) == {("DODELJ", "held"): 4}
    assert decide(settings, "DODELJ", release=False) == 4
    assert storms(settings) == []
    run_once(settings)
    cancelled = rows(settings)
    assert {r["status"] for r in cancelled} == {"cancelled"}
    assert {r["last_error"] for r in cancelled} == {"cancelled by an operator while held (storm)"}
    assert smtp_server.messages == []
    assert decide(settings, "DODELJ", release=False) == 0


def test_per_subscriber_limit_holds_per_channel_and_hour(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    settings = make_settings(delivery__max_per_subscriber_per_hour=2)
    who = citizen(vopi, settings)
    other_party = vopi.party()
    other_app = vopi.application(other_party)
    subscribe(settings, other_party, email="other@example.si")
    vopi.events("VLOZ", who["application"], 3)
    vopi.events("KLAS", who["application"], 1)
    vopi.events("VLOZ", other_app, 2)
    run_once(settings)

    mine = rows(settings, "subscriber_id = %s", (who["subscriber"],))
    by_channel: Counter[tuple[str, str]] = Counter((r["channel"], r["status"]) for r in mine)
    assert by_channel == {
        ("email", "sent"): 2,
        ("email", "held"): 2,
        ("sms", "sent"): 2,
        ("sms", "held"): 2,
    }
    assert {r["held_reason"] for r in mine if r["status"] == "held"} == {"subscriber_rate"}
    others = rows(settings, "subscriber_id <> %s", (who["subscriber"],))
    assert [r["status"] for r in others] == ["sent", "sent"]
    assert storms(settings) == []

    _report, text = status_report(settings)
    assert "subscriber_rate" in text
    # Releasing by event type: the key event's held ones first, then the rest.
    assert decide(settings, "KLAS", release=True) == 2
    run_once(settings)
    assert decide(settings, "VLOZ", release=True) == 2
    run_once(settings)
    assert {r["status"] for r in rows(settings)} == {"sent"}
    assert len(smtp_server.messages) == 6
    assert len(sms_gateway.messages) == 4


def test_a_backlog_read_late_is_not_a_storm(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
) -> None:
    """Events spread over time in VOPI, read all at once after an outage: counted by when
    they happened, they are no storm."""
    settings = make_settings(delivery__storm_threshold=3)
    apply_rules(settings)
    party = vopi.party()
    app = vopi.application(party)
    subscribe(settings, party, email="a@example.si")
    execute(
        settings,
        "INSERT INTO vopi.event_log (event_type_code, application_id, created_at)"
        " SELECT 'VLOZ', %s, now() - make_interval(mins => g) FROM generate_series(1, 10) g",
        (app,),
    )
    run_once(settings)
    assert statuses(settings) == {("VLOZ", "sent"): 10}
    assert len(smtp_server.messages) == 10


@pytest.mark.parametrize("release", [True, False])
def test_deciding_about_a_type_with_nothing_held_changes_nothing(
    vopi: Vopi, settings: Settings, release: bool
) -> None:
    who = citizen(vopi, settings, phone=None)
    vopi.event("VLOZ", who["application"])
    run_once(settings)
    before = rows(settings)
    assert decide(settings, "VLOZ", release=release) == 0
    assert rows(settings) == before
