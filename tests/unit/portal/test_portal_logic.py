"""The portal's pure parts: certificates, codes, forms, texts, tokens, reports, settings."""

from __future__ import annotations

import datetime as dt
import string
import tomllib
from pathlib import Path

import pytest

from tests.portal_support import NOW, TAX_NUMBER_OID, Pki, make_pki, nginx_header
from tests.support import EXAMPLE_CONFIG
from vopi_obvo.config import settings_from_mapping
from vopi_obvo.errors import ConfigError
from vopi_obvo.portal import codes, forms, texts, tokens, webhook
from vopi_obvo.portal.settings import portal_config
from vopi_obvo.portal.store import Subscription
from vopi_obvo.rules import EventKind, EventsLevel, Subscriber, recipients
from vopi_obvo.web.certificates import CertificateRefused, TrustedIssuers, decode_header
from vopi_obvo.web.proxy import parse_listen


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_header_forms_of_nginx_apache_and_bare_base64_all_decode(pki: Pki) -> None:
    pem = pki.ca.issue()
    body = "".join(pem.strip().splitlines()[1:-1])
    for header in (nginx_header(pem), pem.strip().replace("\n", " "), body):
        assert decode_header(header).subject == decode_header(pem).subject
    for junk in (
        "",
        "(null)x",
        "%%%",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
    ):
        with pytest.raises(ValueError, match=r"certificate|empty|PEM"):
            decode_header(junk)
    with pytest.raises(ValueError, match="too long"):
        decode_header("A" * 20_000)


def test_identity_is_issuer_and_serial_and_refusals_are_named(pki: Pki) -> None:
    issuers = TrustedIssuers([pki.ca.cert], "portal")
    identity = issuers.identify(
        nginx_header(pki.ca.issue(serial="X1", tax_number="12345678")), NOW, TAX_NUMBER_OID
    )
    assert (identity.serial, identity.name, identity.tax_number) == (
        "X1",
        "Janez Novak",
        "12345678",
    )
    assert identity.issuer == pki.ca.name.rfc4514_string()
    cases = {
        "unknown_issuer": pki.rogue.issue(),
        "expired": pki.ca.issue(
            not_after=NOW - dt.timedelta(seconds=1), not_before=NOW - dt.timedelta(days=9)
        ),
        "not_yet_valid": pki.ca.issue(not_before=NOW + dt.timedelta(hours=1)),
        "no_serial": pki.ca.issue(serial=None),
    }
    for reason, pem in cases.items():
        with pytest.raises(CertificateRefused) as refused:
            issuers.identify(nginx_header(pem), NOW)
        assert refused.value.reason == reason
    with pytest.raises(CertificateRefused) as forged:  # the CA's name, another key
        issuers.identify(pki.impostor.issue(), NOW)
    assert forged.value.reason == "unknown_issuer"


def test_codes_check_expiry_attempts_and_typing_slack() -> None:
    code = codes.new_code()
    assert len(code) == 6 and set(code) <= set(string.digits)
    stored = codes.StoredCode(
        id=1,
        identity_id=7,
        purpose=codes.Purpose.PHONE,
        target="+38640222333",
        code_hash=codes.code_hash("k" * 32, 7, codes.Purpose.PHONE, "123456"),
        attempts=0,
        expires_at=NOW + dt.timedelta(minutes=5),
    )
    check = codes.check_code
    assert check(stored, "123 456", "k" * 32, NOW, 5) is codes.Check.OK
    assert check(stored, "123457", "k" * 32, NOW, 5) is codes.Check.WRONG
    assert check(stored, "12345", "k" * 32, NOW, 5) is codes.Check.WRONG
    assert check(stored, "123456", "other-secret" * 3, NOW, 5) is codes.Check.WRONG
    assert (
        check(stored, "123456", "k" * 32, NOW + dt.timedelta(minutes=6), 5) is codes.Check.EXPIRED
    )
    locked = codes.StoredCode(**{**stored.__dict__, "attempts": 5})
    assert check(locked, "123456", "k" * 32, NOW, 5) is codes.Check.LOCKED
    # Bound to the identity: the same code for someone else does not match.
    assert codes.code_hash("k" * 32, 8, codes.Purpose.PHONE, "123456") != stored.code_hash


SUB = Subscription(
    id=1,
    party_id="5",
    email="a@b.si",
    phone="+38641123456",
    events="all",
    language="sl",
    origin=None,
    consent_at=None,
)
FORM = {
    "email_on": "on",
    "email": "a@b.si",
    "sms_on": "on",
    "phone": "041 123 456",
    "events": "all",
    "language": "sl",
}


def test_settings_plan_keeps_new_contacts_waiting_for_codes() -> None:
    plan, errors = forms.plan_settings(FORM | {"phone": "040 222 333", "events": "key"}, SUB)
    assert errors == {}
    assert plan is not None
    assert (plan.phone, plan.confirm_phone, plan.events) == ("+38641123456", "+38640222333", "key")
    assert plan.confirm_email is None
    off, _ = forms.plan_settings(FORM | {"sms_on": "", "email_key_only": "on"}, SUB)
    assert off is not None and off.phone is None and off.key_only_channels == ("email",)
    swap, _ = forms.plan_settings(
        FORM | {"email": "new@b.si", "sms_on": ""}, Subscription(**{**SUB.__dict__, "email": None})
    )
    assert swap is not None
    assert (swap.email, swap.phone, swap.drop_after_confirm) == (None, "+38641123456", "sms")


