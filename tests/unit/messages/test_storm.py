"""The storm guard's decisions: counting per event type and minute, per subscriber and hour."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from vopi_obvo.messages.storm import (
    EVENT_TYPE,
    STORM,
    SUBSCRIBER,
    SUBSCRIBER_RATE,
    CountKey,
    Limits,
    count_keys,
    decide,
)

T0 = dt.datetime(2026, 5, 4, 10, 0, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class N:
    event_type: str = "KLAS"
    subscriber_id: int = 1
    channel: str = "sms"
    occurred_at: dt.datetime | None = T0
    status: str = "pending"


def at(seconds: float, **kw: object) -> N:
    return N(occurred_at=T0 + dt.timedelta(seconds=seconds), **kw)  # type: ignore[arg-type]


def test_under_the_threshold_nothing_is_held() -> None:
    batch = [at(i) for i in range(5)]
    decision = decide(batch, {}, [], Limits(storm_threshold=5), T0)
    assert decision.held == {}
    assert decision.new_storms == []


def test_over_the_threshold_the_whole_minute_is_held() -> None:
    batch = [at(i) for i in range(8)]
    decision = decide(batch, {}, [], Limits(storm_threshold=5), T0)
    assert decision.held == dict.fromkeys(range(8), STORM)
    [start] = decision.new_storms
    assert (start.event_type, start.minute, start.count) == ("KLAS", T0, 6)


def test_counts_from_earlier_batches_are_added() -> None:
    key = CountKey(EVENT_TYPE, "KLAS", T0)
    decision = decide([at(1), at(2)], {key: 4}, [], Limits(storm_threshold=5), T0)
    assert decision.held == {0: STORM, 1: STORM}
    assert decision.new_storms[0].count == 6


def test_a_new_minute_starts_from_zero_but_a_storm_stays_until_decided() -> None:
    previous_minute = CountKey(EVENT_TYPE, "KLAS", T0)
    batch = [at(60), at(61)]
    fresh = decide(batch, {previous_minute: 100}, [], Limits(storm_threshold=5), T0)
    assert fresh.held == {}
    latched = decide(batch, {}, ["KLAS"], Limits(storm_threshold=5), T0)
    assert latched.held == {0: STORM, 1: STORM}
    assert latched.new_storms == []


def test_event_types_are_counted_apart() -> None:
    batch = [at(i, event_type="KLAS") for i in range(4)] + [
        at(i, event_type="VLOZ") for i in range(4)
    ]
    assert decide(batch, {}, [], Limits(storm_threshold=5), T0).held == {}


def test_only_the_storming_type_of_the_minute_is_held() -> None:
    batch = [at(1, event_type="VLOZ"), *[at(i) for i in range(6)], at(2, event_type="VLOZ")]
    decision = decide(batch, {}, [], Limits(storm_threshold=5), T0)
    assert set(decision.held) == set(range(1, 7))


def test_failed_renders_are_not_counted_nor_held() -> None:
    batch = [at(i, status="failed") for i in range(10)] + [at(20)]
    decision = decide(batch, {}, [], Limits(storm_threshold=5), T0)
    assert decision.held == {}
    assert count_keys(batch, T0, per_subscriber=False) == Counter(
        {CountKey(EVENT_TYPE, "KLAS", T0): 1}
    )


def test_events_without_a_time_count_in_the_minute_they_were_read() -> None:
    read_at = T0 + dt.timedelta(minutes=7, seconds=5)
    keys = count_keys([N(occurred_at=None)], read_at, per_subscriber=True)
    assert keys == Counter(
        {
            CountKey(EVENT_TYPE, "KLAS", T0 + dt.timedelta(minutes=7)): 1,
            CountKey(SUBSCRIBER, "1/sms", T0): 1,
        }
    )


def test_local_times_are_bucketed_in_utc() -> None:
    local = dt.datetime(2026, 5, 4, 12, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    [key] = count_keys([N(occurred_at=local)], T0, per_subscriber=False)
    assert key == CountKey(EVENT_TYPE, "KLAS", T0)


def test_per_subscriber_limit_per_channel_and_hour() -> None:
    batch = [
        *[at(i * 60, channel="sms") for i in range(4)],
        *[at(i * 60, channel="email") for i in range(3)],
        *[at(i * 60, subscriber_id=2) for i in range(2)],
    ]
    decision = decide(batch, {}, [], Limits(storm_threshold=1000, per_subscriber_per_hour=2), T0)
    assert decision.held == {2: SUBSCRIBER_RATE, 3: SUBSCRIBER_RATE, 6: SUBSCRIBER_RATE}


def test_per_subscriber_counts_from_earlier_batches_and_a_new_hour() -> None:
    key = CountKey(SUBSCRIBER, "1/sms", T0)
    limits = Limits(storm_threshold=1000, per_subscriber_per_hour=3)
    assert decide([at(10)], {key: 3}, [], limits, T0).held == {0: SUBSCRIBER_RATE}
    assert decide([at(3600)], {key: 3}, [], limits, T0).held == {}


def test_per_subscriber_limit_off_by_default() -> None:
    batch = [at(i) for i in range(50)]
    assert decide(batch, {}, [], Limits(storm_threshold=1000), T0).held == {}
    assert all(k.scope == EVENT_TYPE for k in count_keys(batch, T0, per_subscriber=False))


def test_a_storm_wins_over_the_subscriber_limit() -> None:
    batch = [at(i) for i in range(4)]
    decision = decide(batch, {}, [], Limits(storm_threshold=3, per_subscriber_per_hour=1), T0)
    assert decision.held == dict.fromkeys(range(4), STORM)


notes = st.builds(
    N,
    event_type=st.sampled_from(["KLAS", "VLOZ", "ODLOC"]),
    subscriber_id=st.integers(1, 4),
    channel=st.sampled_from(["sms", "email"]),
    occurred_at=st.integers(0, 200).map(lambda s: T0 + dt.timedelta(seconds=s)),
    status=st.sampled_from(["pending", "pending", "pending", "failed"]),
)


@settings(max_examples=200, deadline=None)
@given(
    batch=st.lists(notes, max_size=60),
    threshold=st.integers(1, 20),
    per_subscriber=st.integers(0, 10),
    split=st.integers(0, 60),
)
def test_one_batch_or_two_give_the_same_storms(
    batch: list[N], threshold: int, per_subscriber: int, split: int
) -> None:
    """Counting is exact across batches: a minute's storm starts whether its notifications
    came in one batch or in two, and nothing under the limits is ever held."""
    limits = Limits(threshold, per_subscriber)
    whole = decide(batch, {}, [], limits, T0)
    first, second = batch[:split], batch[split:]
    d1 = decide(first, {}, [], limits, T0)
    before = Counter(count_keys(first, T0, per_subscriber=per_subscriber > 0))
    storming = [s.event_type for s in d1.new_storms]
    d2 = decide(second, before, storming, limits, T0)
    assert {s.event_type for s in whole.new_storms} == {
        s.event_type for s in (*d1.new_storms, *d2.new_storms)
    }
    by_type = count_keys(batch, T0, per_subscriber=False)  # per event type and minute
    for index, n in enumerate(batch):
        if n.status != "pending":
            assert index not in whole.held
    if all(total <= threshold for total in by_type.values()) and per_subscriber == 0:
        assert whole.held == {}
    for start in whole.new_storms:
        # from the notification that crossed the line on, all of the type are held
        crossed = [
            i
            for i, n in enumerate(batch)
            if n.status == "pending" and n.event_type == start.event_type
        ]
        seen = 0
        for i in crossed:
            when = batch[i].occurred_at
            if when is not None and when.replace(second=0) == start.minute:
                seen += 1
            if seen >= start.count:
                assert all(whole.held.get(j) == STORM for j in crossed if j >= i)
                break
