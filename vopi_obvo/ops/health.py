"""Is OBVO healthy? Lag, open and failed notifications, the daemon's heartbeat.

`measure_lag` and `counts` are two or three index look-ups, cheap enough for the daemon's
`STATUS=` line every few seconds; `assess` is pure and turns a status report into the reasons
`obvo status` exits non-zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vopi_obvo.config import HealthSettings
from vopi_obvo.queries import q
from vopi_obvo.source.vopi import VopiSource


@dataclass(frozen=True)
class Lag:
    newest_event_id: int | None  # None: VOPI's event log is empty
    events_behind: int | None  # None: no cursor yet
    # Age of the oldest event not yet read, on VOPI's clock; 0.0 when nothing is unread.
    seconds: float | None


@dataclass(frozen=True)
class Counts:
    cursor: int | None
    pending: int  # waiting or being sent
    failed_recent: int  # failed (or undelivered) within the window


def measure_lag(source: VopiSource, cursor: int | None) -> Lag:
    """How far the cursor is behind VOPI: two index look-ups in one read-only transaction."""
    newest_id, unread = source.lag(cursor)
    if cursor is None:
        return Lag(newest_id, None, None)
    behind = max(newest_id - cursor, 0) if newest_id is not None else 0
    if unread is None:
        return Lag(newest_id, behind, 0.0)
    age = None if unread[1] is None else max(unread[1], 0.0)
    return Lag(newest_id, behind, age)


def counts(conn: sa.Connection, source_name: str, failed_window: float) -> Counts:
    row = conn.execute(q("health_counts"), {"source": source_name, "window": failed_window}).one()
    return Counts(
        cursor=None if row.cursor is None else int(row.cursor),
        pending=int(row.pending),
        failed_recent=int(row.failed_recent),
    )


def assess(report: Mapping[str, Any], health: HealthSettings) -> list[str]:
    """Why OBVO is unhealthy, one reason per line; empty when healthy. `report` is what
    `status.gather_status` returns (plain JSON values)."""
    problems: list[str] = []
    lag = report.get("lag") or {}
    if lag.get("error"):
        problems.append(f"VOPI cannot be read, so the lag is unknown: {lag['error']}")
    elif health.max_lag_seconds and (lag.get("seconds") or 0.0) > health.max_lag_seconds:
        problems.append(
            f"lag {lag['seconds']:.0f} s ({lag.get('events_behind')} event(s) not read) is over "
            f"[health] max_lag_seconds = {health.max_lag_seconds:g}"
        )
    failed = report.get("failed_recent") or {}
    if int(failed.get("count", 0)) > health.max_failed:
        problems.append(
            f"{failed['count']} notification(s) failed in the last {health.failed_window:g} s, "
            f"over [health] max_failed = {health.max_failed} (see `obvo status`, the log's "
            "notification.failed lines)"
        )
    problems.extend(
        f"worker {w['id']} meets a configuration error (messages wait, none fails for it): "
        f"{w['problem']}"
        for w in report.get("workers") or ()
        if w.get("problem")
    )
    if health.max_heartbeat_age:
        ages = [float(w["heartbeat_age_seconds"]) for w in report.get("workers") or ()]
        if not ages:
            problems.append("no obvo daemon is running (no worker has registered a heartbeat)")
        elif min(ages) > health.max_heartbeat_age:
            problems.append(
                f"no live obvo daemon: the newest heartbeat is {min(ages):.0f} s old, over "
                f"[health] max_heartbeat_age = {health.max_heartbeat_age:g}"
            )
    return problems


def format_lag(lag: Lag | None) -> str:
    if lag is None:
        return "lag unknown (VOPI unreachable)"
    if lag.seconds is None:
        return "lag unknown"
    return f"lag {lag.seconds:.0f} s ({lag.events_behind} behind)"
