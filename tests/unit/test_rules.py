"""rules.py: the rules document, who hears about an event, and the rendered texts."""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from vopi_obvo.errors import ExitCode, RulesError, TemplateError
from vopi_obvo.rules import (
    Channel,
    EventKind,
    EventsLevel,
    EventTypeRule,
    Recipient,
    RenderedMessage,
    RuleSet,
    Subscriber,
    TemplateSet,
    describe_changes,
    parse_rules_document,
    recipients,
    render_message,
    rules_to_document,
    sample_event,
    template_context,
    wants,
)

EXAMPLE_RULES = Path(__file__).resolve().parents[2] / "config" / "rules.example.toml"
# The extra columns of the example [source] events_query.
EXAMPLE_COLUMNS = ("case_number", "case_subject", "classification_code", "clerk_name", "detail")

SL = {
    "email_subject": "Vloga {{ event.case_number }}",
    "email_body": "Vloga {{ event.case_number }} ({{ event_type.name }}).",
    "sms": "Vloga {{ event.case_number }}",
}
IT = {
    "email_subject": "Domanda {{ event.case_number }}",
    "email_body": "Domanda {{ event.case_number }}.",
    "sms": "Domanda {{ event.case_number }}",
}


@pytest.fixture(scope="module")
def example_document() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE_RULES.read_text(encoding="utf-8"))


def entry(code: str = "VLOZ", kind: str = "notify", **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"code": code, "name": f"Dogodek {code}", "kind": kind}
    result["templates"] = {"sl": dict(SL)}
    result.update(extra)
    return result


def problems_of(*entries: dict[str, Any]) -> list[str]:
    with pytest.raises(RulesError) as info:
        parse_rules_document({"event_types": list(entries)})
    return info.value.messages


# ---- parsing the example ----


def test_example_rules_parse_with_the_right_kinds(example_document: dict[str, Any]) -> None:
    ruleset = parse_rules_document(example_document)
    assert {code: rule.kind for code, rule in ruleset.rules.items()} == {
        "VLOZ": EventKind.NOTIFY,
        "KLAS": EventKind.KEY,
        "DODELJ": EventKind.NOTIFY,
        "ODLOC": EventKind.KEY,
        "OGLED": EventKind.INTERNAL,
    }
    assert sorted(ruleset.rules["VLOZ"].templates) == ["it", "sl"]
    assert sorted(ruleset.rules["DODELJ"].templates) == ["it", "sl"]
    assert ruleset.rules["OGLED"].templates == {}
    assert ruleset.rules["KLAS"].name == "Vloga je dobila klasifikacijsko oznako"
    assert ruleset.get("ODLOC") is ruleset.rules["ODLOC"]
    assert ruleset.get("NEZNAN") is None


def test_example_templates_keep_their_text(example_document: dict[str, Any]) -> None:
    rule = parse_rules_document(example_document).rules["VLOZ"]
    assert rule.templates["sl"].email_subject == "Prejeli smo vašo vlogo {{ event.case_number }}"
    assert rule.templates["it"].sms.startswith("Comune: domanda {{ event.case_number }}")


def test_every_example_template_renders_with_the_example_columns(
    example_document: dict[str, Any],
) -> None:
    ruleset = parse_rules_document(example_document)
    for rule in ruleset.rules.values():
        for language in rule.templates:
            sub = subscriber(1, language=language)
            event = sample_event(rule, EXAMPLE_COLUMNS)
            for channel in Channel:
                message = render_message(rule, channel, sub, event)
                assert "<case_number>" in message.body
                assert "{{" not in message.body


def test_empty_document_is_an_empty_ruleset() -> None:
    assert parse_rules_document({}).rules == {}
    assert parse_rules_document({"event_types": []}).rules == {}


def test_internal_without_templates_is_fine() -> None:
    ruleset = parse_rules_document({"event_types": [{"code": "OGLED", "kind": "internal"}]})
    rule = ruleset.rules["OGLED"]
    assert rule.kind is EventKind.INTERNAL
    assert rule.name == ""
    assert rule.templates == {}


