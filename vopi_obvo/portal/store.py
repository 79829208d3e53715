"""The portal's reads and writes on OBVO's tables, through named queries (sql/queries.sql)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from vopi_obvo.portal.codes import Purpose, StoredCode
from vopi_obvo.queries import q
from vopi_obvo.subscribers import SubscriberRecord

HISTORY_LIMIT = 500


# The portal's name for the one subscriber record (vopi_obvo/subscribers.py).
Subscription = SubscriberRecord


@dataclass(frozen=True)
class SentNotification:
    id: int
    created_at: dt.datetime
    sent_at: dt.datetime | None
    channel: str
    event_type: str
    event_name: str | None
    case_id: str | None
    status: str
    recipient: str | None
    subject: str | None
    body: str | None


@dataclass(frozen=True)
class OpenCode:
    code: StoredCode
    payload: Mapping[str, Any] = field(default_factory=dict)


def upsert_identity(conn: sa.Connection, issuer: str, serial: str) -> tuple[int, str | None]:
    row = conn.execute(q("portal_upsert_identity"), {"issuer": issuer, "serial": serial}).one()
    return int(row.id), row.party_id


def link_identity(conn: sa.Connection, identity_id: int, party_id: str, linked_by: str) -> None:
    conn.execute(
        q("portal_link_identity"),
        {"identity_id": identity_id, "party_id": party_id, "linked_by": linked_by},
    )


def subscription(conn: sa.Connection, party_id: str) -> Subscription | None:
    row = conn.execute(q("portal_subscriber_by_party"), {"party_id": party_id}).one_or_none()
    if row is None:
        return None
    return SubscriberRecord.from_row(row._mapping)


def parties_by_contact(
    conn: sa.Connection, email: str | None, phone: str | None
) -> list[tuple[str, str]]:
    """(party, the contact as registered) for each subscription with this e-mail or phone."""
    rows = conn.execute(q("portal_parties_by_contact"), {"email": email, "phone": phone})
    found: list[tuple[str, str]] = []
    for r in rows:
        registered = r.email if email and (r.email or "").lower() == email.lower() else r.phone
        found.append((str(r.party_id), str(registered)))
    return found


def update_subscription(conn: sa.Connection, sub: Subscription) -> None:
    conn.execute(
        q("portal_update_subscriber"),
        {
            "id": sub.id,
            "email": sub.email,
            "phone": sub.phone,
            "events": sub.events,
            "language": sub.language,
            "key_only_channels": list(sub.key_only_channels),
        },
    )


def insert_subscription(
    conn: sa.Connection,
    *,
    party_id: str,
    email: str | None,
    phone: str | None,
    events: str,
    language: str,
    origin: str,
    consent_at: dt.datetime | None,
    reference: str | None = None,
) -> int | None:
    """The new subscriber's id, or None when the party already has one."""
    value = conn.execute(
        q("portal_insert_subscriber"),
        {
            "party_id": party_id,
            "email": email,
            "phone": phone,
            "events": events,
            "language": language,
            "origin": origin,
            "consent_at": consent_at,
            "reference": reference,
        },
    ).scalar()
    return None if value is None else int(value)


def delete_subscription(conn: sa.Connection, subscriber_id: int) -> bool:
    return conn.execute(q("portal_delete_subscriber"), {"id": subscriber_id}).scalar() is not None


def add_key_only_channel(conn: sa.Connection, subscriber_id: int, channel: str) -> bool:
    found = conn.execute(
        q("portal_add_key_only_channel"), {"id": subscriber_id, "channel": channel}
    ).scalar()
    return found is not None


def notification_owner(conn: sa.Connection, notification_id: int) -> tuple[int | None, str] | None:
    """(subscriber id, channel) of a notification, for its List-Unsubscribe link."""
    row = conn.execute(
        q("portal_notification_for_unsubscribe"), {"id": notification_id}
    ).one_or_none()
    return None if row is None else (row.subscriber_id, str(row.channel))


def key_event_types(conn: sa.Connection) -> list[tuple[str, str]]:
    return [(r.code, r.name or r.code) for r in conn.execute(q("portal_key_event_types"))]


def party_notifications(conn: sa.Connection, party_id: str, days: int) -> list[SentNotification]:
    rows = conn.execute(
        q("portal_party_notifications"),
        {"party_id": party_id, "days": days, "limit": HISTORY_LIMIT},
    )
    return [
        SentNotification(
            id=int(r.id),
            created_at=r.created_at,
            sent_at=r.sent_at,
            channel=r.channel,
            event_type=r.event_type,
            event_name=r.event_name,
            case_id=None if r.case_id is None else str(r.case_id),
            status=r.status,
            recipient=r.recipient,
            subject=r.subject,
            body=r.body,
        )
        for r in rows
    ]


# ---- codes ----


def _stored(row: sa.Row[Any]) -> OpenCode:
    return OpenCode(
        StoredCode(
            id=int(row.id),
            identity_id=int(row.identity_id),
            purpose=Purpose(row.purpose),
            target=row.target,
            code_hash=row.code_hash,
            attempts=int(row.attempts),
            expires_at=row.expires_at,
        ),
        row.payload or {},
    )


