"""Signing out: the session ends on the server and the cookie goes; the answer is a redirect
to the page that says so (a reload does not post the spent form again)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from vopi_obvo.admin import audit
from vopi_obvo.console.context import Console
from vopi_obvo.console.views import Views, see_other


def make_router(console: Console, views: Views) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.post("/izpis")
    def sign_out(request: Request, csrf: Annotated[str, Form()]) -> Response:
        signed = console.signed(request)
        console.check_form(request, signed, csrf)
        console.end_session(request)
        with console.engine.begin() as conn:
            audit.record(conn, signed.actor, "console.sign_out", f"staff:{signed.member.id}")
        return see_other("/izpis")

    @router.get("/izpis")
    def signed_out(request: Request) -> Response:
        # Not a sign-in: any other page would start a new session with the same certificate.
        return views.message(request, 200, "signed_out_title", "signed_out_text")

    return router
