"""Quiet hours end to end: SMS wait (not an attempt), e-mail never does, key SMS by policy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa

from tests.integration.messages_helpers import citizen, execute, rows, run_once
from tests.support import SmsGateway, SmtpServer, Vopi
from vopi_obvo import db, store
from vopi_obvo.config import Settings
from vopi_obvo.delivery.dispatcher import Dispatcher, DispatchResult
from vopi_obvo.messages.quiet_hours import LJUBLJANA, QuietHours, QuietWindow
from vopi_obvo.poller import Poller
from vopi_obvo.senders.sms_log import LogSmsSender
from vopi_obvo.source.vopi import VopiSource


def window_around_now(before: int = 60, after: int = 60) -> tuple[str, dt.datetime]:
    """A quiet window (Ljubljana wall clock) from `before` minutes ago to `after` minutes
    ahead, and the instant it ends."""
    now = dt.datetime.now(LJUBLJANA)
    start = (now - dt.timedelta(minutes=before)).strftime("%H:%M")
    end = (now + dt.timedelta(minutes=after)).strftime("%H:%M")
    text = f"{start}-{end}"
    window = QuietWindow(dt.time.fromisoformat(start), dt.time.fromisoformat(end))
    return text, window.next_allowed(now)


def window_not_now() -> str:
    now = dt.datetime.now(LJUBLJANA)
    start = (now + dt.timedelta(hours=2)).strftime("%H:%M")
    end = (now + dt.timedelta(hours=3)).strftime("%H:%M")
    return f"{start}-{end}"


def test_sms_waits_for_the_end_of_quiet_hours_email_goes_at_once(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    quiet, ends = window_around_now()
    settings = make_settings(sms__quiet_hours=quiet)
    who = citizen(vopi, settings)
    vopi.event("VLOZ", who["application"])  # notify
    run_once(settings, times=3)

    assert len(smtp_server.messages) == 1
    assert sms_gateway.messages == []
    [email, sms] = rows(settings)
    assert (email["channel"], email["status"]) == ("email", "sent")
    assert (sms["channel"], sms["status"], sms["attempts"]) == ("sms", "pending", 0)
    assert abs(sms["next_attempt_at"] - ends) < dt.timedelta(seconds=1)
    assert sms["next_attempt_at"].astimezone(LJUBLJANA).strftime("%H:%M") == quiet[-5:]

    # Morning: the window is over (another window configured, the row due now).
    execute(
        settings,
        "UPDATE obvo.notifications SET next_attempt_at = now() WHERE id = %s",
        (sms["id"],),
    )
    run_once(make_settings(sms__quiet_hours=window_not_now()))
    [delivered] = sms_gateway.messages
    assert delivered.payload["reference"] == str(sms["id"])
    [after] = rows(settings, "id = %s", (sms["id"],))
    assert (after["status"], after["attempts"]) == ("sent", 1)


def test_key_sms_wait_too_by_default(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    sms_gateway: SmsGateway,
) -> None:
    quiet, ends = window_around_now()
    settings = make_settings(sms__quiet_hours=quiet)
    who = citizen(vopi, settings, email=None)
    vopi.event("KLAS", who["application"])  # key
    run_once(settings)
    assert sms_gateway.messages == []
    [row] = rows(settings)
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert abs(row["next_attempt_at"] - ends) < dt.timedelta(seconds=1)


def test_key_sms_go_at_once_when_quiet_hours_key_is_none(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    sms_gateway: SmsGateway,
) -> None:
    quiet, _ends = window_around_now()
    settings = make_settings(sms__quiet_hours=quiet, sms__quiet_hours_key="none")
    who = citizen(vopi, settings, email=None)
    key_event = vopi.event("KLAS", who["application"])
    vopi.event("VLOZ", who["application"])
    run_once(settings)
    [sms] = sms_gateway.messages
    assert sms.payload["text"].endswith("klasifikacija 354-1.")
    by_event = {r["source_event_id"]: r for r in rows(settings)}
    assert by_event[key_event]["status"] == "sent"
    [waiting] = [r for e, r in by_event.items() if e != key_event]
    assert (waiting["status"], waiting["attempts"]) == ("pending", 0)


def test_key_sms_follow_their_own_window(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    sms_gateway: SmsGateway,
) -> None:
    quiet, _ends = window_around_now()
    key_quiet, key_ends = window_around_now(before=10, after=20)
    settings = make_settings(sms__quiet_hours=quiet, sms__quiet_hours_key=key_quiet)
    who = citizen(vopi, settings, email=None)
    vopi.event("KLAS", who["application"])
    run_once(settings)
    assert sms_gateway.messages == []
    [row] = rows(settings)
    assert abs(row["next_attempt_at"] - key_ends) < dt.timedelta(seconds=1)


def test_a_retry_due_in_quiet_hours_waits_too(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    sms_gateway: SmsGateway,
) -> None:
    settings = make_settings()
    who = citizen(vopi, settings, email=None)
    vopi.event("VLOZ", who["application"])
    sms_gateway.status = 503
    run_once(settings)
    [row] = rows(settings)
    assert (row["status"], row["attempts"]) == ("pending", 1)

    sms_gateway.status = 200
    quiet, ends = window_around_now()
    execute(settings, "UPDATE obvo.notifications SET next_attempt_at = now()")
    run_once(make_settings(sms__quiet_hours=quiet))
    assert sms_gateway.messages == []
    [row] = rows(settings)
    assert (row["status"], row["attempts"]) == ("pending", 1)  # the wait is not an attempt
    assert abs(row["next_attempt_at"] - ends) < dt.timedelta(seconds=1)


def test_an_sms_claimed_as_quiet_hours_begin_goes_back_unsent(
    vopi: Vopi,
    settings: Settings,
) -> None:
    """The last guard: rows claimed at 20:59:59.9 are checked again against the clock."""
    who = citizen(vopi, settings, email=None)
    vopi.event("VLOZ", who["application"])
    vopi.event("KLAS", who["application"])
    engine = db.obvo_engine(settings.database.url, settings.database.schema)
    vopi_engine = db.source_engine(settings.source_url, 5.0)
    try:
        source = VopiSource(
            vopi_engine, settings.source.events_query, settings.source.parties_query
        )
        Poller(settings, engine, source).poll_once()
        evening = dt.datetime(2026, 6, 10, 21, 30, tzinfo=LJUBLJANA)
        dispatcher = Dispatcher(
            settings.delivery,
            engine,
            {"sms": LogSmsSender()},
            "test-worker",
            quiet_hours=QuietHours.parse("21:00-07:00", "none"),
            clock=lambda: evening,
        )
        with engine.begin() as conn:
            claimed = store.claim_due(conn, "test-worker", 10, ["sms"])
        assert len(claimed) == 2
        result = DispatchResult()
        kept = dispatcher._prepare_claimed(claimed, result)
        assert [c.event_kind for c in kept] == ["key"]  # key SMS are free of quiet hours here
        assert result.deferred == 1
        with engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT status, attempts, claimed_by, next_attempt_at FROM notifications"
                    " WHERE event_kind = 'notify'"
                )
            ).one()
        assert (row.status, row.attempts, row.claimed_by) == ("pending", 0, None)
        assert row.next_attempt_at == dt.datetime(2026, 6, 11, 7, 0, tzinfo=LJUBLJANA)
    finally:
        engine.dispose()
        vopi_engine.dispose()
