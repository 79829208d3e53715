"""`obvo notifications release|cancel --event-type CODE`: the operator decides about held
notifications (storm guard, per-subscriber limit)."""

from __future__ import annotations

import argparse

from vopi_obvo.admin.common import (
    Commands,
    actor_of,
    add_actor_option,
    obvo_engine,
    settings_of,
)
from vopi_obvo.admin.outbox import decide_held
from vopi_obvo.delivery.storm_store import HeldOutcome
from vopi_obvo.errors import ExitCode, InvalidInput


def add_held_commands(actions: Commands) -> dict[str, argparse.ArgumentParser]:
    """`release` and `cancel` in the `notifications` group; returns their parsers so that
    other actions (e.g. cancelling one notification by id) can be added to them."""
    parsers: dict[str, argparse.ArgumentParser] = {}
    p = actions.add(
        "release",
        cmd_release,
        help="send the held notifications of an event type (storm guard, subscriber limit)",
        description="Held notifications of the event type become due now (SMS still wait for "
        "the end of quiet hours); a storm of that type ends, and new notifications are counted "
        "afresh.",
    )
    p.add_argument("--event-type", required=True, metavar="CODE", help="VOPI event type code")
    add_actor_option(p)
    parsers["release"] = p
    p = actions.add(
        "cancel",
        cmd_cancel,
        help="never send the held notifications of an event type",
        description="Held notifications of the event type are cancelled (kept, with the "
        "reason, never sent); a storm of that type ends.",
    )
    p.add_argument("--event-type", metavar="CODE", help="VOPI event type code")
    add_actor_option(p)
    parsers["cancel"] = p
    return parsers


def _event_type(args: argparse.Namespace) -> str:
    code = str(args.event_type or "").strip()
    if not code:
        raise InvalidInput("--event-type must name a VOPI event type code, e.g. KLAS")
    return code


def cmd_release(args: argparse.Namespace) -> int:
    return _decide(args, release=True)


def cmd_cancel(args: argparse.Namespace) -> int:
    if args.event_type is None:
        raise InvalidInput("give --event-type CODE: whose held notifications to cancel")
    return _decide(args, release=False)


def _decide(args: argparse.Namespace, *, release: bool) -> int:
    code = _event_type(args)
    settings = settings_of(args)
    actor = actor_of(args)
    schema = settings.database.schema
    with obvo_engine(settings).begin() as conn:
        outcome = decide_held(conn, schema, code, actor, release=release, field="--event-type")
    print(describe_held(outcome, release=release))
    return ExitCode.OK


def describe_held(outcome: HeldOutcome, *, release: bool) -> str:
    code = outcome.event_type
    if outcome.notifications == 0 and not outcome.storm_ended:
        return f"nothing is held for event type {code}"
    verb = "released" if release else "cancelled"
    what = f"{verb} {outcome.notifications} held notification(s) of event type {code}" + (
        " (due now)" if release and outcome.notifications else ""
    )
    if outcome.storm_ended:
        what += "; its storm is over: new notifications of this type are counted afresh"
    return what
