"""compose.py: from VOPI events and their audience to outbox rows, without I/O."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from typing import Any

from tests.support import EXAMPLE_RULES
from vopi_obvo.messages.compose import ComposeOptions, classify, compose
from vopi_obvo.messages.event_values import load_values
from vopi_obvo.messages.sms_text import SmsPolicy
from vopi_obvo.rules import EventsLevel, RuleSet, Subscriber, parse_rules_document
from vopi_obvo.source.vopi import VopiEvent

RULES = parse_rules_document(tomllib.loads(EXAMPLE_RULES.read_text(encoding="utf-8")))
AT = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)
JANEZ = Subscriber(1, "11", "janez@example.si", "+38641123456", EventsLevel.ALL)
ANA = Subscriber(2, "12", "ana@example.si", None, EventsLevel.KEY, language="it")
OPTIONS = ComposeOptions(SmsPolicy(), coalesce_window=0.0)


def event(event_id: int, event_type: str, case: str | None = "7", **values: Any) -> VopiEvent:
    columns = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": AT,
        "case_id": case,
        "case_number": "354-7/2026",
        "case_subject": "Gradbeno dovoljenje",
        "classification_code": "354-1",
        "clerk_name": "Žana Čuk",
        "detail": None,
        **values,
    }
    return VopiEvent(event_id, event_type, case, AT, columns)


def test_classify_keeps_what_concerns_citizens_and_counts_unknown_types() -> None:
    events = [
        event(1, "KLAS"),
        event(2, "OGLED"),  # internal
        event(3, "ARHIV"),  # no rule
        event(4, "ARHIV"),
        event(5, "KLAS", case=None),  # no case: nobody to tell
    ]
    classified = classify(events, RULES)
    assert [e.event_id for e in classified.relevant] == [1]
    assert classified.unclassified == {"ARHIV": (2, 4)}


def test_one_row_per_event_subscriber_and_channel_in_their_language() -> None:
    composed = compose([event(10, "KLAS")], RULES, {10: [JANEZ, ANA]}, OPTIONS)
    rows = {(n.subscriber_id, n.channel, n.language) for n in composed.notifications}
    assert rows == {(1, "email", "sl"), (1, "sms", "sl"), (2, "email", "it")}
    sms = next(n for n in composed.notifications if n.channel == "sms")
    assert (sms.sms_encoding, sms.sms_segments) == ("gsm7", 1)  # the text policy applied
    assert sms.event_values is None  # coalescing off


def test_a_text_that_cannot_render_fails_only_its_row() -> None:
    klas = RULES.rules["KLAS"]
    sl = dataclasses.replace(klas.templates["sl"], email_subject="{{ event.nope }}")
    broken = RuleSet({**RULES.rules, "KLAS": dataclasses.replace(klas, templates={"sl": sl})})
    composed = compose([event(10, "KLAS")], broken, {10: [JANEZ]}, OPTIONS)
    statuses = {n.channel: n.status for n in composed.notifications}
    assert statuses == {"email": "failed", "sms": "pending"}
    [failure] = composed.render_failures
    assert (failure.event_id, failure.channel) == (10, "email")


def test_coalescing_keeps_the_wait_and_the_event_values() -> None:
    options = ComposeOptions(SmsPolicy(), coalesce_window=120.0)
    composed = compose([event(10, "KLAS")], RULES, {10: [JANEZ]}, options)
    for n in composed.notifications:
        assert n.delay == 120.0
        assert n.event_values is not None
        assert load_values(n.event_values)["clerk_name"] == "Žana Čuk"
