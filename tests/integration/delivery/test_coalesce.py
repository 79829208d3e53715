"""Coalescing end to end: a clerk's quick actions become one message, and a crash at any
point loses nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.messages_helpers import citizen, execute, rows, rules_document, run_once
from tests.integration.test_pipeline import subscribe
from tests.support import SmsGateway, SmtpServer, Vopi
from vopi_obvo import db, queries, store
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service
from vopi_obvo.delivery import coalesce_store
from vopi_obvo.delivery.coalesce_store import RulesCache, coalesce_claimed
from vopi_obvo.messages.coalesce import EMAIL_SEPARATOR
from vopi_obvo.messages.sms_text import SmsPolicy
from vopi_obvo.messages.templates import LJUBLJANA

WINDOW = 300.0


@pytest.fixture
def coalescing(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(delivery__coalesce_window=WINDOW)


@pytest.fixture
def engine(coalescing: Settings) -> Iterator[sa.Engine]:
    made = db.obvo_engine(coalescing.database.url, coalescing.database.schema)
    yield made
    made.dispose()


def poll(settings: Settings) -> None:
    service = Service(settings)
    try:
        service.poller.poll_once()
    finally:
        service.close()


def window_passes(settings: Settings, where: str = "TRUE") -> None:
    """As if coalesce_window seconds went by."""
    execute(
        settings,
        "UPDATE obvo.notifications SET next_attempt_at = now()"
        f" WHERE status = 'pending' AND {where}",
    )


def three_quick_actions(vopi: Vopi, app: int) -> list[int]:
    return [vopi.event(code, app) for code in ("VLOZ", "DODELJ", "KLAS")]


def test_three_quick_actions_become_one_email_and_one_sms(
    vopi: Vopi,
    coalescing: Settings,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    who = citizen(vopi, coalescing)
    events = three_quick_actions(vopi, who["application"])
    run_once(coalescing)
    # Every message waits for company first.
    assert smtp_server.messages == [] and sms_gateway.messages == []
    waiting = rows(coalescing)
    assert len(waiting) == 6
    assert all(r["status"] == "pending" and r["event_values"] is not None for r in waiting)
    assert all(
        r["next_attempt_at"] - r["created_at"] >= dt.timedelta(seconds=WINDOW - 1) for r in waiting
    )

    window_passes(coalescing, f"source_event_id = {events[0]}")  # the first one is due
    run_once(coalescing)

    case = f"354-{who['application']}/2026"
    [mail] = smtp_server.messages
    assert mail.subject == f"Vaša vloga {case} je uvrščena v obravnavo"  # the newest event's
    parts = mail.body.split(EMAIL_SEPARATOR.strip())
    assert len(parts) == 3
    assert "smo prejeli" in parts[0] and "rešuje Žana Čuk" in parts[1]
    assert "klasifikacijsko oznako 354-1" in parts[2]
    [sms] = sms_gateway.messages
    assert sms.payload["text"].splitlines() == [
        f"Obcina: vloga {case} je prejeta {dt.datetime.now(LJUBLJANA):%-d. %-m. %Y}.",
        f"Vlogo {case} resuje Žana Čuk.",
        f"Vloga {case}: klasifikacija 354-1.",
    ]

    by_id = {r["id"]: r for r in rows(coalescing)}
    carriers = [r for r in by_id.values() if r["status"] == "sent"]
    assert sorted(r["channel"] for r in carriers) == ["email", "sms"]
    for carrier in carriers:
        assert carrier["source_event_id"] == events[0]
        members = [r for r in by_id.values() if r["coalesced_into"] == carrier["id"]]
        assert sorted(r["source_event_id"] for r in members) == events[1:]
        assert all(r["status"] == "coalesced" and r["attempts"] == 0 for r in members)
        assert all(r["channel"] == carrier["channel"] for r in members)
    sms_row = next(r for r in carriers if r["channel"] == "sms")
    assert sms_row["body"] == sms.payload["text"]
    assert (sms_row["sms_encoding"], sms_row["sms_segments"]) == ("ucs2", 2)  # Ž: UCS-2
    assert all(r["event_values"] is None for r in by_id.values())  # no longer kept

    run_once(coalescing)  # nothing left to send
    assert len(smtp_server.messages) == 1 and len(sms_gateway.messages) == 1


def test_a_template_using_events_writes_the_shared_message(
    vopi: Vopi,
    coalescing: Settings,
    sms_gateway: SmsGateway,
) -> None:
    document = rules_document(
        KLAS="Vloga {{ event.case_number }}: "
        "{% for e in events %}{{ e.event_type.name }}{% if not loop.last %}; "
        "{% endif %}{% endfor %}."
    )
    who = citizen(vopi, coalescing, email=None, document=document)
    vopi.event("KLAS", who["application"])  # alone: `events` is a list of one
    run_once(coalescing)
    window_passes(coalescing)
    run_once(coalescing)
    events = three_quick_actions(vopi, who["application"])
    run_once(coalescing)
    window_passes(coalescing)
    run_once(coalescing)
    case = f"354-{who['application']}/2026"
    assert [m.payload["text"] for m in sms_gateway.messages] == [
        f"Vloga {case}: Vloga je dobila klasifikacijsko oznako.",
        f"Vloga {case}: Vloga je vložena; Vloga je dodeljena referentu; "
        "Vloga je dobila klasifikacijsko oznako.",
    ]
    assert {r["status"] for r in rows(coalescing, f"source_event_id IN {tuple(events)}")} == {
        "sent",
        "coalesced",
    }


def test_only_the_same_subscriber_channel_and_application_within_the_window(
    vopi: Vopi,
    coalescing: Settings,
    sms_gateway: SmsGateway,
) -> None:
    who = citizen(vopi, coalescing, email=None)
    other_app = vopi.application(who["party"])  # the same citizen, another application
    co_applicant = vopi.party()
    shared = vopi.application(who["party"], co_applicant)
    subscribe(coalescing, co_applicant, phone="+38640999888")
    vopi.event("VLOZ", who["application"])
    vopi.event("VLOZ", other_app)
    vopi.event("VLOZ", shared)
    vopi.event("KLAS", shared)
    # Ten minutes later in VOPI: outside the window of the first.
    execute(
        coalescing,
        "INSERT INTO vopi.event_log (event_type_code, application_id, created_at)"
        " VALUES ('KLAS', %s, now() + interval '10 minutes')",
        (who["application"],),
    )
    run_once(coalescing)
    window_passes(coalescing)
    run_once(coalescing)
    texts = sorted(
        (m.payload["to"], m.payload["text"].count("\n") + 1) for m in sms_gateway.messages
    )
    assert texts == [
        ("+38640999888", 2),  # the co-applicant: both events of the shared application
        ("+38641123456", 1),  # first application, first event
        ("+38641123456", 1),  # first application, ten minutes later
        ("+38641123456", 1),  # the other application
        ("+38641123456", 2),  # the shared application
    ]
    assert status_counts(rows(coalescing)) == {"sent": 5, "coalesced": 2}


def status_counts(found: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in found:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return counts


def test_held_notifications_are_not_coalesced_until_released(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    sms_gateway: SmsGateway,
) -> None:
    settings = make_settings(delivery__coalesce_window=WINDOW, delivery__storm_threshold=2)
    who = citizen(vopi, settings, email=None)
    three_quick_actions(vopi, who["application"])  # VLOZ, DODELJ, KLAS: no storm
    vopi.events("ODLOC", who["application"], 3)  # a storm of ODLOC
    run_once(settings)
    window_passes(settings)
    run_once(settings)
    [first] = sms_gateway.messages
    assert len(first.payload["text"].splitlines()) == 3
    assert status_counts(rows(settings)) == {"sent": 1, "coalesced": 2, "held": 3}


# ---- nothing lost when the process dies ----


def claim_as(engine: sa.Engine, worker: str) -> list[store.ClaimedNotification]:
    with engine.begin() as conn:
        return store.claim_due(conn, worker, 100, ["email", "sms"])


def worker_dies(settings: Settings, worker: str) -> None:
    """The worker's heartbeat is long gone: its claims are taken back on the next start."""
    execute(
        settings,
        "INSERT INTO obvo.workers (id, hostname, pid, heartbeat_at)"
        " VALUES (%s, 'gone', 1, now() - interval '1 hour')"
        " ON CONFLICT (id) DO UPDATE SET heartbeat_at = now() - interval '1 hour'",
        (worker,),
    )


