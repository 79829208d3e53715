"""My notifications: the home page (subscription, pending codes, what was sent lately)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from vopi_obvo.portal import store
from vopi_obvo.portal.context import STATIC_DIR
from vopi_obvo.portal.pages.base import Pages

# Notices a redirect may ask the next page to show (never free text from the URL).
NOTICES = {
    "saved": "saved",
    "email": "code_confirmed_email",
    "phone": "code_confirmed_phone",
    "linked": "linked_ok",
    "key": "saved",
}


def router(pages: Pages) -> APIRouter:
    portal = pages.portal
    routes = APIRouter(include_in_schema=False)

    @routes.get("/")
    def root(request: Request) -> Response:
        portal.citizen(request)
        return pages.see_other("/obvestila")

    @routes.get("/static/portal.css")
    def stylesheet() -> Response:
        return FileResponse(STATIC_DIR / "portal.css", media_type="text/css")

    @routes.get("/obvestila")
    def home(request: Request, ok: str = "") -> Response:
        citizen, party_id = pages.linked(request)
        days = portal.settings.portal.history_days
        pending = [c.code for c in pages.open_codes(citizen)]
        with portal.engine.connect() as conn:
            subscription = store.subscription(conn, party_id)
            key_types = store.key_event_types(conn)
            history = store.party_notifications(conn, party_id, days)
        t = pages.translator(request)
        return pages.render(
            request,
            "home.html",
            "home_title",
            citizen=citizen,
            active="home",
            notice=t(NOTICES[ok]) if ok in NOTICES else None,
            subscription=subscription,
            pending=pending,
            key_types=key_types,
            history=history,
            days=days,
        )

    return routes
