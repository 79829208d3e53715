"""SI-PASS sign-in: this portal as a SAML 2.0 service provider, through pysaml2.

pysaml2 does the cryptography and the protocol checks (the signature of the response or the
assertion against the IdP metadata's certificate, audience, recipient and destination,
IssueInstant / NotOnOrAfter, InResponseTo against the outstanding requests we hand it); this
module turns its verdicts into one refusal reason per case, reads the identity (tax number,
name, level of assurance) from the verified assertion, and builds the messages we send
(AuthnRequest and LogoutRequest on HTTP-Redirect, signed with the portal's key). Which requests
are outstanding and which assertions were already used is the caller's (the database's).
"""

from __future__ import annotations

import base64
import calendar
import enum
import logging
import os
import re
import shutil
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, samlp
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.response import IncorrectlySigned, StatusError, UnsolicitedResponse
from saml2.saml import NAMEID_FORMAT_TRANSIENT, NameID
from saml2.sigver import SignatureError, verify_redirect_signature
from saml2.time_util import str_to_time
from saml2.validate import ResponseLifetimeExceed, ToEarly
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from vopi_obvo.config import SipassSettings
from vopi_obvo.errors import ConfigError
from vopi_obvo.ops.file_secrets import exposed_private_key

ACS_PATH = "/sipass/acs"
SLO_PATH = "/sipass/slo"
METADATA_PATH = "/sipass/metadata"
MAX_MESSAGE_LENGTH = 200_000  # a signed SI-PASS response is a few KiB
_NOT_ON_OR_AFTER = re.compile(r'NotOnOrAfter="([^"]+)"')

# pysaml2's own error lines can quote the assertion (a tax number, a name); the portal logs
# its outcome instead, without them.
logging.getLogger("saml2").setLevel(logging.CRITICAL)


class Refusal(enum.StrEnum):
    """Why a SAML response signs nobody in (also the audit action's suffix)."""

    BAD_SIGNATURE = "saml_bad_signature"
    WRONG_AUDIENCE = "saml_wrong_audience"
    WRONG_RECIPIENT = "saml_wrong_recipient"
    EXPIRED = "saml_expired"
    UNSOLICITED = "saml_unsolicited"
    REPLAYED = "saml_replayed"
    IDP_REFUSED = "saml_idp_refused"
    LOW_ASSURANCE = "saml_low_assurance"
    NO_TAX_NUMBER = "saml_no_tax_number"
    UNKNOWN_PARTY = "saml_unknown_party"
    INVALID = "saml_invalid"


class SamlRefused(Exception):
    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SamlIdentity:
    tax_number: str
    name: str
    level: str
    assertion_id: str
    in_response_to: str
    not_on_or_after: float  # until when the assertion could be replayed (epoch seconds)
    name_id: str
    name_id_format: str
    session_index: str


@dataclass(frozen=True)
class Redirect:
    request_id: str
    url: str


def check_files(s: SipassSettings) -> list[str]:
    """Problems with the [portal.sipass] files, each named by its key."""
    problems: list[str] = []
    for key, name in (
        ("idp_metadata", s.idp_metadata),
        ("key_file", s.key_file),
        ("cert_file", s.cert_file),
    ):
        if not name:
            problems.append(f"[portal.sipass] {key} is required when enabled = true")
        elif not os.access(name, os.R_OK):
            problems.append(f"[portal.sipass] {key}: cannot read {name}")
    exposed = exposed_private_key(s.key_file, "[portal.sipass] key_file") if s.key_file else None
    if exposed:
        problems.append(exposed)
    if s.required_level not in s.levels:
        problems.append(
            f"[portal.sipass] required_level {s.required_level!r} is not one of levels "
            f"({', '.join(s.levels)})"
        )
    if not s.tax_number_attribute:
        problems.append("[portal.sipass] tax_number_attribute is required")
    if shutil.which("xmlsec1") is None:
        problems.append(
            "[portal.sipass] needs the xmlsec1 program (Debian: apt-get install xmlsec1)"
        )
    return problems