def test_crash_between_claim_and_coalescing(
    vopi: Vopi,
    coalescing: Settings,
    engine: sa.Engine,
    sms_gateway: SmsGateway,
) -> None:
    who = citizen(vopi, coalescing, email=None)
    three_quick_actions(vopi, who["application"])
    poll(coalescing)
    window_passes(coalescing)
    assert len(claim_as(engine, "dead-worker")) == 3  # claimed, then the process died
    worker_dies(coalescing, "dead-worker")
    run_once(coalescing)
    # Taken back and sent: each event told, none lost (separately: the shared message had
    # not been made).
    assert len(sms_gateway.messages) == 3
    assert status_counts(rows(coalescing)) == {"sent": 3}


def test_crash_inside_the_coalescing_transaction_changes_nothing(
    vopi: Vopi,
    coalescing: Settings,
    engine: sa.Engine,
    sms_gateway: SmsGateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    who = citizen(vopi, coalescing, email=None)
    three_quick_actions(vopi, who["application"])
    poll(coalescing)
    window_passes(
        coalescing, "source_event_id = (SELECT min(source_event_id) FROM obvo.notifications)"
    )
    [claimed] = claim_as(engine, "dying-worker")
    before = rows(coalescing)

    real_q = queries.q

    def dies_before_the_text_is_written(name: str) -> Any:
        if name == "set_coalesced_text":
            raise SystemExit("killed")
        return real_q(name)

    monkeypatch.setattr(coalesce_store, "q", dies_before_the_text_is_written)
    with pytest.raises(SystemExit), engine.begin() as conn:
        coalesce_claimed(
            conn,
            "dying-worker",
            [claimed],
            window=dt.timedelta(seconds=WINDOW),
            rules=RulesCache(),
            sms_policy=SmsPolicy(),
        )
    monkeypatch.undo()
    assert rows(coalescing) == before  # rolled back: companions still pending, values kept

    worker_dies(coalescing, "dying-worker")
    window_passes(coalescing)
    run_once(coalescing)
    assert sum(len(m.payload["text"].splitlines()) for m in sms_gateway.messages) == 3


def test_crash_after_coalescing_before_sending(
    vopi: Vopi,
    coalescing: Settings,
    engine: sa.Engine,
    sms_gateway: SmsGateway,
) -> None:
    who = citizen(vopi, coalescing, email=None)
    three_quick_actions(vopi, who["application"])
    poll(coalescing)
    window_passes(
        coalescing, "source_event_id = (SELECT min(source_event_id) FROM obvo.notifications)"
    )
    [claimed] = claim_as(engine, "dead-worker")
    with engine.begin() as conn:
        outcome = coalesce_claimed(
            conn,
            "dead-worker",
            [claimed],
            window=dt.timedelta(seconds=WINDOW),
            rules=RulesCache(),
            sms_policy=SmsPolicy(),
        )
    assert outcome.companions == 2
    # ... and the process died before handing the message to the gateway.
    worker_dies(coalescing, "dead-worker")
    run_once(coalescing)
    [sms] = sms_gateway.messages
    assert len(sms.payload["text"].splitlines()) == 3  # the shared text, sent once
    assert status_counts(rows(coalescing)) == {"sent": 1, "coalesced": 2}
    carrier = next(r for r in rows(coalescing) if r["status"] == "sent")
    assert carrier["attempts"] == 2  # the lost attempt, then the real one
