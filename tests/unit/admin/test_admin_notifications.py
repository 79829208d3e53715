"""Administration, pure parts: what `notifications retry` does with one notification."""

from __future__ import annotations

from typing import Any

import pytest

from vopi_obvo.admin.retry import CannotRetry, needs_render, plan_retry, status_problem
from vopi_obvo.messages.sms_text import SmsPolicy
from vopi_obvo.rules import EventKind, EventsLevel, EventTypeRule, Subscriber, TemplateSet

SL = TemplateSet(
    "Vloga {{ event.case_number }}", "Telo {{ event.case_number }}", "Š {{ event.case_number }}"
)
RULE = EventTypeRule("KLAS", EventKind.KEY, "Klasifikacija", {"sl": SL})
SUB = Subscriber(5, "7", "new@example.si", "+38641123456", EventsLevel.ALL, "sl")


def row(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 10,
        "status": "failed",
        "channel": "email",
        "source_event_id": 99,
        "event_type": "KLAS",
        "subject": None,
        "body": None,
        "body_html": None,
        "sms_encoding": None,
        "sms_segments": None,
    }
    base.update(changes)
    return base


def test_a_render_failure_is_rendered_again_with_the_current_address() -> None:
    plan = plan_retry(row(), SUB, RULE, {"case_number": "1/2026"}, SmsPolicy())
    assert (plan.recipient, plan.subject, plan.body) == (
        "new@example.si",
        "Vloga 1/2026",
        "Telo 1/2026",
    )
    assert plan.rerendered
    assert plan.params()["expected_status"] == "failed"


def test_an_sms_is_prepared_by_the_policy() -> None:
    plan = plan_retry(
        row(channel="sms"), SUB, RULE, {"case_number": "1"}, SmsPolicy(transliterate=True)
    )
    assert (plan.body, plan.sms_encoding, plan.sms_segments) == ("S 1", "gsm7", 1)
    assert plan.recipient == "+38641123456"


def test_a_delivery_failure_keeps_its_text_and_takes_the_new_address() -> None:
    stored = row(subject="Stara", body="Besedilo", status="cancelled")
    plan = plan_retry(stored, SUB, None, None, SmsPolicy())
    assert (plan.recipient, plan.subject, plan.body, plan.rerendered) == (
        "new@example.si", "Stara", "Besedilo", False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("stored", "subscriber", "rule", "event", "reason", "until_fixed"),
    [
        (row(status="sent"), SUB, RULE, {}, "it was sent already", False),
        (row(status="held"), SUB, RULE, {}, "notifications release --event-type", False),
        (row(status="sending"), SUB, RULE, {}, "being sent right now", False),
        (row(), None, RULE, {}, "its subscriber was removed or erased", False),
        (
            row(channel="sms"),
            Subscriber(5, "7", "a@example.si", None, EventsLevel.ALL),
            RULE,
            {},
            "subscriber 5 has no phone number any more",
            False,
        ),
        (row(), SUB, RULE, None, "event 99 is no longer in VOPI", True),
        (row(), SUB, None, {}, "event type KLAS has no rule any more", True),
        (
            row(),
            SUB,
            EventTypeRule("KLAS", EventKind.INTERNAL),
            {},
            "event type KLAS is internal now; cancel it instead",
            True,
        ),
        (row(), SUB, RULE, {}, "still cannot render: event type KLAS: template", True),
    ],
)
def test_what_cannot_be_retried_says_why(
    stored: dict[str, Any],
    subscriber: Subscriber | None,
    rule: EventTypeRule | None,
    event: dict[str, Any] | None,
    reason: str,
    until_fixed: bool,
) -> None:
    with pytest.raises(CannotRetry) as caught:
        plan_retry(stored, subscriber, rule, event, SmsPolicy())
    assert reason in str(caught.value)
    assert caught.value.until_fixed is until_fixed


def test_status_and_render_need() -> None:
    assert status_problem("pending") is None
    assert str(status_problem("weird")) == "its status is weird"
    assert needs_render(row())
    assert needs_render(row(body="x"))  # an e-mail without its subject
    assert not needs_render(row(body="x", subject="s"))
    assert not needs_render(row(channel="sms", body="x"))
