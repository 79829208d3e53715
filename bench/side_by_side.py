"""Delivery side by side: a bare loop and the installed `obvo` on the same backlog and sinks.

Not a test: it prints figures, marks each target PASS or MISS and writes
bench/results/side_by_side.json. See bench/README.md ("Delivery side by side").

    .venv/bin/python bench/side_by_side.py [--database-url URL] [--messages N] [--quick]

One scratch database holds a backlog of N notifications (e-mail and SMS mixed, rendered by
OBVO's own poller from VOPI events), copied aside once and put back before every run, so each
run starts from the same rows. Every run sends them all to the same stub process (aiosmtpd and
an HTTP/1.1 SMS gateway, bench.py --serve-stubs), first on loopback, then with the stubs adding
20 ms per message (a relay and a provider across a network):

* the bare loop (written here): one query, Jinja2 rendering, ONE reused SMTP connection and
  ONE keep-alive HTTP connection, no bookkeeping: the fastest one sequential sender can be;
* `obvo once` (the installed command, a configuration file as a deployer writes it) at
  [delivery] concurrency 1, 4, 8, 16;
* one and two `obvo run` processes draining the backlog together;
* and, on a database of its own, an idle `obvo run` on a 1,000,000-row event log: CPU time
  and rows written per minute.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import http.client
import json
import math
import os
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from email.header import Header
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import psycopg
import tomli_w

import bench as common  # bench/bench.py: scratch databases, the VOPI population, the stubs
from vopi_obvo.config import DeliverySettings
from vopi_obvo.ops.logsetup import configure_logging
from vopi_obvo.source.vopi import SOURCE_NAME

OBVO = Path(sys.executable).with_name("obvo")
RESULTS = common.RESULTS_DIR / "side_by_side.json"
CONCURRENCIES = (1, 4, 8, 16)
SINK_DELAY_MS = 20.0
TARGET_RATIO_C8 = 0.5  # obvo at concurrency 8 / bare loop, loopback: at most
TARGET_SPEEDUP_DELAYED = 6.0  # concurrency 8 vs 1, 20 ms sinks: at least
TARGET_TWO_PROCESSES = 1.6  # two processes vs one: at least
TARGET_RSS_MB = 150.0
TARGET_IDLE_CPU_PCT = 1.0
NOTIFICATIONS_PER_EVENT = 0.43  # of the population in bench.py (bench/README.md)
LJUBLJANA = ZoneInfo("Europe/Ljubljana")

log = common.log


def supports_concurrency() -> bool:
    return "concurrency" in {f.name for f in dataclasses.fields(DeliverySettings)}


# ---------------------------------------------------------------------------------------
# the backlog, made once and put back before every run


def build_backlog(url: str, messages: int) -> dict[str, Any]:
    """Events matched by OBVO's poller into exactly `messages` pending notifications, copied
    to public.bench_backlog."""
    population = common.seed_population(url)
    events = math.ceil(messages / NOTIFICATIONS_PER_EVENT * 1.15)
    max_id = common.insert_events(url, events)
    polled = common.poll_backlog(common.make_settings(url, None, batch_size=2000), max_id)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            b"DELETE FROM obvo.notifications WHERE id NOT IN (SELECT id FROM obvo.notifications"
            b" WHERE status = 'pending' ORDER BY id LIMIT %s)",
            (messages,),
        )
        conn.execute(b"UPDATE obvo.notifications SET next_attempt_at = now() - interval '1 h'")
        conn.execute(b"CREATE TABLE public.bench_backlog AS SELECT * FROM obvo.notifications")
        rows = conn.execute(
            b"SELECT channel, count(*) FROM public.bench_backlog GROUP BY 1 ORDER BY 1"
        ).fetchall()
    channels = {str(c): int(n) for c, n in rows}
    if sum(channels.values()) != messages:
        raise RuntimeError(f"backlog has {channels}, not {messages} notifications")
    log(f"backlog: {channels} from {events:,} events ({polled['seconds']} s to match)")
    return {"population": population, "events": events, "channels": channels}


def restore_backlog(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(b"TRUNCATE obvo.notifications, obvo.delivery_counts CASCADE")
        conn.execute(b"DELETE FROM obvo.workers")
        conn.execute(b"INSERT INTO obvo.notifications SELECT * FROM public.bench_backlog")
        conn.execute(b"VACUUM ANALYZE obvo.notifications")
        conn.execute(b"CHECKPOINT")


def outbox(url: str) -> dict[str, int]:
    """Notifications by status/channel after a run."""
    return common.count_notifications(url)


def arrivals_check(stubs: common.Stubs, expected: int) -> dict[str, int]:
    """What the sinks received: messages, distinct notifications, duplicates, missing."""
    arrived = stubs.arrivals()
    ids = [i for items in arrived.values() for _, i in items]
    counts = Counter(ids)
    return {
        "received": len(ids),
        "distinct": len(counts),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "missing": max(expected - len(counts), 0),
    }


# ---------------------------------------------------------------------------------------
# (1) the bare loop

BARE_QUERY = b"""
SELECT n.id, n.channel, n.recipient, e.id AS event_id, e.event_type_code AS event_type,
       e.created_at AS occurred_at, e.application_id AS case_id, a.case_number,
       a.subject AS case_subject, a.classification_code,
       coalesce(e.clerk_name, a.clerk_name) AS clerk_name, e.detail,
       t.email_subject, t.email_body, t.sms, et.name AS event_type_name
