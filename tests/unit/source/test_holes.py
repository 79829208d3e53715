"""holes.py: which ids below the cursor are missing, and when it is safe to stop waiting."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vopi_obvo.source.holes import (
    CACHED_SEQUENCE_MIN_AGE,
    Evidence,
    GiveUpRule,
    Hole,
    can_give_up,
    count_ids,
    gaps,
    merge_adjacent,
    rule_for,
    split_at,
    subtract,
)

T0 = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)

# ---- gaps ----


@pytest.mark.parametrize(
    ("cursor", "seen", "expected"),
    [
        (10, [], []),
        (10, [11, 12, 13], []),
        (10, [12, 15], [(11, 11), (13, 14)]),
        (10, [15, 12, 12, 15, 12], [(11, 11), (13, 14)]),  # duplicates, any order
        (10, [5, 9, 10, 12], [(11, 11)]),  # ids at or below the cursor are ignored
        (10, [3, 4], []),  # only old ids: nothing new
        (0, [10_051], [(1, 10_050)]),  # a gap of any size is one range, never skipped
        (100, [102, 1_000_300, 1_000_303], [(101, 101), (103, 1_000_299), (1_000_301, 1_000_302)]),
    ],
)
def test_gaps(cursor: int, seen: list[int], expected: list[tuple[int, int]]) -> None:
    assert gaps(cursor, seen) == expected


@settings(max_examples=80, deadline=None)
@given(
    cursor=st.integers(min_value=0, max_value=1_000),
    seen=st.lists(st.integers(min_value=0, max_value=1_300), max_size=40),
)
def test_gaps_are_exactly_the_unseen_ids(cursor: int, seen: list[int]) -> None:
    above = {i for i in seen if i > cursor}
    expected = set(range(cursor + 1, max(above, default=cursor))) - above
    ranges = gaps(cursor, seen)
    ids = [i for lo, hi in ranges for i in range(lo, hi + 1)]
    assert ids == sorted(expected)  # ordered, disjoint, nothing seen, nothing left out
    assert len(ranges) <= len(above)  # rows grow with the events read, not with gap sizes


# ---- ranges shrink and split ----


def hole(first: int, last: int, seen: dt.datetime = T0, xmax: int | None = 1000) -> Hole:
    return Hole(first, last, seen, xmax)


def test_subtract_shrinks_splits_and_removes() -> None:
    holes = [hole(1, 10), hole(20, 20), hole(30, 31, T0 + dt.timedelta(seconds=1))]
    assert subtract(holes, [1, 5, 10, 20, 31, 99]) == [
        hole(2, 4),
        hole(6, 9),
        hole(30, 30, T0 + dt.timedelta(seconds=1)),  # keeps when it was first seen
    ]


def test_subtract_of_a_whole_range_leaves_nothing() -> None:
    assert subtract([hole(5, 7)], range(1, 100)) == []


@settings(max_examples=80, deadline=None)
@given(
    spans=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 20)), max_size=8),
    found=st.lists(st.integers(0, 330), max_size=60),
)
def test_subtract_removes_exactly_the_found_ids(
    spans: list[tuple[int, int]], found: list[int]
) -> None:
    holes = merge_adjacent(hole(lo, lo + width) for lo, width in _disjoint(spans))
    before = {i for h in holes for i in range(h.first_id, h.last_id + 1)}
    after = subtract(holes, found)
    assert {i for h in after for i in range(h.first_id, h.last_id + 1)} == before - set(found)
    assert count_ids(after) == len(before - set(found))
    assert len(after) <= len(holes) + len(set(found))  # each found id splits at most once


def _disjoint(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    result: list[tuple[int, int]] = []
    taken: set[int] = set()
    for lo, width in spans:
        ids = set(range(lo, lo + width + 1))
        if not ids & taken and not {lo - 1, lo + width + 1} & taken:
            taken |= ids
            result.append((lo, width))
    return result


def test_split_at() -> None:
    low, high = split_at([hole(1, 5), hole(8, 12), hole(20, 21)], 9)
    assert low == [hole(1, 5), hole(8, 9)]
    assert high == [hole(10, 12), hole(20, 21)]


def test_merge_adjacent_joins_only_what_was_first_seen_together() -> None:
    later = T0 + dt.timedelta(seconds=1)
    merged = merge_adjacent([hole(10, 12), hole(1, 9), hole(13, 13, later), hole(14, 20, later)])
    assert merged == [hole(1, 12), hole(13, 20, later)]


def test_describe() -> None:
    assert hole(7, 7).describe() == "7"
    assert hole(7, 10_056).describe() == "7-10056"
    assert hole(7, 10_056).size == 10_050


# ---- can_give_up ----

MAX_AGE = dt.timedelta(hours=1)
HOLE = Hole(100, 100, first_seen_at=T0, first_seen_xmax=1000)


def evidence(
    *,
    now: dt.datetime = T0 + dt.timedelta(seconds=5),
    oldest_start: dt.datetime | None = None,
    oldest_xid: int | None = None,
    visible: bool = True,
    standby: bool = False,
    prepared: int = 0,
    oldest_session: dt.datetime | None = None,
) -> Evidence:
    return Evidence(
        now=now,
        oldest_transaction_start=oldest_start,
        oldest_running_xid=oldest_xid,
        can_see_all_sessions=visible,
        in_recovery=standby,
        prepared_transactions=prepared,
        oldest_session_start=oldest_session,
    )


def give_up(
    hole: Hole, ev: Evidence, *, cached: bool = False, min_age: float | None = None
) -> bool:
    rule = rule_for(ev, cached_sequence=cached, min_age=min_age, max_age=MAX_AGE.total_seconds())
    return can_give_up(hole, ev, rule)


def test_all_clear_with_full_visibility() -> None:
    assert give_up(HOLE, evidence()) is True


def test_all_clear_with_full_visibility_needs_no_age() -> None:
    assert give_up(HOLE, evidence(now=T0)) is True


@pytest.mark.parametrize(
    "started",
    [T0 - dt.timedelta(hours=2), T0 - dt.timedelta(microseconds=1), T0],
)
def test_transaction_older_than_the_hole_still_running(started: dt.datetime) -> None:
    assert give_up(HOLE, evidence(oldest_start=started)) is False


def test_only_newer_transactions_running() -> None:
    started = T0 + dt.timedelta(microseconds=1)
    assert give_up(HOLE, evidence(oldest_start=started)) is True


@pytest.mark.parametrize(
    ("xid", "expected"), [(1, False), (999, False), (1000, True), (5000, True)]
)
def test_in_progress_xid_below_first_seen_xmax(xid: int, expected: bool) -> None:
    """Without visibility of other sessions, the server-wide snapshot is the evidence."""
    late = T0 + 2 * MAX_AGE
    assert give_up(HOLE, evidence(now=late, oldest_xid=xid, visible=False)) is expected


def test_with_full_visibility_xids_of_other_databases_do_not_block() -> None:
    """Sessions in VOPI's own database are the evidence then; another database's long
    transaction (a report on the same server) cannot commit a VOPI row."""
    assert give_up(HOLE, evidence(oldest_xid=1)) is True


def test_without_first_seen_xmax_the_xid_is_not_evidence() -> None:
    hole = Hole(100, 100, first_seen_at=T0, first_seen_xmax=None)
    assert give_up(hole, evidence(oldest_xid=1)) is True


def test_old_xid_wins_even_after_max_age() -> None:
    late = T0 + 10 * MAX_AGE
    assert give_up(HOLE, evidence(now=late, oldest_xid=999, visible=False)) is False


def test_old_transaction_wins_even_after_max_age() -> None:
    late = T0 + 10 * MAX_AGE
    old = T0 - dt.timedelta(seconds=1)
    assert give_up(HOLE, evidence(now=late, oldest_start=old, visible=False)) is False


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
    assert give_up(HOLE, evidence(now=T0 + age, visible=False)) is expected


def test_without_visibility_newer_transactions_do_not_block_an_old_hole() -> None:
    ev = evidence(
        now=T0 + 2 * MAX_AGE, oldest_start=T0 + dt.timedelta(minutes=1), oldest_xid=1000,
        visible=False,
    )  # fmt: skip
    assert give_up(HOLE, ev) is True


# ---- hot standby, prepared transactions ----


def test_a_hot_standby_is_no_evidence_only_age() -> None:
    """A standby's pg_stat_activity shows only its own sessions: an empty one proves nothing."""
    assert give_up(HOLE, evidence(standby=True)) is False
    assert give_up(HOLE, evidence(now=T0 + MAX_AGE, standby=True)) is True
    rule = rule_for(evidence(standby=True), cached_sequence=False, min_age=None, max_age=3600)
    assert rule.sessions_trusted is False
    assert "hot standby" in rule.describe()


