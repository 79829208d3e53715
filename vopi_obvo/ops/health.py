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
from vopi_obvo.problems import Param, Problem
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
    """Why OBVO is unhealthy, one reason per line (in English, as `obvo status` prints them);
    empty when healthy. `report` is what `status.gather_status` returns (plain JSON values)."""
    return [str(p) for p in verdict(report, health)]


def verdict(report: Mapping[str, Any], health: HealthSettings) -> list[Problem]:
    """The reasons of `assess` as problems, for the console to word in its language."""
    problems: list[Problem] = []
    lag = report.get("lag") or {}
    if lag.get("error"):
        problems.append(Problem("health.vopi_unreadable", {"error": str(lag["error"])}))
    elif health.max_lag_seconds and (lag.get("seconds") or 0.0) > health.max_lag_seconds:
        behind: dict[str, Param] = {
            "seconds": f"{lag['seconds']:.0f}",
            "events": str(lag.get("events_behind")),
            "max": f"{health.max_lag_seconds:g}",
        }
        problems.append(Problem("health.lag", behind))
    failed = report.get("failed_recent") or {}
    if int(failed.get("count", 0)) > health.max_failed:
        failures: dict[str, Param] = {
            "count": int(failed["count"]),
            "window": f"{health.failed_window:g}",
            "max": health.max_failed,
        }
        problems.append(Problem("health.failed", failures))
    problems.extend(
        Problem("health.worker_config", {"id": str(w["id"]), "problem": str(w["problem"])})
        for w in report.get("workers") or ()
        if w.get("problem")
    )
    if health.max_heartbeat_age:
        ages = [float(w["heartbeat_age_seconds"]) for w in report.get("workers") or ()]
        if not ages:
            problems.append(Problem("health.no_daemon"))
        elif min(ages) > health.max_heartbeat_age:
            stale = {"age": f"{min(ages):.0f}", "max": f"{health.max_heartbeat_age:g}"}
            problems.append(Problem("health.stale", stale))
    return problems


def format_lag(lag: Lag | None) -> str:
    if lag is None:
        return "lag unknown (VOPI unreachable)"
    if lag.seconds is None:
        return "lag unknown"
    return f"lag {lag.seconds:.0f} s ({lag.events_behind} behind)"
