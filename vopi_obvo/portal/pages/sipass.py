"""Signing in through SI-PASS: the AuthnRequest (HTTP-Redirect), the assertion consumer
(HTTP-POST), single logout (both directions) and the SP metadata.

The AuthnRequest's id is stored with the keyed hash of a short-lived cookie of this browser,
so a response is accepted only for a request this browser made; an assertion signs in once.
The identity is the tax number: the first sign-in links it to a VOPI party through
`[source] party_by_tax_number_query`, and a tax number with no party is refused.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from vopi_obvo.portal import store
from vopi_obvo.portal.context import Citizen, PageRefusal, Portal
from vopi_obvo.portal.pages.base import Pages
from vopi_obvo.portal.pages.signin import link_by_tax_number
from vopi_obvo.portal.sipass import SamlIdentity, SamlRefused, ServiceProvider
from vopi_obvo.web import sessions

log = structlog.get_logger("vopi_obvo.portal")

ISSUER = "SI-PASS"  # portal_identities.issuer of SI-PASS identities
REQUEST_TTL = 600.0  # seconds a citizen has to sign in at SI-PASS


def browser_cookie(portal: Portal) -> str:
    return "__Host-obvo_sipass" if portal.config.https else "obvo_sipass"


def router(pages: Pages) -> APIRouter:
    portal = pages.portal
    routes = APIRouter(include_in_schema=False)
    sp = portal.config.sipass
    if sp is None:
        return routes

    def browser_hash(token: str) -> str:
        return sessions.keyed_hash(portal.settings.portal.session_secret, "sipass-browser", token)

    @routes.get("/sipass/metadata")
    def metadata() -> Response:
        return Response(sp.metadata(), media_type="application/samlmetadata+xml")

    @routes.get("/sipass/prijava")
    def start(request: Request) -> Response:
        if not portal.signin_limiter.allow(f"signin:{portal.client_address(request)}"):
            raise PageRefusal(429, "too_many_title", "too_many_text")
        token = request.cookies.get(browser_cookie(portal)) or sessions.new_token()
        redirect = sp.login_redirect()
        with portal.engine.begin() as conn:
            store.insert_saml_request(conn, redirect.request_id, browser_hash(token), REQUEST_TTL)
        response = RedirectResponse(redirect.url, status_code=303)
        # SI-PASS posts the answer from its own site: a SameSite=Lax cookie would stay
        # behind, so on https this one cookie (no identity in it) is SameSite=None.
        response.set_cookie(
            browser_cookie(portal),
            token,
            max_age=int(REQUEST_TTL),
            path="/",
            secure=portal.config.https,
            httponly=True,
            samesite="none" if portal.config.https else "lax",
        )
        return response

    @routes.post("/sipass/acs")
    def consume(
        request: Request, saml_response: Annotated[str, Form(alias="SAMLResponse")] = ""
    ) -> Response:
        token = request.cookies.get(browser_cookie(portal), "")
        with portal.engine.connect() as conn:
            outstanding = store.saml_requests_of_browser(conn, browser_hash(token)) if token else []
        try:
            identity = sp.identity(saml_response, outstanding)
        except SamlRefused as exc:
            portal.refuse(request, str(exc.reason), 403, {"reason": exc.detail})
        with portal.engine.begin() as conn:
            first_use = store.use_saml_assertion(
                conn, identity.assertion_id, identity.not_on_or_after
            )
        if not first_use:
            portal.refuse(
                request,
                "saml_replayed",
                403,
                {"reason": f"assertion {identity.assertion_id} was used before"},
            )
        citizen = sign_in(pages, request, sp, identity)
        return pages.see_other("/obvestila" if citizen.party_id else "/povezava")

    @routes.get("/sipass/slo")
    def single_logout(request: Request) -> Response:
        query = dict(request.query_params)
        if "SAMLRequest" in query:
            answered = sp.idp_logout_request(query)
            if answered is None:
                portal.refuse(
                    request, "saml_bad_signature", 400, {"reason": "LogoutRequest did not verify"}
                )
            name_id, location = answered
            with portal.engine.begin() as conn:
                ended = store.delete_saml_sessions(conn, name_id)
                for identity_id in ended:
                    store.audit(
                        conn,
                        actor=f"identity:{identity_id}",
                        action="sign_out.sipass",
                        peer=portal.peer(request),
                        detail={"initiated_by": "idp"},
                    )
            return RedirectResponse(location, status_code=303)
        confirmed = sp.logout_response_ok(query)
        t = pages.translator(request)
        log.info("portal.sipass_logout", confirmed=confirmed)
        return pages.message(request, "signed_out_title", [t("signed_out_text")], home_link=False)

    return routes


def sign_in(pages: Pages, request: Request, sp: ServiceProvider, identity: SamlIdentity) -> Citizen:
    """The SI-PASS identity signs in: its identity row, linked by tax number at the first
    sign-in (a tax number no VOPI party has is refused), and a new session."""
    portal = pages.portal
    subject = sessions.keyed_hash(
        portal.settings.portal.session_secret, "tax-number", identity.tax_number
    )
    with portal.engine.begin() as conn:
        identity_id, party_id = store.upsert_identity(conn, ISSUER, subject)
    citizen = Citizen(identity_id, party_id, identity.name, "", tax_number=identity.tax_number)
    if party_id is None:
        linked = link_by_tax_number(pages, request, citizen)
        if linked is None or linked == "ambiguous":
            portal.refuse(
                request,
                "saml_unknown_party",
                403,
                {"reason": "no single VOPI party has this tax number", "level": identity.level},
            )
    session = store.Session(
        identity_id,
        "",
        method="sipass",
        display_name=identity.name,
        saml_name_id=identity.name_id,
        saml_name_id_format=identity.name_id_format,
        saml_session_index=identity.session_index,
    )
    citizen.csrf_token = portal.start_session(
        request, session, citizen.party_id, {"idp": sp.idp_entity_id, "level": identity.level}
    )
    return citizen
