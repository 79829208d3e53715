"""Staff members and their roles (table `console_staff`): grant, revoke, list, find.

Shared by `obvo console grant|revoke|list` and the console's staff page, so both validate
and audit alike; every change is an `audit_log` row in the change's own transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vopi_obvo.admin import audit
from vopi_obvo.console.roles import Role
from vopi_obvo.errors import InvalidInput
from vopi_obvo.problems import Param, Problem
from vopi_obvo.queries import q
from vopi_obvo.web.certificates import CertificateIdentity


@dataclass(frozen=True)
class StaffMember:
    id: int
    issuer: str
    serial: str
    name: str
    role: Role
    granted_at: dt.datetime
    granted_by: str
    revoked_at: dt.datetime | None
    revoked_by: str | None
    last_seen_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def actor(self) -> str:
        """Who the audit names for this member's changes."""
        return f"{self.name} (console, staff {self.id})"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "issuer": self.issuer,
            "serial": self.serial,
            "granted_at": self.granted_at.isoformat(),
            "granted_by": self.granted_by,
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "revoked_by": self.revoked_by,
            "last_seen_at": None if self.last_seen_at is None else self.last_seen_at.isoformat(),
        }


def find(
    conn: sa.Connection,
    *,
    staff_id: int | None = None,
    certificate: CertificateIdentity | None = None,
) -> list[StaffMember]:
    rows = conn.execute(
        q("console_staff"),
        {
            "id": staff_id,
            "issuer": certificate.issuer if certificate else None,
            "serial": certificate.serial if certificate else None,
        },
    )
    return [
        StaffMember(
            id=int(r.id),
            issuer=r.issuer,
            serial=r.subject_serial,
            name=r.name,
            role=Role(r.role),
            granted_at=r.granted_at,
            granted_by=r.granted_by,
            revoked_at=r.revoked_at,
            revoked_by=r.revoked_by,
            last_seen_at=r.last_seen_at,
        )
        for r in rows
    ]


def grant(
    conn: sa.Connection, certificate: CertificateIdentity, name: str, role: Role, actor: str
) -> tuple[StaffMember, bool]:
    """Access for the holder of a certificate (new, or changed); audited."""
    return _grant(
        conn,
        issuer=certificate.issuer,
        serial=certificate.serial,
        name=name,
        role=role,
        actor=actor,
        fingerprint=certificate.fingerprint,
    )


def change_role(conn: sa.Connection, member: StaffMember, role: Role, actor: str) -> StaffMember:
    """Another role for an active member (their certificate stays the same); audited."""
    if not member.active:
        raise InvalidInput(Problem("staff.revoked", {"id": member.id, "name": member.name}))
    return _grant(
        conn,
        issuer=member.issuer,
        serial=member.serial,
        name=member.name,
        role=role,
        actor=actor,
        fingerprint=None,
    )[0]


def _grant(
    conn: sa.Connection,
    *,
    issuer: str,
    serial: str,
    name: str,
    role: Role,
    actor: str,
    fingerprint: str | None,
) -> tuple[StaffMember, bool]:
    row = conn.execute(
        q("console_grant_staff"),
        {"issuer": issuer, "serial": serial, "name": name, "role": role.value, "granted_by": actor},
    ).one()
    [member] = find(conn, staff_id=int(row.id))
    detail: dict[str, Any] = {
        "name": name,
        "role": role.value,
        "new": bool(row.created),
        "issuer": issuer,
    }
    if fingerprint:
        detail["fingerprint"] = fingerprint
    audit.record(conn, actor, "staff.grant", f"staff:{member.id}", detail)
    return member, bool(row.created)


def revoke(conn: sa.Connection, staff_id: int, actor: str) -> StaffMember:
    """End a member's access and sessions; InvalidInput when there is nothing to revoke."""
    found = find(conn, staff_id=staff_id)
    if not found:
        raise InvalidInput(Problem("staff.unknown", {"id": staff_id}))
    if not conn.execute(q("console_revoke_staff"), {"id": staff_id, "revoked_by": actor}).all():
        again: dict[str, Param] = {"id": staff_id, "name": found[0].name}
        raise InvalidInput(Problem("staff.already_revoked", again))
    audit.record(conn, actor, "staff.revoke", f"staff:{staff_id}", {"name": found[0].name})
    return find(conn, staff_id=staff_id)[0]
