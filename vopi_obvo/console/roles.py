"""Staff roles and what each may do (pure).

Each role includes the one below it: a viewer reads the overview, the outbox, the audit and
the event types with their templates; a clerk also registers, changes and ends subscriptions
and retries notifications; an admin also edits rules and templates, decides about storms,
erases subscribers and manages staff.
"""

from __future__ import annotations

import enum

from vopi_obvo.errors import InvalidInput
from vopi_obvo.problems import Label, Problem


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


def parse_role(value: str, field: Label) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        wrong = {"field": field, "value": value, "roles": ROLES}
        raise InvalidInput(Problem("staff.role", wrong)) from None


def staff_name(value: str, field: Label) -> str:
    text = " ".join(value.split())
    if not text:
        raise InvalidInput(Problem("staff.name_empty", {"field": field}))
    if len(text) > 200 or any(not ch.isprintable() for ch in text):
        raise InvalidInput(Problem("staff.name_text", {"field": field}))
    return text
