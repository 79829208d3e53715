"""Concurrent, paced delivery against real sinks: each message once, the limit held at the
receiving end, a 429 answered by slowing down. (SIGTERM with several messages in flight:
tests/acceptance/test_ops_systemd.py, with real signals.)"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from tests.integration.test_pipeline import apply_rules, notifications, subscribe
from tests.support import SmsGateway, SmtpServer, Vopi, wait_for
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service


def backlog(settings: Settings, vopi: Vopi, events: int, **contact: str) -> None:
    """`events` key events for one subscriber with the given contacts."""
    apply_rules(settings)
    party = vopi.party()
    subscribe(settings, party, **contact)
    vopi.events("KLAS", vopi.application(party), events)


@contextmanager
def running(*services: Service) -> Iterator[None]:
    threads = [threading.Thread(target=s.run, daemon=True) for s in services]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for service in services:
            service.stop_event.set()
        for thread, service in zip(threads, services, strict=True):
            thread.join(timeout=30)
            service.close()


def most_in_any_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def attempt_rows(settings: Settings) -> Counter[tuple[int, str]]:
    with psycopg.connect(settings.database.url) as conn:
        rows = conn.execute(
            "SELECT notification_id, outcome FROM obvo.notification_attempts"
        ).fetchall()
    return Counter((int(n), str(o)) for n, o in rows)


def test_two_concurrent_processes_send_every_message_once(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    settings = make_settings(delivery__concurrency=4, delivery__batch_size=10)
    backlog(settings, vopi, 40, email="ana@example.si", phone="+38641123456")
    smtp_server.handler.delay = 0.05  # a relay some way off: sends overlap
    with running(Service(settings), Service(settings)):
        wait_for(lambda: len(smtp_server.messages) + len(sms_gateway.messages) >= 80, 60)
        wait_for(lambda: all(n["status"] == "sent" for n in notifications(settings)), 30)
    rows = notifications(settings)
    assert len(rows) == 80
    mail_ids = Counter(str(m.message["Message-ID"]) for m in smtp_server.messages)
    sms_ids = Counter(r.payload["reference"] for r in sms_gateway.messages)
    assert len(mail_ids) == 40 and set(mail_ids.values()) == {1}
    assert len(sms_ids) == 40 and set(sms_ids.values()) == {1}
    assert {n["attempts"] for n in rows} == {1}
    # One attempt row per message, `sent`, although the marks were written several at once.
    assert attempt_rows(settings) == Counter({(n["id"], "sent"): 1 for n in rows})
    assert smtp_server.handler.most_busy > 1  # messages really were in flight together


def test_max_per_second_holds_over_every_second_at_the_sink(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings(delivery__concurrency=8, email__max_per_second=4)
    backlog(settings, vopi, 14, email="ana@example.si")
    with running(Service(settings)):
        wait_for(lambda: len(smtp_server.messages) >= 14, 30)
    arrivals = sorted(m.arrived for m in smtp_server.messages)
    assert len(arrivals) == 14
    assert most_in_any_second(arrivals) <= 4


def test_a_429_slows_the_gateway_down_and_fails_nothing(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    sms_gateway: SmsGateway,
) -> None:
    # One at a time, so that each request follows the previous answer.
    settings = make_settings(delivery__concurrency=1, delivery__max_attempts=1)
    backlog(settings, vopi, 8, phone="+38641123456")
    sms_gateway.throttle = 3
    sms_gateway.retry_after = "1"
    with running(Service(settings)):
        wait_for(lambda: len(sms_gateway.messages) >= 8, 30)
        wait_for(lambda: all(n["status"] == "sent" for n in notifications(settings)), 30)
    rows = notifications(settings)
    # Throttled tries are not attempts: with max_attempts = 1 nothing failed, each counts one.
    assert [n["status"] for n in rows] == ["sent"] * 8
    assert {n["attempts"] for n in rows} == {1}
    answers = sms_gateway.answers
    assert [status for _, status in answers] == [429, 429, 429] + [200] * 8
    # Retry-After honoured: after each "wait 1 s" the next request came no sooner.
    for (answered, _), (following, _) in itertools.pairwise(answers[:4]):
        assert following - answered >= 0.9
    outcomes = attempt_rows(settings)
    assert sum(n for (_, outcome), n in outcomes.items() if outcome == "retry") == 3
