"""The portal over HTTP on uvicorn (loopback): sign-in by certificate, refusals, my
notifications, settings with confirmation codes, subscribe, unsubscribe, List-Unsubscribe."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import psycopg
import pytest

from tests.integration.test_pipeline import subscribe
from tests.portal_support import (
    CERT_HEADER,
    NOW,
    Browser,
    Pki,
    PortalServer,
    audit_actions,
    link,
    nginx_header,
    portal_overrides,
    rows,
    running_portal,
)
from tests.support import SmsGateway, SmtpServer, Vopi
from vopi_obvo.config import Settings


def test_without_a_certificate_the_landing_page_explains_sign_in(portal: PortalServer) -> None:
    with portal.client() as http:
        page = http.get("/obvestila")
        assert page.status_code == 401
        assert '<html lang="sl">' in page.text
        assert "kvalificiranim digitalnim potrdilom" in page.text
        italian = http.get("/obvestila?lang=it")
        assert '<html lang="it">' in italian.text
        assert "certificato digitale qualificato" in italian.text
        # The choice sticks (a cookie, not the URL).
        assert '<html lang="it">' in http.get("/obvestila").text


def test_every_response_carries_the_security_headers(portal: PortalServer) -> None:
    with portal.client() as http:
        page = http.get("/obvestila")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in page.headers  # plain http here


def test_https_public_url_adds_hsts_and_a_host_only_secure_cookie(
    make_settings: Callable[..., Settings], pki: Pki, vopi: Vopi, janez_pem: str
) -> None:
    settings = make_settings(
        **portal_overrides(pki, portal__public_url="https://obvestila.koper.si")
    )
    party = vopi.party()
    link(settings, pki, "PNO-1001", party)
    with (
        running_portal(settings) as server,
        server.client(headers={CERT_HEADER: nginx_header(janez_pem)}) as http,
    ):
        page = http.get("/obvestila")
    assert page.headers["strict-transport-security"].startswith("max-age=31536000")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-obvo_session=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie


def test_forged_header_from_an_untrusted_address_is_refused_and_audited(
    portal: PortalServer, portal_settings: Settings, janez_pem: str
) -> None:
    with portal.client(source="127.0.0.2", headers={CERT_HEADER: nginx_header(janez_pem)}) as http:
        page = http.get("/obvestila")
    assert page.status_code == 403
    assert "ni prišla prek strežnika občine" in page.text
    assert "zabeležen" in page.text
    [(action, outcome, peer)] = rows(
        portal_settings, "SELECT action, outcome, peer FROM obvo.portal_audit"
    )
    assert (action, outcome, peer) == ("sign_in.untrusted_proxy", "refused", "127.0.0.2")
    assert rows(portal_settings, "SELECT count(*) FROM obvo.portal_identities") == [(0,)]


@pytest.mark.parametrize(
    ("make_pem", "status", "reason", "text"),
    [
        (
            lambda pki: pki.ca.issue(
                not_after=NOW - dt.timedelta(days=1), not_before=NOW - dt.timedelta(days=400)
            ),
            403,
            "expired",
            "je poteklo",
        ),
        (lambda pki: pki.rogue.issue(), 403, "unknown_issuer", "ni izdal izdajatelj"),
        (lambda pki: pki.impostor.issue(), 403, "unknown_issuer", "ni izdal izdajatelj"),
        (
            lambda pki: pki.ca.issue(not_before=NOW + dt.timedelta(days=2)),
            403,
            "not_yet_valid",
            "še ni veljavno",
        ),
        (lambda pki: pki.ca.issue(serial=None), 403, "no_serial", "serijske številke"),
        (
            lambda pki: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            400,
            "malformed",
            "ni bilo mogoče prebrati",
        ),
    ],
    ids=["expired", "wrong-issuer", "forged-issuer-name", "not-yet-valid", "no-serial", "garbage"],
)
def test_bad_certificates_are_refused_with_a_clear_page_and_an_audit_entry(
    portal: PortalServer,
    portal_settings: Settings,
    pki: Pki,
    make_pem: Callable[[Pki], str],
    status: int,
    reason: str,
    text: str,
) -> None:
    with portal.client(headers={CERT_HEADER: nginx_header(make_pem(pki))}) as http:
        page = http.get("/obvestila")
    assert page.status_code == status
    assert text in page.text
    assert audit_actions(portal_settings) == [(f"sign_in.{reason}", "refused")]
    assert rows(portal_settings, "SELECT count(*) FROM obvo.portal_sessions") == [(0,)]


def test_apache_style_pem_with_spaces_is_accepted(
    portal: PortalServer, portal_settings: Settings, pki: Pki, vopi: Vopi, janez_pem: str
) -> None:
    party = vopi.party()
    link(portal_settings, pki, "PNO-1001", party)
    flattened = janez_pem.strip().replace("\n", " ")
    with portal.client(headers={CERT_HEADER: flattened}) as http:
        assert http.get("/obvestila").status_code == 200


def test_first_sign_in_links_by_a_code_sent_to_the_registered_contact(
    portal: PortalServer,
    portal_settings: Settings,
    vopi: Vopi,
    smtp_server: SmtpServer,
    janez_pem: str,
) -> None:
    party = vopi.party()
    subscribe(portal_settings, party, email="janez@example.si")
    browser = Browser(portal, janez_pem)
    first = browser.get("/obvestila")
    assert first.status_code == 303
    assert first.headers["location"] == "/povezava"
    page = browser.get("/povezava")
    assert "Pozdravljeni, Janez Novak" in page.text
    sent = browser.post("/povezava", {"contact": "Janez@Example.SI"})
    assert "smo nanj poslali kodo" in sent.text
    [mail] = smtp_server.messages
    assert mail.recipients == ["janez@example.si"]
    code = re.search(r"\b(\d{6})\b", mail.body)
    assert code
    wrong = browser.post("/povezava/koda", {"code": "000000"}, token_from="/povezava")
    assert wrong.status_code == 400
    done = browser.post("/povezava/koda", {"code": code.group(1)}, token_from="/povezava")
    assert done.status_code == 303
    assert done.headers["location"] == "/obvestila?ok=linked"
    home = browser.get("/obvestila?ok=linked")
    assert home.status_code == 200
    assert "Prijava je povezana z vašimi vlogami." in home.text
    assert "janez@example.si" in home.text
    assert rows(portal_settings, "SELECT party_id, linked_by FROM obvo.portal_identities") == [
        (str(party), "code")
    ]
    actions = audit_actions(portal_settings)
    assert ("code.link", "ok") in actions
    assert ("confirm.link", "refused") in actions
    assert ("confirm.link", "ok") in actions


def test_an_unknown_contact_gets_the_same_answer_and_no_code(
    portal: PortalServer,
    portal_settings: Settings,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    janez_pem: str,
) -> None:
    browser = Browser(portal, janez_pem)
    answer = browser.post("/povezava", {"contact": "041 999 888"})
    assert answer.status_code == 200
    assert "smo nanj poslali kodo" in answer.text
    assert smtp_server.messages == []
    assert sms_gateway.messages == []
    assert ("link.code", "refused") in audit_actions(portal_settings)


def test_first_sign_in_links_through_the_tax_number_query(
    make_settings: Callable[..., Settings], pki: Pki, vopi: Vopi
) -> None:
    settings = make_settings(
        **portal_overrides(pki),
        source__party_by_tax_number_query=(
            "SELECT id AS party_id FROM vopi.parties WHERE tax_number = :tax_number"
        ),
    )
    party = vopi.party("Ana Kos")
    vopi.conn.execute("UPDATE vopi.parties SET tax_number = '12345678' WHERE id = %s", (party,))
    pem = pki.ca.issue(serial="PNO-2002", common_name="Ana Kos", tax_number="12345678")
    with running_portal(settings) as server:
        browser = Browser(server, pem)
        page = browser.get("/povezava")
        assert page.status_code == 303
        assert page.headers["location"] == "/obvestila?ok=linked"
        home = browser.get("/obvestila")
        assert "Na obvestila še niste naročeni." in home.text
    assert rows(settings, "SELECT party_id, linked_by FROM obvo.portal_identities") == [
        (str(party), "tax_number")
    ]


def test_my_notifications_shows_channels_key_events_and_the_last_90_days(
    portal: PortalServer, portal_settings: Settings, pki: Pki, vopi: Vopi, janez_pem: str
) -> None:
    party = vopi.party()
    sub = subscribe(portal_settings, party, email="janez@example.si", phone="+38641123456")
    link(portal_settings, pki, "PNO-1001", party)
    with psycopg.connect(portal_settings.database.url, autocommit=True) as conn:
        for event_id, status, age in ((1, "delivered", 3), (2, "failed", 10), (3, "sent", 120)):
            conn.execute(
                "INSERT INTO obvo.notifications (source_event_id, subscriber_id, channel,"
                " event_type, event_kind, language, recipient, subject, body, status, created_at)"
                " VALUES (%s, %s, 'sms', 'KLAS', 'key', 'sl', '+38641123456', NULL,"
                " %s, %s, now() - make_interval(days => %s))",
                (event_id, sub, f"Besedilo {event_id}", status, age),
            )
    home = Browser(portal, janez_pem).get("/obvestila")
    assert home.status_code == 200
    assert "+38641123456" in home.text
    assert "Vse dogodke" in home.text
    assert "Ključni dogodki" in home.text
    assert "Izdana odločba" in home.text or "odločba" in home.text.lower()
    assert "Besedilo 1" in home.text and "dostavljeno" in home.text
    assert "Besedilo 2" in home.text and "pošiljanje ni uspelo" in home.text
    assert "Besedilo 3" not in home.text  # older than 90 days


def test_csrf_token_is_required_on_every_form(
    portal: PortalServer, portal_settings: Settings, pki: Pki, vopi: Vopi, janez_pem: str
) -> None:
    party = vopi.party()
    subscribe(portal_settings, party, email="janez@example.si")
    link(portal_settings, pki, "PNO-1001", party)
    browser = Browser(portal, janez_pem)
    browser.get("/obvestila")
    for path in ("/nastavitve", "/odjava", "/potrditev", "/izpis"):
        for token in ("", "forged"):
            refused = browser.http.post(path, data={"csrf": token, "events": "key", "what": "all"})
            assert refused.status_code == 403, path
            assert "Obrazec je potekel" in refused.text
    assert rows(portal_settings, "SELECT events FROM obvo.subscribers") == [("all",)]
