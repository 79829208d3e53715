"""Unsubscribe tokens: the link in an e-mail's `List-Unsubscribe` header, checked by the portal.

A token names the subscriber (and, for the record, the notification that carried it) and is
signed with HMAC-SHA256 under a secret only OBVO and the portal know, so nobody can unsubscribe
someone else by guessing ids. The secret is `[email] unsubscribe_secret`, normally given in the
environment as `OBVO_EMAIL_UNSUBSCRIBE_SECRET` (at least 32 characters; e.g. the output of
`python -c "import secrets; print(secrets.token_urlsafe(32))"`). Changing it invalidates the
links in e-mails already sent.

Token form: `<subscriber id>.<notification id>.<signature>`, where the signature is the first
16 bytes of HMAC-SHA256(secret, "obvo-unsubscribe:<subscriber id>.<notification id>") in
unpadded URL-safe base64: short enough for a URL, safe in a path segment, no expiry (RFC 8058
links must keep working for as long as the message sits in a mailbox).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

MIN_SECRET_LENGTH = 32
_PURPOSE = b"obvo-unsubscribe:"
_SIGNATURE_BYTES = 16
_TOKEN_RE = re.compile(r"([1-9][0-9]{0,18})\.([1-9][0-9]{0,18})\.([A-Za-z0-9_-]{22})")


@dataclass(frozen=True)
class UnsubscribeToken:
    subscriber_id: int
    notification_id: int


def _signature(secret: str, payload: str) -> str:
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"the unsubscribe secret must have at least {MIN_SECRET_LENGTH} characters"
        )
    mac = hmac.new(secret.encode("utf-8"), _PURPOSE + payload.encode("ascii"), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:_SIGNATURE_BYTES]).rstrip(b"=").decode("ascii")


def sign(subscriber_id: int, notification_id: int, secret: str) -> str:
    """The token for the unsubscribe link of one notification to one subscriber."""
    if subscriber_id < 1 or notification_id < 1:
        raise ValueError("subscriber and notification ids are positive")
    payload = f"{subscriber_id}.{notification_id}"
    return f"{payload}.{_signature(secret, payload)}"


def verify(token: str, secret: str) -> UnsubscribeToken | None:
    """The ids in a genuine token; None for anything malformed, altered or signed otherwise."""
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        return None
    subscriber, notification, signature = match.groups()
    expected = _signature(secret, f"{subscriber}.{notification}")
    if not hmac.compare_digest(expected, signature):
        return None
    return UnsubscribeToken(int(subscriber), int(notification))
