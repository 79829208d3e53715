"""`obvo subscribers add|update|show|list|remove|import|forget`: citizens' subscriptions."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from vopi_obvo.admin import audit, subscriber_ops, subscriber_store
from vopi_obvo.admin import subscriber_input as inp
from vopi_obvo.admin.common import (
    Commands,
    actor_of,
    add_actor_option,
    obvo_engine,
    print_json,
    print_table,
    settings_of,
)
from vopi_obvo.admin.subscriber_input import SubscriberData
from vopi_obvo.admin.timespec import show_time
from vopi_obvo.errors import ExitCode, InvalidInput
from vopi_obvo.rules import DEFAULT_LANGUAGE
from vopi_obvo.subscribers import SubscriberRecord


def add_subscribers_commands(commands: Commands) -> None:
    actions = commands.group("subscribers", "citizens' subscriptions")

    p = actions.add("add", cmd_add, help="subscribe a party")
    p.add_argument("--party", required=True, help="VOPI party id")
    _contact_options(p)
    p.add_argument("--events", default="all", help="all (default) or key")
    p.add_argument("--language", default=DEFAULT_LANGUAGE, help="two-letter code (default sl)")
    p.add_argument(
        "--origin",
        default=inp.Origin.IN_PERSON.value,
        help=f"how the citizen subscribed: {inp.ORIGINS} (default in_person)",
    )
    p.add_argument("--reference", help="document reference of a written application")
    p.add_argument("--consent-at", help="when consent was given (default: now)")
    p.add_argument(
        "--case",
        action="append",
        default=[],
        metavar="ID",
        help="only this case (repeatable; default: every case of the party)",
    )
    add_actor_option(p)

    p = actions.add("update", cmd_update, help="change a subscription")
    _selector(p)
    _contact_options(p)
    p.add_argument("--no-email", action="store_true", help="remove the e-mail address")
    p.add_argument("--no-phone", action="store_true", help="remove the phone number")
    p.add_argument("--events", help="all or key")
    p.add_argument("--language", help="two-letter code")
    p.add_argument("--origin", help=inp.ORIGINS)
    p.add_argument("--reference", help="document reference of a written application")
    p.add_argument("--consent-at", help="when consent was given")
    p.add_argument(
        "--case",
        action="append",
        default=[],
        metavar="ID",
        help="follow only these cases (repeatable; replaces the list)",
    )
    p.add_argument("--all-cases", action="store_true", help="follow every case of the party")
    add_actor_option(p)

    p = actions.add("show", cmd_show, help="one subscription in full")
    _selector(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = actions.add("list", cmd_list, help="list subscribers")
    p.add_argument("--case", metavar="ID", help="only those limited to this case")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = actions.add(
        "remove", cmd_remove, help="end a subscription (what is still due is cancelled)"
    )
    _selector(p)
    add_actor_option(p)

    p = actions.add(
        "import",
        cmd_import,
        help="register subscribers from a UTF-8 CSV file",
        description="Header row: party,email,phone,events,language and optionally origin, "
        "reference, consent_at, cases (case ids separated by ; or spaces). An empty cell is "
        "not set. Every row is validated; the valid ones are applied, each invalid one is "
        "reported with its line number.",
    )
    p.add_argument("file", type=Path, metavar="FILE.csv")
    p.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
    p.add_argument(
        "--origin",
        default=inp.Origin.IN_PERSON.value,
        help=f"origin of rows without one: {inp.ORIGINS} (default in_person)",
    )
    add_actor_option(p)

    p = actions.add(
        "forget",
        cmd_forget,
        help="erase a subscriber on request: addresses and message texts removed, anonymised "
        "counts kept; irreversible",
    )
    _selector(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_actor_option(p)


def _contact_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--email", help="e-mail address")
    p.add_argument("--phone", help="mobile number (041 123 456 or +386 41 123 456)")


def _selector(p: argparse.ArgumentParser) -> None:
    p.add_argument("subscriber", nargs="?", metavar="ID", help="subscriber id (as `list` shows)")
    p.add_argument("--party", help="VOPI party id")


# ---- helpers ----


def _find(conn: sa.Connection, args: argparse.Namespace) -> SubscriberRecord:
    """The subscriber named by ID or --party (exactly one of them)."""
    given_id: str | None = args.subscriber
    given_party: str | None = args.party
    if (given_id is None) == (given_party is None):
        raise InvalidInput("name the subscriber by its ID or by --party (one of them)")
    if given_id is not None:
        try:
            subscriber_id = int(given_id)
        except ValueError:
            raise InvalidInput(f"ID: {given_id!r} is not a subscriber id (a number)") from None
        found = subscriber_store.find(conn, subscriber_id=subscriber_id)
        if not found:
            raise InvalidInput(f"ID: no subscriber with id {subscriber_id}")
        return found[0]
    party = inp.party(given_party or "", "--party")
    found = subscriber_store.find(conn, party_id=party)
    if not found:
        raise InvalidInput(f"--party: party {party} has no subscription")
    return found[0]


def _channels(email: str | None, phone: str | None) -> str:
    return ", ".join(c for c in (email, phone) if c)


# ---- add, update ----


def cmd_add(args: argparse.Namespace) -> int:
    data = SubscriberData(
        party_id=inp.party(args.party, "--party"),
        email=inp.email(args.email, "--email") if args.email is not None else None,
        phone=inp.phone(args.phone, "--phone") if args.phone is not None else None,
        events=inp.events(args.events, "--events"),
        language=inp.language(args.language, "--language"),
        origin=inp.origin(args.origin, "--origin"),
        reference=inp.reference(args.reference, "--reference") if args.reference else None,
        consent_at=(
            inp.consent(args.consent_at, "--consent-at")
            if args.consent_at
            else dt.datetime.now(dt.UTC)
        ),
        cases=inp.cases(args.case, "--case"),
    )
    settings = settings_of(args)
    new_id = subscriber_ops.register(
        settings, obvo_engine(settings), data, actor_of(args), subscriber_ops.Fields()
    )
    scope = f"cases {', '.join(data.cases)}" if data.cases else "all their applications"
    print(
        f"subscribed party {data.party_id} (subscriber {new_id}): "
        f"{_channels(data.email, data.phone)}; events: {data.events}; {scope}"
    )
    return ExitCode.OK


def cmd_update(args: argparse.Namespace) -> int:
    changes = _requested_changes(args)
    settings = settings_of(args)
    engine = obvo_engine(settings)
    with engine.connect() as conn:
        current = _find(conn, args)
    changed = subscriber_ops.update(
        settings, engine, current, changes, actor=actor_of(args), fields=subscriber_ops.Fields()
    )
    if not changed:
        print(f"subscriber {current.id} (party {current.party_id}): nothing to change")
        return ExitCode.OK
    print(f"updated subscriber {current.id} (party {current.party_id}): {', '.join(changed)}")
    return ExitCode.OK


def _requested_changes(args: argparse.Namespace) -> dict[str, Any]:
    """Only what was given on the command line, validated."""
    changes: dict[str, Any] = {}
    if args.email is not None and args.no_email:
        raise InvalidInput("--email and --no-email contradict each other")
    if args.phone is not None and args.no_phone:
        raise InvalidInput("--phone and --no-phone contradict each other")
    if args.case and args.all_cases:
        raise InvalidInput("--case and --all-cases contradict each other")
    if args.email is not None:
        changes["email"] = inp.email(args.email, "--email")
    if args.no_email:
        changes["email"] = None
    if args.phone is not None:
        changes["phone"] = inp.phone(args.phone, "--phone")
    if args.no_phone:
        changes["phone"] = None
    if args.events is not None:
        changes["events"] = inp.events(args.events, "--events")
    if args.language is not None:
        changes["language"] = inp.language(args.language, "--language")
    if args.origin is not None:
        changes["origin"] = inp.origin(args.origin, "--origin")
    if args.reference is not None:
        changes["reference"] = inp.reference(args.reference, "--reference")
    if args.consent_at is not None:
        changes["consent_at"] = inp.consent(args.consent_at, "--consent-at")
    if args.case:
        changes["cases"] = inp.cases(args.case, "--case")
    if args.all_cases:
        changes["cases"] = ()
    if not changes:
        raise InvalidInput(
            "nothing to update: give --email/--no-email, --phone/--no-phone, --events, "
            "--language, --origin, --reference, --consent-at, --case or --all-cases"
        )
    return changes


# ---- show, list ----


def cmd_show(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with obvo_engine(settings).connect() as conn:
        record = _find(conn, args)
        counts = subscriber_store.notification_counts(conn, record.id)
        history = audit.entries(conn, target=f"subscriber:{record.id}", limit=20)
    if args.json:
        print_json(
            {
                **subscriber_store.record_json(record),
                "notifications": counts,
                "audit": [e.as_json() for e in history],
            }
        )
        return ExitCode.OK
    fields = [
        ("id", record.id),
        ("party", record.party_id),
        ("e-mail", record.email or "-"),
        ("phone", record.phone or "-"),
        ("events", record.events),
        ("language", record.language),
        ("origin", record.origin or "(not recorded)"),
        ("reference", record.reference or "-"),
        ("consent", show_time(record.consent_at) or "(not recorded)"),
        ("cases", ", ".join(record.cases) if record.cases else "all of the party"),
        ("created", show_time(record.created_at)),
        ("updated", show_time(record.updated_at)),
    ]
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        print(f"{key.ljust(width)}  {value}")
    print("\nnotifications")
    if counts:
        print_table(
            ["channel", "status", "count"],
            [(c, s, n) for c, by in sorted(counts.items()) for s, n in sorted(by.items())],
        )
    else:
        print("(none)")
    if history:
        print("\nchanges")
        print_table(
            ["time", "actor", "action"],
            [(show_time(e.at), e.actor, e.action) for e in reversed(history)],
        )
    return ExitCode.OK


def cmd_list(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    case_id = inp.cases([args.case], "--case")[0] if args.case is not None else None
    with obvo_engine(settings).connect() as conn:
        records = subscriber_store.find(conn, case_id=case_id)
    if args.json:
        print_json([subscriber_store.record_json(r) for r in records])
        return ExitCode.OK
    print_table(
        ["id", "party", "email", "phone", "events", "language", "origin", "cases", "consent"],
        [
            (
                r.id,
                r.party_id,
                r.email,
                r.phone,
                r.events,
                r.language,
                r.origin,
                ", ".join(r.cases) if r.cases else "all",
                show_time(r.consent_at),
            )
            for r in records
        ],
    )
    return ExitCode.OK


# ---- remove, forget ----


def cmd_remove(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    actor = actor_of(args)
    with obvo_engine(settings).begin() as conn:
        record = _find(conn, args)
        cancelled = subscriber_ops.end(conn, record, actor)
    extra = f" ({cancelled} notification(s) still due cancelled)" if cancelled else ""
    print(f"removed the subscription of party {record.party_id}{extra}")
    return ExitCode.OK


def cmd_forget(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    actor = actor_of(args)
    engine = obvo_engine(settings)
    with engine.connect() as conn:
        record = _find(conn, args)
    if not args.yes:
        _confirm_erasure(record)
    erasure = subscriber_ops.erase(engine, record, actor)
    portal = (
        f"; {erasure.portal_identities} portal sign-in link(s) removed"
        if erasure.portal_identities
        else ""
    )
    print(
        f"erased subscriber {record.id} (party {record.party_id}): addresses and texts of "
        f"{erasure.erased} notification(s) removed, {erasure.cancelled} still due cancelled"
        f"{portal}; anonymised delivery counts kept"
    )
    return ExitCode.OK


def _confirm_erasure(record: SubscriberRecord) -> None:
    if not sys.stdin.isatty():
        raise InvalidInput("erasure is irreversible: confirm with --yes (no terminal to ask on)")
    print(
        f"This permanently erases subscriber {record.id} (party {record.party_id}): "
        f"{_channels(record.email, record.phone)} and the texts of every message sent to them. "
        "Delivery counts are kept without personal data. It cannot be undone.",
        file=sys.stderr,
    )
    answer = input(f"Type the party id ({record.party_id}) to confirm: ")
    if answer.strip() != record.party_id:
        raise InvalidInput("not confirmed: nothing was erased")


# ---- import ----


def cmd_import(args: argparse.Namespace) -> int:
    path: Path = args.file
    default_origin = inp.origin(args.origin, "--origin")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, not a CSV file") from None
    settings = settings_of(args)
    report = subscriber_ops.import_csv(
        settings,
        obvo_engine(settings),
        inp.decode_csv(raw, str(path)),
        str(path),
        actor_of(args),
        default_origin=default_origin,
        dry_run=args.dry_run,
        file_name=path.name,
    )
    problems, valid, imported = report.problems, report.valid, report.imported
    if problems:
        print_table(["line", "problem"], [(p.line, p.message) for p in problems])
        print()
    if args.dry_run:
        print(
            f"{path}: {len(valid)} row(s) valid, {len(problems)} invalid (dry run: nothing written)"
        )
    else:
        print(
            f"{path}: imported {len(imported)} subscriber(s)"
            + (f"; {len(problems)} invalid row(s) not imported" if problems else "")
        )
    return ExitCode.FAILURE if problems else ExitCode.OK
