"""`obvo notifications list|show|retry|cancel`: the outbox, for operators.

The `notifications` group is built in cli.py; `release` and `cancel --event-type` (held
notifications) come from vopi_obvo/cli_held.py, whose `cancel` also takes one notification id
through this module.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping
from typing import Any

from vopi_obvo.admin import audit, cli_held, outbox
from vopi_obvo.admin.common import (
    Commands,
    actor_of,
    add_actor_option,
    obvo_engine,
    one_line,
    positive_int,
    print_json,
    print_table,
    settings_of,
)
from vopi_obvo.admin.rules_ops import sms_policy
from vopi_obvo.admin.timespec import parse_range, parse_time, show_time
from vopi_obvo.errors import ExitCode, InvalidInput
from vopi_obvo.problems import Problem


def add_notifications_commands(
    actions: Commands, held: Mapping[str, argparse.ArgumentParser]
) -> None:
    """list, show, retry in the `notifications` group; `cancel ID` on the held `cancel`."""
    p = actions.add("list", cmd_list, help="notifications, newest first")
    p.add_argument("--status", help=", ".join(outbox.STATUSES))
    p.add_argument("--subscriber", type=int, metavar="ID", help="subscriber id")
    p.add_argument("--case", metavar="ID", help="VOPI case id")
    p.add_argument("--since", metavar="T", help="created since T (2026-03-01, 2h, 7d, …)")
    p.add_argument("--until", metavar="T", help="created before T (the same forms as --since)")
    p.add_argument("--limit", type=positive_int, default=100, help="at most N (default 100)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = actions.add("show", cmd_show, help="one notification with every delivery attempt")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = actions.add(
        "retry",
        cmd_retry,
        help="send again: one notification, or every failed one (texts that could not be "
        "rendered are rendered again)",
    )
    p.add_argument("id", type=int, nargs="?", metavar="ID")
    p.add_argument("--failed", action="store_true", help="every failed notification")
    p.add_argument("--since", metavar="T", help="with --failed: those failed since T")
    add_actor_option(p)

    cancel = held["cancel"]
    cancel.add_argument("id", type=int, nargs="?", metavar="ID", help="one notification")
    cancel.set_defaults(handler=cmd_cancel)
    cancel.description = (
        "Cancel one notification by ID (pending, held or failed: it is never sent), or every "
        "held notification of an event type with --event-type."
    )


# ---- reading ----


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def cmd_list(args: argparse.Namespace) -> int:
    status = outbox.status_filter(args.status, "--status")
    since, until = parse_range(args.since, args.until, ("--since", "--until"))
    case_id = args.case.strip() if args.case is not None else None
    if case_id == "":
        raise InvalidInput("--case must not be empty")
    settings = settings_of(args)
    with obvo_engine(settings).connect() as conn:
        found = outbox.listed(
            conn,
            outbox.Filters(
                status=status,
                subscriber_id=args.subscriber,
                case_id=case_id,
                since=since,
                until=until,
                limit=args.limit,
            ),
        )
    if args.json:
        print_json([{k: _jsonable(v) for k, v in r._mapping.items()} for r in found])
        return ExitCode.OK
    print_table(
        ["id", "created", "event", "type", "case", "subscriber", "channel", "recipient",
         "status", "attempts", "last error"],
        [
            (
                r.id,
                show_time(r.created_at),
                r.source_event_id,
                r.event_type,
                r.case_id,
                r.subscriber_id,
                r.channel,
                r.recipient,
                r.status,
                r.attempts,
                one_line(r.last_error, 50),
            )
            for r in found
        ],
    )  # fmt: skip
    if len(found) == args.limit:
        print(f"(the newest {args.limit}; --limit N for more)")
    return ExitCode.OK


def cmd_show(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    with obvo_engine(settings).connect() as conn:
        row = outbox.one(conn, args.id)
        attempts = outbox.attempts(conn, args.id)
        actions = audit.entries(conn, target=f"notification:{args.id}", limit=100)
    row.pop("event_values", None)  # internal, for coalescing
    if args.json:
        print_json(
            {
                **{k: _jsonable(v) for k, v in row.items()},
                "attempt_history": [{k: _jsonable(v) for k, v in a.items()} for a in attempts],
                "audit": [e.as_json() for e in actions],
            }
        )
        return ExitCode.OK
    fields = [
        ("id", row["id"]),
        ("status", row["status"]),
        ("event", f"{row['source_event_id']} ({row['event_type']}, {row['event_kind']})"),
        ("case", row["case_id"]),
        ("subscriber", f"{row['subscriber_id']} (party {row['party_id']})"
            if row["subscriber_id"] is not None else "(removed)"),
        ("channel", row["channel"]),
        ("recipient", row["recipient"] or "(none)"),
        ("language", row["language"]),
        ("created", show_time(row["created_at"])),
        ("next attempt", show_time(row["next_attempt_at"]) if row["status"] == "pending" else ""),
        ("sent", show_time(row["sent_at"])),
        ("attempts", row["attempts"]),
        ("last error", row["last_error"] or ""),
    ]  # fmt: skip
    if row.get("sms_segments") is not None:
        fields.append(("sms", f"{row['sms_encoding']}, {row['sms_segments']} segment(s)"))
    if row.get("provider_id"):
        fields.append(("provider id", row["provider_id"]))
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        print(f"{key.ljust(width)}  {'' if value is None else value}".rstrip())
    print()
    if row["subject"] is not None:
        print(f"Subject: {row['subject']}")
    for line in (row["body"] or "(no text)").splitlines():
        print(f"| {line}")
    print("\nattempts")
    if attempts:
        print_table(
            ["#", "started", "finished", "result", "worker", "error"],
            [
                (
                    a["attempt"],
                    show_time(a["started_at"]),
                    show_time(a["finished_at"]),
                    a["outcome"],
                    a["worker_id"],
                    one_line(a["error"], 70),
                )
                for a in attempts
            ],
        )
    else:
        print("(none)")
    if actions:
        print("\nadministrative actions")
        print_table(
            ["time", "actor", "action"],
            [(show_time(e.at), e.actor, e.action) for e in reversed(actions)],
        )
    return ExitCode.OK


# ---- retry ----


def cmd_retry(args: argparse.Namespace) -> int:
    if args.id is not None and args.failed:
        raise InvalidInput("give one notification ID or --failed, not both")
    if args.id is None and not args.failed:
        raise InvalidInput("give a notification ID, or --failed for every failed one")
    if args.since is not None and not args.failed:
        raise InvalidInput("--since goes with --failed")
    since = parse_time(args.since, "--since") if args.since is not None else None
    settings = settings_of(args)
    result = outbox.retry(
        settings,
        obvo_engine(settings),
        actor_of(args),
        sms_policy(settings),
        notification_id=args.id,
        failed_since=since,
    )
    if not result.found:
        print("no failed notifications" + (f" since {args.since}" if since else ""))
        return ExitCode.OK
    for notification_id, reason in result.refused:
        print(Problem("retry.not_retried", {"id": notification_id, "problem": reason}))
    print(
        f"retried {len(result.done)} notification(s)"
        + (f", {result.rerendered} with the text rendered again" if result.rerendered else "")
        + ("; they are due now" if result.done else "")
    )
    return ExitCode.FAILURE if result.refused else ExitCode.OK


# ---- cancel ----


def cmd_cancel(args: argparse.Namespace) -> int:
    if args.id is not None and args.event_type is not None:
        raise InvalidInput("give one notification ID or --event-type CODE, not both")
    if args.id is None:
        if args.event_type is None:
            raise InvalidInput(
                "give a notification ID, or --event-type CODE for the held ones of a type"
            )
        return cli_held.cmd_cancel(args)
    settings = settings_of(args)
    actor = actor_of(args)
    with obvo_engine(settings).begin() as conn:
        previous = outbox.cancel_one(conn, args.id, actor)
    print(f"cancelled notification {args.id} (was {previous}); it will not be sent")
    return ExitCode.OK
