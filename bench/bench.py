"""OBVO benchmark: backlog throughput, end-to-end latency, idle poll cost, memory.

Not a test: it prints figures and writes bench/results/latest.json. See bench/README.md.

    .venv/bin/python bench/bench.py [--database-url URL] [--quick] [--only PART] [--profile]

Without --only, every part runs in a fresh subprocess of this script (so that one part's
memory cannot inflate another's peak RSS) and the parent collects the results. Each part
creates its own scratch database on the server and drops it at the end. The SMTP server and
the SMS gateway stub run in one more subprocess (`--serve-stubs`), so that their CPU and
memory are not charged to OBVO.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import io
import json
import math
import os
import platform
import pstats
import random
import re
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import sqlalchemy as sa
from psycopg import sql

from vopi_obvo import db, queries, store
from vopi_obvo.config import Settings, settings_from_mapping
from vopi_obvo.daemon import Service, make_senders
from vopi_obvo.ops.logsetup import configure_logging
from vopi_obvo.ops.migrate import migrate
from vopi_obvo.rules import parse_rules_document
from vopi_obvo.senders import OutgoingMessage, Sender
from vopi_obvo.source.holes import Hole
from vopi_obvo.source.vopi import SOURCE_NAME

if TYPE_CHECKING:
    from aiosmtpd.smtp import SMTP, Envelope, Session

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "config" / "obvo.example.toml"
EXAMPLE_RULES = ROOT / "config" / "rules.example.toml"
REFERENCE_SQL = ROOT / "sql" / "vopi_reference.sql"
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PARTS = ("backlog", "latency", "idle")

# The VOPI population every part uses.
APPLICATIONS = 2_000
PARTIES = 4_000

# Event type mix (cumulative thresholds): 35 % internal, 35 % notify, 25 % key, 5 % a type
# that no rule classifies (counted as unclassified).
EVENT_MIX: tuple[tuple[float, str], ...] = (
    (0.35, "OGLED"),  # internal
    (0.50, "VLOZ"),  # notify
    (0.70, "DODELJ"),  # notify
    (0.85, "KLAS"),  # key
    (0.95, "ODLOC"),  # key
    (1.00, "DOPOL"),  # unclassified
)
EVENT_TYPE_SQL = (
    "CASE "
    + " ".join(f"WHEN r < {limit} THEN '{code}'" for limit, code in EVENT_MIX[:-1])
    + f" ELSE '{EVENT_MIX[-1][1]}' END"
)

LATENCY_RATE = 50.0  # events per second
IDLE_TARGET_MS = 5.0
RSS_TARGET_MB = 200.0
LATENCY_SLACK = 0.5  # target: p95 <= poll_interval + this

MESSAGE_ID_RE = re.compile(rb"^Message-ID:\s*<obvo\.(\d+)@", re.IGNORECASE | re.MULTILINE)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# small measuring helpers


def rss_mb() -> float:
    """Current resident set size of this process, MB (VmRSS)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def max_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks; q in [0, 1]."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lower = math.floor(k)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (k - lower)


def summary(values: Sequence[float], scale: float = 1.0, digits: int = 3) -> dict[str, Any]:
    """count, mean, p50, p95, p99, max (each value multiplied by scale)."""

    def r(v: float | None) -> float | None:
        return None if v is None else round(v * scale, digits)

    return {
        "count": len(values),
        "mean": r(sum(values) / len(values)) if values else None,
        "min": r(min(values)) if values else None,
        "p50": r(percentile(values, 0.50)),
        "p95": r(percentile(values, 0.95)),
        "p99": r(percentile(values, 0.99)),
        "max": r(max(values)) if values else None,
    }


@contextmanager
def maybe_profile(enabled: bool, sink: dict[str, Any], key: str) -> Iterator[None]:
    """cProfile the block when enabled; the top functions by own time land in sink[key]."""
    if not enabled:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(25)
        out.write("\n--- by cumulative time ---\n")
        stats.sort_stats("cumulative").print_stats(25)
        sink[key] = out.getvalue()
        print(out.getvalue(), file=sys.stderr)


# ---------------------------------------------------------------------------------------
# scratch databases


def with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}" + (f"?{query}" if query else "")


@contextmanager
def scratch_database(server_url: str, part: str) -> Iterator[str]:
    """A new database with the reference VOPI schema, OBVO's schema and the example rules."""
    name = f"obvo_bench_{part}_{secrets.token_hex(3)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(server_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(REFERENCE_SQL.read_bytes())
        engine = db.obvo_engine(url, "obvo")
        try:
            migrate(engine, "obvo")
            ruleset = parse_rules_document(tomllib.loads(EXAMPLE_RULES.read_text("utf-8")))
            with engine.begin() as conn:
                store.save_rules(conn, ruleset)
        finally:
            engine.dispose()
        log(f"scratch database {name} ready")
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        log(f"scratch database {name} dropped")


