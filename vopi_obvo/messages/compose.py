"""From VOPI events and their audience to outbox rows: classification, rendering, the SMS text
policy and the values kept for coalescing. Pure: the poller gathers the audience (VOPI's
parties, OBVO's subscribers) and writes the rows; everything here is decided without I/O."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from vopi_obvo.errors import TemplateError
from vopi_obvo.messages.event_values import dump_values
from vopi_obvo.messages.outbox_row import NewNotification
from vopi_obvo.messages.sms_text import SmsPolicy, prepare_sms
from vopi_obvo.rules import EventKind, RuleSet, Subscriber, recipients, render_message


class Event(Protocol):
    """A VOPI event as read (source/vopi.py's VopiEvent)."""

    @property
    def event_id(self) -> int: ...
    @property
    def event_type(self) -> str: ...
    @property
    def case_id(self) -> str | None: ...
    @property
    def occurred_at(self) -> dt.datetime | None: ...
    @property
    def values(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Classified:
    relevant: list[Event]  # of a notify or key type, with a case: someone may hear of it
    unclassified: dict[str, tuple[int, int]]  # event type → (count, highest event id)


@dataclass(frozen=True)
class ComposeOptions:
    sms: SmsPolicy
    coalesce_window: float  # seconds; 0 = off


@dataclass(frozen=True)
class RenderFailure:
    event_id: int
    event_type: str
    channel: str
    error: str


@dataclass(frozen=True)
class Composed:
    notifications: list[NewNotification]
    render_failures: list[RenderFailure] = field(default_factory=list)
    shortened_sms: list[tuple[int, int]] = field(default_factory=list)  # (event id, parts)


def classify(events: Sequence[Event], rules: RuleSet) -> Classified:
    """Which events concern citizens; unknown event types are counted, for `status`."""
    counts: Counter[str] = Counter()
    highest: dict[str, int] = {}
    relevant: list[Event] = []
    for event in events:
        rule = rules.get(event.event_type)
        if rule is None:
            counts[event.event_type] += 1
            highest[event.event_type] = max(event.event_id, highest.get(event.event_type, 0))
        elif rule.kind is not EventKind.INTERNAL and event.case_id is not None:
            relevant.append(event)
    return Classified(relevant, {t: (n, highest[t]) for t, n in counts.items()})


def compose(
    events: Sequence[Event],
    rules: RuleSet,
    audience: Mapping[int, Sequence[Subscriber]],
    options: ComposeOptions,
) -> Composed:
    """One outbox row per (event, subscriber, channel) for the subscribers in `audience`
    (event id → the case's subscribers who follow it). A text that cannot be rendered makes
    that one row `failed` with the reason."""
    rows: list[NewNotification] = []
    failures: list[RenderFailure] = []
    for event in events:
        rule = rules.get(event.event_type)
        if rule is None:
            continue
        for recipient in recipients(rule.kind, audience.get(event.event_id, ())):
            channel = str(recipient.channel)
            subject = body = body_html = error = None
            try:
                message = render_message(
                    rule, recipient.channel, recipient.subscriber, event.values
                )
                subject, body, body_html = message.subject, message.body, message.html
            except TemplateError as exc:
                error = f"event type {rule.code}: {exc}"
                failures.append(RenderFailure(event.event_id, rule.code, channel, error))
            rows.append(
                NewNotification(
                    source_event_id=event.event_id,
                    subscriber_id=recipient.subscriber.id,
                    channel=channel,
                    event_type=event.event_type,
                    event_kind=str(rule.kind),
                    case_id=event.case_id,
                    occurred_at=event.occurred_at,
                    language=recipient.subscriber.language,
                    recipient=recipient.address,
                    subject=subject,
                    body=body,
                    body_html=body_html,
                    status="failed" if error else "pending",
                    last_error=error,
                )
            )
    finished, shortened = finish(rows, events, options)
    return Composed(finished, failures, shortened)


def finish(
    notifications: Sequence[NewNotification],
    events: Sequence[Event],
    options: ComposeOptions,
) -> tuple[list[NewNotification], list[tuple[int, int]]]:
    """The SMS text policy (transliteration, at most max_segments parts, encoding and
    segments stored as billed) and, with coalescing on, the wait and the event's values.
    Also returns the SMS that were shortened: (event id, parts before)."""
    window = options.coalesce_window
    values = {e.event_id: e.values for e in events} if window > 0 else {}
    dumped: dict[int, str] = {}
    result: list[NewNotification] = []
    shortened: list[tuple[int, int]] = []
    for n in notifications:
        changes: dict[str, object] = {}
        if n.channel == "sms" and n.body is not None:
            sms = prepare_sms(n.body, options.sms)
            changes.update(body=sms.text, sms_encoding=str(sms.encoding), sms_segments=sms.segments)
            if sms.shortened:
                shortened.append((n.source_event_id, sms.original_segments))
        if window > 0 and n.status == "pending":
            event_id = n.source_event_id
            if event_id not in dumped:
                dumped[event_id] = dump_values(values.get(event_id, {}))
            changes.update(delay=window, event_values=dumped[event_id])
        result.append(dataclasses.replace(n, **changes) if changes else n)  # type: ignore[arg-type]
    return result, shortened