FROM obvo.notifications n
JOIN vopi.event_log e ON e.id = n.source_event_id
LEFT JOIN vopi.applications a ON a.id = e.application_id
JOIN obvo.templates t ON t.event_type = n.event_type AND t.language = n.language
JOIN obvo.event_types et ON et.code = n.event_type
WHERE n.status = 'pending'
ORDER BY n.id
"""


def _local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(LJUBLJANA)


def bare_environment() -> jinja2.Environment:
    env = jinja2.Environment(  # noqa: S701 - plain text and SMS, as in OBVO's own environment
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters["date"] = lambda v: f"{_local(v).day}. {_local(v).month}. {_local(v).year}"
    env.filters["datetime"] = lambda v: _local(v).strftime("%-d. %-m. %Y %H:%M")
    env.filters["time"] = lambda v: _local(v).strftime("%H:%M")
    return env


def bare_loop(url: str, stubs: common.Stubs) -> dict[str, Any]:
    """The fastest a single sequential sender can be: plain-text e-mail (MIMEText, compat32
    policy), a JSON POST per SMS, nothing written back."""
    env = bare_environment()
    compiled: dict[str, jinja2.Template] = {}

    def render(source: str, event: dict[str, Any]) -> str:
        template = compiled.get(source)
        if template is None:
            template = compiled[source] = env.from_string(source)
        return template.render(event=event, event_type={"name": event["event_type_name"]}).strip()

    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        cursor = conn.cursor(row_factory=psycopg.rows.dict_row)
        rows = cursor.execute(BARE_QUERY).fetchall()
    smtp = smtplib.SMTP("127.0.0.1", stubs.smtp_port, timeout=30)
    smtp.ehlo()
    gateway = http.client.HTTPConnection("127.0.0.1", stubs.http_port, timeout=30)
    sent = 0
    for row in rows:
        if row["channel"] == "email":
            message = MIMEText(render(row["email_body"], row), "plain", "utf-8")
            message["Subject"] = Header(render(row["email_subject"], row), "utf-8").encode()
            message["From"] = "obvestila@bench.example"
            message["To"] = row["recipient"]
            message["Message-ID"] = f"<obvo.{row['id']}@bench.example>"
            smtp.sendmail("obvestila@bench.example", [row["recipient"]], message.as_bytes())
        else:
            payload = {
                "to": row["recipient"],
                "text": render(row["sms"], row),
                "sender": "OBCINA",
                "reference": str(row["id"]),
            }
            gateway.request(
                "POST",
                "/send",
                body=json.dumps(payload, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json"},
            )
            reply = gateway.getresponse()
            reply.read()
            if reply.status != 200:
                raise RuntimeError(f"SMS stub answered {reply.status}")
        sent += 1
    smtp.quit()
    gateway.close()
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "sent": sent, "per_s": round(sent / seconds, 1)}


# ---------------------------------------------------------------------------------------
# (2) the installed obvo


def write_config(directory: Path, url: str, stubs: common.Stubs, concurrency: int | None) -> Path:
    """A configuration file as a deployer writes it: the example with the local servers."""
    raw = tomllib.loads(common.EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["database"]["url"] = url
    raw["email"].update(port=stubs.smtp_port, timeout=30.0)
    raw["sms"].update(backend="http", url=stubs.sms_url, timeout=30.0)
    raw["logging"].update(level="info", format="json")
    if concurrency is not None:
        raw["delivery"]["concurrency"] = concurrency
    path = directory / f"obvo-{concurrency}.toml"
    path.write_bytes(tomli_w.dumps(raw).encode("utf-8"))
    return path


@dataclasses.dataclass
class Child:
    proc: subprocess.Popen[bytes]
    started: float

    def wait(self) -> tuple[int, float]:
        """Exit status and peak RSS (MB) of this child, from wait4's rusage."""
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return self.proc.returncode, usage.ru_maxrss / 1024