@pytest.mark.parametrize("now", [T0 + dt.timedelta(seconds=5), T0 + 10 * MAX_AGE])
def test_a_prepared_transaction_blocks_every_hole_whenever_it_was_prepared(
    now: dt.datetime,
) -> None:
    """Its start is unknown: it may hold any id drawn before its PREPARE, even for a hole
    first seen after that (then the id was drawn before too)."""
    assert give_up(HOLE, evidence(now=now, prepared=1)) is False
    assert give_up(HOLE, evidence(now=now, prepared=1, visible=False)) is False
    assert give_up(HOLE, evidence(now=now, prepared=0)) is True


# ---- cached sequences and application id blocks ----


def test_a_cached_sequence_needs_evidence_and_the_minimum_age() -> None:
    young = evidence(now=T0 + dt.timedelta(seconds=30), oldest_session=T0 - dt.timedelta(hours=1))
    assert give_up(HOLE, young, cached=True) is False
    old = evidence(now=T0 + CACHED_SEQUENCE_MIN_AGE, oldest_session=T0 - dt.timedelta(hours=1))
    assert give_up(HOLE, old, cached=True) is True
    running = evidence(now=T0 + 2 * CACHED_SEQUENCE_MIN_AGE, oldest_start=T0)
    assert give_up(HOLE, running, cached=True) is False


