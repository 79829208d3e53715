"""The administrator's rules (event type → internal/notify/key + templates) and matching.

Pure logic: parsing and validating a rules document, deciding who hears about an event, and
rendering the texts. No database here.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vopi_obvo.errors import ObvoError, RulesError, TemplateError
from vopi_obvo.messages import html_templates, templates
from vopi_obvo.problems import Label, Param, Problem, at

DEFAULT_LANGUAGE = "sl"
TEMPLATE_PARTS = ("email_subject", "email_body", "sms")
# Optional: the HTML part of the e-mail (values HTML-escaped); without it the plain text is
# shown in the HTML layout.
OPTIONAL_TEMPLATE_PARTS = ("email_html",)
_LANGUAGE_RE = re.compile(r"[a-z]{2}")
# How problems name a template part and a kind (the console in the page's language).
PART_LABELS = {
    "email_subject": Problem("part.email_subject"),
    "email_body": Problem("part.email_body"),
    "sms": Problem("part.sms"),
    "email_html": Problem("part.email_html"),
}


class EventKind(enum.StrEnum):
    INTERNAL = "internal"  # never sent
    NOTIFY = "notify"  # sent to subscribers who want all events
    KEY = "key"  # sent to every subscriber; a citizen cannot switch these off


KIND_LABELS = {
    EventKind.INTERNAL: Problem("kind.internal"),
    EventKind.NOTIFY: Problem("kind.notify"),
    EventKind.KEY: Problem("kind.key"),
}


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"


class EventsLevel(enum.StrEnum):
    ALL = "all"
    KEY = "key"


@dataclass(frozen=True)
class TemplateSet:
    email_subject: str
    email_body: str
    sms: str
    email_html: str | None = None

    def as_dict(self) -> dict[str, str]:
        parts = {
            "email_subject": self.email_subject,
            "email_body": self.email_body,
            "sms": self.sms,
        }
        if self.email_html is not None:
            parts["email_html"] = self.email_html
        return parts


@dataclass(frozen=True)
class EventTypeRule:
    code: str
    kind: EventKind
    name: str = ""
    templates: Mapping[str, TemplateSet] = field(default_factory=dict)

    def templates_for(self, language: str) -> TemplateSet:
        """The subscriber's language, falling back to Slovenian."""
        found = self.templates.get(language) or self.templates.get(DEFAULT_LANGUAGE)
        if found is None:
            raise TemplateError(Problem("template.no_slovenian", {"code": self.code}))
        return found


@dataclass(frozen=True)
class RuleSet:
    rules: Mapping[str, EventTypeRule]

    def get(self, event_type: str) -> EventTypeRule | None:
        return self.rules.get(event_type)


@dataclass(frozen=True)
class Subscriber:
    id: int
    party_id: str
    email: str | None
    phone: str | None
    events: EventsLevel
    language: str = DEFAULT_LANGUAGE
    # Channels where the citizen turned non-key events off (an e-mail's List-Unsubscribe).
    key_only_channels: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Recipient:
    subscriber: Subscriber
    channel: Channel
    address: str


@dataclass(frozen=True)
class RenderedMessage:
    subject: str | None  # e-mail only
    body: str
    html: str | None = None  # e-mail with an email_html template only


def wants(kind: EventKind, level: EventsLevel) -> bool:
    """Whether a subscriber at `level` hears about an event of `kind`."""
    if kind is EventKind.KEY:
        return True
    if kind is EventKind.NOTIFY:
        return level is EventsLevel.ALL
    return False


def recipients(kind: EventKind, subscribers: Iterable[Subscriber]) -> list[Recipient]:
    """Every (subscriber, channel) that must be told about an event of this kind."""
    result: list[Recipient] = []
    seen: set[int] = set()
    for sub in subscribers:
        if sub.id in seen or not wants(kind, sub.events):
            continue
        seen.add(sub.id)
        if sub.email and (kind is EventKind.KEY or Channel.EMAIL not in sub.key_only_channels):
            result.append(Recipient(sub, Channel.EMAIL, sub.email))
        if sub.phone and (kind is EventKind.KEY or Channel.SMS not in sub.key_only_channels):
            result.append(Recipient(sub, Channel.SMS, sub.phone))
    return result


def event_item(event: Mapping[str, Any], rule: EventTypeRule) -> dict[str, Any]:
    """One event as templates see it: `event` (its values) and `event_type`."""
    return {
        "event": {k: templates.to_template_value(v) for k, v in event.items()},
        "event_type": {"code": rule.code, "name": rule.name, "kind": str(rule.kind)},
    }


