"""Stop and reload requests, the message in flight and the grace period (no signals sent:
the handlers' logic is called directly; tests/acceptance/test_ops_systemd.py sends real ones)."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from vopi_obvo.ops.lifecycle import GraceOver, Signals, TrackedSender
from vopi_obvo.senders import NotAttempted, OutgoingMessage, PermanentFailure, TemporaryFailure


class Recorder:
    channel = "sms"

    def __init__(self, signals: Signals | None = None, fail: Exception | None = None) -> None:
        self.signals = signals
        self.fail = fail
        self.sent: list[int] = []
        self.closed = 0
        self.in_flight_seen: list[list[int]] = []

    def send(self, message: OutgoingMessage) -> str | None:
        if self.signals is not None:
            self.in_flight_seen.append(self.signals.in_flight.ids)
        if self.fail is not None:
            raise self.fail
        self.sent.append(message.notification_id)
        return f"id-{message.notification_id}"

    def close(self) -> None:
        self.closed += 1

    def shutdown(self) -> str:
        return "shut down"


def message(n: int) -> OutgoingMessage:
    return OutgoingMessage(
        notification_id=n, recipient="+38641123456", subject=None, body="x", key_event=False
    )


def test_tracked_sender_reports_each_outcome_and_what_is_in_flight() -> None:
    seen: list[tuple[str, str]] = []
    signals = Signals(lambda: 5.0)
    inner = Recorder(signals)
    ok = TrackedSender(inner, signals.in_flight, lambda c, o, _s: seen.append((c, o)))
    assert ok.send(message(1)) == "id-1"
    assert inner.in_flight_seen == [[1]]
    for error in (TemporaryFailure("busy"), PermanentFailure("no")):
        failing = TrackedSender(
            Recorder(fail=error), signals.in_flight, lambda c, o, _s: seen.append((c, o))
        )
        with pytest.raises(type(error)):
            failing.send(message(2))
    assert seen == [("sms", "sent"), ("sms", "temporary"), ("sms", "permanent")]
    assert signals.in_flight.ids == []
    assert ok.shutdown() == "shut down"  # other sender methods pass through


def test_grace_over_interrupts_only_the_wait_for_sends_in_progress() -> None:
    signals = Signals(lambda: 5.0)
    signals.in_flight.begin(7)  # a sending thread hands notifications 7 and 9 over
    signals.in_flight.begin(9)
    signals.expire()  # the dispatcher is not waiting (a database write): nothing raised
    assert signals.in_flight.interrupted == []
    signals.in_flight.waiting = True
    with pytest.raises(GraceOver) as over:
        signals.expire()
    assert over.value.notification_ids == [7, 9]
    assert signals.in_flight.interrupted == [7, 9]


def test_after_the_grace_period_no_send_starts_and_close_does_not_wait() -> None:
    signals = Signals(lambda: 5.0)
    inner = Recorder()
    sender = TrackedSender(inner, signals.in_flight)
    signals.expire()
    with pytest.raises(NotAttempted):
        sender.send(message(8))
    sender.close()
    assert inner.closed == 0
    assert inner.sent == []


def test_expiry_between_sends_raises_nothing() -> None:
    signals = Signals(lambda: 5.0)
    signals.in_flight.waiting = True
    signals.expire()
    assert signals.in_flight.expired
    assert signals.in_flight.interrupted == []


def test_stop_request_with_no_grace_expires_at_once_and_twice_means_now() -> None:
    signals = Signals(lambda: 0.0)
    signals.request_stop("SIGTERM")
    assert signals.stop.is_set()
    assert signals.in_flight.expired
    patient = Signals(lambda: 30.0)
    patient.request_stop("SIGTERM")
    assert patient.stop.is_set()
    assert not patient.in_flight.expired
    patient.request_stop("SIGINT")
    assert patient.in_flight.expired
    patient.disarm()


def test_sleep_ends_on_reload_request_and_ticks() -> None:
    signals = Signals(lambda: 5.0)
    ticks: list[int] = []
    signals.request_reload()
    signals.sleep(60.0, 0.01, lambda: ticks.append(1))
    assert signals.reload_requested
    assert ticks == [1]
    assert not signals.wake.is_set()


def test_handlers_leave_logging_to_the_main_loop() -> None:
    """A handler that logged could interrupt its own thread inside a log write and wait
    forever for the lock that write holds: it only notes, `report()` writes."""
    signals = Signals(lambda: 0.0)
    with capture_logs() as during:
        signals.request_reload()
        signals.request_stop("SIGTERM")
    assert during == []
    with capture_logs() as after:
        signals.report()
    assert [(e["event"], e.get("signal")) for e in after] == [("daemon.stopping", "SIGTERM")]