class ServiceProvider:
    """The portal's SAML side, built once from `[portal.sipass]` at start-up."""

    def __init__(self, settings: SipassSettings, public_url: str) -> None:
        self.settings = settings
        self.base_url = public_url.rstrip("/")
        self.entity_id = settings.entity_id or self.base_url + METADATA_PATH
        self.acs_url = self.base_url + ACS_PATH
        self.slo_url = self.base_url + SLO_PATH
        config = SPConfig()
        try:
            config.load(self._config())
        except Exception as exc:  # noqa: BLE001 - pysaml2 raises whatever its metadata parser raised
            raise ConfigError(
                f"[portal.sipass] idp_metadata {settings.idp_metadata}: not usable SAML "
                f"metadata ({type(exc).__name__}: {exc})"
            ) from None
        self.config = config
        idps = list(config.metadata.identity_providers())
        if len(idps) != 1:
            raise ConfigError(
                f"[portal.sipass] idp_metadata {settings.idp_metadata} must describe exactly "
                f"one identity provider, not {len(idps)}"
            )
        self.idp_entity_id = idps[0]
        sso = config.metadata.single_sign_on_service(self.idp_entity_id, BINDING_HTTP_REDIRECT)
        if not sso:
            raise ConfigError(
                f"[portal.sipass] idp_metadata {settings.idp_metadata}: no single sign-on "
                "service with the HTTP-Redirect binding"
            )
        url = urllib.parse.urlsplit(sso[0]["location"])
        self.idp_origin = f"{url.scheme}://{url.netloc}"
        self.client = Saml2Client(config=config)

    def _config(self) -> dict[str, Any]:
        s = self.settings
        return {
            "entityid": self.entity_id,
            "xmlsec_binary": shutil.which("xmlsec1"),
            "metadata": {"local": [s.idp_metadata]},
            "key_file": s.key_file,
            "cert_file": s.cert_file,
            "accepted_time_diff": int(s.clock_skew),
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "allow_unknown_attributes": True,
            "service": {
                "sp": {
                    "endpoints": {
                        "assertion_consumer_service": [(self.acs_url, BINDING_HTTP_POST)],
                        "single_logout_service": [(self.slo_url, BINDING_HTTP_REDIRECT)],
                    },
                    "authn_requests_signed": True,
                    "logout_requests_signed": True,
                    # A signature over the response or the assertion; none at all is refused.
                    "want_assertions_or_response_signed": True,
                    "want_response_signed": False,
                    "want_assertions_signed": False,
                    "allow_unsolicited": False,
                    "name_id_format": [NAMEID_FORMAT_TRANSIENT],
                    "requested_attributes": [
                        {"name": name, "required": True}
                        for name in (s.tax_number_attribute, *s.name_attributes)
                    ],
                }
            },
        }

    def metadata(self) -> str:
        """The SP metadata to register with SI-PASS (entity id, ACS, SLO, our certificate)."""
        text = create_metadata_string(None, config=self.config, valid=None, sign=False)
        return text.decode("utf-8") if isinstance(text, bytes) else str(text)

    # ---- sign-in ----

    def _requested_levels(self) -> samlp.RequestedAuthnContext:
        from saml2.saml import AuthnContextClassRef  # noqa: PLC0415 - only here

        return samlp.RequestedAuthnContext(
            authn_context_class_ref=[AuthnContextClassRef(text=self.settings.required_level)],
            comparison="minimum",
        )

    def login_redirect(self, relay_state: str = "") -> Redirect:
        """A signed AuthnRequest on HTTP-Redirect; the caller remembers its id."""
        request_id, info = self.client.prepare_for_authenticate(
            entityid=self.idp_entity_id,
            relay_state=relay_state,
            binding=BINDING_HTTP_REDIRECT,
            requested_authn_context=self._requested_levels(),
        )
        return Redirect(str(request_id), _location(info))

    def identity(self, saml_response: str, outstanding: Sequence[str]) -> SamlIdentity:
        """The verified identity in an HTTP-POST response, or SamlRefused with the reason.
        `outstanding`: ids of the AuthnRequests this browser's session made and may answer."""
        if not saml_response or len(saml_response) > MAX_MESSAGE_LENGTH:
            raise SamlRefused(Refusal.INVALID, "no SAMLResponse, or far too long")
        try:
            response = self.client.parse_authn_request_response(
                saml_response, BINDING_HTTP_POST, outstanding=dict.fromkeys(outstanding, "/")
            )
        except (SignatureError, IncorrectlySigned) as exc:
            raise SamlRefused(Refusal.BAD_SIGNATURE, _say(exc)) from None
        except UnsolicitedResponse as exc:
            raise SamlRefused(Refusal.UNSOLICITED, _say(exc)) from None
        except (ResponseLifetimeExceed, ToEarly) as exc:
            raise SamlRefused(Refusal.EXPIRED, _say(exc)) from None
        except StatusError as exc:
            raise SamlRefused(Refusal.IDP_REFUSED, _say(exc)) from None
        except Exception as exc:  # noqa: BLE001 - pysaml2 raises bare Exception for a failed condition
            raise self._diagnose(saml_response, _say(exc)) from None
        if response is None or response.assertion is None:
            raise self._diagnose(saml_response, "the response did not verify")
        return self._read(response)

    def _diagnose(self, saml_response: str, said: str) -> SamlRefused:
        """Name the reason pysaml2 refused with: it raises generic errors for a wrong audience
        or recipient. Only reads what was refused already; never lets anything through."""
        text = _decoded(saml_response)
        if any(_passed(moment) for moment in _NOT_ON_OR_AFTER.findall(text)):
            return SamlRefused(Refusal.EXPIRED, f"past its NotOnOrAfter: {said}")
        if self.entity_id not in text and "Audience" in text:
            return SamlRefused(Refusal.WRONG_AUDIENCE, f"not for {self.entity_id}: {said}")
        if self.acs_url not in text:
            return SamlRefused(Refusal.WRONG_RECIPIENT, f"not for {self.acs_url}: {said}")
        return SamlRefused(Refusal.INVALID, said)

    def _read(self, response: Any) -> SamlIdentity:
        s = self.settings
        assertion = response.assertion
        values = _attributes(assertion)
        levels = [str(info[0]) for info in response.authn_info() if info[0]]
        level = levels[0] if levels else ""
        if level not in s.levels or s.levels.index(level) < s.levels.index(s.required_level):
            raise SamlRefused(
                Refusal.LOW_ASSURANCE, f"level {level or '(none)'} is below {s.required_level}"
            )
        tax_number = next(iter(values.get(s.tax_number_attribute, ())), "").strip()
        if not tax_number:
            raise SamlRefused(
                Refusal.NO_TAX_NUMBER, f"the assertion has no {s.tax_number_attribute}"
            )
        name = " ".join(v for a in s.name_attributes for v in values.get(a, ())[:1]).strip()
        statement = assertion.authn_statement[0] if assertion.authn_statement else None
        name_id = assertion.subject.name_id
        return SamlIdentity(
            tax_number=tax_number,
            name=name,
            level=level,
            assertion_id=str(assertion.id),
            in_response_to=str(response.in_response_to or ""),
            not_on_or_after=float(response.not_on_or_after or 0),
            name_id=str(name_id.text or "") if name_id is not None else "",
            name_id_format=str(name_id.format or "") if name_id is not None else "",
            session_index=str(statement.session_index or "") if statement else "",
        )

    # ---- single logout ----

    def logout_redirect(self, name_id: str, name_id_format: str, session_index: str) -> str:
        """A signed LogoutRequest to the IdP on HTTP-Redirect: the URL to send the browser to."""
        destinations = self.config.metadata.single_logout_service(
            self.idp_entity_id, BINDING_HTTP_REDIRECT, "idpsso"
        )
        if not destinations:
            raise ConfigError("[portal.sipass] the IdP metadata names no single logout service")
        destination = destinations[0]["location"]
        _, request = self.client.create_logout_request(
            destination,
            self.idp_entity_id,
            name_id=NameID(text=name_id, format=name_id_format or None),
            session_indexes=[session_index] if session_index else None,
            sign=False,  # HTTP-Redirect signs the query string instead
        )
        info = self.client.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(request),
            destination,
            relay_state="",
            sign=True,
            sigalg=self._sigalg(),
        )
        return _location(info)

    @staticmethod
    def _sigalg() -> str:
        return str(SIG_RSA_SHA256)

    def _signed_by_idp(self, query: Mapping[str, str], kind: str) -> bool:
        """The HTTP-Redirect signature over the query, with the IdP metadata's signing keys.
        pysaml2 checks it only for an IdP's incoming requests, so the SP checks it here."""
        message = {k: query[k] for k in (kind, "RelayState", "SigAlg", "Signature") if k in query}
        if not message.get(kind) or "Signature" not in message or "SigAlg" not in message:
            return False
        certs = self.config.metadata.certs(self.idp_entity_id, "idpsso", "signing")
        for _, cert in certs:
            try:
                if verify_redirect_signature(message, self.client.sec.sec_backend, cert):
                    return True
            except Exception:  # noqa: BLE001, S112 - a key that does not verify: try the next
                continue
        return False

    def logout_response_ok(self, query: Mapping[str, str]) -> bool:
        """The IdP's answer to our LogoutRequest (HTTP-Redirect): verified and successful."""
        if not self._signed_by_idp(query, "SAMLResponse"):
            return False
        try:
            response = self.client.parse_logout_request_response(
                query.get("SAMLResponse", ""), BINDING_HTTP_REDIRECT
            )
        except Exception:  # noqa: BLE001 - any failure is "not confirmed"
            return False
        return response is not None and response.status_ok()

    def idp_logout_request(self, query: Mapping[str, str]) -> tuple[str, str] | None:
        """An IdP-initiated LogoutRequest (HTTP-Redirect, signature checked): the NameID it
        ends and the URL of our LogoutResponse; None when it does not verify."""
        if not self._signed_by_idp(query, "SAMLRequest"):
            return None
        try:
            request = self.client.parse_logout_request(
                query.get("SAMLRequest", ""),
                BINDING_HTTP_REDIRECT,
                relay_state=query.get("RelayState"),
                sigalg=query.get("SigAlg"),
                signature=query.get("Signature"),
            )
        except Exception:  # noqa: BLE001 - whatever pysaml2 raises, the request is refused
            return None
        if request is None:
            return None
        name_id = request.message.name_id
        response = self.client.create_logout_response(
            request.message, [BINDING_HTTP_REDIRECT], sign=False
        )
        destination = self.config.metadata.single_logout_service(
            self.idp_entity_id, BINDING_HTTP_REDIRECT, "idpsso"
        )[0]["location"]
        info = self.client.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(response),
            destination,
            query.get("RelayState", ""),
            response=True,
            sign=True,
            sigalg=self._sigalg(),
        )
        return str(name_id.text if name_id is not None else ""), _location(info)


def _passed(moment: str) -> bool:
    try:
        return calendar.timegm(str_to_time(moment)) < time.time()
    except (ValueError, TypeError):
        return False


def _location(info: Mapping[str, Any]) -> str:
    return str(dict(info["headers"])["Location"])


def _attributes(assertion: Any) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or ():
        for attribute in statement.attribute or ():
            texts = [str(v.text).strip() for v in attribute.attribute_value or () if v.text]
            for key in {attribute.name, attribute.friendly_name} - {None, ""}:
                values.setdefault(str(key), []).extend(texts)
    return values


def _decoded(saml_response: str) -> str:
    try:
        return base64.b64decode(saml_response).decode("utf-8", "replace")
    except ValueError:
        return ""


def _say(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:300]
