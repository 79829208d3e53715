"""The outbox as administrators act on it: list, one notification with its attempts, retry,
cancel, and the decision about held notifications. Shared by `obvo notifications …` and the
console, so both validate alike and leave the same audit rows; callers only present results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from vopi_obvo import store
from vopi_obvo.admin import audit, subscriber_store
from vopi_obvo.admin.common import vopi_source
from vopi_obvo.admin.retry import CannotRetry, RetryPlan, needs_render, plan_retry
from vopi_obvo.config import Settings
from vopi_obvo.delivery.storm_store import HeldOutcome, cancel_held, release_held
from vopi_obvo.errors import InvalidInput, ObvoError
from vopi_obvo.messages.sms_text import SmsPolicy
from vopi_obvo.problems import Label, Param, Problem, at
from vopi_obvo.queries import q
from vopi_obvo.rules import Subscriber

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
CHANNELS = ("email", "sms")
CANCELLABLE = ("pending", "held", "failed")
_VOPI_CHUNK = 1000


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    channel: str | None = None
    event_type: str | None = None
    case_id: str | None = None
    subscriber_id: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before: int | None = None  # the next page: those listed after this notification
    limit: int = 100

    def params(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "channel": self.channel,
            "event_type": self.event_type,
            "case_id": self.case_id,
            "subscriber_id": self.subscriber_id,
            "since": self.since,
            "until": self.until,
            "before": self.before,
            "limit": self.limit,
        }


def status_filter(value: str | None, field: Label) -> str | None:
    if value is None:
        return None
    status = value.strip().lower()
    if status not in STATUSES:
        raise InvalidInput(
            Problem("outbox.status", {"field": field, "value": value, "statuses": STATUSES})
        )
    return status


def listed(conn: sa.Connection, filters: Filters) -> list[sa.Row[Any]]:
    """Newest first."""
    return list(conn.execute(q("admin_notifications"), filters.params()).all())


def rows_by_id(conn: sa.Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    result = conn.execute(q("admin_notifications_by_id"), {"ids": list(ids)})
    return [dict(r._mapping) for r in result]


def one(conn: sa.Connection, notification_id: int) -> dict[str, Any]:
    found = rows_by_id(conn, [notification_id])
    if not found:
        raise InvalidInput(at("ID", Problem("outbox.no_notification", {"id": notification_id})))
    return found[0]


def attempts(conn: sa.Connection, notification_id: int) -> list[dict[str, Any]]:
    return [
        dict(r._mapping)
        for r in conn.execute(q("admin_notification_attempts"), {"id": notification_id})
    ]


# ---- retry ----


@dataclass
class RetryResult:
    found: int  # notifications asked about
    done: list[RetryPlan] = field(default_factory=list)
    refused: list[tuple[int, Problem]] = field(default_factory=list)

    @property
    def rerendered(self) -> int:
        return sum(1 for p in self.done if p.rerendered)


def retry(
    settings: Settings,
    engine: sa.Engine,
    actor: str,
    policy: SmsPolicy,
    *,
    notification_id: int | None = None,
    failed_since: dt.datetime | None = None,
) -> RetryResult:
    """Send again one notification (by id) or every failed one (since a time); texts that
    could not be rendered are rendered again from the VOPI event. One notification that
    cannot be retried is an error (ObvoError when the rules or VOPI must change first)."""
    with engine.connect() as conn:
        if notification_id is not None:
            rows = [one(conn, notification_id)]
        else:
            failed = conn.execute(q("failed_notification_ids"), {"since": failed_since})
            ids = [int(r.id) for r in failed]
            rows = rows_by_id(conn, ids) if ids else []
        rules = store.load_rules(conn)
        subscribers = _subscribers(conn, {r["subscriber_id"] for r in rows})
    result = RetryResult(found=len(rows))
    if not rows:
        return result
    events = _events(settings, [r for r in rows if needs_render(r)])
    plans: list[RetryPlan] = []
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
            result.refused.append((row["id"], exc.reason))
            until_fixed = exc.until_fixed
    if notification_id is not None and result.refused:
        why = result.refused[0][1]
        message = Problem("retry.refused", {"id": notification_id, "problem": why})
        if until_fixed:
            raise ObvoError(message)  # the rules or VOPI must change first
        raise InvalidInput(message)
    with engine.begin() as conn:
        for plan in plans:
            if conn.execute(q("retry_notification"), plan.params()).first() is None:
                result.refused.append((plan.id, Problem("retry.changed_meanwhile")))
                continue
            result.done.append(plan)
            audit.record(
                conn,
                actor,
                "notification.retry",
                f"notification:{plan.id}",
                {"previous_status": plan.expected_status, "rerendered": plan.rerendered},
            )
    result.refused.sort()
    return result


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


def cancel_one(conn: sa.Connection, notification_id: int, actor: str) -> str:
    """Never send it (pending, held or failed only); its previous status. Audited."""
    row = one(conn, notification_id)
    if row["status"] not in CANCELLABLE:
        not_now: dict[str, Param] = {"id": notification_id, "status": str(row["status"])}
        raise InvalidInput(Problem("outbox.not_cancellable", not_now))
    if conn.execute(q("cancel_notification"), {"id": notification_id}).first() is None:
        raise InvalidInput(Problem("outbox.cancel_meanwhile", {"id": notification_id}))
    audit.record(
        conn,
        actor,
        "notification.cancel",
        f"notification:{notification_id}",
        {"previous_status": row["status"]},
    )
    return str(row["status"])


# ---- held notifications (storm guard, per-subscriber limit) ----


def decide_held(
    conn: sa.Connection, schema: str, code: str, actor: str, *, release: bool, field: Label
) -> HeldOutcome:
    """Release (send) or cancel the held notifications of an event type, ending its storm;
    audited when anything changed; InvalidInput for a type the rules do not know."""
    outcome = (release_held if release else cancel_held)(conn, schema, code)
    if outcome.notifications == 0 and not outcome.storm_ended:
        codes = sorted(r.code for r in conn.execute(q("list_event_types")).all())
        if code not in codes:
            known: Label = ", ".join(codes) if codes else Problem("held.no_types")
            unknown = {"field": field, "code": code, "known": known}
            raise InvalidInput(Problem("held.unknown_type", unknown))
    else:
        audit.record(
            conn,
            actor,
            "notifications.release" if release else "notifications.cancel",
            f"event_type:{code}",
            {"notifications": outcome.notifications, "storm_ended": outcome.storm_ended},
        )
    return outcome


def held_notifications(conn: sa.Connection, event_type: str, limit: int = 200) -> list[Any]:
    """The held notifications of one event type, oldest first (for a decision about them)."""
    return list(
        conn.execute(q("console_held_of_type"), {"event_type": event_type, "limit": limit}).all()
    )
