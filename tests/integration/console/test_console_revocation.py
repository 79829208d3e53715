"""Staff certificates are checked against the CAs' CRLs the console fetches itself from
`[console] crl_urls` (web/revocation.py's CrlFetcher, as the portal's): a revoked staff member
is refused and the refusal is an audit row; the list is fetched before the first sign-in and
cached, so a restarted console still refuses while the distribution point is down; `obvo
console grant` checks the same lists."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.console_support import (
    StaffBrowser,
    StaffCertificates,
    audit_rows,
    console_overrides,
    grant_staff,
    running_console,
)
from tests.integration.test_pipeline import apply_rules
from tests.portal_support import NOW, CrlServer, Pki
from vopi_obvo.config import Settings
from vopi_obvo.console.settings import console_issuers
from vopi_obvo.web.certificates import CertificateRefused, Refusal


@pytest.fixture
def point(pki: Pki, certs: StaffCertificates) -> Iterator[CrlServer]:
    """The CA's distribution point; its CRL revokes the viewer's certificate."""
    server = CrlServer(pki.ca.crl((certs.viewer,)))
    yield server
    server.close()


@pytest.fixture
def fetching_settings(
    make_settings: Callable[..., Settings],
    pki: Pki,
    certs: StaffCertificates,
    point: CrlServer,
    tmp_path: Path,
) -> Settings:
    """Staff granted while the CA's certificates were all good; then the console is set to
    fetch the CA's CRL."""
    before = make_settings(**console_overrides(pki))
    apply_rules(before)
    grant_staff(before, certs)
    return make_settings(
        **console_overrides(
            pki, console__crl_urls=[point.url], console__crl_cache_dir=str(tmp_path / "crl")
        )
    )


def test_a_revoked_staff_member_is_refused_and_audited_and_others_sign_in(
    fetching_settings: Settings, certs: StaffCertificates, point: CrlServer
) -> None:
    with running_console(fetching_settings) as console:
        assert point.requests == 1  # fetched at start, before the first sign-in
        refused = StaffBrowser(console, certs.viewer).get("/")
        assert refused.status_code == 403
        assert "preklicano" in refused.text
        assert "obvo_console" not in refused.headers.get("set-cookie", "")
        admin = StaffBrowser(console, certs.admin).get("/")
        assert admin.status_code == 200
        assert "Ana Admin" in admin.text
    [row] = audit_rows(fetching_settings, "console.sign_in.revoked")
    assert row["actor"] == "anonymous"
    assert row["detail"]["peer"] == "127.0.0.1"
    assert "revoked" in row["detail"]["reason"]
    assert audit_rows(fetching_settings, "console.sign_in.crl_stale") == []


def test_the_cached_crl_outlives_the_distribution_point(
    fetching_settings: Settings, certs: StaffCertificates, point: CrlServer
) -> None:
    with running_console(fetching_settings):
        pass  # the first start fetched the list into the cache
    point.close()
    with running_console(fetching_settings) as console:
        assert StaffBrowser(console, certs.viewer).get("/").status_code == 403
        assert StaffBrowser(console, certs.clerk).get("/").status_code == 200
    assert len(audit_rows(fetching_settings, "console.sign_in.revoked")) == 1


def test_without_any_fetched_crl_staff_are_refused_as_stale(
    make_settings: Callable[..., Settings],
    pki: Pki,
    certs: StaffCertificates,
    tmp_path: Path,
) -> None:
    # A distribution point that never answers and no cached copy: revocation cannot be known.
    gone = CrlServer(pki.ca.crl())
    url = gone.url
    gone.close()
    before = make_settings(**console_overrides(pki))
    apply_rules(before)
    grant_staff(before, certs)
    settings = make_settings(
        **console_overrides(
            pki, console__crl_urls=[url], console__crl_cache_dir=str(tmp_path / "crl")
        )
    )
    with running_console(settings) as console:
        page = StaffBrowser(console, certs.admin).get("/")
    assert page.status_code == 403
    assert "seznam preklicanih potrdil ni svež" in page.text
    [row] = audit_rows(settings, "console.sign_in.crl_stale")
    assert "no CRL signed by" in row["detail"]["reason"]


def test_grant_checks_the_fetched_crl_too(
    fetching_settings: Settings, certs: StaffCertificates, point: CrlServer
) -> None:
    issuers = console_issuers(fetching_settings)
    assert point.requests == 1
    with pytest.raises(CertificateRefused) as refused:
        issuers.identify(certs.viewer, NOW)
    assert refused.value.reason is Refusal.REVOKED
    assert issuers.identify(certs.admin, NOW).serial == "ZAP-0001"
