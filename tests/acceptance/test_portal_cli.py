"""`obvo portal` as a deployer runs it: a token for the municipal portal, refusals of a bad
[portal] section, and the installed command serving pages until SIGTERM, without a citizen's
address in its log."""

from __future__ import annotations

import json
import signal
import tomllib
from pathlib import Path

import httpx
import pytest
import tomli_w

from tests import portal_support as ps
from tests.acceptance.test_cli import Deployment
from tests.portal_support import CERT_HEADER, nginx_header
from tests.support import EXAMPLE_RULES, SmsGateway, SmtpServer, Vopi, free_port, wait_for
from tests.support_saml import TAX_NUMBER_QUERY, SipassIdp, sipass_overrides
from vopi_obvo.portal import tokens

pki = ps.pki


@pytest.fixture
def deployment(
    tmp_path: Path, database_url: str, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> Deployment:
    return Deployment(tmp_path, database_url, smtp_server, sms_gateway)


def set_portal(deployment: Deployment, **values: object) -> None:
    """The deployer edits the [portal] section of the example configuration."""
    document = tomllib.loads(deployment.config.read_text(encoding="utf-8"))
    document.setdefault("portal", {}).update(values)
    deployment.config.write_text(tomli_w.dumps(document), encoding="utf-8")


def add_portal(deployment: Deployment, pki: ps.Pki, port: int) -> None:
    set_portal(
        deployment,
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
    set_portal(
        deployment, listen="nowhere", trusted_proxies=["10.0.0.300"], api_tokens=["koper:md5:abc"]
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
    set_portal(
        deployment, public_url="https://obvestila.koper.si", sipass=overrides["portal__sipass"]
    )
    document = tomllib.loads(deployment.config.read_text(encoding="utf-8"))
    document["source"]["party_by_tax_number_query"] = TAX_NUMBER_QUERY
    deployment.config.write_text(tomli_w.dumps(document), encoding="utf-8")
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
    process = deployment.start("portal")
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(base + "/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        # Generous: on a loaded CI machine the imports alone can take many seconds.
        wait_for(lambda: process.poll() is not None or healthy(), timeout=90)
        assert process.poll() is None, "obvo portal exited early"
        api = httpx.get(
            f"{base}/api/v1/subscriptions/{party}",
            headers={"Authorization": f"Bearer {ps.API_TOKEN}"},
        )
        assert api.json()["email"] == "ana.kos@example.si"
        pem = pki.ca.issue(serial="PNO-77")
        page = httpx.get(base + "/povezava", headers={CERT_HEADER: nginx_header(pem)})
        assert page.status_code == 200
        assert "Povezava z vašimi vlogami" in page.text
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    events = [json.loads(line)["event"] for line in output.splitlines() if line.startswith("{")]
    assert "portal.started" in events
    assert "portal.request" in events
    assert "portal.stopped" in events
    assert "ana.kos" not in output
    assert "41555666" not in output and "555 666" not in output
