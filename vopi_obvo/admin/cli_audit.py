"""`obvo audit`: who changed what, and when: the administrative log (rules, subscribers,
retries, cancellations) and the citizens' portal's trail (sign-ins, refusals, API calls,
citizens' own changes), together or one `--source`."""

from __future__ import annotations

import argparse
import json

from vopi_obvo.admin import audit
from vopi_obvo.admin.common import (
    Commands,
    obvo_engine,
    one_line,
    positive_int,
    print_json,
    print_table,
    settings_of,
)
from vopi_obvo.admin.timespec import parse_range, show_time
from vopi_obvo.errors import ExitCode, InvalidInput


def add_audit_command(commands: Commands) -> None:
    p = commands.add(
        "audit",
        cmd_audit,
        help="the audit trail: administrative changes and the portal's sign-ins and changes",
        description="Every administrative change (rules, subscribers, retries, cancellations) "
        "and every entry of the citizens' portal (sign-ins, refusals with the peer address, API "
        "and webhook calls, citizens' own changes), with actor and time, newest first.",
    )
    p.add_argument(
        "--source", choices=audit.SOURCES, help="only the administrative log or only the portal's"
    )
    p.add_argument("--outcome", choices=("ok", "refused"), help="only allowed or refused entries")
    p.add_argument("--since", metavar="T", help="since T (2026-03-01, 2h, 7d, …)")
    p.add_argument("--until", metavar="T", help="before T (the same forms as --since)")
    p.add_argument("--actor", help="only this actor")
    p.add_argument(
        "--action", help="only this action, or a family: subscriber, notification, rules"
    )
    p.add_argument(
        "--target",
        help="only this target, e.g. subscriber:12, notification:345, rules, party:77",
    )
    p.add_argument("--limit", type=positive_int, default=100, help="at most N (default 100)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _filter(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        raise InvalidInput(f"{field} must not be empty")
    return text


def cmd_audit(args: argparse.Namespace) -> int:
    since, until = parse_range(args.since, args.until, ("--since", "--until"))
    actor = _filter(args.actor, "--actor")
    action = _filter(args.action, "--action")
    target = _filter(args.target, "--target")
    settings = settings_of(args)
    with obvo_engine(settings).connect() as conn:
        found = audit.entries(
            conn,
            source=args.source,
            since=since,
            until=until,
            actor=actor,
            action=action,
            target=target,
            outcome=args.outcome,
            limit=args.limit,
        )
    if args.json:
        print_json([e.as_json() for e in found])
        return ExitCode.OK
    print_table(
        ["source", "id", "time", "actor", "action", "outcome", "target", "peer", "detail"],
        [
            (
                e.source,
                e.id,
                show_time(e.at),
                e.actor,
                e.action,
                e.outcome,
                e.target,
                e.peer,
                one_line(json.dumps(dict(e.detail), ensure_ascii=False), 60),
            )
            for e in found
        ],
    )
    if len(found) == args.limit:
        print(f"(the newest {args.limit}; --limit N for more)")
    return ExitCode.OK
