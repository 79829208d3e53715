"""The portal's test world: a test CA (and a rogue one), citizens' client certificates, and the
portal on uvicorn on loopback, reached the way nginx would reach it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import psycopg
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.test_pipeline import apply_rules
from tests.support import free_port
from vopi_obvo.config import Settings
from vopi_obvo.portal import tokens
from vopi_obvo.portal.app import create_app
from vopi_obvo.portal.context import Portal
from vopi_obvo.portal.settings import portal_config

CERT_HEADER = "X-SSL-Client-Cert"
TAX_NUMBER_OID = "1.3.6.1.4.1.99999.1"  # a made-up OID for the test CA's tax number attribute
SESSION_SECRET = "s" * 40
SMS_STATUS_SECRET = "gateway-shared-secret-123"
UNSUBSCRIBE_SECRET = "u" * 40
API_TOKEN = "test-api-token-for-the-municipal-portal-0123456789"
NOW = dt.datetime.now(dt.UTC)


@dataclass
class Authority:
    name: x509.Name
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, common_name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "SI"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "state-institutions"),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=3650))
            .not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(name, key, cert)

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def crl(
        self,
        revoked: tuple[str, ...] = (),
        *,
        last_update: dt.datetime | None = None,
        next_update: dt.datetime | None = None,
    ) -> bytes:
        """This CA's CRL (PEM) listing the given certificates (PEM texts)."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.name)
            .last_update(last_update or NOW - dt.timedelta(hours=1))
            .next_update(next_update or NOW + dt.timedelta(days=7))
        )
        for pem in revoked:
            serial = x509.load_pem_x509_certificate(pem.encode()).serial_number
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(NOW - dt.timedelta(minutes=30))
                .build()
            )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def issue(self, **kwargs: Any) -> str:
        """A citizen's certificate as PEM text."""
        return self.issue_with_key(**kwargs)[0]

    def issue_with_key(
        self,
        *,
        serial: str | None = "1234567890123",
        common_name: str = "Janez Novak",
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        tax_number: str | None = None,
        server_ip: str | None = None,
        extended_usage: tuple[x509.ObjectIdentifier, ...] = (),
    ) -> tuple[str, str]:
        """A certificate and its private key, both PEM; a server's when server_ip is given."""
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "SI"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "state-institutions"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
        if serial is not None:
            attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
        if tax_number is not None:
            attributes.append(x509.NameAttribute(x509.ObjectIdentifier(TAX_NUMBER_OID), tax_number))
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or NOW - dt.timedelta(days=30))
            .not_valid_after(not_after or NOW + dt.timedelta(days=365))
        )
        if server_ip is not None:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(server_ip))]),
                critical=False,
            )
        if extended_usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended_usage)), False)
        cert = builder.sign(self.key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return (
            cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            key_pem.decode("ascii"),
        )


def nginx_header(pem: str) -> str:
    """What nginx's $ssl_client_escaped_cert puts in the header: the URL-escaped PEM."""
    return urllib.parse.quote(pem, safe="")


@dataclass
class Pki:
    ca: Authority
    rogue: Authority  # not in the CA list
    impostor: Authority  # the CA's name, another key: a forged issuer
    ca_file: Path

    def header(self, pem: str) -> dict[str, str]:
        return {CERT_HEADER: nginx_header(pem)}


def make_pki(directory: Path) -> Pki:
    ca = Authority.create("SIGEN-CA test")
    rogue = Authority.create("Rogue CA")
    impostor = Authority.create("SIGEN-CA test")
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.pem())
    return Pki(ca, rogue, impostor, ca_file)


