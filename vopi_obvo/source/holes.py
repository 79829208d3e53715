"""Missing event ids below the cursor ("holes"), and when it is safe to stop waiting for them.

Pure logic; see docs/architecture.md. A hole is an id drawn from VOPI's sequence by a
transaction that had not committed when a higher id became visible, or one that rolled back.
Holes are kept as id ranges, so one transaction inserting 100,000 events is one row, and a
range shrinks or splits as its rows appear. A hole is given up only on evidence that nothing
able to commit it is still running, under the rule in force (`GiveUpRule`).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Hole:
    """The ids first_id..last_id (inclusive), all missing when first seen."""

    first_id: int
    last_id: int
    first_seen_at: dt.datetime  # VOPI's clock
    first_seen_xmax: int | None  # VOPI's snapshot xmax when first seen

    @property
    def size(self) -> int:
        return self.last_id - self.first_id + 1

    def describe(self) -> str:
        return str(self.first_id) if self.size == 1 else f"{self.first_id}-{self.last_id}"


@dataclass(frozen=True)
class Evidence:
    """What VOPI's server said, in one statement, about transactions still running."""

    now: dt.datetime  # VOPI's clock
    oldest_transaction_start: dt.datetime | None  # of other client sessions; None: none running
    oldest_running_xid: int | None  # lowest xid in progress; None: none
    can_see_all_sessions: bool  # pg_read_all_stats or superuser
    # A hot standby's pg_stat_activity shows only the standby's own sessions.
    in_recovery: bool = False
    # Prepared transactions in VOPI's database: their start is unknown (only the PREPARE time
    # is recorded), so each may hold any id drawn before it was prepared.
    prepared_transactions: int = 0
    # When the oldest other client session of VOPI's database connected; None: none connected.
    oldest_session_start: dt.datetime | None = None

    @property
    def sessions_trusted(self) -> bool:
        """pg_stat_activity shows every session that could commit a VOPI row."""
        return self.can_see_all_sessions and not self.in_recovery


@dataclass(frozen=True)
class GiveUpRule:
    """How a hole is given up; `describe()` is what the log and `status` say."""

    sessions_trusted: bool  # evidence from pg_stat_activity proves what it shows
    min_age: dt.timedelta  # even with evidence, a hole is kept at least this long
    max_age: dt.timedelta  # without trusted sessions: the age after which a hole goes
    # Ids cached by a sequence (CACHE > 1) live in their session: once every session that
    # was connected when the hole was first seen has gone, none of them can be inserted.
    cached_sequence: bool = False
    no_evidence_reason: str = ""  # why sessions are not trusted

    def describe(self) -> str:
        if not self.sessions_trusted:
            return (
                f"age: {self.no_evidence_reason} (after "
                f"{max(self.max_age, self.min_age).total_seconds():g} s, when no transaction id "
                "older than the hole is still running)"
            )
        if self.min_age > dt.timedelta(0):
            early = (
                ", or earlier once every VOPI session connected before it was seen has "
                "disconnected (cached ids die with their session)"
                if self.cached_sequence
                else ""
            )
            return (
                "evidence and age: no VOPI transaction older than the hole is running, and the "
                f"hole is at least {self.min_age.total_seconds():g} s old (hole_min_age){early}"
            )
        return "evidence: no VOPI transaction older than the hole is running"


# hole_min_age when a cached sequence is detected and none is configured: a pooled session
# keeps its cached ids for as long as it lives (PgBouncer's server_lifetime defaults to an
# hour, HikariCP's maxLifetime to 30 min), and a hole costs one row and one index probe per
# poll, while giving up too early loses a citizen's notification.
CACHED_SEQUENCE_MIN_AGE = dt.timedelta(hours=1)


def rule_for(
    evidence: Evidence,
    *,
    cached_sequence: bool,
    min_age: float | None,
    max_age: float,
    limited_reason: str = "",
) -> GiveUpRule:
    """The rule in force: `min_age` None = automatic (CACHED_SEQUENCE_MIN_AGE with a cached
    sequence, else none); a number forces it (ids handed out in blocks by the application).
    `limited_reason`: why the evidence is limited, when it is (the source knows)."""
    if min_age is None:
        chosen = CACHED_SEQUENCE_MIN_AGE if cached_sequence else dt.timedelta(0)
    else:
        chosen = dt.timedelta(seconds=min_age)
    if evidence.sessions_trusted:
        reason = ""
    elif limited_reason:
        reason = limited_reason
    elif evidence.in_recovery:
        reason = "VOPI is a hot standby, whose session list shows only its own sessions"
    else:
        reason = "the VOPI role cannot see other sessions"
    return GiveUpRule(
        sessions_trusted=evidence.sessions_trusted,
        min_age=chosen,
        max_age=dt.timedelta(seconds=max_age),
        cached_sequence=cached_sequence,
        no_evidence_reason=reason,
    )


