"""Templates per language (sl, it, hu, en) with the Slovenian fallback, and the rule that every
notify/key type has Slovenian texts."""

from __future__ import annotations

import datetime as dt
import tomllib
from typing import Any

import pytest

from tests.support import EXAMPLE_RULES
from vopi_obvo.errors import RulesError, TemplateError
from vopi_obvo.rules import (
    Channel,
    EventKind,
    EventsLevel,
    EventTypeRule,
    Subscriber,
    parse_rules_document,
    render_message,
)

TEXTS = {
    "sl": ("Vloga {{ event.case_number }} je prejeta", "Vloga je prejeta.", "Vloga prejeta."),
    "it": ("Domanda {{ event.case_number }} ricevuta", "La domanda è ricevuta.", "Domanda."),
    "hu": ("A {{ event.case_number }} kérelem beérkezett", "A kérelem beérkezett.", "Kérelem."),
    "en": ("Application {{ event.case_number }} received", "It is received.", "Received."),
}


def templates(*languages: str) -> dict[str, Any]:
    return {
        lang: dict(zip(("email_subject", "email_body", "sms"), TEXTS[lang], strict=True))
        for lang in languages
    }


def rule(kind: str = "notify", *languages: str) -> EventTypeRule:
    doc = {
        "event_types": [
            {"code": "VLOZ", "name": "Vložena", "kind": kind, "templates": templates(*languages)}
        ]
    }
    return parse_rules_document(doc).rules["VLOZ"]


def subscriber(language: str) -> Subscriber:
    return Subscriber(7, "42", "a@example.si", "+38641123456", EventsLevel.ALL, language)


EVENT = {"event_id": 1, "event_type": "VLOZ", "case_id": "5", "case_number": "354-5/2026"}


@pytest.mark.parametrize(
    ("language", "subject", "sms"),
    [
        ("sl", "Vloga 354-5/2026 je prejeta", "Vloga prejeta."),
        ("it", "Domanda 354-5/2026 ricevuta", "Domanda."),
        ("hu", "A 354-5/2026 kérelem beérkezett", "Kérelem."),
        ("en", "Application 354-5/2026 received", "Received."),
        ("de", "Vloga 354-5/2026 je prejeta", "Vloga prejeta."),  # no German: Slovenian
        ("hr", "Vloga 354-5/2026 je prejeta", "Vloga prejeta."),
    ],
)
def test_the_subscribers_language_falling_back_to_slovenian(
    language: str, subject: str, sms: str
) -> None:
    full = rule("notify", "sl", "it", "hu", "en")
    email = render_message(full, Channel.EMAIL, subscriber(language), EVENT)
    assert email.subject == subject
    assert render_message(full, Channel.SMS, subscriber(language), EVENT).body == sms


def test_only_slovenian_every_language_gets_slovenian() -> None:
    only_sl = rule("key", "sl")
    for language in ("it", "hu", "en"):
        rendered = render_message(only_sl, Channel.SMS, subscriber(language), EVENT)
        assert rendered.body == "Vloga prejeta."


@pytest.mark.parametrize("kind", ["notify", "key"])
@pytest.mark.parametrize("languages", [("it",), ("it", "hu", "en"), ()])
def test_notify_and_key_types_need_slovenian(kind: str, languages: tuple[str, ...]) -> None:
    with pytest.raises(RulesError) as caught:
        rule(kind, *languages)
    assert (
        f"event type VLOZ: kind {kind} needs Slovenian templates "
        "([event_types.templates.sl] with email_subject, email_body, sms)"
    ) in caught.value.messages


def test_internal_types_need_no_templates() -> None:
    assert rule("internal").kind is EventKind.INTERNAL


def test_a_language_missing_a_part_is_named() -> None:
    doc = {
        "event_types": [
            {
                "code": "VLOZ",
                "kind": "notify",
                "templates": {**templates("sl"), "hu": {"email_subject": "x", "email_body": "y"}},
            }
        ]
    }
    with pytest.raises(RulesError) as caught:
        parse_rules_document(doc)
    assert caught.value.messages == ["event type VLOZ, language 'hu': missing template 'sms'"]


@pytest.mark.parametrize("language", ["SL", "slo", "s", "e1"])
def test_a_language_code_is_two_lower_case_letters(language: str) -> None:
    doc = {
        "event_types": [
            {"code": "VLOZ", "kind": "notify", "templates": {**templates("sl"), language: {}}}
        ]
    }
    with pytest.raises(RulesError) as caught:
        parse_rules_document(doc)
    assert (
        f"event type VLOZ, language {language!r}: a language is a two-letter"
        in (caught.value.messages[0])
    )


def test_a_row_without_slovenian_fails_only_its_own_notifications() -> None:
    # Rows edited in SQL are loaded leniently; rendering then names the missing fallback.
    broken = EventTypeRule("VLOZ", EventKind.NOTIFY, "", {})
    with pytest.raises(TemplateError, match="has no Slovenian templates"):
        render_message(broken, Channel.SMS, subscriber("it"), EVENT)


def test_the_example_rules_are_bilingual_slovenian_and_italian() -> None:
    example = parse_rules_document(tomllib.loads(EXAMPLE_RULES.read_text(encoding="utf-8")))
    with_italian = [c for c, r in example.rules.items() if "it" in r.templates]
    assert with_italian  # Koper and Piran: Slovenian and Italian
    for code in with_italian:
        italian = render_message(
            example.rules[code],
            Channel.EMAIL,
            subscriber("it"),
            {
                **EVENT,
                "case_subject": "Gradnja",
                "occurred_at": dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC),
                "classification_code": "1",
                "clerk_name": "Žana Čuk",
            },
        )
        assert italian.body.startswith("Gentili,")
        assert "4. 5. 2026 12:00" in italian.body or code != "VLOZ"
    for code, rule_ in example.rules.items():
        if rule_.kind is not EventKind.INTERNAL:
            assert "sl" in rule_.templates, code
