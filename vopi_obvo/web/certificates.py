"""Who is signing in: the client certificate the reverse proxy verified, parsed again here.

The proxy (nginx `$ssl_client_escaped_cert`, Apache `%{SSL_CLIENT_CERT}s`) passes the PEM
certificate URL-escaped in a header. Nothing the header claims is trusted: the certificate is
parsed with `cryptography`, its signature is checked against the configured issuing CAs (each
a CA by basicConstraints), its validity dates against the clock, its key usages (client
authentication), its issuer's CRL when `[portal] crl_files` are set; the person is identified
by issuer + the subject's serialNumber (stable across renewals by the same CA). Pure logic: no
I/O besides reading the CA files at start-up (and the CRL files, web/revocation.py).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vopi_obvo.errors import ConfigError
from vopi_obvo.web.revocation import RevocationLists, RevocationProblem

_PEM_BODY = re.compile(
    r"-----BEGIN CERTIFICATE-----(?P<body>[A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----"
)
MAX_HEADER_LENGTH = 16_384  # a citizen's certificate is 1-3 KiB; anything far larger is junk


class Refusal(enum.StrEnum):
    """Why a certificate does not sign anyone in (also the audit action's suffix)."""

    UNTRUSTED_PROXY = "untrusted_proxy"
    MALFORMED = "malformed"
    UNKNOWN_ISSUER = "unknown_issuer"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    NO_SERIAL = "no_serial"
    WRONG_USAGE = "wrong_usage"
    REVOKED = "revoked"
    CRL_STALE = "crl_stale"


class CertificateRefused(Exception):
    def __init__(self, reason: Refusal, detail: str, fingerprint: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.fingerprint = fingerprint

    @property
    def status(self) -> int:
        """The HTTP status of the refusal page."""
        return 400 if self.reason is Refusal.MALFORMED else 403

    def audit_detail(self) -> dict[str, object]:
        return {"reason": self.detail, "fingerprint": self.fingerprint}


class NoCertificateHeader(Exception):
    """The request carries no certificate at all (the proxy sends none, or `(null)`)."""


@dataclass(frozen=True)
class CertificateIdentity:
    issuer: str  # RFC 4514 form of the issuer's name
    serial: str  # the subject's serialNumber attribute
    name: str  # the subject's common name, shown on the page only (never logged)
    tax_number: str | None
    not_after: dt.datetime
    fingerprint: str  # SHA-256 of the certificate, hex: for audits, not personal in clear


def decode_header(value: str) -> x509.Certificate:
    """A certificate from the header: URL-escaped PEM (nginx), PEM with spaces for line breaks
    (Apache), or bare base64 DER. ValueError when it is none of these."""
    if len(value) > MAX_HEADER_LENGTH:
        raise ValueError("the header is too long for a certificate")
    text = urllib.parse.unquote(value.strip())
    match = _PEM_BODY.search(text)
    body = match.group("body") if match else text
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the header is not a PEM or base64 certificate") from None
    if not der:
        raise ValueError("the header is empty")
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise ValueError("the header does not hold a valid X.509 certificate") from None


def load_ca_files(paths: Sequence[str], section: str) -> list[x509.Certificate]:
    """Every certificate in the PEM files; ConfigError naming the file that fails."""
    cas: list[x509.Certificate] = []
    for name in paths:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"[{section}] ca_files: cannot read {name}: {exc.strerror}") from None
        try:
            found = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise ConfigError(f"[{section}] ca_files: {name} holds no PEM certificate") from None
        for ca in found:
            if not _is_ca(ca):
                raise ConfigError(
                    f"[{section}] ca_files: {name} holds {ca.subject.rfc4514_string()}, which is "
                    "not a CA certificate (basicConstraints CA:TRUE is missing)"
                )
        cas.extend(found)
    return cas


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def usage_problem(cert: x509.Certificate) -> str | None:
    """Why the certificate may not authenticate a TLS client, or None. A keyUsage without
    digitalSignature, or an extendedKeyUsage without clientAuth, rules it out; a certificate
    that states neither is not restricted (RFC 5280)."""
    try:
        key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not key_usage.digital_signature:
            return "keyUsage does not allow digitalSignature"
    except x509.ExtensionNotFound:
        pass
    try:
        extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if ExtendedKeyUsageOID.CLIENT_AUTH not in extended and (
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in extended
    ):
        return "extendedKeyUsage does not include clientAuth"
    return None


def identify_header(
    header: str,
    *,
    from_trusted_proxy: bool,
    issuers: TrustedIssuers,
    now: dt.datetime,
    tax_number_oid: str = "",
) -> CertificateIdentity:
    """The identity a request's certificate header proves: NoCertificateHeader when there is
    none; CertificateRefused when the peer may not pass one or the certificate fails."""
    value = header.strip()
    if not value or value == "(null)":
        raise NoCertificateHeader
    if not from_trusted_proxy:
        raise CertificateRefused(
            Refusal.UNTRUSTED_PROXY, "the certificate header came from an untrusted peer"
        )
    return issuers.identify(value, now, tax_number_oid)


class TrustedIssuers:
    """The CA list: a certificate signs in only when one of these issued it."""

    def __init__(
        self,
        cas: Sequence[x509.Certificate],
        section: str,
        revocation: RevocationLists | None = None,
    ) -> None:
        self.cas = list(cas)
        self.section = section  # the configuration section that lists them, for messages
        self.revocation = revocation

    def names(self) -> list[str]:
        return [ca.subject.rfc4514_string() for ca in self.cas]

    def identify(
        self, header_value: str, now: dt.datetime, tax_number_oid: str = ""
    ) -> CertificateIdentity:
        try:
            cert = decode_header(header_value)
        except ValueError as exc:
            raise CertificateRefused(Refusal.MALFORMED, str(exc)) from None
        fingerprint = cert.fingerprint(hashes.SHA256()).hex()
        issuer = cert.issuer.rfc4514_string()
        ca = next((ca for ca in self.cas if self._issued_by(cert, ca)), None)
        if ca is None:
            raise CertificateRefused(
                Refusal.UNKNOWN_ISSUER,
                f"issuer {issuer} is not in [{self.section}] ca_files",
                fingerprint,
            )
        if now < cert.not_valid_before_utc:
            raise CertificateRefused(
                Refusal.NOT_YET_VALID,
                f"valid from {cert.not_valid_before_utc.isoformat()}",
                fingerprint,
            )
        if now > cert.not_valid_after_utc:
            raise CertificateRefused(
                Refusal.EXPIRED, f"expired {cert.not_valid_after_utc.isoformat()}", fingerprint
            )
        problem = usage_problem(cert)
        if problem:
            raise CertificateRefused(Refusal.WRONG_USAGE, problem, fingerprint)
        if self.revocation is not None:
            try:
                self.revocation.check(cert, ca, now)
            except RevocationProblem as exc:
                reason = Refusal.REVOKED if exc.revoked else Refusal.CRL_STALE
                raise CertificateRefused(reason, exc.detail, fingerprint) from None
        serial = _attribute(cert.subject, NameOID.SERIAL_NUMBER)
        if not serial:
            raise CertificateRefused(
                Refusal.NO_SERIAL, "the subject has no serialNumber", fingerprint
            )
        tax_number = None
        if tax_number_oid:
            tax_number = _attribute(cert.subject, x509.ObjectIdentifier(tax_number_oid)) or None
        return CertificateIdentity(
            issuer=issuer,
            serial=serial,
            name=_attribute(cert.subject, NameOID.COMMON_NAME),
            tax_number=tax_number,
            not_after=cert.not_valid_after_utc,
            fingerprint=fingerprint,
        )

    @staticmethod
    def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
        """Same name AND a signature that verifies with the CA's key: a self-made certificate
        that merely copies a CA's name is refused."""
        if cert.issuer != ca.subject:
            return False
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    if not values:
        return ""
    value = values[0].value
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text.strip()
