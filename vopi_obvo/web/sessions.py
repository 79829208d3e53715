"""Session tokens and CSRF tokens of the portal and the console.

A session is a 256-bit random token in a cookie; the database keeps only its keyed hash, so
a copy of the database does not sign anyone in. Each session carries its own CSRF token,
which every form sends back and which is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(32)


def keyed_hash(secret: str, purpose: str, value: str) -> str:
    return hmac.new(
        secret.encode("utf-8"), f"{purpose}:{value}".encode(), hashlib.sha256
    ).hexdigest()


def csrf_matches(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())