def test_internal_with_templates_keeps_them() -> None:
    ruleset = parse_rules_document({"event_types": [entry("OGLED", "internal")]})
    assert ruleset.rules["OGLED"].templates["sl"] == TemplateSet(**SL)


# ---- invalid documents: every problem names the event type and the problem ----


def test_unknown_kind() -> None:
    assert problems_of(entry("VLOZ", "urgent")) == [
        "event type VLOZ: unknown kind 'urgent' (must be internal, notify or key)"
    ]


def test_missing_kind() -> None:
    e = entry("VLOZ")
    del e["kind"]
    assert problems_of(e) == [
        "event type VLOZ: unknown kind None (must be internal, notify or key)"
    ]


def test_jinja_syntax_error() -> None:
    e = entry("KLAS", "key")
    e["templates"]["sl"]["email_subject"] = "{{ event.case_number "
    (problem,) = problems_of(e)
    assert problem.startswith(
        "event type KLAS, language 'sl': template 'email_subject': syntax error on line 1:"
    )
    assert "end of print statement" in problem


def test_jinja_syntax_error_line_number_in_body() -> None:
    e = entry("KLAS", "key")
    e["templates"]["sl"]["email_body"] = "Spoštovani,\n\n{% if event.x %}\nnič\n"
    (problem,) = problems_of(e)
    assert "event type KLAS, language 'sl': template 'email_body': syntax error on line" in problem
    assert "endif" in problem


def test_unknown_key_in_an_event_type() -> None:
    assert problems_of(entry("VLOZ", colour="red", priority=1)) == [
        "event type VLOZ: unknown key(s) colour, priority"
    ]


def test_unknown_template_key() -> None:
    e = entry("VLOZ")
    e["templates"]["sl"]["email_footer"] = "<p>x</p>"
    assert problems_of(e) == [
        "event type VLOZ, language 'sl': unknown template key(s) email_footer"
    ]


@pytest.mark.parametrize("part", ["email_subject", "email_body", "sms"])
def test_missing_template_part(part: str) -> None:
    e = entry("VLOZ")
    del e["templates"]["sl"][part]
    assert problems_of(e) == [f"event type VLOZ, language 'sl': missing template '{part}'"]


def test_blank_template_part_counts_as_missing() -> None:
    e = entry("VLOZ")
    e["templates"]["sl"]["sms"] = "   \n"
    assert problems_of(e) == ["event type VLOZ, language 'sl': missing template 'sms'"]


def test_template_part_that_is_not_text() -> None:
    e = entry("VLOZ")
    e["templates"]["sl"]["sms"] = 42
    assert problems_of(e) == ["event type VLOZ, language 'sl': template 'sms' must be text"]


def test_missing_part_in_a_second_language() -> None:
    e = entry("VLOZ")
    e["templates"]["it"] = {k: v for k, v in IT.items() if k != "email_body"}
    assert problems_of(e) == ["event type VLOZ, language 'it': missing template 'email_body'"]


@pytest.mark.parametrize("kind", ["notify", "key"])
def test_notify_and_key_need_slovenian_templates(kind: str) -> None:
    e = entry("VLOZ", kind, templates={"it": dict(IT)})
    assert problems_of(e) == [
        f"event type VLOZ: kind {kind} needs Slovenian templates "
        "([event_types.templates.sl] with email_subject, email_body, sms)"
    ]


@pytest.mark.parametrize("kind", ["notify", "key"])
def test_notify_and_key_without_any_templates(kind: str) -> None:
    e = {"code": "VLOZ", "kind": kind}
    (problem,) = problems_of(e)
    assert problem.startswith(f"event type VLOZ: kind {kind} needs Slovenian templates")


def test_duplicate_code() -> None:
    assert problems_of(entry("VLOZ"), entry("KLAS", "key"), entry("VLOZ", "key")) == [
        "event type VLOZ: defined more than once"
    ]


