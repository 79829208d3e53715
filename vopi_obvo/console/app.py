"""The console's ASGI application: one router per page group, and what every response carries
(the security headers and session cookie of vopi_obvo/web/responses.py, one log line per
request naming the route pattern, never the path, which may hold an id)."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vopi_obvo import __version__
from vopi_obvo.console.context import STATIC_DIR, Console, PageRefusal
from vopi_obvo.console.pages import (
    audit,
    event_types,
    outbox,
    overview,
    rules_file,
    session,
    staff,
    subscribers,
)
from vopi_obvo.console.views import Views
from vopi_obvo.web.certificates import NoCertificateHeader
from vopi_obvo.web.responses import route_of

log = structlog.get_logger("vopi_obvo.console")


def create_app(console: Console) -> FastAPI:
    app = FastAPI(
        title="OBVO console", version=__version__, openapi_url=None, docs_url=None, redoc_url=None
    )
    app.state.console = console
    views = Views(console)
    modules = (overview, outbox, subscribers, event_types, rules_file, audit, session, staff)
    for module in modules:
        app.include_router(module.make_router(console, views))

    @app.get("/static/console.css", include_in_schema=False)
    def stylesheet() -> Response:
        return FileResponse(STATIC_DIR / "console.css", media_type="text/css")

    @app.get("/static/logo", include_in_schema=False)
    def logo() -> Response:
        if console.config.logo is None:
            raise StarletteHTTPException(404)
        data, media = console.config.logo
        return Response(data, media_type=media)

    @app.exception_handler(PageRefusal)
    async def refusal(request: Request, exc: PageRefusal) -> Response:
        keys = [exc.text_key] + (["unknown_staff_ask"] if exc.certificate else [])
        return views.message(request, exc.status, exc.title_key, *keys, certificate=exc.certificate)

    @app.exception_handler(NoCertificateHeader)
    async def no_certificate(request: Request, exc: NoCertificateHeader) -> Response:
        return views.message(request, 401, "landing_title", "landing_text", "landing_help")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # Where and what kind, never the value (it may be an address).
        fields = [".".join(str(x) for x in e.get("loc", ())) for e in exc.errors()]
        log.info("console.invalid_request", route=route_of(request), fields=fields)
        return views.message(request, 400, "error_title", "invalid_request_text")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return views.message(request, 404, "not_found_title", "not_found_text")
        return views.message(request, exc.status_code, "error_title", "error_text")

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.error("console.error", error=type(exc).__name__, route=route_of(request))
        return views.message(request, 500, "error_title", "error_text")

    console.equip(app)

    return app
