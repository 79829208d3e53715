"""A row of `subscribers` as one record: what the administrative commands and the portal show.

Pure logic. `SubscriberRecord.from_row` is the one mapping from the table's columns (any of
the queries' selections of them) to Python values; `as_subscriber` gives the narrower view
that matching and rendering use (rules.Subscriber).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vopi_obvo.rules import EventsLevel, Subscriber


@dataclass(frozen=True)
class SubscriberRecord:
    id: int
    party_id: str
    email: str | None
    phone: str | None
    events: str
    language: str
    origin: str | None = None
    reference: str | None = None
    consent_at: dt.datetime | None = None
    key_only_channels: tuple[str, ...] = ()
    # The cases a subscription is limited to (table subscriber_cases); none = every case.
    cases: tuple[str, ...] = ()
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> SubscriberRecord:
        """From a query's row: id, party_id, email, phone, events and language always; the
        other columns where the query selects them."""
        return cls(
            id=int(row["id"]),
            party_id=row["party_id"],
            email=row["email"],
            phone=row["phone"],
            events=row["events"],
            language=row["language"],
            origin=row.get("origin"),
            reference=row.get("reference"),
            consent_at=row.get("consent_at"),
            key_only_channels=tuple(row.get("key_only_channels") or ()),
            cases=tuple(row.get("cases") or ()),
            created_at=row.get("created_at"),
            updated_at=row.get("updated_at"),
        )

    def as_subscriber(self) -> Subscriber:
        return Subscriber(
            id=self.id,
            party_id=self.party_id,
            email=self.email,
            phone=self.phone,
            events=EventsLevel(self.events),
            language=self.language,
            key_only_channels=frozenset(self.key_only_channels),
        )
