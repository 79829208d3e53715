"""Subscriber rows for the administrative commands: read, add, change, end, erase."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vopi_obvo.admin.erasure import scrub
from vopi_obvo.admin.subscriber_input import SubscriberData
from vopi_obvo.queries import q
from vopi_obvo.subscribers import SubscriberRecord


def record_json(record: SubscriberRecord) -> dict[str, Any]:
    """A subscription as `subscribers show|list --json` print it."""
    return {
        "id": record.id,
        "party": record.party_id,
        "email": record.email,
        "phone": record.phone,
        "events": record.events,
        "language": record.language,
        "origin": record.origin,
        "reference": record.reference,
        "consent_at": None if record.consent_at is None else record.consent_at.isoformat(),
        "cases": list(record.cases),
        "created_at": None if record.created_at is None else record.created_at.isoformat(),
        "updated_at": None if record.updated_at is None else record.updated_at.isoformat(),
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
    return [SubscriberRecord.from_row(r._mapping) for r in rows]


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