def template_context(
    event: Mapping[str, Any],
    rule: EventTypeRule,
    subscriber: Subscriber,
    events: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """`event`, `event_type`, `subscriber`, and `events`: every event the message is about
    (event_item()s, oldest first; just this one unless several were coalesced)."""
    item = event_item(event, rule)
    return {
        **item,
        "subscriber": {"party_id": subscriber.party_id, "language": subscriber.language},
        "events": [item] if events is None else list(events),
    }


def render_message(
    rule: EventTypeRule,
    channel: Channel,
    subscriber: Subscriber,
    event: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]] | None = None,
) -> RenderedMessage:
    """The text for one recipient; raises TemplateError naming the part that failed.
    `events` (event_item()s) when one message tells of several events."""
    tset = rule.templates_for(subscriber.language)
    context = template_context(event, rule, subscriber, events)
    if channel is Channel.EMAIL:
        subject = _render_part(tset.email_subject, context, "email_subject")
        body = _render_part(tset.email_body, context, "email_body")
        html = None
        if tset.email_html is not None:
            try:
                html = html_templates.render_html(tset.email_html, context)
            except TemplateError as exc:
                raise TemplateError(_in_part("email_html", exc)) from exc
        return RenderedMessage(subject=" ".join(subject.split()), body=body, html=html)
    return RenderedMessage(subject=None, body=_render_part(tset.sms, context, "sms"))


def _render_part(source: str, context: Mapping[str, Any], part: str) -> str:
    if not source.strip():
        raise TemplateError(Problem("template.empty", {"part": PART_LABELS[part]}))
    try:
        return templates.render(source, context)
    except TemplateError as exc:
        raise TemplateError(_in_part(part, exc)) from exc


def _in_part(part: str, exc: ObvoError) -> Problem:
    return Problem("template.in_part", {"part": PART_LABELS[part], "problem": _problem_of(exc)})


def _problem_of(exc: ObvoError) -> Problem:
    """A template's own problem; a text from elsewhere (a layout file) shown as it is."""
    return exc.problems[0] if exc.problems else Problem("detail", {"text": str(exc)})


# ---- the rules document (TOML from `obvo rules apply`, or rows from the database) ----

_RULE_KEYS = {"code", "name", "kind", "templates"}


def parse_rules_document(document: Mapping[str, Any]) -> RuleSet:
    """Validate a whole rules document; raise RulesError listing every problem found."""
    problems: list[Problem] = []
    unknown_top = set(document) - {"event_types"}
    if unknown_top:
        problems.append(Problem("rules.unknown_top", {"keys": tuple(sorted(unknown_top))}))
    entries = document.get("event_types", [])
    if not isinstance(entries, list):
        raise RulesError([*problems, Problem("rules.not_array")])
    rules: dict[str, EventTypeRule] = {}
    for index, entry in enumerate(entries, start=1):
        where = Problem("rules.entry", {"index": index})
        if not isinstance(entry, dict):
            problems.append(at(where, Problem("rules.not_table")))
            continue
        code = entry.get("code")
        if isinstance(code, str) and code.strip():
            where = Problem("rules.event_type", {"code": code})
        rule = _parse_rule(entry, where, problems)
        if rule is None:
            continue
        if rule.code in rules:
            problems.append(at(where, Problem("rules.twice")))
        rules[rule.code] = rule
    if problems:
        raise RulesError(problems)
    return RuleSet(rules)


def _parse_rule(
    entry: Mapping[str, Any], where: Problem, problems: list[Problem]
) -> EventTypeRule | None:
    start = len(problems)
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        problems.append(at(where, Problem("rules.unknown_keys", {"keys": tuple(sorted(unknown))})))
    code = entry.get("code")
    if not isinstance(code, str) or not code.strip() or code != code.strip():
        problems.append(at(where, Problem("rules.code")))
        code = ""
    name = entry.get("name", "")
    if not isinstance(name, str):
        problems.append(at(where, Problem("rules.name")))
        name = ""
    kind_value = entry.get("kind")
    try:
        kind = EventKind(str(kind_value))
    except ValueError:
        problems.append(at(where, Problem("rules.unknown_kind", {"value": repr(kind_value)})))
        kind = EventKind.INTERNAL
    raw_templates = entry.get("templates", {})
    if not isinstance(raw_templates, dict):
        problems.append(at(where, Problem("rules.templates_not_table")))
        raw_templates = {}
    template_sets = parse_template_sets(raw_templates, kind, where, problems)
    if len(problems) > start:
        return None
    return EventTypeRule(code=code, kind=kind, name=name, templates=template_sets)


