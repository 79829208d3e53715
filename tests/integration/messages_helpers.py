"""Helpers shared by the issue-3 integration tests (SMS policy, quiet hours, storms,
coalescing)."""

from __future__ import annotations

import tomllib
from typing import Any

import psycopg

from tests.integration.test_pipeline import apply_rules, subscribe
from tests.support import EXAMPLE_RULES, Vopi
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service


def rules_document(**sms: str) -> dict[str, Any]:
    """The example rules, with the Slovenian SMS templates of some event types replaced."""
    doc = tomllib.loads(EXAMPLE_RULES.read_text(encoding="utf-8"))
    for entry in doc["event_types"]:
        if entry["code"] in sms:
            entry["templates"]["sl"]["sms"] = sms[entry["code"]]
    return doc


def rows(
    settings: Settings, where: str = "TRUE", params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    """Notification rows with the columns these tests look at."""
    with psycopg.connect(settings.database.url) as conn:
        cur = conn.execute(
            "SELECT id, source_event_id, subscriber_id, channel, event_type, event_kind, status,"
            " attempts, body, subject, sms_encoding, sms_segments, held_reason, coalesced_into,"
            " next_attempt_at, event_values, last_error, created_at"
            f" FROM obvo.notifications WHERE {where} ORDER BY id",
            params,
        )
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def execute(settings: Settings, statement: str, params: tuple[Any, ...] = ()) -> None:
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        conn.execute(statement.encode(), params)


def run_once(settings: Settings, *, times: int = 1) -> None:
    """`obvo once`: poll and send what is due now (a fresh service, closed afterwards)."""
    service = Service(settings)
    try:
        for _ in range(times):
            service.run(once=True)
    finally:
        service.close()


def citizen(
    vopi: Vopi,
    settings: Settings,
    *,
    email: str | None = "janez@example.si",
    phone: str | None = "+38641123456",
    events: str = "all",
    language: str = "sl",
    document: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Rules applied, one party with one application, subscribed."""
    apply_rules(settings, document)
    party = vopi.party()
    app = vopi.application(party)
    sub = subscribe(settings, party, email=email, phone=phone, events=events, language=language)
    return {"party": party, "application": app, "subscriber": sub}
