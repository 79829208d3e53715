"""Helpers for the operations tests: a daemon subprocess whose output is read as it comes, and
a listener on a NOTIFY_SOCKET like systemd's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.support import wait_for
from vopi_obvo import cli


@dataclass(frozen=True)
class Datagram:
    at: float  # time.monotonic() when received
    text: str

    @property
    def fields(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in self.text.splitlines() if "=" in line)


class NotifyListener:
    """A unix datagram socket as systemd's NOTIFY_SOCKET; every datagram is kept in order."""

    def __init__(self) -> None:
        # A short directory: a unix socket path must fit in 108 bytes.
        self._dir = Path(tempfile.mkdtemp(prefix="obvo-n-", dir="/tmp"))
        self.path = self._dir / "notify"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))
        self._sock.settimeout(0.2)
        self._received: list[Datagram] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._received.append(Datagram(time.monotonic(), data.decode("utf-8")))

    @property
    def datagrams(self) -> list[Datagram]:
        with self._lock:
            return list(self._received)

    def with_field(self, name: str) -> list[Datagram]:
        return [d for d in self.datagrams if name in d.fields]

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=2)
        self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)


class Daemon:
    """`obvo …` as a subprocess; its output is drained by a thread (a full pipe would block
    the daemon) and kept line by line with the time each line arrived."""

    def __init__(
        self, command: Sequence[str], *, cwd: Path, env: dict[str, str], name: str = "obvo"
    ) -> None:
        self.name = name
        self.process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self._lines.append((time.monotonic(), line.rstrip("\n")))

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def output(self) -> str:
        with self._lock:
            return "\n".join(line for _, line in self._lines)

    def events(self) -> list[tuple[float, dict[str, Any]]]:
        """JSON log lines (structlog) with their arrival times."""
        with self._lock:
            lines = list(self._lines)
        found: list[tuple[float, dict[str, Any]]] = []
        for at, line in lines:
            if line.startswith("{"):
                try:
                    found.append((at, json.loads(line)))
                except ValueError:
                    continue
        return found

    def logged(self, event: str) -> list[dict[str, Any]]:
        return [e for _, e in self.events() if e.get("event") == event]

    def first_logged_at(self, event: str) -> float | None:
        return next((at for at, e in self.events() if e.get("event") == event), None)

    def wait_logged(self, event: str, timeout: float = 20.0) -> dict[str, Any]:
        return wait_for(lambda: next(iter(self.logged(event)), None), timeout=timeout)  # type: ignore[no-any-return]

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit code; a process that does not stop fails with its output."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            tail = "\n".join(self.output.splitlines()[-40:])
            raise AssertionError(
                f"{self.name} did not stop within {timeout} s after SIGTERM; its last lines:\n"
                f"{tail}"
            ) from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)


def clean_env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in (base or dict(os.environ)).items() if not k.startswith("OBVO_")}
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(name, None)
    return env


def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    config: Path,
    *args: str,
    **env: str,
) -> tuple[int, str]:
    """`obvo ARGS --config CONFIG` in this process (the real CLI code, without the cost of a
    new interpreter), with OBVO_* variables only from `env`; returns the exit code and the
    output (stdout and stderr)."""
    capsys.readouterr()  # what ran before in this test is not this command's output
    with monkeypatch.context() as m:
        for name in list(os.environ):
            if name.startswith("OBVO_"):
                m.delenv(name)
        for name, value in env.items():
            m.setenv(name, value)
        m.chdir(config.parent)
        try:
            code = cli.main([*args, "--config", str(config)])
        finally:
            # The CLI points structlog at this test's captured stdout: undo that.
            structlog.reset_defaults()
    captured = capsys.readouterr()
    return code, captured.out + captured.err
