"""SI-PASS sign-in against a real signing IdP (pysaml2's IdP role, its own key, over HTTP on
loopback): a good login links by tax number; a response signed by another key, for another
audience, expired, replayed or answering a request this browser never made is refused with
its own page and audit row; single logout ends the session."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import portal_support as ps
from tests import support_saml as ss
from tests.portal_support import PortalServer, audit_actions, csrf, rows, running_portal
from tests.support import Vopi, free_port
from tests.support_saml import OTHER_SP, SipassIdp, sipass_overrides
from vopi_obvo.config import Settings

TAX_NUMBER = "12345678"


@pytest.fixture
def party(vopi: Vopi) -> int:
    party = vopi.party("Janez Novak")
    vopi.conn.execute("UPDATE vopi.parties SET tax_number = %s WHERE id = %s", (TAX_NUMBER, party))
    return party


@pytest.fixture
def sipass_portal(
    make_settings: Callable[..., Settings], pki: ps.Pki, sipass_idp: SipassIdp, tmp_path: Path
) -> Iterator[PortalServer]:
    port = free_port()
    settings = make_settings(
        **ps.portal_overrides(pki),
        **sipass_overrides(sipass_idp, tmp_path, f"http://127.0.0.1:{port}"),
    )
    with running_portal(settings, port=port) as server:
        sp = server.portal.config.sipass
        assert sp is not None
        sipass_idp.sp_metadata = sp.metadata()
        yield server


def start_login(http: httpx.Client) -> tuple[str, str]:
    """The portal's redirect to SI-PASS: (the AuthnRequest's id, the redirect URL)."""
    reply = http.get("/sipass/prijava")
    assert reply.status_code == 303, reply.text
    location = reply.headers["location"]
    return location, urllib.parse.urlsplit(location).query


def respond(idp: SipassIdp, portal: PortalServer, query: str, **kwargs: Any) -> str:
    request = idp.parse_request(query).message
    sp = portal.portal.config.sipass
    assert sp is not None
    return idp.response(request.id, sp_entity_id=sp.entity_id, acs_url=sp.acs_url, **kwargs)


def settings_of(portal: PortalServer) -> Settings:
    return portal.portal.settings


def test_the_sign_in_page_offers_both_ways(sipass_portal: PortalServer) -> None:
    with sipass_portal.client() as http:
        page = http.get("/obvestila")
    assert page.status_code == 401
    assert "Prijava z digitalnim potrdilom" in page.text
    assert 'action="/sipass/prijava"' in page.text


def test_good_login_links_the_party_by_tax_number_and_shows_the_settings_page(
    sipass_portal: PortalServer, sipass_idp: SipassIdp, party: int
) -> None:
    from tests.integration.test_pipeline import subscribe  # noqa: PLC0415

    settings = settings_of(sipass_portal)
    subscribe(settings, party, email="janez@example.si")
    with sipass_portal.client() as http:
        _, query = start_login(http)
        # Through the IdP over HTTP, as the browser goes: the redirect, then its form.
        idp_page = httpx.get(sipass_idp.url + "/sso?" + query, timeout=10)
        assert idp_page.status_code == 200
        response = idp_page.text.split('name="SAMLResponse" value="')[1].split('"')[0]
        signed_in = http.post("/sipass/acs", data={"SAMLResponse": response})
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == "/obvestila"
        page = http.get("/nastavitve")
        assert page.status_code == 200
        assert "Nastavitve obvestil" in page.text
        assert "janez@example.si" in page.text
    assert rows(settings, "SELECT party_id, linked_by, issuer FROM obvo.portal_identities") == [
        (str(party), "tax_number", "SI-PASS")
    ]
    # The tax number itself is not stored: only a keyed hash identifies the person.
    assert TAX_NUMBER not in str(rows(settings, "SELECT * FROM obvo.portal_identities"))
    assert ("sign_in", "ok") in audit_actions(settings)


@pytest.mark.parametrize(
    ("variant", "reason", "text"),
    [
        ({"other_key": True}, "saml_bad_signature", "podpis ni veljaven"),
        ({"audience": OTHER_SP}, "saml_wrong_audience", "ni namenjen tej strani"),
        ({"lifetime": -10}, "saml_expired", "je potekla"),
        ({"level": ss.LOA_LOW}, "saml_low_assurance", "višja raven zanesljivosti"),
    ],
)
def test_a_bad_response_is_refused_with_its_reason(
    sipass_portal: PortalServer,
    sipass_idp: SipassIdp,
    party: int,
    variant: dict[str, Any],
    reason: str,
    text: str,
) -> None:
    with sipass_portal.client() as http:
        _, query = start_login(http)
        response = respond(sipass_idp, sipass_portal, query, **variant)
        refused = http.post("/sipass/acs", data={"SAMLResponse": response})
        assert refused.status_code == 403
        assert text in refused.text
        assert "Poskus prijave je zabeležen." in refused.text
        assert http.get("/obvestila").status_code == 401  # no session
    audited = rows(
        settings_of(sipass_portal),
        "SELECT action, outcome, peer FROM obvo.portal_audit WHERE starts_with(action, 'sign_in')",
    )
    assert audited == [(f"sign_in.{reason}", "refused", "127.0.0.1")]


def post_acs(http: httpx.Client, response: str) -> httpx.Response:
    return http.post("/sipass/acs", data={"SAMLResponse": response})


def replayed(portal: PortalServer, idp: SipassIdp, http: httpx.Client) -> httpx.Response:
    """A good response, used once (a sign-in), then posted again."""
    _, query = start_login(http)
    response = respond(idp, portal, query)
    assert post_acs(http, response).status_code == 303
    return post_acs(http, response)


def from_another_browser(
    portal: PortalServer, idp: SipassIdp, http: httpx.Client
) -> httpx.Response:
    """The victim's response, posted by a browser without the cookie of that request."""
    with portal.client() as victim:
        _, query = start_login(victim)
        response = respond(idp, portal, query)
    start_login(http)
    return post_acs(http, response)


