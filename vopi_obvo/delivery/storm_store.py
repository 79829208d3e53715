"""Held notifications in OBVO's tables: the guard inside the poller's transaction, and the
operator's release or cancellation (`obvo notifications release|cancel --event-type`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog

from vopi_obvo.messages import storm
from vopi_obvo.messages.outbox_row import NewNotification
from vopi_obvo.queries import q

log = structlog.get_logger("vopi_obvo.storm")

# Counters untouched this long can no longer change a decision (an hour bucket plus late
# events); pruning runs at most this often.
COUNTS_KEPT_FOR = dt.timedelta(hours=3)
PRUNE_EVERY = dt.timedelta(minutes=10)
CANCEL_REASON = "cancelled by an operator while held ({reason})"


def lock_name(schema: str) -> str:
    return f"obvo-held:{schema}"


def lock(conn: sa.Connection, schema: str) -> None:
    """Serialise holding decisions with release/cancel, so a release never leaves behind a
    notification that a concurrent poller batch held a moment later."""
    conn.execute(q("lock_held"), {"lock_name": lock_name(schema)})


@dataclass(frozen=True)
class Guarded:
    notifications: list[NewNotification]
    held: dict[tuple[str, str], int]  # (event type, reason) → count held in this batch
    new_storms: list[storm.StormStart]
    held_earlier: dict[str, int]  # event type → pending notifications held when it began


def apply_guard(
    conn: sa.Connection,
    schema: str,
    notifications: Sequence[NewNotification],
    limits: storm.Limits,
    now: dt.datetime,
) -> Guarded:
    """Count the batch and mark the notifications to hold; in the caller's transaction, before
    the notifications are inserted. One statement when nothing is held; holding takes the
    lock shared with release/cancel and decides again on what it then sees."""
    keys = storm.batch_keys(notifications, now, per_subscriber=limits.per_subscriber_per_hour > 0)
    added = storm.count_keys(notifications, now, per_subscriber=False, keys=keys)
    if not added:
        return Guarded(list(notifications), {}, [], {})
    ordered = sorted(added)
    before: dict[storm.CountKey, int] = {}
    storming: list[str] = []
    for row in conn.execute(
        q("add_delivery_counts"),
        {
            "scopes": [k.scope for k in ordered],
            "keys": [k.key for k in ordered],
            "buckets": [k.bucket for k in ordered],
            "counts": [added[k] for k in ordered],
        },
    ):
        if row.scope == "storm":
            storming.append(row.key)
            continue
        key = storm.CountKey(row.scope, row.key, row.bucket.astimezone(dt.UTC))
        before[key] = int(row.total) - added[key]
    decision = storm.decide(notifications, before, storming, limits, now, keys=keys)
    if not decision.held:
        return Guarded(list(notifications), {}, [], {})
    lock(conn, schema)
    storming = [r.event_type for r in conn.execute(q("list_storms"))]
    decision = storm.decide(notifications, before, storming, limits, now, keys=keys)
    result = list(notifications)
    held: dict[tuple[str, str], int] = {}
    for index, reason in decision.held.items():
        n = result[index]
        result[index] = dataclasses.replace(n, status="held", held_reason=reason)
        held[(n.event_type, reason)] = held.get((n.event_type, reason), 0) + 1
    held_earlier: dict[str, int] = {}
    for start in decision.new_storms:
        conn.execute(
            q("start_storm"),
            {
                "event_type": start.event_type,
                "minute": start.minute,
                "threshold": limits.storm_threshold,
                "count": start.count,
            },
        )
        # The first `threshold` of the storm's minute went in as pending: hold those not yet
        # handed to a sender as well.
        held_earlier[start.event_type] = conn.execute(
            q("hold_pending_of_storm"),
            {"event_type": start.event_type, "minute": start.minute},
        ).rowcount
    return Guarded(result, held, list(decision.new_storms), held_earlier)


def prune_counts(conn: sa.Connection) -> int:
    return conn.execute(
        q("prune_delivery_counts"), {"older_than": COUNTS_KEPT_FOR.total_seconds()}
    ).rowcount


def log_guarded(guarded: Guarded, threshold: int, limit: int) -> None:
    """Loud: an operator must decide about held notifications."""
    for start in guarded.new_storms:
        log.warning(
            "storm.held",
            event_type=start.event_type,
            storm_started=True,
            minute=start.minute.isoformat(),
            notifications_in_minute=start.count,
            threshold=threshold,
            held_already_pending=guarded.held_earlier.get(start.event_type, 0),
            hint=f"obvo notifications release --event-type {start.event_type} (send them) "
            f"or cancel --event-type {start.event_type} (never send them)",
        )
    for (event_type, reason), count in sorted(guarded.held.items()):
        if reason == storm.STORM:
            log.warning("storm.held", event_type=event_type, held=count, threshold=threshold)
        else:
            log.warning(
                "subscriber_limit.held",
                event_type=event_type,
                held=count,
                max_per_subscriber_per_hour=limit,
                hint=f"obvo notifications release --event-type {event_type}",
            )


# ---- the operator's decision ----


@dataclass(frozen=True)
class HeldOutcome:
    event_type: str
    notifications: int
    storm_ended: bool


def release_held(conn: sa.Connection, schema: str, event_type: str) -> HeldOutcome:
    """Send them after all: held → pending (due now; quiet hours still apply to SMS), and end
    the type's storm. A storm that goes on trips the guard again."""
    lock(conn, schema)
    ended = conn.execute(q("end_storm"), {"event_type": event_type}).first() is not None
    count = conn.execute(q("release_held"), {"event_type": event_type}).rowcount
    return HeldOutcome(event_type, count, ended)


def cancel_held(conn: sa.Connection, schema: str, event_type: str) -> HeldOutcome:
    """Never send them: held → cancelled (kept, with the reason), and end the type's storm."""
    lock(conn, schema)
    ended = conn.execute(q("end_storm"), {"event_type": event_type}).first() is not None
    count = conn.execute(
        q("cancel_held"), {"event_type": event_type, "reason": CANCEL_REASON}
    ).rowcount
    return HeldOutcome(event_type, count, ended)


def held_summary(conn: sa.Connection) -> dict[str, Any]:
    """For `status`: storms in progress and held notifications by event type and reason."""
    storms = [
        {
            "event_type": r.event_type,
            "started_at": r.started_at.isoformat(),
            "minute": r.minute.isoformat(),
            "count": int(r.storm_count),
            "threshold": int(r.threshold),
        }
        for r in conn.execute(q("list_storms"))
    ]
    held = [
        {
            "event_type": r.event_type,
            "reason": r.held_reason,
            "count": int(r.n),
            "oldest": r.oldest.isoformat(),
        }
        for r in conn.execute(q("held_summary"))
    ]
    return {"storms": storms, "held": held}
