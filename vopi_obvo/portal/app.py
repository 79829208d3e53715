"""The ASGI application: pages, API, webhook, and what every response carries.

Security headers on every response (CSP without any script, frame denial, no referrer, HSTS
when the public URL is https), `no-store` caching for anything personal, the session cookie
(HttpOnly, SameSite=Lax, Secure and `__Host-` on https), and one log line per request that
names the route pattern, never the path itself (it may hold a token) or the client address.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from vopi_obvo import __version__
from vopi_obvo.portal import api, pages, webhook
from vopi_obvo.portal.context import (
    LANG_COOKIE,
    NoCertificate,
    PageRedirect,
    PageRefusal,
    Portal,
)
from vopi_obvo.portal.texts import LANGUAGES

log = structlog.get_logger("vopi_obvo.portal")

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def create_app(portal: Portal) -> FastAPI:
    app = FastAPI(
        title="OBVO portal API",
        version=__version__,
        description=(
            "Citizens' notification settings for the municipality's own portal. "
            "Authenticate with `Authorization: Bearer <token>` (`obvo portal token CLIENT`)."
        ),
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI needs scripts from elsewhere; the CSP allows none
        redoc_url=None,
    )
    app.state.portal = portal
    app.include_router(pages.make_router(portal))
    app.include_router(api.make_router(portal))
    app.include_router(webhook.make_router(portal))

    page_context = pages.Pages(portal)

    def message_page(
        request: Request, status: int, title_key: str, *paragraph_keys: str
    ) -> HTMLResponse:
        t = page_context.translator(request)
        paragraphs = [t(k) for k in paragraph_keys]
        return page_context.message(request, title_key, paragraphs, status=status, home_link=False)

    @app.exception_handler(PageRefusal)
    async def refusal(request: Request, exc: PageRefusal) -> Response:
        keys = [exc.text_key] + (["refused_recorded"] if exc.recorded else [])
        return message_page(request, exc.status, exc.title_key, *keys)

    @app.exception_handler(PageRedirect)
    async def redirect(request: Request, exc: PageRedirect) -> Response:
        return RedirectResponse(exc.path, status_code=303)

    @app.exception_handler(NoCertificate)
    async def no_certificate(request: Request, exc: NoCertificate) -> Response:
        return message_page(request, 401, "landing_title", "landing_text", "landing_help")

    @app.exception_handler(api.ApiError)
    async def api_error(request: Request, exc: api.ApiError) -> Response:
        await run_in_threadpool(
            api.audit_refusal, portal, request, exc.status, exc.reason or exc.error, exc.field
        )
        return api.error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(x) for x in first.get("loc", ())[1:]) or None
        error = api.ApiError(422, f"{field or 'request'}: {first.get('msg', 'invalid')}", field)
        if request.url.path.startswith("/api/"):
            await run_in_threadpool(
                api.audit_refusal, portal, request, 422, error.error, error.field
            )
            return api.error_response(error)
        return message_page(request, 400, "error_title", "csrf_text")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(("/api/", "/hooks/")):
            return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)
        if exc.status_code == 404:
            return message_page(request, 404, "not_found_title", "not_found_text")
        return message_page(request, exc.status_code, "error_title", "error_text")

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.error("portal.error", error=type(exc).__name__, route=_route(request))
        if request.url.path.startswith(("/api/", "/hooks/")):
            return JSONResponse({"error": "internal error"}, status_code=500)
        return message_page(request, 500, "error_title", "error_text")

    @app.get("/healthz", include_in_schema=False)
    def health() -> JSONResponse:
        with portal.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return JSONResponse({"status": "ok"})

    @app.middleware("http")
    async def every_response(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.monotonic()
        request.state.new_session = None
        request.state.end_session = False
        response = await call_next(request)
        _session_cookie(portal, request, response)
        _security_headers(portal, request, response)
        log.info(
            "portal.request",
            method=request.method,
            route=_route(request),
            status=response.status_code,
            ms=round((time.monotonic() - started) * 1000, 1),
        )
        return response

    return app


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "(no route)"))


def _session_cookie(portal: Portal, request: Request, response: Response) -> None:
    secure = portal.config.https
    if request.state.end_session:
        response.delete_cookie(portal.cookie_name, path="/", secure=secure, httponly=True)
    elif request.state.new_session:
        # No max-age: a browser session cookie, gone when the browser closes; the server
        # side expires after [portal] session_ttl of inactivity.
        response.set_cookie(
            portal.cookie_name,
            request.state.new_session,
            path="/",
            secure=secure,
            httponly=True,
            samesite="lax",
        )
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(
            LANG_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            path="/",
            secure=secure,
            httponly=True,
            samesite="lax",
        )


def _security_headers(portal: Portal, request: Request, response: Response) -> None:
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"  # unsubscribe tokens must not leak onwards
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.url.path.startswith("/static/"):
        headers["Cache-Control"] = "public, max-age=3600"
    else:
        headers["Cache-Control"] = "no-store"
    if portal.config.https:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
