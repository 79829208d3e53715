"""Staff roles and what each may do (pure).

Each role includes the one below it: a viewer reads the overview, the outbox, the audit and
the event types with their templates; a clerk also registers, changes and ends subscriptions
and retries notifications; an admin also edits rules and templates, decides about storms,
erases subscribers and manages staff.
"""

from __future__ import annotations

import enum

from vopi_obvo.errors import InvalidInput


class Role(enum.StrEnum):
    VIEWER = "viewer"
    CLERK = "clerk"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 1, Role.CLERK: 2, Role.ADMIN: 3}
ROLES = ", ".join(r.value for r in Role)


def parse_role(value: str, field: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise InvalidInput(f"{field} must be one of {ROLES}, not {value!r}") from None


def staff_name(value: str, field: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise InvalidInput(f"{field} must not be empty: the staff member's name as on the badge")
    if len(text) > 200 or any(not ch.isprintable() for ch in text):
        raise InvalidInput(f"{field} must be a printable name of at most 200 characters")
    return text
