"""The console's outbox and overview queries on a realistically sized outbox (200,000
notifications over five years, as a municipality keeps them: rows stay, anonymised, after
retention): PostgreSQL's plan for each reads an index, never the whole table. Plans, not
timings: the plan is what grows with the table."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.conftest import _with_database
from vopi_obvo.queries import q

ROWS = 200_000
NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def outbox(pg_server_url: str, template_database: str) -> Iterator[psycopg.Connection[Any]]:
    """One database for the module: filling and analysing 200,000 rows once is enough."""
    name = f"obvo_plans_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_database}")
    url = _with_database(pg_server_url, name)
    try:
        yield from _filled(url)
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")


def _filled(url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET search_path TO obvo")
        conn.execute(
            "INSERT INTO subscribers (party_id, email, events, language)"
            " SELECT 'P' || g, 'p' || g || '@example.si', 'all', 'sl'"
            " FROM generate_series(1, 5000) AS g"
        )
        # One notification every ~13 minutes for five years; a third SMS; eight busy types
        # and one rare one; four notifications a case; about 1 % failed.
        conn.execute(
            """
            INSERT INTO notifications (source_event_id, subscriber_id, channel, event_type,
                event_kind, case_id, language, recipient, status, attempts, created_at,
                updated_at, next_attempt_at, sent_at, sms_segments, sms_encoding)
            SELECT g, 1 + mod(g, 5000), CASE WHEN mod(g, 3) = 0 THEN 'sms' ELSE 'email' END,
                   CASE WHEN mod(g, 1000) = 7 THEN 'REDKO'
                        ELSE (ARRAY['VLOZ', 'KLAS', 'ODL', 'POZ', 'DOP', 'ZAK', 'RES', 'AR/H'])
                             [1 + mod(g, 8)]
                   END,
                   'notify', 'case-' || (g / 4), 'sl', 'p@example.si',
                   CASE WHEN mod(g, 97) = 0 THEN 'failed' ELSE 'sent' END, 1, t, t, t,
                   CASE WHEN mod(g, 97) = 0 THEN NULL ELSE t + interval '2 seconds' END,
                   CASE WHEN mod(g, 3) = 0 THEN 1 + mod(g, 2) END,
                   CASE WHEN mod(g, 3) = 0 THEN 'gsm7' END
            FROM (SELECT g, %(now)s - (%(rows)s - g) * interval '13 minutes' AS t
                  FROM generate_series(1, %(rows)s) AS g) AS s
            """,
            {"now": NOW, "rows": ROWS},
        )
        conn.execute("VACUUM ANALYZE notifications")
        conn.execute("VACUUM ANALYZE subscribers")
        yield conn


def plan(conn: psycopg.Connection[Any], query: str, **params: Any) -> list[dict[str, Any]]:
    """The plan's nodes, flattened (EXPLAIN without ANALYZE: nothing is run)."""
    statement = q(query)
    sql = statement.text
    for key in sorted(params, key=len, reverse=True):  # :since before :s…
        sql = sql.replace(f":{key}", f"%({key})s")
    [[found]] = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchall()
    return plan_nodes(found[0]["Plan"])


def reads(nodes: list[dict[str, Any]]) -> set[str]:
    """How the plan reads notifications: index names, or "whole table"."""
    found = set()
    for node in nodes:
        if node.get("Relation Name") != "notifications":
            continue
        if node["Node Type"] == "Bitmap Heap Scan":  # its index scans are its children
            found |= {child["Index Name"] for child in plan_nodes(node) if "Index Name" in child}
        else:
            found.add(node.get("Index Name") or "whole table")
    return found


def plan_nodes(top: dict[str, Any]) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    todo = [top]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    return nodes


LISTED = {
    "status": None,
    "channel": None,
    "event_type": None,
    "case_id": None,
    "subscriber_id": None,
    "since": None,
    "until": None,
    "before": None,
    "limit": 200,
}

PLANS = [
    # The overview: today, this week, 30 days of charts, 12 months of the SMS bill.
    ("console_counts_since", {"since": NOW - DAY}, {"notifications_created"}),
    ("console_counts_since", {"since": NOW - 7 * DAY}, {"notifications_created"}),
    ("console_daily_by_channel", {"since": NOW - 30 * DAY}, {"notifications_created"}),
    ("console_daily_failures", {"since": NOW - 30 * DAY}, {"notifications_failed_at"}),
    ("console_sms_parts_by_month", {"since": NOW - 365 * DAY}, {"notifications_sms_sent"}),
    # The outbox: newest first, by time (both ends, or only until), case, rare type.
    ("admin_notifications", LISTED, {"notifications_created"}),
    (
        "admin_notifications",
        {**LISTED, "since": NOW - 400 * DAY, "until": NOW - 390 * DAY},
        {"notifications_created"},
    ),
    ("admin_notifications", {**LISTED, "until": NOW - 1500 * DAY}, {"notifications_created"}),
    ("admin_notifications", {**LISTED, "case_id": "case-1234"}, {"notifications_case"}),
    ("admin_notifications", {**LISTED, "event_type": "REDKO"}, {"notifications_event_type"}),
    # The next page: the row it follows by its key, the rest by time.
    (
        "admin_notifications",
        {**LISTED, "before": ROWS // 2},
        {"notifications_created", "notifications_pkey"},
    ),
]


@pytest.mark.parametrize(("query", "params", "indexes"), PLANS)
def test_the_console_reads_notifications_by_index(
    outbox: psycopg.Connection[Any], query: str, params: dict[str, Any], indexes: set[str]
) -> None:
    nodes = plan(outbox, query, **params)
    assert reads(nodes) == indexes, json.dumps(nodes, indent=1, default=str)[:3000]