@pytest.mark.parametrize(
    ("oldest_session", "expected"),
    [
        (None, True),  # nobody else connected
        (T0 + dt.timedelta(microseconds=1), True),  # every session came after the hole
        (T0, False),  # connected when the hole was seen: may hold cached ids
        (T0 - dt.timedelta(days=1), False),
    ],
)
def test_cached_ids_die_with_their_session(
    oldest_session: dt.datetime | None, expected: bool
) -> None:
    ev = evidence(now=T0 + dt.timedelta(seconds=5), oldest_session=oldest_session)
    assert give_up(HOLE, ev, cached=True) is expected


def test_a_configured_minimum_age_applies_without_a_cache_and_without_the_session_proof() -> None:
    """Ids handed out by the application (Hibernate's pooled optimizer) live in its memory,
    not in a session: only the age bounds them."""
    ev = evidence(now=T0 + dt.timedelta(seconds=59))
    assert give_up(HOLE, ev, min_age=60) is False
    assert give_up(HOLE, evidence(now=T0 + dt.timedelta(seconds=60)), min_age=60) is True


def test_the_rule_in_force() -> None:
    full = evidence()
    assert rule_for(full, cached_sequence=False, min_age=None, max_age=3600) == GiveUpRule(
        sessions_trusted=True, min_age=dt.timedelta(0), max_age=MAX_AGE
    )
    assert rule_for(full, cached_sequence=True, min_age=None, max_age=3600).min_age == (
        CACHED_SEQUENCE_MIN_AGE
    )
    assert rule_for(full, cached_sequence=True, min_age=5, max_age=3600).min_age == (
        dt.timedelta(seconds=5)
    )
    texts = {
        rule_for(ev, cached_sequence=cached, min_age=None, max_age=3600).describe()
        for ev in (full, evidence(visible=False), evidence(standby=True))
        for cached in (False, True)
    }
    assert len(texts) == 4  # without trusted sessions the age rule reads the same either way
    assert any("cannot see other sessions" in t for t in texts)
    limited = rule_for(
        evidence(visible=False),
        cached_sequence=False,
        min_age=None,
        max_age=3600,
        limited_reason="the VOPI role lacks pg_read_all_stats",
    )
    assert limited.describe().startswith("age: the VOPI role lacks pg_read_all_stats")