def gaps(previous_cursor: int, seen_ids: Iterable[int]) -> list[tuple[int, int]]:
    """Id ranges above the cursor and below the highest id seen that were not seen, whatever
    their size: gap size is no evidence (one transaction may insert any number of rows)."""
    result: list[tuple[int, int]] = []
    last = previous_cursor
    for event_id in sorted(set(seen_ids)):
        if event_id <= previous_cursor:
            continue
        if event_id > last + 1:
            result.append((last + 1, event_id - 1))
        last = event_id
    return result


def subtract(holes: Sequence[Hole], found_ids: Iterable[int]) -> list[Hole]:
    """The holes without the ids that appeared: a range shrinks or splits, keeping when it was
    first seen (the evidence is about that moment)."""
    found = sorted(set(found_ids))
    result: list[Hole] = []
    for hole in sorted(holes, key=lambda h: h.first_id):
        start = hole.first_id
        for event_id in _within(found, hole.first_id, hole.last_id):
            if event_id > start:
                result.append(replace(hole, first_id=start, last_id=event_id - 1))
            start = event_id + 1
        if start <= hole.last_id:
            result.append(replace(hole, first_id=start))
    return result


def split_at(holes: Sequence[Hole], last_id: int) -> tuple[list[Hole], list[Hole]]:
    """(the parts at or below last_id, the parts above it)."""
    low: list[Hole] = []
    high: list[Hole] = []
    for hole in holes:
        if hole.last_id <= last_id:
            low.append(hole)
        elif hole.first_id > last_id:
            high.append(hole)
        else:
            low.append(replace(hole, last_id=last_id))
            high.append(replace(hole, first_id=last_id + 1))
    return low, high


def count_ids(holes: Iterable[Hole]) -> int:
    return sum(h.size for h in holes)


def _within(ordered: Sequence[int], low: int, high: int) -> list[int]:
    return list(ordered[bisect_left(ordered, low) : bisect_right(ordered, high)])


def can_give_up(hole: Hole, evidence: Evidence, rule: GiveUpRule) -> bool:
    """True when no id of the hole can appear any more (then the caller takes one fresh look).

    A prepared transaction in VOPI's database blocks every hole: it may hold an id drawn at
    any time before its PREPARE, and its start is not recorded.
    With trusted sessions: no other transaction in VOPI's database that started at or before
    the hole was first seen is still running (that covers an id drawn with nextval() before
    the transaction's first write, which no snapshot shows), and the hole is `min_age` old,
    or, for a cached sequence, every session connected when it was first seen is gone.
    Without them (no pg_read_all_stats, or a hot standby), no transaction id below the
    first-seen xmax may be in progress on the server, and the hole must be older than
    `max_age` (a bound far above any normal VOPI transaction).
    """
    if evidence.prepared_transactions > 0:
        return False
    older_transaction_running = (
        evidence.oldest_transaction_start is not None
        and evidence.oldest_transaction_start <= hole.first_seen_at
    )
    if older_transaction_running:
        return False
    age = evidence.now - hole.first_seen_at
    if not rule.sessions_trusted:
        xid_still_running = (
            hole.first_seen_xmax is not None
            and evidence.oldest_running_xid is not None
            and evidence.oldest_running_xid < hole.first_seen_xmax
        )
        return not xid_still_running and age >= max(rule.max_age, rule.min_age)
    if age >= rule.min_age:
        return True
    sessions_gone = (
        evidence.oldest_session_start is None or evidence.oldest_session_start > hole.first_seen_at
    )
    return rule.cached_sequence and sessions_gone


def merge_adjacent(holes: Iterable[Hole]) -> list[Hole]:
    """Sorted by first id, with touching ranges first seen together joined into one (a range
    split by a lookup that stopped at the batch size, and kept whole)."""
    result: list[Hole] = []
    for hole in sorted(holes, key=lambda h: h.first_id):
        last = result[-1] if result else None
        if (
            last is not None
            and last.last_id + 1 == hole.first_id
            and (last.first_seen_at, last.first_seen_xmax)
            == (hole.first_seen_at, hole.first_seen_xmax)
        ):
            result[-1] = replace(last, last_id=hole.last_id)
        else:
            result.append(hole)
    return result