def seed_population(url: str) -> dict[str, int]:
    """Applications, parties (1-3 per application, some shared) and ~1/3 of parties as
    subscribers: 50 % e-mail only, 30 % e-mail and SMS, 20 % SMS only; 25 % key events only;
    10 % Italian."""
    a, p = APPLICATIONS, PARTIES
    statements = [
        f"INSERT INTO vopi.parties (name, tax_number) SELECT 'Stranka ' || g, lpad(g::text, 8, '0')"
        f" FROM generate_series(1, {p}) AS g",
        "INSERT INTO vopi.applications (case_number, subject, clerk_name, classification_code)"
        " SELECT '354-' || g || '/2026', 'Gradbeno dovoljenje ' || g,"
        " 'Referent ' || (g % 23), '354-' || (g % 7)"
        f" FROM generate_series(1, {a}) AS g",
        "INSERT INTO vopi.application_parties (application_id, party_id)"
        f" SELECT g, ((g - 1) * 2) % {p} + 1 FROM generate_series(1, {a}) AS g"
        f" UNION ALL SELECT g, ((g - 1) * 2 + 1) % {p} + 1 FROM generate_series(1, {a}) AS g"
        "  WHERE g % 4 <> 0"
        f" UNION ALL SELECT g, (g * 7919) % {p} + 1 FROM generate_series(1, {a}) AS g"
        "  WHERE g % 5 = 0"
        " ON CONFLICT DO NOTHING",
        "INSERT INTO obvo.subscribers (party_id, email, phone, events, language)"
        " SELECT g::text,"
        "  CASE WHEN (g / 3) % 10 < 8 THEN 'stranka' || g || '@example.org' END,"
        "  CASE WHEN (g / 3) % 10 >= 5 THEN '+38640' || lpad(g::text, 6, '0') END,"
        "  CASE WHEN (g / 3) % 4 = 1 THEN 'key' ELSE 'all' END,"
        "  CASE WHEN (g / 3) % 10 = 9 THEN 'it' ELSE 'sl' END"
        f" FROM generate_series(3, {p}, 3) AS g",
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())
        row = conn.execute(
            b"SELECT (SELECT count(*) FROM vopi.application_parties),"
            b" (SELECT count(*) FROM obvo.subscribers),"
            b" (SELECT count(*) FROM obvo.subscribers WHERE email IS NOT NULL),"
            b" (SELECT count(*) FROM obvo.subscribers WHERE phone IS NOT NULL)"
        ).fetchone()
    assert row is not None  # noqa: S101
    return {
        "applications": a,
        "parties": p,
        "application_parties": int(row[0]),
        "subscribers": int(row[1]),
        "subscribers_with_email": int(row[2]),
        "subscribers_with_phone": int(row[3]),
    }


