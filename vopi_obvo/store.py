"""OBVO's own tables: rules, subscribers, the cursor and holes, the outbox."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vopi_obvo.messages.outbox_row import NewNotification
from vopi_obvo.queries import q
from vopi_obvo.rules import EventKind, EventTypeRule, RuleSet, Subscriber, TemplateSet
from vopi_obvo.source.holes import Hole
from vopi_obvo.subscribers import SubscriberRecord


@dataclass(frozen=True)
class ClaimedNotification:
    id: int
    channel: str
    recipient: str | None
    subject: str | None
    body: str | None
    attempts: int
    event_kind: str
    source_event_id: int
    subscriber_id: int | None = None
    language: str = "sl"
    body_html: str | None = None


def load_rules(conn: sa.Connection) -> RuleSet:
    """Rule rows as the daemon uses them: lenient, so that a row broken by hand in SQL makes
    its own notifications fail with a reason instead of stopping everything."""
    templates: dict[str, dict[str, TemplateSet]] = {}
    for row in conn.execute(q("list_templates")):
        templates.setdefault(row.event_type, {})[row.language] = TemplateSet(
            email_subject=row.email_subject or "",
            email_body=row.email_body or "",
            sms=row.sms or "",
            email_html=row.email_html,
        )
    result: dict[str, EventTypeRule] = {}
    for row in conn.execute(q("list_event_types")):
        result[row.code] = EventTypeRule(
            code=row.code,
            kind=EventKind(row.kind),
            name=row.name,
            templates=templates.get(row.code, {}),
        )
    return RuleSet(result)


def rules_fingerprint(conn: sa.Connection) -> str:
    return str(conn.execute(q("rules_fingerprint")).scalar_one())


def save_rules(conn: sa.Connection, ruleset: RuleSet) -> None:
    for rule in ruleset.rules.values():
        conn.execute(
            q("upsert_event_type"), {"code": rule.code, "name": rule.name, "kind": str(rule.kind)}
        )
        for language, tset in rule.templates.items():
            conn.execute(
                q("upsert_template"),
                {
                    "event_type": rule.code,
                    "language": language,
                    **tset.as_dict(),
                    "email_html": tset.email_html,
                },
            )
    conn.execute(q("forget_classified"))


def subscribers_for_parties(conn: sa.Connection, party_ids: Iterable[str]) -> list[Subscriber]:
    ids = sorted(set(party_ids))
    if not ids:
        return []
    return [
        _subscriber(row) for row in conn.execute(q("subscribers_for_parties"), {"party_ids": ids})
    ]


def _subscriber(row: sa.Row[Any]) -> Subscriber:
    return SubscriberRecord.from_row(row._mapping).as_subscriber()


# ---- cursor and holes ----


def get_cursor(conn: sa.Connection, source: str) -> int | None:
    value = conn.execute(q("get_cursor"), {"source": source}).scalar_one_or_none()
    return None if value is None else int(value)


def init_cursor(conn: sa.Connection, source: str, event_id: int) -> None:
    conn.execute(q("init_cursor"), {"source": source, "event_id": event_id})


def set_cursor(conn: sa.Connection, source: str, event_id: int) -> None:
    conn.execute(q("set_cursor"), {"source": source, "event_id": event_id})


def list_holes(conn: sa.Connection, source: str) -> list[Hole]:
    return [
        Hole(int(r.first_id), int(r.last_id), r.first_seen_at, r.first_seen_xmax)
        for r in conn.execute(q("list_holes"), {"source": source})
    ]


def replace_holes(
    conn: sa.Connection, source: str, before: Sequence[Hole], after: Sequence[Hole]
) -> None:
    """Store the hole ranges `after` where `before` was stored: only the rows that changed."""
    kept = set(before) & set(after)
    removed = [h.first_id for h in before if h not in kept]
    added = [h for h in after if h not in kept]
    if removed:
        conn.execute(q("remove_holes"), {"source": source, "first_ids": removed})
    if added:
        conn.execute(
            q("add_holes"),
            {
                "source": source,
                "first_id": [h.first_id for h in added],
                "last_id": [h.last_id for h in added],
                "first_seen_at": [h.first_seen_at for h in added],
                "first_seen_xmax": [h.first_seen_xmax for h in added],
            },
        )


def note_unclassified(conn: sa.Connection, counts: Mapping[str, tuple[int, int]]) -> list[str]:
    """Count unknown event types; returns those seen for the first time (to log once)."""
    first: list[str] = []
    for event_type, (count, last_id) in sorted(counts.items()):
        row = conn.execute(
            q("note_unclassified"),
            {"event_type": event_type, "count": count, "last_event_id": last_id},
        ).one()
        if row.first_time:
            first.append(event_type)
    return first


def insert_notifications(conn: sa.Connection, notifications: Sequence[NewNotification]) -> None:
    """One statement for the whole batch; a row already there (a re-read batch) is skipped."""
    if not notifications:
        return
    columns = [f.name for f in dataclasses.fields(NewNotification)]
    arrays = {c: [getattr(n, c) for n in notifications] for c in columns}
    arrays["delay"] = [float(d) for d in arrays["delay"]]
    conn.execute(q("insert_notifications_bulk"), arrays)


# ---- the dispatcher's side ----


def claim_due(
    conn: sa.Connection, worker_id: str, limit: int, channels: Sequence[str]
) -> list[ClaimedNotification]:
    rows = conn.execute(
        q("claim_due"), {"worker_id": worker_id, "limit": limit, "channels": list(channels)}
    )
    claimed = [ClaimedNotification(**row._asdict()) for row in rows]
    claimed.sort(key=lambda c: c.id)
    return claimed


@dataclass(frozen=True)
class Attempt:
    """One try of a claimed notification: its outcome is written with an attempt row naming
    it, in the same statement."""

    notification_id: int
    attempt: int
    worker_id: str
    started_at: dt.datetime

    def params(self) -> dict[str, object]:
        return {
            "id": self.notification_id,
            "attempt": self.attempt,
            "worker_id": self.worker_id,
            "started_at": self.started_at,
        }


def mark_sent(conn: sa.Connection, attempt: Attempt, provider_id: str | None) -> None:
    conn.execute(q("mark_sent"), attempt.params() | {"provider_id": provider_id})


@dataclass(frozen=True)
class SentMark:
    """One message its provider accepted: what its `sent` mark and attempt row say."""

    notification_id: int
    attempt: int
    started_at: dt.datetime
    provider_id: str | None


def mark_sent_many(conn: sa.Connection, worker_id: str, marks: Sequence[SentMark]) -> None:
    """Several `sent` marks and their attempt rows in one statement."""
    if marks:
        conn.execute(
            q("mark_sent_many"),
            {
                "worker_id": worker_id,
                "ids": [m.notification_id for m in marks],
                "attempts": [m.attempt for m in marks],
                "started_at": [m.started_at for m in marks],
                "provider_ids": [m.provider_id for m in marks],
            },
        )


def schedule_retry(conn: sa.Connection, attempt: Attempt, delay: float, error: str) -> None:
    conn.execute(q("schedule_retry"), attempt.params() | {"delay": delay, "error": error})


def fail_attempt(conn: sa.Connection, attempt: Attempt, error: str) -> None:
    conn.execute(q("fail_attempt"), attempt.params() | {"error": error})


def mark_failed(conn: sa.Connection, notification_id: int, worker_id: str, error: str) -> None:
    """Failed without an attempt row (when the outcome itself could not be written)."""
    conn.execute(q("mark_failed"), {"id": notification_id, "worker_id": worker_id, "error": error})


def release_claims(conn: sa.Connection, worker_id: str, ids: Sequence[int]) -> None:
    """Claims never handed to a sender go back; their attempt is not counted."""
    if ids:
        conn.execute(q("release_claims"), {"worker_id": worker_id, "ids": list(ids)})


def abandon_claims(conn: sa.Connection, worker_id: str, ids: Sequence[int], error: str) -> None:
    """Claims handed to a sender whose outcome is unknown go back keeping their attempt."""
    if ids:
        conn.execute(
            q("abandon_claims"), {"worker_id": worker_id, "ids": list(ids), "error": error}
        )


def postpone_uncounted(
    conn: sa.Connection, attempt: Attempt, delay: float, error: str, attempt_error: str
) -> None:
    """Back to pending without counting the attempt (OBVO's configuration, throttling)."""
    conn.execute(
        q("postpone_uncounted"),
        attempt.params() | {"delay": delay, "error": error, "attempt_error": attempt_error},
    )


def register_worker(
    conn: sa.Connection,
    worker_id: str,
    hostname: str,
    pid: int,
    *,
    liveness: str = "heartbeat",
    problem: str | None = None,
    stale_after: float = 60.0,
) -> int:
    """Insert or refresh this worker's row (the heartbeat is the same upsert); returns how
    many workers live, this one included."""
    live = conn.execute(
        q("register_worker"),
        {
            "worker_id": worker_id,
            "hostname": hostname,
            "pid": pid,
            "liveness": liveness,
            "problem": problem,
            "stale_after": stale_after,
        },
    ).scalar_one()
    return max(int(live), 1)


def take_worker_lock(conn: sa.Connection, worker_id: str) -> None:
    conn.execute(q("take_worker_lock"), {"worker_id": worker_id})


def release_worker_lock(conn: sa.Connection, worker_id: str) -> None:
    conn.execute(q("release_worker_lock"), {"worker_id": worker_id})


def unregister_worker(conn: sa.Connection, worker_id: str) -> None:
    conn.execute(q("unregister_worker"), {"worker_id": worker_id})


@dataclass(frozen=True)
class TakenBack:
    pending: list[int]  # to be sent again
    failed: list[int]  # max_attempts reached while their senders died


def reclaim_dead_claims(
    conn: sa.Connection,
    *,
    stale_after: float,
    claim_timeout: float,
    max_attempts: int,
    worker_id: str | None = None,
    in_flight: Sequence[int] = (),
) -> TakenBack:
    """Take back the claims of dead (or hung) workers; with worker_id, also that worker's own
    claims other than `in_flight` (left over by a batch cut short)."""
    rows = conn.execute(
        q("reclaim_dead_claims"),
        {
            "stale_after": stale_after,
            "claim_timeout": claim_timeout,
            "max_attempts": max_attempts,
            "worker_id": worker_id,
            "in_flight": list(in_flight),
        },
    ).all()
    return TakenBack(
        pending=[int(r.id) for r in rows if r.status == "pending"],
        failed=[int(r.id) for r in rows if r.status == "failed"],
    )


def forget_dead_workers(conn: sa.Connection, stale_after: float) -> None:
    conn.execute(q("delete_dead_workers"), {"stale_after": stale_after})
