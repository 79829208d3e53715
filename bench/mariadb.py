"""The idle poll and the backlog scan with VOPI on MariaDB (OBVO's own state on PostgreSQL).

    .venv/bin/python bench/mariadb.py                 # 1,000,000-row log, 100,000-event backlog
    .venv/bin/python bench/mariadb.py --quick         # 200,000 rows, 20,000 events

The same population, event mix, rules, settings and stubs as bench.py (imported from it); only
VOPI's tables live in a scratch MariaDB database (sql/vopi_reference_mariadb.sql). A figure, not
a test: it prints the results and writes bench/results/mariadb.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import secrets
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import pymysql

import bench as harness  # bench/bench.py: run as `python bench/mariadb.py`
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service
from vopi_obvo.ops.logsetup import configure_logging
from vopi_obvo.source.vopi import SOURCE_NAME

DEFAULT_MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
MARIADB_SCHEMA = harness.ROOT / "sql" / "vopi_reference_mariadb.sql"


def _connect(url: str, database: str | None) -> pymysql.connections.Connection[Any]:
    from tests.support import mariadb_params  # noqa: PLC0415 - the tests' URL parsing

    return pymysql.connect(**{**mariadb_params(url), "database": database}, autocommit=True)


@contextmanager
def scratch_mariadb(server_url: str) -> Iterator[str]:
    """A MariaDB database with the reference schema and bench.py's population."""
    name = f"obvo_bench_m_{secrets.token_hex(3)}"
    with _connect(server_url, None) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    try:
        with _connect(server_url, name) as conn, conn.cursor() as cur:
            for statement in MARIADB_SCHEMA.read_text(encoding="utf-8").split(";\n"):
                body = "\n".join(
                    line for line in statement.splitlines() if not line.startswith("--")
                )
                if body.strip():
                    cur.execute(body)
            a, p = harness.APPLICATIONS, harness.PARTIES
            cur.execute(
                "INSERT INTO parties (name, tax_number)"
                f" SELECT CONCAT('Stranka ', seq), LPAD(seq, 8, '0') FROM seq_1_to_{p}"
            )
            cur.execute(
                "INSERT INTO applications (case_number, subject, clerk_name, classification_code)"
                " SELECT CONCAT('354-', seq, '/2026'), CONCAT('Gradbeno dovoljenje ', seq),"
                f" CONCAT('Referent ', seq % 23), CONCAT('354-', seq % 7) FROM seq_1_to_{a}"
            )
            cur.execute(
                "INSERT IGNORE INTO application_parties (application_id, party_id)"
                f" SELECT seq, ((seq - 1) * 2) % {p} + 1 FROM seq_1_to_{a}"
                f" UNION ALL SELECT seq, ((seq - 1) * 2 + 1) % {p} + 1 FROM seq_1_to_{a}"
                "  WHERE seq % 4 <> 0"
                f" UNION ALL SELECT seq, (seq * 7919) % {p} + 1 FROM seq_1_to_{a}"
                "  WHERE seq % 5 = 0"
            )
        harness.log(f"scratch MariaDB database {name} ready")
        yield harness.with_database(server_url, name)
    finally:
        with _connect(server_url, None) as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        harness.log(f"scratch MariaDB database {name} dropped")


def insert_events(url: str, database: str, count: int) -> int:
    """bench.py's event mix, in one INSERT … SELECT; returns the highest id."""
    started = time.perf_counter()
    mix = harness.EVENT_TYPE_SQL.replace("r <", "s.r <")
    with _connect(url, database) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO event_log (event_type_code, application_id, created_at, clerk_name,"
            " detail)"
            f" SELECT {mix}, 1 + (s.seq * 7919) % {harness.APPLICATIONS},"
            f"  NOW(6) - INTERVAL (({count} - s.seq) * 10000) MICROSECOND,"
            "  CASE WHEN s.seq % 3 = 0 THEN CONCAT('Referent ', s.seq % 17) END,"
            "  CONCAT('bench ', s.seq)"
            f" FROM (SELECT seq, RAND(42) AS r FROM seq_1_to_{count}) AS s ORDER BY s.seq"
        )
        cur.execute("ANALYZE TABLE event_log")
        cur.fetchall()
        cur.execute("SELECT MAX(id) FROM event_log")
        row = cur.fetchone()
    assert row is not None  # noqa: S101
    harness.log(f"inserted {count:,} events in {time.perf_counter() - started:.1f} s")
    return int(row[0])


