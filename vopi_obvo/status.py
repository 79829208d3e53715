"""What `obvo status` reports: the cursor and lag, holes, unclassified types, the outbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from vopi_obvo import store
from vopi_obvo.poller import SOURCE_NAME
from vopi_obvo.queries import q
from vopi_obvo.source import VopiSource


def gather_status(obvo: sa.Engine, source: VopiSource | None) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    report: dict[str, Any] = {"time": now.isoformat()}
    with obvo.connect() as conn:
        cursor_row = conn.execute(q("cursor_state"), {"source": SOURCE_NAME}).first()
        holes = store.list_holes(conn, SOURCE_NAME)
        counts = conn.execute(q("count_notifications")).all()
        oldest = conn.execute(q("oldest_pending")).first()
        unclassified = conn.execute(q("list_unclassified")).all()
        workers = conn.execute(q("list_workers")).all()
    report["cursor"] = {
        "event_id": None if cursor_row is None else int(cursor_row.last_event_id),
        "updated_at": None if cursor_row is None else cursor_row.updated_at.isoformat(),
    }
    lag: dict[str, Any] = {"newest_event_id": None, "events_behind": None, "seconds": None}
    evidence: str | None = None
    if source is not None:
        try:
            evidence = (
                "full"
                if source.hole_evidence().can_see_all_sessions
                else "limited: the VOPI role lacks pg_read_all_stats, so holes are given up "
                "after [source] hole_max_age"
            )
        except sa.exc.SQLAlchemyError:
            evidence = None
        try:
            newest = source.newest_event()
        except sa.exc.SQLAlchemyError as exc:
            lag["error"] = str(getattr(exc, "orig", exc)).splitlines()[0]
            newest = None
        if newest is not None:
            newest_id, newest_at = newest
            lag["newest_event_id"] = newest_id
            lag["newest_event_at"] = newest_at.isoformat() if newest_at else None
            cursor_id = report["cursor"]["event_id"]
            behind = max(newest_id - cursor_id, 0) if cursor_id is not None else None
            lag["events_behind"] = behind
            if behind and newest_at is not None:
                lag["seconds"] = round((now - newest_at).total_seconds(), 1)
            elif behind == 0:
                lag["seconds"] = 0.0
    report["lag"] = lag
    report["holes"] = {
        "pending": len(holes),
        "evidence": evidence,
        "oldest": [
            {"event_id": h.event_id, "first_seen_at": h.first_seen_at.isoformat()}
            for h in holes[:10]
        ],
    }
    report["unclassified_event_types"] = [
        {
            "event_type": r.event_type,
            "seen": int(r.seen_count),
            "last_seen_at": r.last_seen_at.isoformat(),
            "last_event_id": r.last_event_id,
        }
        for r in unclassified
    ]
    by_status: dict[str, dict[str, int]] = {}
    for r in counts:
        by_status.setdefault(r.status, {})[r.channel] = int(r.n)
    report["notifications"] = by_status
    report["oldest_pending"] = (
        None
        if oldest is None
        else {
            "id": int(oldest.id),
            "created_at": oldest.created_at.isoformat(),
            "next_attempt_at": oldest.next_attempt_at.isoformat(),
            "attempts": int(oldest.attempts),
            "last_error": oldest.last_error,
        }
    )
    report["workers"] = [
        {
            "id": w.id,
            "started_at": w.started_at.isoformat(),
            "heartbeat_age_seconds": round(w.silent_for.total_seconds(), 1),
        }
        for w in workers
    ]
    return report


def format_status(report: dict[str, Any]) -> str:
    lines: list[str] = []
    cursor = report["cursor"]
    lag = report["lag"]
    lines.append(f"cursor            {cursor['event_id']}  (updated {cursor['updated_at']})")
    if lag.get("error"):
        lines.append(f"VOPI              unreachable: {lag['error']}")
    else:
        lines.append(
            f"newest VOPI event {lag['newest_event_id']}  behind: {lag['events_behind']} event(s)"
            + (f", {lag['seconds']} s" if lag["seconds"] is not None else "")
        )
    holes = report["holes"]
    lines.append(
        f"holes pending     {holes['pending']}"
        + (
            f"  (oldest: {', '.join(str(h['event_id']) for h in holes['oldest'])})"
            if holes["pending"]
            else ""
        )
    )
    if holes["evidence"] and holes["evidence"] != "full":
        lines.append(f"hole evidence     {holes['evidence']}")
    unclassified = report["unclassified_event_types"]
    lines.append(f"unclassified      {len(unclassified)} event type(s)")
    lines.extend(
        f"  {u['event_type']:<16} seen {u['seen']} time(s), last {u['last_seen_at']}"
        for u in unclassified
    )
    lines.append("notifications")
    if not report["notifications"]:
        lines.append("  (none)")
    for status, channels in sorted(report["notifications"].items()):
        detail = ", ".join(f"{c} {n}" for c, n in sorted(channels.items()))
        lines.append(f"  {status:<10} {sum(channels.values()):>8}   ({detail})")
    oldest = report["oldest_pending"]
    if oldest:
        lines.append(
            f"oldest pending    #{oldest['id']} since {oldest['created_at']}, "
            f"attempts {oldest['attempts']}"
            + (f", last error: {oldest['last_error']}" if oldest["last_error"] else "")
        )
    lines.append(f"workers           {len(report['workers'])}")
    lines.extend(
        f"  {w['id']}  heartbeat {w['heartbeat_age_seconds']} s ago" for w in report["workers"]
    )
    return "\n".join(lines)
