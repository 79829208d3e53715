"""Subscriptions limited to given cases (table `subscriber_cases`).

A subscriber without rows there hears about every case of their party (the default); with
rows, only about those cases. Used by the poller when it matches a batch, and by `preview`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from vopi_obvo.queries import q

CaseLimits = Mapping[int, frozenset[str]]


def case_limits(conn: sa.Connection, subscriber_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """subscriber id → the only cases they follow, for those limited to some cases."""
    ids = sorted(set(subscriber_ids))
    if not ids:
        return {}
    found: dict[int, set[str]] = {}
    for row in conn.execute(q("subscriber_case_limits"), {"subscriber_ids": ids}):
        found.setdefault(int(row.subscriber_id), set()).add(str(row.case_id))
    return {sid: frozenset(cases) for sid, cases in found.items()}


def covers(limits: CaseLimits, subscriber_id: int, case_id: str | None) -> bool:
    """Whether a subscriber hears about events of this case."""
    only = limits.get(subscriber_id)
    return only is None or (case_id is not None and case_id in only)