def recent_code_count(conn: sa.Connection, identity_id: int) -> int:
    return int(
        conn.execute(q("portal_recent_code_count"), {"identity_id": identity_id}).scalar_one()
    )


def insert_code(
    conn: sa.Connection,
    *,
    identity_id: int,
    purpose: Purpose,
    target: str,
    code_hash: str,
    ttl: float,
    payload: Mapping[str, Any] | None = None,
) -> int:
    conn.execute(q("portal_supersede_codes"), {"identity_id": identity_id, "purpose": purpose})
    return int(
        conn.execute(
            q("portal_insert_code"),
            {
                "identity_id": identity_id,
                "purpose": str(purpose),
                "target": target,
                "payload": json.dumps(dict(payload or {})),
                "code_hash": code_hash,
                "ttl": ttl,
            },
        ).scalar_one()
    )


def open_codes(conn: sa.Connection, identity_id: int) -> list[OpenCode]:
    return [_stored(r) for r in conn.execute(q("portal_open_codes"), {"identity_id": identity_id})]


def open_code_for_update(
    conn: sa.Connection, identity_id: int, purpose: Purpose
) -> OpenCode | None:
    row = conn.execute(
        q("portal_open_code_for_update"), {"identity_id": identity_id, "purpose": str(purpose)}
    ).one_or_none()
    return None if row is None else _stored(row)


def count_attempt(conn: sa.Connection, code_id: int) -> int:
    return int(conn.execute(q("portal_count_attempt"), {"id": code_id}).scalar_one())


def close_code(conn: sa.Connection, code_id: int, outcome: str) -> None:
    conn.execute(q("portal_close_code"), {"id": code_id, "outcome": outcome})


# ---- sessions ----


@dataclass(frozen=True)
class Session:
    identity_id: int
    csrf_token: str
    method: str = "certificate"  # or "sipass"
    display_name: str = ""
    saml_name_id: str | None = None
    saml_name_id_format: str | None = None
    saml_session_index: str | None = None
    party_id: str | None = None  # read with the session, never written through it


def get_session(conn: sa.Connection, token_hash: str) -> Session | None:
    row = conn.execute(q("portal_get_session"), {"token_hash": token_hash}).one_or_none()
    if row is None:
        return None
    return Session(
        int(row.identity_id),
        str(row.csrf_token),
        str(row.method),
        str(row.display_name),
        row.saml_name_id,
        row.saml_name_id_format,
        row.saml_session_index,
        row.party_id,
    )


def touch_session(conn: sa.Connection, token_hash: str, ttl: float) -> None:
    conn.execute(q("portal_touch_session"), {"token_hash": token_hash, "ttl": ttl})


def create_session(conn: sa.Connection, token_hash: str, session: Session, ttl: float) -> None:
    conn.execute(q("portal_delete_expired_sessions"))
    conn.execute(
        q("portal_create_session"),
        {
            "token_hash": token_hash,
            "identity_id": session.identity_id,
            "csrf_token": session.csrf_token,
            "ttl": ttl,
            "method": session.method,
            "display_name": session.display_name,
            "saml_name_id": session.saml_name_id,
            "saml_name_id_format": session.saml_name_id_format,
            "saml_session_index": session.saml_session_index,
        },
    )


def delete_saml_sessions(conn: sa.Connection, name_id: str) -> list[int]:
    rows = conn.execute(q("portal_delete_saml_sessions"), {"name_id": name_id})
    return [int(r.identity_id) for r in rows]


# ---- SI-PASS requests and assertions ----


def insert_saml_request(
    conn: sa.Connection, request_id: str, browser_hash: str, ttl: float
) -> None:
    conn.execute(
        q("portal_insert_saml_request"),
        {"request_id": request_id, "browser_hash": browser_hash, "ttl": ttl},
    )


def saml_requests_of_browser(conn: sa.Connection, browser_hash: str) -> list[str]:
    rows = conn.execute(q("portal_saml_requests_of_browser"), {"browser_hash": browser_hash})
    return [str(r.request_id) for r in rows]


def use_saml_assertion(conn: sa.Connection, assertion_id: str, not_on_or_after: float) -> bool:
    """True the first time an assertion is used; False for a replay."""
    row = conn.execute(
        q("portal_use_saml_assertion"),
        {"assertion_id": assertion_id, "not_on_or_after": not_on_or_after},
    ).one_or_none()
    return row is not None


def delete_session(conn: sa.Connection, token_hash: str) -> None:
    conn.execute(q("portal_delete_session"), {"token_hash": token_hash})


# ---- audit ----


def audit(
    conn: sa.Connection,
    *,
    actor: str,
    action: str,
    outcome: str = "ok",
    party_id: str | None = None,
    subscriber_id: int | None = None,
    peer: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    conn.execute(
        q("portal_insert_audit"),
        {
            "actor": actor,
            "action": action,
            "outcome": outcome,
            "party_id": party_id,
            "subscriber_id": subscriber_id,
            "peer": peer,
            "detail": json.dumps(dict(detail or {}), ensure_ascii=False, default=str),
        },
    )
