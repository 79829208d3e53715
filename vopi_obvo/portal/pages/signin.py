"""Signing in and out: linking a first sign-in to a VOPI party (by tax number, or by a code
sent to a contact the municipality registered) and ending the session."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vopi_obvo.errors import InvalidInput
from vopi_obvo.messages.contacts import normalise_email, normalise_phone
from vopi_obvo.portal import changes, store
from vopi_obvo.portal.codes import Purpose
from vopi_obvo.portal.context import Citizen, Portal
from vopi_obvo.portal.pages.base import FormField, Pages


def link_by_tax_number(pages: Pages, request: Request, citizen: Citizen) -> str | None:
    """Linked party, 'ambiguous', or None (no query, no tax number, no match)."""
    portal = pages.portal
    query = portal.settings.source.party_by_tax_number_query.strip()
    tax_number = citizen.tax_number
    if portal.vopi is None or not query or not tax_number:
        return None
    with portal.vopi.connect() as vconn:
        parties = sorted(
            {str(r.party_id) for r in vconn.execute(sa.text(query), {"tax_number": tax_number})}
        )
        vconn.rollback()
    if len(parties) != 1:
        pages.audit(
            citizen,
            request,
            "link.tax_number",
            outcome="refused",
            detail={"matches": len(parties)},
        )
        return "ambiguous" if parties else None
    with portal.engine.begin() as conn:
        store.link_identity(conn, citizen.identity_id, parties[0], "tax_number")
        citizen.party_id = parties[0]
        pages.audit(citizen, request, "link.tax_number", conn=conn)
    return parties[0]


def sign_out_target(portal: Portal, citizen: Citizen) -> str | None:
    """Where the browser goes when an SI-PASS session ends here: the IdP's single logout."""
    sp = portal.config.sipass
    session = citizen.session
    if sp is None or session is None or not session.saml_name_id:
        return None
    return sp.logout_redirect(
        session.saml_name_id, session.saml_name_id_format or "", session.saml_session_index or ""
    )


def router(pages: Pages) -> APIRouter:
    portal = pages.portal
    routes = APIRouter(include_in_schema=False)

    def link_page(
        request: Request,
        citizen: Citizen,
        *,
        sent: bool = False,
        message: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        return pages.render(
            request,
            "link.html",
            "link_title",
            citizen=citizen,
            sent=sent,
            message=message,
            status=status,
        )

    @routes.get("/povezava")
    def link_get(request: Request) -> Response:
        citizen = portal.citizen(request)
        if citizen.party_id is not None:
            return pages.see_other("/obvestila")
        result = link_by_tax_number(pages, request, citizen)
        if result == "ambiguous":
            return link_page(request, citizen, message=pages.translator(request)("link_ambiguous"))
        if result is not None:
            return pages.see_other("/obvestila?ok=linked")
        return link_page(request, citizen)

    @routes.post("/povezava")
    def link_post(request: Request, csrf: FormField = "", contact: FormField = "") -> Response:
        citizen = portal.citizen(request)
        if citizen.party_id is not None:
            return pages.see_other("/obvestila")
        pages.check_csrf(citizen, csrf)
        pages.limit_codes(request, citizen)
        text = contact.strip()
        email = phone = None
        try:
            if "@" in text:
                email = normalise_email(text)
            else:
                phone = normalise_phone(text)
        except InvalidInput:
            pass
        with portal.engine.connect() as conn:
            found = store.parties_by_contact(conn, email, phone) if email or phone else []
        parties = sorted({party for party, _ in found})
        # The same answer whether or not the contact is known: the page never tells a
        # stranger who is registered.
        if len(parties) != 1:
            pages.audit(
                citizen, request, "link.code", outcome="refused", detail={"matches": len(parties)}
            )
            return link_page(request, citizen, sent=True)
        # The code goes to the contact as the municipality registered it, never to what was
        # typed: only the person who owns that inbox or phone can link.
        problem = pages.send_code(
            request, citizen, Purpose.LINK, parties[0], send_to=found[0][1], payload={}
        )
        if problem:
            return link_page(request, citizen, message=problem[1], status=problem[0])
        return link_page(request, citizen, sent=True)

    @routes.post("/povezava/koda")
    def link_code(request: Request, csrf: FormField = "", code: FormField = "") -> Response:
        citizen = portal.citizen(request)
        if citizen.party_id is not None:
            return pages.see_other("/obvestila")
        pages.check_csrf(citizen, csrf)
        pages.limit_codes(request, citizen)
        result = changes.confirm(portal, portal.peer(request), citizen, Purpose.LINK, entered=code)
        if result.outcome is changes.Outcome.CONFIRMED:
            return pages.see_other("/obvestila?ok=linked")
        t = pages.translator(request)
        message = {
            changes.Outcome.WRONG: t("code_wrong", left=result.attempts_left),
            changes.Outcome.EXPIRED: t("code_expired"),
            changes.Outcome.LOCKED: t("code_locked"),
        }.get(result.outcome, t("confirm_none"))
        return link_page(request, citizen, sent=True, message=message, status=400)

    @routes.post("/izpis")
    def sign_out(request: Request, csrf: FormField = "") -> Response:
        citizen = portal.citizen(request)
        pages.check_csrf(citizen, csrf)
        portal.end_session(request)
        pages.audit(citizen, request, "sign_out")
        single_logout = sign_out_target(portal, citizen)
        if single_logout is not None:
            return RedirectResponse(single_logout, status_code=303)
        t = pages.translator(request)
        return pages.message(request, "signed_out_title", [t("signed_out_text")], home_link=False)

    return routes