def for_a_tax_number_without_a_party(
    portal: PortalServer, idp: SipassIdp, http: httpx.Client
) -> httpx.Response:
    _, query = start_login(http)
    return post_acs(http, respond(idp, portal, query))


@pytest.mark.parametrize(
    ("post", "with_party", "reason", "text"),
    [
        (replayed, True, "saml_replayed", "že uporabljena"),
        (from_another_browser, True, "saml_unsolicited", "ne ustreza prijavi"),
        (for_a_tax_number_without_a_party, False, "saml_unknown_party", "ni vloge ali stranke"),
    ],
)
def test_a_response_out_of_its_sign_in_is_refused_with_its_reason(
    sipass_portal: PortalServer,
    sipass_idp: SipassIdp,
    vopi: Vopi,
    request: pytest.FixtureRequest,
    post: Callable[[PortalServer, SipassIdp, httpx.Client], httpx.Response],
    with_party: bool,
    reason: str,
    text: str,
) -> None:
    if with_party:
        request.getfixturevalue("party")
    with sipass_portal.client() as http:
        refused = post(sipass_portal, sipass_idp, http)
    assert refused.status_code == 403
    assert text in refused.text
    assert (f"sign_in.{reason}", "refused") in audit_actions(settings_of(sipass_portal))


def test_single_logout_ends_the_session(
    sipass_portal: PortalServer, sipass_idp: SipassIdp, party: int
) -> None:
    with sipass_portal.client() as http:
        _, query = start_login(http)
        response = respond(sipass_idp, sipass_portal, query)
        assert http.post("/sipass/acs", data={"SAMLResponse": response}).status_code == 303
        home = http.get("/obvestila")
        assert home.status_code in (200, 303)
        page = http.get("/narocilo")
        out = http.post("/izpis", data={"csrf": csrf(page)})
        assert out.status_code == 303
        to_idp = out.headers["location"]
        assert to_idp.startswith(sipass_idp.url + "/slo?")
        # The IdP checks the signed LogoutRequest and answers on our SLO endpoint.
        back = httpx.get(to_idp, timeout=10)
        assert back.status_code == 303
        assert sipass_idp.logout_requests == [f"t-{TAX_NUMBER}"]
        done = http.get(back.headers["location"])
        assert done.status_code == 200
        assert "Izpisani ste" in done.text
        assert http.get("/obvestila").status_code == 401
    assert rows(settings_of(sipass_portal), "SELECT count(*) FROM obvo.portal_sessions") == [(0,)]


def test_a_logout_request_from_sipass_ends_the_session_and_a_forged_one_does_not(
    sipass_portal: PortalServer, sipass_idp: SipassIdp, party: int
) -> None:
    sp = sipass_portal.portal.config.sipass
    assert sp is not None
    with sipass_portal.client() as http:
        _, query = start_login(http)
        response = respond(sipass_idp, sipass_portal, query)
        assert http.post("/sipass/acs", data={"SAMLResponse": response}).status_code == 303
        name_id = f"t-{TAX_NUMBER}"
        forged = sipass_idp.logout_request(name_id, sp.slo_url, other_key=True)
        assert httpx.get(forged, timeout=10).status_code == 400
        assert http.get("/obvestila").status_code == 200  # still signed in
        reply = httpx.get(sipass_idp.logout_request(name_id, sp.slo_url), timeout=10)
        assert reply.status_code == 303
        assert reply.headers["location"].startswith(sipass_idp.url + "/slo?SAMLResponse=")
        assert http.get("/obvestila").status_code == 401
    assert ("sign_out.sipass", "ok") in audit_actions(settings_of(sipass_portal))
