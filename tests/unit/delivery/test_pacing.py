"""Pacing: the starts a Pacer allows, on a clock the test moves."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vopi_obvo.delivery.pacing import JITTER_MARGIN, MIN_RATE, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(pacer: Pacer, clock: Clock, seconds: float, step: float = 0.001) -> list[float]:
    """Ask as often as possible for `seconds`; the times of the starts allowed."""
    starts: list[float] = []
    end = clock.now + seconds
    while clock.now < end:
        wait = pacer.reserve()
        if wait == 0:
            starts.append(clock.now)
        else:
            clock.now += max(wait, step)
    return starts


def most_in_one_second(starts: list[float], slack: float = 0.0) -> int:
    return max(sum(1 for t in starts if s <= t < s + 1.0 + slack) for s in starts)


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=0.3, max_value=60.0))
def test_never_more_than_the_rate_in_any_second_even_with_jitter(rate: float) -> None:
    clock = Clock()
    starts = run(Pacer(rate, clock=clock), clock, 5.0)
    # Arrivals up to JITTER_MARGIN later than their starts still fit in any second.
    assert most_in_one_second(starts, slack=JITTER_MARGIN) <= max(int(rate), 1)
    assert len(starts) >= min(rate, 1 / 1.1) * 4  # and it does send at about the rate


def test_no_limit_lets_everything_through() -> None:
    clock = Clock()
    pacer = Pacer(0, clock=clock)
    assert all(pacer.reserve() == 0 for _ in range(1000))


def test_the_limit_divides_between_processes() -> None:
    clock = Clock()
    pacer = Pacer(10, clock=clock)
    pacer.share(2)
    assert pacer.rate == 5
    assert most_in_one_second(run(pacer, clock, 3.0)) <= 5


def test_throttling_halves_the_pace_rests_then_ramps_back() -> None:
    clock = Clock()
    pacer = Pacer(20, clock=clock)
    run(pacer, clock, 1.0)
    pacer.throttled(retry_after=2.0)
    assert pacer.rate == 10
    assert pacer.reserve() == pytest.approx(2.0)  # the Retry-After is honoured
    clock.now += 2.0
    rates = []
    for _ in range(6):
        run(pacer, clock, 1.0)
        rates.append(pacer.rate)
    assert rates == sorted(rates)  # up again, second by second
    assert rates[-1] == 20  # and no higher than configured


def test_throttling_without_a_limit_starts_from_what_was_really_sent() -> None:
    clock = Clock()
    pacer = Pacer(0, clock=clock)
    for _ in range(30):
        pacer.reserve()
        clock.now += 1 / 30
    pacer.throttled()
    assert pacer.rate == pytest.approx(15, abs=1)
    for _ in range(20):
        pacer.throttled()
    assert pacer.rate == MIN_RATE


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_per_second"):
        Pacer(-1)