@pytest.mark.parametrize("language", ["SL", "slv", "s", "sl-SI", "1a"])
def test_bad_language_code(language: str) -> None:
    e = entry("VLOZ")
    e["templates"][language] = dict(IT)
    assert problems_of(e) == [
        f"event type VLOZ, language {language!r}: "
        "a language is a two-letter lower-case code (sl, it, …)"
    ]


def test_language_code_with_trailing_newline_is_refused() -> None:
    e = entry("VLOZ")
    e["templates"]["it\n"] = dict(IT)
    assert problems_of(e) == [
        "event type VLOZ, language 'it\\n': a language is a two-letter lower-case code (sl, it, …)"
    ]


def test_language_that_is_not_a_table() -> None:
    e = entry("VLOZ")
    e["templates"]["it"] = "Domanda"
    assert problems_of(e) == [
        "event type VLOZ, language 'it': must be a table with email_subject, email_body, sms"
    ]


def test_templates_that_are_not_a_table() -> None:
    e = entry("OGLED", "internal", templates="none")
    assert problems_of(e) == ["event type OGLED: 'templates' must be a table of languages"]


@pytest.mark.parametrize("code", [None, "", "  ", " VLOZ", 12])
def test_bad_code(code: Any) -> None:
    e = entry("X")
    e["code"] = code
    (problem,) = problems_of(e)
    assert problem.endswith(": 'code' must be a non-empty text without surrounding spaces")


def test_bad_code_is_located_by_position() -> None:
    e = entry("X")
    del e["code"]
    assert problems_of(entry("VLOZ"), e) == [
        "event_types #2: 'code' must be a non-empty text without surrounding spaces"
    ]


def test_name_must_be_text() -> None:
    assert problems_of(entry("VLOZ", name=5)) == ["event type VLOZ: 'name' must be text"]


def test_entry_that_is_not_a_table() -> None:
    assert problems_of(entry("VLOZ"), "KLAS") == ["event_types #2: must be a table"]  # type: ignore[arg-type]


def test_unknown_top_level_key_and_bad_event_types() -> None:
    with pytest.raises(RulesError) as info:
        parse_rules_document({"rules": [], "event_types": {"code": "X"}})
    assert info.value.messages == [
        "unknown top-level key(s): rules",
        "'event_types' must be an array of tables ([[event_types]])",
    ]


def test_every_problem_is_reported_together() -> None:
    bad_kind = entry("A", "urgent")
    bad_template = entry("B")
    bad_template["templates"]["sl"]["sms"] = "{% for %}"
    no_sl = entry("C", "key", templates={"it": dict(IT)})
    with pytest.raises(RulesError) as info:
        parse_rules_document({"event_types": [bad_kind, bad_template, no_sl, entry("D")]})
    error = info.value
    assert len(error.problems) == 3
    assert error.messages[0].startswith("event type A: unknown kind 'urgent'")
    assert error.messages[1].startswith("event type B, language 'sl': template 'sms': syntax")
    assert error.messages[2].startswith("event type C: kind key needs Slovenian templates")
    assert str(error) == "\n".join(error.messages)
    assert error.exit_code == ExitCode.CONFIG


# ---- who hears about an event ----


def subscriber(
    sid: int,
    *,
    email: str | None = "ana@koper.si",
    phone: str | None = "+38641123456",
    events: EventsLevel = EventsLevel.ALL,
    language: str = "sl",
) -> Subscriber:
    return Subscriber(
        id=sid, party_id=f"P{sid}", email=email, phone=phone, events=events, language=language
    )


@pytest.mark.parametrize(
    ("kind", "level", "expected"),
    [
        (EventKind.INTERNAL, EventsLevel.ALL, False),
        (EventKind.INTERNAL, EventsLevel.KEY, False),
        (EventKind.NOTIFY, EventsLevel.ALL, True),
        (EventKind.NOTIFY, EventsLevel.KEY, False),
        (EventKind.KEY, EventsLevel.ALL, True),
        (EventKind.KEY, EventsLevel.KEY, True),
    ],
)
def test_wants(kind: EventKind, level: EventsLevel, expected: bool) -> None:
    assert wants(kind, level) is expected


