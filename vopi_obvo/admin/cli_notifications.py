"""`obvo notifications list|show|retry|cancel`: the outbox, for operators.

The `notifications` group is built in cli.py; `release` and `cancel --event-type` (held
notifications) come from vopi_obvo/cli_held.py, whose `cancel` also takes one notification id
through this module.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from vopi_obvo import store
from vopi_obvo.admin import audit, cli_held, subscriber_store
from vopi_obvo.admin.cli_rules import sms_policy
from vopi_obvo.admin.common import (
    actor_of,
    add_actor_option,
    obvo_engine,
    one_line,
    positive_int,
    print_json,
    print_table,
    settings_of,
    vopi_source,
)
from vopi_obvo.admin.retry import (
    CannotRetry,
    RetryPlan,
    needs_render,
    plan_retry,
)
from vopi_obvo.admin.timespec import parse_time, show_time
from vopi_obvo.config import Settings
from vopi_obvo.errors import ExitCode, InvalidInput, ObvoError
from vopi_obvo.queries import q
from vopi_obvo.rules import Subscriber

Add = Any  # argparse's private _SubParsersAction type

STATUSES = (
    "pending",
    "sending",
    "sent",
    "failed",
    "cancelled",
    "held",
    "coalesced",
    "delivered",
    "undelivered",
)
CANCELLABLE = ("pending", "held", "failed")
_VOPI_CHUNK = 1000


def add_notifications_commands(
    actions: Add, common: argparse.ArgumentParser, held: Mapping[str, argparse.ArgumentParser]
) -> None:
    """list, show, retry in the `notifications` group; `cancel ID` on the held `cancel`."""
    p = actions.add_parser("list", parents=[common], help="notifications, newest first")
    p.add_argument("--status", help=", ".join(STATUSES))
    p.add_argument("--subscriber", type=int, metavar="ID", help="subscriber id")
    p.add_argument("--case", metavar="ID", help="VOPI case id")
    p.add_argument("--since", metavar="T", help="created since T (2026-03-01, 2h, 7d, …)")
    p.add_argument("--limit", type=positive_int, default=100, help="at most N (default 100)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_list)

    p = actions.add_parser(
        "show", parents=[common], help="one notification with every delivery attempt"
    )
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_show)

    p = actions.add_parser(
        "retry",
        parents=[common],
        help="send again: one notification, or every failed one (texts that could not be "
        "rendered are rendered again)",
    )
    p.add_argument("id", type=int, nargs="?", metavar="ID")
    p.add_argument("--failed", action="store_true", help="every failed notification")
    p.add_argument("--since", metavar="T", help="with --failed: those failed since T")
    add_actor_option(p)
    p.set_defaults(handler=cmd_retry)

    cancel = held["cancel"]
    cancel.add_argument("id", type=int, nargs="?", metavar="ID", help="one notification")
    cancel.set_defaults(handler=cmd_cancel)
    cancel.description = (
        "Cancel one notification by ID (pending, held or failed: it is never sent), or every "
        "held notification of an event type with --event-type."
    )


# ---- reading ----


def _rows_by_id(conn: sa.Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    result = conn.execute(q("admin_notifications_by_id"), {"ids": list(ids)})
    return [dict(r._mapping) for r in result]


def _one(conn: sa.Connection, notification_id: int) -> dict[str, Any]:
    found = _rows_by_id(conn, [notification_id])
    if not found:
        raise InvalidInput(f"ID: no notification with id {notification_id}")
    return found[0]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def cmd_list(args: argparse.Namespace) -> int:
    status: str | None = None
    if args.status is not None:
        status = args.status.strip().lower()
        if status not in STATUSES:
            raise InvalidInput(
                f"--status must be one of {', '.join(STATUSES)}, not {args.status!r}"
            )
    since = parse_time(args.since, "--since") if args.since is not None else None
    case_id = args.case.strip() if args.case is not None else None
    if case_id == "":
        raise InvalidInput("--case must not be empty")
    settings = settings_of(args)
    with obvo_engine(settings).connect() as conn:
        found = conn.execute(
            q("admin_notifications"),
            {
                "status": status,
                "subscriber_id": args.subscriber,
                "case_id": case_id,
                "since": since,
                "limit": args.limit,
            },
        ).all()
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
        row = _one(conn, args.id)
        attempts = [
            dict(r._mapping)
            for r in conn.execute(q("admin_notification_attempts"), {"id": args.id})
        ]
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
    actor = actor_of(args)
    engine = obvo_engine(settings)
    with engine.connect() as conn:
        if args.id is not None:
            rows = [_one(conn, args.id)]
        else:
            ids = [int(r.id) for r in conn.execute(q("failed_notification_ids"), {"since": since})]
            rows = _rows_by_id(conn, ids) if ids else []
        rules = store.load_rules(conn)
        subscribers = _subscribers(conn, {r["subscriber_id"] for r in rows})
    if not rows:
        print("no failed notifications" + (f" since {args.since}" if since else ""))
        return ExitCode.OK
    events = _events(settings, [r for r in rows if needs_render(r)])
    policy = sms_policy(settings)
    plans: list[RetryPlan] = []
    refused: list[tuple[int, str]] = []
    until_fixed = False
    for row in rows:
        try:
            plans.append(
                plan_retry(
                    row,
                    subscribers.get(row["subscriber_id"]),
                    rules.get(row["event_type"]),
                    events.get(row["source_event_id"]),
                    policy,
                )
            )
        except CannotRetry as exc:
            refused.append((row["id"], str(exc)))
            until_fixed = exc.until_fixed
    if args.id is not None and refused:
        message = f"notification {args.id} cannot be retried: {refused[0][1]}"
        if until_fixed:
            raise ObvoError(message)  # the rules or VOPI must change first: exit 1
        raise InvalidInput(message)
    done: list[RetryPlan] = []
    with engine.begin() as conn:
        for plan in plans:
            if conn.execute(q("retry_notification"), plan.params()).first() is None:
                refused.append((plan.id, "its status changed meanwhile"))
                continue
            done.append(plan)
            audit.record(
                conn,
                actor,
                "notification.retry",
                f"notification:{plan.id}",
                {"previous_status": plan.expected_status, "rerendered": plan.rerendered},
            )
    rerendered = sum(1 for p in done if p.rerendered)
    for notification_id, reason in sorted(refused):
        print(f"notification {notification_id}: not retried: {reason}")
    print(
        f"retried {len(done)} notification(s)"
        + (f", {rerendered} with the text rendered again" if rerendered else "")
        + ("; they are due now" if done else "")
    )
    return ExitCode.FAILURE if refused else ExitCode.OK


def _subscribers(conn: sa.Connection, ids: set[int | None]) -> dict[int, Subscriber]:
    found: dict[int, Subscriber] = {}
    for sid in sorted(i for i in ids if i is not None):
        records = subscriber_store.find(conn, subscriber_id=sid)
        if records:
            found[sid] = records[0].as_subscriber()
    return found


def _events(settings: Settings, rows: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """The events to render again, read from VOPI by id (its own values, as now)."""
    wanted = sorted({int(r["source_event_id"]) for r in rows})
    if not wanted:
        return {}
    source = vopi_source(settings)
    found: dict[int, dict[str, Any]] = {}
    try:
        for start in range(0, len(wanted), _VOPI_CHUNK):
            for event in source.events_by_id(wanted[start : start + _VOPI_CHUNK]):
                found[event.event_id] = dict(event.values)
    finally:
        source.engine.dispose()
    return found


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
        row = _one(conn, args.id)
        if row["status"] not in CANCELLABLE:
            raise InvalidInput(
                f"notification {args.id} is {row['status']}; only pending, held or failed "
                "notifications can be cancelled"
            )
        if conn.execute(q("cancel_notification"), {"id": args.id}).first() is None:
            raise InvalidInput(f"notification {args.id} changed meanwhile; nothing cancelled")
        audit.record(
            conn,
            actor,
            "notification.cancel",
            f"notification:{args.id}",
            {"previous_status": row["status"]},
        )
    print(f"cancelled notification {args.id} (was {row['status']}); it will not be sent")
    return ExitCode.OK
