"""Rules as TOML (`obvo rules dump`) and what applying a file would change (`rules diff`).

Pure logic. The dump is the document `rules apply` reads, so dump → apply changes nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence

import tomli_w

from vopi_obvo.rules import TEMPLATE_PARTS, RuleSet, describe_changes, rules_to_document


def dump_rules(ruleset: RuleSet, header: Sequence[str] = ()) -> str:
    """TOML for `rules apply`: one [[event_types]] per code (sorted), templates as multi-line
    strings where they span lines, so the file reads like the hand-written example."""
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header)
    document = rules_to_document(ruleset)
    # In a multi-line TOML string a CR LF reads back as LF; texts holding a CR (pasted from
    # Windows into SQL) are written as one-line strings with \r escaped, so nothing changes.
    multiline = not any("\r" in text for text in _strings(document))
    body = tomli_w.dumps(document, multiline_strings=multiline)
    return comments + ("\n" if comments else "") + body


def diff_rules(current: RuleSet, new: RuleSet, new_name: str) -> list[str]:
    """The summary of `rules apply --dry-run`, then a unified diff of every changed text."""
    lines = describe_changes(current, new)
    for code in sorted(new.rules):
        before, after = current.rules.get(code), new.rules[code]
        if before is None:
            continue
        if before.name != after.name:
            lines.extend(_unified(before.name, after.name, f"{code}.name", new_name))
        for lang in sorted(after.templates):
            old_set, new_set = before.templates.get(lang), after.templates[lang]
            if old_set is None or old_set == new_set:
                continue
            for part in TEMPLATE_PARTS:
                lines.extend(
                    _unified(
                        getattr(old_set, part),
                        getattr(new_set, part),
                        f"{code}.templates.{lang}.{part}",
                        new_name,
                    )
                )
    return lines


def has_changes(current: RuleSet, new: RuleSet) -> bool:
    """Whether `rules apply` of `new` would write anything (it is an upsert)."""
    for code, after in new.rules.items():
        before = current.rules.get(code)
        if before is None or before.kind is not after.kind or before.name != after.name:
            return True
        if any(before.templates.get(lang) != ts for lang, ts in after.templates.items()):
            return True
    return False


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _unified(old: str, new: str, label: str, new_name: str) -> list[str]:
    if old == new:
        return []
    if old.splitlines() == new.splitlines():
        return ["", f"{label}: differs only in line endings or a final newline"]
    diff = difflib.unified_diff(
        old.splitlines(),
        new.splitlines(),
        fromfile=f"database: {label}",
        tofile=f"{new_name}: {label}",
        lineterm="",
    )
    return ["", *diff]
