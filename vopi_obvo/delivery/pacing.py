"""Pacing: at most `max_per_second` messages per channel or gateway, slower after a provider
asked for it (HTTP 429, SMPP ESME_RTHROTTLED), then back up. Pure: the caller waits.

The limit holds over every window of one second, not only on average: a sliding window of the
recent send starts lets at most floor(rate) of them (one, for a rate below 1 per second: then
one per 1/rate seconds) begin within `window` seconds, and the window is a little longer than
a second so that the time a message takes to travel cannot bunch two windows' worth into one
second at the receiving end.

After a throttling answer the pace halves (from the configured limit, or from what was really
being sent when there is none), every start waits out a Retry-After, and each quiet second
after that raises the pace by a quarter until the configured limit (or no limit) is reached
again: multiplicative decrease, gradual increase, as TCP does with a congested link.

One Pacer is shared by every sending thread of a process (a lock guards it). Several processes
each pace on their own: the limit is divided between the live workers (`share`), so that
together they stay under it (docs/architecture.md, "Pacing").
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

# Extra length of the window, seconds: the spread of network and server delays it absorbs.
JITTER_MARGIN = 0.1
# The slowest pace throttling can bring a channel down to, messages per second.
MIN_RATE = 0.2
# Each second without throttling multiplies a reduced pace by this.
RAMP_UP = 1.25
# Without Retry-After, a throttled channel rests this long before the next start.
DEFAULT_PAUSE = 1.0


class Pacer:
    def __init__(
        self, max_per_second: float = 0.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_per_second < 0:
            raise ValueError("max_per_second must be 0 (no limit) or more")
        self.configured = max_per_second or None  # None: no limit of our own
        self.clock = clock
        self._share = 1  # live workers the configured limit is divided between
        self._reduced: float | None = None  # the pace after throttling, until ramped back
        self._ramped_at = 0.0
        self._paused_until = 0.0
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    @property
    def rate(self) -> float | None:
        """Messages per second this process may start now (None: unlimited)."""
        shared = None if self.configured is None else self.configured / self._share
        if self._reduced is None:
            return shared
        return self._reduced if shared is None else min(self._reduced, shared)

    def share(self, workers: int) -> None:
        """The configured limit is divided between this many processes."""
        with self._lock:
            self._share = max(workers, 1)

    def reserve(self) -> float:
        """0.0 and a start is counted, or the seconds to wait before asking again."""
        with self._lock:
            now = self.clock()
            self._ramp(now)
            if now < self._paused_until:
                return self._paused_until - now
            rate = self.rate
            if rate is None:
                self._record(now, keep=1.0)
                return 0.0
            allowed = max(math.floor(rate), 1)
            window = max(1.0, 1.0 / rate) + JITTER_MARGIN
            while self._starts and self._starts[0] <= now - window:
                self._starts.popleft()
            if len(self._starts) < allowed:
                self._starts.append(now)
                return 0.0
            return self._starts[len(self._starts) - allowed] + window - now

    def throttled(self, retry_after: float | None = None) -> None:
        """The provider refused a message for sending too fast: halve the pace, and rest."""
        with self._lock:
            now = self.clock()
            current = self.rate
            if current is None:
                # No limit of our own: start from what was really sent in the last second.
                current = float(sum(1 for t in self._starts if t > now - 1.0)) or 1.0
            self._reduced = max(current / 2, MIN_RATE)
            self._ramped_at = now
            pause = DEFAULT_PAUSE if retry_after is None else retry_after
            self._paused_until = max(self._paused_until, now + pause)

    def _ramp(self, now: float) -> None:
        if self._reduced is None or now - self._ramped_at < 1.0:
            return
        seconds = math.floor(now - self._ramped_at)
        self._reduced *= RAMP_UP**seconds
        self._ramped_at += seconds
        shared = None if self.configured is None else self.configured / self._share
        # Back to the configured limit; without one, once the pace is well above what the
        # provider refused, the reduction ends.
        ceiling = shared if shared is not None else 1000.0
        if self._reduced >= ceiling:
            self._reduced = None

    def _record(self, now: float, keep: float) -> None:
        self._starts.append(now)
        while self._starts and self._starts[0] <= now - keep:
            self._starts.popleft()
