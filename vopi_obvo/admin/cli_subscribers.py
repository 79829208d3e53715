"""`obvo subscribers add|update|show|list|remove|import|forget`: citizens' subscriptions."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from vopi_obvo.admin import audit, subscriber_store
from vopi_obvo.admin import subscriber_input as inp
from vopi_obvo.admin.common import (
    actor_of,
    add_actor_option,
    obvo_engine,
    print_json,
    print_table,
    settings_of,
    vopi_source,
)
from vopi_obvo.admin.subscriber_input import SubscriberData
from vopi_obvo.admin.timespec import show_time
from vopi_obvo.config import Settings
from vopi_obvo.errors import ExitCode, InvalidInput, ObvoError, SourceUnavailable
from vopi_obvo.rules import DEFAULT_LANGUAGE
from vopi_obvo.subscribers import SubscriberRecord

Add = Any  # argparse's private _SubParsersAction type


def add_subscribers_commands(sub: Add, common: argparse.ArgumentParser) -> None:
    subs = sub.add_parser("subscribers", help="citizens' subscriptions")
    actions = subs.add_subparsers(title="subscribers commands", metavar="ACTION", required=True)

    p = actions.add_parser("add", parents=[common], help="subscribe a party")
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
    p.set_defaults(handler=cmd_add)

    p = actions.add_parser("update", parents=[common], help="change a subscription")
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
    p.set_defaults(handler=cmd_update)

    p = actions.add_parser("show", parents=[common], help="one subscription in full")
    _selector(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_show)

    p = actions.add_parser("list", parents=[common], help="list subscribers")
    p.add_argument("--case", metavar="ID", help="only those limited to this case")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_list)

    p = actions.add_parser(
        "remove", parents=[common], help="end a subscription (what is still due is cancelled)"
    )
    _selector(p)
    add_actor_option(p)
    p.set_defaults(handler=cmd_remove)

    p = actions.add_parser(
        "import",
        parents=[common],
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
    p.set_defaults(handler=cmd_import)

    p = actions.add_parser(
        "forget",
        parents=[common],
        help="erase a subscriber on request: addresses and message texts removed, anonymised "
        "counts kept; irreversible",
    )
    _selector(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_actor_option(p)
    p.set_defaults(handler=cmd_forget)


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


def check_cases_in_vopi(settings: Settings, wanted: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """party → problem, for parties that are not parties of a case they want to follow."""
    all_cases = sorted({c for cs in wanted.values() for c in cs})
    if not all_cases:
        return {}
    source = vopi_source(settings)
    try:
        parties = source.parties(all_cases)
    except SourceUnavailable as exc:
        detail = exc.error
        raise ObvoError(f"cannot check the cases in VOPI ({detail}); nothing was written") from exc
    finally:
        source.engine.dispose()
    problems: dict[str, str] = {}
    for party, cases in wanted.items():
        wrong = [c for c in cases if party not in parties.get(c, set())]
        if wrong:
            problems[party] = f"party {party} is not a party of case(s) {', '.join(wrong)} in VOPI"
    return problems


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
    inp.check_complete(data)
    settings = settings_of(args)
    actor = actor_of(args)
    problem = check_cases_in_vopi(settings, {data.party_id: data.cases}).get(data.party_id)
    if problem:
        raise InvalidInput(f"--case: {problem}")
    with obvo_engine(settings).begin() as conn:
        new_id = subscriber_store.insert(conn, data)
        if new_id is None:
            [existing] = subscriber_store.find(conn, party_id=data.party_id)
            raise InvalidInput(
                f"--party: party {data.party_id} is already subscribed (subscriber "
                f"{existing.id}); change it with `obvo subscribers update --party "
                f"{data.party_id} …`"
            )
        audit.record(
            conn,
            actor,
            "subscriber.add",
            f"subscriber:{new_id}",
            _audit_detail(data),
        )
    scope = f"cases {', '.join(data.cases)}" if data.cases else "all their applications"
    print(
        f"subscribed party {data.party_id} (subscriber {new_id}): "
        f"{_channels(data.email, data.phone)}; events: {data.events}; {scope}"
    )
    return ExitCode.OK


def _audit_detail(data: SubscriberData, **extra: Any) -> dict[str, Any]:
    """What the audit keeps of a subscription: never the addresses themselves."""
    return {
        "party": data.party_id,
        "channels": [c for c, v in (("email", data.email), ("sms", data.phone)) if v],
        "events": data.events,
        "language": data.language,
        "origin": data.origin,
        "reference": data.reference,
        "cases": list(data.cases),
        **extra,
    }


def cmd_update(args: argparse.Namespace) -> int:
    changes = _requested_changes(args)
    settings = settings_of(args)
    actor = actor_of(args)
    engine = obvo_engine(settings)
    with engine.connect() as conn:
        current = _find(conn, args)
    data = _apply_changes(current, changes)
    inp.check_complete(data)
    if "cases" in changes:
        problem = check_cases_in_vopi(settings, {data.party_id: data.cases}).get(data.party_id)
        if problem:
            raise InvalidInput(f"--case: {problem}")
    changed = _changed_fields(current, data)
    if not changed:
        print(f"subscriber {current.id} (party {current.party_id}): nothing to change")
        return ExitCode.OK
    with engine.begin() as conn:
        locked = subscriber_store.find(conn, subscriber_id=current.id)
        if not locked or locked[0] != current:
            raise InvalidInput(
                f"subscriber {current.id} was changed or removed meanwhile; run the command again"
            )
        subscriber_store.update(conn, current.id, data)
        audit.record(
            conn,
            actor,
            "subscriber.update",
            f"subscriber:{current.id}",
            {"party": current.party_id, "changed": changed},
        )
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


def _apply_changes(current: SubscriberRecord, changes: dict[str, Any]) -> SubscriberData:
    base = SubscriberData(
        party_id=current.party_id,
        email=current.email,
        phone=current.phone,
        events=current.events,
        language=current.language,
        origin=current.origin,
        reference=current.reference,
        consent_at=current.consent_at,
        cases=current.cases,
    )
    return SubscriberData(**{**base.__dict__, **changes})


def _changed_fields(current: SubscriberRecord, data: SubscriberData) -> list[str]:
    fields = ("email", "phone", "events", "language", "origin", "reference", "consent_at")
    changed = [f for f in fields if getattr(current, f) != getattr(data, f)]
    if sorted(current.cases) != sorted(data.cases):
        changed.append("cases")
    return changed


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
        cancelled = subscriber_store.remove(
            conn, record.id, "cancelled: the subscription was removed"
        )
        audit.record(
            conn,
            actor,
            "subscriber.remove",
            f"subscriber:{record.id}",
            {"party": record.party_id, "cancelled_notifications": cancelled},
        )
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
    with engine.begin() as conn:
        again = subscriber_store.find(conn, subscriber_id=record.id)
        if not again:
            raise InvalidInput(f"subscriber {record.id} was removed meanwhile")
        erasure = subscriber_store.forget(conn, again[0])
        audit.record(
            conn,
            actor,
            "subscriber.forget",
            f"subscriber:{record.id}",
            {
                "party": record.party_id,
                "notifications_erased": erasure.erased,
                "notifications_cancelled": erasure.cancelled,
                "portal_identities_removed": erasure.portal_identities,
            },
        )
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
    rows, problems = inp.parse_csv(
        inp.decode_csv(raw, str(path)), str(path), default_origin=default_origin
    )
    settings = settings_of(args)
    actor = actor_of(args)
    engine = obvo_engine(settings)
    with engine.connect() as conn:
        existing = {
            r.data.party_id: found[0].id
            for r in rows
            if (found := subscriber_store.find(conn, party_id=r.data.party_id))
        }
    case_problems = check_cases_in_vopi(
        settings, {r.data.party_id: r.data.cases for r in rows if r.data.cases}
    )
    valid: list[inp.CsvRow] = []
    for row in rows:
        party = row.data.party_id
        if party in existing:
            problems.append(
                inp.CsvProblem(
                    row.line,
                    f"party {party} is already subscribed (subscriber {existing[party]}); "
                    "change it with `obvo subscribers update`",
                )
            )
        elif party in case_problems:
            problems.append(inp.CsvProblem(row.line, f"column cases: {case_problems[party]}"))
        else:
            valid.append(row)
    problems.sort(key=lambda p: p.line)
    imported: list[tuple[int, int]] = []
    if not args.dry_run and valid:
        with engine.begin() as conn:
            for row in valid:
                new_id = subscriber_store.insert(conn, row.data)
                if new_id is None:  # subscribed meanwhile by someone else
                    problems.append(
                        inp.CsvProblem(row.line, f"party {row.data.party_id} subscribed meanwhile")
                    )
                    continue
                imported.append((row.line, new_id))
                audit.record(
                    conn,
                    actor,
                    "subscriber.add",
                    f"subscriber:{new_id}",
                    _audit_detail(row.data, via="import", file=path.name, line=row.line),
                )
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
