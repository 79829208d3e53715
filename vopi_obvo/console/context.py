"""The console's shared state, and who is asking: the certificate, the staff member, the
session, the language.

An identity is trusted only when the request's TCP peer is one of `[console]
trusted_proxies` and the certificate in the header parses, was issued by a CA of `[console]
ca_files` (signature checked, not just the name) and is within its dates; the member must
hold an active grant in `console_staff`. Each refusal is a clear page and an `audit_log`
row. The session (a random token in a cookie, its keyed hash in the database) carries the
CSRF token and is bound to the member, so another certificate in the same browser starts a
new session, and a revoked member's sessions end at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import sqlalchemy as sa
import structlog
from starlette.requests import Request

from vopi_obvo.admin import audit
from vopi_obvo.admin.common import vopi_source
from vopi_obvo.console import staff
from vopi_obvo.console.roles import Role
from vopi_obvo.console.settings import ConsoleConfig
from vopi_obvo.console.staff import StaffMember
from vopi_obvo.queries import q
from vopi_obvo.source.vopi import VopiSource
from vopi_obvo.web import sessions
from vopi_obvo.web.certificates import CertificateIdentity, CertificateRefused
from vopi_obvo.web.context import Site, WebApp
from vopi_obvo.web.ratelimit import SlidingWindow

log = structlog.get_logger("vopi_obvo.console")

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


class PageRefusal(Exception):
    """Ends a request with a message page (refusal, limit, expired form, missing role)."""

    def __init__(
        self,
        status: int,
        title_key: str,
        text_key: str,
        *,
        certificate: CertificateIdentity | None = None,
    ) -> None:
        super().__init__(text_key)
        self.status = status
        self.title_key = title_key
        self.text_key = text_key
        self.certificate = certificate  # shown on the "unknown certificate" page


@dataclass(frozen=True)
class Signed:
    """A signed-in staff member and their session's CSRF token."""

    member: StaffMember
    csrf_token: str

    @property
    def actor(self) -> str:
        return self.member.actor

    def may(self, role: Role) -> bool:
        return self.member.role.allows(role)


class Console(WebApp[ConsoleConfig]):
    """Everything a request handler needs; one per running app."""

    site = Site("console", "obvo_console", "console-session", TEMPLATE_DIR)

    def open(self) -> None:
        # VOPI, read-only: the health verdict's lag, cases checked on registration, the
        # preview's newest real event. Connections are opened only when a page needs one.
        self.vopi: VopiSource = vopi_source(self.settings)
        self.change_limiter = SlidingWindow(self.settings.console.rate_limit, 60.0)

    def close(self) -> None:
        super().close()
        self.vopi.engine.dispose()

    # ---- who is asking ----

    def refuse_certificate(self, request: Request, refused: CertificateRefused) -> NoReturn:
        self._refuse(request, str(refused.reason), refused.status, refused.audit_detail())

    def _refuse(
        self,
        request: Request,
        reason: str,
        status: int,
        detail: dict[str, object],
        certificate: CertificateIdentity | None = None,
    ) -> NoReturn:
        peer = self.peer(request)
        with self.engine.begin() as conn:
            audit.record(
                conn, "anonymous", f"console.sign_in.{reason}", None, {**detail, "peer": peer}
            )
        log.warning("console.sign_in_refused", reason=reason)
        self.signin_limiter.allow(f"signin:{self.client_address(request)}")
        raise PageRefusal(status, "refused_title", f"refused_{reason}", certificate=certificate)

    def signed(self, request: Request, needed: Role = Role.VIEWER) -> Signed:
        """The signed-in member (a session is created on first sight: a sign-in), refused
        with 403 when their role is below `needed`."""
        found = self._session_of(request)
        if found.member.role.allows(needed):
            return found
        log.warning("console.role_refused", staff_id=found.member.id, needed=needed.value)
        raise PageRefusal(403, "forbidden_title", f"forbidden_{needed.value}")

    def _session_of(self, request: Request) -> Signed:
        cert = self.certificate(request)
        token = request.cookies.get(self.cookie_name, "")
        token_hash = self.session_hash(token) if token else ""
        ttl = self.settings.console.session_ttl
        with self.engine.begin() as conn:
            members = [m for m in staff.find(conn, certificate=cert) if m.active]
            if members and token_hash:
                row = conn.execute(q("console_get_session"), {"token_hash": token_hash}).first()
                if row is not None and int(row.staff_id) == members[0].id:
                    conn.execute(q("console_touch_session"), {"token_hash": token_hash, "ttl": ttl})
                    return Signed(members[0], row.csrf_token)
        if not self.signin_limiter.allow(f"signin:{self.client_address(request)}"):
            raise PageRefusal(429, "too_many_title", "too_many_text")
        if not members:
            self._refuse(
                request,
                "unknown_staff",
                403,
                {"issuer": cert.issuer, "fingerprint": cert.fingerprint},
                certificate=cert,
            )
        member = members[0]
        new_token = sessions.new_token()
        csrf = sessions.new_token()
        with self.engine.begin() as conn:
            conn.execute(
                q("console_create_session"),
                {
                    "token_hash": self.session_hash(new_token),
                    "staff_id": member.id,
                    "csrf_token": csrf,
                    "ttl": ttl,
                },
            )
            conn.execute(q("console_staff_seen"), {"id": member.id})
            audit.record(
                conn,
                member.actor,
                "console.sign_in",
                f"staff:{member.id}",
                {"role": member.role.value, "fingerprint": cert.fingerprint},
            )
        log.info("console.signed_in", staff_id=member.id, role=member.role.value)
        request.state.new_session = new_token
        return Signed(member, csrf)

    def check_form(self, request: Request, signed: Signed, csrf: str) -> None:
        """Every form that changes something: the session's CSRF token, and the rate limit."""
        if not sessions.csrf_matches(csrf, signed.csrf_token):
            raise PageRefusal(403, "csrf_title", "csrf_text")
        if not self.change_limiter.allow(f"staff:{signed.member.id}"):
            raise PageRefusal(429, "too_many_title", "too_many_text")

    def delete_session(self, conn: sa.Connection, token_hash: str) -> None:
        conn.execute(q("console_delete_session"), {"token_hash": token_hash})
