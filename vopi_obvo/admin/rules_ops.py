"""What `obvo rules …` and the console's event-type pages share: reading a rules text
(validated as `rules apply` validates it), applying it with its audit row, the dump, the
list of VOPI event types (as `rules unclassified`), and the VOPI event a preview renders.

The CLI prints what these return; the console shows it. Neither repeats the logic.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vopi_obvo import queries, store
from vopi_obvo.admin import audit
from vopi_obvo.admin.rendering import referenced_event_fields, sample_values
from vopi_obvo.admin.rules_toml import dump_rules, has_changes
from vopi_obvo.config import Settings
from vopi_obvo.errors import RulesError, SourceQueryError, SourceUnavailable
from vopi_obvo.messages.sms_text import SmsPolicy
from vopi_obvo.problems import Problem, at
from vopi_obvo.rules import (
    EventKind,
    EventTypeRule,
    RuleSet,
    describe_changes,
    parse_rules_document,
)
from vopi_obvo.source.vopi import VopiSource


def sms_policy(settings: Settings) -> SmsPolicy:
    return SmsPolicy(
        transliterate=settings.sms.transliterate, max_segments=settings.sms.max_segments
    )


# ---- reading, applying, dumping ----


def parse_rules_text(text: str, name: str) -> RuleSet:
    """A rules document's TOML text, validated; every problem starts with `name`."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError([Problem("rules.not_toml", {"name": name, "detail": str(exc)})]) from None
    return parse_rules_named(document, name)


def parse_rules_named(document: dict[str, Any], name: str) -> RuleSet:
    try:
        return parse_rules_document(document)
    except RulesError as exc:
        raise RulesError([at(name, p) for p in exc.problems]) from None


def decode_rules_bytes(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RulesError([Problem("rules.not_utf8", {"name": name, "byte": exc.start})]) from None


@dataclass(frozen=True)
class Applied:
    changes: list[str]  # describe_changes(): added / changed / unchanged / kept lines
    changed: bool  # whether anything was (or, on a dry run, would be) written


def apply_rules(
    conn: sa.Connection, new_rules: RuleSet, *, actor: str, source: str, dry_run: bool = False
) -> Applied:
    """`rules apply`: an upsert of `new_rules` and its audit row, in the caller's
    transaction; `source` names where the rules came from (a file, a console page)."""
    current = store.load_rules(conn)
    changes = describe_changes(current, new_rules)
    changed = has_changes(current, new_rules)
    if not dry_run and changed:
        store.save_rules(conn, new_rules)
        audit.record(
            conn,
            actor,
            "rules.apply",
            "rules",
            {
                "file": source,
                "changes": [c for c in changes if not c.startswith(("unchanged", "kept"))],
            },
        )
    return Applied(changes, changed)


def dump_text(ruleset: RuleSet, schema: str, now: dt.datetime | None = None) -> str:
    """The file `rules dump` writes (`rules apply` reads it back unchanged)."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
    return dump_rules(
        ruleset,
        header=[
            f"OBVO rules from schema {schema}, dumped {moment}.",
            "Load with: obvo rules apply FILE (types and languages not in the file are kept).",
        ],
    )


# ---- the VOPI event types OBVO knows of ----


@dataclass(frozen=True)
class EventTypeRow:
    event_type: str
    name: str  # from VOPI's catalogue, or the rule's name
    kind: EventKind | None  # None: unclassified
    seen: int  # events seen while unclassified (OBVO forgets the count once classified)
    notifications: int  # notifications made for the type lately (classified ones)
    first_seen_at: dt.datetime | None
    last_seen_at: dt.datetime | None
    last_event_id: int | None
    in_catalogue: bool | None  # None: no [source] event_types_query

    @property
    def classified(self) -> bool:
        return self.kind is not None


def unclassified_rows(conn: sa.Connection, catalogue: dict[str, str] | None) -> list[EventTypeRow]:
    """`rules unclassified`: types seen without a rule, and the catalogue's never classified
    ones; the most seen first."""
    classified = set(store.load_rules(conn).rules)
    rows: dict[str, EventTypeRow] = {}
    for r in conn.execute(queries.q("list_unclassified")):
        rows[r.event_type] = EventTypeRow(
            event_type=r.event_type,
            name=(catalogue or {}).get(r.event_type, ""),
            kind=None,
            seen=int(r.seen_count),
            notifications=0,
            first_seen_at=r.first_seen_at,
            last_seen_at=r.last_seen_at,
            last_event_id=r.last_event_id,
            in_catalogue=None if catalogue is None else r.event_type in catalogue,
        )
    for code, name in (catalogue or {}).items():
        if code not in classified and code not in rows:
            rows[code] = EventTypeRow(code, name, None, 0, 0, None, None, None, True)
    return sorted(rows.values(), key=lambda r: (-r.seen, r.event_type))


def all_event_types(
    conn: sa.Connection, catalogue: dict[str, str] | None, since: dt.datetime
) -> list[EventTypeRow]:
    """The console's list: the unclassified types first (as `rules unclassified` orders them),
    then every classified one with its notifications since `since` and the last one's time."""
    rows = unclassified_rows(conn, catalogue)
    made = {
        r.event_type: (int(r.n), r.last_at, r.last_event_id)
        for r in conn.execute(queries.q("notifications_per_event_type"), {"since": since})
    }
    for rule in sorted(store.load_rules(conn).rules.values(), key=lambda r: r.code):
        count, last_at, last_event = made.get(rule.code, (0, None, None))
        rows.append(
            EventTypeRow(
                event_type=rule.code,
                name=rule.name or (catalogue or {}).get(rule.code, ""),
                kind=rule.kind,
                seen=0,
                notifications=count,
                first_seen_at=None,
                last_seen_at=last_at,
                last_event_id=last_event,
                in_catalogue=None if catalogue is None else rule.code in catalogue,
            )
        )
    return rows


def vopi_catalogue(settings: Settings, source: VopiSource) -> dict[str, str]:
    """VOPI's own list of event types ([source] event_types_query: code, name)."""
    stmt = sa.text(settings.source.event_types_query.strip().rstrip(";"))
    with source.engine.connect() as conn:
        try:
            result = conn.execute(stmt)
        except (sa.exc.ProgrammingError, sa.exc.DataError) as exc:
            raise SourceQueryError(
                f"[source] event_types_query failed in VOPI: {first_line(exc)}"
            ) from exc
        keys = list(result.keys())
        missing = [c for c in ("code", "name") if c not in keys]
        if missing:
            raise SourceQueryError(
                f"[source] event_types_query must return the columns code and name "
                f"(missing: {', '.join(missing)}; it returns: {', '.join(keys) or 'nothing'})"
            )
        catalogue = {
            str(r.code): "" if r.name is None else str(r.name) for r in result if r.code is not None
        }
        conn.rollback()
    return catalogue


# ---- the event a template is rendered with ----

SOURCE_ERRORS = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    SourceQueryError,
    SourceUnavailable,
)


