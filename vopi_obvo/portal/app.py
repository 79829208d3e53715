"""The ASGI application: pages, API, webhook, and what every response carries.

Every response gets the security headers and session cookie of vopi_obvo/web/responses.py
(HSTS when the public URL is https), and one log line per request that names the route
pattern, never the path itself (it may hold a token) or the client address.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from vopi_obvo import __version__
from vopi_obvo.portal import api, pages, webhook
from vopi_obvo.portal.context import NoCertificate, PageRedirect, PageRefusal, Portal
from vopi_obvo.web.responses import route_of

log = structlog.get_logger("vopi_obvo.portal")


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
        # The sign-in page: the certificate, SI-PASS, or both, as configured.
        certificate = bool(portal.config.issuers.cas)
        sipass = portal.config.sipass is not None
        return page_context.render(
            request,
            "signin.html",
            "signin_title" if sipass else "landing_title",
            status=401,
            certificate=certificate,
            sipass=sipass,
        )

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
        log.error("portal.error", error=type(exc).__name__, route=route_of(request))
        if request.url.path.startswith(("/api/", "/hooks/")):
            return JSONResponse({"error": "internal error"}, status_code=500)
        return message_page(request, 500, "error_title", "error_text")

    # Signing in and out through SI-PASS ends in a redirect to it from a form.
    portal.equip(
        app, form_targets=(portal.config.sipass.idp_origin,) if portal.config.sipass else ()
    )

    return app
