"""What every response of the portal and the console carries, and how a request is logged.

Security headers on every response (CSP without any script, unless a page asks for its own;
frame denial, no referrer, HSTS when served over https), `no-store` caching for anything but
static files, and the session cookie (HttpOnly, SameSite=Lax, a browser-session cookie;
Secure and `__Host-` on https).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vopi_obvo.web.language import LANG_COOKIE, LANGUAGES

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def session_cookie_name(base: str, https: bool) -> str:
    # __Host- cookies must be Secure, host-only and Path=/: browsers enforce it.
    return f"__Host-{base}" if https else base


def set_session_cookie(
    response: Response, name: str, *, new_token: str | None, end: bool, https: bool
) -> None:
    """Start (new_token) or end the session cookie; nothing when neither is asked for."""
    if end:
        response.delete_cookie(name, path="/", secure=https, httponly=True)
    elif new_token:
        # No max-age: a browser session cookie, gone when the browser closes; the server
        # side expires after the configured inactivity.
        response.set_cookie(name, new_token, path="/", secure=https, httponly=True, samesite="lax")


def remember_language(request: Request, response: Response, *, https: bool) -> None:
    """A language chosen with ?lang= is kept in a cookie for the next visits."""
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(
            LANG_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            path="/",
            secure=https,
            httponly=True,
            samesite="lax",
        )


def security_headers(
    request: Request, response: Response, *, https: bool, form_targets: tuple[str, ...] = ()
) -> None:
    """`form_targets`: other origins a form may end up at (a sign-in service's redirect)."""
    headers = response.headers
    csp = (
        CSP.replace("form-action 'self'", " ".join(("form-action 'self'", *form_targets)))
        if form_targets
        else CSP
    )
    if getattr(request.state, "page_script", False):
        # A page that asked for its own script (the console's live SMS counter): scripts and
        # requests from this origin only, on that page only.
        csp += "; script-src 'self'; connect-src 'self'"
    headers["Content-Security-Policy"] = csp
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"  # tokens in URLs must not leak onwards
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.url.path.startswith("/static/"):
        headers["Cache-Control"] = "public, max-age=3600"
    else:
        headers["Cache-Control"] = "no-store"
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"


def route_of(request: Request) -> str:
    """The route pattern for logs: never the path itself (it may hold a token or an id)."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "(no route)"))


def add_health_route(app: Starlette, engine: sa.Engine) -> None:
    """`GET /healthz`: 200 while OBVO's database answers (for the proxy, systemd, monitoring);
    a database that does not answer is the app's 500."""

    def health(request: Request) -> Response:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return JSONResponse({"status": "ok"})

    app.add_route("/healthz", health, methods=["GET"], include_in_schema=False)


def add_response_middleware(
    app: Starlette,
    *,
    cookie_name: str,
    https: bool,
    log: Any,
    event: str,
    form_targets: tuple[str, ...] = (),
) -> None:
    """What every response of a site carries: the session cookie a handler started or ended
    (`request.state.new_session`, `end_session`), the language cookie, the security headers,
    and one log line naming the route pattern and the time taken."""

    async def every_response(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.monotonic()
        request.state.new_session = None
        request.state.end_session = False
        response = await call_next(request)
        set_session_cookie(
            response,
            cookie_name,
            new_token=request.state.new_session,
            end=request.state.end_session,
            https=https,
        )
        remember_language(request, response, https=https)
        security_headers(request, response, https=https, form_targets=form_targets)
        log.info(
            event,
            method=request.method,
            route=route_of(request),
            status=response.status_code,
            ms=round((time.monotonic() - started) * 1000, 1),
        )
        return response

    app.add_middleware(BaseHTTPMiddleware, dispatch=every_response)
