"""API tokens of the municipal portal's clients.

The configuration holds only `client:sha256:<hex>` per client (`obvo portal token CLIENT`
makes a token and prints that line), so the file and its backups never hold a usable token.
Tokens are 256-bit random values: a plain SHA-256 is enough, no slow hash is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence

_ENTRY = re.compile(r"(?P<client>[A-Za-z0-9_.-]{1,64}):sha256:(?P<hex>[0-9a-f]{64})")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def config_line(client: str, token: str) -> str:
    return f"{client}:sha256:{token_digest(token)}"


def parse_entries(entries: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """digest → client, and a problem per malformed entry (naming its position)."""
    clients: dict[str, str] = {}
    problems: list[str] = []
    for index, entry in enumerate(entries, start=1):
        match = _ENTRY.fullmatch(entry.strip())
        if match is None:
            problems.append(
                f"[portal] api_tokens entry {index} must look like "
                "'client-name:sha256:<64 hex digits>' (see `obvo portal token`)"
            )
            continue
        if match["client"] in clients.values():
            problems.append(f"[portal] api_tokens: client {match['client']!r} appears twice")
        clients[match["hex"]] = match["client"]
    return clients, problems


def client_for(token: str, clients: dict[str, str]) -> str | None:
    """The client whose token this is; every digest is compared, in constant time each."""
    digest = token_digest(token)
    found = None
    for known, client in clients.items():
        if hmac.compare_digest(known, digest):
            found = client
    return found
