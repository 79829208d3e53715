"""`obvo rules apply|dump|diff|check|unclassified` and `obvo preview EVENT_ID`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tomllib
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from vopi_obvo import queries, store
from vopi_obvo.admin import audit
from vopi_obvo.admin.common import (
    actor_of,
    add_actor_option,
    obvo_engine,
    print_json,
    print_table,
    settings_of,
    vopi_source,
    warn,
)
from vopi_obvo.admin.rendering import (
    RenderedPart,
    check_rule,
    referenced_event_fields,
    sample_values,
)
from vopi_obvo.admin.rules_toml import diff_rules, dump_rules, has_changes
from vopi_obvo.config import Settings
from vopi_obvo.errors import (
    ExitCode,
    InvalidInput,
    RulesError,
    SourceQueryError,
    SourceUnavailable,
)
from vopi_obvo.messages.sms_text import SmsPolicy
from vopi_obvo.messages.sms_warnings import sms_length_warnings
from vopi_obvo.rule_validation import format_problems, invalid_rules
from vopi_obvo.rules import EventKind, RuleSet, describe_changes, parse_rules_document
from vopi_obvo.source.vopi import VopiSource

Add = Any  # argparse's private _SubParsersAction type


def add_rules_commands(sub: Add, common: argparse.ArgumentParser) -> None:
    """The `rules` command and its actions."""
    rules = sub.add_parser("rules", help="event classification and templates")
    actions = rules.add_subparsers(title="rules commands", metavar="ACTION", required=True)

    p = actions.add_parser(
        "apply", parents=[common], help="load rules from a TOML file (an upsert)"
    )
    p.add_argument("file", type=Path)
    p.add_argument("--dry-run", action="store_true", help="show the changes, write nothing")
    add_actor_option(p)
    p.set_defaults(handler=cmd_rules_apply)

    p = actions.add_parser(
        "dump", parents=[common], help="write the current rules as TOML that `apply` reads"
    )
    p.add_argument("--output", "-o", type=Path, help="write to this file (default: stdout)")
    p.set_defaults(handler=cmd_rules_dump)

    p = actions.add_parser(
        "diff",
        parents=[common],
        help="what `rules apply FILE` would change (exit 0: nothing, 1: changes)",
    )
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_rules_diff)

    p = actions.add_parser(
        "check",
        parents=[common],
        help="render every template with the latest real event of its type (or sample "
        "values), for every channel and language",
    )
    p.add_argument(
        "--sample", action="store_true", help="sample values only; do not read events from VOPI"
    )
    p.add_argument(
        "--event-type", action="append", metavar="CODE", help="only this type (repeatable)"
    )
    p.add_argument("--show", action="store_true", help="print every rendered text too")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_rules_check)

    p = actions.add_parser(
        "unclassified",
        parents=[common],
        help="VOPI event types no rule classifies: seen ones, and with [source] "
        "event_types_query those never classified",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_rules_unclassified)


def add_preview_command(sub: Add, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "preview",
        parents=[common],
        help="what would be sent for a real VOPI event",
        description="Show exactly what would be sent for a VOPI event: recipients, subject, "
        "body, SMS text with encoding and segments. Nothing is written or sent.",
    )
    p.add_argument("event_id", type=int, metavar="EVENT_ID", help="VOPI event id")
    p.add_argument("--subscriber", type=int, metavar="ID", help="only this subscriber (id)")
    p.add_argument("--language", help="render in this language instead of the subscriber's")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_preview)


# ---- reading a rules file ----


def read_rules_file(path: Path) -> RuleSet:
    """A rules file, validated; every problem names the file and the event type."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, not a rules file") from None
    except UnicodeDecodeError as exc:
        raise RulesError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError([f"{path}: not valid TOML: {exc}"]) from None
    try:
        return parse_rules_document(document)
    except RulesError as exc:
        raise RulesError([f"{path}: {p}" for p in exc.problems]) from None


def sms_policy(settings: Settings) -> SmsPolicy:
    return SmsPolicy(
        transliterate=settings.sms.transliterate, max_segments=settings.sms.max_segments
    )


# ---- apply, dump, diff ----


