"""Administration, pure parts: rules dump/diff, row validation, rendering for checks."""

from __future__ import annotations

import datetime as dt
import tomllib
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import EXAMPLE_RULES
from vopi_obvo.admin.rendering import check_rule, render_part, sample_subscriber, sample_values
from vopi_obvo.admin.rules_toml import diff_rules, dump_rules, has_changes
from vopi_obvo.messages.sms_encoding import SmsEncoding
from vopi_obvo.messages.sms_text import SmsPolicy
from vopi_obvo.messages.templates import LJUBLJANA
from vopi_obvo.rule_validation import format_problems, invalid_rules, rule_changes, rule_problems
from vopi_obvo.rules import (
    Channel,
    EventKind,
    EventTypeRule,
    RuleSet,
    TemplateSet,
    parse_rules_document,
)


def example() -> RuleSet:
    return parse_rules_document(tomllib.loads(EXAMPLE_RULES.read_text(encoding="utf-8")))


def rule(code: str = "KLAS", kind: EventKind = EventKind.KEY, **sl: str) -> EventTypeRule:
    texts = {
        "email_subject": "Vloga {{ event.case_number }}",
        "email_body": "Vloga {{ event.case_number }} je klasificirana.",
        "sms": "Vloga {{ event.case_number }}: klasifikacija.",
    }
    texts.update(sl)
    return EventTypeRule(code, kind, "Klasifikacija", {"sl": TemplateSet(**texts)})


# ---- dump → apply round trip ----


def test_dump_of_the_example_reads_back_as_the_same_rules() -> None:
    rules = example()
    text = dump_rules(rules, header=["dumped for a test", ""])
    assert text.startswith("# dumped for a test\n#\n")
    back = parse_rules_document(tomllib.loads(text))
    assert back == rules
    assert not has_changes(rules, back)
    assert '\n[[event_types]]\ncode = "DODELJ"' in text


_texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=80
).filter(lambda s: s.strip() and "{" not in s and "}" not in s and "%" not in s and "#" not in s)


@settings(max_examples=60, deadline=None)
@given(subject=_texts, body=_texts, sms=_texts, name=st.text(max_size=30))
def test_any_text_survives_the_round_trip(subject: str, body: str, sms: str, name: str) -> None:
    ts = TemplateSet(email_subject=subject, email_body=body + "\n\n  end\n", sms=sms)
    rules = RuleSet({"X1": EventTypeRule("X1", EventKind.NOTIFY, name, {"sl": ts})})
    assert parse_rules_document(tomllib.loads(dump_rules(rules))) == rules


# ---- diff ----


def test_diff_shows_the_summary_and_the_changed_lines() -> None:
    current = example()
    klas = current.rules["KLAS"]
    sl = klas.templates["sl"]
    changed = EventTypeRule(
        "KLAS",
        EventKind.KEY,
        klas.name,
        {**klas.templates, "sl": TemplateSet(sl.email_subject, sl.email_body, "Nova SMS.")},
    )
    new = RuleSet({"KLAS": changed})
    lines = diff_rules(current, new, "new.toml")
    assert "changed   KLAS: templates.sl.sms" in lines
    assert "--- database: KLAS.templates.sl.sms" in lines
    assert "+++ new.toml: KLAS.templates.sl.sms" in lines
    assert "+Nova SMS." in lines
    assert any(line.startswith("-Vloga {{ event.case_number }}") for line in lines)
    assert "kept      VLOZ (in the database, not in the file)" in lines
    assert has_changes(current, new)


def test_diff_of_identical_rules_has_no_changes() -> None:
    assert not has_changes(example(), example())
    assert not has_changes(example(), RuleSet({}))  # an empty file changes nothing (upsert)


def test_a_final_newline_alone_is_reported() -> None:
    current = RuleSet({"K": rule("K", sms="a")})
    new = RuleSet({"K": rule("K", sms="a\n")})
    assert has_changes(current, new)
    assert "K.templates.sl.sms: differs only in line endings or a final newline" in diff_rules(
        current, new, "f"
    )


# ---- validation of rows edited in SQL ----


def test_a_valid_rule_has_no_problems() -> None:
    assert invalid_rules(example()) == {}


def test_a_template_that_does_not_compile_is_named() -> None:
    broken = rule(email_body="Vloga {{ event.case_number ")
    assert rule_problems(broken) == [
        "language 'sl': template 'email_body': syntax error on line 1: unexpected end of template,"
        " expected 'end of print statement'."
    ]


