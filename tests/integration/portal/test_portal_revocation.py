"""Certificate sign-in checks revocation and key usage: a CRL listing the citizen's
certificate refuses it, a stale CRL refuses with its own reason, a certificate not meant for
client authentication is refused; refusals from one peer cannot fill the audit table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import httpx
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.portal_support import (
    CERT_HEADER,
    NOW,
    CrlServer,
    Pki,
    audit_actions,
    link,
    nginx_header,
    portal_overrides,
    rows,
    running_portal,
)
from tests.support import Vopi
from vopi_obvo.config import Settings


def with_crl(
    make_settings: Callable[..., Settings], pki: Pki, crl: bytes, path: Path, **extra: object
) -> Settings:
    path.write_bytes(crl)
    return make_settings(**portal_overrides(pki, portal__crl_files=[str(path)], **extra))


def first_page(settings: Settings, pem: str) -> httpx.Response:
    """A certificate's first request to a freshly started portal."""
    with (
        running_portal(settings) as server,
        server.client(headers={CERT_HEADER: nginx_header(pem)}) as http,
    ):
        return http.get("/obvestila")


def test_a_certificate_the_crl_lists_is_refused_and_others_sign_in(
    make_settings: Callable[..., Settings], pki: Pki, vopi: Vopi, tmp_path: Path
) -> None:
    revoked = pki.ca.issue(serial="PNO-1001")
    valid = pki.ca.issue(serial="PNO-2002")
    settings = with_crl(make_settings, pki, pki.ca.crl((revoked,)), tmp_path / "ca.crl")
    link(settings, pki, "PNO-2002", vopi.party())
    with running_portal(settings) as server:
        with server.client(headers={CERT_HEADER: nginx_header(revoked)}) as http:
            page = http.get("/obvestila")
        assert page.status_code == 403
        assert "preklicano" in page.text
        with server.client(headers={CERT_HEADER: nginx_header(valid)}) as http:
            assert http.get("/obvestila").status_code == 200
    assert audit_actions(settings)[0] == ("sign_in.revoked", "refused")


def test_crls_fetched_from_a_url_are_cached_and_outlive_the_server(
    make_settings: Callable[..., Settings], pki: Pki, tmp_path: Path
) -> None:
    revoked = pki.ca.issue(serial="PNO-1001")
    point = CrlServer(pki.ca.crl((revoked,)))
    settings = make_settings(
        **portal_overrides(
            pki, portal__crl_urls=[point.url], portal__crl_cache_dir=str(tmp_path / "crl")
        )
    )
    try:
        assert first_page(settings, revoked).status_code == 403
        assert point.requests == 1  # fetched at start, before the first sign-in
    finally:
        point.close()
    # The distribution point is gone: a restarted portal still has the cached list.
    page = first_page(settings, revoked)
    assert page.status_code == 403
    assert "preklicano" in page.text
    assert audit_actions(settings) == [("sign_in.revoked", "refused")] * 2


def test_an_expired_crl_refuses_with_its_own_reason(
    make_settings: Callable[..., Settings], pki: Pki, tmp_path: Path
) -> None:
    stale = pki.ca.crl(
        last_update=NOW - dt.timedelta(days=10), next_update=NOW - dt.timedelta(days=3)
    )
    settings = with_crl(make_settings, pki, stale, tmp_path / "ca.crl")
    page = first_page(settings, pki.ca.issue())
    assert page.status_code == 403
    assert "seznam preklicanih potrdil ni svež" in page.text
    [(action, detail)] = rows(settings, "SELECT action, detail->>'reason' FROM obvo.portal_audit")
    assert action == "sign_in.crl_stale"
    assert "expired" in detail


def test_a_crl_older_than_the_maximum_age_refuses(
    make_settings: Callable[..., Settings], pki: Pki, tmp_path: Path
) -> None:
    old = pki.ca.crl(last_update=NOW - dt.timedelta(days=2))
    settings = with_crl(make_settings, pki, old, tmp_path / "ca.crl", portal__crl_max_age=86400.0)
    assert first_page(settings, pki.ca.issue()).status_code == 403
    assert audit_actions(settings) == [("sign_in.crl_stale", "refused")]


def test_a_crl_signed_by_another_key_does_not_count(
    make_settings: Callable[..., Settings], pki: Pki, tmp_path: Path
) -> None:
    # The impostor has the CA's name: its "CRL" clears nobody.
    settings = with_crl(make_settings, pki, pki.impostor.crl(), tmp_path / "ca.crl")
    assert first_page(settings, pki.ca.issue()).status_code == 403
    assert audit_actions(settings) == [("sign_in.crl_stale", "refused")]


def test_a_certificate_not_for_client_authentication_is_refused(
    make_settings: Callable[..., Settings], pki: Pki
) -> None:
    settings = make_settings(**portal_overrides(pki))
    server_only = pki.ca.issue_with_key(extended_usage=(ExtendedKeyUsageOID.SERVER_AUTH,))[0]
    page = first_page(settings, server_only)
    assert page.status_code == 403
    assert "ni namenjeno prijavi" in page.text
    assert audit_actions(settings) == [("sign_in.wrong_usage", "refused")]


def test_refusals_are_audited_at_most_rate_limit_a_minute_per_peer_and_reason(
    make_settings: Callable[..., Settings], pki: Pki
) -> None:
    settings = make_settings(**portal_overrides(pki, portal__rate_limit=3))
    garbage = {
        CERT_HEADER: nginx_header("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    }
    with running_portal(settings) as server:
        with server.client(headers=garbage) as http:
            statuses = [http.get("/obvestila").status_code for _ in range(6)]
        # Another reason from the same peer has its own allowance.
        with server.client(headers={CERT_HEADER: nginx_header(pki.rogue.issue())}) as http:
            assert http.get("/obvestila").status_code == 403
        assert server.portal.suppressed_refusals == {"127.0.0.1|malformed": 3}
    assert statuses == [400] * 6  # every request still gets its page
    assert audit_actions(settings) == [("sign_in.malformed", "refused")] * 3 + [
        ("sign_in.unknown_issuer", "refused")
    ]