@pytest.mark.parametrize(
    ("change", "field", "key"),
    [
        ({"email_on": "", "sms_on": ""}, "channels", "err_no_channel"),
        ({"email": ""}, "email", "err_email_required"),
        ({"email": "x@"}, "email", "err_email_invalid"),
        ({"phone": "01 123 45 67"}, "phone", "err_phone_invalid"),
        ({"events": "most"}, "events", "err_level"),
        ({"language": "de"}, "language", "err_language"),
    ],
)
def test_settings_errors_name_the_field(change: dict[str, str], field: str, key: str) -> None:
    plan, errors = forms.plan_settings(FORM | change, SUB)
    assert plan is None
    assert errors[field] == key


def test_subscribe_needs_consent_and_a_channel() -> None:
    plan, errors = forms.plan_subscribe({"phone": "041 123 456", "events": "key", "language": "it"})
    assert plan is None and errors == {"consent": "err_consent"}
    plan, errors = forms.plan_subscribe({"events": "all", "language": "sl", "consent": "on"})
    assert errors == {"channels": "err_no_channel"}
    plan, _ = forms.plan_subscribe(
        {"email": "A@B.si", "events": "all", "language": "sl", "consent": "on"}
    )
    assert plan == forms.SubscribePlan("A@b.si", None, "all", "sl")


def test_both_languages_have_every_text_with_the_same_placeholders() -> None:
    formatter = string.Formatter()
    sl, it = texts.TEXTS["sl"], texts.TEXTS["it"]
    assert set(sl) == set(it)
    for key in sl:
        names = {f[1] for f in formatter.parse(sl[key]) if f[1]}
        assert names == {f[1] for f in formatter.parse(it[key]) if f[1]}, key
    assert texts.from_accept_language("de-AT, it;q=0.8, sl;q=0.9") == "sl"
    assert texts.from_accept_language("it-IT,en;q=0.5") == "it"
    assert texts.pick_language(None, "xx", None) == "sl"


def test_api_token_lines_and_lookup() -> None:
    token = tokens.new_token()
    clients, problems = tokens.parse_entries([tokens.config_line("koper", token), "bad entry"])
    assert problems == [
        "[portal] api_tokens entry 2 must look like 'client-name:sha256:<64 hex "
        "digits>' (see `obvo portal token`)"
    ]
    assert tokens.client_for(token, clients) == "koper"
    assert tokens.client_for(token + "x", clients) is None


def test_delivery_report_parsing_and_transitions() -> None:
    report = webhook.parse_report({"reference": "12", "status": "DELIVRD"})
    assert webhook.final_status(report) == "delivered"
    assert webhook.final_status(webhook.parse_report({"id": "g", "status": "buffered"})) is None
    for bad in (
        {"status": "delivered"},
        {"reference": "x", "status": "delivered"},
        {"reference": 1},
        {"reference": 1, "status": "lost"},
    ):
        with pytest.raises(webhook.BadReport):
            webhook.parse_report(bad)
    assert webhook.next_status("sent", "delivered") == "delivered"
    assert webhook.next_status("undelivered", "delivered") == "delivered"
    assert webhook.next_status("delivered", "undelivered") is None
    assert webhook.next_status("delivered", "delivered") is None
    assert webhook.next_status("sent", "undelivered") == "undelivered"
    assert webhook.next_status("cancelled", "delivered") is None


def test_portal_settings_problems_are_all_named(tmp_path: Path) -> None:
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["database"]["url"] = "postgresql://x@localhost/y"
    raw["portal"] = {
        "listen": "x",
        "public_url": "ftp://a",
        "trusted_proxies": ["nope"],
        "client_cert_header": "bad header",
        "tax_number_oid": "tax",
        "ca_files": [str(tmp_path / "missing.pem")],
        "code_ttl": 0,
    }
    with pytest.raises(ConfigError) as problems:
        portal_config(settings_from_mapping(raw, {}))
    for key in (
        "listen",
        "public_url",
        "trusted_proxies",
        "client_cert_header",
        "tax_number_oid",
        "ca_files: cannot read",
        "session_secret",
        "code_ttl",
    ):
        assert f"[portal] {key}" in str(problems.value)
    assert parse_listen("[::1]:8080") == ("::1", 8080)
    assert parse_listen(":9000") == ("0.0.0.0", 9000)  # noqa: S104


def test_list_unsubscribe_keeps_key_events_on_that_channel() -> None:
    sub = Subscriber(
        1, "5", "a@b.si", "+38641123456", EventsLevel.ALL, key_only_channels=frozenset({"email"})
    )
    assert [r.channel for r in recipients(EventKind.NOTIFY, [sub])] == ["sms"]
    assert [r.channel for r in recipients(EventKind.KEY, [sub])] == ["email", "sms"]
