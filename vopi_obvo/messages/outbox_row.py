"""A new outbox row as the poller composes it (pure): what `store.insert_notifications`
writes, one row per (event, subscriber, channel)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NewNotification:
    source_event_id: int
    subscriber_id: int
    channel: str
    event_type: str
    event_kind: str
    case_id: str | None
    occurred_at: dt.datetime | None
    language: str
    recipient: str
    subject: str | None
    body: str | None
    status: str  # 'pending'; 'failed' when the text could not be rendered; 'held' (storm)
    last_error: str | None
    body_html: str | None = None  # e-mail from an email_html template only
    sms_encoding: str | None = None  # SMS only: 'gsm7' or 'ucs2' of the text as sent
    sms_segments: int | None = None  # SMS only: parts billed
    held_reason: str | None = None  # status 'held': 'storm' or 'subscriber_rate'
    delay: float = 0.0  # seconds before the first attempt ([delivery] coalesce_window)
    event_values: str | None = None  # JSON (event_values.dump_values), for coalescing

    def params(self) -> dict[str, Any]:
        return self.__dict__.copy()
