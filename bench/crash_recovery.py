"""Crash recovery: `obvo run` killed with SIGKILL twice under a steady stream, restarted 0.3 s
later each time (what systemd's `Restart=always`, `RestartSec=0.3` does).

Not a test: it prints figures and writes bench/results/crash_recovery.json (see bench/README.md).

    .venv/bin/python bench/crash_recovery.py [--database-url URL] [--quick]

A writer commits 40 events/s into VOPI (one transaction each) while the installed `obvo run`
(the deployer's command, configured by a TOML file, default `[delivery]` settings: liveness
by lock, `stale_worker_after` 60 s) delivers to aiosmtpd and an HTTP SMS stub in another
process. After a third and again after two thirds of the stream the daemon gets SIGKILL; the
next one starts 0.3 s later. Figures: every notification delivered or not, duplicates (and
the bound: per kill, `[delivery] concurrency` messages with a provider plus as many accepted
and not yet marked), commit→delivery p50/p95/max over the whole phase
and for the events committed in the 5 s after each kill, and from each kill to the first
delivery by the restarted process.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import tomli_w

from vopi_obvo.config import DeliverySettings
from vopi_obvo.ops.logsetup import configure_logging

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as core  # the shared scratch database, population, stubs, writer

RATE = 40.0  # events per second
RESTART_AFTER = 0.3  # seconds between SIGKILL and the next start
AFTER_KILL = 5.0  # events committed this long after a kill count as "recovery"
TARGET_P95 = 3.0  # seconds, commit→delivery over the phase
OBVO = str(Path(sys.executable).with_name("obvo"))
RESULT = core.RESULTS_DIR / "crash_recovery.json"


def write_config(directory: Path, url: str, stubs: core.Stubs) -> Path:
    raw = tomllib.loads(core.EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    raw["database"]["url"] = url
    raw["source"].update(start="earliest")
    raw["email"].update(port=stubs.smtp_port, timeout=10.0)
    raw["sms"].update(backend="http", url=stubs.sms_url, timeout=10.0)
    raw.setdefault("logging", {}).update(level="warning", format="json")
    path = directory / "obvo.toml"
    path.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return path


def start_daemon(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [OBVO, "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run(server_url: str, quick: bool) -> dict[str, Any]:
    duration = 15.0 if quick else 30.0
    out: dict[str, Any] = {
        "rate_events_per_s": RATE,
        "duration_s": duration,
        "restart_after_s": RESTART_AFTER,
    }
    with (
        core.scratch_database(server_url, "crash") as url,
        core.stub_servers() as stubs,
    ):
        out["population"] = core.seed_population(url)
        config = write_config(Path(tempfile.mkdtemp(prefix="obvo-crash-")), url, stubs)
        daemon = start_daemon(config)
        core.wait_until(lambda: _workers(url) > 0, timeout=60.0)
        record = core.WriterLog(commits={})
        writer = threading.Thread(
            target=core.write_steadily, args=(url, RATE, duration, record), name="vopi-writer"
        )
        started = time.time()
        writer.start()
        kills: list[float] = []
        for at in (duration / 3, 2 * duration / 3):
            time.sleep(max(0.0, started + at - time.time()))
            daemon.send_signal(signal.SIGKILL)
            kills.append(time.time())
            daemon.wait(timeout=10)
            core.log(f"crash: SIGKILL at {at:.1f} s; restart in {RESTART_AFTER} s")
            time.sleep(RESTART_AFTER)
            daemon = start_daemon(config)
        writer.join()
        last_id = max(record.commits)
        out["drained"] = core.wait_until(lambda: _drained(url, last_id), timeout=120.0)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                b"SELECT id, source_event_id, status FROM obvo.notifications"
            ).fetchall()
        arrivals = stubs.arrivals()
    out.update(figures(rows, arrivals, record.commits, kills))
    out["kills_at_s"] = [round(k - started, 2) for k in kills]
    return out


def _workers(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(b"SELECT count(*) FROM obvo.workers").fetchone()
    return 0 if row is None else int(row[0])


def _drained(url: str, last_id: int) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            b"SELECT (SELECT last_event_id FROM obvo.source_cursor WHERE source = 'vopi'),"
            b" (SELECT count(*) FROM obvo.notifications WHERE status IN ('pending', 'sending'))"
        ).fetchone()
    return row is not None and row[0] is not None and row[0] >= last_id and row[1] == 0


def figures(
    rows: list[tuple[Any, ...]],
    arrivals: dict[str, list[tuple[float, int]]],
    commits: dict[int, float],
    kills: list[float],
) -> dict[str, Any]:
    event_of = {int(r[0]): int(r[1]) for r in rows}
    every = [(t, i) for items in arrivals.values() for t, i in items]
    times = Counter(i for _, i in every)
    first: dict[int, float] = {}
    for t, i in sorted(every):
        first.setdefault(i, t)
    latency = [first[i] - commits[event_of[i]] for i in first if event_of.get(i) in commits]
    recovery: list[float] = []
    first_after_kill: list[float] = []
    for kill in kills:
        recovery += [
            first[i] - commits[event_of[i]]
            for i in first
            if event_of.get(i) in commits and kill <= commits[event_of[i]] < kill + AFTER_KILL
        ]
        later = [t for t, _ in every if t > kill + RESTART_AFTER]
        first_after_kill.append(round(min(later) - kill, 2) if later else -1.0)
    p95 = core.percentile(latency, 0.95)
    return {
        "notifications": len(event_of),
        "statuses": dict(Counter(str(r[2]) for r in rows)),
        "delivered_all": set(first) == set(event_of),
        "missing": sorted(set(event_of) - set(first))[:20],
        "arrivals": len(every),
        "duplicates": sum(n - 1 for n in times.values()),
        # per kill: `concurrency` with a provider plus as many accepted but not yet marked
        "duplicates_bound": len(kills) * 2 * DeliverySettings.concurrency,
        "latency_s": core.summary(latency),
        "latency_after_kill_s": core.summary(recovery),
        "kill_to_first_delivery_s": first_after_kill,
        "target_p95_s": TARGET_P95,
        "p95_ok": p95 is not None and p95 <= TARGET_P95,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=core.DEFAULT_URL)
    parser.add_argument("--quick", action="store_true", help="a 15 s stream instead of 30 s")
    args = parser.parse_args(argv)
    configure_logging("warning", "console")
    result = run(args.database_url, args.quick)
    result["machine"] = core.machine()
    result["source"] = core.source_tree()
    core.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lat, rec = result["latency_s"], result["latency_after_kill_s"]
    print(
        f"notifications {result['notifications']}, all delivered: {result['delivered_all']}, "
        f"duplicates {result['duplicates']} (bound {result['duplicates_bound']})\n"
        f"commit→delivery p50 {lat['p50']} s, p95 {lat['p95']} s, max {lat['max']} s "
        f"(target p95 ≤ {TARGET_P95:g} s: {'PASS' if result['p95_ok'] else 'MISS'})\n"
        f"events in the {AFTER_KILL:g} s after a kill: p50 {rec['p50']} s, p95 {rec['p95']} s, "
        f"max {rec['max']} s\n"
        f"kill → first delivery of the restarted daemon: {result['kill_to_first_delivery_s']} s\n"
        f"results: {RESULT.relative_to(core.ROOT)}"
    )
    return 0 if result["delivered_all"] else 1


if __name__ == "__main__":
    sys.exit(main())
