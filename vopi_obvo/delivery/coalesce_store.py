"""Coalescing in OBVO's tables: one transaction right after a claim.

In that transaction the claimed notifications' companions are locked (`SKIP LOCKED`), marked
`coalesced` with `coalesced_into` = the carrier, and the carrier's text is replaced by the text
for all its events. A crash before the commit leaves everything as it was (the claim is taken
back later and the companions are still pending); a crash after it leaves a carrier with the
full text, sent when its claim is taken back. Nothing is lost either way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog

from vopi_obvo import store
from vopi_obvo.messages.coalesce import Group, Member, plan_groups, render_group
from vopi_obvo.messages.event_values import load_values
from vopi_obvo.messages.sms_text import SmsPolicy, prepare_sms
from vopi_obvo.queries import q
from vopi_obvo.rules import Channel, EventsLevel, RuleSet
from vopi_obvo.rules import Subscriber as RuleSubscriber

log = structlog.get_logger("vopi_obvo.coalesce")


class RulesCache:
    """The rules for rendering shared messages, reloaded only when a rule row changed."""

    def __init__(self) -> None:
        self._rules = RuleSet({})
        self._fingerprint: str | None = None

    def get(self, conn: sa.Connection) -> RuleSet:
        fingerprint = store.rules_fingerprint(conn)
        if fingerprint != self._fingerprint:
            self._rules = store.load_rules(conn)
            self._fingerprint = fingerprint
        return self._rules


@dataclass(frozen=True)
class Outcome:
    # claimed notifications to send, with the text for all their events where they carry some
    to_send: list[store.ClaimedNotification]
    # claimed notifications that travel in another's message (not to be sent themselves)
    absorbed: list[int]
    # pending notifications that now travel in a claimed one's message
    companions: int


def _member(row: sa.Row[Any]) -> Member:
    when: dt.datetime = row.occurred_at or row.created_at
    return Member(
        id=int(row.id),
        subscriber_id=int(row.subscriber_id),
        channel=row.channel,
        case_id=row.case_id,
        source_event_id=int(row.source_event_id),
        event_type=row.event_type,
        event_kind=row.event_kind,
        when=when,
        subject=row.subject,
        body=row.body,
        body_html=row.body_html,
        values=None if row.event_values is None else load_values(row.event_values),
    )


def coalesce_claimed(
    conn: sa.Connection,
    worker_id: str,
    claimed: Sequence[store.ClaimedNotification],
    *,
    window: dt.timedelta,
    rules: RulesCache,
    sms_policy: SmsPolicy,
) -> Outcome:
    """Group the claimed notifications with their companions and write the groups; in the
    caller's transaction."""
    first_tries = [c.id for c in claimed if c.attempts == 1]
    if not first_tries:
        return Outcome(list(claimed), [], 0)
    rows = conn.execute(q("coalesce_claimed"), {"ids": first_tries, "worker_id": worker_id}).all()
    parties = {int(r.id): (r.party_id, r.language) for r in rows}
    members = [_member(r) for r in rows]
    pairs = [
        (int(r.claimed_id), _member(r))
        for r in conn.execute(
            q("coalesce_companions"),
            {"ids": [m.id for m in members], "window": window.total_seconds()},
        )
    ]
    groups = [g for g in plan_groups(members, pairs, window) if g.others]
    # Values are only needed until the first claim; the rendered texts stay.
    conn.execute(q("forget_event_values"), {"ids": [m.id for m in members]})
    if not groups:
        return Outcome(list(claimed), [], 0)
    ruleset = rules.get(conn)
    by_id = {c.id: c for c in claimed}
    replaced: dict[int, store.ClaimedNotification] = {}
    absorbed: list[int] = []
    companions = 0
    for group in groups:
        party_id, language = parties[group.carrier.id]
        item = _write_group(
            conn,
            worker_id,
            group,
            ruleset=ruleset,
            party_id=party_id,
            language=language,
            sms_policy=sms_policy,
        )
        replaced[group.carrier.id] = dataclasses.replace(
            by_id[group.carrier.id],
            subject=item.subject,
            body=item.body,
            body_html=item.body_html,
            event_kind="key" if group.key_event else by_id[group.carrier.id].event_kind,
        )
        absorbed.extend(m.id for m in group.others if m.id in by_id)
        companions += sum(1 for m in group.others if m.id not in by_id)
    gone = set(absorbed)
    to_send = [replaced.get(c.id, c) for c in claimed if c.id not in gone]
    return Outcome(to_send, absorbed, companions)


@dataclass(frozen=True)
class _Text:
    subject: str | None
    body: str
    body_html: str | None


def _write_group(
    conn: sa.Connection,
    worker_id: str,
    group: Group,
    *,
    ruleset: RuleSet,
    party_id: str | None,
    language: str,
    sms_policy: SmsPolicy,
) -> _Text:
    channel = Channel(group.carrier.channel)
    subscriber = RuleSubscriber(
        id=group.carrier.subscriber_id,
        party_id=party_id or "",
        email=None,
        phone=None,
        events=EventsLevel.ALL,
        language=language,
    )
    members = group.members
    rendered = render_group(members, channel, ruleset, subscriber)
    encoding: str | None = None
    segments: int | None = None
    body = rendered.body
    if channel is Channel.SMS:
        prepared = prepare_sms(body, sms_policy)
        body, encoding, segments = prepared.text, str(prepared.encoding), prepared.segments
    conn.execute(
        q("mark_coalesced"),
        {
            "into": group.carrier.id,
            "ids": [m.id for m in group.others],
            "worker_id": worker_id,
        },
    )
    conn.execute(
        q("set_coalesced_text"),
        {
            "id": group.carrier.id,
            "worker_id": worker_id,
            "subject": rendered.subject,
            "body": body,
            "body_html": rendered.body_html,
            "sms_encoding": encoding,
            "sms_segments": segments,
        },
    )
    log.info(
        "notifications.coalesced",
        notification_id=group.carrier.id,
        coalesced=[m.id for m in group.others],
        events=[m.source_event_id for m in members],
        channel=str(channel),
        rendered=rendered.how,
    )
    return _Text(rendered.subject, body, rendered.body_html)
