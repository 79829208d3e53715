"""The citizen's pages, one small router per page, all built on one request context
(`base.Pages`): my notifications (history), settings, confirmation codes, subscribe,
unsubscribe (and the List-Unsubscribe target), signing in and out, SI-PASS."""

from __future__ import annotations

from fastapi import APIRouter

from vopi_obvo.portal.context import Portal
from vopi_obvo.portal.pages import (
    confirm,
    history,
    settings,
    signin,
    sipass,
    subscribe,
    unsubscribe,
)
from vopi_obvo.portal.pages.base import Pages

__all__ = ["Pages", "make_router"]

PAGE_ROUTERS = (history, settings, confirm, subscribe, unsubscribe, signin, sipass)


def make_router(portal: Portal) -> APIRouter:
    pages = Pages(portal)
    router = APIRouter(include_in_schema=False)
    for page in PAGE_ROUTERS:
        router.include_router(page.router(pages))
    return router
