"""The portal's shared state, and who is asking: the certificate, the session, the language.

A request is trusted with an identity only when its TCP peer is one of `[portal]
trusted_proxies` and the certificate in the header parses, was issued by a configured CA and
is within its dates. Every refusal is a clear page and an audit entry. The session (a random
token in a cookie, its keyed hash in the database) carries the CSRF token; it is bound to the
identity, so another certificate in the same browser starts a new session.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
import sqlalchemy as sa
import structlog
from starlette.requests import Request

from vopi_obvo import db
from vopi_obvo.config import Settings
from vopi_obvo.portal import store, texts, tokens
from vopi_obvo.portal.settings import PortalConfig
from vopi_obvo.web.certificates import CertificateIdentity, CertificateRefused
from vopi_obvo.web.ratelimit import SlidingWindow

log = structlog.get_logger("vopi_obvo.portal")

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
LANG_COOKIE = "obvo_lang"


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
    certificate: CertificateIdentity

    @property
    def actor(self) -> str:
        return f"identity:{self.identity_id}"


class Portal:
    """Everything a request handler needs; one per running app."""

    def __init__(
        self,
        settings: Settings,
        config: PortalConfig,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self.config = config
        self.clock = clock
        self.engine = db.obvo_engine(settings.database.url, settings.database.schema, pool_size=5)
        self.vopi: sa.Engine | None = None
        if settings.source.party_by_tax_number_query.strip():
            self.vopi = db.source_engine(settings.source_url, settings.source.statement_timeout)
        p = settings.portal
        self.signin_limiter = SlidingWindow(p.rate_limit, 60.0)
        self.code_limiter = SlidingWindow(p.rate_limit, 60.0)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def close(self) -> None:
        self.engine.dispose()
        if self.vopi is not None:
            self.vopi.dispose()

    @property
    def cookie_name(self) -> str:
        # __Host- cookies must be Secure, host-only and Path=/: browsers enforce it.
        return "__Host-obvo_session" if self.config.https else "obvo_session"

    # ---- who is asking ----

    def peer(self, request: Request) -> str | None:
        return request.client.host if request.client else None

    def client_address(self, request: Request) -> str:
        """The citizen's address for rate limits: X-Real-IP only from a trusted proxy."""
        peer = self.peer(request) or "unknown"
        if self.config.is_trusted_proxy(peer):
            real = request.headers.get("x-real-ip", "").strip()
            if real:
                return real
        return peer

    def language(self, request: Request) -> str:
        return texts.pick_language(
            request.query_params.get("lang"),
            request.cookies.get(LANG_COOKIE),
            texts.from_accept_language(request.headers.get("accept-language")),
        )

    def certificate(self, request: Request) -> CertificateIdentity:
        """The verified certificate of this request; PageRefusal (audited) or NoCertificate."""
        header = request.headers.get(self.config.cert_header, "").strip()
        peer = self.peer(request)
        if not header or header == "(null)":
            raise NoCertificate
        if not self.config.is_trusted_proxy(peer):
            self._refuse(request, "untrusted_proxy", 403, {"header": self.config.cert_header})
        try:
            return self.config.issuers.identify(
                header, self.clock(), self.settings.portal.tax_number_oid
            )
        except CertificateRefused as exc:
            status = 400 if exc.reason == "malformed" else 403
            self._refuse(
                request,
                str(exc.reason),
                status,
                {"reason": exc.detail, "fingerprint": exc.fingerprint},
            )
            raise  # pragma: no cover - _refuse always raises

    def _refuse(
        self, request: Request, reason: str, status: int, detail: dict[str, object]
    ) -> None:
        peer = self.peer(request)
        with self.engine.begin() as conn:
            store.audit(
                conn,
                actor="anonymous",
                action=f"sign_in.{reason}",
                outcome="refused",
                peer=peer,
                detail=detail,
            )
        log.warning("portal.sign_in_refused", reason=reason, peer=peer)
        self.signin_limiter.allow(f"signin:{self.client_address(request)}")
        raise PageRefusal(status, "refused_title", f"refused_{reason}", recorded=True)

    def citizen(self, request: Request) -> Citizen:
        """The signed-in citizen, with a session created on first sight (a sign-in)."""
        cert = self.certificate(request)
        token = request.cookies.get(self.cookie_name, "")
        token_hash = self.session_hash(token) if token else ""
        ttl = self.settings.portal.session_ttl
        with self.engine.begin() as conn:
            identity_id, party_id = store.upsert_identity(conn, cert.issuer, cert.serial)
            session = store.get_session(conn, token_hash) if token_hash else None
            if session is not None and session[0] == identity_id:
                store.touch_session(conn, token_hash, ttl)
                return Citizen(identity_id, party_id, cert.name, session[1], cert)
        if not self.signin_limiter.allow(f"signin:{self.client_address(request)}"):
            raise PageRefusal(429, "too_many_title", "too_many_text")
        new_token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            store.create_session(conn, self.session_hash(new_token), identity_id, csrf, ttl)
            store.audit(
                conn,
                actor=f"identity:{identity_id}",
                action="sign_in",
                party_id=party_id,
                peer=self.peer(request),
                detail={"issuer": cert.issuer, "fingerprint": cert.fingerprint},
            )
        log.info("portal.signed_in", identity_id=identity_id)
        request.state.new_session = new_token
        return Citizen(identity_id, party_id, cert.name, csrf, cert)

    def session_hash(self, token: str) -> str:
        return tokens.keyed_hash(self.settings.portal.session_secret, "session", token)

    def end_session(self, request: Request) -> None:
        token = request.cookies.get(self.cookie_name, "")
        if token:
            with self.engine.begin() as conn:
                store.delete_session(conn, self.session_hash(token))
        request.state.end_session = True