def test_missing_slovenian_templates_and_empty_parts_are_named() -> None:
    it_only = EventTypeRule(
        "VLOZ", EventKind.NOTIFY, "", {"it": TemplateSet("Domanda", "Domanda", "Domanda")}
    )
    empty_sms = rule("ODLOC", sms="")
    problems = invalid_rules(RuleSet({"VLOZ": it_only, "ODLOC": empty_sms, "KLAS": rule()}))
    assert set(problems) == {"VLOZ", "ODLOC"}
    assert problems["ODLOC"] == ["language 'sl': missing template 'sms'"]
    assert "kind notify needs Slovenian templates" in problems["VLOZ"][0]
    assert format_problems({"ODLOC": ["x"]}) == ["event type ODLOC: x"]


def test_internal_types_need_no_templates() -> None:
    assert rule_problems(EventTypeRule("OGLED", EventKind.INTERNAL)) == []


def test_reload_changes_name_what_changed() -> None:
    old = RuleSet({"A": rule("A"), "B": rule("B")})
    new = RuleSet(
        {
            "A": rule("A", kind=EventKind.NOTIFY, sms="Nova"),
            "C": rule("C", kind=EventKind.INTERNAL),
        }
    )
    assert rule_changes(old, new) == [
        "A: kind key → notify, templates.sl.sms",
        "B: removed",
        "C: added (internal)",
    ]
    assert rule_changes(new, new) == []


# ---- rendering for `rules check` and `preview` ----


def test_sample_values_follow_the_column_types() -> None:
    now = dt.datetime(2026, 3, 1, 9, 30, tzinfo=LJUBLJANA)
    values = sample_values(
        [
            ("event_id", "integer"),
            ("event_type", None),
            ("occurred_at", "timestamp"),
            ("case_id", "integer"),
            ("due", "date"),
            ("fee", "numeric"),
            ("case_number", None),
        ],
        "KLAS",
        now,
    )
    assert values["event_type"] == "KLAS"
    assert values["occurred_at"] == now
    assert values["due"] == now.date()
    assert values["fee"] == Decimal("123.45")
    assert values["case_number"] == "<case_number>"


def test_check_renders_every_language_and_channel_with_sms_cost() -> None:
    rules = example()
    values = sample_values(
        [(c, None) for c in ("case_number", "case_subject", "classification_code", "clerk_name")],
        "KLAS",
    )
    parts = check_rule(rules.rules["KLAS"], values, "sample values")
    assert [(p.language, p.channel) for p in parts] == [
        ("it", "email"),
        ("it", "sms"),
        ("sl", "email"),
        ("sl", "sms"),
    ]
    assert all(p.ok for p in parts)
    sl_sms = parts[3]
    assert sl_sms.text == "Vloga <case_number>: klasifikacija <classification_code>."
    assert sl_sms.sms is not None
    assert sl_sms.sms.encoding is SmsEncoding.GSM7
    assert sl_sms.sms.segments == 1
    assert parts[2].subject == "Vaša vloga <case_number> je uvrščena v obravnavo"


def test_check_reports_undefined_values_and_ucs2_cost() -> None:
    broken = rule(email_body="{{ event.no_such_column }}", sms="Vloga je rešena: " + "č" * 80)
    parts = check_rule(broken, {"case_number": "1/2026"}, "event 7")
    email, sms = parts
    assert not email.ok
    assert "no_such_column" in (email.error or "")
    assert sms.ok
    assert sms.sms is not None
    assert (sms.sms.encoding, sms.sms.segments) == (SmsEncoding.UCS2, 2)


def test_check_applies_the_sms_policy() -> None:
    long_sms = rule(sms="Vloga " + "čaka na odločitev " * 30)
    part = render_part(
        long_sms,
        Channel.SMS,
        sample_subscriber("sl"),
        {"case_number": "1"},
        source="x",
        policy=SmsPolicy(transliterate=True, max_segments=2),
    )
    assert part.sms is not None
    assert part.sms.encoding is SmsEncoding.GSM7
    assert part.sms.segments == 2
    assert any("max_segments = 2" in str(w) for w in part.warnings)
    assert any("transliterated" in str(w) for w in part.warnings)


def test_a_rule_without_templates_is_an_error_per_channel() -> None:
    parts = check_rule(EventTypeRule("X", EventKind.KEY), {}, "sample values")
    assert [(p.channel, p.ok) for p in parts] == [("email", False), ("sms", False)]


def test_a_language_without_templates_falls_back_and_says_so() -> None:
    part = render_part(
        rule(), Channel.SMS, sample_subscriber("hu"), {"case_number": "1"}, source="x"
    )
    assert part.language == "hu→sl"
    assert part.text == "Vloga 1: klasifikacija."


def test_a_carriage_return_survives_the_round_trip() -> None:
    rules = RuleSet({"K": rule("K", email_body="Vrstica 1\r\nVrstica 2\r\n")})
    text = dump_rules(rules)
    assert "\\r\\n" in text
    assert parse_rules_document(tomllib.loads(text)) == rules
