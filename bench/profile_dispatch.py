"""CPU cost of delivery per message: OBVO's process and its PostgreSQL backends.

Not a test, and not a speed benchmark: it counts CPU time, which other work on the machine
barely changes (wall-clock figures do), so runs on a busy machine still compare. See
bench/README.md ("CPU per message").

    .venv/bin/python bench/profile_dispatch.py [--messages N] [--concurrency C]
        [--mode inprocess|once] [--repeat R] [--profile] [--database-url URL]

One scratch database holds a backlog of N notifications (e-mail and SMS mixed, made by OBVO's
poller from VOPI events, as bench/side_by_side.py makes them), put back before every run. Each
run drains it to the stub sinks (bench.py --serve-stubs, in their own process):

* `inprocess`: `Service(settings).run(once=True)` in this process, logging at info as JSON to
  /dev/null (what `obvo once` does, without the interpreter's start); CPU = getrusage of this
  process (all its threads) around the run;
* `bare`: bench/side_by_side.py's bare loop in this process, for comparison;
* `once`: the installed `obvo once` as a subprocess, CPU from wait4's rusage (start-up
  included), and once more on an empty outbox: the start-up alone.

PostgreSQL's share: the CPU time (utime + stime from /proc/<pid>/stat) of every backend of the
scratch database other than this script's own, sampled every 0.1 s by a thread, so backends
that come and go during the run are counted too. PostgreSQL must run on this machine.
`--profile` adds cProfile's top functions (inprocess only; it slows the process down, so its
CPU figures are then not comparable).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
import side_by_side  # the same backlog and configuration file as the side-by-side run

import bench as common  # bench/bench.py: scratch databases, the stubs, settings
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service
from vopi_obvo.ops.logsetup import configure_logging

CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float | None:
    """CPU time of a process, all its threads: utime + stime from /proc/<pid>/stat, in clock
    ticks (10 ms)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def backend_cpu_seconds(pid: int) -> float | None:
    """CPU time of a single-threaded process (a PostgreSQL backend) in nanoseconds: the run
    time in /proc/<pid>/schedstat (its main thread's), else proc_cpu_seconds."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text(encoding="ascii").split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return proc_cpu_seconds(pid)


class BackendCpu:
    """CPU seconds used by the database's backends (other than the sampler's) while running."""

    def __init__(self, url: str, interval: float = 0.1) -> None:
        self.url = url
        self.interval = interval
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BackendCpu:
        self._conn = psycopg.connect(self.url, autocommit=True)
        self._own = self._conn.info.backend_pid
        self._sample(initial=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(initial=False)
        self._conn.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(initial=False)

    def _sample(self, *, initial: bool) -> None:
        rows = self._conn.execute(
            b"SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            b" AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchall()
        for (pid,) in rows:
            cpu = backend_cpu_seconds(int(pid))
            if cpu is None:
                continue
            # A backend first seen during the run started during it: count it from zero.
            self.first.setdefault(int(pid), cpu if initial else 0.0)
            self.last[int(pid)] = cpu

    @property
    def seconds(self) -> float:
        return sum(self.last[p] - self.first[p] for p in self.last)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def own_system_seconds() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def run_inprocess(url: str, stubs: common.Stubs, concurrency: int, profile: bool) -> dict[str, Any]:
    settings = common.make_settings(url, stubs)
    settings = _with_concurrency(settings, concurrency)
    real_stdout = sys.stdout
    with Path(os.devnull).open("w", encoding="utf-8") as devnull:
        sys.stdout = devnull
        try:
            configure_logging("info", "json")
            service = Service(settings)
            profiler = cProfile.Profile(time.thread_time) if profile else None
            thread_profiles: list[cProfile.Profile] = []
            if profile:
                _profile_send_threads(thread_profiles)
            with BackendCpu(url) as backends:
                cpu0, wall0 = own_cpu_seconds(), time.perf_counter()
                sys0, main0 = own_system_seconds(), time.thread_time()
                if profiler is not None:
                    profiler.enable()
                try:
                    service.run(once=True)
                finally:
                    if profiler is not None:
                        profiler.disable()
                    cpu1, wall1 = own_cpu_seconds(), time.perf_counter()
                    sys1, main1 = own_system_seconds(), time.thread_time()
                    threads = list(service.dispatcher.pool._threads)
                    service.close()
                    if profile:  # their profiles are complete once they ended
                        for thread in threads:
                            thread.join(timeout=5)
        finally:
            sys.stdout = real_stdout
    out: dict[str, Any] = {
        "obvo_cpu_s": cpu1 - cpu0,
        "obvo_system_cpu_s": sys1 - sys0,
        # The dispatcher's own thread (claims, outcomes, logs); the rest is the sending threads
        # and the sampler's (a query every 0.1 s).
        "obvo_main_thread_cpu_s": main1 - main0,
        "postgres_cpu_s": backends.seconds,
        "wall_s": wall1 - wall0,
    }
    if profiler is not None:
        for name, profiles in (("main", [profiler]), ("send_threads", thread_profiles)):
            if not profiles:
                continue
            stats = pstats.Stats(profiles[0], stream=io.StringIO())
            for more in profiles[1:]:
                stats.add(more)
            for order, count in (("tottime", 40), ("cumulative", 50)):
                text = io.StringIO()
                stats.stream = text  # type: ignore[attr-defined]
                stats.sort_stats(order).print_stats(count)
                out[f"profile_{name}_{order}"] = text.getvalue()
    return out


def _profile_send_threads(profiles: list[cProfile.Profile]) -> None:
    """Every sending thread under a CPU-time cProfile of its own (merged at the end)."""
    from vopi_obvo.delivery import send_pool  # noqa: PLC0415 - only with --profile

    work = send_pool.SendPool._work

    def profiled(self: Any) -> None:
        profiler = cProfile.Profile(time.thread_time)
        profiles.append(profiler)
        profiler.runcall(work, self)

    send_pool.SendPool._work = profiled  # type: ignore[method-assign]


def _with_concurrency(settings: Settings, concurrency: int) -> Settings:
    delivery = dataclasses.replace(settings.delivery, concurrency=concurrency)
    return dataclasses.replace(settings, delivery=delivery)


def run_bare(url: str, stubs: common.Stubs) -> dict[str, Any]:
    """bench/side_by_side.py's bare loop in this process, for comparison."""
    with BackendCpu(url) as backends:
        cpu0, wall0 = own_cpu_seconds(), time.perf_counter()
        side_by_side.bare_loop(url, stubs)
        cpu1, wall1 = own_cpu_seconds(), time.perf_counter()
    return {
        "obvo_cpu_s": cpu1 - cpu0,
        "postgres_cpu_s": backends.seconds,
        "wall_s": wall1 - wall0,
    }


