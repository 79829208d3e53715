"""Confirmation codes: enter the code sent to a new address, or ask for it again."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from vopi_obvo.portal import changes, store
from vopi_obvo.portal.codes import Purpose
from vopi_obvo.portal.context import Citizen
from vopi_obvo.portal.pages.base import FormField, Pages


def router(pages: Pages) -> APIRouter:
    portal = pages.portal
    routes = APIRouter(include_in_schema=False)

    def confirm_page(
        request: Request, citizen: Citizen, message: str | None = None, status: int = 200
    ) -> HTMLResponse:
        return pages.render(
            request,
            "confirm.html",
            "confirm_title",
            citizen=citizen,
            pending=[c.code for c in pages.open_codes(citizen)],
            message=message,
            minutes=max(1, round(portal.settings.portal.code_ttl / 60)),
            status=status,
        )

    @routes.get("/potrditev")
    def confirm_get(request: Request) -> Response:
        return confirm_page(request, pages.linked(request)[0])

    @routes.post("/potrditev")
    def confirm_post(
        request: Request, csrf: FormField = "", purpose: FormField = "", code: FormField = ""
    ) -> Response:
        citizen = pages.linked(request)[0]
        pages.check_csrf(citizen, csrf)
        pages.limit_codes(request, citizen)
        if purpose not in (Purpose.EMAIL, Purpose.PHONE):
            return confirm_page(request, citizen, status=400)
        result = changes.confirm(
            portal, portal.peer(request), citizen, Purpose(purpose), entered=code
        )
        t = pages.translator(request)
        if result.outcome is changes.Outcome.CONFIRMED:
            return pages.see_other(f"/obvestila?ok={purpose}")
        message = {
            changes.Outcome.WRONG: t("code_wrong", left=result.attempts_left),
            changes.Outcome.EXPIRED: t("code_expired"),
            changes.Outcome.LOCKED: t("code_locked"),
            changes.Outcome.GONE: t("unsub_none"),
            changes.Outcome.NONE: t("confirm_none"),
        }[result.outcome]
        return confirm_page(request, citizen, message, status=400)

    @routes.post("/potrditev/nova")
    def confirm_resend(request: Request, csrf: FormField = "", purpose: FormField = "") -> Response:
        citizen = pages.linked(request)[0]
        pages.check_csrf(citizen, csrf)
        pages.limit_codes(request, citizen)
        with portal.engine.connect() as conn:
            waiting = [
                c for c in store.open_codes(conn, citizen.identity_id) if c.code.purpose == purpose
            ]
        if not waiting or purpose not in (Purpose.EMAIL, Purpose.PHONE):
            return confirm_page(request, citizen, status=400)
        last = waiting[-1]
        problem = pages.send_code(
            request,
            citizen,
            last.code.purpose,
            last.code.target,
            send_to=last.code.target,
            payload=last.payload,
        )
        if problem:
            return confirm_page(request, citizen, problem[1], status=problem[0])
        return pages.see_other("/potrditev")

    return routes