def start_obvo(config: Path, command: str) -> Child:
    proc = subprocess.Popen(
        [str(OBVO), "--config", str(config), command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("OBVO_")},
    )
    return Child(proc, time.perf_counter())


def obvo_once(
    url: str, stubs: common.Stubs, tmp: Path, concurrency: int | None, expected: int
) -> dict[str, Any]:
    restore_backlog(url)
    stubs.reset()
    child = start_obvo(write_config(tmp, url, stubs, concurrency), "once")
    code, rss = child.wait()
    seconds = time.perf_counter() - child.started
    assert child.proc.stderr is not None  # noqa: S101
    errors = child.proc.stderr.read().decode("utf-8", "replace")[-2000:]
    result: dict[str, Any] = {
        "concurrency": concurrency,
        "exit_code": code,
        "seconds": round(seconds, 2),
        "per_s": round(expected / seconds, 1),
        "peak_rss_mb": round(rss, 1),
        "outbox": outbox(url),
        **arrivals_check(stubs, expected),
    }
    if code != 0:
        result["stderr"] = errors
    return result


def drain_with_processes(
    url: str, stubs: common.Stubs, tmp: Path, processes: int, expected: int
) -> dict[str, Any]:
    """`processes` x `obvo run` (default concurrency) from the same start until the outbox is
    empty; then SIGTERM."""
    restore_backlog(url)
    stubs.reset()
    config = write_config(tmp, url, stubs, None)
    children = [start_obvo(config, "run") for _ in range(processes)]
    started = children[0].started
    deadline = started + 900
    with psycopg.connect(url, autocommit=True) as conn:
        while time.perf_counter() < deadline:
            row = conn.execute(
                b"SELECT count(*) FROM obvo.notifications WHERE status IN ('pending', 'sending')"
            ).fetchone()
            if row is not None and row[0] == 0:
                break
            time.sleep(0.05)
    seconds = time.perf_counter() - started
    for child in children:
        child.proc.send_signal(signal.SIGTERM)
    rss = [child.wait()[1] for child in children]
    return {
        "processes": processes,
        "seconds": round(seconds, 2),
        "per_s": round(expected / seconds, 1),
        "peak_rss_mb": round(max(rss), 1),
        "outbox": outbox(url),
        **arrivals_check(stubs, expected),
    }


# ---------------------------------------------------------------------------------------
# (3) an idle daemon on a big event log


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def obvo_writes(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        b"SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"
        b" WHERE schemaname = 'obvo'"
    ).fetchone()
    return int(row[0]) if row else 0


