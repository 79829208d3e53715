"""Rendering a rule's texts for inspection (`rules check`, `preview`): pure logic.

What a citizen would receive for an event, per channel and language, with the SMS encoding
and segment count the municipality pays for, and sample values when no real event exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import jinja2
from jinja2 import nodes

from vopi_obvo.errors import TemplateError
from vopi_obvo.messages.sms_encoding import SmsInfo, analyse
from vopi_obvo.messages.sms_text import SmsPolicy, prepare_sms
from vopi_obvo.messages.templates import LJUBLJANA, environment
from vopi_obvo.problems import Problem
from vopi_obvo.rules import (
    DEFAULT_LANGUAGE,
    Channel,
    EventsLevel,
    EventTypeRule,
    Subscriber,
    render_message,
)


def sample_values(
    columns: Sequence[tuple[str, str | None]], event_type: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """One made-up event with every column of events_query, typed by the column's kind (as
    VOPI's engine names it: vopi_obvo/source/engines/), so filters such as `| date` work."""
    moment = now or dt.datetime.now(LJUBLJANA)
    samples: dict[str, Any] = {
        "timestamp": moment,
        "date": moment.date(),
        "integer": 12345,
        "float": 1.5,
        "numeric": Decimal("123.45"),
        "boolean": True,
    }
    values: dict[str, Any] = {}
    for name, kind in columns:
        if kind is None and name in ("event_id", "occurred_at"):
            continue  # of a known type: set below
        values[name] = samples.get(kind or "text", f"<{name}>")
    values.update(event_id=values.get("event_id", 12345), event_type=event_type)
    values.setdefault("occurred_at", moment)
    values.setdefault("case_id", "<case_id>")
    return values


def referenced_event_fields(rule: EventTypeRule) -> set[str]:
    """The `event.<name>` / `event['name']` values a rule's templates use (for sample values
    when the columns of events_query cannot be read)."""
    names: set[str] = set()
    for tset in rule.templates.values():
        for source in tset.as_dict().values():
            try:
                tree = environment().parse(source)
            except jinja2.TemplateSyntaxError:
                continue  # reported as a broken row elsewhere
            for node in tree.find_all(nodes.Getattr):
                assert isinstance(node, nodes.Getattr)  # noqa: S101 - find_all's type
                if isinstance(node.node, nodes.Name) and node.node.name == "event":
                    names.add(node.attr)
            for item in tree.find_all(nodes.Getitem):
                assert isinstance(item, nodes.Getitem)  # noqa: S101
                key, target = item.arg, item.node
                on_event = isinstance(target, nodes.Name) and target.name == "event"
                if on_event and isinstance(key, nodes.Const) and isinstance(key.value, str):
                    names.add(key.value)
    return names


@dataclass(frozen=True)
class RenderedPart:
    """One (event type, language, channel) rendered, or the reason it cannot be."""

    code: str
    language: str
    channel: str
    source: str  # "event 4711" or "sample values"
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    error: str | None = None  # in English (the CLI's output, its JSON)
    problem: Problem | None = None  # the same, to word in a page's language
    sms: SmsInfo | None = None
    # The SMS as the template rendered it, before [sms] transliterate and max_segments.
    original: str | None = None
    warnings: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        return {
            "event_type": self.code,
            "language": self.language,
            "channel": self.channel,
            "source": self.source,
            "ok": self.ok,
            "error": self.error,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "sms_encoding": None if self.sms is None else str(self.sms.encoding),
            "sms_units": None if self.sms is None else self.sms.units,
            "sms_segments": None if self.sms is None else self.sms.segments,
            "warnings": [str(w) for w in self.warnings],
        }


def sample_subscriber(language: str, party_id: str = "<party_id>") -> Subscriber:
    return Subscriber(
        id=0, party_id=party_id, email=None, phone=None, events=EventsLevel.ALL, language=language
    )


def render_part(
    rule: EventTypeRule,
    channel: Channel,
    subscriber: Subscriber,
    event: Mapping[str, Any],
    *,
    source: str,
    policy: SmsPolicy | None = None,
) -> RenderedPart:
    """Render what `subscriber` would get on `channel`; a template error becomes the result."""
    language = subscriber.language
    if language not in rule.templates and DEFAULT_LANGUAGE in rule.templates:
        language = f"{subscriber.language}→{DEFAULT_LANGUAGE}"
    try:
        message = render_message(rule, channel, subscriber, event)
    except TemplateError as exc:
        problem = exc.problems[0] if exc.problems else None
        return RenderedPart(
            rule.code, language, str(channel), source, error=str(exc), problem=problem
        )
    if channel is Channel.EMAIL:
        return RenderedPart(
            rule.code,
            language,
            str(channel),
            source,
            subject=message.subject,
            text=message.body,
            html=getattr(message, "html", None),
        )
    policy = policy or SmsPolicy()
    prepared = prepare_sms(message.body, policy)
    warnings: list[Problem] = []
    if prepared.shortened:
        needs = {"segments": prepared.original_segments, "max": policy.max_segments}
        warnings.append(Problem("sms.shortened", needs))
    if prepared.transliterated:
        warnings.append(Problem("sms.transliterated"))
    info = analyse(prepared.text)
    return RenderedPart(
        rule.code,
        language,
        str(channel),
        source,
        text=prepared.text,
        sms=info,
        original=message.body,
        warnings=tuple(warnings),
    )


def check_rule(
    rule: EventTypeRule,
    event: Mapping[str, Any],
    source: str,
    policy: SmsPolicy | None = None,
) -> list[RenderedPart]:
    """Every language and channel of one rule, rendered with one event."""
    if not rule.templates:
        return [
            RenderedPart(
                rule.code,
                DEFAULT_LANGUAGE,
                channel,
                source,
                error=f"event type {rule.code} has no templates",
            )
            for channel in (str(Channel.EMAIL), str(Channel.SMS))
        ]
    return [
        render_part(rule, channel, sample_subscriber(language), event, source=source, policy=policy)
        for language in sorted(rule.templates)
        for channel in (Channel.EMAIL, Channel.SMS)
    ]
