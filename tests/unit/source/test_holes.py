"""holes.py: which ids below the cursor are missing, and when it is safe to stop waiting."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vopi_obvo.source.holes import Evidence, Hole, can_give_up, new_holes

# ---- new_holes ----


@pytest.mark.parametrize(
    ("cursor", "seen", "max_gap", "missing", "skipped"),
    [
        (10, [], 100, [], 0),
        (10, [11, 12, 13], 100, [], 0),
        (10, [12, 15], 100, [11, 13, 14], 0),
        (10, [15, 12, 12, 15, 12], 100, [11, 13, 14], 0),  # duplicates, any order
        (10, [5, 9, 10, 12], 100, [11], 0),  # ids at or below the cursor are ignored
        (10, [3, 4], 100, [], 0),  # only old ids: nothing new
        (0, [4], 3, [1, 2, 3], 0),  # a gap of exactly max_gap is tracked
        (0, [5], 3, [], 4),  # one more: a sequence jump, counted, not tracked
        (10, [11, 1012], 100, [], 1000),
        (0, [1000], 10, [], 999),  # the first gap (from the cursor) counts too
        (100, [102, 300, 303], 50, [101, 301, 302], 197),
        (100, [102, 300, 303], 0, [], 1 + 197 + 2),  # max_gap 0: nothing is ever tracked
    ],
)
def test_new_holes(
    cursor: int, seen: list[int], max_gap: int, missing: list[int], skipped: int
) -> None:
    assert new_holes(cursor, seen, max_gap) == (missing, skipped)


def test_new_holes_accepts_any_iterable() -> None:
    assert new_holes(0, iter((3, 1)), 10) == ([2], 0)
    assert new_holes(0, {3, 1}, 10) == ([2], 0)


@settings(max_examples=60, deadline=None)
@given(
    cursor=st.integers(min_value=0, max_value=1_000),
    seen=st.lists(st.integers(min_value=0, max_value=1_300), max_size=40),
    max_gap=st.integers(min_value=0, max_value=60),
)
def test_new_holes_accounts_for_every_id(cursor: int, seen: list[int], max_gap: int) -> None:
    missing, skipped = new_holes(cursor, seen, max_gap)
    above = {i for i in seen if i > cursor}
    assert missing == sorted(missing)
    assert len(set(missing)) == len(missing)
    assert not set(missing) & above
    if not above:
        assert (missing, skipped) == ([], 0)
        return
    top = max(above)
    assert all(cursor < i < top for i in missing)
    # every id in (cursor, top] is seen, tracked as a hole, or skipped
    assert len(above) + len(missing) + skipped == top - cursor


@settings(max_examples=60, deadline=None)
@given(
    cursor=st.integers(min_value=0, max_value=1_000),
    seen=st.lists(st.integers(min_value=0, max_value=1_300), max_size=40),
)
def test_without_a_gap_limit_every_unseen_id_is_a_hole(cursor: int, seen: list[int]) -> None:
    above = {i for i in seen if i > cursor}
    expected = sorted(set(range(cursor + 1, max(above, default=cursor))) - above)
    assert new_holes(cursor, seen, max_gap=10_000) == (expected, 0)


# ---- can_give_up ----

T0 = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)
MAX_AGE = dt.timedelta(hours=1)
HOLE = Hole(event_id=100, first_seen_at=T0, first_seen_xmax=1000)


def evidence(
    *,
    now: dt.datetime = T0 + dt.timedelta(seconds=5),
    oldest_start: dt.datetime | None = None,
    oldest_xid: int | None = None,
    visible: bool = True,
) -> Evidence:
    return Evidence(
        now=now,
        oldest_transaction_start=oldest_start,
        oldest_running_xid=oldest_xid,
        can_see_all_sessions=visible,
    )


def test_all_clear_with_full_visibility() -> None:
    assert can_give_up(HOLE, evidence(), MAX_AGE) is True


def test_all_clear_with_full_visibility_needs_no_age() -> None:
    assert can_give_up(HOLE, evidence(now=T0), MAX_AGE) is True


@pytest.mark.parametrize(
    "started",
    [T0 - dt.timedelta(hours=2), T0 - dt.timedelta(microseconds=1), T0],
)
def test_transaction_older_than_the_hole_still_running(started: dt.datetime) -> None:
    assert can_give_up(HOLE, evidence(oldest_start=started), MAX_AGE) is False


def test_only_newer_transactions_running() -> None:
    started = T0 + dt.timedelta(microseconds=1)
    assert can_give_up(HOLE, evidence(oldest_start=started), MAX_AGE) is True


@pytest.mark.parametrize(
    ("xid", "expected"), [(1, False), (999, False), (1000, True), (5000, True)]
)
def test_in_progress_xid_below_first_seen_xmax(xid: int, expected: bool) -> None:
    """Without visibility of other sessions, the server-wide snapshot is the evidence."""
    late = T0 + 2 * MAX_AGE
    assert can_give_up(HOLE, evidence(now=late, oldest_xid=xid, visible=False), MAX_AGE) is expected


def test_with_full_visibility_xids_of_other_databases_do_not_block() -> None:
    """Sessions in VOPI's own database are the evidence then; another database's long
    transaction (a report on the same server) cannot commit a VOPI row."""
    assert can_give_up(HOLE, evidence(oldest_xid=1), MAX_AGE) is True


def test_without_first_seen_xmax_the_xid_is_not_evidence() -> None:
    hole = Hole(event_id=100, first_seen_at=T0, first_seen_xmax=None)
    assert can_give_up(hole, evidence(oldest_xid=1), MAX_AGE) is True


def test_old_xid_wins_even_after_max_age() -> None:
    late = T0 + 10 * MAX_AGE
    assert can_give_up(HOLE, evidence(now=late, oldest_xid=999, visible=False), MAX_AGE) is False


def test_old_transaction_wins_even_after_max_age() -> None:
    late = T0 + 10 * MAX_AGE
    old = T0 - dt.timedelta(seconds=1)
    assert can_give_up(HOLE, evidence(now=late, oldest_start=old, visible=False), MAX_AGE) is False


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (dt.timedelta(0), False),
        (dt.timedelta(minutes=59, seconds=59), False),
        (dt.timedelta(hours=1), True),
        (dt.timedelta(hours=5), True),
    ],
)
def test_without_visibility_only_after_max_age(age: dt.timedelta, expected: bool) -> None:
    assert can_give_up(HOLE, evidence(now=T0 + age, visible=False), MAX_AGE) is expected


def test_without_visibility_newer_transactions_do_not_block_an_old_hole() -> None:
    ev = evidence(
        now=T0 + 2 * MAX_AGE, oldest_start=T0 + dt.timedelta(minutes=1), oldest_xid=1000,
        visible=False,
    )  # fmt: skip
    assert can_give_up(HOLE, ev, MAX_AGE) is True
