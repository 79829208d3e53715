"""`obvo preview EVENT_ID`: exactly what would be sent for a real VOPI event. Reads only."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vopi_obvo import store
from vopi_obvo.admin import subscriber_store
from vopi_obvo.admin.common import obvo_engine, print_json, vopi_source
from vopi_obvo.admin.rendering import RenderedPart, render_part
from vopi_obvo.config import Settings
from vopi_obvo.errors import ExitCode, InvalidInput
from vopi_obvo.messages.sms_text import SmsPolicy
from vopi_obvo.rules import (
    Channel,
    EventKind,
    EventsLevel,
    EventTypeRule,
    Subscriber,
    recipients,
    wants,
)
from vopi_obvo.source.vopi import VopiEvent
from vopi_obvo.subscriber_cases import case_limits, covers
from vopi_obvo.subscribers import SubscriberRecord

_LANGUAGE = re.compile(r"[a-z]{2}")


@dataclass(frozen=True)
class PreviewItem:
    subscriber_id: int | None
    party_id: str | None
    address: str | None
    would_send: bool
    reason: str | None  # why not, when would_send is False
    part: RenderedPart

    def as_json(self) -> dict[str, Any]:
        return {
            "subscriber": self.subscriber_id,
            "party": self.party_id,
            "address": self.address,
            "would_send": self.would_send,
            "reason": self.reason,
            **self.part.as_json(),
        }


def run_preview(
    args: argparse.Namespace, settings: Settings, policy_of: Callable[[Settings], SmsPolicy]
) -> int:
    language: str | None = None
    if args.language is not None:
        language = args.language.strip().lower()
        if not _LANGUAGE.fullmatch(language):
            raise InvalidInput(
                f"--language must be a two-letter code such as sl or it, not {args.language!r}"
            )
    source = vopi_source(settings)
    try:
        found = source.events_by_id([args.event_id])
    finally:
        source.engine.dispose()
    if not found:
        raise InvalidInput(
            f"EVENT_ID: event {args.event_id} is not in VOPI (or [source] events_query does not "
            "return it)"
        )
    event = found[0]
    engine = obvo_engine(settings)
    with engine.connect() as conn:
        rule = store.load_rules(conn).get(event.event_type)
        chosen = None
        if args.subscriber is not None:
            matches = subscriber_store.find(conn, subscriber_id=args.subscriber)
            if not matches:
                raise InvalidInput(f"--subscriber: no subscriber with id {args.subscriber}")
            chosen = matches[0]
    header = _event_header(event, rule)
    if rule is None or rule.kind is EventKind.INTERNAL:
        why = (
            f"event type {event.event_type} is not classified"
            if rule is None
            else f"event type {event.event_type} is internal"
        )
        if args.json:
            print_json({"event": header, "recipients": [], "nobody_because": why})
        else:
            _print_header(header)
            print(f"\nnobody would be told: {why}")
        return ExitCode.OK
    items = _items(
        settings, event, rule=rule, chosen=chosen, language=language, policy=policy_of(settings)
    )
    if args.json:
        print_json({"event": header, "recipients": [i.as_json() for i in items]})
    else:
        _print_header(header)
        _print_items(items)
    return ExitCode.OK


def _items(
    settings: Settings,
    event: VopiEvent,
    *,
    rule: EventTypeRule,
    chosen: SubscriberRecord | None,
    language: str | None,
    policy: SmsPolicy,
) -> list[PreviewItem]:
    source = vopi_source(settings)
    try:
        parties = source.parties([event.case_id]) if event.case_id is not None else {}
    finally:
        source.engine.dispose()
    case_parties = parties.get(event.case_id or "", set())
    engine = obvo_engine(settings)
    with engine.connect() as conn:
        subscribers = store.subscribers_for_parties(conn, case_parties)
        limits = case_limits(conn, [s.id for s in subscribers])
        full = None
        if chosen is not None:
            limits.update(case_limits(conn, [chosen.id]))
            # As the poller loads it (with the channels the citizen limited to key events).
            loaded = store.subscribers_for_parties(conn, [chosen.party_id])
            full = loaded[0] if loaded else chosen.as_subscriber()
    told = [s for s in subscribers if covers(limits, s.id, event.case_id)]
    label = f"event {event.event_id}"
    items: list[PreviewItem] = []
    if full is not None:
        sub = full
        reason = _why_not(sub, rule, event, case_parties, limits)
        sent_on = {r.channel for r in recipients(rule.kind, [sub])}
        channels = [(Channel.EMAIL, sub.email), (Channel.SMS, sub.phone)]
        for channel, address in channels:
            if address is None:
                continue
            why = reason
            if why is None and channel not in sent_on:
                why = f"the subscriber turned non-key events off for {channel}"
            shown = _in_language(sub, language)
            items.append(
                PreviewItem(
                    sub.id,
                    sub.party_id,
                    address,
                    why is None,
                    why,
                    render_part(rule, channel, shown, event.values, source=label, policy=policy),
                )
            )
        return items
    for recipient in recipients(rule.kind, told):
        shown = _in_language(recipient.subscriber, language)
        items.append(
            PreviewItem(
                recipient.subscriber.id,
                recipient.subscriber.party_id,
                recipient.address,
                True,
                None,
                render_part(
                    rule, recipient.channel, shown, event.values, source=label, policy=policy
                ),
            )
        )
    if not items:
        # Nobody subscribed: still show the texts, as a subscriber in that language would see.
        sample = Subscriber(
            id=0,
            party_id=next(iter(sorted(case_parties)), "<party_id>"),
            email=None,
            phone=None,
            events=EventsLevel.ALL,
            language=language or "sl",
        )
        why = "no subscribed party of this case would be told"
        for channel in (Channel.EMAIL, Channel.SMS):
            part = render_part(rule, channel, sample, event.values, source=label, policy=policy)
            items.append(PreviewItem(None, None, None, False, why, part))
    return items


def _in_language(sub: Subscriber, language: str | None) -> Subscriber:
    if language is None:
        return sub
    return Subscriber(sub.id, sub.party_id, sub.email, sub.phone, sub.events, language)


def _why_not(
    sub: Subscriber,
    rule: EventTypeRule,
    event: VopiEvent,
    case_parties: set[str],
    limits: dict[int, frozenset[str]],
) -> str | None:
    if sub.party_id not in case_parties:
        return f"party {sub.party_id} is not a party of case {event.case_id}"
    if not covers(limits, sub.id, event.case_id):
        only = ", ".join(sorted(limits.get(sub.id, ())))
        return f"the subscription covers only case(s) {only}"
    if not wants(rule.kind, sub.events):
        return f"the subscriber wants key events only; {rule.code} is {rule.kind}"
    return None


def _event_header(event: VopiEvent, rule: EventTypeRule | None) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "name": None if rule is None else rule.name,
        "kind": None if rule is None else str(rule.kind),
        "case_id": event.case_id,
        "occurred_at": None if event.occurred_at is None else event.occurred_at.isoformat(),
        "values": {
            k: (v.isoformat() if isinstance(v, dt.datetime | dt.date) else v)
            for k, v in event.values.items()
        },
    }


def _print_header(header: dict[str, Any]) -> None:
    kind = f", {header['kind']}" if header["kind"] else ""
    name = f" ({header['name']}{kind})" if header["name"] is not None else ""
    print(f"event {header['event_id']}  {header['event_type']}{name}")
    print(f"case {header['case_id']}, occurred {header['occurred_at']}")


def _print_items(items: list[PreviewItem]) -> None:
    sending = sum(1 for i in items if i.would_send)
    print(f"\n{sending} message(s) would be sent")
    for number, item in enumerate(items, start=1):
        part = item.part
        who = (
            f"subscriber {item.subscriber_id} (party {item.party_id})"
            if item.subscriber_id is not None
            else "no subscriber"
        )
        channel = "e-mail" if part.channel == "email" else "SMS"
        to = f" to {item.address}" if item.address else ""
        print(f"\n#{number} {channel}{to}, {who}, language {part.language}")
        if not item.would_send:
            print(f"   NOT SENT: {item.reason}")
        if not part.ok:
            print(f"   ERROR: {part.error} (the notification would be failed)")
            continue
        if part.subject is not None:
            print(f"   Subject: {part.subject}")
        for line in (part.text or "").splitlines() or [""]:
            print(f"   | {line}")
        if part.sms is not None:
            print(
                f"   {part.sms.encoding}, {part.sms.units} unit(s), {part.sms.segments} segment(s)"
            )
        for w in part.warnings:
            print(f"   warning: {w}")
