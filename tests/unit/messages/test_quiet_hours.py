"""Quiet hours: when an SMS may be sent, on the Europe/Ljubljana clock, across DST changes."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from vopi_obvo.messages.quiet_hours import LJUBLJANA, QuietHours, QuietWindow, parse_window

UTC = dt.UTC
NIGHT = QuietWindow(dt.time(21, 0), dt.time(7, 0))


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    *,
    fold: int = 0,
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=LJUBLJANA, fold=fold)


# ---- parsing ----


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("21:00-07:00", QuietWindow(dt.time(21), dt.time(7))),
        (" 7:30 - 9:05 ", QuietWindow(dt.time(7, 30), dt.time(9, 5))),
        ("00:00-23:59", QuietWindow(dt.time(0), dt.time(23, 59))),
        ("", None),
        ("none", None),
        ("NONE", None),
    ],
)
def test_parse(text: str, window: QuietWindow | None) -> None:
    assert parse_window(text) == window


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("21-07", "must be HH:MM-HH:MM"),
        ("21:00", "must be HH:MM-HH:MM"),
        ("21:00-07:00-08:00", "must be HH:MM-HH:MM"),
        ("24:00-07:00", "24:00 is not a time of day"),
        ("21:00-07:60", "07:60 is not a time of day"),
        ("07:00-07:00", "the window is empty"),
    ],
)
def test_parse_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_window(text)


def test_window_text() -> None:
    assert str(NIGHT) == "21:00-07:00"


# ---- is it quiet? ----


@pytest.mark.parametrize(
    ("when", "quiet"),
    [
        (local(2026, 6, 10, 20, 59, 59), False),
        (local(2026, 6, 10, 21, 0), True),
        (local(2026, 6, 10, 23, 59), True),
        (local(2026, 6, 11, 0, 0), True),
        (local(2026, 6, 11, 6, 59, 59), True),
        (local(2026, 6, 11, 7, 0), False),
        (local(2026, 6, 11, 12, 0), False),
    ],
)
def test_a_window_crossing_midnight(when: dt.datetime, quiet: bool) -> None:
    assert NIGHT.is_quiet(when) is quiet
    assert NIGHT.is_quiet(when.astimezone(UTC)) is quiet  # the instant, not its zone, counts


def test_a_window_within_one_day() -> None:
    lunch = QuietWindow(dt.time(12), dt.time(13))
    assert not lunch.is_quiet(local(2026, 1, 5, 11, 59))
    assert lunch.is_quiet(local(2026, 1, 5, 12, 0))
    assert not lunch.is_quiet(local(2026, 1, 5, 13, 0))


def test_local_time_not_utc() -> None:
    # 20:30 UTC is 22:30 in Ljubljana in summer, 21:30 in winter: quiet in both
    assert NIGHT.is_quiet(utc(2026, 7, 1, 20, 30))
    assert NIGHT.is_quiet(utc(2026, 1, 15, 20, 30))
    # 19:30 UTC is 21:30 in summer (quiet) but 20:30 in winter (not)
    assert NIGHT.is_quiet(utc(2026, 7, 1, 19, 30))
    assert not NIGHT.is_quiet(utc(2026, 1, 15, 19, 30))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        NIGHT.is_quiet(dt.datetime(2026, 1, 1, 22, 0))  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        NIGHT.next_allowed(dt.datetime(2026, 1, 1, 22, 0))  # noqa: DTZ001


# ---- when may it be sent? ----


def test_outside_the_window_now() -> None:
    now = local(2026, 6, 10, 12, 0)
    assert NIGHT.next_allowed(now) == now


def test_in_the_evening_until_next_morning() -> None:
    assert NIGHT.next_allowed(local(2026, 6, 10, 22, 30)) == local(2026, 6, 11, 7, 0)


def test_after_midnight_until_the_same_morning() -> None:
    assert NIGHT.next_allowed(local(2026, 6, 11, 3, 15)) == local(2026, 6, 11, 7, 0)


def test_at_the_start_of_the_window() -> None:
    assert NIGHT.next_allowed(local(2026, 6, 10, 21, 0)) == local(2026, 6, 11, 7, 0)


def test_night_of_the_spring_change_is_an_hour_shorter() -> None:
    # 29 March 2026: 02:00 CET → 03:00 CEST
    start = local(2026, 3, 28, 22, 0)
    end = NIGHT.next_allowed(start)
    assert end == utc(2026, 3, 29, 5, 0)  # 07:00 CEST
    assert end.astimezone(LJUBLJANA).hour == 7
    assert end - start == dt.timedelta(hours=8)


def test_night_of_the_autumn_change_is_an_hour_longer() -> None:
    # 25 October 2026: 03:00 CEST → 02:00 CET
    start = local(2026, 10, 24, 22, 0)
    end = NIGHT.next_allowed(start)
    assert end == utc(2026, 10, 25, 6, 0)  # 07:00 CET
    assert end - start == dt.timedelta(hours=10)


def test_a_window_ending_in_the_skipped_spring_hour_ends_when_the_clock_jumps() -> None:
    window = QuietWindow(dt.time(1, 0), dt.time(2, 30))
    now = local(2026, 3, 29, 1, 30)  # 00:30 UTC
    end = window.next_allowed(now)
    assert end == utc(2026, 3, 29, 1, 0)  # 03:00 CEST: the clock never read 02:30
    assert end.astimezone(LJUBLJANA).time() == dt.time(3, 0)
    assert not window.is_quiet(end)
    assert window.is_quiet(end - dt.timedelta(seconds=1))


def test_a_window_starting_in_the_skipped_hour_is_quiet_from_the_jump() -> None:
    window = QuietWindow(dt.time(2, 30), dt.time(5, 0))
    assert not window.is_quiet(utc(2026, 3, 29, 0, 59, 59))  # 01:59:59 CET
    assert window.is_quiet(utc(2026, 3, 29, 1, 0))  # 03:00 CEST
    assert window.next_allowed(utc(2026, 3, 29, 1, 0)) == utc(2026, 3, 29, 3, 0)  # 05:00 CEST


def test_a_window_whose_only_allowed_minute_is_skipped_in_spring() -> None:
    window = QuietWindow(dt.time(3, 0), dt.time(2, 59))  # allowed 02:59-03:00 only
    now = local(2026, 3, 28, 12, 0)
    # 02:59 does not exist on 29 March: the clock jumps to 03:00, inside the window again
    assert window.next_allowed(now) == local(2026, 3, 30, 2, 59)


def test_a_window_ending_in_the_repeated_autumn_hour() -> None:
    window = QuietWindow(dt.time(1, 0), dt.time(2, 30))
    # 01:30 CEST: the window ends at the first 02:30 (CEST)
    assert window.next_allowed(local(2026, 10, 25, 1, 30)) == utc(2026, 10, 25, 0, 30)
    # between the first 02:30 and 03:00 CEST the clock is outside the window ...
    assert not window.is_quiet(utc(2026, 10, 25, 0, 45))
    # ... then it reads 02:00-02:30 again (CET): quiet again, until the second 02:30
    second = local(2026, 10, 25, 2, 10, fold=1)
    assert second.astimezone(UTC) == utc(2026, 10, 25, 1, 10)
    assert window.is_quiet(second)
    assert window.next_allowed(second) == utc(2026, 10, 25, 1, 30)


def test_quiet_hours_policy_for_ordinary_and_key_events() -> None:
    evening = local(2026, 6, 10, 22, 0)
    morning = local(2026, 6, 11, 7, 0)
    same = QuietHours.parse("21:00-07:00", "same")
    assert same.sms_allowed_at(evening, key_event=False) == morning
    assert same.sms_allowed_at(evening, key_event=True) == morning
    key_free = QuietHours.parse("21:00-07:00", "none")
    assert key_free.sms_allowed_at(evening, key_event=True) == evening
    assert key_free.sms_allowed_at(evening, key_event=False) == morning
    shorter = QuietHours.parse("21:00-07:00", "23:00-06:00")
    assert shorter.sms_allowed_at(evening, key_event=True) == evening
    assert shorter.sms_allowed_at(local(2026, 6, 10, 23, 30), key_event=True) == local(
        2026, 6, 11, 6, 0
    )
    off = QuietHours.parse("", "same")
    assert not off.enabled
    assert off.sms_allowed_at(evening, key_event=False) == evening


# ---- properties, over whole years including both changes ----

times_of_day = st.builds(dt.time, st.integers(0, 23), st.integers(0, 59))
windows = st.builds(QuietWindow, times_of_day, times_of_day).filter(lambda w: w.start != w.end)
instants = st.datetimes(
    min_value=dt.datetime(2025, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=dt.datetime(2027, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
# Instants within a day of a DST change, where mistakes hide.
changes = [utc(2026, 3, 29, 1, 0), utc(2026, 10, 25, 1, 0), utc(2027, 3, 28, 1, 0)]
near_changes = st.builds(
    lambda base, seconds: base + dt.timedelta(seconds=seconds),
    st.sampled_from(changes),
    st.integers(-36 * 3600, 36 * 3600),
)


def test_the_autumn_change_ends_a_window_when_the_clock_falls_back_before_its_start() -> None:
    # 02:59:59 CEST is quiet in 02:01-00:00; one second later the clock reads 02:00 CET,
    # outside the window: the SMS goes then, not at midnight.
    window = QuietWindow(dt.time(2, 1), dt.time(0, 0))
    assert window.next_allowed(utc(2026, 10, 25, 0, 59, 59)) == utc(2026, 10, 25, 1, 0)


def test_the_autumn_change_reaches_the_end_of_a_window_again_the_same_night() -> None:
    # 02:02-02:01 allows one minute a day; after 02:59:59 CEST the clock reads 02:00 CET and
    # 02:01 CET comes an hour after 02:01 CEST: that minute is allowed, not tomorrow's.
    window = QuietWindow(dt.time(2, 2), dt.time(2, 1))
    assert window.next_allowed(utc(2026, 10, 25, 0, 59, 59)) == utc(2026, 10, 25, 1, 1)


@settings(max_examples=200, deadline=None)
@given(window=windows, now=st.one_of(instants, near_changes))
@example(window=QuietWindow(dt.time(2, 1), dt.time(0, 0)), now=utc(2026, 10, 25, 0, 59, 59))
@example(window=QuietWindow(dt.time(2, 2), dt.time(2, 1)), now=utc(2026, 10, 25, 0, 59, 59))
def test_next_allowed_is_the_first_instant_outside_the_window(
    window: QuietWindow, now: dt.datetime
) -> None:
    allowed = window.next_allowed(now)
    assert allowed >= now
    assert not window.is_quiet(allowed)
    assert allowed - now <= dt.timedelta(hours=49)
    if allowed > now:
        assert window.is_quiet(now)
        # every instant before it is quiet: sampled every 59 s (a window allows at least a
        # minute a day, so no allowed stretch fits between two samples) and the last second
        step = dt.timedelta(seconds=59)
        probe = now
        while probe < allowed:
            assert window.is_quiet(probe), probe
            probe += step
        assert window.is_quiet(allowed - dt.timedelta(seconds=1))


@settings(max_examples=200, deadline=None)
@given(window=windows, now=st.one_of(instants, near_changes))
def test_next_allowed_is_stable(window: QuietWindow, now: dt.datetime) -> None:
    allowed = window.next_allowed(now)
    assert window.next_allowed(allowed) == allowed


@settings(max_examples=200, deadline=None)
@given(window=windows, now=instants)
def test_being_quiet_depends_on_the_local_wall_clock_only(
    window: QuietWindow, now: dt.datetime
) -> None:
    wall = now.astimezone(LJUBLJANA).time().replace(tzinfo=None)
    assume(wall != window.end)
    if window.start <= window.end:
        expected = window.start <= wall < window.end
    else:
        expected = wall >= window.start or wall < window.end
    assert window.is_quiet(now) is expected
