"""What `obvo status` reports: the cursor and lag, holes, unclassified types, the outbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from vopi_obvo import store
from vopi_obvo.config import HealthSettings, SourceSettings
from vopi_obvo.delivery import storm_store
from vopi_obvo.errors import SourceQueryError, SourceUnavailable
from vopi_obvo.ops import health
from vopi_obvo.queries import q
from vopi_obvo.rule_validation import invalid_rules
from vopi_obvo.source.holes import count_ids, rule_for
from vopi_obvo.source.vopi import SOURCE_NAME, VopiSource


def gather_status(
    obvo: sa.Engine,
    source: VopiSource | None,
    health_settings: HealthSettings | None = None,
    source_settings: SourceSettings | None = None,
) -> dict[str, Any]:
    """Everything `obvo status` shows; with health settings also the verdict ("health")."""
    health_settings = health_settings or HealthSettings()
    now = dt.datetime.now(dt.UTC)
    report: dict[str, Any] = {"time": now.isoformat()}
    with obvo.connect() as conn:
        cursor_row = conn.execute(q("cursor_state"), {"source": SOURCE_NAME}).first()
        holes = store.list_holes(conn, SOURCE_NAME)
        counts = conn.execute(q("count_notifications")).all()
        oldest = conn.execute(q("oldest_pending")).first()
        unclassified = conn.execute(q("list_unclassified")).all()
        rule_problems = invalid_rules(store.load_rules(conn))
        workers = conn.execute(q("list_workers")).all()
        held = storm_store.held_summary(conn)
        quick = health.counts(conn, SOURCE_NAME, health_settings.failed_window)
    report["cursor"] = {
        "event_id": None if cursor_row is None else int(cursor_row.last_event_id),
        "updated_at": None if cursor_row is None else cursor_row.updated_at.isoformat(),
    }
    lag: dict[str, Any] = {"newest_event_id": None, "events_behind": None, "seconds": None}
    rule: dict[str, Any] = {}
    if source is not None:
        rule = hole_rule_report(source, source_settings or SourceSettings())
        try:
            measured = health.measure_lag(source, report["cursor"]["event_id"])
        except SourceUnavailable as exc:
            lag["error"] = exc.error
        except (sa.exc.SQLAlchemyError, SourceQueryError) as exc:
            lag["error"] = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        else:
            lag["newest_event_id"] = measured.newest_event_id
            lag["events_behind"] = measured.events_behind
            lag["seconds"] = None if measured.seconds is None else round(measured.seconds, 1)
    report["lag"] = lag
    report["holes"] = {
        "pending": count_ids(holes),
        "ranges": len(holes),
        **rule,
        "oldest": [
            {
                "event_ids": h.describe(),
                "first_id": h.first_id,
                "last_id": h.last_id,
                "first_seen_at": h.first_seen_at.isoformat(),
            }
            for h in sorted(holes, key=lambda h: h.first_seen_at)[:10]
        ],
    }
    # Rule rows edited by hand that the daemon cannot use: their notifications fail.
    report["invalid_rules"] = rule_problems
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
    # The storm guard: storms in progress and held notifications waiting for an operator.
    report["held"] = held
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
            "liveness": w.liveness,
            # A configuration error its senders meet (SMTP refuses OBVO's sender, ...).
            "problem": w.problem,
            "problem_since": None if w.problem_since is None else w.problem_since.isoformat(),
        }
        for w in workers
    ]
    report["failed_recent"] = {
        "window_seconds": health_settings.failed_window,
        "count": quick.failed_recent,
    }
    problems = health.assess(report, health_settings)
    report["health"] = {"ok": not problems, "problems": problems}
    return report


def hole_rule_report(source: VopiSource, settings: SourceSettings) -> dict[str, Any]:
    """The rule in force for giving up holes, from VOPI's evidence and event_id's sequence,
    as the poller decides it (holes.rule_for)."""
    try:
        evidence = source.hole_evidence()
        origin = source.id_origin()
    except (SourceUnavailable, SourceQueryError) as exc:
        return {"rule": None, "evidence": None, "evidence_error": str(exc)}
    rule = rule_for(
        evidence,
        cached_sequence=origin.cached,
        min_age=settings.hole_min_age,
        max_age=settings.hole_max_age,
        limited_reason=source.evidence_limit(evidence),
    )
    return {
        "rule": rule.describe(),
        # "full": VOPI's sessions are evidence; else why not (no privilege, a hot standby).
        "evidence": "full" if rule.sessions_trusted else f"limited: {rule.no_evidence_reason}",
        "min_age_seconds": rule.min_age.total_seconds(),
        "in_recovery": evidence.in_recovery,
        "prepared_transactions": evidence.prepared_transactions,
        "id_origin": origin.describe(),
        "id_sequence_cache": origin.cache_size if origin.sequence else None,
    }


def format_status(report: dict[str, Any]) -> str:
    lines: list[str] = []
    verdict = report.get("health")
    if verdict is not None:
        lines.append("health            " + ("ok" if verdict["ok"] else "UNHEALTHY"))
        lines.extend(f"  - {p}" for p in verdict["problems"])
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
        f"holes pending     {holes['pending']} id(s) in {holes.get('ranges', 0)} range(s)"
        + (
            f"  (oldest: {', '.join(h['event_ids'] for h in holes['oldest'])})"
            if holes["pending"]
            else ""
        )
    )
    if holes.get("rule"):
        lines.append(f"hole rule         {holes['rule']}")
    if holes.get("id_origin"):
        lines.append(f"event ids         {holes['id_origin']}")
    if holes.get("prepared_transactions"):
        lines.append(
            f"prepared xacts    {holes['prepared_transactions']} in VOPI's database: no hole is "
            "given up until they end (pg_prepared_xacts)"
        )
    if holes.get("evidence_error"):
        lines.append(f"hole evidence     unknown: {holes['evidence_error']}")
    invalid = report.get("invalid_rules", {})
    if invalid:
        lines.append(f"invalid rules     {len(invalid)} event type(s); their notifications fail")
        lines.extend(f"  {code:<16} {p}" for code, problems in invalid.items() for p in problems)
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
    failed = report.get("failed_recent")
    if failed is not None:
        lines.append(
            f"failed recently   {failed['count']} in the last {failed['window_seconds']:g} s"
        )
    lines.extend(_held_lines(report.get("held") or {}))
    oldest = report["oldest_pending"]
    if oldest:
        lines.append(
            f"oldest pending    #{oldest['id']} since {oldest['created_at']}, "
            f"attempts {oldest['attempts']}"
            + (f", last error: {oldest['last_error']}" if oldest["last_error"] else "")
        )
    lines.append(f"workers           {len(report['workers'])}")
    for w in report["workers"]:
        lines.append(
            f"  {w['id']}  heartbeat {w['heartbeat_age_seconds']} s ago"
            + (" (liveness: heartbeat only)" if w.get("liveness") == "heartbeat" else "")
        )
        if w.get("problem"):
            lines.append(f"    configuration error since {w['problem_since']}: {w['problem']}")
    return "\n".join(lines)


def _held_lines(held: dict[str, Any]) -> list[str]:
    """Storms and held notifications, with the commands that decide about them."""
    lines: list[str] = []
    for storm in held.get("storms", []):
        lines.append(
            f"STORM             {storm['event_type']}: {storm['count']} notifications in the "
            f"minute {storm['minute']} (threshold {storm['threshold']}), since "
            f"{storm['started_at']}"
        )
    for item in held.get("held", []):
        lines.append(
            f"held              {item['event_type']:<16} {item['count']:>8}  ({item['reason']}, "
            f"oldest {item['oldest']})"
        )
    codes = sorted(
        {s["event_type"] for s in held.get("storms", [])}
        | {h["event_type"] for h in held.get("held", [])}
    )
    lines.extend(
        f"  decide: obvo notifications release --event-type {code}  |  "
        f"obvo notifications cancel --event-type {code}"
        for code in codes
    )
    return lines
