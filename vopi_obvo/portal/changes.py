"""Changes that wait for a code: issuing the code, sending it, checking an entry, applying.

Codes go out through OBVO's own senders (SMTP, the SMS gateway) at once, not through the
outbox: the citizen is waiting on the page. The message carries the negative code id as its
reference, so a gateway's delivery report for it is told apart from a notification's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog

from vopi_obvo.messages.contacts import mask_recipient
from vopi_obvo.portal import codes, store
from vopi_obvo.portal.codes import Check, Purpose
from vopi_obvo.portal.context import Citizen, Portal
from vopi_obvo.portal.texts import Translator
from vopi_obvo.senders import OutgoingMessage, SendError
from vopi_obvo.senders.factory import build_senders

log = structlog.get_logger("vopi_obvo.portal")


class CodeLimitReached(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(f"{count} codes in the last hour")
        self.count = count


class CodeNotSent(Exception):
    """The SMTP server or SMS gateway did not take the code."""


class Outcome(enum.StrEnum):
    CONFIRMED = "confirmed"
    WRONG = "wrong"
    EXPIRED = "expired"
    LOCKED = "locked"
    NONE = "none"  # nothing waits for a code of this kind
    GONE = "gone"  # the subscription the change was for no longer exists


@dataclass(frozen=True)
class Confirmation:
    outcome: Outcome
    attempts_left: int = 0


def issue_code(
    portal: Portal,
    request_peer: str | None,
    citizen: Citizen,
    purpose: Purpose,
    *,
    target: str,
    send_to: str,
    language: str,
    payload: Mapping[str, Any] | None = None,
) -> None:
    """Make a code for `target` and send it to `send_to` (the same, except when linking)."""
    p = portal.settings.portal
    code = codes.new_code()
    digest = codes.code_hash(p.session_secret, citizen.identity_id, purpose, code)
    with portal.engine.begin() as conn:
        recent = store.recent_code_count(conn, citizen.identity_id)
        if recent >= p.codes_per_hour:
            store.audit(
                conn,
                actor=citizen.actor,
                action=f"code.{purpose}",
                outcome="refused",
                party_id=citizen.party_id,
                peer=request_peer,
                detail={"reason": "codes_per_hour", "count": recent},
            )
    if recent >= p.codes_per_hour:  # raised outside the block, which commits the audit entry
        raise CodeLimitReached(recent)
    with portal.engine.begin() as conn:
        code_id = store.insert_code(
            conn,
            identity_id=citizen.identity_id,
            purpose=purpose,
            target=target,
            code_hash=digest,
            ttl=p.code_ttl,
            payload=payload,
        )
    try:
        _send(portal, code_id, purpose, to=send_to, code=code, lang=language)
    except SendError as exc:
        with portal.engine.begin() as conn:
            store.close_code(conn, code_id, "not_sent")
        log.error("portal.code_not_sent", code_id=code_id, purpose=str(purpose), error=str(exc))
        raise CodeNotSent(str(exc)) from exc
    with portal.engine.begin() as conn:
        store.audit(
            conn,
            actor=citizen.actor,
            action=f"code.{purpose}",
            party_id=citizen.party_id,
            peer=request_peer,
            detail={"code_id": code_id, "to": mask_recipient(send_to)},
        )
    log.info("portal.code_sent", code_id=code_id, purpose=str(purpose), to=mask_recipient(send_to))


def _send(portal: Portal, code_id: int, purpose: Purpose, *, to: str, code: str, lang: str) -> None:
    t = Translator(lang)
    minutes = max(1, round(portal.settings.portal.code_ttl / 60))
    senders = build_senders(portal.settings)
    try:
        if "@" in to:
            body_key = "link_email_body" if purpose is Purpose.LINK else "code_email_body"
            message = OutgoingMessage(
                notification_id=-code_id,
                recipient=to,
                subject=t("code_email_subject", code=code),
                body=t(body_key, code=code, minutes=minutes),
                key_event=True,  # never an unsubscribe link on a code
            )
            senders["email"].send(message)
        else:
            text_key = "link_sms" if purpose is Purpose.LINK else "code_sms"
            message = OutgoingMessage(
                notification_id=-code_id,
                recipient=to,
                subject=None,
                body=t(text_key, code=code, minutes=minutes),
                key_event=True,
            )
            senders["sms"].send(message)
    finally:
        for sender in senders.values():
            sender.close()


def confirm(
    portal: Portal, request_peer: str | None, citizen: Citizen, purpose: Purpose, *, entered: str
) -> Confirmation:
    p = portal.settings.portal
    with portal.engine.begin() as conn:
        found = store.open_code_for_update(conn, citizen.identity_id, purpose)
        if found is None:
            return Confirmation(Outcome.NONE)
        stored = found.code
        verdict = codes.check_code(
            stored, entered, p.session_secret, portal.clock(), p.code_max_attempts
        )
        if verdict is Check.EXPIRED:
            return Confirmation(Outcome.EXPIRED)
        if verdict is Check.WRONG:
            attempts = store.count_attempt(conn, stored.id)
            left = max(p.code_max_attempts - attempts, 0)
            if left == 0:
                verdict = Check.LOCKED
            else:
                _audit_code(
                    conn,
                    citizen,
                    request_peer,
                    purpose,
                    outcome="refused",
                    result="wrong",
                    code_id=stored.id,
                )
                return Confirmation(Outcome.WRONG, left)
        if verdict is Check.LOCKED:
            store.close_code(conn, stored.id, "too_many_attempts")
            _audit_code(
                conn,
                citizen,
                request_peer,
                purpose,
                outcome="refused",
                result="locked",
                code_id=stored.id,
            )
            return Confirmation(Outcome.LOCKED)
        applied = _apply(conn, citizen, found)
        store.close_code(conn, stored.id, "confirmed")
        if not applied:
            return Confirmation(Outcome.GONE)
        _audit_code(
            conn,
            citizen,
            request_peer,
            purpose,
            outcome="ok",
            result="confirmed",
            code_id=stored.id,
        )
    log.info("portal.code_confirmed", identity_id=citizen.identity_id, purpose=str(purpose))
    return Confirmation(Outcome.CONFIRMED)


def _audit_code(
    conn: sa.Connection,
    citizen: Citizen,
    peer: str | None,
    purpose: Purpose,
    *,
    outcome: str,
    result: str,
    code_id: int,
) -> None:
    store.audit(
        conn,
        actor=citizen.actor,
        action=f"confirm.{purpose}",
        outcome=outcome,
        party_id=citizen.party_id,
        peer=peer,
        detail={"code_id": code_id, "result": result},
    )


def _apply(conn: sa.Connection, citizen: Citizen, found: store.OpenCode) -> bool:
    stored, payload = found.code, found.payload
    if stored.purpose is Purpose.LINK:
        store.link_identity(conn, citizen.identity_id, stored.target, "code")
        citizen.party_id = stored.target
        return True
    if citizen.party_id is None:
        return False
    current = store.subscription(conn, citizen.party_id)
    is_email = stored.purpose is Purpose.EMAIL
    if current is None:
        wanted = payload.get("subscribe")
        if not isinstance(wanted, dict):
            return False  # the subscription ended while the code was on its way
        store.insert_subscription(
            conn,
            party_id=citizen.party_id,
            email=stored.target if is_email else None,
            phone=None if is_email else stored.target,
            events=str(wanted["events"]),
            language=str(wanted["language"]),
            origin="e_vloga",
            consent_at=dt.datetime.fromisoformat(str(wanted["consent_at"])),
        )
        return True
    email = stored.target if is_email else current.email
    phone = current.phone if is_email else stored.target
    key_only = current.key_only_channels
    drop = payload.get("drop")
    if drop == ("sms" if is_email else "email"):
        # The channel switched off in the same change goes only now that the new one works.
        email, phone = (email, None) if is_email else (None, phone)
        key_only = tuple(c for c in key_only if c != drop)
    store.update_subscription(
        conn, dataclasses.replace(current, email=email, phone=phone, key_only_channels=key_only)
    )
    return True
