"""Rule rows as stored (possibly edited by hand in SQL), checked with the rules file's rules.

Pure logic. The daemon loads rows leniently so that one broken row fails only its own
notifications (with the reason); this module says which rows are broken and why, for the log
on every reload, for `obvo status` and for `obvo check` / `obvo rules check`.
"""

from __future__ import annotations

from collections.abc import Mapping

from vopi_obvo.errors import RulesError
from vopi_obvo.rules import (
    EventTypeRule,
    RuleSet,
    parse_rules_document,
    rule_difference,
    rules_to_document,
)


def rule_problems(rule: EventTypeRule) -> list[str]:
    """What is wrong with one event type's rows (empty when it is valid)."""
    [entry] = rules_to_document(RuleSet({rule.code: rule}))["event_types"]
    try:
        parse_rules_document({"event_types": [entry]})
    except RulesError as exc:
        where = f"event type {rule.code}"
        return [p.removeprefix(f"{where}: ").removeprefix(f"{where}, ") for p in exc.messages]
    return []


def invalid_rules(ruleset: RuleSet) -> dict[str, list[str]]:
    """Event type code → its problems, for every invalid event type (sorted by code)."""
    result: dict[str, list[str]] = {}
    for code in sorted(ruleset.rules):
        problems = rule_problems(ruleset.rules[code])
        if problems:
            result[code] = problems
    return result


def format_problems(problems: Mapping[str, list[str]]) -> list[str]:
    return [f"event type {code}: {p}" for code, items in problems.items() for p in items]


def rule_changes(old: RuleSet, new: RuleSet) -> list[str]:
    """What changed between two loads of the rule rows, for the daemon's log."""
    changes: list[str] = []
    for code in sorted(set(old.rules) | set(new.rules)):
        before, after = old.rules.get(code), new.rules.get(code)
        if before is None:
            changes.append(f"{code}: added ({after.kind if after else ''})")
        elif after is None:
            changes.append(f"{code}: removed")
        elif what := rule_difference(before, after):
            changes.append(f"{code}: {', '.join(what)}")
    return changes
