"""The portal's shared state, and who is asking: the certificate, the session, the language.

A request is trusted with an identity only when its TCP peer is one of `[portal]
trusted_proxies` and the certificate in the header parses, was issued by a configured CA and
is within its dates. Every refusal is a clear page and an audit entry. The session (a random
token in a cookie, its keyed hash in the database) carries the CSRF token; it is bound to the
identity, so another certificate in the same browser starts a new session.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import sqlalchemy as sa
import structlog
from starlette.requests import Request

from vopi_obvo import db
from vopi_obvo.portal import store
from vopi_obvo.portal.settings import PortalConfig
from vopi_obvo.web import sessions
from vopi_obvo.web.certificates import CertificateIdentity, CertificateRefused, NoCertificateHeader
from vopi_obvo.web.context import Site, WebApp
from vopi_obvo.web.ratelimit import SlidingWindow

log = structlog.get_logger("vopi_obvo.portal")

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
# Peers whose refusals are being counted rather than audited; beyond this the counts go.
MAX_SUPPRESSED_KEYS = 10_000


class PageRefusal(Exception):
    """Ends a page request with a message page (refusal, limit, expired form)."""

    def __init__(
        self, status: int, title_key: str, text_key: str, *, recorded: bool = False
    ) -> None:
        super().__init__(text_key)
        self.status = status
        self.title_key = title_key
        self.text_key = text_key
        self.recorded = recorded


class PageRedirect(Exception):
    """Ends a page request with a redirect (See Other) to another page of the portal."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class NoCertificate(Exception):
    """No certificate came with the request: the landing page explains how to sign in."""


@dataclass
class Citizen:
    identity_id: int
    party_id: str | None
    name: str
    csrf_token: str
    tax_number: str | None = None  # from the certificate or SI-PASS, for the first link
    session: store.Session | None = None  # an SI-PASS session (single logout needs it)

    @property
    def actor(self) -> str:
        return f"identity:{self.identity_id}"


class Portal(WebApp[PortalConfig]):
    """Everything a request handler needs; one per running app."""

    site = Site("portal", "obvo_session", "session", TEMPLATE_DIR)

    def open(self) -> None:
        p = self.settings.portal
        self.tax_number_oid = p.tax_number_oid
        self.vopi: sa.Engine | None = None
        if self.settings.source.party_by_tax_number_query.strip():
            self.vopi = db.source_engine(
                self.settings.source_url, self.settings.source.statement_timeout
            )
        self.refusal_limiter = SlidingWindow(p.rate_limit, 60.0)
        self.suppressed_refusals: dict[str, int] = {}
        self.code_limiter = SlidingWindow(p.rate_limit, 60.0)

    def close(self) -> None:
        super().close()
        if self.vopi is not None:
            self.vopi.dispose()

    # ---- who is asking ----

    def certificate(self, request: Request) -> CertificateIdentity:
        """The verified certificate of this request; PageRefusal (audited) or NoCertificate."""
        try:
            return super().certificate(request)
        except NoCertificateHeader:
            raise NoCertificate from None

    def refuse_certificate(self, request: Request, refused: CertificateRefused) -> NoReturn:
        self.refuse(request, str(refused.reason), refused.status, refused.audit_detail())

    def refuse(
        self,
        request: Request,
        reason: str,
        status: int,
        detail: Mapping[str, object],
        *,
        title_key: str = "refused_title",
    ) -> NoReturn:
        """End the request with the refusal's page, audited; the peer's address goes into the
        audit row only. Refusals are audited at most `[portal] rate_limit` a minute per peer
        and reason, so unauthenticated requests cannot fill the table: the rest are counted
        and the count rides on the next row written for them."""
        peer = self.peer(request)
        key = f"{peer}|{reason}"
        if self.refusal_limiter.allow(key):
            suppressed = self.suppressed_refusals.pop(key, 0)
            with self.engine.begin() as conn:
                store.audit(
                    conn,
                    actor="anonymous",
                    action=f"sign_in.{reason}",
                    outcome="refused",
                    peer=peer,
                    detail=dict(detail)
                    | ({"not_audited_before": suppressed} if suppressed else {}),
                )
            log.warning("portal.sign_in_refused", reason=reason)
        else:
            if len(self.suppressed_refusals) >= MAX_SUPPRESSED_KEYS:
                # Many peers over their limit at once: keep memory bounded, say so once.
                log.warning("portal.refusal_counts_dropped", keys=len(self.suppressed_refusals))
                self.suppressed_refusals.clear()
            self.suppressed_refusals[key] = self.suppressed_refusals.get(key, 0) + 1
            log.warning("portal.sign_in_refused", reason=reason, audited=False)
        self.signin_limiter.allow(f"signin:{self.client_address(request)}")
        raise PageRefusal(status, title_key, f"refused_{reason}", recorded=True)

    def citizen(self, request: Request) -> Citizen:
        """The signed-in citizen: by the certificate the proxy passed (a session is created on
        first sight, a sign-in), or by an SI-PASS session's cookie."""
        header = request.headers.get(self.config.cert_header, "").strip()
        token = request.cookies.get(self.cookie_name, "")
        token_hash = self.session_hash(token) if token else ""
        if not header or header == "(null)":
            session = self._live_session(token_hash)
            if session is None or session.method != "sipass":
                raise NoCertificate
            return Citizen(
                session.identity_id,
                session.party_id,
                session.display_name,
                session.csrf_token,
                session=session,
            )
        cert = self.certificate(request)
        with self.engine.begin() as conn:
            identity_id, party_id = store.upsert_identity(conn, cert.issuer, cert.serial)
        session = self._live_session(token_hash)
        if session is not None and session.identity_id == identity_id:
            return Citizen(identity_id, party_id, cert.name, session.csrf_token, cert.tax_number)
        csrf = self.start_session(
            request,
            store.Session(identity_id, "", display_name=cert.name),
            party_id,
            {"issuer": cert.issuer, "fingerprint": cert.fingerprint},
        )
        return Citizen(identity_id, party_id, cert.name, csrf, cert.tax_number)

    def _live_session(self, token_hash: str) -> store.Session | None:
        if not token_hash:
            return None
        with self.engine.begin() as conn:
            session = store.get_session(conn, token_hash)
            if session is not None:
                store.touch_session(conn, token_hash, self.settings.portal.session_ttl)
        return session

    def start_session(
        self,
        request: Request,
        session: store.Session,
        party_id: str | None,
        detail: Mapping[str, object],
    ) -> str:
        """A new session after a sign-in (audited); its CSRF token. The cookie is set on the
        way out."""
        if not self.signin_limiter.allow(f"signin:{self.client_address(request)}"):
            raise PageRefusal(429, "too_many_title", "too_many_text")
        new_token = sessions.new_token()
        csrf = sessions.new_token()
        with self.engine.begin() as conn:
            store.create_session(
                conn,
                self.session_hash(new_token),
                dataclasses.replace(session, csrf_token=csrf),
                self.settings.portal.session_ttl,
            )
            store.audit(
                conn,
                actor=f"identity:{session.identity_id}",
                action="sign_in",
                party_id=party_id,
                peer=self.peer(request),
                detail={"method": session.method, **detail},
            )
        log.info("portal.signed_in", identity_id=session.identity_id, method=session.method)
        request.state.new_session = new_token
        return csrf

    def delete_session(self, conn: sa.Connection, token_hash: str) -> None:
        store.delete_session(conn, token_hash)
