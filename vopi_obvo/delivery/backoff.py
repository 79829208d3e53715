"""Retry delays: exponential, capped, with jitter so a recovered server is not hit by a wave."""

from __future__ import annotations

import random


def retry_delay(
    attempt: int, initial: float, maximum: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    The base doubles per attempt up to `maximum`; the delay is drawn from [base/2, base]
    ("equal jitter"), so it never collapses to zero and never exceeds the cap.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    base = min(maximum, initial * 2.0 ** min(attempt - 1, 62))
    draw = (rng or random).random()
    return base / 2 + draw * base / 2
