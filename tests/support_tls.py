"""TLS and AUTH for the test SMTP server: a CA and a server certificate made by the test.

The certificates are real X.509 (cryptography), valid for 127.0.0.1 and localhost, so the
client verifies them exactly as it would a municipality's mail server.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from asyncio import WriteTransport
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import ReceivedMail, _MailHandler, free_port


@dataclass(frozen=True)
class CertFiles:
    ca_file: Path  # the CA certificate a client trusts
    cert_file: Path  # the server's certificate (signed by the CA)
    key_file: Path  # the server's private key


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(directory: Path, label: str = "Test") -> CertFiles:
    """A fresh CA and a server certificate for 127.0.0.1/localhost signed by it."""
    import ipaddress  # noqa: PLC0415

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{label} CA"))
        .issuer_name(_name(f"{label} CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = CertFiles(
        directory / f"{label.lower()}-ca.pem",
        directory / f"{label.lower()}-server.pem",
        directory / f"{label.lower()}-server.key",
    )
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def server_context(files: CertFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert_file, files.key_file)
    return context


@dataclass
class CountingHandler(_MailHandler):
    """Records the client's address per message: a new connection has a new source port."""

    peers: list[Any] = field(default_factory=list)
    # Close the connection after this many messages in one session (0 = never).
    close_after: int = 0
    _per_session: dict[int, int] = field(default_factory=dict)

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        with self.lock:
            self.peers.append(session.peer)
            count = self._per_session.get(id(session), 0) + 1
            self._per_session[id(session)] = count
        transport = server.transport
        if self.close_after and count >= self.close_after and isinstance(transport, WriteTransport):
            # As a server with a per-connection message limit does: answer, then hang up.
            transport.write(f"{reply}\r\n".encode())
            transport.close()
        return reply


class TlsSmtpServer:
    """aiosmtpd with implicit TLS ("tls") or STARTTLS ("starttls"), optionally AUTH."""

    def __init__(
        self,
        files: CertFiles,
        mode: Literal["tls", "starttls", "none"],
        *,
        users: dict[str, str] | None = None,
    ) -> None:
        self.handler = CountingHandler()
        self.port = free_port()
        self.users = users
        self.auth_attempts: list[tuple[str, bool]] = []
        self._lock = threading.Lock()
        kwargs: dict[str, Any] = {}
        if users is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        if mode == "tls":
            # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; this socket is TLS.
            # (auth_required=False then, or it warns; the client logs in all the same.)
            kwargs.update(
                ssl_context=server_context(files), auth_require_tls=False, auth_required=False
            )
        elif mode == "starttls":
            kwargs.update(tls_context=server_context(files), require_starttls=True)
        else:
            kwargs["auth_require_tls"] = False
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10, **kwargs
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.users is not None
        ok = (
            isinstance(data, LoginPassword)
            and self.users.get(data.login.decode()) == data.password.decode()
        )
        with self._lock:
            login = data.login.decode() if isinstance(data, LoginPassword) else "?"
            self.auth_attempts.append((login, ok))
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[ReceivedMail]:
        with self.handler.lock:
            return list(self.handler.received)
