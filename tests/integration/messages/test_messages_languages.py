"""Each subscriber hears in their language (it, hu, en), others in Slovenian, end to end."""

from __future__ import annotations

import psycopg

from tests.integration.messages_helpers import rows, rules_document, run_once
from tests.integration.test_pipeline import apply_rules, subscribe
from tests.support import SmsGateway, SmtpServer, Vopi
from vopi_obvo.config import Settings


def test_four_languages_and_the_fallback(
    vopi: Vopi, settings: Settings, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    document = rules_document()
    klas = next(e for e in document["event_types"] if e["code"] == "KLAS")
    klas["templates"]["hu"] = {
        "email_subject": "A {{ event.case_number }} kérelem besorolást kapott",
        "email_body": "Tisztelt Ügyfél! Besorolás: {{ event.classification_code }}.",
        "sms": "Kérelem {{ event.case_number }}: besorolás {{ event.classification_code }}.",
    }
    klas["templates"]["en"] = {
        "email_subject": "Application {{ event.case_number }} classified",
        "email_body": "Dear citizen, classification {{ event.classification_code }}.",
        "sms": "Application {{ event.case_number }}: class {{ event.classification_code }}.",
    }
    apply_rules(settings, document)
    parties = {lang: vopi.party() for lang in ("sl", "it", "hu", "en", "de")}
    app = vopi.application(*parties.values())
    for number, (lang, party) in enumerate(parties.items()):
        subscribe(
            settings,
            party,
            email=f"{lang}@example.si",
            phone=f"+3864100000{number}",
            language=lang,
        )
    vopi.event("KLAS", app)
    run_once(settings)

    case = f"354-{app}/2026"
    subjects = {m.recipients[0]: m.subject for m in smtp_server.messages}
    assert subjects == {
        "sl@example.si": f"Vaša vloga {case} je uvrščena v obravnavo",
        "it@example.si": f"La sua domanda {case} è stata classificata",
        "hu@example.si": f"A {case} kérelem besorolást kapott",
        "en@example.si": f"Application {case} classified",
        "de@example.si": f"Vaša vloga {case} je uvrščena v obravnavo",  # Slovenian fallback
    }
    texts = {m.payload["to"][-1]: m.payload["text"] for m in sms_gateway.messages}
    assert texts == {
        "0": f"Vloga {case}: klasifikacija 354-1.",
        "1": f"Domanda {case}: classificazione 354-1.",
        "2": f"Kérelem {case}: besorolás 354-1.",
        "3": f"Application {case}: class 354-1.",
        "4": f"Vloga {case}: klasifikacija 354-1.",
    }
    # Hungarian é/á are not in GSM-7: UCS-2, and that is what is stored and billed.
    encodings = {r["recipient"][-1]: r["sms_encoding"] for r in _sms_rows(settings)}
    assert encodings == {"0": "gsm7", "1": "gsm7", "2": "ucs2", "3": "gsm7", "4": "gsm7"}


def _sms_rows(settings: Settings) -> list[dict[str, str]]:
    with psycopg.connect(settings.database.url) as conn:
        cur = conn.execute(
            "SELECT recipient, sms_encoding FROM obvo.notifications WHERE channel = 'sms'"
        )
        return [{"recipient": r[0], "sms_encoding": r[1]} for r in cur.fetchall()]


def test_languages_are_stored_on_the_notification(
    vopi: Vopi, settings: Settings, smtp_server: SmtpServer
) -> None:
    apply_rules(settings)
    party = vopi.party()
    subscribe(settings, party, email="it@example.si", language="it")
    vopi.event("VLOZ", vopi.application(party))
    run_once(settings)
    [row] = rows(settings)
    assert row["subject"].startswith("Abbiamo ricevuto la sua domanda")
    [mail] = smtp_server.messages
    assert mail.subject == row["subject"]
