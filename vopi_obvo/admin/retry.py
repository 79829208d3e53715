"""What `notifications retry` does with one notification: pure decisions.

A failed (or cancelled, or waiting) notification becomes due again. Its address is the
subscriber's current one (a clerk may have corrected it); a text that could not be rendered
is rendered again from the event as VOPI has it now and the rules as they are now (the
administrator may have fixed the template).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vopi_obvo.errors import TemplateError
from vopi_obvo.messages.sms_text import SmsPolicy, prepare_sms
from vopi_obvo.problems import Problem
from vopi_obvo.rules import Channel, EventKind, EventTypeRule, Subscriber, render_message

RETRYABLE = ("failed", "cancelled", "pending")
_WHY_NOT = {
    "sending": Problem("retry.sending"),
    "sent": Problem("retry.sent"),
    "delivered": Problem("retry.delivered"),
    "undelivered": Problem("retry.undelivered"),
    "held": Problem("retry.held"),
    "coalesced": Problem("retry.coalesced"),
}


@dataclass(frozen=True)
class RetryPlan:
    id: int
    expected_status: str
    recipient: str
    subject: str | None
    body: str
    body_html: str | None
    sms_encoding: str | None
    sms_segments: int | None
    rerendered: bool

    def params(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "expected_status": self.expected_status,
            "recipient": self.recipient,
            "subject": self.subject,
            "body": self.body,
            "body_html": self.body_html,
            "sms_encoding": self.sms_encoding,
            "sms_segments": self.sms_segments,
        }


class CannotRetry(Exception):
    """The reason a notification cannot be retried. `until_fixed`: it can be once the rules
    or VOPI change (a text that still does not render); otherwise the request itself is
    wrong (a sent notification, a subscriber without that channel)."""

    def __init__(self, reason: Problem, *, until_fixed: bool = False) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.until_fixed = until_fixed


def status_problem(status: str) -> Problem | None:
    if status in RETRYABLE:
        return None
    return _WHY_NOT.get(status, Problem("retry.status", {"status": status}))


def needs_render(row: Mapping[str, Any]) -> bool:
    """Whether the stored text is missing (a render failure, or removed by retention)."""
    return row["body"] is None or (row["channel"] == "email" and row["subject"] is None)


def plan_retry(
    row: Mapping[str, Any],
    subscriber: Subscriber | None,
    rule: EventTypeRule | None,
    event: Mapping[str, Any] | None,
    policy: SmsPolicy,
) -> RetryPlan:
    """The notification as it is to be sent again; raises CannotRetry with the reason."""
    problem = status_problem(row["status"])
    if problem:
        raise CannotRetry(problem)
    if subscriber is None:
        raise CannotRetry(Problem("retry.no_subscriber"))
    channel = Channel(row["channel"])
    address = subscriber.email if channel is Channel.EMAIL else subscriber.phone
    if not address:
        gone = {"id": subscriber.id}
        if channel is Channel.EMAIL:
            raise CannotRetry(Problem("retry.no_email", gone))
        raise CannotRetry(Problem("retry.no_phone", gone))
    if not needs_render(row):
        return RetryPlan(
            id=row["id"],
            expected_status=row["status"],
            recipient=address,
            subject=row["subject"],
            body=row["body"],
            body_html=row.get("body_html"),
            sms_encoding=row.get("sms_encoding"),
            sms_segments=row.get("sms_segments"),
            rerendered=False,
        )
    if event is None:
        gone_event = Problem("retry.no_event", {"event": int(row["source_event_id"])})
        raise CannotRetry(gone_event, until_fixed=True)
    if rule is None:
        no_rule = Problem("retry.no_rule", {"code": str(row["event_type"])})
        raise CannotRetry(no_rule, until_fixed=True)
    if rule.kind is EventKind.INTERNAL:
        raise CannotRetry(Problem("retry.internal", {"code": rule.code}), until_fixed=True)
    try:
        message = render_message(rule, channel, subscriber, event)
    except TemplateError as exc:
        inner = exc.problems[0] if exc.problems else Problem("detail", {"text": str(exc)})
        still = Problem("retry.cannot_render", {"code": rule.code, "problem": inner})
        raise CannotRetry(still, until_fixed=True) from None
    if channel is Channel.SMS:
        prepared = prepare_sms(message.body, policy)
        return RetryPlan(
            id=row["id"],
            expected_status=row["status"],
            recipient=address,
            subject=None,
            body=prepared.text,
            body_html=None,
            sms_encoding=str(prepared.encoding),
            sms_segments=prepared.segments,
            rerendered=True,
        )
    return RetryPlan(
        id=row["id"],
        expected_status=row["status"],
        recipient=address,
        subject=message.subject,
        body=message.body,
        body_html=message.html,
        sms_encoding=None,
        sms_segments=None,
        rerendered=True,
    )