CONTACTS: dict[str, tuple[str | None, str | None]] = {
    "email-only": ("ana@koper.si", None),
    "sms-only": (None, "+38641123456"),
    "both": ("ana@koper.si", "+38641123456"),
}
EXPECTED_CHANNELS: dict[str, list[tuple[Channel, str]]] = {
    "email-only": [(Channel.EMAIL, "ana@koper.si")],
    "sms-only": [(Channel.SMS, "+38641123456")],
    "both": [(Channel.EMAIL, "ana@koper.si"), (Channel.SMS, "+38641123456")],
}
TOLD = {
    (EventKind.INTERNAL, EventsLevel.ALL): False,
    (EventKind.INTERNAL, EventsLevel.KEY): False,
    (EventKind.NOTIFY, EventsLevel.ALL): True,
    (EventKind.NOTIFY, EventsLevel.KEY): False,
    (EventKind.KEY, EventsLevel.ALL): True,
    (EventKind.KEY, EventsLevel.KEY): True,
}


@pytest.mark.parametrize("contacts", list(CONTACTS))
@pytest.mark.parametrize("level", list(EventsLevel))
@pytest.mark.parametrize("kind", list(EventKind))
def test_recipients_matrix(kind: EventKind, level: EventsLevel, contacts: str) -> None:
    email, phone = CONTACTS[contacts]
    sub = subscriber(7, email=email, phone=phone, events=level)
    expected = (
        [Recipient(sub, channel, address) for channel, address in EXPECTED_CHANNELS[contacts]]
        if TOLD[(kind, level)]
        else []
    )
    assert recipients(kind, [sub]) == expected


def test_recipients_for_a_mixed_case() -> None:
    all_both = subscriber(1, events=EventsLevel.ALL)
    key_email = subscriber(2, email="bojan@koper.si", phone=None, events=EventsLevel.KEY)
    all_sms = subscriber(3, email=None, phone="+38640222222", events=EventsLevel.ALL)
    nothing = subscriber(4, email=None, phone=None, events=EventsLevel.ALL)
    blank = subscriber(5, email="", phone="", events=EventsLevel.ALL)
    subs = [all_both, key_email, all_sms, nothing, blank]
    assert recipients(EventKind.NOTIFY, subs) == [
        Recipient(all_both, Channel.EMAIL, "ana@koper.si"),
        Recipient(all_both, Channel.SMS, "+38641123456"),
        Recipient(all_sms, Channel.SMS, "+38640222222"),
    ]
    assert recipients(EventKind.KEY, subs) == [
        Recipient(all_both, Channel.EMAIL, "ana@koper.si"),
        Recipient(all_both, Channel.SMS, "+38641123456"),
        Recipient(key_email, Channel.EMAIL, "bojan@koper.si"),
        Recipient(all_sms, Channel.SMS, "+38640222222"),
    ]
    assert recipients(EventKind.INTERNAL, subs) == []


def test_a_subscriber_listed_twice_is_told_once() -> None:
    sub = subscriber(1, phone=None)
    assert recipients(EventKind.KEY, [sub, sub]) == [Recipient(sub, Channel.EMAIL, "ana@koper.si")]


# ---- rendering ----

EVENT: dict[str, Any] = {
    "event_id": 4711,
    "event_type": "KLAS",
    "occurred_at": dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC),
    "case_id": 12,
    "case_number": "354-12/2026",
    "classification_code": "354-1",
}


def klas_rule() -> EventTypeRule:
    return EventTypeRule(
        code="KLAS",
        kind=EventKind.KEY,
        name="Klasifikacija",
        templates={
            "sl": TemplateSet(
                email_subject="Vloga\n  {{ event.case_number }}   je uvrščena",
                email_body="Vloga {{ event.case_number }}: {{ event.occurred_at | datetime }}\n",
                sms="SL {{ event.case_number }} {{ event.occurred_at | date }}",
            ),
            "it": TemplateSet(
                email_subject="Domanda {{ event.case_number }}",
                email_body="Domanda {{ event.case_number }} ({{ subscriber.language }})",
                sms="IT {{ event.case_number }} {{ event.occurred_at | time }}",
            ),
        },
    )