def idle_daemon(server_url: str, rows: int, seconds: float) -> dict[str, Any]:
    with (
        common.scratch_database(server_url, "idlecpu") as url,
        common.stub_servers() as stubs,
        tempfile.TemporaryDirectory(prefix="obvo-bench-") as tmp,
    ):
        common.seed_population(url)
        max_id = common.insert_events(url, rows)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                b"INSERT INTO obvo.source_cursor (source, last_event_id) VALUES (%s, %s)",
                (SOURCE_NAME, max_id),
            )
        child = start_obvo(write_config(Path(tmp), url, stubs, None), "run")
        time.sleep(5.0)  # started, registered, caches warm
        with psycopg.connect(url, autocommit=True) as conn:
            # Statistics reach pg_stat_user_tables up to a few seconds late; the window is long
            # enough for that to matter little, and the figure is rounded accordingly.
            writes_before, cpu_before = obvo_writes(conn), cpu_seconds(child.proc.pid)
            t0 = time.perf_counter()
            time.sleep(seconds)
            cpu_after, wall = cpu_seconds(child.proc.pid), time.perf_counter() - t0
            time.sleep(1.5)
            writes_after = obvo_writes(conn)
        child.proc.send_signal(signal.SIGTERM)
        _, rss = child.wait()
    return {
        "rows": rows,
        "window_s": round(wall, 1),
        "cpu_pct_of_core": round(100 * (cpu_after - cpu_before) / wall, 2),
        "rows_written_per_min": round(60 * (writes_after - writes_before) / wall, 1),
        "peak_rss_mb": round(rss, 1),
    }


# ---------------------------------------------------------------------------------------
# orchestration and the report


def run_sinks(
    url: str, tmp: Path, expected: int, delay_ms: float, processes: bool
) -> dict[str, Any]:
    levels: Sequence[int | None] = CONCURRENCIES if supports_concurrency() else (None,)
    out: dict[str, Any] = {"delay_ms": delay_ms}
    with common.stub_servers(delay_ms) as stubs:
        restore_backlog(url)
        log(f"sinks +{delay_ms:g} ms: bare loop")
        out["bare"] = bare_loop(url, stubs)
        out["bare"].update(arrivals_check(stubs, expected))
        log(f"  {out['bare']['seconds']} s")
        out["obvo_once"] = []
        for level in levels:
            log(f"sinks +{delay_ms:g} ms: obvo once, concurrency {level or '(no setting)'}")
            run = obvo_once(url, stubs, tmp, level, expected)
            out["obvo_once"].append(run)
            log(f"  {run['seconds']} s, exit {run['exit_code']}, outbox {run['outbox']}")
        if processes:
            out["obvo_run"] = []
            for count in (1, 2):
                log(f"sinks +{delay_ms:g} ms: {count} x obvo run")
                run = drain_with_processes(url, stubs, tmp, count, expected)
                out["obvo_run"].append(run)
                log(f"  {run['seconds']} s")
    return out


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def _once_at(sinks: dict[str, Any], level: int) -> dict[str, Any] | None:
    return next((r for r in sinks["obvo_once"] if r["concurrency"] == level), None)


