"""`obvo rules apply|dump|diff|check|unclassified` and `obvo preview EVENT_ID`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from vopi_obvo import store
from vopi_obvo.admin.common import (
    Commands,
    actor_of,
    add_actor_option,
    obvo_engine,
    print_json,
    print_table,
    settings_of,
    vopi_source,
    warn,
)
from vopi_obvo.admin.rendering import RenderedPart, check_rule
from vopi_obvo.admin.rules_ops import (
    SOURCE_ERRORS,
    apply_rules,
    decode_rules_bytes,
    dump_text,
    event_columns,
    fallback_values,
    newest_event_of_type,
    parse_rules_text,
    sms_policy,
    source_failure_note,
    unclassified_rows,
    vopi_catalogue,
)
from vopi_obvo.admin.rules_toml import diff_rules, has_changes
from vopi_obvo.config import Settings
from vopi_obvo.errors import ExitCode, InvalidInput
from vopi_obvo.messages.sms_warnings import sms_length_warnings
from vopi_obvo.problems import Problem
from vopi_obvo.rule_validation import format_problems, invalid_rules
from vopi_obvo.rules import EventKind, RuleSet, describe_changes


def add_rules_commands(commands: Commands) -> None:
    """The `rules` command and its actions."""
    actions = commands.group("rules", "event classification and templates")

    p = actions.add("apply", cmd_rules_apply, help="load rules from a TOML file (an upsert)")
    p.add_argument("file", type=Path)
    p.add_argument("--dry-run", action="store_true", help="show the changes, write nothing")
    add_actor_option(p)

    p = actions.add(
        "dump", cmd_rules_dump, help="write the current rules as TOML that `apply` reads"
    )
    p.add_argument("--output", "-o", type=Path, help="write to this file (default: stdout)")

    p = actions.add(
        "diff",
        cmd_rules_diff,
        help="what `rules apply FILE` would change (exit 0: nothing, 1: changes)",
    )
    p.add_argument("file", type=Path)

    p = actions.add(
        "check",
        cmd_rules_check,
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

    p = actions.add(
        "unclassified",
        cmd_rules_unclassified,
        help="VOPI event types no rule classifies: seen ones, and with [source] "
        "event_types_query those never classified",
    )
    p.add_argument("--json", action="store_true", help="print JSON")


def add_preview_command(commands: Commands) -> None:
    p = commands.add(
        "preview",
        cmd_preview,
        help="what would be sent for a real VOPI event",
        description="Show exactly what would be sent for a VOPI event: recipients, subject, "
        "body, SMS text with encoding and segments. Nothing is written or sent.",
    )
    p.add_argument("event_id", type=int, metavar="EVENT_ID", help="VOPI event id")
    p.add_argument("--subscriber", type=int, metavar="ID", help="only this subscriber (id)")
    p.add_argument("--language", help="render in this language instead of the subscriber's")
    p.add_argument("--json", action="store_true", help="print JSON")


# ---- reading a rules file ----


def read_rules_file(path: Path) -> RuleSet:
    """A rules file, validated; every problem names the file and the event type."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, not a rules file") from None
    return parse_rules_text(decode_rules_bytes(raw, str(path)), str(path))


# ---- apply, dump, diff ----


def cmd_rules_apply(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    actor = actor_of(args)
    path: Path = args.file
    new_rules = read_rules_file(path)
    with obvo_engine(settings).begin() as conn:
        applied = apply_rules(conn, new_rules, actor=actor, source=str(path), dry_run=args.dry_run)
    changes, changed = applied.changes, applied.changed
    for line in changes:
        print(line)
    for warning in sms_length_warnings(new_rules, sms_policy(settings)):
        warn(str(warning))
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
    text = dump_text(ruleset, settings.database.schema)
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
                "notes": [str(n) for n in notes],
            }
        )
        return ExitCode.FAILURE if failed else ExitCode.OK
    for note in notes:
        warn(str(note))
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
) -> tuple[dict[str, tuple[dict[str, Any], str]], list[Problem]]:
    """code → (event values, where they came from); notes say why sample values were used."""
    notes: list[Problem] = []
    columns: list[tuple[str, str | None]] | None = None
    latest: dict[str, dict[str, Any]] = {}
    source = vopi_source(settings)
    try:
        columns = event_columns(source)
        for code in [] if sample_only else codes:
            rule = ruleset.rules[code]
            if rule.kind is EventKind.INTERNAL and not rule.templates:
                continue
            found = newest_event_of_type(source, code)
            if found is not None:
                latest[code] = found
    except SOURCE_ERRORS as exc:
        notes.append(source_failure_note(exc))
    finally:
        source.engine.dispose()
    result: dict[str, tuple[dict[str, Any], str]] = {}
    for code in codes:
        if code in latest:
            result[code] = (latest[code], f"event {latest[code]['event_id']}")
        else:
            result[code] = (fallback_values(ruleset.rules[code], code, columns), "sample values")
    return result, notes


# ---- unclassified ----


def cmd_rules_unclassified(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    catalogue: dict[str, str] | None = None
    if settings.source.event_types_query.strip():
        source = vopi_source(settings)
        try:
            catalogue = vopi_catalogue(settings, source)
        finally:
            source.engine.dispose()
    with obvo_engine(settings).connect() as conn:
        found = unclassified_rows(conn, catalogue)
    ordered: list[dict[str, Any]] = [
        {
            "event_type": r.event_type,
            "name": r.name,
            "seen": r.seen,
            "first_seen_at": r.first_seen_at,
            "last_seen_at": r.last_seen_at,
            "last_event_id": r.last_event_id,
            "in_catalogue": r.in_catalogue,
        }
        for r in found
    ]
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


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def cmd_preview(args: argparse.Namespace) -> int:
    from vopi_obvo.admin.preview import run_preview  # noqa: PLC0415

    return run_preview(args, settings_of(args), sms_policy)