def test_render_email_in_slovenian() -> None:
    message = render_message(klas_rule(), Channel.EMAIL, subscriber(1), EVENT)
    assert message == RenderedMessage(
        subject="Vloga 354-12/2026 je uvrščena",  # whitespace collapsed to single spaces
        body="Vloga 354-12/2026: 1. 7. 2026 12:00",  # Ljubljana time, trailing newline stripped
    )


def test_render_sms_has_no_subject() -> None:
    message = render_message(klas_rule(), Channel.SMS, subscriber(1), EVENT)
    assert message == RenderedMessage(subject=None, body="SL 354-12/2026 1. 7. 2026")


def test_render_in_the_subscribers_language() -> None:
    sub = subscriber(1, language="it")
    assert render_message(klas_rule(), Channel.SMS, sub, EVENT).body == "IT 354-12/2026 12:00"
    email = render_message(klas_rule(), Channel.EMAIL, sub, EVENT)
    assert email.subject == "Domanda 354-12/2026"
    assert email.body == "Domanda 354-12/2026 (it)"


def test_render_falls_back_to_slovenian() -> None:
    sub = subscriber(1, language="de")
    assert render_message(klas_rule(), Channel.SMS, sub, EVENT).body == "SL 354-12/2026 1. 7. 2026"


def test_date_in_a_message_is_the_ljubljana_date() -> None:
    late = dict(EVENT, occurred_at=dt.datetime(2026, 7, 1, 22, 30, tzinfo=dt.UTC))
    assert render_message(klas_rule(), Channel.SMS, subscriber(1), late).body == (
        "SL 354-12/2026 2. 7. 2026"
    )


def test_no_slovenian_fallback_is_a_template_error() -> None:
    rule = EventTypeRule("X", EventKind.INTERNAL, templates={"it": klas_rule().templates["it"]})
    with pytest.raises(TemplateError, match=r"^event type X has no Slovenian templates$"):
        render_message(rule, Channel.SMS, subscriber(1, language="de"), EVENT)


def test_undefined_variable_is_an_error_not_blank_text() -> None:
    rule = EventTypeRule(
        "KLAS",
        EventKind.KEY,
        templates={"sl": TemplateSet("S", "Referent: {{ event.clerk_name }}.", "x")},
    )
    with pytest.raises(TemplateError) as info:
        render_message(rule, Channel.EMAIL, subscriber(1), EVENT)
    assert str(info.value) == (
        "template email_body: undefined value: 'dict object' has no attribute 'clerk_name'"
    )


def test_undefined_variable_in_a_condition_is_an_error() -> None:
    rule = EventTypeRule(
        "KLAS",
        EventKind.KEY,
        templates={"sl": TemplateSet("S", "B", "{% if event.nope %}da{% endif %}ne")},
    )
    with pytest.raises(TemplateError, match=r"^template sms: undefined value: .*'nope'"):
        render_message(rule, Channel.SMS, subscriber(1), EVENT)


def test_infinite_numeric_column_renders() -> None:
    tset = TemplateSet("S", "B", "Znesek {{ event.x }}")
    rule = EventTypeRule("KLAS", EventKind.KEY, templates={"sl": tset})
    event = dict(EVENT, x=Decimal("Infinity"))
    assert render_message(rule, Channel.SMS, subscriber(1), event).body == "Znesek Infinity"


@pytest.mark.parametrize(
    ("tset", "channel", "part"),
    [
        (TemplateSet("", "B", "S"), Channel.EMAIL, "email_subject"),
        (TemplateSet("S", " \n ", "S"), Channel.EMAIL, "email_body"),
        (TemplateSet("S", "B", ""), Channel.SMS, "sms"),
    ],
)
def test_empty_template_is_an_error(tset: TemplateSet, channel: Channel, part: str) -> None:
    rule = EventTypeRule("KLAS", EventKind.KEY, templates={"sl": tset})
    with pytest.raises(TemplateError, match=f"^template {part} is empty$"):
        render_message(rule, channel, subscriber(1), EVENT)


