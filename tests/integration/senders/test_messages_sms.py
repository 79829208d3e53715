"""SMS text policy end to end: encoding and segments stored, transliteration, shortening."""

from __future__ import annotations

from collections.abc import Callable

from tests.integration.messages_helpers import citizen, rows, rules_document, run_once
from tests.support import SmsGateway, SmtpServer, Vopi
from vopi_obvo.config import Settings
from vopi_obvo.messages.sms_encoding import analyse

SLOVENIAN_SMS = "Vloga {{ event.case_number }}: izdana je odločba, vročena bo po pošti."


def test_encoding_and_segments_are_stored_for_every_sms(
    vopi: Vopi,
    settings: Settings,
    sms_gateway: SmsGateway,
    smtp_server: SmtpServer,
) -> None:
    who = citizen(vopi, settings, document=rules_document(ODLOC=SLOVENIAN_SMS))
    vopi.event("ODLOC", who["application"])  # č, š: UCS-2
    vopi.event("KLAS", who["application"])  # plain ASCII: GSM-7
    run_once(settings)

    sms_rows = rows(settings, "channel = 'sms'")
    assert [
        (r["event_type"], r["status"], r["sms_encoding"], r["sms_segments"]) for r in sms_rows
    ] == [
        ("ODLOC", "sent", "ucs2", 1),
        ("KLAS", "sent", "gsm7", 1),
    ]
    texts = [m.payload["text"] for m in sms_gateway.messages]
    assert texts[0] == (
        f"Vloga 354-{who['application']}/2026: izdana je odločba, vročena bo po pošti."
    )
    assert [r["body"] for r in sms_rows] == texts  # the stored text is the text sent
    email_rows = rows(settings, "channel = 'email'")
    assert len(email_rows) == 2
    assert all(r["sms_encoding"] is None and r["sms_segments"] is None for r in email_rows)
    assert len(smtp_server.messages) == 2


def test_transliteration_keeps_slovenian_sms_in_gsm7(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    sms_gateway: SmsGateway,
) -> None:
    settings = make_settings(sms__transliterate=True)
    who = citizen(vopi, settings, email=None, document=rules_document(ODLOC=SLOVENIAN_SMS))
    vopi.event("ODLOC", who["application"])
    run_once(settings)
    [sms] = sms_gateway.messages
    assert sms.payload["text"] == (
        f"Vloga 354-{who['application']}/2026: izdana je odlocba, vrocena bo po posti."
    )
    [row] = rows(settings)
    assert (row["sms_encoding"], row["sms_segments"]) == ("gsm7", 1)
    assert row["body"] == sms.payload["text"]


def test_a_long_sms_is_shortened_to_max_segments(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    sms_gateway: SmsGateway,
) -> None:
    settings = make_settings(sms__max_segments=2)
    long_sms = (
        "Vloga {{ event.case_number }}: "
        + "o vaši vlogi je referent {{ event.clerk_name }} zapisal zaznamek; " * 8
    )
    who = citizen(vopi, settings, email=None, document=rules_document(DODELJ=long_sms))
    vopi.event("DODELJ", who["application"])
    run_once(settings)
    [sms] = sms_gateway.messages
    text = sms.payload["text"]
    assert text.endswith("…")
    assert analyse(text).segments == 2
    assert text.startswith(f"Vloga 354-{who['application']}/2026: o vaši vlogi je referent")
    [row] = rows(settings)
    assert (row["status"], row["sms_encoding"], row["sms_segments"]) == ("sent", "ucs2", 2)
    assert row["body"] == text
