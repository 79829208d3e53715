"""While a backlog is sent, VOPI is read every poll_interval, not before every claim; `once`
still reads what arrived meanwhile before it exits. Real PostgreSQL and SMTP."""

from __future__ import annotations

from collections.abc import Callable

from tests.integration.test_pipeline import apply_rules, notifications, subscribe
from tests.support import SmtpServer, Vopi
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service
from vopi_obvo.delivery.dispatcher import DispatchResult
from vopi_obvo.poller import PollResult


def test_a_backlog_is_sent_without_a_poll_per_claim_and_once_reads_what_came_meanwhile(
    vopi: Vopi, make_settings: Callable[..., Settings], smtp_server: SmtpServer
) -> None:
    # A long poll interval: within this test only the polls the loop needs are due.
    settings = make_settings(
        source__poll_interval=60.0, delivery__batch_size=10, delivery__concurrency=1
    )
    apply_rules(settings)
    party = vopi.party()
    subscribe(settings, party, email="ana@example.si")
    app = vopi.application(party)
    vopi.events("KLAS", app, 30)
    service = Service(settings)
    polls: list[PollResult] = []
    claims: list[int] = []
    late: list[int] = []
    poll_once, dispatch_once = service.poller.poll_once, service.dispatcher.dispatch_once

    def counted_poll() -> PollResult:
        polls.append(poll_once())
        return polls[-1]

    def dispatch_and_then_an_event() -> DispatchResult:
        result = dispatch_once()
        claims.append(result.claimed)
        if len(claims) == 1:  # while the backlog is being sent, a new event in VOPI
            late.append(vopi.event("KLAS", app))
        return result

    service.poller.poll_once = counted_poll  # type: ignore[method-assign]
    service.dispatcher.dispatch_once = dispatch_and_then_an_event  # type: ignore[method-assign]
    try:
        service.run(once=True)
    finally:
        service.close()
    rows = notifications(settings)
    assert len(rows) == 31
    assert {r["status"] for r in rows} == {"sent"}
    assert late[0] in {r["source_event_id"] for r in rows}
    assert len(smtp_server.messages) == 31
    # Claims of at most 10 for 31 messages: four rounds that claimed something, but VOPI was
    # read only at the start and once the claims ran dry (then again: the late event, and
    # a last poll that found nothing), not before each claim.
    assert sum(1 for c in claims if c) == 4
    assert [p.events_read for p in polls] == [30, 1, 0]