def report(doc: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    expected = doc["messages"]
    for sinks in doc["sinks"]:
        label = "loopback" if not sinks["delay_ms"] else f"+{sinks['delay_ms']:g} ms sinks"
        bare = sinks["bare"]
        rows.append(
            (
                f"{label}: bare loop",
                f"{bare['seconds']} s, {bare['per_s']:,} msg/s",
                "",
                "",
            )
        )
        for run in sinks["obvo_once"]:
            level = run["concurrency"]
            ratio = run["seconds"] / bare["seconds"]
            target, ok = "", None
            if level == 8 and not sinks["delay_ms"]:
                target, ok = f"≤ {TARGET_RATIO_C8}x bare", ratio <= TARGET_RATIO_C8
            problems = ""
            if run["exit_code"] or run["duplicates"] or run["missing"]:
                problems = (
                    f"; exit {run['exit_code']}, {run['duplicates']} duplicates, "
                    f"{run['missing']} missing"
                )
            rows.append(
                (
                    f"{label}: obvo once, concurrency {level or '— (1 message at a time)'}",
                    f"{run['seconds']} s, {run['per_s']:,} msg/s, {ratio:.2f}x bare{problems}",
                    target,
                    verdict(ok),
                )
            )
        one, eight = _once_at(sinks, 1), _once_at(sinks, 8)
        if sinks["delay_ms"]:
            speedup = one["seconds"] / eight["seconds"] if one and eight else None
            rows.append(
                (
                    f"{label}: concurrency 8 vs 1",
                    "no [delivery] concurrency" if speedup is None else f"{speedup:.2f}x faster",
                    f"≥ {TARGET_SPEEDUP_DELAYED:g}x",
                    verdict(None if speedup is None else speedup >= TARGET_SPEEDUP_DELAYED),
                )
            )
        runs = sinks.get("obvo_run")
        if runs:
            gain = runs[0]["seconds"] / runs[1]["seconds"]
            rows.append(
                (
                    f"{label}: 2 x obvo run vs 1",
                    f"{runs[1]['seconds']} s vs {runs[0]['seconds']} s: {gain:.2f}x "
                    f"({runs[1]['duplicates']} duplicates, {runs[1]['missing']} missing)",
                    f"≥ {TARGET_TWO_PROCESSES:g}x",
                    verdict(gain >= TARGET_TWO_PROCESSES),
                )
            )
    peak = max(
        [r["peak_rss_mb"] for s in doc["sinks"] for r in s["obvo_once"] + s.get("obvo_run", [])]
        + [doc["idle"]["peak_rss_mb"]]
    )
    rows.append(("peak RSS of any obvo process", f"{peak} MB", f"< {TARGET_RSS_MB:g} MB", ""))
    rows[-1] = (*rows[-1][:3], verdict(peak < TARGET_RSS_MB))
    idle = doc["idle"]
    rows.append(
        (
            f"idle obvo run, {idle['rows']:,}-row event log: CPU",
            f"{idle['cpu_pct_of_core']} % of a core over {idle['window_s']} s",
            f"< {TARGET_IDLE_CPU_PCT:g} %",
            verdict(idle["cpu_pct_of_core"] < TARGET_IDLE_CPU_PCT),
        )
    )
    rows.append(
        (
            "idle obvo run: rows written in OBVO's schema",
            f"{idle['rows_written_per_min']} per minute",
            "",
            "",
        )
    )
    header = (f"figure ({expected:,} messages)", "value", "target", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


@contextmanager
def backlog_database(server_url: str, messages: int) -> Iterator[tuple[str, dict[str, Any]]]:
    with common.scratch_database(server_url, "delivery") as url:
        yield url, build_backlog(url, messages)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=common.DEFAULT_URL)
    parser.add_argument("--messages", type=int, default=10_000, help="backlog size")
    parser.add_argument(
        "--quick", action="store_true", help="2,000 messages, 200,000-row idle log, 10 s idle"
    )
    parser.add_argument("--skip-delayed", action="store_true", help="loopback sinks only")
    args = parser.parse_args(argv)
    messages = 2_000 if args.quick else args.messages
    configure_logging("warning", "console")
    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    doc: dict[str, Any] = {"messages": messages, "concurrency_setting": supports_concurrency()}
    with (
        backlog_database(args.database_url, messages) as (url, backlog),
        tempfile.TemporaryDirectory(prefix="obvo-bench-") as tmp,
    ):
        doc["backlog"] = backlog
        delays = (0.0,) if args.skip_delayed else (0.0, SINK_DELAY_MS)
        doc["sinks"] = [
            run_sinks(url, Path(tmp), messages, delay, processes=True) for delay in delays
        ]
    log("idle obvo run on a big event log")
    doc["idle"] = idle_daemon(
        args.database_url, 200_000 if args.quick else 1_000_000, 10.0 if args.quick else 30.0
    )
    doc["machine"] = common.machine()
    doc["source"] = common.source_tree()
    doc["load_average_at_start"] = load_at_start
    doc["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(report(doc))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(
        f"\nwall time {doc['wall_seconds']} s; load average at start {load_at_start}, at end"
        f" {doc['machine']['load_average']}; product code {str(doc['source'].get('commit'))[:12]}"
        f" + {len(doc['source'].get('uncommitted_product_files', []))} uncommitted file(s)"
    )
    print(f"results: {RESULTS.relative_to(common.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
