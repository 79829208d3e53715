"""`obvo console` as a deployer runs it: staff granted, listed and revoked from the command
line (audited, refused for certificates that could never sign in), a bad [console] section
refused naming each key, and the installed command serving the console until SIGTERM."""

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
from tests.console_support import SESSION_SECRET, staff_certificates
from tests.portal_support import CERT_HEADER, nginx_header
from tests.support import SmsGateway, SmtpServer, free_port, wait_for

pki = ps.pki


@pytest.fixture
def deployment(
    tmp_path: Path, database_url: str, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> Deployment:
    return Deployment(tmp_path, database_url, smtp_server, sms_gateway)


def set_console(deployment: Deployment, **values: object) -> None:
    """The deployer edits the [console] section of the example configuration."""
    document = tomllib.loads(deployment.config.read_text(encoding="utf-8"))
    document.setdefault("console", {}).update(values)
    deployment.config.write_text(tomli_w.dumps(document), encoding="utf-8")


def test_grant_list_and_revoke_from_the_command_line(
    deployment: Deployment, pki: ps.Pki, tmp_path: Path
) -> None:
    assert deployment.run("migrate").returncode == 0
    set_console(deployment, ca_files=[str(pki.ca_file)])
    certs = staff_certificates(pki)
    files = {}
    for name in ("admin", "expired", "forged"):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(getattr(certs, name), encoding="ascii")
    granted = deployment.run(
        "console", "grant", "--certificate", str(files["admin"]), "--role", "admin",
        "--name", "Ana Admin", "--actor", "it-ana",
    )  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    assert "granted: staff 1 Ana Admin, role admin" in granted.stdout
    for pem, expected in (
        (files["expired"], "cannot sign in: expired"),
        (files["forged"], "is not in [console] ca_files"),
        (tmp_path / "missing.pem", "no such file"),
    ):
        refused = deployment.run(
            "console", "grant", "--certificate", str(pem), "--role", "clerk", "--name", "X"
        )
        assert refused.returncode == 78
        assert expected in refused.stderr
    bad_role = deployment.run(
        "console", "grant", "--certificate", str(files["admin"]), "--role", "boss", "--name", "A"
    )
    assert bad_role.returncode == 78
    assert "--role must be one of viewer, clerk, admin" in bad_role.stderr
    listed = json.loads(deployment.run("console", "list", "--json").stdout)
    assert [(m["name"], m["role"], m["revoked_at"]) for m in listed] == [
        ("Ana Admin", "admin", None)
    ]
    revoked = deployment.run("console", "revoke", "--certificate", str(files["admin"]))
    assert revoked.returncode == 0, revoked.stderr
    again = deployment.run("console", "revoke", "1")
    assert again.returncode == 78
    assert "already revoked" in again.stderr
    audit = json.loads(deployment.run("audit", "--action", "staff", "--json").stdout)
    assert [(e["action"], e["actor"]) for e in reversed(audit)] == [
        ("staff.grant", "it-ana"),
        ("staff.revoke", audit[0]["actor"]),
    ]


def test_a_bad_console_section_is_refused_naming_each_key(deployment: Deployment) -> None:
    set_console(deployment, listen="127.0.0.1:8080", trusted_proxies=["10.0.0.300"])
    result = deployment.run("console")
    assert result.returncode == 78
    for expected in (
        "[console] listen must not be the portal's listener",
        "[console] trusted_proxies: '10.0.0.300'",
        "[console] ca_files is required",
        "[console] session_secret must have at least 32 characters",
    ):
        assert expected in result.stderr, result.stderr


@pytest.mark.slow
def test_the_installed_command_serves_the_console_until_sigterm(
    deployment: Deployment, pki: ps.Pki, tmp_path: Path
) -> None:
    assert deployment.run("migrate").returncode == 0
    port = free_port()
    set_console(deployment, listen=f"127.0.0.1:{port}", ca_files=[str(pki.ca_file)])
    deployment.env["OBVO_CONSOLE_SESSION_SECRET"] = SESSION_SECRET
    certs = staff_certificates(pki)
    pem = tmp_path / "viewer.pem"
    pem.write_text(certs.viewer, encoding="ascii")
    granted = deployment.run(
        "console", "grant", "--certificate", str(pem), "--role", "viewer", "--name", "Vida"
    )
    assert granted.returncode == 0, granted.stderr
    process = deployment.start("console")
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(base + "/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(lambda: process.poll() is not None or healthy(), timeout=90)
        assert process.poll() is None, "obvo console exited early"
        page = httpx.get(base + "/", headers={CERT_HEADER: nginx_header(certs.viewer)})
        assert page.status_code == 200
        assert "Vida (pregledovalec)" in page.text
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    events = [json.loads(line)["event"] for line in output.splitlines() if line.startswith("{")]
    assert {"console.started", "console.signed_in", "console.request", "console.stopped"} <= set(
        events
    )