def run_once(url: str, stubs: common.Stubs, tmp: Path, concurrency: int) -> dict[str, Any]:
    config = side_by_side.write_config(tmp, url, stubs, concurrency)
    with BackendCpu(url) as backends:
        wall0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(side_by_side.OBVO), "--config", str(config), "once"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if not k.startswith("OBVO_")},
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall1 = time.perf_counter()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        assert proc.stderr is not None  # noqa: S101
        raise RuntimeError(f"obvo once exited {code}: {proc.stderr.read().decode()[-2000:]}")
    return {
        "obvo_cpu_s": usage.ru_utime + usage.ru_stime,
        "obvo_system_cpu_s": usage.ru_stime,
        "postgres_cpu_s": backends.seconds,
        "wall_s": wall1 - wall0,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def empty_outbox(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(b"TRUNCATE obvo.notifications, obvo.delivery_counts CASCADE")
        conn.execute(b"DELETE FROM obvo.workers")


def per_message(run: dict[str, Any], messages: int) -> dict[str, Any]:
    return {
        "obvo_cpu_ms_per_msg": round(1000 * run["obvo_cpu_s"] / messages, 3),
        "postgres_cpu_ms_per_msg": round(1000 * run["postgres_cpu_s"] / messages, 3),
        "sinks_cpu_ms_per_msg": round(1000 * run["sinks_cpu_s"] / messages, 3),
        **(
            {
                "obvo_main_thread_ms_per_msg": round(
                    1000 * run["obvo_main_thread_cpu_s"] / messages, 3
                )
            }
            if "obvo_main_thread_cpu_s" in run
            else {}
        ),
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in run.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=common.DEFAULT_URL)
    parser.add_argument("--messages", type=int, default=3_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--mode", choices=("inprocess", "once", "bare"), default="inprocess")
    parser.add_argument("--repeat", type=int, default=3, help="runs on the same backlog")
    parser.add_argument("--profile", action="store_true", help="cProfile (inprocess only)")
    parser.add_argument("--result-file", type=Path, default=common.RESULTS_DIR / "cpu.json")
    args = parser.parse_args(argv)
    configure_logging("warning", "console")
    doc: dict[str, Any] = {
        "messages": args.messages,
        "concurrency": args.concurrency,
        "mode": args.mode,
        "source": common.source_tree(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "runs": [],
    }
    with (
        side_by_side.backlog_database(args.database_url, args.messages) as (url, backlog),
        common.stub_servers() as stubs,
        tempfile.TemporaryDirectory(prefix="obvo-cpu-") as tmp,
    ):
        doc["backlog"] = backlog["channels"]
        for index in range(args.repeat):
            side_by_side.restore_backlog(url)
            stubs.reset()
            sinks_before = proc_cpu_seconds(stubs.proc.pid) or 0.0
            if args.mode == "inprocess":
                run = run_inprocess(url, stubs, args.concurrency, args.profile and index == 0)
            elif args.mode == "bare":
                run = run_bare(url, stubs)
            else:
                run = run_once(url, stubs, Path(tmp), args.concurrency)
            run["sinks_cpu_s"] = (proc_cpu_seconds(stubs.proc.pid) or 0.0) - sinks_before
            arrived = side_by_side.arrivals_check(stubs, args.messages)
            if arrived["missing"] or arrived["duplicates"]:
                raise RuntimeError(f"run {index + 1}: {arrived}")
            for key in [k for k in run if k.startswith("profile_")]:
                print(f"==== {key}", run.pop(key), sep="\n", file=sys.stderr)
                run["profiled"] = True
            doc["runs"].append(per_message(run, args.messages) | {"arrivals": arrived})
            common.log(f"run {index + 1}: {json.dumps(doc['runs'][-1])[:400]}")
        if args.mode == "once":
            empty_outbox(url)
            doc["startup_only"] = run_once(url, stubs, Path(tmp), args.concurrency)
    runs = [r for r in doc["runs"] if "profiled" not in r] or doc["runs"]
    best = {
        key: min(r[key] for r in runs) for key in ("obvo_cpu_ms_per_msg", "postgres_cpu_ms_per_msg")
    }
    doc["best"] = best
    doc["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.result_file.parent.mkdir(parents=True, exist_ok=True)
    args.result_file.write_text(json.dumps(doc, indent=2) + "\n", "utf-8")
    print(
        f"{args.messages} messages {doc['backlog']}, concurrency {args.concurrency}, "
        f"mode {args.mode}, {len(runs)} run(s), lowest of each:"
    )
    print(f"  obvo process   {best['obvo_cpu_ms_per_msg']:.3f} ms CPU per message")
    print(f"  PostgreSQL     {best['postgres_cpu_ms_per_msg']:.3f} ms CPU per message")
    for r in doc["runs"]:
        main = r.get("obvo_main_thread_ms_per_msg")
        print(
            f"  run: obvo {r['obvo_cpu_ms_per_msg']:.3f} ms"
            + ("" if main is None else f" (its main thread {main:.3f} ms)")
            + f", postgres {r['postgres_cpu_ms_per_msg']:.3f} ms,"
            f" sinks {r['sinks_cpu_ms_per_msg']:.3f} ms, wall {r['wall_s']} s"
        )
    if "startup_only" in doc:
        s = doc["startup_only"]
        print(
            f"  obvo once on an empty outbox: {1000 * s['obvo_cpu_s']:.0f} ms CPU, "
            f"postgres {1000 * s['postgres_cpu_s']:.0f} ms, wall {s['wall_s']:.2f} s"
        )
    print(f"results: {args.result_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