def insert_events(url: str, count: int) -> int:
    """count events via generate_series (one statement), ANALYZE, CHECKPOINT; returns max id."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(b"SELECT setseed(0.42)")
        conn.execute(
            "INSERT INTO vopi.event_log"
            " (event_type_code, application_id, created_at, clerk_name, detail)"
            f" SELECT {EVENT_TYPE_SQL}, 1 + (g::bigint * 7919) % {APPLICATIONS},"
            f"  now() - make_interval(secs => ({count} - g) * 0.01),"
            "  CASE WHEN g % 3 = 0 THEN 'Referent ' || (g % 17) END, 'bench ' || g"
            f" FROM (SELECT g, random() AS r FROM generate_series(1, {count}) AS g) AS s"
            " ORDER BY g".encode()
        )
        conn.execute(b"ANALYZE vopi.event_log")
        # Write the loaded pages out now, so that the timed part does not share the disk with
        # the checkpoint of the load.
        conn.execute(b"CHECKPOINT")
        row = conn.execute(b"SELECT max(id) FROM vopi.event_log").fetchone()
    assert row is not None  # noqa: S101
    log(f"inserted {count:,} events in {time.perf_counter() - started:.1f} s")
    return int(row[0])


def make_settings(
    url: str, stubs: Stubs | None, *, batch_size: int = 500, poll_interval: float = 1.0
) -> Settings:
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["database"]["url"] = url
    raw["source"].update(start="earliest", batch_size=batch_size, poll_interval=poll_interval)
    if stubs is not None:
        raw["email"].update(port=stubs.smtp_port, timeout=10.0)
        raw["sms"].update(backend="http", url=stubs.sms_url, timeout=10.0)
    return settings_from_mapping(raw, {})


# ---------------------------------------------------------------------------------------
# SMTP server and SMS gateway stub (in their own process)


class _MailHandler:
    def __init__(
        self, arrivals: list[tuple[float, int]], lock: threading.Lock, delay: float = 0.0
    ) -> None:
        self.arrivals = arrivals
        self.lock = lock
        self.delay = delay

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.delay:
            # A relay across a network: the reply comes later, other sessions go on meanwhile.
            await asyncio.sleep(self.delay)
        now = time.time()
        content = envelope.original_content or envelope.content
        match = MESSAGE_ID_RE.search(content if isinstance(content, bytes) else b"")
        with self.lock:
            self.arrivals.append((now, int(match.group(1)) if match else -1))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_stubs(delay: float = 0.0) -> None:
    """Run aiosmtpd and the SMS stub until stdin closes. GET /arrivals and /counts report;
    `delay` seconds are added to each message (at SMTP DATA, before each SMS reply)."""
    from aiosmtpd.controller import Controller  # noqa: PLC0415 - only the stub process needs it

    lock = threading.Lock()
    mail: list[tuple[float, int]] = []
    sms: list[tuple[float, int]] = []
    counter = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real gateway offers
        # The reply in one write, without Nagle: otherwise every reply on a kept-alive
        # connection waits for the client's delayed ACK (40 ms).
        disable_nagle_algorithm = True
        wbufsize = -1

        def do_POST(self) -> None:
            if delay:
                time.sleep(delay)
            now = time.time()
            length = int(self.headers.get("Content-Length", "0"))
            payload = json.loads(self.rfile.read(length).decode("utf-8"))
            with lock:
                counter[0] += 1
                sms.append((now, int(payload.get("reference", -1))))
                reply = {"id": f"gw-{counter[0]}"}
            self._reply(reply)

        def do_GET(self) -> None:
            with lock:
                if self.path == "/arrivals":
                    reply: dict[str, Any] = {"email": list(mail), "sms": list(sms)}
                elif self.path == "/reset":
                    reply = {"email": len(mail), "sms": len(sms)}
                    mail.clear()
                    sms.clear()
                else:
                    reply = {"email": len(mail), "sms": len(sms)}
            self._reply(reply)

        def _reply(self, data: dict[str, Any]) -> None:
            body = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    http.daemon_threads = True
    http.request_queue_size = 128
    threading.Thread(target=http.serve_forever, daemon=True).start()
    smtp_port = free_port()
    controller = Controller(
        _MailHandler(mail, lock, delay), hostname="127.0.0.1", port=smtp_port, ready_timeout=10
    )
    controller.start()
    print(json.dumps({"smtp_port": smtp_port, "http_port": http.server_address[1]}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    controller.stop()
    http.shutdown()


class Stubs:
    """The parent's handle on the stub process."""

    def __init__(self, delay_ms: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--serve-stubs",
                "--stub-delay-ms",
                str(delay_ms),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None  # noqa: S101
        ports = json.loads(self.proc.stdout.readline())
        self.smtp_port = int(ports["smtp_port"])
        self.http_port = int(ports["http_port"])

    @property
    def sms_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/send"

    def _get(self, path: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        with urllib.request.urlopen(url, timeout=60) as response:
            data: dict[str, Any] = json.loads(response.read())
        return data

    def counts(self) -> dict[str, int]:
        return {k: int(v) for k, v in self._get("/counts").items()}

    def reset(self) -> None:
        """Forget what arrived so far (between two runs on the same stubs)."""
        self._get("/reset")

    def arrivals(self) -> dict[str, list[tuple[float, int]]]:
        data = self._get("/arrivals")
        return {k: [(float(t), int(i)) for t, i in v] for k, v in data.items()}

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@contextmanager
def stub_servers(delay_ms: float = 0.0) -> Iterator[Stubs]:
    stubs = Stubs(delay_ms)
    try:
        yield stubs
    finally:
        stubs.close()


# ---------------------------------------------------------------------------------------
# (a) backlog + (d) memory


def reset_outbox(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            b"TRUNCATE obvo.notifications, obvo.pending_holes, obvo.unclassified_event_types,"
            b" obvo.delivery_counts, obvo.storms"
            b" CASCADE"  # and whatever newer migrations hang off notifications
        )
        conn.execute(b"DELETE FROM obvo.source_cursor")
        conn.execute(b"VACUUM ANALYZE obvo.notifications")


def count_notifications(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            b"SELECT status || '/' || channel, count(*) FROM obvo.notifications GROUP BY 1"
        ).fetchall()
    return {str(k): int(n) for k, n in rows}


def poll_backlog(settings: Settings, max_id: int) -> dict[str, Any]:
    service = Service(settings)
    try:
        polls: list[float] = []
        events = notifications = 0
        started = time.perf_counter()
        empty = 0
        while True:
            t0 = time.perf_counter()
            result = service.poller.poll_once()
            polls.append(time.perf_counter() - t0)
            events += result.events_read
            notifications += result.notifications
            if result.cursor >= max_id:
                break
            empty = empty + 1 if result.events_read == 0 else 0
            if empty >= 3:
                raise RuntimeError(f"poller stuck at cursor {result.cursor} < {max_id}")
        seconds = time.perf_counter() - started
    finally:
        service.close()
    quarter = max(len(polls) // 4, 1)
    return {
        "batch_size": settings.source.batch_size,
        "polls": len(polls),
        "events": events,
        "notifications": notifications,
        "seconds": round(seconds, 2),
        "events_per_s": round(events / seconds, 1),
        "notifications_per_s": round(notifications / seconds, 1),
        "poll_ms": summary(polls, 1000, 1),
        "first_quarter_poll_ms": round(1000 * sum(polls[:quarter]) / quarter, 1),
        "last_quarter_poll_ms": round(1000 * sum(polls[-quarter:]) / quarter, 1),
    }


class TimingSender:
    """Delegates to OBVO's real sender and adds up the time spent inside it."""

    def __init__(self, inner: Sender) -> None:
        self.inner = inner
        self.channel = inner.channel
        self.count = 0
        self.seconds = 0.0

    def send(self, message: OutgoingMessage) -> str | None:
        started = time.perf_counter()
        try:
            return self.inner.send(message)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1

    def close(self) -> None:
        started = time.perf_counter()
        try:
            self.inner.close()
        finally:
            self.seconds += time.perf_counter() - started


def dispatch_backlog(
    settings: Settings, stubs: Stubs, expected: int, budget: float
) -> dict[str, Any]:
    senders = {name: TimingSender(s) for name, s in make_senders(settings).items()}
    service = Service(settings, senders=dict(senders))
    sent = failed = retried = rounds = 0
    progress: list[tuple[float, int]] = []
    timed_out = False
    try:
        started = time.perf_counter()
        while True:
            if time.perf_counter() - started > budget:
                timed_out = True
                break
            result = service.dispatcher.dispatch_once()
            rounds += 1
            sent += result.sent
            failed += result.failed
            retried += result.retried
            progress.append((time.perf_counter() - started, sent + failed))
            if result.claimed == 0:
                break
        seconds = time.perf_counter() - started
    finally:
        service.close()
    done = sent + failed

    def rate_between(lo: float, hi: float) -> float | None:
        """Messages per second while the done count went from lo to hi of the total."""
        points = [(t, n) for t, n in progress if lo * done <= n <= hi * done]
        if len(points) < 2 or points[-1][0] == points[0][0]:
            return None
        return round((points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0]), 1)

    received = stubs.counts()
    in_senders = sum(s.seconds for s in senders.values())
    return {
        "notifications": expected,
        "budget_s": budget,
        "stopped_by_budget": timed_out,
        "drain_s_projected": round(seconds * expected / done, 1) if done else None,
        "sent": sent,
        "failed": failed,
        "retried": retried,
        "claim_rounds": rounds,
        "seconds": round(seconds, 2),
        "notifications_per_s": round(done / seconds, 1) if seconds else None,
        "rate_first_10pct": rate_between(0.0, 0.1),
        "rate_last_10pct": rate_between(0.9, 1.0),
        "smtp_received": received["email"],
        "sms_received": received["sms"],
        "ms_per_email_in_sender": _per(senders["email"].seconds, senders["email"].count),
        "ms_per_sms_in_sender": _per(senders["sms"].seconds, senders["sms"].count),
        "ms_per_message_outside_senders": _per(seconds - in_senders, done),
    }


def _per(seconds: float, count: int) -> float | None:
    return round(1000 * seconds / count, 2) if count else None


def run_backlog(server_url: str, quick: bool, profile: bool) -> dict[str, Any]:
    n_events = 20_000 if quick else 100_000
    budget = 60.0 if quick else 300.0
    rss: dict[str, float] = {"start": round(rss_mb(), 1)}
    out: dict[str, Any] = {"events": n_events}
    with scratch_database(server_url, "backlog") as url, stub_servers() as stubs:
        out["population"] = seed_population(url)
        max_id = insert_events(url, n_events)
        rss["after_setup"] = round(rss_mb(), 1)
        runs = []
        for batch_size in (500, 2000):
            reset_outbox(url)
            settings = make_settings(url, stubs, batch_size=batch_size)
            log(f"backlog: polling {n_events:,} events, batch_size {batch_size}")
            with maybe_profile(profile, out, f"profile_poll_{batch_size}"):
                run = poll_backlog(settings, max_id)
            run["outbox"] = count_notifications(url)
            run["rss_after_mb"] = round(rss_mb(), 1)
            rss[f"after_poll_{batch_size}"] = run["rss_after_mb"]
            log(
                f"  {run['seconds']} s, {run['events_per_s']} events/s,"
                f" {run['notifications']} notifications ({run['notifications_per_s']}/s)"
            )
            runs.append(run)
        out["poll_runs"] = runs
        expected = runs[-1]["notifications"]
        log(f"backlog: dispatching {expected:,} notifications (time budget {budget:.0f} s)")
        with maybe_profile(profile, out, "profile_dispatch"):
            out["dispatch"] = dispatch_backlog(make_settings(url, stubs), stubs, expected, budget)
        out["dispatch"]["outbox"] = count_notifications(url)
        log(
            f"  {out['dispatch']['seconds']} s,"
            f" {out['dispatch']['notifications_per_s']} notifications/s"
        )
        rss["after_dispatch"] = round(rss_mb(), 1)
    rss["peak_ru_maxrss"] = round(max_rss_mb(), 1)
    out["rss_mb"] = rss
    return out


# ---------------------------------------------------------------------------------------
# (b) latency


@dataclass
class WriterLog:
    commits: dict[int, float]  # event id -> wall-clock time right after COMMIT returned
    max_slip: float = 0.0  # how far the writer fell behind its schedule, s
    seconds: float = 0.0


def write_steadily(url: str, rate: float, duration: float, record: WriterLog) -> None:
    """One event per 1/rate s, each in its own (autocommit) transaction."""
    rng = random.Random(7)
    count = int(rate * duration)
    with psycopg.connect(url, autocommit=True) as conn:
        start = time.monotonic()
        for i in range(count):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                record.max_slip = max(record.max_slip, -delay)
            r = rng.random()
            event_type = next(code for limit, code in EVENT_MIX if r < limit)
            row = conn.execute(
                "INSERT INTO vopi.event_log (event_type_code, application_id, clerk_name, detail)"
                " VALUES (%s, %s, %s, 'bench latency') RETURNING id",
                (event_type, rng.randint(1, APPLICATIONS), f"Referent {i % 17}"),
            ).fetchone()
            committed = time.time()
            assert row is not None  # noqa: S101
            record.commits[int(row[0])] = committed
        record.seconds = time.monotonic() - start


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def run_latency(server_url: str, quick: bool) -> dict[str, Any]:
    duration = 10.0 if quick else 30.0
    out: dict[str, Any] = {"rate_events_per_s": LATENCY_RATE, "duration_s": duration}
    with scratch_database(server_url, "latency") as url, stub_servers() as stubs:
        out["population"] = seed_population(url)
        settings = make_settings(url, stubs)  # poll_interval 1.0, the default
        out["poll_interval"] = settings.source.poll_interval
        service = Service(settings)
        runner = threading.Thread(target=service.run, name="obvo-service", daemon=True)
        runner.start()
        time.sleep(2.0)  # registered, cursor initialised, idle
        record = WriterLog(commits={})
        log(f"latency: writing {LATENCY_RATE:.0f} events/s for {duration:.0f} s")
        writer = threading.Thread(
            target=write_steadily, args=(url, LATENCY_RATE, duration, record), name="vopi-writer"
        )
        writer.start()
        writer.join()
        last_id = max(record.commits)

        def drained() -> bool:
            with psycopg.connect(url) as conn:
                row = conn.execute(
                    b"SELECT (SELECT last_event_id FROM obvo.source_cursor WHERE source = 'vopi'),"
                    b" (SELECT count(*) FROM obvo.notifications"
                    b"  WHERE status IN ('pending', 'sending'))"
                ).fetchone()
            return row is not None and row[0] is not None and row[0] >= last_id and row[1] == 0

        out["drained"] = wait_until(drained, timeout=60.0)
        service.stop_event.set()
        runner.join(timeout=30)
        service.close()
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                b"SELECT id, source_event_id, channel, status, extract(epoch FROM created_at)"
                b" FROM obvo.notifications"
            ).fetchall()
        arrivals = stubs.arrivals()
    by_id = {int(r[0]): (int(r[1]), str(r[2]), str(r[3]), float(r[4])) for r in rows}
    latencies: dict[str, list[float]] = {"email": [], "sms": []}
    pickup: list[float] = []
    unmatched = 0
    for channel, items in arrivals.items():
        for arrived, notification_id in items:
            found = by_id.get(notification_id)
            if found is None or found[0] not in record.commits:
                unmatched += 1
                continue
            latencies[channel].append(arrived - record.commits[found[0]])
    for event_id, _channel, _status, created in by_id.values():
        if event_id in record.commits:
            pickup.append(created - record.commits[event_id])
    both = latencies["email"] + latencies["sms"]
    statuses = sorted({v[2] for v in by_id.values()})
    out.update(
        events_written=len(record.commits),
        writer_seconds=round(record.seconds, 2),
        writer_max_slip_s=round(record.max_slip, 3),
        notifications=len(by_id),
        delivered=len(both),
        unmatched_arrivals=unmatched,
        outbox={s: sum(1 for v in by_id.values() if v[2] == s) for s in statuses},
        latency_s=summary(both),
        latency_email_s=summary(latencies["email"]),
        latency_sms_s=summary(latencies["sms"]),
        commit_to_outbox_s=summary(pickup),
        target_p95_s=settings.source.poll_interval + LATENCY_SLACK,
    )
    log(f"  delivered {len(both)} messages, p95 {out['latency_s']['p95']} s")
    return out


# ---------------------------------------------------------------------------------------
# (c) idle poll on a big event log


def time_calls(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def run_idle(server_url: str, quick: bool, profile: bool) -> dict[str, Any]:
    n_rows = 200_000 if quick else 1_000_000
    repeat = 50 if quick else 200
    out: dict[str, Any] = {"rows": n_rows, "polls": repeat}
    with scratch_database(server_url, "idle") as url:
        seed_population(url)
        max_id = insert_events(url, n_rows)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO obvo.source_cursor (source, last_event_id) VALUES (%s, %s)",
                (SOURCE_NAME, max_id),
            )
        settings = make_settings(url, None)
        service = Service(settings)
        try:
            poller = service.poller
            for _ in range(10):  # warm up: pools, prepared plans, caches
                poller.poll_once()
            read: list[int] = []

            def poll() -> None:
                read.append(poller.poll_once().events_read)

            with maybe_profile(profile, out, "profile_idle"):
                polls = time_calls(poll, repeat)
            out["events_read_total"] = sum(read)  # 0: nothing new
            out["poll_ms"] = summary(polls, 1000, 2)
            out["breakdown_ms"] = idle_breakdown(service, max_id, repeat)
            out["explain"] = explain_events_query(service, max_id)
            out["index_scan_on_pkey"] = any(
                "Index Scan" in line and "event_log_pkey" in line for line in out["explain"]
            )
        finally:
            service.close()
    log(f"  idle poll median {out['poll_ms']['p50']} ms, p95 {out['poll_ms']['p95']} ms")
    return out


def idle_breakdown(service: Service, cursor: int, repeat: int) -> dict[str, Any]:
    """The steps of an idle poll_once, each timed on its own, plus two baselines."""
    poller, obvo = service.poller, service.obvo

    def holes_and_rules() -> None:
        with obvo.connect() as conn:
            store.list_holes(conn, SOURCE_NAME)
            poller.refresh_rules(conn)

    def write_cursor() -> None:
        with obvo.begin() as conn:
            store.set_cursor(conn, SOURCE_NAME, cursor)

    def select_one() -> None:
        with obvo.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def read_only_txn() -> None:
        with obvo.begin() as conn:
            store.get_cursor(conn, SOURCE_NAME)

    seen = dt.datetime.now(dt.UTC)
    # Ids no row has (far above the newest event): the cost of the probes alone.
    far = cursor + 1_000_000
    pending_ranges = [Hole(far + 5 * i, far + 5 * i + 2, seen, None) for i in range(100)]
    steps: dict[str, Callable[[], object]] = {
        "1 ensure_cursor (obvo txn)": poller.ensure_cursor,
        "2 list_holes + rules fingerprint": holes_and_rules,
        "3 read_batch (VOPI, 2 queries)": lambda: service.source.read_batch(cursor, 500, []),
        # 100 pending hole ranges (rolled back ids waiting for the age rule): one index probe
        # each on every poll.
        "3b read_batch with 100 hole ranges": lambda: service.source.read_batch(
            cursor, 500, pending_ranges
        ),
        "4 set_cursor txn (a write + COMMIT)": write_cursor,
        "baseline: checkout + SELECT 1": select_one,
        "baseline: read-only txn + COMMIT": read_only_txn,
    }
    return {name: summary(time_calls(fn, repeat), 1000, 2) for name, fn in steps.items()}


def explain_events_query(service: Service, max_id: int) -> list[str]:
    stmt = queries.vopi("vopi_events_after", service.settings.source.events_query)
    explain = sa.text("EXPLAIN (ANALYZE, BUFFERS) " + stmt.text)
    with service.vopi.connect() as conn:
        lines = [str(r[0]) for r in conn.execute(explain, {"after_id": max_id, "limit": 500})]
        conn.rollback()
    return lines


# ---------------------------------------------------------------------------------------
# orchestration and the report


def run_part(part: str, args: argparse.Namespace) -> dict[str, Any]:
    configure_logging("warning", "console")
    started = time.perf_counter()
    if part == "backlog":
        result = run_backlog(args.database_url, args.quick, args.profile)
    elif part == "latency":
        result = run_latency(args.database_url, args.quick)
    else:
        result = run_idle(args.database_url, args.quick, args.profile)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    return result


def run_in_subprocess(part: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="obvo-bench-") as tmp:
        result_file = Path(tmp) / f"{part}.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--only",
            part,
            "--database-url",
            args.database_url,
            "--result-file",
            str(result_file),
        ]
        if args.quick:
            command.append("--quick")
        if args.profile:
            command.append("--profile")
        log(f"=== {part} (subprocess) ===")
        completed = subprocess.run(command, check=False, timeout=900)
        if completed.returncode != 0 or not result_file.exists():
            return {"error": f"exit code {completed.returncode}"}
        data: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
        return data


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def fmt(value: object, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def report(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    backlog = results.get("backlog")
    if backlog and "error" not in backlog:
        pop = backlog["population"]
        rows.append(
            (
                "(a) backlog data",
                f"{backlog['events']:,} events, {pop['applications']:,} applications, "
                f"{pop['subscribers']:,}/{pop['parties']:,} parties subscribed",
                "",
                "",
            )
        )
        for run in backlog["poll_runs"]:
            b = run["batch_size"]
            rows.append((f"(a) poll, batch {b}: time", fmt(run["seconds"], "s"), "", ""))
            rows.append((f"(a) poll, batch {b}: events/s", fmt(run["events_per_s"]), "", ""))
            rows.append(
                (
                    f"(a) poll, batch {b}: notifications/s",
                    f"{fmt(run['notifications_per_s'])} ({run['notifications']:,} created)",
                    "",
                    "",
                )
            )
            rows.append(
                (
                    f"(a) poll, batch {b}: one poll (p50/max)",
                    f"{fmt(run['poll_ms']['p50'], 'ms')} / {fmt(run['poll_ms']['max'], 'ms')}",
                    "",
                    "",
                )
            )
        d = backlog["dispatch"]
        done = d["sent"] + d["failed"]
        if d["stopped_by_budget"]:
            rows.append(
                (
                    "(a) dispatch: time",
                    f"{fmt(d['seconds'], 's')} budget used up: {done:,} of {d['notifications']:,} "
                    f"sent; all would take ≈ {fmt(d['drain_s_projected'], 's')}",
                    "",
                    "",
                )
            )
        else:
            rows.append(("(a) dispatch: time (all sent)", fmt(d["seconds"], "s"), "", ""))
        rows.append(
            (
                "(a) dispatch: notifications/s",
                f"{fmt(d['notifications_per_s'])} (first 10 %: {fmt(d['rate_first_10pct'])}, "
                f"last 10 %: {fmt(d['rate_last_10pct'])})",
                "",
                "",
            )
        )
        rows.append(
            (
                "(a) dispatch: ms per message",
                f"e-mail send {fmt(d['ms_per_email_in_sender'])}, SMS send "
                f"{fmt(d['ms_per_sms_in_sender'])}, outside senders (DB, claim, bookkeeping) "
                f"{fmt(d['ms_per_message_outside_senders'])}",
                "",
                "",
            )
        )
        rows.append(
            (
                "(a) dispatch: delivered",
                f"{d['sent']:,} sent, {d['failed']:,} failed; stubs got {d['smtp_received']:,} "
                f"e-mails + {d['sms_received']:,} SMS",
                "",
                "",
            )
        )
        rss = backlog["rss_mb"]
        rows.append(
            (
                "(d) peak RSS during (a)",
                fmt(rss["peak_ru_maxrss"], "MB"),
                f"< {RSS_TARGET_MB:.0f} MB",
                verdict(rss["peak_ru_maxrss"] < RSS_TARGET_MB),
            )
        )
        rows.append(
            (
                "(d) RSS start/setup/polls/dispatch",
                " / ".join(fmt(rss[k]) for k in rss if k != "peak_ru_maxrss") + " MB",
                "",
                "",
            )
        )
    elif backlog:
        rows.append(("(a) backlog", backlog["error"], "", "ERROR"))
    latency = results.get("latency")
    if latency and "error" not in latency:
        lat, target = latency["latency_s"], latency["target_p95_s"]
        rows.append(
            (
                "(b) latency load",
                f"{latency['events_written']:,} events at {latency['rate_events_per_s']:.0f}/s, "
                f"{latency['delivered']:,} messages delivered",
                "",
                "",
            )
        )
        rows.append(("(b) commit→delivery p50", fmt(lat["p50"], "s"), "", ""))
        rows.append(
            (
                "(b) commit→delivery p95",
                fmt(lat["p95"], "s"),
                f"≤ {target:g} s",
                verdict(lat["p95"] is not None and lat["p95"] <= target),
            )
        )
        rows.append(("(b) commit→delivery p99", fmt(lat["p99"], "s"), "", ""))
        rows.append(("(b) commit→delivery max", fmt(lat["max"], "s"), "", ""))
        rows.append(
            (
                "(b) commit→outbox row p50/p95",
                f"{fmt(latency['commit_to_outbox_s']['p50'], 's')} / "
                f"{fmt(latency['commit_to_outbox_s']['p95'], 's')}",
                "",
                "",
            )
        )
        rows.append(
            (
                "(b) e-mail / SMS p95",
                f"{fmt(latency['latency_email_s']['p95'], 's')} / "
                f"{fmt(latency['latency_sms_s']['p95'], 's')}",
                "",
                "",
            )
        )
    elif latency:
        rows.append(("(b) latency", latency["error"], "", "ERROR"))
    idle = results.get("idle")
    if idle and "error" not in idle:
        p = idle["poll_ms"]
        rows.append(
            (
                f"(c) idle poll, {idle['rows']:,} rows: median",
                fmt(p["p50"], "ms"),
                f"< {IDLE_TARGET_MS:g} ms",
                verdict(p["p50"] < IDLE_TARGET_MS),
            )
        )
        rows.append(
            (
                "(c) idle poll p95 / max",
                f"{fmt(p['p95'], 'ms')} / {fmt(p['max'], 'ms')}",
                f"< {IDLE_TARGET_MS:g} ms",
                verdict(p["p95"] < IDLE_TARGET_MS),
            )
        )
        for name, s in idle["breakdown_ms"].items():
            rows.append((f"(c)   {name}", f"p50 {fmt(s['p50'], 'ms')}", "", ""))
        rows.append(
            (
                "(c) Index Scan on event_log_pkey",
                str(idle["index_scan_on_pkey"]),
                "True",
                verdict(idle["index_scan_on_pkey"]),
            )
        )
    elif idle:
        rows.append(("(c) idle", idle["error"], "", "ERROR"))
    header = ("figure", "value", "target", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if idle and "explain" in idle:
        lines += ["", "EXPLAIN (ANALYZE, BUFFERS) of vopi_events_after (after_id=max, limit=500):"]
        lines += [f"  {line}" for line in idle["explain"]]
    return "\n".join(lines)


def source_tree() -> dict[str, Any]:
    """Which product code was measured (read-only git queries)."""
    git = shutil.which("git")
    if git is None:
        return {"commit": None}
    try:
        head = subprocess.run(
            [git, "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "status", "--porcelain", "--", "vopi_obvo", "sql", "config"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None}
    return {"commit": head, "uncommitted_product_files": [line[3:] for line in dirty]}


def machine() -> dict[str, Any]:
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--database-url",
        default=DEFAULT_URL,
        help="a server where we may CREATE DATABASE (default: %(default)s)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller data (20k backlog, 10 s latency, 200k-row idle)",
    )
    parser.add_argument("--only", choices=PARTS, help="run one part in this process")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the measured loops of backlog and idle (slows them)",
    )
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve-stubs", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stub-delay-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve_stubs:
        serve_stubs(args.stub_delay_ms / 1000)
        return 0
    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    if args.only:
        results = {args.only: run_part(args.only, args)}
        if args.result_file:
            args.result_file.write_text(json.dumps(results[args.only], indent=2), "utf-8")
            return 0
    else:
        results = {part: run_in_subprocess(part, args) for part in PARTS}
    document = {
        "machine": machine(),
        "source": source_tree(),
        "load_average_at_start": load_at_start,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "quick": args.quick,
        **results,
    }
    print(report(results))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    target = RESULTS_DIR / "latest.json"
    target.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(
        f"\nwall time {document['wall_seconds']} s; load average at start {load_at_start},"
        f" at end {document['machine']['load_average']}"
    )
    tree = document["source"]
    print(
        f"product code: commit {str(tree.get('commit'))[:12]},"
        f" {len(tree.get('uncommitted_product_files', []))} uncommitted product file(s)"
    )
    print(f"results: {target.relative_to(ROOT)}")
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
