"""The delivery path's statements stay cheap as the outbox grows: their plans on a real
PostgreSQL with a large backlog (a backlog or a released storm shares one due time)."""

from __future__ import annotations

import re

import psycopg

from vopi_obvo import queries
from vopi_obvo.config import Settings

BACKLOG = 20_000


def _backlog(conn: psycopg.Connection[tuple[object, ...]], count: int) -> None:
    conn.execute(
        "INSERT INTO obvo.notifications (source_event_id, channel, event_type, event_kind,"
        " language, recipient, body, next_attempt_at)"
        " SELECT g, CASE WHEN g %% 3 = 0 THEN 'sms' ELSE 'email' END, 'KLAS',"
        "  CASE WHEN g %% 4 = 0 THEN 'key' ELSE 'notify' END, 'sl', 'a' || g || '@example.si',"
        "  'besedilo', now() - interval '1 hour'"
        " FROM generate_series(1, %s) AS g",
        (count,),
    )


def _plan(conn: psycopg.Connection[tuple[object, ...]], statement: str) -> str:
    return "\n".join(str(row[0]) for row in conn.execute(statement).fetchall())


def _positional(name: str, params: list[str]) -> str:
    """The named statement with $1, $2, ... for PREPARE."""
    text = queries.raw(name)
    for index, param in enumerate(params, start=1):
        text = re.sub(rf":{param}\b", f"${index}", text)
    return text


def test_a_claim_reads_its_rows_off_the_index_instead_of_sorting_the_backlog(
    settings: Settings,
) -> None:
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        _backlog(conn, BACKLOG)
        conn.execute("ANALYZE obvo.notifications")
        conn.execute("SET search_path = obvo, public")
        conn.execute(
            "PREPARE claim(text, integer, text[]) AS "
            + _positional("claim_due", ["worker_id", "limit", "channels"])
        )
        for mode in ("force_custom_plan", "force_generic_plan"):
            conn.execute(f"SET plan_cache_mode = {mode}")
            plan = _plan(conn, "EXPLAIN EXECUTE claim('w', 32, ARRAY['email', 'sms'])")
            assert "notifications_claim_order" in plan, plan
            assert "Sort" not in plan, plan  # no sort of every due row for a few dozen
            assert "Seq Scan" not in plan, plan


def test_sent_marks_look_up_earlier_marks_by_index_whatever_the_statistics_say(
    settings: Settings,
) -> None:
    """A prepared statement keeps the plan made while notification_attempts was small (right
    after install, after the statistics said empty): that plan must still be per-mark index
    look-ups, not a scan of every attempt per batch of marks."""
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        _backlog(conn, 5_000)
        conn.execute("ANALYZE obvo.notifications, obvo.notification_attempts")  # empty
        conn.execute(
            "INSERT INTO obvo.notification_attempts (notification_id, attempt, worker_id,"
            " started_at, outcome) SELECT id, 1, 'w0', now(), 'sent' FROM obvo.notifications"
        )
        conn.execute("SET search_path = obvo, public")
        conn.execute(
            "PREPARE marks(text, bigint[], integer[], timestamptz[], text[]) AS "
            + _positional(
                "mark_sent_many", ["worker_id", "ids", "attempts", "started_at", "provider_ids"]
            )
        )
        conn.execute("SET plan_cache_mode = force_generic_plan")
        plan = _plan(
            conn,
            "EXPLAIN EXECUTE marks('w1', ARRAY[1, 2, 3]::bigint[], ARRAY[1, 1, 1],"
            " ARRAY[now(), now(), now()], ARRAY['a', 'b', 'c'])",
        )
        assert "Seq Scan on notification_attempts" not in plan, plan
        assert "notification_attempts_notification" in plan, plan
