"""A test SI-PASS: pysaml2's identity-provider role with its own key, served over real HTTP on
loopback. It answers the portal's AuthnRequest with a signed response in an HTML form that
posts to the portal (a button, as the real service shows one), and the portal's LogoutRequest
with a LogoutResponse; tests also ask it directly for responses that must be refused."""

from __future__ import annotations

import base64
import datetime as dt
import html
import re
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_TRANSIENT, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

LOA_SUBSTANTIAL = "http://eidas.europa.eu/LoA/substantial"
LOA_LOW = "http://eidas.europa.eu/LoA/low"
OTHER_SP = "https://other.example/sp"


def key_pair(directory: Path, name: str, common_name: str) -> tuple[Path, Path]:
    """An RSA key (mode 600) and a self-signed certificate, as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@dataclass
class Citizen:
    tax_number: str = "12345678"
    first_name: str = "Janez"
    last_name: str = "Novak"
    level: str = LOA_SUBSTANTIAL


@dataclass
class SipassIdp:
    """The IdP: `metadata_file` goes into [portal.sipass] idp_metadata; `sp_metadata` (the
    portal's, from `obvo portal sipass-metadata`) must be given before `start()`."""

    directory: Path
    citizen: Citizen = field(default_factory=Citizen)
    logout_requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.entity_id = self.url + "/idp"
        self.key, self.cert = key_pair(self.directory, "idp", "test SI-PASS")
        self.other_key, self.other_cert = key_pair(self.directory, "other-idp", "not SI-PASS")
        self.sp_metadata = ""
        self._servers: dict[tuple[bool, int], Server] = {}
        self.metadata_file = self.directory / "idp-metadata.xml"
        self.metadata_file.write_bytes(self._metadata())

    # ---- configuration ----

    def _config(self, *, other_key: bool = False, lifetime: int = 5) -> dict[str, Any]:
        key, cert = (self.other_key, self.other_cert) if other_key else (self.key, self.cert)
        config: dict[str, Any] = {
            "entityid": self.entity_id,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "key_file": str(key),
            "cert_file": str(cert),
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(self.url + "/sso", BINDING_HTTP_REDIRECT)],
                        "single_logout_service": [(self.url + "/slo", BINDING_HTTP_REDIRECT)],
                    },
                    "policy": {"default": {"lifetime": {"minutes": lifetime}}},
                    "name_id_format": [NAMEID_FORMAT_TRANSIENT],
                    "want_authn_requests_signed": True,  # the portal's requests are checked
                    "sign_response": True,
                    "sign_assertion": True,
                }
            },
        }
        if self.sp_metadata:
            # The portal, and another service provider (the same metadata under another
            # entity id): a response meant for that one must not sign anyone in here.
            other = re.sub(r'entityID="[^"]+"', f'entityID="{OTHER_SP}"', self.sp_metadata)
            config["metadata"] = {"inline": [self.sp_metadata, other]}
        return config

    def _metadata(self) -> bytes:
        config = IdPConfig()
        config.load(self._config())
        text = create_metadata_string(None, config=config, valid=None, sign=False)
        return text if isinstance(text, bytes) else str(text).encode()

    def server(self, *, other_key: bool = False, lifetime: int = 5) -> Server:
        assert self.sp_metadata, "give the IdP the portal's metadata first"
        cached = self._servers.get((other_key, lifetime))
        if cached is None:
            config = IdPConfig()
            config.load(self._config(other_key=other_key, lifetime=lifetime))
            cached = self._servers[(other_key, lifetime)] = Server(config=config)
        return cached

    # ---- messages ----

    def parse_request(self, query: str) -> Any:
        """The portal's AuthnRequest from the redirect URL's query (signature checked)."""
        params = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        return self.server().parse_authn_request(
            params["SAMLRequest"],
            BINDING_HTTP_REDIRECT,
            relay_state=params.get("RelayState"),
            sigalg=params.get("SigAlg"),
            signature=params.get("Signature"),
        )

    def response(
        self,
        in_response_to: str,
        *,
        sp_entity_id: str,
        acs_url: str,
        audience: str | None = None,
        other_key: bool = False,
        lifetime: int = 5,
        level: str | None = None,
    ) -> str:
        """A signed SAMLResponse (base64, as posted) for the test citizen."""
        citizen = self.citizen
        response = self.server(other_key=other_key, lifetime=lifetime).create_authn_response(
            identity={
                "TaxNumber": [citizen.tax_number],
                "FirstName": [citizen.first_name],
                "LastName": [citizen.last_name],
            },
            in_response_to=in_response_to,
            destination=acs_url,
            sp_entity_id=audience or sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_TRANSIENT, text=f"t-{citizen.tax_number}"),
            authn={"class_ref": level or citizen.level, "authn_auth": self.entity_id},
            sign_response=True,
            sign_assertion=True,
        )
        return base64.b64encode(str(response).encode()).decode()

    def logout_request(self, name_id: str, sp_slo_url: str, *, other_key: bool = False) -> str:
        """An IdP-initiated LogoutRequest to the portal (HTTP-Redirect, query signed): its URL."""
        server = self.server(other_key=other_key)
        sp_entity_id = next(iter(server.metadata.with_descriptor("spsso")))
        _, request = server.create_logout_request(
            sp_slo_url,
            sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_TRANSIENT, text=name_id),
            sign=False,
        )
        info = server.apply_binding(BINDING_HTTP_REDIRECT, str(request), sp_slo_url, "", sign=True)
        return str(dict(info["headers"])["Location"])

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path == "/sso":
                    self._sign_in(query)
                elif path == "/slo":
                    self._logout(query)
                else:
                    self.send_error(404)

            def _sign_in(self, query: str) -> None:
                request = idp.parse_request(query).message
                sp_entity_id = request.issuer.text
                response = idp.response(
                    request.id,
                    sp_entity_id=sp_entity_id,
                    acs_url=request.assertion_consumer_service_url,
                )
                acs = html.escape(request.assertion_consumer_service_url)
                body = (
                    "<!doctype html><title>SI-PASS</title>"
                    f'<form method="post" action="{acs}">'
                    f'<input type="hidden" name="SAMLResponse" value="{response}">'
                    '<button id="continue" type="submit">Nadaljuj</button></form>'
                ).encode()
                self._reply(200, body, "text/html; charset=utf-8")

            def _logout(self, query: str) -> None:
                params = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
                server = idp.server()
                request = server.parse_logout_request(
                    params["SAMLRequest"],
                    BINDING_HTTP_REDIRECT,
                    relay_state=params.get("RelayState"),
                    sigalg=params.get("SigAlg"),
                    signature=params.get("Signature"),
                )
                idp.logout_requests.append(str(request.message.name_id.text))
                response = server.create_logout_response(
                    request.message, [BINDING_HTTP_REDIRECT], sign=False
                )
                destination = server.metadata.single_logout_service(
                    request.message.issuer.text, BINDING_HTTP_REDIRECT, "spsso"
                )[0]["location"]
                info = server.apply_binding(
                    BINDING_HTTP_REDIRECT,
                    str(response),
                    destination,
                    params.get("RelayState", ""),
                    response=True,
                    sign=True,
                )
                location = dict(info["headers"])["Location"]
                self.send_response(303)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _reply(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> None:
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


TAX_NUMBER_QUERY = "SELECT id AS party_id FROM vopi.parties WHERE tax_number = :tax_number"


def sipass_overrides(idp: SipassIdp, directory: Path, public_url: str) -> dict[str, Any]:
    """make_settings keyword arguments for SI-PASS sign-in through the test IdP."""
    key, cert = key_pair(directory, "sp", "obvo portal SP")
    return {
        "portal__public_url": public_url,
        "portal__sipass": {
            "enabled": True,
            "idp_metadata": str(idp.metadata_file),
            "key_file": str(key),
            "cert_file": str(cert),
        },
        "source__party_by_tax_number_query": TAX_NUMBER_QUERY,
    }


@pytest.fixture
def sipass_idp(tmp_path: Path) -> Iterator[SipassIdp]:
    idp = SipassIdp(tmp_path)
    idp.start()
    try:
        yield idp
    finally:
        idp.close()