def on_mariadb(settings: Settings, source_url: str) -> Settings:
    """bench.py's settings with VOPI on MariaDB: the example queries without `vopi.`."""
    source = dataclasses.replace(
        settings.source,
        url=source_url,
        events_query=settings.source.events_query.replace("vopi.", ""),
        parties_query=settings.source.parties_query.replace("vopi.", ""),
    )
    return dataclasses.replace(settings, source=source)


def run_idle(pg_url: str, mariadb_url: str, quick: bool) -> dict[str, Any]:
    rows = 200_000 if quick else 1_000_000
    repeat = 50 if quick else 200
    out: dict[str, Any] = {"rows": rows, "polls": repeat}
    with harness.scratch_database(pg_url, "midle") as url, scratch_mariadb(mariadb_url) as vopi:
        database = vopi.rpartition("/")[2]
        max_id = insert_events(mariadb_url, database, rows)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO obvo.source_cursor (source, last_event_id) VALUES (%s, %s)",
                (SOURCE_NAME, max_id),
            )
        service = Service(on_mariadb(harness.make_settings(url, None), vopi))
        try:
            for _ in range(10):  # warm up: pools, caches
                service.poller.poll_once()
            read: list[int] = []
            polls = harness.time_calls(
                lambda: read.append(service.poller.poll_once().events_read), repeat
            )
            out["events_read_total"] = sum(read)
            out["poll_ms"] = harness.summary(polls, 1000, 2)
            out["engine_report"] = dataclasses.asdict(service.source.engine_report())
        finally:
            service.close()
    harness.log(f"  idle poll median {out['poll_ms']['p50']} ms, p95 {out['poll_ms']['p95']} ms")
    return out


def run_backlog(pg_url: str, mariadb_url: str, quick: bool) -> dict[str, Any]:
    count = 20_000 if quick else 100_000
    out: dict[str, Any] = {"events": count}
    with (
        harness.scratch_database(pg_url, "mbacklog") as url,
        scratch_mariadb(mariadb_url) as vopi,
        harness.stub_servers() as stubs,
    ):
        harness.seed_population(url)  # OBVO's subscribers (and an unused PostgreSQL VOPI)
        max_id = insert_events(mariadb_url, vopi.rpartition("/")[2], count)
        settings = on_mariadb(harness.make_settings(url, stubs, batch_size=500), vopi)
        harness.log(f"backlog: polling {count:,} MariaDB events, batch_size 500")
        out["poll"] = harness.poll_backlog(settings, max_id)
    harness.log(f"  {out['poll']['events_per_s']} events/s")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=harness.DEFAULT_URL, help="PostgreSQL")
    parser.add_argument("--mariadb-url", default=DEFAULT_MARIADB_URL)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    configure_logging("warning", "console")
    results = {
        "machine": harness.machine(),
        "idle": run_idle(args.database_url, args.mariadb_url, args.quick),
        "backlog": run_backlog(args.database_url, args.mariadb_url, args.quick),
    }
    harness.RESULTS_DIR.mkdir(exist_ok=True)
    (harness.RESULTS_DIR / "mariadb.json").write_text(json.dumps(results, indent=2), "utf-8")
    idle, backlog = results["idle"], results["backlog"]["poll"]
    print(f"idle poll, {idle['rows']:,}-row MariaDB log: median {idle['poll_ms']['p50']} ms,")
    print(f"  p95 {idle['poll_ms']['p95']} ms; {'; '.join(idle['engine_report']['notes'])}")
    print(
        f"backlog scan, {results['backlog']['events']:,} MariaDB events, batch 500: "
        f"{backlog['events_per_s']:,} events/s, {backlog['notifications_per_s']:,} "
        "notifications/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
