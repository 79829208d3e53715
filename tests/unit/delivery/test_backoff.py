"""backoff.py: exponential retry delays with equal jitter, capped."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vopi_obvo.delivery.backoff import retry_delay

INITIAL = 30.0
MAXIMUM = 3600.0
# base per attempt: 30 s doubling, capped at one hour from attempt 8 on
BASES = {1: 30.0, 2: 60.0, 3: 120.0, 4: 240.0, 5: 480.0, 6: 960.0, 7: 1920.0}


def expected_base(attempt: int) -> float:
    return BASES.get(attempt, MAXIMUM)


class FixedRandom(random.Random):
    """A Random whose draws are all the same number."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize("attempt", range(1, 21))
def test_delay_is_between_half_base_and_base(attempt: int) -> None:
    base = expected_base(attempt)
    rng = random.Random(attempt)
    for _ in range(50):
        delay = retry_delay(attempt, INITIAL, MAXIMUM, rng)
        assert base / 2 <= delay <= base
        assert delay <= MAXIMUM


@pytest.mark.parametrize("attempt", range(1, 21))
def test_jitter_extremes(attempt: int) -> None:
    base = expected_base(attempt)
    assert retry_delay(attempt, INITIAL, MAXIMUM, FixedRandom(0.0)) == base / 2
    assert retry_delay(attempt, INITIAL, MAXIMUM, FixedRandom(0.5)) == base * 0.75
    high = retry_delay(attempt, INITIAL, MAXIMUM, FixedRandom(0.999999))
    assert base * 0.99 < high < base


def test_first_delays() -> None:
    assert retry_delay(1, INITIAL, MAXIMUM, FixedRandom(0.0)) == 15.0
    assert retry_delay(2, INITIAL, MAXIMUM, FixedRandom(0.0)) == 30.0
    assert retry_delay(3, INITIAL, MAXIMUM, FixedRandom(1.0)) == 120.0
    assert retry_delay(8, INITIAL, MAXIMUM, FixedRandom(1.0)) == 3600.0


def test_deterministic_with_a_seeded_random() -> None:
    first = [retry_delay(a, INITIAL, MAXIMUM, random.Random(42)) for a in range(1, 21)]
    second = [retry_delay(a, INITIAL, MAXIMUM, random.Random(42)) for a in range(1, 21)]
    other = [retry_delay(a, INITIAL, MAXIMUM, random.Random(43)) for a in range(1, 21)]
    assert first == second
    assert first != other


def test_jitter_spreads_the_delays() -> None:
    rng = random.Random(7)
    delays = {retry_delay(5, INITIAL, MAXIMUM, rng) for _ in range(20)}
    assert len(delays) == 20


def test_default_random_stays_in_bounds() -> None:
    for _ in range(20):
        assert 15.0 <= retry_delay(1, INITIAL, MAXIMUM) <= 30.0


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert retry_delay(10_000, INITIAL, MAXIMUM, FixedRandom(0.0)) == MAXIMUM / 2
    assert retry_delay(10**9, INITIAL, MAXIMUM, FixedRandom(1.0)) == MAXIMUM


def test_maximum_below_initial_caps_the_first_delay() -> None:
    assert retry_delay(1, 30.0, 10.0, FixedRandom(1.0)) == 10.0


@pytest.mark.parametrize("attempt", [0, -1, -100])
def test_attempt_counts_from_one(attempt: int) -> None:
    with pytest.raises(ValueError, match=r"^attempt counts from 1$"):
        retry_delay(attempt, INITIAL, MAXIMUM, random.Random(0))


@settings(max_examples=100, deadline=None)
@given(
    attempt=st.integers(min_value=1, max_value=100_000),
    initial=st.floats(min_value=0.001, max_value=1_000.0),
    extra=st.floats(min_value=0.0, max_value=100_000.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_delay_bounds_property(attempt: int, initial: float, extra: float, seed: int) -> None:
    maximum = initial + extra
    delay = retry_delay(attempt, initial, maximum, random.Random(seed))
    base = min(maximum, initial * 2.0 ** (attempt - 1)) if attempt < 64 else maximum
    assert 0 < delay <= maximum
    assert base / 2 <= delay <= base


@settings(max_examples=30, deadline=None)
@given(
    attempt=st.integers(min_value=1, max_value=30),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_delays_do_not_shrink_with_more_attempts(attempt: int, seed: int) -> None:
    # the lowest possible delay of the next attempt is at least the lowest of this one
    now = retry_delay(attempt, INITIAL, MAXIMUM, FixedRandom(0.0))
    later = retry_delay(attempt + 1, INITIAL, MAXIMUM, FixedRandom(0.0))
    assert later >= now
    assert retry_delay(attempt, INITIAL, MAXIMUM, random.Random(seed)) <= MAXIMUM
