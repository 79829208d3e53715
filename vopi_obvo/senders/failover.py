"""Two SMS gateways: the second takes over after repeated temporary failures of the first.

The first gateway is used while it works. A message it fails temporarily is retried later by
the dispatcher, as without a second gateway; at the `failover_after`-th such failure in a row,
that message and the ones after it go to the second gateway. Every `probe_after` seconds one
message tries the first gateway again: if it is accepted the first gateway is back in use; if
not, that message goes to the second gateway at once and the next probe waits another
`probe_after` seconds. A permanent failure (the gateway refused this message) says nothing
about the gateway's health: it counts neither way, and neither does throttling (a gateway that
asks us to slow down works). The sending threads share one instance; a lock keeps its counters
and switches consistent, never held during a send.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from vopi_obvo.senders import (
    OutgoingMessage,
    Sender,
    TemporaryFailure,
    Throttled,
    shutdown_senders,
)

log = structlog.get_logger("vopi_obvo.sms")


class FailoverSender:
    def __init__(
        self,
        primary: Sender,
        secondary: Sender,
        *,
        failover_after: int,
        probe_after: float,
        names: tuple[str, str] = ("primary", "fallback"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failover_after < 1:
            raise ValueError("failover_after must be at least 1")
        self.channel = primary.channel
        self.primary = primary
        self.secondary = secondary
        self.failover_after = failover_after
        self.probe_after = probe_after
        self.names = names
        self.clock = clock
        self.failures = 0  # consecutive temporary failures of the primary
        self.on_secondary = False
        self._probe_at = 0.0
        self._lock = threading.Lock()

    @property
    def active(self) -> str:
        return self.names[1] if self.on_secondary else self.names[0]

    def send(self, message: OutgoingMessage) -> str | None:
        with self._lock:
            on_secondary = self.on_secondary
            probe = on_secondary and self.clock() >= self._probe_at
            if probe:  # one message probes; the others go on to the second gateway meanwhile
                self._probe_at = self.clock() + self.probe_after
        if not on_secondary:
            return self._send_primary(message)
        if probe:
            try:
                provider_id = self.primary.send(message)
            except TemporaryFailure as exc:
                log.warning("sms.gateway_still_down", gateway=self.names[0], error=str(exc))
            else:
                self._switch_back()
                return provider_id
        return self.secondary.send(message)

    def _send_primary(self, message: OutgoingMessage) -> str | None:
        try:
            provider_id = self.primary.send(message)
        except Throttled:
            raise  # a gateway that asks us to slow down works: no reason to leave it
        except TemporaryFailure as exc:
            with self._lock:
                self.failures += 1
                if self.failures < self.failover_after:
                    raise
                switched = not self.on_secondary
                self.on_secondary = True
                if switched:
                    self._probe_at = self.clock() + self.probe_after
            if not switched:  # another thread switched meanwhile
                return self.secondary.send(message)
            log.error(
                "sms.failover",
                gateway=self.names[1],
                instead_of=self.names[0],
                failures=self.failures,
                error=str(exc),
                probe_in=self.probe_after,
            )
            # The message that tipped the balance need not wait for its retry.
            return self.secondary.send(message)
        with self._lock:
            self.failures = 0
        return provider_id

    def _switch_back(self) -> None:
        with self._lock:
            self.on_secondary = False
            self.failures = 0
        log.warning("sms.failback", gateway=self.names[0], instead_of=self.names[1])

    def close(self) -> None:
        self.primary.close()
        self.secondary.close()

    def shutdown(self) -> None:
        shutdown_senders([self.primary, self.secondary])
