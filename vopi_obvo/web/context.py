"""What the portal's and the console's shared state have in common: OBVO's engine, the page
templates, the sign-in rate limit, the CRL fetcher's life (first fetch before the first
sign-in, then on schedule, stopped on close), and who is asking: the TCP peer, the client's
address, the language, the verified certificate, the session cookie and its keyed hash.

Each app names its section, cookie and templates (`Site`), opens its own resources, and says
how a refused certificate is audited and how a session row is deleted (`Portal`, `Console`
extend `WebApp`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Generic, NoReturn, TypeVar

import sqlalchemy as sa
import structlog
from starlette.applications import Starlette
from starlette.requests import Request

from vopi_obvo import db
from vopi_obvo.config import Settings, WebAppSettings
from vopi_obvo.web import proxy, sessions
from vopi_obvo.web.certificates import (
    CertificateIdentity,
    CertificateRefused,
    Refusal,
    identify_header,
)
from vopi_obvo.web.pages import page_environment, request_language
from vopi_obvo.web.ratelimit import SlidingWindow
from vopi_obvo.web.responses import (
    add_health_route,
    add_response_middleware,
    session_cookie_name,
)
from vopi_obvo.web.settings import WebAppConfig

ConfigT = TypeVar("ConfigT", bound=WebAppConfig)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Site:
    """What tells the apps apart in the shared part."""

    name: str  # "portal" or "console": its settings section, and the log's prefix
    cookie: str  # the session cookie's name (with __Host- under https)
    session_purpose: str  # keys the session hashes apart from other hashes
    template_dir: Path


class WebApp(Generic[ConfigT]):
    """Everything a request handler of either app needs from the shared part; one per app."""

    site: ClassVar[Site]
    tax_number_oid = ""  # the subject attribute read as the tax number (the portal's)

    def __init__(
        self,
        settings: Settings,
        config: ConfigT,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        section = getattr(settings, self.site.name)
        if not isinstance(section, WebAppSettings):
            raise TypeError(f"[{self.site.name}] is not a web app's section")
        self.settings = settings
        self.config = config
        self.section = section
        self.clock = clock
        self.log = structlog.get_logger(f"vopi_obvo.{self.site.name}")
        self.engine = db.obvo_engine(settings.database.url, settings.database.schema, pool_size=5)
        self.signin_limiter = SlidingWindow(section.rate_limit, 60.0)
        self.templates = page_environment(self.site.template_dir)
        self.open()
        fetcher = config.crl_fetcher
        if fetcher is not None:
            fetcher.on_result = self._log_crl_fetch
            fetcher.fetch_all()  # before the first sign-in; then on schedule
            fetcher.start()

    def open(self) -> None:
        """The app's own resources and limits, made before the first CRL fetch."""

    @property
    def name(self) -> str:
        return self.site.name

    def close(self) -> None:
        if self.config.crl_fetcher is not None:
            self.config.crl_fetcher.stop()
        self.engine.dispose()

    def equip(self, app: Starlette, *, form_targets: tuple[str, ...] = ()) -> None:
        """What every app of this state serves and carries: `/healthz`, and on every response
        the session and language cookies, the security headers, a `<name>.request` line."""
        add_health_route(app, self.engine)
        add_response_middleware(
            app,
            cookie_name=self.cookie_name,
            https=self.config.https,
            log=self.log,
            event=f"{self.name}.request",
            form_targets=form_targets,
        )

    def _log_crl_fetch(self, url: str, problem: str | None) -> None:
        if problem is None:
            self.log.info(f"{self.name}.crl_fetched", url=url)
        else:
            self.log.warning(f"{self.name}.crl_fetch_failed", url=url, error=problem)

    @property
    def cookie_name(self) -> str:
        return session_cookie_name(self.site.cookie, self.config.https)

    # ---- who is asking ----

    def peer(self, request: Request) -> str | None:
        return request.client.host if request.client else None

    def client_address(self, request: Request) -> str:
        """The client's address for rate limits: X-Real-IP only from a trusted proxy."""
        return proxy.client_address(
            self.peer(request), request.headers.get("x-real-ip", ""), self.config.trusted_proxies
        )

    def language(self, request: Request) -> str:
        return request_language(request)

    def certificate(self, request: Request) -> CertificateIdentity:
        """The verified certificate of this request; refused (audited, `refuse_certificate`),
        or NoCertificateHeader when none came."""
        try:
            return identify_header(
                request.headers.get(self.config.cert_header, ""),
                from_trusted_proxy=self.config.is_trusted_proxy(self.peer(request)),
                issuers=self.config.issuers,
                now=self.clock(),
                tax_number_oid=self.tax_number_oid,
            )
        except CertificateRefused as exc:
            if exc.reason is Refusal.CRL_STALE:
                # The deployer's problem, not the person's: which CRL and why, in the log.
                self.log.error(f"{self.name}.crl_stale", detail=exc.detail)
            self.refuse_certificate(request, exc)

    def refuse_certificate(self, request: Request, refused: CertificateRefused) -> NoReturn:
        """End the request with the refusal's page, audited as the app audits."""
        raise NotImplementedError

    # ---- the session ----

    def session_hash(self, token: str) -> str:
        return sessions.keyed_hash(self.section.session_secret, self.site.session_purpose, token)

    def end_session(self, request: Request) -> None:
        token = request.cookies.get(self.cookie_name, "")
        if token:
            with self.engine.begin() as conn:
                self.delete_session(conn, self.session_hash(token))
        request.state.end_session = True

    def delete_session(self, conn: sa.Connection, token_hash: str) -> None:
        """Remove the session row of this hash (the app's own table)."""
        raise NotImplementedError
