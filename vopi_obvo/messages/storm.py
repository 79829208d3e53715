"""The storm guard and the per-subscriber limit: which new notifications are held.

A bulk operation in VOPI (re-indexing, mass reclassification) can produce thousands of events
in a minute. New notifications are counted per event type and minute, and per subscriber,
channel and hour, by the time the event happened in VOPI (so a backlog read after an outage is
not mistaken for a storm). Above `[delivery] storm_threshold` in one minute the event type is
in a storm: every notification of that type is held until an operator releases or cancels
them, from the one that crossed the line on, and also those of the storm's minute that no
sender has tried yet. Above `[delivery] max_per_subscriber_per_hour`, that subscriber's further
notifications on that channel in that hour are held too. Held is never dropped.

Pure logic: the caller reads and writes the counts (one statement per batch).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "EVENT_TYPE",
    "STORM",
    "SUBSCRIBER",
    "SUBSCRIBER_RATE",
    "CountKey",
    "Countable",
    "Decision",
    "Limits",
    "count_keys",
    "decide",
]

# Count scopes (delivery_counts.scope) and hold reasons (notifications.held_reason).
EVENT_TYPE = "event_type"
SUBSCRIBER = "subscriber"
STORM = "storm"
SUBSCRIBER_RATE = "subscriber_rate"

_MINUTE = dt.timedelta(minutes=1)
_HOUR = dt.timedelta(hours=1)


class Countable(Protocol):
    """What the guard needs of a new notification."""

    @property
    def event_type(self) -> str: ...
    @property
    def subscriber_id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def occurred_at(self) -> dt.datetime | None: ...
    @property
    def status(self) -> str: ...


@dataclass(frozen=True)
class Limits:
    storm_threshold: int
    per_subscriber_per_hour: int = 0  # 0 = no limit


@dataclass(frozen=True, order=True)
class CountKey:
    scope: str
    key: str
    bucket: dt.datetime


@dataclass(frozen=True)
class StormStart:
    event_type: str
    minute: dt.datetime
    count: int


@dataclass(frozen=True)
class Decision:
    # index in the batch → hold reason
    held: Mapping[int, str]
    # event types whose storm began in this batch
    new_storms: Sequence[StormStart]


def _floor(instant: dt.datetime, unit: dt.timedelta) -> dt.datetime:
    utc = instant.astimezone(dt.UTC) if instant.tzinfo else instant.replace(tzinfo=dt.UTC)
    if unit == _MINUTE:
        return utc.replace(second=0, microsecond=0)
    return utc.replace(minute=0, second=0, microsecond=0)


# (type key, subscriber key or None), or None for a notification that does not count
Keys = tuple[CountKey, CountKey | None] | None


def batch_keys(
    notifications: Sequence[Countable], fallback_time: dt.datetime, *, per_subscriber: bool
) -> list[Keys]:
    """The counters each notification of a batch adds to, in order (computed once: the
    poller's hot path; an event's notifications share its time)."""
    buckets: dict[dt.datetime | None, tuple[dt.datetime, dt.datetime]] = {}
    result: list[Keys] = []
    for n in notifications:
        if not counts(n):
            result.append(None)
            continue
        when = n.occurred_at
        bucket = buckets.get(when)
        if bucket is None:
            instant = when or fallback_time
            bucket = buckets[when] = (_floor(instant, _MINUTE), _floor(instant, _HOUR))
        result.append(
            (
                CountKey(EVENT_TYPE, n.event_type, bucket[0]),
                CountKey(SUBSCRIBER, f"{n.subscriber_id}/{n.channel}", bucket[1])
                if per_subscriber
                else None,
            )
        )
    return result


def counts(n: Countable) -> bool:
    """Only messages that would be sent count (not a text that failed to render)."""
    return n.status == "pending"


def count_keys(
    notifications: Sequence[Countable],
    fallback_time: dt.datetime,
    *,
    per_subscriber: bool,
    keys: Sequence[Keys] | None = None,
) -> Counter[CountKey]:
    """How much this batch adds to each counter."""
    if keys is None:
        keys = batch_keys(notifications, fallback_time, per_subscriber=per_subscriber)
    added: Counter[CountKey] = Counter()
    for pair in keys:
        if pair is not None:
            added[pair[0]] += 1
            if pair[1] is not None:
                added[pair[1]] += 1
    return added


def decide(
    notifications: Sequence[Countable],
    before: Mapping[CountKey, int],
    storming: Iterable[str],
    limits: Limits,
    fallback_time: dt.datetime,
    *,
    keys: Sequence[Keys] | None = None,
) -> Decision:
    """Which of this batch's notifications are held, in order, given the counts before the
    batch (`before`, missing = 0) and the event types already in a storm."""
    per_subscriber = limits.per_subscriber_per_hour > 0
    if keys is None:
        keys = batch_keys(notifications, fallback_time, per_subscriber=per_subscriber)
    running: Counter[CountKey] = Counter()
    in_storm = set(storming)
    held: dict[int, str] = {}
    new_storms: list[StormStart] = []
    for index, (n, pair) in enumerate(zip(notifications, keys, strict=True)):
        if pair is None:
            continue
        by_type, by_subscriber = pair
        running[by_type] += 1
        type_count = before.get(by_type, 0) + running[by_type]
        if n.event_type not in in_storm and type_count > limits.storm_threshold:
            in_storm.add(n.event_type)
            new_storms.append(StormStart(n.event_type, by_type.bucket, type_count))
            # The storm's minute so far is part of it: hold those of this batch as well (the
            # caller holds those already stored and not yet tried).
            for earlier in range(index):
                earlier_pair = keys[earlier]
                if earlier_pair is not None and earlier_pair[0] == by_type:
                    held[earlier] = STORM
        if n.event_type in in_storm:
            held[index] = STORM
        if by_subscriber is not None:
            running[by_subscriber] += 1
            subscriber_count = before.get(by_subscriber, 0) + running[by_subscriber]
            if index not in held and subscriber_count > limits.per_subscriber_per_hour:
                held[index] = SUBSCRIBER_RATE
    return Decision(held, new_storms)
