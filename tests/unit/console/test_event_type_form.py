"""The event-type edit form (pure): what a browser's fields become as a rules document and as
a draft to preview, and the SMS preview's marking of the characters that force UCS-2."""

from __future__ import annotations

from starlette.datastructures import FormData

from vopi_obvo.admin.rendering import render_part, sample_subscriber
from vopi_obvo.console.pages.event_types import RuleForm, SmsPreview
from vopi_obvo.messages.sms_encoding import gsm7_runs
from vopi_obvo.messages.sms_text import SmsPolicy
from vopi_obvo.rules import Channel, EventKind, EventTypeRule, TemplateSet, parse_rules_document

RULE = EventTypeRule(
    "VLOZ",
    EventKind.NOTIFY,
    "Vloga je vložena",
    {"sl": TemplateSet("Zadeva", "Telo\nvrstica", "SMS {{ event.case_id }}")},
)


def test_a_stored_rule_shows_every_language_and_part() -> None:
    form = RuleForm.of_rule(RULE)
    assert list(form.templates) == ["sl", "it"]
    assert form.templates["it"] == dict.fromkeys(
        ("email_subject", "email_body", "sms", "email_html"), ""
    )
    assert form.templates["sl"]["email_html"] == ""


def test_the_browsers_fields_become_the_document_rules_apply_reads() -> None:
    fields = FormData(
        [
            ("kind", " key "),
            ("name", "  Vloga   je vložena "),
            ("sl.email_subject", "Zadeva"),
            ("sl.email_body", "Telo\r\nvrstica"),  # a textarea's CR LF
            ("sl.sms", "SMS"),
            ("sl.email_html", "  "),
            ("it.email_subject", ""),
        ]
    )
    form = RuleForm.of_request("VLOZ", fields, ["sl", "it"])
    [entry] = form.document()["event_types"]
    assert entry == {
        "code": "VLOZ",
        "name": "Vloga je vložena",
        "kind": "key",
        # Italian left empty is left out (kept, as a language missing from a file);
        # an empty email_html is no HTML part.
        "templates": {
            "sl": {"email_subject": "Zadeva", "email_body": "Telo\nvrstica", "sms": "SMS"}
        },
    }
    rule = parse_rules_document(form.document()).rules["VLOZ"]
    assert rule.templates["sl"].email_html is None


def test_a_broken_form_still_previews() -> None:
    fields = FormData([("kind", "loud"), ("sl.sms", "{{ event.case_id")])
    draft = RuleForm.of_request("VLOZ", fields, ["sl"]).draft_rule()
    assert draft.kind is EventKind.INTERNAL
    part = render_part(draft, Channel.SMS, sample_subscriber("sl"), {"case_id": "1"}, source="x")
    assert not part.ok and "sms" in (part.error or "")


def test_the_characters_forcing_ucs2_are_marked_and_listed_once() -> None:
    assert gsm7_runs("Občina €uro žž") == [
        ("Ob", False),
        ("č", True),
        ("ina €uro ", False),
        ("žž", True),
    ]
    part = render_part(
        EventTypeRule("X", EventKind.NOTIFY, "", {"sl": TemplateSet("s", "b", "Občina Žalec ž")}),
        Channel.SMS,
        sample_subscriber("sl"),
        {},
        source="sample values",
        policy=SmsPolicy(transliterate=True),
    )
    preview = SmsPreview.of(part)
    assert preview.forcing == "čŽž"
    assert preview.rendered.encoding == "ucs2" and part.sms is not None
    assert part.sms.encoding == "gsm7" and part.text == "Obcina Zalec z"
    assert preview.changed
