"""Missing event ids below the cursor ("holes"), and when it is safe to stop waiting for one.

Pure logic; docs/architecture.md (failure modes) tells the story. A hole is an id drawn from
VOPI's sequence by a transaction that had not committed when a higher id became visible, or
one that rolled back. It is given up only on evidence that no transaction able to commit it
is still running.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Hole:
    event_id: int
    first_seen_at: dt.datetime  # VOPI's clock
    first_seen_xmax: int | None  # VOPI's snapshot xmax when first seen


@dataclass(frozen=True)
class Evidence:
    """What VOPI's server said, in one statement, about transactions still running."""

    now: dt.datetime  # VOPI's clock
    oldest_transaction_start: dt.datetime | None  # of other client sessions; None: none running
    oldest_running_xid: int | None  # lowest xid in progress; None: none
    can_see_all_sessions: bool  # pg_read_all_stats or superuser


def new_holes(previous_cursor: int, seen_ids: Iterable[int], max_gap: int) -> tuple[list[int], int]:
    """Ids above the cursor and below the highest id seen that were not seen, and how many ids
    were skipped because a single gap was larger than `max_gap` (a sequence jump, not a race)."""
    ordered = sorted(set(seen_ids))
    missing: list[int] = []
    skipped = 0
    last = previous_cursor
    for event_id in ordered:
        if event_id <= previous_cursor:
            continue
        gap = event_id - last - 1
        if gap > max_gap:
            skipped += gap
        elif gap > 0:
            missing.extend(range(last + 1, event_id))
        last = event_id
    return missing, skipped


def can_give_up(hole: Hole, evidence: Evidence, max_age: dt.timedelta) -> bool:
    """True when the id can no longer appear (then the caller takes one fresh look first).

    With full visibility: no other transaction in VOPI's database (session or prepared) that
    started at or before the hole was first seen is still running. That covers an id drawn
    with nextval() before the transaction's first write, which no snapshot shows.
    Without it, other roles' sessions are invisible: then no transaction id below the
    first-seen xmax may be in progress anywhere on the server, and the hole must also be older
    than `max_age` (a bound far above any normal VOPI transaction).
    """
    xid_still_running = (
        not evidence.can_see_all_sessions
        and hole.first_seen_xmax is not None
        and evidence.oldest_running_xid is not None
        and evidence.oldest_running_xid < hole.first_seen_xmax
    )
    older_transaction_running = (
        evidence.oldest_transaction_start is not None
        and evidence.oldest_transaction_start <= hole.first_seen_at
    )
    if xid_still_running or older_transaction_running:
        return False
    if not evidence.can_see_all_sessions:
        return evidence.now - hole.first_seen_at >= max_age
    return True
