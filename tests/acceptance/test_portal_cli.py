"""`obvo portal` as a deployer runs it: a token for the municipal portal, refusals of a bad
[portal] section, and the installed command serving pages until SIGTERM, without a citizen's
address in its log."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests import portal_support as ps
from tests.acceptance import test_cli as cli_tests
from tests.acceptance.test_cli import Deployment
from tests.portal_support import CERT_HEADER, nginx_header
from tests.support import EXAMPLE_RULES, Vopi, free_port
from tests.support_saml import TAX_NUMBER_QUERY, SipassIdp, sipass_overrides
from vopi_obvo.portal import tokens

pki = ps.pki
deployment = cli_tests.deployment


def add_portal(deployment: Deployment, pki: ps.Pki, port: int) -> None:
    deployment.set_section(
        "portal",
        listen=f"127.0.0.1:{port}",
        ca_files=[str(pki.ca_file)],
        api_tokens=[tokens.config_line("koper-portal", ps.API_TOKEN)],
    )
    deployment.env["OBVO_PORTAL_SESSION_SECRET"] = ps.SESSION_SECRET


def test_token_prints_a_config_line_that_matches_the_token(deployment: Deployment) -> None:
    result = deployment.run("portal", "token", "koper-portal")
    assert result.returncode == 0, result.stderr
    token = result.stdout.split("stored): ")[1].split()[0]
    line = result.stdout.splitlines()[-1].strip().strip('",')
    clients, problems = tokens.parse_entries([line])
    assert problems == []
    assert tokens.client_for(token, clients) == "koper-portal"
    bad = deployment.run("portal", "token", "two words")
    assert bad.returncode == 78
    assert "client name" in bad.stderr


def test_a_bad_portal_section_is_refused_naming_each_key(deployment: Deployment) -> None:
    deployment.set_section(
        "portal", listen="nowhere", trusted_proxies=["10.0.0.300"], api_tokens=["koper:md5:abc"]
    )
    result = deployment.run("portal")
    assert result.returncode == 78
    for expected in (
        "[portal] listen",
        "[portal] trusted_proxies: '10.0.0.300'",
        "[portal] ca_files is required",
        "[portal] api_tokens entry 1",
        "[portal] session_secret must have at least 32 characters",
    ):
        assert expected in result.stderr, result.stderr


def test_sipass_metadata_prints_what_to_register_and_a_readable_key_is_refused(
    deployment: Deployment, pki: ps.Pki, tmp_path: Path
) -> None:
    idp = SipassIdp(tmp_path)
    overrides = sipass_overrides(idp, tmp_path, "https://obvestila.koper.si")
    deployment.set_section(
        "portal", public_url="https://obvestila.koper.si", sipass=overrides["portal__sipass"]
    )
    deployment.set_section("source", party_by_tax_number_query=TAX_NUMBER_QUERY)
    deployment.env["OBVO_PORTAL_SESSION_SECRET"] = ps.SESSION_SECRET
    result = deployment.run("portal", "sipass-metadata")
    assert result.returncode == 0, result.stderr
    assert 'entityID="https://obvestila.koper.si/sipass/metadata"' in result.stdout
    assert 'Location="https://obvestila.koper.si/sipass/acs"' in result.stdout
    assert "X509Certificate" in result.stdout
    Path(overrides["portal__sipass"]["key_file"]).chmod(0o644)
    refused = deployment.run("portal", "sipass-metadata")
    assert refused.returncode == 78
    assert "[portal.sipass] key_file" in refused.stderr
    assert "chmod 600" in refused.stderr


@pytest.mark.slow
def test_the_installed_command_serves_until_sigterm(
    deployment: Deployment, pki: ps.Pki, vopi: Vopi
) -> None:
    for args in (("migrate",), ("rules", "apply", str(EXAMPLE_RULES))):
        assert deployment.run(*args).returncode == 0
    party = vopi.party()
    added = deployment.run(
        "subscribers",
        "add",
        "--party",
        str(party),
        "--email",
        "ana.kos@example.si",
        "--phone",
        "041 555 666",
    )
    assert added.returncode == 0, added.stderr
    port = free_port()
    add_portal(deployment, pki, port)
    with deployment.serving("portal", port) as portal:
        api = httpx.get(
            f"{portal.base}/api/v1/subscriptions/{party}",
            headers={"Authorization": f"Bearer {ps.API_TOKEN}"},
        )
        assert api.json()["email"] == "ana.kos@example.si"
        pem = pki.ca.issue(serial="PNO-77")
        page = httpx.get(portal.base + "/povezava", headers={CERT_HEADER: nginx_header(pem)})
        assert page.status_code == 200
        assert "Povezava z vašimi vlogami" in page.text
    assert portal.returncode == 0, portal.output
    assert {"portal.started", "portal.request", "portal.stopped"} <= portal.events()
    assert "ana.kos" not in portal.output
    assert "41555666" not in portal.output and "555 666" not in portal.output