def event_columns(source: VopiSource) -> list[tuple[str, str | None]]:
    """events_query's columns and their kinds (sample_values), without reading rows."""
    stmt = source.wrapped("vopi_probe_events")
    with source.engine.connect() as conn:
        try:
            result = conn.execute(stmt)
        except sa.exc.ProgrammingError as exc:
            raise SourceQueryError(f"events_query failed in VOPI: {first_line(exc)}") from exc
        kinds = source.dialect.column_kinds(result)
        conn.rollback()
    return kinds


def newest_event_of_type(source: VopiSource, code: str) -> dict[str, Any] | None:
    stmt = source.wrapped("vopi_newest_event_of_type")
    with source.engine.connect() as conn:
        try:
            row = conn.execute(stmt, {"event_type": code}).mappings().first()
        except sa.exc.ProgrammingError as exc:
            raise SourceQueryError(f"events_query failed in VOPI: {first_line(exc)}") from exc
        conn.rollback()
    return None if row is None else dict(row)


def source_failure_note(exc: Exception) -> Problem:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return Problem("preview.vopi_unreadable", {"detail": detail})


def fallback_values(
    rule: EventTypeRule, code: str, columns: Sequence[tuple[str, str | None]] | None
) -> dict[str, Any]:
    """Sample values typed by events_query's columns, or (VOPI unreadable) the columns the
    templates name."""
    known = columns
    if known is None:
        known = [(name, None) for name in sorted(referenced_event_fields(rule))]
    return sample_values(known, code)


def preview_event(
    source: VopiSource, rule: EventTypeRule
) -> tuple[dict[str, Any], str, list[Problem]]:
    """The newest real VOPI event of the rule's type (or sample values): values, where they
    came from ("event 4711" / "sample values"), notes on why VOPI could not be read."""
    columns: list[tuple[str, str | None]] | None = None
    try:
        columns = event_columns(source)
        found = newest_event_of_type(source, rule.code)
    except SOURCE_ERRORS as exc:
        return fallback_values(rule, rule.code, None), "sample values", [source_failure_note(exc)]
    if found is not None:
        return found, f"event {found['event_id']}", []
    return fallback_values(rule, rule.code, columns), "sample values", []


def first_line(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig or exc).strip().splitlines()[0]
