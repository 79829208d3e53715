"""Who gets into the console, and what each role may do, over HTTP on a real uvicorn: staff
certificates from the test CA, refusals (unknown, expired, forged issuer, untrusted peer),
every role's refusals, CSRF, sessions, security headers, rate limits, the staff page."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests import console_support as cs
from tests.console_support import ConsoleServer, StaffBrowser, StaffCertificates, audit_rows
from tests.portal_support import CERT_HEADER, Pki, nginx_header
from vopi_obvo.config import Settings


def test_without_a_certificate_the_page_explains_how_to_sign_in(console: ConsoleServer) -> None:
    with console.client() as http:
        page = http.get("/")
    assert page.status_code == 401
    assert "Prijava z digitalnim potrdilom zaposlenega" in page.text
    assert "SIGOV-CA" in page.text


def test_an_unknown_certificate_is_told_whom_to_ask(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    page = StaffBrowser(console, certs.unknown).get("/")
    assert page.status_code == 403
    assert "še nimate dovoljenja" in page.text
    assert "Služba za informatiko, int. 555" in page.text
    assert "Nik Neznan" in page.text and "ZAP-0099" in page.text  # what to tell the admin
    assert "obvo_console" not in page.headers.get("set-cookie", "")
    [row] = audit_rows(console_settings, "console.sign_in.unknown_staff")
    assert row["actor"] == "anonymous"


@pytest.mark.parametrize(
    ("which", "status", "text", "reason"),
    [
        ("expired", 403, "je poteklo", "expired"),
        ("forged", 403, "ni izdal izdajatelj", "unknown_issuer"),
    ],
)
def test_expired_and_forged_certificates_are_refused_and_audited(
    console: ConsoleServer,
    console_settings: Settings,
    certs: StaffCertificates,
    which: str,
    status: int,
    text: str,
    reason: str,
) -> None:
    page = StaffBrowser(console, getattr(certs, which)).get("/")
    assert page.status_code == status
    assert text in page.text
    assert audit_rows(console_settings, f"console.sign_in.{reason}")


def test_the_header_counts_only_from_a_trusted_proxy(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    page = StaffBrowser(console, certs.admin, source="127.0.0.2").get("/")
    assert page.status_code == 403
    assert "uradnem naslovu" in page.text
    assert audit_rows(console_settings, "console.sign_in.untrusted_proxy")


def test_a_garbled_header_is_a_clear_refusal(console: ConsoleServer) -> None:
    with console.client(headers={CERT_HEADER: "not-a-certificate"}) as http:
        page = http.get("/")
    assert page.status_code == 400
    assert "ni bilo mogoče prebrati" in page.text


# Each role's pages and actions: (method, path, the lowest role allowed).
PAGES = [
    ("GET", "/", "viewer"),
    ("GET", "/racun-sms.csv", "viewer"),
    ("GET", "/obvestila", "viewer"),
    ("GET", "/zadrzana", "viewer"),
    ("GET", "/revizija", "viewer"),
    ("GET", "/revizija.csv", "viewer"),
    ("GET", "/revizija?outcome=refused&until=2h", "viewer"),
    ("GET", "/obvestila/1", "viewer"),
    ("GET", "/dogodki", "viewer"),
    ("GET", "/dogodki/vrsta/VLOZ", "viewer"),
    ("GET", "/dogodki/pravila.toml", "viewer"),
    ("POST", "/dogodki/vrsta/VLOZ", "admin"),
    ("POST", "/dogodki/sms/VLOZ", "admin"),
    ("POST", "/dogodki/uvoz", "admin"),
    ("GET", "/narocniki", "clerk"),
    ("GET", "/narocniki/nov", "clerk"),
    ("GET", "/narocniki/uvoz/", "clerk"),
    ("POST", "/narocniki/iskanje", "clerk"),
    ("POST", "/narocniki/nov", "clerk"),
    ("POST", "/narocniki/1/konec", "clerk"),
    ("POST", "/narocniki/1/izbris", "admin"),
    ("POST", "/obvestila/1/ponovi", "clerk"),
    ("POST", "/obvestila/1/preklici", "clerk"),
    ("POST", "/zadrzana/sprosti", "admin"),
    ("POST", "/zadrzana/preklici", "admin"),
    ("GET", "/osebje", "admin"),
    ("POST", "/osebje/dodeli", "admin"),
    ("POST", "/osebje/1/vloga", "admin"),
    ("POST", "/osebje/1/odvzem", "admin"),
]
RANK = {"viewer": 1, "clerk": 2, "admin": 3}
FORM = {"role": "viewer", "event_type": "NOPE"}


@pytest.mark.parametrize("role", ["viewer", "clerk", "admin"])
def test_every_role_is_refused_what_is_above_it(
    console: ConsoleServer, certs: StaffCertificates, role: str
) -> None:
    browser = StaffBrowser(console, getattr(certs, role))
    for method, path, needed in PAGES:
        reply = browser.get(path) if method == "GET" else browser.post(path, FORM)
        if RANK[role] < RANK[needed]:
            assert reply.status_code == 403, (role, path)
            assert "Ni dovoljenja" in reply.text
        else:
            assert reply.status_code != 403, (role, path, reply.text[:300])


def test_a_session_is_kept_and_bound_to_the_certificate(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    browser = StaffBrowser(console, certs.viewer)
    first = browser.get("/")
    assert first.status_code == 200
    cookie = first.headers["set-cookie"]
    assert "obvo_console=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Max-Age" not in cookie  # a browser-session cookie
    second = browser.get("/")
    assert "set-cookie" not in second.headers  # the same session
    assert len(audit_rows(console_settings, "console.sign_in")) == 1
    # Another certificate with the same cookie is a new sign-in, not the viewer's session.
    browser.http.headers[CERT_HEADER] = nginx_header(certs.clerk)
    third = browser.get("/")
    assert "set-cookie" in third.headers
    assert "Cene Referent" in third.text


def test_every_response_carries_the_security_headers(
    console: ConsoleServer, certs: StaffCertificates
) -> None:
    page = StaffBrowser(console, certs.viewer).get("/")
    headers = page.headers
    assert "script-src" not in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"


def test_a_form_without_its_csrf_token_is_refused(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    browser = StaffBrowser(console, certs.admin)
    browser.get("/")
    reply = browser.http.post("/osebje/3/odvzem", data={"csrf": "forged"})
    assert reply.status_code == 403
    assert "Obrazec je potekel" in reply.text
    assert audit_rows(console_settings, "staff.revoke") == []


def test_the_admin_grants_changes_and_revokes_staff_and_each_is_audited(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    admin = StaffBrowser(console, certs.admin)
    granted = admin.post(
        "/osebje/dodeli",
        {"name": "  Nik   Neznan ", "role": "clerk"},
        files={"certificate": ("nik.pem", certs.unknown.encode(), "application/x-pem-file")},
    )
    admin.follow(granted, "Dostop dodeljen.")
    nik = StaffBrowser(console, certs.unknown)
    assert nik.get("/").status_code == 200
    assert "Nik Neznan (referent)" in nik.get("/").text
    [grant] = [r for r in audit_rows(console_settings, "staff.grant") if r["actor"] != "setup"]
    assert grant["actor"] == "Ana Admin (console, staff 1)"
    assert grant["detail"]["role"] == "clerk"
    staff_id = grant["target"].split(":")[1]
    admin.follow(admin.post(f"/osebje/{staff_id}/vloga", {"role": "viewer"}), "Vloga spremenjena.")
    assert nik.get("/osebje").status_code == 403
    admin.follow(admin.post(f"/osebje/{staff_id}/odvzem"), "Dostop odvzet.")
    # The revoked member's session ends at once, and a new sign-in is refused.
    refused = nik.get("/")
    assert refused.status_code == 403
    assert "še nimate dovoljenja" in refused.text
    [revoke] = audit_rows(console_settings, "staff.revoke")
    assert revoke["actor"] == "Ana Admin (console, staff 1)"


def test_bad_grants_change_nothing_and_say_why(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates, pki: Pki
) -> None:
    admin = StaffBrowser(console, certs.admin)
    rogue = pki.rogue.issue(serial="X-1", common_name="Rogue")
    for data, pem, expected in (
        ({"name": "Rogue", "role": "clerk"}, rogue, "S tem potrdilom se ni mogoče prijaviti: "),
        ({"name": "", "role": "clerk"}, certs.unknown, "Ime in priimek: polje ne sme biti prazno"),
        (
            {"name": "Nik", "role": "boss"},
            certs.unknown,
            "Vloga: mora biti ena od vrednosti viewer",
        ),
        ({"name": "Nik", "role": "clerk"}, "-----BEGIN PRIVATE KEY-----", "zasebni ključ"),
    ):
        reply = admin.post(
            "/osebje/dodeli", data, files={"certificate": ("c.pem", pem.encode(), "text/plain")}
        )
        assert reply.status_code == 400
        assert expected in reply.text
    assert [r for r in audit_rows(console_settings, "staff.grant") if r["actor"] != "setup"] == []
    own = admin.post("/osebje/1/odvzem")
    assert own.status_code == 400
    assert "Svojega dostopa ne morete" in own.text


def test_sign_out_ends_the_session(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    browser = StaffBrowser(console, certs.viewer)
    out = browser.post("/izpis")
    assert out.status_code == 303 and out.headers["location"] == "/izpis"
    assert browser.http.cookies.get(console.console.cookie_name) is None  # the cookie went
    said = browser.get("/izpis")  # a reload shows this again, and does not sign in
    assert said.status_code == 200 and "Odjavljeni ste" in said.text
    assert "set-cookie" not in said.headers
    assert len(audit_rows(console_settings, "console.sign_")) == 2  # in, out
    assert "set-cookie" in browser.get("/").headers  # a fresh sign-in


def test_sign_ins_are_rate_limited_per_address(
    make_settings: Callable[..., Settings], pki: Pki, certs: StaffCertificates
) -> None:
    settings = make_settings(**cs.console_overrides(pki, console__rate_limit=2))
    cs.grant_staff(settings, certs)
    with cs.running_console(settings) as server:
        replies = [StaffBrowser(server, certs.viewer).get("/").status_code for _ in range(3)]
    assert replies == [200, 200, 429]
