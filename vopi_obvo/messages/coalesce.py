"""Coalescing: several events of one application → one message per subscriber and channel.

With `[delivery] coalesce_window` = W seconds, every new notification waits W seconds. When the
dispatcher claims one, the other notifications of the same subscriber, channel and application
whose events happened within W seconds of its event (and that were never tried) travel in its
message; they are marked `coalesced`, pointing to it.

The message for several events: a template that uses `events` is rendered once with all of
them (`events` is the list of `{event, event_type}` items, oldest first; `event` is the newest).
A template that does not use `events` gets the default: each event's own text, oldest first,
joined (SMS: one line each; e-mail: the bodies separated by a line, the subject of the newest).

Pure logic: grouping and rendering. The dispatcher does the reading and writing.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import meta

from vopi_obvo.errors import TemplateError
from vopi_obvo.messages import html_templates, templates
from vopi_obvo.rules import Channel, RuleSet, event_item, template_context
from vopi_obvo.rules import Subscriber as RuleSubscriber

__all__ = [
    "EMAIL_SEPARATOR",
    "SMS_SEPARATOR",
    "Group",
    "Member",
    "Rendered",
    "plan_groups",
    "render_group",
    "uses_events",
]

SMS_SEPARATOR = "\n"
EMAIL_SEPARATOR = "\n\n----------\n\n"


@dataclass(frozen=True)
class Member:
    """One notification that may travel in a shared message."""

    id: int
    subscriber_id: int
    channel: str
    case_id: str
    source_event_id: int
    event_type: str
    event_kind: str
    when: dt.datetime  # when the event happened (occurred_at, else when it was read)
    subject: str | None
    body: str | None
    body_html: str | None = None
    values: Mapping[str, Any] | None = None  # the event's values, if kept

    @property
    def group_key(self) -> tuple[int, str, str]:
        return (self.subscriber_id, self.channel, self.case_id)

    @property
    def order(self) -> tuple[dt.datetime, int, int]:
        return (self.when, self.source_event_id, self.id)


@dataclass
class Group:
    """A claimed notification (`carrier`) and the others whose events its message carries."""

    carrier: Member
    others: list[Member] = field(default_factory=list)

    @property
    def members(self) -> list[Member]:
        """Every event of the message, oldest first."""
        return sorted([self.carrier, *self.others], key=lambda m: m.order)

    @property
    def key_event(self) -> bool:
        return any(m.event_kind == "key" for m in (self.carrier, *self.others))


def _within(a: Member, b: Member, window: dt.timedelta) -> bool:
    return abs(a.when - b.when) <= window


def plan_groups(
    claimed: Sequence[Member],
    companions: Sequence[tuple[int, Member]],
    window: dt.timedelta,
) -> list[Group]:
    """Groups for the claimed notifications (each claimed one is a carrier or joins one).

    `companions` are (claimed id, pending notification) pairs found for a claimed one. Within a
    group key, the oldest claimed event carries the message; another claimed one joins it if
    its event is within the window of the carrier's, else it starts a group of its own. A
    companion joins the first group (oldest carrier first) whose carrier is within the window;
    a companion that fits none stays pending. Nobody is in two groups.
    """
    groups: list[Group] = []
    by_key: dict[tuple[int, str, str], list[Group]] = {}
    for item in sorted(claimed, key=lambda m: m.order):
        for group in by_key.get(item.group_key, []):
            if _within(group.carrier, item, window):
                group.others.append(item)
                break
        else:
            group = Group(item)
            groups.append(group)
            by_key.setdefault(item.group_key, []).append(group)
    placed = {m.id for g in groups for m in (g.carrier, *g.others)}
    for _claimed_id, companion in sorted(companions, key=lambda pair: pair[1].order):
        if companion.id in placed:
            continue
        for group in by_key.get(companion.group_key, []):
            if _within(group.carrier, companion, window):
                group.others.append(companion)
                placed.add(companion.id)
                break
    return groups


@functools.lru_cache(maxsize=1024)
def uses_events(source: str) -> bool:
    """Whether a template refers to `events` (then it renders several events itself)."""
    try:
        parsed = templates.environment().parse(source)
    except Exception:  # noqa: BLE001 - a template that does not parse cannot use anything
        return False
    return "events" in meta.find_undeclared_variables(parsed)


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str
    body_html: str | None
    # "events" when a template rendered the list itself, "joined" for the default
    how: str


def _joined(members: Sequence[Member], channel: Channel) -> Rendered:
    bodies = [m.body for m in members if m.body]
    if channel is Channel.SMS:
        return Rendered(None, SMS_SEPARATOR.join(bodies), None, "joined")
    newest = members[-1]
    return Rendered(newest.subject, EMAIL_SEPARATOR.join(bodies), None, "joined")


def render_group(
    members: Sequence[Member],
    channel: Channel,
    rules: RuleSet,
    subscriber: RuleSubscriber,
) -> Rendered:
    """One text for several events (members oldest first): the newest event's template if it
    uses `events` and every event's values were kept, else the joined default. A template that
    fails here falls back to the default, so a message is never lost to a template."""
    newest = members[-1]
    rule = rules.get(newest.event_type)
    member_rules = [rules.get(m.event_type) for m in members]
    if (
        rule is None
        or any(r is None for r in member_rules)
        or any(m.values is None for m in members)
    ):
        return _joined(members, channel)
    try:
        tset = rule.templates_for(subscriber.language)
    except TemplateError:
        return _joined(members, channel)
    items = [event_item(m.values or {}, r) for m, r in zip(members, member_rules, strict=True) if r]
    context = template_context(newest.values or {}, rule, subscriber, items)
    joined = _joined(members, channel)
    try:
        if channel is Channel.SMS:
            if not uses_events(tset.sms):
                return joined
            return Rendered(None, templates.render(tset.sms, context), None, "events")
        subject_uses, body_uses = uses_events(tset.email_subject), uses_events(tset.email_body)
        html_uses = tset.email_html is not None and uses_events(tset.email_html)
        if not (subject_uses or body_uses or html_uses):
            return joined
        subject = (
            " ".join(templates.render(tset.email_subject, context).split())
            if subject_uses
            else joined.subject
        )
        body = templates.render(tset.email_body, context) if body_uses else joined.body
        html = (
            html_templates.render_html(tset.email_html, context)
            if html_uses and tset.email_html is not None
            else None
        )
        return Rendered(subject, body, html, "events")
    except TemplateError:
        return joined
