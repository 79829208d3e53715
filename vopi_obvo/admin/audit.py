"""The audit trail: who changed what, and when (table `audit_log`), read together with the
citizens' portal's own trail (`portal_audit`: sign-ins, refusals, API and webhook calls,
citizens' changes) by `entries`, for `obvo audit` and the staff console alike.

Every administrative change (rules, subscribers, retries, cancellations) is recorded in the
same transaction as the change itself, so a change without its record cannot exist. `detail`
never holds a citizen's e-mail address, phone number or message text: an erasure must not
have to rewrite history.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vopi_obvo.queries import q

SOURCES = ("admin", "portal")


@dataclass(frozen=True)
class AuditEntry:
    id: int  # unique within its source
    at: dt.datetime
    actor: str
    action: str
    target: str | None
    detail: Mapping[str, Any]
    source: str = "admin"  # "admin" (audit_log) or "portal" (portal_audit)
    outcome: str = "ok"  # "refused" for the portal's refusals
    peer: str | None = None  # the portal's TCP peer (refusals name the address there only)

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "outcome": self.outcome,
            "target": self.target,
            "peer": self.peer,
            "detail": dict(self.detail),
        }


def default_actor(environ: Mapping[str, str] | None = None) -> str:
    """The person at the keyboard: under `sudo -u obvo obvo …` that is SUDO_USER, not obvo."""
    env = os.environ if environ is None else environ
    sudo_user = env.get("SUDO_USER", "").strip()
    if sudo_user:
        return sudo_user
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return f"uid:{os.getuid()}"


def record(
    conn: sa.Connection,
    actor: str,
    action: str,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """One entry, in the caller's transaction."""
    conn.execute(
        q("insert_audit"),
        {
            "actor": actor,
            "action": action,
            "target": target,
            "detail": json.dumps(dict(detail or {}), ensure_ascii=False, default=str),
        },
    )


def entries(
    conn: sa.Connection,
    *,
    source: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    outcome: str | None = None,
    before: tuple[str, int] | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Both trails (or one `source`), newest first, each filter optional (`since` included,
    `until` excluded); `before` (source, id): the entries listed after that one."""
    rows = conn.execute(
        q("list_audit"),
        {
            "source": source,
            "since": since,
            "until": until,
            "actor": actor,
            "action": action,
            "target": target,
            "outcome": outcome,
            "before_source": before[0] if before else None,
            "before_id": before[1] if before else None,
            "limit": limit,
        },
    )
    return [
        AuditEntry(
            id=int(r.id),
            at=r.at,
            actor=r.actor,
            action=r.action,
            target=r.target,
            detail=r.detail or {},
            source=r.source,
            outcome=r.outcome,
            peer=r.peer,
        )
        for r in rows
    ]
