from __future__ import annotations

import os
import socket
from pathlib import Path

from vopi_obvo.ops import systemd


def test_notify_sends_one_datagram_to_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        assert systemd.notify("READY=1", "STATUS=cursor 5", environ={"NOTIFY_SOCKET": str(path)})
        assert listener.recv(4096) == b"READY=1\nSTATUS=cursor 5"


def test_notify_without_systemd_does_nothing() -> None:
    assert systemd.notify("READY=1", environ={}) is False


def test_notify_to_a_vanished_socket_is_not_an_error(tmp_path: Path) -> None:
    assert systemd.notify("WATCHDOG=1", environ={"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False


def test_watchdog_interval_is_half_the_timeout_for_this_process() -> None:
    env = {"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": str(os.getpid())}
    assert systemd.watchdog_interval(env) == 60.0
    assert systemd.watchdog_interval({**env, "WATCHDOG_PID": "1"}) is None
    assert systemd.watchdog_interval({}) is None
