"""The SMS text policy (transliterate, max_segments), `rules apply` length warnings, and the
[sms]/[delivery] settings of issue 3."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import EXAMPLE_CONFIG, EXAMPLE_RULES
from vopi_obvo.config import Settings, settings_from_mapping
from vopi_obvo.errors import ConfigError
from vopi_obvo.messages.sms_encoding import SmsEncoding, analyse, is_gsm7
from vopi_obvo.messages.sms_text import PreparedSms, SmsPolicy, prepare_sms
from vopi_obvo.messages.sms_warnings import sms_length_warnings
from vopi_obvo.rules import parse_rules_document

SLOVENIAN = "Vloga 354-12/2026: odločba je izdana, vročena bo po pošti. Referentka Žana Čuk."


def test_plain_gsm_text_is_unchanged_and_costs_one_part() -> None:
    prepared = prepare_sms("Vloga 354-12/2026: klasifikacija 354-1.", SmsPolicy())
    assert prepared == PreparedSms(
        text="Vloga 354-12/2026: klasifikacija 354-1.",
        encoding=SmsEncoding.GSM7,
        segments=1,
        original_segments=1,
        transliterated=False,
        shortened=False,
    )


def test_slovenian_letters_make_ucs2_unless_transliterated() -> None:
    kept = prepare_sms(SLOVENIAN, SmsPolicy(transliterate=False))
    assert kept.text == SLOVENIAN
    assert kept.encoding is SmsEncoding.UCS2
    assert kept.segments == 2  # 81 characters > 70
    rewritten = prepare_sms(SLOVENIAN, SmsPolicy(transliterate=True))
    assert rewritten.text == (
        "Vloga 354-12/2026: odlocba je izdana, vrocena bo po posti. Referentka Zana Cuk."
    )
    assert rewritten.encoding is SmsEncoding.GSM7
    assert rewritten.segments == 1
    assert rewritten.original_segments == 2
    assert rewritten.transliterated


def test_dj_and_typographic_marks_are_transliterated_without_loss() -> None:
    prepared = prepare_sms(
        "Đurđa \N{EN DASH} \N{DOUBLE LOW-9 QUOTATION MARK}hitro\N{LEFT DOUBLE QUOTATION MARK} "
        "\N{HORIZONTAL ELLIPSIS} ĐURĐA",
        SmsPolicy(transliterate=True),
    )
    assert prepared.text == 'Djurdja - "hitro" ... DJURDJA'
    assert prepared.encoding is SmsEncoding.GSM7


def test_a_long_text_is_shortened_at_a_word_boundary_with_an_ellipsis() -> None:
    words = " ".join(f"beseda{i}" for i in range(200))  # ~1,600 GSM characters
    prepared = prepare_sms(words, SmsPolicy(max_segments=2))
    assert prepared.shortened
    assert prepared.segments == 2
    assert prepared.text.endswith("...")  # GSM-7 text: the ellipsis stays GSM-7
    stem = prepared.text.removesuffix("...")
    assert words.startswith(stem)
    assert words[len(stem)] == " "  # cut before a space, never inside a word
    assert len(prepared.text) <= 2 * 153


def test_a_ucs2_text_is_shortened_with_the_unicode_ellipsis() -> None:
    text = " ".join(["čebela"] * 100)
    prepared = prepare_sms(text, SmsPolicy(max_segments=1))
    assert prepared.encoding is SmsEncoding.UCS2
    assert prepared.segments == 1
    assert prepared.text.endswith("…")
    assert len(prepared.text) <= 70


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(max_size=1200),
    max_segments=st.integers(min_value=1, max_value=6),
    translit=st.booleans(),
)
def test_prepared_text_never_exceeds_the_limit_and_reports_its_cost(
    text: str, max_segments: int, translit: bool
) -> None:
    prepared = prepare_sms(text, SmsPolicy(transliterate=translit, max_segments=max_segments))
    info = analyse(prepared.text)
    assert prepared.segments == info.segments <= max_segments
    assert prepared.encoding is info.encoding
    if translit:
        assert is_gsm7(prepared.text)
    if not prepared.shortened and not prepared.transliterated:
        assert prepared.text == text


# ---- rules apply: length warnings ----


def _rules(sms: str, kind: str = "key", language: str = "sl") -> Any:
    templates = {"sl": {"email_subject": "S", "email_body": "B", "sms": sms}}
    if language != "sl":
        templates[language] = {"email_subject": "S", "email_body": "B", "sms": sms}
    return parse_rules_document(
        {"event_types": [{"code": "KLAS", "name": "Klas", "kind": kind, "templates": templates}]}
    )


def test_no_warning_for_the_example_rules() -> None:
    ruleset = parse_rules_document(tomllib.loads(EXAMPLE_RULES.read_text(encoding="utf-8")))
    assert sms_length_warnings(ruleset, SmsPolicy(max_segments=1)) == []


def test_a_long_sms_template_is_warned_about_per_language() -> None:
    template = "Vloga {{ event.case_number }}: " + "obvestilo o vaši vlogi " * 12
    found = sms_length_warnings(_rules(template, language="it"), SmsPolicy(max_segments=3))
    warnings = [str(w) for w in found]  # in English, as `rules apply` prints them
    assert len(warnings) == 2
    assert warnings[0].startswith("event type KLAS, language it: the SMS rendered with sample")
    assert "needs 5 parts (ucs2" in warnings[0]
    assert "more than [sms] max_segments = 3" in warnings[0]
    assert "[sms] transliterate = true keeps GSM-7" in warnings[0]
    assert warnings[1].startswith("event type KLAS, language sl:")


def test_transliteration_is_taken_into_account() -> None:
    # ~300 characters: 5 UCS-2 parts as written, 2 GSM-7 parts transliterated
    template = "Vloga {{ event.case_number }}: " + "obvestilo o vaši vlogi " * 12
    assert sms_length_warnings(_rules(template), SmsPolicy(transliterate=True, max_segments=1))
    assert not sms_length_warnings(_rules(template), SmsPolicy(transliterate=True, max_segments=2))
    assert sms_length_warnings(_rules(template), SmsPolicy(transliterate=False, max_segments=4))


def test_internal_types_and_unrenderable_samples_are_not_warned_about() -> None:
    long = "x " * 400
    assert sms_length_warnings(_rules(long, kind="internal"), SmsPolicy(max_segments=1)) == []
    # `| date` of a placeholder cannot render with sample values: nothing to measure
    template = "{{ event.deadline | date }} " + long
    assert sms_length_warnings(_rules(template), SmsPolicy(max_segments=1)) == []


def test_templates_using_events_are_measured_too() -> None:
    template = "{% for e in events %}{{ e.event.case_number }} {% endfor %}" + "y" * 200
    assert sms_length_warnings(_rules(template), SmsPolicy(max_segments=1))


# ---- settings ----


def _settings(**overrides: Any) -> Settings:
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        raw[section][name] = value
    return settings_from_mapping(raw, {})


def test_defaults() -> None:
    s = settings_from_mapping(
        {
            "database": {"url": "postgresql://x/y"},
            "source": {"events_query": "SELECT 1", "parties_query": "SELECT :case_ids"},
        },
        {},
    )
    assert (s.sms.transliterate, s.sms.max_segments) == (False, 3)
    assert (s.sms.quiet_hours, s.sms.quiet_hours_key) == ("", "same")
    assert s.delivery.coalesce_window == 0
    assert s.delivery.storm_threshold == 1000
    assert s.delivery.max_per_subscriber_per_hour == 0


@pytest.mark.parametrize("sender", ["KOPER", "MO Koper", "MOK-info", "38641123456", "+386"])
def test_valid_senders(sender: str) -> None:
    assert _settings(sms__sender=sender).sms.sender == sender


def test_a_numeric_sender_may_be_written_as_a_number() -> None:
    assert _settings(sms__sender=38641123456).sms.sender == "38641123456"


@pytest.mark.parametrize(
    "sender", ["OBČINA", "Mestna obcina", "", "1234567890123456", "+", "a@b", "Ključ"]
)
def test_invalid_senders_are_named(sender: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(sms__sender=sender)
    assert "[sms] sender must be an alphanumeric id of at most 11 characters" in str(caught.value)
    assert repr(sender) in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sms__max_segments": 0}, "[sms] max_segments must be between 1 and 255"),
        ({"sms__max_segments": 256}, "[sms] max_segments must be between 1 and 255"),
        ({"sms__max_segments": "3"}, "[sms] max_segments: must be a whole number"),
        ({"sms__transliterate": "yes"}, "[sms] transliterate: must be true or false"),
        ({"sms__quiet_hours": "21-7"}, "[sms] quiet_hours: must be HH:MM-HH:MM"),
        ({"sms__quiet_hours": "24:00-07:00"}, "[sms] quiet_hours: 24:00 is not a time of day"),
        ({"sms__quiet_hours": "07:00-07:00"}, "the window is empty"),
        ({"sms__quiet_hours_key": "always"}, "[sms] quiet_hours_key: must be HH:MM-HH:MM"),
        ({"delivery__coalesce_window": -1}, "[delivery] coalesce_window must be 0 (off)"),
        ({"delivery__storm_threshold": 0}, "[delivery] storm_threshold must be at least 1"),
        (
            {"delivery__max_per_subscriber_per_hour": -5},
            "[delivery] max_per_subscriber_per_hour must be 0 (no limit) or more",
        ),
    ],
)
def test_invalid_message_settings_are_named(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(**overrides)
    assert message in str(caught.value)


def test_quiet_hours_from_the_environment() -> None:
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    s = settings_from_mapping(
        raw,
        {
            "OBVO_SMS_QUIET_HOURS": "21:00-07:00",
            "OBVO_SMS_QUIET_HOURS_KEY": "none",
            "OBVO_SMS_TRANSLITERATE": "true",
            "OBVO_DELIVERY_COALESCE_WINDOW": "120",
        },
    )
    assert s.sms.quiet_hours == "21:00-07:00"
    assert s.sms.quiet_hours_key == "none"
    assert s.sms.transliterate is True
    assert s.delivery.coalesce_window == 120.0
