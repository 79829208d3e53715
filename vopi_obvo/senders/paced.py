"""A sender that starts no more messages than its Pacer allows (delivery/pacing.py), and
slows down when the provider answers that it is sent too fast."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from vopi_obvo.delivery.pacing import Pacer
from vopi_obvo.senders import NotAttempted, OutgoingMessage, Sender, Throttled


def sleep_then_go(seconds: float) -> bool:
    time.sleep(seconds)
    return True


class PacedSender:
    def __init__(
        self, inner: Sender, pacer: Pacer, wait: Callable[[float], bool] = sleep_then_go
    ) -> None:
        self.inner = inner
        self.channel = inner.channel
        self.pacer = pacer
        # Waits up to the given seconds; False when the process is stopping meanwhile.
        self.wait = wait

    def send(self, message: OutgoingMessage) -> str | None:
        while (delay := self.pacer.reserve()) > 0:
            if not self.wait(delay):
                raise NotAttempted("stopping while waiting for the pace")
        try:
            return self.inner.send(message)
        except Throttled as exc:
            self.pacer.throttled(exc.retry_after)
            raise

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Anything else the sender offers (shutdown() of a session) passes through.
        return getattr(self.inner, name)


def pacers_of(senders: Iterable[object]) -> list[Pacer]:
    """Every Pacer inside these senders, through their wrappers and gateway pairs."""
    found: list[Pacer] = []
    pending = list(senders)
    while pending:
        current = pending.pop()
        if isinstance(current, PacedSender):
            found.append(current.pacer)
        pending += [
            v for name in ("inner", "primary", "secondary") if (v := vars(current).get(name))
        ]
    return found
