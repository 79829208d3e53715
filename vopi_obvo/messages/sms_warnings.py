"""`rules apply`: warn when an SMS template, rendered with sample values, is too long.

Sample values are placeholders (`<case_number>`), so real texts can be somewhat shorter or
longer; the warning is advice, never a refusal. Pure logic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vopi_obvo.errors import TemplateError
from vopi_obvo.messages import templates
from vopi_obvo.messages.sms_text import SmsPolicy, prepare_sms
from vopi_obvo.rules import (
    EventKind,
    EventsLevel,
    RuleSet,
    Subscriber,
    sample_event,
    template_context,
)

__all__ = ["sms_length_warnings"]


class _Placeholders(dict[str, Any]):
    """Event values where any column the template names exists, as `<column>`."""

    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def sms_length_warnings(ruleset: RuleSet, policy: SmsPolicy) -> list[str]:
    """One line per (event type, language) whose SMS needs more than max_segments parts."""
    warnings: list[str] = []
    for code in sorted(ruleset.rules):
        rule = ruleset.rules[code]
        if rule.kind is EventKind.INTERNAL:
            continue
        for language, tset in sorted(rule.templates.items()):
            subscriber = Subscriber(0, "<party_id>", None, None, EventsLevel.ALL, language)
            context = template_context(sample_event(rule), rule, subscriber)
            event: Mapping[str, Any] = _Placeholders(context["event"])
            context["event"] = event
            context["events"] = [{"event": event, "event_type": context["event_type"]}]
            try:
                text = templates.render(tset.sms, context)
            except TemplateError:
                continue  # a value the placeholders cannot stand in for: nothing to measure
            prepared = prepare_sms(text, SmsPolicy(policy.transliterate, max_segments=255))
            if prepared.segments > policy.max_segments:
                warnings.append(
                    f"event type {code}, language {language}: the SMS rendered with sample "
                    f"values needs {prepared.segments} parts ({prepared.encoding}, "
                    f"{len(prepared.text)} characters), more than [sms] max_segments = "
                    f"{policy.max_segments}; longer texts are shortened with an ellipsis"
                    + (
                        ""
                        if policy.transliterate or prepared.encoding == "gsm7"
                        else " (č, š, ž make it UCS-2: 70 characters per part; "
                        "[sms] transliterate = true keeps GSM-7)"
                    )
                )
    return warnings
