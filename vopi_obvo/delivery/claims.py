"""How much to claim, and how old a claim may be before it is not sent any more. Pure.

A claim is a promise to send soon: what a process holds when it dies waits until another
dispatch takes it back, and with an unknown rate a big claim is a long wait. So a dispatcher
claims what it can send within CLAIM_AHEAD seconds at the pace it measured, at least one, at
most `[delivery] batch_size`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Seconds of sending one claim covers.
CLAIM_AHEAD = 2.0
# Until a pace is measured (a fresh process, or after an idle spell): a small first claim.
FIRST_CLAIM = 10
# Weight of the newest batch in the measured pace.
PACE_WEIGHT = 0.5


def claim_limit(
    seconds_per_message: float | None, batch_size: int, ahead: float = CLAIM_AHEAD
) -> int:
    """Notifications to claim now: what fits into `ahead` seconds, 1..batch_size."""
    if seconds_per_message is None:
        return max(1, min(FIRST_CLAIM, batch_size))
    if seconds_per_message <= 0:
        return batch_size
    return max(1, min(batch_size, math.ceil(ahead / seconds_per_message)))


@dataclass
class SendPace:
    """Seconds per message handed to a sender, smoothed over batches."""

    seconds_per_message: float | None = None

    def record(self, messages: int, seconds: float) -> None:
        if messages <= 0:
            return
        latest = seconds / messages
        previous = self.seconds_per_message
        self.seconds_per_message = (
            latest if previous is None else PACE_WEIGHT * latest + (1 - PACE_WEIGHT) * previous
        )


def claim_too_old(age_seconds: float, claim_timeout: float) -> bool:
    """A claim this old is not sent any more but released: after claim_timeout anyone may take
    it back, and the send that starts now must be over by then."""
    return age_seconds > claim_timeout / 2
