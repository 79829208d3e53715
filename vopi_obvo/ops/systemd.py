"""The sd_notify protocol: one datagram to $NOTIFY_SOCKET (no libsystemd needed)."""

from __future__ import annotations

import os
import socket


def notify(*assignments: str, environ: dict[str, str] | None = None) -> bool:
    """Send e.g. notify("READY=1", "STATUS=…"); False when not run by systemd (no socket)."""
    address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET")
    if not address or not assignments:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    payload = "\n".join(assignments).encode("utf-8")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(address)
            sock.sendall(payload)
        except OSError:
            return False
    return True


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """Half of WatchdogSec, so one late ping never trips the watchdog; None when the watchdog
    is not meant for this process."""
    env = environ if environ is not None else os.environ
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1_000_000 / 2
    except ValueError:
        return None