def cmd_rules_apply(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    actor = actor_of(args)
    path: Path = args.file
    new_rules = read_rules_file(path)
    engine = obvo_engine(settings)
    with engine.begin() as conn:
        current = store.load_rules(conn)
        changes = describe_changes(current, new_rules)
        changed = has_changes(current, new_rules)
        if not args.dry_run and changed:
            store.save_rules(conn, new_rules)
            audit.record(
                conn,
                actor,
                "rules.apply",
                "rules",
                {
                    "file": str(path),
                    "changes": [c for c in changes if not c.startswith(("unchanged", "kept"))],
                },
            )
    for line in changes:
        print(line)
    for warning in sms_length_warnings(new_rules, sms_policy(settings)):
        warn(warning)
    if args.dry_run:
        print("(dry run: nothing written)")
    else:
        print(f"applied {path}" if changed else f"applied {path}: nothing changed")
    return ExitCode.OK


def cmd_rules_dump(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with obvo_engine(settings).connect() as conn:
        ruleset = store.load_rules(conn)
    for problem in format_problems(invalid_rules(ruleset)):
        warn(f"{problem} (dumped as stored; `rules apply` will refuse it until fixed)")
    now = dt.datetime.now(dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
    text = dump_rules(
        ruleset,
        header=[
            f"OBVO rules from schema {settings.database.schema}, dumped {now}.",
            "Load with: obvo rules apply FILE (types and languages not in the file are kept).",
        ],
    )
    output: Path | None = args.output
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"--output {output}: cannot write: {exc.strerror}") from None
        print(f"wrote {len(ruleset.rules)} event type(s) to {output}", file=sys.stderr)
    return ExitCode.OK


def cmd_rules_diff(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    path: Path = args.file
    new_rules = read_rules_file(path)
    with obvo_engine(settings).connect() as conn:
        current = store.load_rules(conn)
    if not has_changes(current, new_rules):
        for line in describe_changes(current, new_rules):
            if line.startswith("kept"):
                print(line)
        print(f"no changes: `obvo rules apply {path}` would write nothing")
        return ExitCode.OK
    for line in diff_rules(current, new_rules, str(path)):
        print(line)
    return ExitCode.FAILURE


# ---- check ----


def cmd_rules_check(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with obvo_engine(settings).connect() as conn:
        ruleset = store.load_rules(conn)
    wanted: list[str] | None = args.event_type
    if wanted:
        unknown = sorted(set(wanted) - set(ruleset.rules))
        if unknown:
            raise InvalidInput(f"--event-type: no rule for {', '.join(unknown)}")
    codes = [c for c in sorted(ruleset.rules) if not wanted or c in wanted]
    row_problems = {c: p for c, p in invalid_rules(ruleset).items() if c in codes}
    events, notes = _events_for_check(settings, ruleset, codes, sample_only=args.sample)
    policy = sms_policy(settings)
    parts: list[RenderedPart] = []
    internal: list[str] = []
    for code in codes:
        rule = ruleset.rules[code]
        if rule.kind is EventKind.INTERNAL and not rule.templates:
            internal.append(code)
            continue
        values, source = events[code]
        parts.extend(check_rule(rule, values, source, policy))
    failed = bool(row_problems) or any(not p.ok for p in parts)
    if args.json:
        print_json(
            {
                "ok": not failed,
                "invalid_rows": row_problems,
                "results": [p.as_json() for p in parts],
                "internal_without_templates": internal,
                "notes": notes,
            }
        )
        return ExitCode.FAILURE if failed else ExitCode.OK
    for note in notes:
        warn(note)
    _print_check(parts, args.show)
    if internal:
        print(f"\ninternal, never sent, no templates: {', '.join(internal)}")
    problems = format_problems(row_problems) + [
        f"event type {p.code}, language {p.language}, {p.channel}: {p.error}"
        for p in parts
        if not p.ok
    ]
    warnings = [
        f"event type {p.code}, language {p.language}, {p.channel}: {w}"
        for p in parts
        for w in p.warnings
    ]
    for line in warnings:
        print(f"warning: {line}")
    for line in problems:
        print(f"problem: {line}", file=sys.stderr)
    checked = len(parts)
    print(
        f"\n{checked} text(s) rendered, {sum(1 for p in parts if not p.ok)} error(s), "
        f"{len(row_problems)} invalid event type row(s)"
    )
    return ExitCode.FAILURE if failed else ExitCode.OK


def _print_check(parts: list[RenderedPart], show: bool) -> None:
    print_table(
        ["event type", "lang", "channel", "rendered with", "result", "sms", "units", "segments"],
        [
            (
                p.code,
                p.language,
                p.channel,
                p.source,
                "ok" if p.ok else "ERROR",
                "" if p.sms is None else str(p.sms.encoding),
                None if p.sms is None else p.sms.units,
                None if p.sms is None else p.sms.segments,
            )
            for p in parts
        ],
    )
    if not show:
        return
    for p in parts:
        if not p.ok:
            continue
        print(f"\n--- {p.code} {p.language} {p.channel} ({p.source})")
        if p.subject is not None:
            print(f"Subject: {p.subject}\n")
        print(p.text)


def _events_for_check(
    settings: Settings, ruleset: RuleSet, codes: list[str], *, sample_only: bool
) -> tuple[dict[str, tuple[dict[str, Any], str]], list[str]]:
    """code → (event values, where they came from); notes say why sample values were used."""
    notes: list[str] = []
    columns: list[tuple[str, int | None]] | None = None
    latest: dict[str, dict[str, Any]] = {}
    source = vopi_source(settings)
    try:
        columns = _event_columns(source)
        for code in [] if sample_only else codes:
            rule = ruleset.rules[code]
            if rule.kind is EventKind.INTERNAL and not rule.templates:
                continue
            found = _newest_event_of_type(source, code)
            if found is not None:
                latest[code] = found
    except (
        sa.exc.OperationalError,
        sa.exc.InterfaceError,
        SourceQueryError,
        SourceUnavailable,
    ) as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        notes.append(
            f"VOPI could not be read ({detail}); sample values used instead, with the "
            "columns the templates name (their types unknown)"
        )
    finally:
        source.engine.dispose()
    result: dict[str, tuple[dict[str, Any], str]] = {}
    for code in codes:
        if code in latest:
            result[code] = (latest[code], f"event {latest[code]['event_id']}")
            continue
        known = columns
        if known is None:
            known = [(name, None) for name in sorted(referenced_event_fields(ruleset.rules[code]))]
        result[code] = (sample_values(known, code), "sample values")
    return result, notes


def _event_columns(source: VopiSource) -> list[tuple[str, int | None]]:
    stmt = source.wrapped("vopi_probe_events")
    with source.engine.connect() as conn:
        try:
            result = conn.execute(stmt)
        except sa.exc.ProgrammingError as exc:
            raise SourceQueryError(f"events_query failed in VOPI: {_first_line(exc)}") from exc
        description = result.cursor.description or ()
        conn.rollback()
    return [(str(d[0]), d[1] if isinstance(d[1], int) else None) for d in description]


def _newest_event_of_type(source: VopiSource, code: str) -> dict[str, Any] | None:
    stmt = source.wrapped("vopi_newest_event_of_type")
    with source.engine.connect() as conn:
        try:
            row = conn.execute(stmt, {"event_type": code}).mappings().first()
        except sa.exc.ProgrammingError as exc:
            raise SourceQueryError(f"events_query failed in VOPI: {_first_line(exc)}") from exc
        conn.rollback()
    return None if row is None else dict(row)


def _first_line(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig or exc).strip().splitlines()[0]


# ---- unclassified ----


def cmd_rules_unclassified(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with obvo_engine(settings).connect() as conn:
        seen = conn.execute(queries.q("list_unclassified")).all()
        classified = set(store.load_rules(conn).rules)
    catalogue: dict[str, str] | None = None
    if settings.source.event_types_query.strip():
        catalogue = _vopi_catalogue(settings)
    rows: dict[str, dict[str, Any]] = {}
    for r in seen:
        rows[r.event_type] = {
            "event_type": r.event_type,
            "name": (catalogue or {}).get(r.event_type, ""),
            "seen": int(r.seen_count),
            "first_seen_at": r.first_seen_at,
            "last_seen_at": r.last_seen_at,
            "last_event_id": r.last_event_id,
            "in_catalogue": None if catalogue is None else r.event_type in catalogue,
        }
    for code, name in (catalogue or {}).items():
        if code not in classified and code not in rows:
            rows[code] = {
                "event_type": code,
                "name": name,
                "seen": 0,
                "first_seen_at": None,
                "last_seen_at": None,
                "last_event_id": None,
                "in_catalogue": True,
            }
    ordered = sorted(rows.values(), key=lambda r: (-r["seen"], r["event_type"]))
    if args.json:
        print_json(
            {
                "catalogue_configured": catalogue is not None,
                "event_types": [
                    {
                        **r,
                        "first_seen_at": _iso(r["first_seen_at"]),
                        "last_seen_at": _iso(r["last_seen_at"]),
                    }
                    for r in ordered
                ],
            }
        )
        return ExitCode.OK
    if not ordered:
        print("every event type seen is classified")
    else:
        from vopi_obvo.admin.timespec import show_time  # noqa: PLC0415

        print_table(
            ["event type", "name", "seen", "last seen", "last event id"],
            [
                (
                    r["event_type"],
                    r["name"],
                    r["seen"],
                    show_time(r["last_seen_at"]) or "never",
                    r["last_event_id"],
                )
                for r in ordered
            ],
        )
    if catalogue is None:
        print(
            "\n(only types seen so far; set [source] event_types_query to list VOPI's whole "
            "catalogue)"
        )
    print("\nclassify them with `obvo rules apply FILE` (kind internal, notify or key)")
    return ExitCode.OK


def _vopi_catalogue(settings: Settings) -> dict[str, str]:
    source = vopi_source(settings)
    stmt = sa.text(settings.source.event_types_query.strip().rstrip(";"))
    try:
        with source.engine.connect() as conn:
            try:
                result = conn.execute(stmt)
            except (sa.exc.ProgrammingError, sa.exc.DataError) as exc:
                raise SourceQueryError(
                    f"[source] event_types_query failed in VOPI: {_first_line(exc)}"
                ) from exc
            keys = list(result.keys())
            missing = [c for c in ("code", "name") if c not in keys]
            if missing:
                raise SourceQueryError(
                    f"[source] event_types_query must return the columns code and name "
                    f"(missing: {', '.join(missing)}; it returns: {', '.join(keys) or 'nothing'})"
                )
            catalogue = {
                str(r.code): "" if r.name is None else str(r.name)
                for r in result
                if r.code is not None
            }
            conn.rollback()
    finally:
        source.engine.dispose()
    return catalogue


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def cmd_preview(args: argparse.Namespace) -> int:
    from vopi_obvo.admin.preview import run_preview  # noqa: PLC0415

    return run_preview(args, settings_of(args), sms_policy)