def portal_overrides(pki: Pki, **extra: Any) -> dict[str, Any]:
    """make_settings keyword arguments for a portal with the test CA."""
    values: dict[str, Any] = {
        "portal__ca_files": [str(pki.ca_file)],
        "portal__session_secret": SESSION_SECRET,
        "portal__sms_status_secret": SMS_STATUS_SECRET,
        "portal__api_tokens": [tokens.config_line("koper-portal", API_TOKEN)],
        "portal__trusted_proxies": ["127.0.0.1"],
        "portal__tax_number_oid": TAX_NUMBER_OID,
        "email__unsubscribe_secret": UNSUBSCRIBE_SECRET,
    }
    values.update(extra)
    return values


class CrlServer:
    """A CA's distribution point on loopback, serving whatever CRL it holds."""

    def __init__(self, crl: bytes) -> None:
        self.crl = crl
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.crl)))
                self.end_headers()
                self.wfile.write(server.crl)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/sigen-ca.crl"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


class AppServer:
    """An ASGI app on uvicorn, on loopback, in a thread of the test process."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                proxy_headers=False,
                access_log=False,
                log_config=None,
                lifespan="off",
            )
        )
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError("the server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)

    def client(self, *, source: str = "127.0.0.1", **kwargs: Any) -> httpx.Client:
        """An HTTP client connecting from `source` (another loopback address = an untrusted
        peer); it does not follow redirects, so tests see each 303."""
        transport = httpx.HTTPTransport(local_address=source)
        return httpx.Client(base_url=self.url, transport=transport, timeout=10, **kwargs)


class PortalServer(AppServer):
    """The real portal app on uvicorn."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], dt.datetime] | None = None,
        port: int | None = None,
    ) -> None:
        config = portal_config(settings)
        self.portal = (
            Portal(settings, config) if clock is None else Portal(settings, config, clock=clock)
        )
        super().__init__(create_app(self.portal), port)

    def stop(self) -> None:
        super().stop()
        self.portal.close()


@contextmanager
def running_portal(
    settings: Settings, clock: Callable[[], dt.datetime] | None = None, port: int | None = None
) -> Iterator[PortalServer]:
    server = PortalServer(settings, clock, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ---- fixtures and helpers of the portal's test modules ----


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


@pytest.fixture
def portal_settings(make_settings: Callable[..., Settings], pki: Pki) -> Settings:
    settings = make_settings(**portal_overrides(pki))
    apply_rules(settings)
    return settings


@pytest.fixture
def portal(portal_settings: Settings) -> Iterator[PortalServer]:
    with running_portal(portal_settings) as server:
        yield server


@pytest.fixture
def janez_pem(pki: Pki) -> str:
    return pki.ca.issue(serial="PNO-1001", common_name="Janez Novak")


def rows(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.database.url) as conn:
        return list(conn.execute(sql, params).fetchall())


def audit_actions(settings: Settings) -> list[tuple[str, str]]:
    return [
        (str(r[0]), str(r[1]))
        for r in rows(settings, "SELECT action, outcome FROM obvo.portal_audit ORDER BY id")
    ]


def link(settings: Settings, pki: Pki, serial: str, party: int) -> None:
    """The state after a first sign-in was linked (tests of later pages start here)."""
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO obvo.portal_identities (issuer, subject_serial, party_id, linked_at,"
            " linked_by) VALUES (%s, %s, %s, now(), 'code')",
            (pki.ca.name.rfc4514_string(), serial, str(party)),
        )


def csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


class Browser:
    """A client that presents one certificate through the trusted proxy, keeping cookies."""

    opened: ClassVar[list[httpx.Client]] = []

    def __init__(self, portal: PortalServer, pem: str) -> None:
        self.http = portal.client(headers={CERT_HEADER: nginx_header(pem)})
        Browser.opened.append(self.http)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def post(
        self, path: str, data: dict[str, str], *, token_from: str | None = None
    ) -> httpx.Response:
        page = self.get(token_from or path)
        return self.http.post(path, data={"csrf": csrf(page), **data})


@pytest.fixture(autouse=True)
def close_browsers() -> Iterator[None]:
    yield
    while Browser.opened:
        Browser.opened.pop().close()
