"""Settings, confirmation codes (expiry, attempts, hourly limit), subscribe (e-vloga),
unsubscribe and the List-Unsubscribe target, over HTTP on the running portal."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import psycopg
import pytest

from tests.integration.test_pipeline import subscribe
from tests.portal_support import (
    Browser,
    Pki,
    PortalServer,
    audit_actions,
    link,
    portal_overrides,
    rows,
    running_portal,
)
from tests.support import SmsGateway, SmtpServer, Vopi
from vopi_obvo.config import Settings
from vopi_obvo.messages import unsubscribe

SETTINGS_FORM = {
    "email_on": "on",
    "email": "janez@example.si",
    "sms_on": "on",
    "phone": "+38641123456",
    "events": "all",
    "language": "sl",
}


@pytest.fixture
def janez(
    portal: PortalServer, portal_settings: Settings, pki: Pki, vopi: Vopi, janez_pem: str
) -> Iterator[tuple[Browser, int, int]]:
    """Janez, linked and subscribed by e-mail and SMS; (browser, party, subscriber id)."""
    party = vopi.party()
    sub = subscribe(portal_settings, party, email="janez@example.si", phone="+38641123456")
    link(portal_settings, pki, "PNO-1001", party)
    yield Browser(portal, janez_pem), party, sub


def subscriber(settings: Settings) -> tuple[object, ...]:
    [row] = rows(
        settings,
        "SELECT email, phone, events, language, key_only_channels, origin FROM obvo.subscribers",
    )
    return row


def last_code(text: str) -> str:
    found = re.findall(r"\b(\d{6})\b", text)
    assert found, text
    return str(found[-1])


def test_level_and_language_change_at_once(
    janez: tuple[Browser, int, int], portal_settings: Settings
) -> None:
    browser, _, _ = janez
    page = browser.get("/nastavitve")
    assert page.status_code == 200
    assert 'for="events_key"' in page.text  # every input has its label
    saved = browser.post("/nastavitve", SETTINGS_FORM | {"events": "key", "language": "it"})
    assert saved.status_code == 303
    assert saved.headers["location"] == "/obvestila?ok=saved"
    assert subscriber(portal_settings)[2:4] == ("key", "it")
    assert ("settings.changed", "ok") in audit_actions(portal_settings)


def test_a_new_phone_number_takes_effect_only_with_its_code(
    janez: tuple[Browser, int, int], portal_settings: Settings, sms_gateway: SmsGateway
) -> None:
    browser, _, _ = janez
    saved = browser.post("/nastavitve", SETTINGS_FORM | {"phone": "040 222 333"})
    assert saved.headers["location"] == "/potrditev"
    assert subscriber(portal_settings)[1] == "+38641123456"  # not yet
    [sms] = sms_gateway.messages
    assert sms.payload["to"] == "+38640222333"
    assert int(sms.payload["reference"]) < 0  # a code, never mistaken for a notification
    home = browser.get("/obvestila")
    assert "+38640222333" in home.text and "začne veljati" in home.text
    confirmed = browser.post(
        "/potrditev", {"purpose": "phone", "code": last_code(sms.payload["text"])}
    )
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "/obvestila?ok=phone"
    assert subscriber(portal_settings)[1] == "+38640222333"
    assert "Mobilna številka je potrjena." in browser.get("/obvestila?ok=phone").text
    assert ("confirm.phone", "ok") in audit_actions(portal_settings)


def test_a_new_email_gets_its_code_by_email(
    janez: tuple[Browser, int, int], portal_settings: Settings, smtp_server: SmtpServer
) -> None:
    browser, _, _ = janez
    browser.post("/nastavitve", SETTINGS_FORM | {"email": "Novak.J@Example.si"})
    [mail] = smtp_server.messages
    assert mail.recipients == ["Novak.J@example.si"]
    assert "List-Unsubscribe" not in mail.message
    code = last_code(mail.body)
    assert browser.post("/potrditev", {"purpose": "email", "code": code}).status_code == 303
    assert subscriber(portal_settings)[0] == "Novak.J@example.si"


def test_wrong_codes_are_limited_and_then_the_code_is_void(
    janez: tuple[Browser, int, int], portal_settings: Settings, sms_gateway: SmsGateway
) -> None:
    browser, _, _ = janez
    browser.post("/nastavitve", SETTINGS_FORM | {"phone": "040 222 333"})
    code = last_code(sms_gateway.messages[0].payload["text"])
    wrong = "111111" if code != "111111" else "222222"
    for left in (4, 3, 2, 1):
        answer = browser.post("/potrditev", {"purpose": "phone", "code": wrong})
        assert answer.status_code == 400
        assert f"Preostali poskusi: {left}." in answer.text
    locked = browser.post("/potrditev", {"purpose": "phone", "code": wrong})
    assert "Preveč napačnih poskusov" in locked.text
    # Even the right code does not work any more.
    late = browser.post("/potrditev", {"purpose": "phone", "code": code})
    assert late.status_code == 400
    assert subscriber(portal_settings)[1] == "+38641123456"
    assert rows(portal_settings, "SELECT attempts, outcome FROM obvo.portal_codes") == [
        (5, "too_many_attempts")
    ]


def test_an_expired_code_is_refused_and_a_new_one_can_be_sent(
    janez: tuple[Browser, int, int], portal_settings: Settings, sms_gateway: SmsGateway
) -> None:
    browser, _, _ = janez
    browser.post("/nastavitve", SETTINGS_FORM | {"phone": "040 222 333"})
    code = last_code(sms_gateway.messages[0].payload["text"])
    with psycopg.connect(portal_settings.database.url, autocommit=True) as conn:
        conn.execute("UPDATE obvo.portal_codes SET expires_at = now() - interval '1 second'")
    expired = browser.post("/potrditev", {"purpose": "phone", "code": code})
    assert expired.status_code == 400
    assert "Koda je potekla" in expired.text
    resent = browser.post("/potrditev/nova", {"purpose": "phone"}, token_from="/potrditev")
    assert resent.status_code == 303
    new_code = last_code(sms_gateway.messages[1].payload["text"])
    assert browser.post("/potrditev", {"purpose": "phone", "code": new_code}).status_code == 303
    assert subscriber(portal_settings)[1] == "+38640222333"


def test_codes_per_hour_are_limited(
    make_settings: Callable[..., Settings],
    pki: Pki,
    vopi: Vopi,
    janez_pem: str,
    sms_gateway: SmsGateway,
) -> None:
    settings = make_settings(**portal_overrides(pki, portal__codes_per_hour=2))
    party = vopi.party()
    subscribe(settings, party, phone="+38641123456")
    link(settings, pki, "PNO-1001", party)
    with running_portal(settings) as server:
        browser = Browser(server, janez_pem)
        form = SETTINGS_FORM | {"email_on": "", "email": ""}
        for number in ("040 222 333", "040 222 334"):
            assert browser.post("/nastavitve", form | {"phone": number}).status_code == 303
        refused = browser.post("/nastavitve", form | {"phone": "040 222 335"})
        assert refused.status_code == 429
        assert "že 2 kod" in refused.text
    assert len(sms_gateway.messages) == 2
    assert ("code.phone", "refused") in audit_actions(settings)


def test_invalid_settings_name_the_field_and_change_nothing(
    janez: tuple[Browser, int, int], portal_settings: Settings
) -> None:
    browser, _, _ = janez
    before = subscriber(portal_settings)
    bad_phone = browser.post("/nastavitve", SETTINGS_FORM | {"phone": "041 ABC", "events": "key"})
    assert bad_phone.status_code == 400
    assert 'aria-invalid="true"' in bad_phone.text
    assert "ni veljavna mobilna številka" in bad_phone.text
    nothing = browser.post("/nastavitve", SETTINGS_FORM | {"email_on": "", "sms_on": ""})
    assert "Izberite vsaj en kanal" in nothing.text
    bad_level = browser.post("/nastavitve", SETTINGS_FORM | {"events": "some"})
    assert bad_level.status_code == 400
    assert subscriber(portal_settings) == before


def test_switching_from_sms_to_a_new_email_keeps_sms_until_confirmed(
    janez: tuple[Browser, int, int], portal_settings: Settings, smtp_server: SmtpServer
) -> None:
    browser, _, _ = janez
    with psycopg.connect(portal_settings.database.url, autocommit=True) as conn:
        conn.execute("UPDATE obvo.subscribers SET email = NULL")
    browser.post(
        "/nastavitve",
        SETTINGS_FORM | {"email": "ana@example.si", "sms_on": "", "phone": ""},
    )
    assert subscriber(portal_settings)[:2] == (None, "+38641123456")
    code = last_code(smtp_server.messages[0].body)
    browser.post("/potrditev", {"purpose": "email", "code": code})
    assert subscriber(portal_settings)[:2] == ("ana@example.si", None)


def test_subscribe_through_e_vloga_records_origin_and_consent(
    portal: PortalServer,
    portal_settings: Settings,
    pki: Pki,
    vopi: Vopi,
    janez_pem: str,
    sms_gateway: SmsGateway,
) -> None:
    party = vopi.party()
    link(portal_settings, pki, "PNO-1001", party)
    browser = Browser(portal, janez_pem)
    assert browser.get("/obvestila").text.count("/narocilo") >= 1
    form = browser.get("/narocilo")
    assert "Soglašam, da občina" in form.text
    data = {"phone": "041 123 456", "events": "key", "language": "sl"}
    refused = browser.post("/narocilo", data)
    assert refused.status_code == 400
    assert "potrebujemo vaše soglasje" in refused.text
    assert sms_gateway.messages == []
    accepted = browser.post("/narocilo", data | {"consent": "on"})
    assert accepted.headers["location"] == "/potrditev"
    assert rows(portal_settings, "SELECT count(*) FROM obvo.subscribers") == [(0,)]
    code = last_code(sms_gateway.messages[0].payload["text"])
    assert browser.post("/potrditev", {"purpose": "phone", "code": code}).status_code == 303
    [(phone, events, origin, consent_at)] = rows(
        portal_settings, "SELECT phone, events, origin, consent_at FROM obvo.subscribers"
    )
    assert (phone, events, origin) == ("+38641123456", "key", "e_vloga")
    assert consent_at is not None
    assert ("subscribe.requested", "ok") in audit_actions(portal_settings)


def test_unsubscribe_key_only_then_everything(
    janez: tuple[Browser, int, int], portal_settings: Settings
) -> None:
    browser, _, _ = janez
    page = browser.get("/odjava")
    assert "Ključnih dogodkov" in page.text
    assert browser.post("/odjava", {"what": "key"}).status_code == 303
    assert subscriber(portal_settings)[2] == "key"
    gone = browser.post("/odjava", {"what": "all"})
    assert "Odjavljeni ste od vseh obvestil" in gone.text
    assert rows(portal_settings, "SELECT count(*) FROM obvo.subscribers") == [(0,)]
    assert ("unsubscribe.all", "ok") in audit_actions(portal_settings)


def test_list_unsubscribe_turns_off_non_key_email_only(
    janez: tuple[Browser, int, int], portal: PortalServer, portal_settings: Settings
) -> None:
    _, _, sub = janez
    with psycopg.connect(portal_settings.database.url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO obvo.notifications (source_event_id, subscriber_id, channel, event_type,"
            " event_kind, language, recipient, subject, body, status)"
            " VALUES (1, %s, 'email', 'DODELJ', 'notify', 'sl', 'janez@example.si', 'S', 'B',"
            " 'sent') RETURNING id",
            (sub,),
        ).fetchone()
    assert row is not None
    token = unsubscribe.sign(sub, int(row[0]), "u" * 40)
    with portal.client() as http:
        page = http.get(f"/odjava/{token}")
        assert page.status_code == 200
        assert "ključnih" in page.text.lower()
        # RFC 8058 one-click, as a mail provider sends it: no cookie, no certificate.
        done = http.post(f"/odjava/{token}", data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        again = http.post(f"/odjava/{token}", data={"List-Unsubscribe": "One-Click"})
        assert again.status_code == 200
        forged = http.post(f"/odjava/{token[:-2]}AA", data={"List-Unsubscribe": "One-Click"})
        assert forged.status_code == 404
    assert subscriber(portal_settings)[2:5] == ("all", "sl", ["email"])
    assert audit_actions(portal_settings).count(("list_unsubscribe", "ok")) == 2


def test_sign_in_is_rate_limited(
    make_settings: Callable[..., Settings], pki: Pki, janez_pem: str
) -> None:
    settings = make_settings(**portal_overrides(pki, portal__rate_limit=3))
    with running_portal(settings) as server:
        statuses = []
        for _ in range(4):
            with Browser(server, janez_pem).http as http:  # a fresh browser: a new sign-in
                statuses.append(http.get("/povezava").status_code)
    assert statuses == [200, 200, 200, 429]


def test_sign_out_ends_the_session(
    janez: tuple[Browser, int, int], portal_settings: Settings
) -> None:
    browser, _, _ = janez
    browser.get("/obvestila")
    out = browser.post("/izpis", {}, token_from="/obvestila")
    assert out.status_code == 200
    assert "Izpisani ste" in out.text
    assert rows(portal_settings, "SELECT count(*) FROM obvo.portal_sessions") == [(0,)]