def parse_template_sets(
    raw: Mapping[str, Any], kind: EventKind, where: Label, problems: list[Problem]
) -> dict[str, TemplateSet]:
    result: dict[str, TemplateSet] = {}
    for language, parts in raw.items():
        lwhere = Problem("rules.language", {"where": where, "language": str(language)})
        if not _LANGUAGE_RE.fullmatch(str(language)):
            problems.append(at(lwhere, Problem("rules.language_code")))
            continue
        if not isinstance(parts, dict):
            problems.append(at(lwhere, Problem("rules.parts_table", {"parts": TEMPLATE_PARTS})))
            continue
        unknown = set(parts) - set(TEMPLATE_PARTS) - set(OPTIONAL_TEMPLATE_PARTS)
        if unknown:
            keys = tuple(sorted(unknown))
            problems.append(at(lwhere, Problem("rules.unknown_parts", {"keys": keys})))
        texts: dict[str, str] = {}
        for part in TEMPLATE_PARTS:
            label = PART_LABELS[part]
            text = parts.get(part)
            if text is None or (isinstance(text, str) and not text.strip()):
                problems.append(at(lwhere, Problem("rules.part_missing", {"part": label})))
                continue
            if not isinstance(text, str):
                problems.append(at(lwhere, Problem("rules.part_not_text", {"part": label})))
                continue
            try:
                templates.compile_template(text)
            except TemplateError as exc:
                problems.append(at(lwhere, _part_invalid(part, exc)))
                continue
            texts[part] = text
        html = _parse_html_part(parts.get("email_html"), lwhere, problems)
        if len(texts) == len(TEMPLATE_PARTS):
            result[str(language)] = TemplateSet(**texts, email_html=html)
    if kind is not EventKind.INTERNAL and DEFAULT_LANGUAGE not in raw:
        needs: dict[str, Param] = {
            "kind": KIND_LABELS[kind],
            "language": DEFAULT_LANGUAGE,
            "parts": TEMPLATE_PARTS,
        }
        problems.append(at(where, Problem("rules.needs_slovenian", needs)))
    return result


def _part_invalid(part: str, exc: ObvoError) -> Problem:
    return Problem("rules.part_invalid", {"part": PART_LABELS[part], "problem": _problem_of(exc)})


def _parse_html_part(text: Any, lwhere: Problem, problems: list[Problem]) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str) or not text.strip():
        problems.append(at(lwhere, Problem("rules.html_not_text")))
        return None
    try:
        html_templates.compile_html(text)
    except TemplateError as exc:
        problems.append(at(lwhere, _part_invalid("email_html", exc)))
        return None
    return text


def rules_to_document(ruleset: RuleSet) -> dict[str, Any]:
    """The inverse of parse_rules_document (for dumps and diffs)."""
    return {
        "event_types": [
            {
                "code": rule.code,
                "name": rule.name,
                "kind": str(rule.kind),
                "templates": {lang: ts.as_dict() for lang, ts in sorted(rule.templates.items())},
            }
            for rule in sorted(ruleset.rules.values(), key=lambda r: r.code)
        ]
    }


def rule_difference(
    before: EventTypeRule, after: EventTypeRule, *, template_gone: str = "removed"
) -> list[str]:
    """What differs between two versions of one event type's rule (empty when nothing does).

    The one differ of rules: `rules apply|diff` (describe_changes) and the daemon's reload log
    (rule_validation.rule_changes) both word their lines from it. `template_gone` says what a
    language missing from `after` means to the caller.
    """
    what: list[str] = []
    if before.kind is not after.kind:
        what.append(f"kind {before.kind} → {after.kind}")
    if before.name != after.name:
        what.append("name")
    for lang in sorted(set(before.templates) | set(after.templates)):
        b, a = before.templates.get(lang), after.templates.get(lang)
        if b == a:
            continue
        if b is None:
            what.append(f"templates.{lang} added")
        elif a is None:
            what.append(f"templates.{lang} {template_gone}")
        else:
            changed = [
                p
                for p in (*TEMPLATE_PARTS, *OPTIONAL_TEMPLATE_PARTS)
                if getattr(b, p) != getattr(a, p)
            ]
            what.append(f"templates.{lang}.{'/'.join(changed)}")
    return what


def describe_changes(old: RuleSet, new: RuleSet) -> list[str]:
    """Human-readable lines for what applying `new` over `old` changes (an upsert)."""
    lines: list[str] = []
    for code in sorted(new.rules):
        after = new.rules[code]
        before = old.rules.get(code)
        if before is None:
            lines.append(f"added     {code} ({after.kind})")
            continue
        changes = rule_difference(before, after, template_gone="kept (not in file)")
        lines.append(f"changed   {code}: {', '.join(changes)}" if changes else f"unchanged {code}")
    lines.extend(
        f"kept      {code} (in the database, not in the file)"
        for code in sorted(set(old.rules) - set(new.rules))
    )
    return lines


def sample_event(rule: EventTypeRule, columns: Sequence[str] = ()) -> dict[str, Any]:
    """Placeholder values for checking that templates render (used by `rules check`)."""
    import datetime as dt  # noqa: PLC0415 - only needed here

    values: dict[str, Any] = {c: f"<{c}>" for c in columns}
    values.update(
        event_id=1,
        event_type=rule.code,
        occurred_at=dt.datetime.now(tz=templates.LJUBLJANA),
        case_id="1",
    )
    return values
