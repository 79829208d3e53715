"""`obvo demo` on a fresh machine: embedded PostgreSQL, local SMTP server, simulated clerk.

Each test runs the real command in a subprocess, as an operator would, and checks what it
prints and that it leaves no PostgreSQL server or data directory behind.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow

TIMEOUT = 120.0
EMAIL_LINE = re.compile(r"^E-mail → \S+@\S+: \S.*$", re.MULTILINE)
SMS_LINE = re.compile(r"^SMS → \+\d{8,15}: \S.*$", re.MULTILINE)
TEMP_PGDATA = re.compile(r"^PostgreSQL started in [\d.]+ s: (\S+) \(temporary", re.MULTILINE)


def demo_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vopi_obvo", "demo", *args]


def demo_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBVO_")}
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def summary_number(output: str, label: str) -> int:
    match = re.search(rf"^{re.escape(label)}:\s+(\d+)", output, re.MULTILINE)
    assert match, f"no '{label}' in the summary:\n{output}"
    return int(match.group(1))


def sent_notifications(output: str) -> int:
    match = re.search(r"^\s+sent\s+(\d+)\s+\(", output, re.MULTILINE)
    return int(match.group(1)) if match else 0


def check_summary(output: str) -> None:
    assert "──── Demo summary ────" in output, output
    emails = summary_number(output, "e-mails received")
    sms = summary_number(output, "SMS sent")
    assert summary_number(output, "VOPI events created") >= 1
    # The clerk's first action is a new application of a party with e-mail and SMS.
    assert emails >= 1, output
    assert sms >= 1, output
    # Every message counted was printed as it arrived.
    assert len(EMAIL_LINE.findall(output)) == emails, output
    assert len(SMS_LINE.findall(output)) == sms, output
    assert output.rstrip().endswith("Demo finished: the SMTP server and PostgreSQL are stopped.")


def postgres_processes_for(pgdata: str) -> list[int]:
    """PIDs of running processes whose command line names this data directory (Linux)."""
    found: list[int] = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if pgdata in cmdline and "postgres" in cmdline:
            found.append(int(proc.name))
    return found


def assert_postgres_gone(pgdata: str) -> None:
    if not Path("/proc/self/cmdline").exists():
        return  # no /proc: cannot look
    deadline = time.monotonic() + 15
    while postgres_processes_for(pgdata):
        assert time.monotonic() < deadline, f"PostgreSQL of {pgdata} still running"
        time.sleep(0.2)


def test_demo_runs_the_whole_pipeline_and_cleans_up(tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        demo_command("--duration", "12"),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        env=demo_env(),
        cwd=tmp_path,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, f"exit {result.returncode}\n{output}\n{result.stderr}"
    assert time.monotonic() - started >= 12
    assert EMAIL_LINE.search(output), output
    assert SMS_LINE.search(output), output
    assert re.search(r"^Clerk \d\d:\d\d:\d\d  VLOZ ", output, re.MULTILINE), output
    check_summary(output)
    # Fresh database: the outbox holds exactly what the SMTP server and the SMS printer got.
    emails = summary_number(output, "e-mails received")
    sms = summary_number(output, "SMS sent")
    assert sent_notifications(output) == emails + sms, output
    # Both languages: Janez Novak (sl) and Giulia Rossi (it) file applications first.
    assert "Prejeli smo vašo vlogo" in output, output
    assert "Abbiamo ricevuto la sua domanda" in output, output

    pgdata = TEMP_PGDATA.search(output)
    assert pgdata, output
    assert not Path(pgdata.group(1)).exists(), "the temporary data directory was left behind"
    assert_postgres_gone(pgdata.group(1))


def _read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


def test_demo_stops_on_sigint_and_reuses_its_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    proc = subprocess.Popen(
        demo_command("--data-dir", str(data_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        env=demo_env(),
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True)
    reader.start()
    output: list[str] = []
    try:
        deadline = time.monotonic() + TIMEOUT
        # Ctrl-C once the first SMS has gone out.
        while not any(SMS_LINE.match(line.rstrip("\n")) for line in output):
            remaining = deadline - time.monotonic()
            assert remaining > 0, "no SMS within the time limit:\n" + "".join(output)
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, "the demo ended early:\n" + "".join(output)
            output.append(line)
        proc.send_signal(signal.SIGINT)
        returncode = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            break
        if line is not None:
            output.append(line)
    first = "".join(output)
    assert returncode == 0, first
    assert "Stopping (SIGINT received)" in first, first
    check_summary(first)
    pgdata = data_dir / "pgdata"
    assert (pgdata / "PG_VERSION").exists(), "--data-dir must keep the database"
    assert_postgres_gone(str(pgdata))

    second = subprocess.run(
        demo_command("--duration", "3", "--data-dir", str(data_dir)),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        env=demo_env(),
        cwd=tmp_path,
        check=False,
    )
    assert second.returncode == 0, f"{second.stdout}\n{second.stderr}"
    assert "Reusing the demo data" in second.stdout, second.stdout
    assert "Seeded" not in second.stdout, second.stdout
    check_summary(second.stdout)
    # The outbox keeps the first run's messages too.
    assert sent_notifications(second.stdout) >= sent_notifications(first)
    assert_postgres_gone(str(pgdata))
