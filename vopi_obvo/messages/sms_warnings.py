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
from vopi_obvo.problems import Param, Problem
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


def sms_length_warnings(ruleset: RuleSet, policy: SmsPolicy) -> list[Problem]:
    """One line per (event type, language) whose SMS needs more than max_segments parts."""
    warnings: list[Problem] = []
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
                long: dict[str, Param] = {
                    "code": code,
                    "language": language,
                    "parts": prepared.segments,
                    "encoding": str(prepared.encoding),
                    "characters": len(prepared.text),
                    "max": policy.max_segments,
                }
                warning = Problem("sms.too_long", long)
                if not policy.transliterate and prepared.encoding != "gsm7":
                    warning = Problem("sms.too_long_ucs2", {"warning": warning})
                warnings.append(warning)
    return warnings
