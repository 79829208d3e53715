"""The nginx snippet of docs/portal.md, run as written (paths and ports replaced) in a real
nginx in front of the portal: TLS with client certificates from a test CA, the certificate
passed on in the header, a stranger's certificate stopped at nginx, a smuggled header
overwritten. Skipped where nginx is missing, except in CI (CI set)."""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import portal_support as ps
from tests.portal_support import CERT_HEADER, PortalServer, nginx_header
from tests.support import ROOT, free_port, wait_for
from vopi_obvo.config import Settings

pki = ps.pki
portal_settings = ps.portal_settings
portal = ps.portal

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def snippet() -> str:
    text = (ROOT / "docs" / "portal.md").read_text(encoding="utf-8")
    match = re.search(r"```nginx\n(.*?)```", text, re.DOTALL)
    assert match, "docs/portal.md has no nginx block"
    return match.group(1)


@pytest.fixture
def nginx(tmp_path: Path, pki: ps.Pki, portal: PortalServer) -> Iterator[str]:
    if NGINX is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is required in CI (see .ci/run)")
        pytest.skip("nginx not installed")
    server_pem, server_key = pki.ca.issue_with_key(
        serial=None, common_name="127.0.0.1", server_ip="127.0.0.1"
    )
    (tmp_path / "server.crt").write_text(server_pem)
    (tmp_path / "server.key").write_text(server_key)
    (tmp_path / "ca.crl").write_bytes(pki.ca.crl())
    port = free_port()
    block = (
        snippet()
        .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl;")
        .replace("/etc/nginx/tls/obvestila.koper.si.crt", str(tmp_path / "server.crt"))
        .replace("/etc/nginx/tls/obvestila.koper.si.key", str(tmp_path / "server.key"))
        .replace("/etc/nginx/tls/citizen-cas.pem", str(pki.ca_file))
        .replace("/etc/nginx/tls/citizen-cas.crl", str(tmp_path / "ca.crl"))
        .replace("http://127.0.0.1:8080", portal.url)
    )
    assert str(pki.ca_file) in block and portal.url in block and "ca.crl" in block
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = tmp_path / "temp"
    temp.mkdir()
    config = tmp_path / "nginx.conf"
    config.write_text(
        f"{user}worker_processes 1;\nerror_log {tmp_path}/error.log;\npid {tmp_path}/nginx.pid;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n access_log off;\n client_body_temp_path {temp};\n"
        f" proxy_temp_path {temp};\n fastcgi_temp_path {temp};\n uwsgi_temp_path {temp};\n"
        f" scgi_temp_path {temp};\n{block}\n}}\n"
    )
    process = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: process.poll() is not None or (tmp_path / "nginx.pid").exists(), timeout=10
        )
        assert process.poll() is None, (tmp_path / "error.log").read_text()
        yield f"https://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def tls(pki: ps.Pki, tmp_path: Path, authority: ps.Authority | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    if authority is not None:
        cert, key = authority.issue_with_key(serial="PNO-1001", common_name="Janez Novak")
        (tmp_path / "client.crt").write_text(cert)
        (tmp_path / "client.key").write_text(key)
        context.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")
    return context


@pytest.mark.slow
def test_the_documented_nginx_block_passes_the_certificate(
    nginx: str, pki: ps.Pki, tmp_path: Path, portal_settings: Settings
) -> None:
    with httpx.Client(base_url=nginx, verify=tls(pki, tmp_path, pki.ca), timeout=10) as http:
        page = http.get("/povezava")
    assert page.status_code == 200, page.text
    assert "Pozdravljeni, Janez Novak" in page.text
    with httpx.Client(base_url=nginx, verify=tls(pki, tmp_path, None), timeout=10) as http:
        # No certificate, and a forged header of the client's own: nginx overwrites it.
        forged = nginx_header(pki.ca.issue(serial="PNO-9"))
        smuggled = http.get("/povezava", headers={CERT_HEADER: forged})
    assert smuggled.status_code == 401
    assert "kvalificiranim digitalnim potrdilom" in smuggled.text
    with httpx.Client(base_url=nginx, verify=tls(pki, tmp_path, pki.rogue), timeout=10) as http:
        stranger = http.get("/povezava")
    assert stranger.status_code == 400  # nginx: the certificate does not verify
    [(serial,)] = ps.rows(portal_settings, "SELECT subject_serial FROM obvo.portal_identities")
    assert serial == "PNO-1001"
