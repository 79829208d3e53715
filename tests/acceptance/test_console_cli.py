"""`obvo console` as a deployer runs it: staff granted, listed and revoked from the command
line (audited, refused for certificates that could never sign in), a bad [console] section
refused naming each key, and the installed command serving the console until SIGTERM."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests import portal_support as ps
from tests.acceptance import test_cli as cli_tests
from tests.acceptance.test_cli import Deployment
from tests.console_support import SESSION_SECRET, staff_certificates
from tests.portal_support import CERT_HEADER, nginx_header
from tests.support import free_port

pki = ps.pki
deployment = cli_tests.deployment


def test_grant_list_and_revoke_from_the_command_line(
    deployment: Deployment, pki: ps.Pki, tmp_path: Path
) -> None:
    assert deployment.run("migrate").returncode == 0
    deployment.set_section("console", ca_files=[str(pki.ca_file)])
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
    deployment.set_section("console", listen="127.0.0.1:8080", trusted_proxies=["10.0.0.300"])
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
    deployment.set_section("console", listen=f"127.0.0.1:{port}", ca_files=[str(pki.ca_file)])
    deployment.env["OBVO_CONSOLE_SESSION_SECRET"] = SESSION_SECRET
    certs = staff_certificates(pki)
    pem = tmp_path / "viewer.pem"
    pem.write_text(certs.viewer, encoding="ascii")
    granted = deployment.run(
        "console", "grant", "--certificate", str(pem), "--role", "viewer", "--name", "Vida"
    )
    assert granted.returncode == 0, granted.stderr
    with deployment.serving("console", port) as console:
        page = httpx.get(console.base + "/", headers={CERT_HEADER: nginx_header(certs.viewer)})
        assert page.status_code == 200
        assert "Vida (pregledovalec)" in page.text
    assert console.returncode == 0, console.output
    assert {"console.started", "console.signed_in", "console.request", "console.stopped"} <= (
        console.events()
    )
