"""One-time confirmation codes: made, hashed and checked here (pure logic).

A new e-mail address or phone number takes effect only when the citizen types the code sent
to it, so a typo never sends case details to a stranger. A code is six digits, valid for
`[portal] code_ttl` seconds and `code_max_attempts` wrong entries; only a keyed hash is
stored, bound to the identity and purpose, so a database reader cannot replay it elsewhere.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass

CODE_DIGITS = 6


class Purpose(enum.StrEnum):
    EMAIL = "email"  # confirm a new e-mail address
    PHONE = "phone"  # confirm a new mobile number
    LINK = "link"  # link a certificate to the party whose registered contact got the code


class Check(enum.StrEnum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    LOCKED = "locked"  # too many wrong attempts: the code is void


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(secret: str, identity_id: int, purpose: Purpose, code: str) -> str:
    message = f"obvo-code:{identity_id}:{purpose}:{code}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def normalise_entered(text: str) -> str:
    """What a person types: spaces and dashes are ignored ("123 456", "123-456")."""
    return "".join(ch for ch in text if ch not in " -\t")


@dataclass(frozen=True)
class StoredCode:
    id: int
    identity_id: int
    purpose: Purpose
    target: str
    code_hash: str
    attempts: int
    expires_at: dt.datetime


def check_code(
    stored: StoredCode, entered: str, secret: str, now: dt.datetime, max_attempts: int
) -> Check:
    """The verdict on one entry; the caller counts the attempt for WRONG."""
    if stored.attempts >= max_attempts:
        return Check.LOCKED
    if now >= stored.expires_at:
        return Check.EXPIRED
    digits = normalise_entered(entered)
    if len(digits) != CODE_DIGITS or not digits.isdigit():
        return Check.WRONG
    expected = code_hash(secret, stored.identity_id, stored.purpose, digits)
    return Check.OK if hmac.compare_digest(expected, stored.code_hash) else Check.WRONG
