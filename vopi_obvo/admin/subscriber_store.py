"""Subscriber rows for the administrative commands: read, add, change, end, erase."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vopi_obvo.admin.erasure import scrub
from vopi_obvo.admin.subscriber_input import SubscriberData
from vopi_obvo.queries import q
from vopi_obvo.rules import EventsLevel, Subscriber


@dataclass(frozen=True)
class SubscriberRecord:
    id: int
    party_id: str
    email: str | None
    phone: str | None
    events: str
    language: str
    origin: str | None
    reference: str | None
    consent_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    cases: tuple[str, ...]

    def as_subscriber(self) -> Subscriber:
        return Subscriber(
            id=self.id,
            party_id=self.party_id,
            email=self.email,
            phone=self.phone,
            events=EventsLevel(self.events),
            language=self.language,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "party": self.party_id,
            "email": self.email,
            "phone": self.phone,
            "events": self.events,
            "language": self.language,
            "origin": self.origin,
            "reference": self.reference,
            "consent_at": None if self.consent_at is None else self.consent_at.isoformat(),
            "cases": list(self.cases),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def find(
    conn: sa.Connection,
    *,
    subscriber_id: int | None = None,
    party_id: str | None = None,
    case_id: str | None = None,
) -> list[SubscriberRecord]:
    rows = conn.execute(
        q("admin_subscribers"), {"id": subscriber_id, "party_id": party_id, "case_id": case_id}
    )
    return [
        SubscriberRecord(
            id=int(r.id),
            party_id=r.party_id,
            email=r.email,
            phone=r.phone,
            events=r.events,
            language=r.language,
            origin=r.origin,
            reference=r.reference,
            consent_at=r.consent_at,
            created_at=r.created_at,
            updated_at=r.updated_at,
            cases=tuple(r.cases),
        )
        for r in rows
    ]


def insert(conn: sa.Connection, data: SubscriberData) -> int | None:
    """The new id, or None when the party is already subscribed."""
    new_id = conn.execute(q("admin_insert_subscriber"), data.params()).scalar()
    if new_id is None:
        return None
    set_cases(conn, int(new_id), data.cases)
    return int(new_id)


def update(conn: sa.Connection, subscriber_id: int, data: SubscriberData) -> None:
    conn.execute(q("admin_update_subscriber"), {"id": subscriber_id, **data.params()})
    set_cases(conn, subscriber_id, data.cases)


def set_cases(conn: sa.Connection, subscriber_id: int, cases: Sequence[str]) -> None:
    conn.execute(q("clear_subscriber_cases"), {"subscriber_id": subscriber_id})
    if cases:
        conn.execute(
            q("add_subscriber_case"),
            [{"subscriber_id": subscriber_id, "case_id": c} for c in cases],
        )


def notification_counts(conn: sa.Connection, subscriber_id: int) -> dict[str, dict[str, int]]:
    """channel → status → count."""
    counts: dict[str, dict[str, int]] = {}
    for r in conn.execute(q("subscriber_notification_counts"), {"subscriber_id": subscriber_id}):
        counts.setdefault(r.channel, {})[r.status] = int(r.n)
    return counts


def remove(conn: sa.Connection, subscriber_id: int, reason: str) -> int:
    """End a subscription: what was still to be sent is cancelled. Returns how many."""
    cancelled = conn.execute(
        q("cancel_open_notifications_of_subscriber"),
        {"subscriber_id": subscriber_id, "reason": reason},
    ).all()
    conn.execute(q("admin_delete_subscriber"), {"id": subscriber_id})
    return len(cancelled)


@dataclass(frozen=True)
class Erasure:
    cancelled: int  # notifications that were still due
    erased: int  # notifications whose address and texts were removed
    portal_identities: int  # certificate links to the party removed


def forget(conn: sa.Connection, record: SubscriberRecord) -> Erasure:
    """Erase a subscriber: addresses and rendered texts go, the delivery counts stay."""
    cancelled = len(
        conn.execute(
            q("cancel_open_notifications_of_subscriber"),
            {"subscriber_id": record.id, "reason": "cancelled: the subscriber was erased"},
        ).all()
    )
    addresses = [a for a in (record.email, record.phone) if a]
    texts = conn.execute(q("personal_texts_of_subscriber"), {"subscriber_id": record.id}).all()
    attempt_errors: list[dict[str, Any]] = []
    notification_errors: dict[int, str | None] = {}
    for row in texts:
        known = [*addresses, *([row.recipient] if row.recipient else [])]
        cleaned = None if row.error is None else scrub(row.error, known)
        if row.attempt_id is None:
            notification_errors[int(row.notification_id)] = cleaned
        elif cleaned != row.error:
            attempt_errors.append({"id": int(row.attempt_id), "error": cleaned})
    if attempt_errors:
        conn.execute(q("scrub_attempt_error"), attempt_errors)
    if notification_errors:
        conn.execute(
            q("erase_notifications_of_subscriber"),
            [{"id": nid, "error": err} for nid, err in notification_errors.items()],
        )
    conn.execute(q("admin_delete_subscriber"), {"id": record.id})
    portal = 0
    if conn.execute(q("portal_identities_present")).scalar():
        portal = len(
            conn.execute(
                q("forget_portal_identities_of_party"), {"party_id": record.party_id}
            ).all()
        )
    return Erasure(cancelled, len(notification_errors), portal)