def test_template_context() -> None:
    rule = klas_rule()
    context = template_context(EVENT, rule, subscriber(9, language="it"))
    assert context["event_type"] == {"code": "KLAS", "name": "Klasifikacija", "kind": "key"}
    assert context["subscriber"] == {"party_id": "P9", "language": "it"}
    assert context["event"]["case_number"] == "354-12/2026"
    assert str(context["event"]["occurred_at"]) == "1. 7. 2026 12:00"


def test_sample_event_has_the_required_columns() -> None:
    event = sample_event(klas_rule(), ["case_number", "event_id"])
    assert event["event_id"] == 1
    assert event["event_type"] == "KLAS"
    assert event["case_id"] == "1"
    assert event["case_number"] == "<case_number>"
    assert isinstance(event["occurred_at"], dt.datetime)
    assert event["occurred_at"].tzinfo is not None


# ---- describe_changes ----


def ruleset_of(*entries: dict[str, Any]) -> RuleSet:
    return parse_rules_document({"event_types": list(entries)})


def test_describe_changes() -> None:
    changed_sl = dict(SL, sms="Nova {{ event.case_number }}", email_subject="Nov predmet")
    old = ruleset_of(
        entry("A"),
        entry("B"),
        entry("C", "key", templates={"sl": dict(SL), "it": dict(IT)}),
        entry("D", "internal"),
        entry("F"),
        entry("G"),
    )
    new = ruleset_of(
        entry("A"),  # unchanged
        entry("B", "key"),  # kind changed
        entry("C", "key", templates={"sl": changed_sl}),  # sl changed, it only in the database
        entry("E", "key"),  # added
        entry("F", name="Drugo ime", templates={"sl": dict(SL), "it": dict(IT)}),
        entry("G", "internal", templates={"sl": changed_sl}),
    )
    assert describe_changes(old, new) == [
        "unchanged A",
        "changed   B: kind notify → key",
        "changed   C: templates.it kept (not in file), templates.sl.email_subject/sms",
        "added     E (key)",
        "changed   F: name, templates.it added",
        "changed   G: kind notify → internal, templates.sl.email_subject/sms",
        "kept      D (in the database, not in the file)",
    ]


def test_describe_no_changes(example_document: dict[str, Any]) -> None:
    ruleset = parse_rules_document(example_document)
    assert describe_changes(ruleset, ruleset) == [
        f"unchanged {code}" for code in ["DODELJ", "KLAS", "ODLOC", "OGLED", "VLOZ"]
    ]
    assert describe_changes(RuleSet({}), ruleset)[0] == "added     DODELJ (notify)"


# ---- rules_to_document ----


def test_round_trip_of_the_example(example_document: dict[str, Any]) -> None:
    parsed = parse_rules_document(example_document)
    document = rules_to_document(parsed)
    assert parse_rules_document(document) == parsed
    assert [e["code"] for e in document["event_types"]] == [
        "DODELJ",
        "KLAS",
        "ODLOC",
        "OGLED",
        "VLOZ",
    ]
    ogled = document["event_types"][3]
    assert ogled == {
        "code": "OGLED",
        "name": "Notranji pregled spisa",
        "kind": "internal",
        "templates": {},
    }


def test_round_trip_of_a_constructed_document() -> None:
    document = {
        "event_types": [
            entry("Z", "key", templates={"sl": dict(SL), "it": dict(IT)}),
            {"code": "A", "kind": "internal"},
            entry("M", "internal"),
        ]
    }
    parsed = parse_rules_document(copy.deepcopy(document))
    again = rules_to_document(parsed)
    assert parse_rules_document(again) == parsed
    assert again["event_types"][2]["kind"] == "key"
    assert again["event_types"][2]["templates"]["it"] == IT
