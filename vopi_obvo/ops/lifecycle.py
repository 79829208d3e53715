"""Stopping and reloading the daemon: signals, the grace period for a message in flight.

SIGTERM/SIGINT ask the loop to stop: no new message is started, the ones being handed to the
SMTP server or SMS gateway (up to `[delivery] concurrency`, each in a sending thread) may
finish within `[delivery] shutdown_grace` seconds. When the grace period ends first, SIGALRM
interrupts the dispatcher's wait for them (`GraceOver`, raised only while the main thread
waits for sends, never inside a database write); the process releases every claim, the
interrupted ones with a note, and exits 0, abandoning the sending threads. A second
SIGTERM/SIGINT ends the grace period at once. SIGHUP asks for a reload between two rounds of
the loop, so no work is dropped.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import structlog

from vopi_obvo.ops import systemd
from vopi_obvo.senders import NotAttempted, OutgoingMessage, Sender, SendError

log = structlog.get_logger("vopi_obvo.lifecycle")

# Told of every send: the channel, its outcome (sent, temporary, permanent, interrupted,
# not_attempted) and how many seconds it took.
SendObserver = Callable[[str, str, float], None]


class GraceOver(BaseException):
    """The shutdown grace period ended while messages were being sent. A BaseException, so
    that no `except Exception` on the way swallows it."""

    def __init__(self, notification_ids: list[int]) -> None:
        self.notification_ids = notification_ids
        super().__init__(f"grace period over while sending notifications {notification_ids}")


class InFlight:
    """Which notifications this process is handing over right now (from any sending thread),
    whether the dispatcher is waiting for them, and whether the grace period is over (then no
    send starts any more)."""

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self.waiting = False  # the main thread waits for sends: GraceOver may interrupt it
        self.expired = False
        self.interrupted: list[int] = []  # the sends that GraceOver cut short

    @property
    def ids(self) -> list[int]:
        with self._lock:
            return sorted(self._ids)

    def begin(self, notification_id: int) -> None:
        with self._lock:
            self._ids.add(notification_id)

    def end(self, notification_id: int) -> None:
        with self._lock:
            self._ids.discard(notification_id)


class TrackedSender:
    """Wraps a sender: records the message in flight (for the grace period) and reports each
    send's outcome and duration (for metrics)."""

    def __init__(
        self, inner: Sender, in_flight: InFlight, observe: SendObserver | None = None
    ) -> None:
        self.inner = inner
        self.channel = inner.channel
        self.in_flight = in_flight
        self.observe = observe

    def send(self, message: OutgoingMessage) -> str | None:
        if self.in_flight.expired:
            raise NotAttempted("the shutdown grace period is over")
        started = time.monotonic()
        outcome = "interrupted"
        self.in_flight.begin(message.notification_id)
        try:
            provider_id = self.inner.send(message)
            outcome = "sent"
        except NotAttempted:
            outcome = "not_attempted"
            raise
        except SendError as exc:
            outcome = "permanent" if exc.permanent else "temporary"
            raise
        finally:
            self.in_flight.end(message.notification_id)
            if self.observe is not None:
                self.observe(self.channel, outcome, time.monotonic() - started)
        return provider_id

    def close(self) -> None:
        if self.in_flight.expired:
            return  # the process is about to exit: a polite QUIT could hang as long again
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Anything else a sender offers (e.g. shutdown() of an SMPP session) passes through.
        return getattr(self.inner, name)


class Signals:
    """The process's stop and reload requests; `installed()` wires them to the signals."""

    def __init__(self, grace: Callable[[], float]) -> None:
        self.grace = grace
        self.stop = threading.Event()  # set: stop taking work
        self.wake = threading.Event()  # set: cut the current wait short
        self.reload_requested = False
        self.in_flight = InFlight()
        self._armed = False
        # Log lines of the signal handlers, written later by the main loop (`report()`): a
        # handler that logged could interrupt the same thread in the middle of writing a log
        # line and wait forever for the lock that write holds.
        self._notes: deque[tuple[str, str, dict[str, Any]]] = deque()

    def _note(self, level: str, event: str, **values: Any) -> None:
        self._notes.append((level, event, values))

    def report(self) -> None:
        """Write what the signal handlers noted (main thread, outside any handler)."""
        while self._notes:
            level, event, values = self._notes.popleft()
            getattr(log, level)(event, **values)

    def request_stop(self, reason: str) -> None:
        if self.stop.is_set():
            self._note("warning", "daemon.stop_now", signal=reason, reason="asked twice")
            self.expire()
            return
        grace = self.grace()
        self._note("info", "daemon.stopping", signal=reason, grace_seconds=grace)
        # A datagram: no lock of this process is involved, so it is safe in a handler.
        systemd.notify("STOPPING=1", f"STATUS=stopping ({reason}), at most {grace:g} s")
        self.stop.set()
        self.wake.set()
        if grace <= 0:
            self.expire()
        elif threading.current_thread() is threading.main_thread():
            signal.setitimer(signal.ITIMER_REAL, grace)
            self._armed = True

    def request_reload(self) -> None:
        self.reload_requested = True
        self.wake.set()

    def expire(self) -> None:
        """The grace period is over: stop waiting for the sends in progress, start no other."""
        self.in_flight.expired = True
        busy = self.in_flight.ids
        if (
            busy
            and self.in_flight.waiting
            and threading.current_thread() is threading.main_thread()
        ):
            self.in_flight.interrupted = busy
            raise GraceOver(busy)

    def disarm(self) -> None:
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._armed = False

    def sleep(self, seconds: float, tick: float | None, on_tick: Callable[[], None]) -> None:
        """Wait up to `seconds`, or less when woken; call on_tick at least every `tick` s."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            woke = self.wake.wait(remaining if tick is None else min(remaining, tick))
            self.report()
            on_tick()
            if woke:
                self.wake.clear()
                break

    @contextmanager
    def installed(self) -> Iterator[None]:
        """SIGTERM/SIGINT stop, SIGHUP reloads, SIGALRM ends the grace period (main thread)."""

        def on_stop(signum: int, _frame: FrameType | None) -> None:
            self.request_stop(signal.Signals(signum).name)

        def on_reload(_signum: int, _frame: FrameType | None) -> None:
            self._note("info", "daemon.reload_requested", signal="SIGHUP")
            self.request_reload()

        def on_alarm(_signum: int, _frame: FrameType | None) -> None:
            self._note("warning", "daemon.grace_over", grace_seconds=self.grace())
            self.expire()

        handlers: dict[signal.Signals, Callable[[int, FrameType | None], None]] = {
            signal.SIGTERM: on_stop,
            signal.SIGINT: on_stop,
            signal.SIGHUP: on_reload,
            signal.SIGALRM: on_alarm,
        }
        previous = {s: signal.signal(s, h) for s, h in handlers.items()}
        try:
            yield
        finally:
            self.disarm()
            for sig, old in previous.items():
                signal.signal(sig, old)
