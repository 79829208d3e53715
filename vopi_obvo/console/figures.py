"""The overview's figures: counts by status and channel, per-day series, the SMS bill; read
from OBVO's tables and shaped for charts and CSV (the shaping is pure)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from vopi_obvo.console.charts import Series, colours
from vopi_obvo.messages.templates import LJUBLJANA
from vopi_obvo.queries import q

CHANNELS = ("email", "sms")
DAYS = 30
MONTHS = 12


def start_of_day(now: dt.datetime, days_back: int = 0) -> dt.datetime:
    local = now.astimezone(LJUBLJANA).date() - dt.timedelta(days=days_back)
    return dt.datetime.combine(local, dt.time(), LJUBLJANA)


def start_of_month(now: dt.datetime, months_back: int) -> dt.datetime:
    local = now.astimezone(LJUBLJANA)
    month_index = local.year * 12 + local.month - 1 - months_back
    return dt.datetime(month_index // 12, month_index % 12 + 1, 1, tzinfo=LJUBLJANA)


def counts_since(conn: sa.Connection, since: dt.datetime) -> dict[str, dict[str, int]]:
    """status → channel → count."""
    result: dict[str, dict[str, int]] = {}
    for r in conn.execute(q("console_counts_since"), {"since": since}):
        result.setdefault(r.status, {})[r.channel] = int(r.n)
    return result


def day_range(now: dt.datetime, days: int = DAYS) -> list[dt.date]:
    today = now.astimezone(LJUBLJANA).date()
    return [today - dt.timedelta(days=days - 1 - i) for i in range(days)]


def daily_by_channel(
    rows: Iterable[tuple[dt.date, str, int]], days: Sequence[dt.date]
) -> list[Series]:
    found = {(day, channel): n for day, channel, n in rows}
    return [
        Series(s.name, [float(found.get((d, s.name), 0)) for d in days], s.colour)
        for s in colours(CHANNELS)
    ]


def daily_series(rows: Iterable[tuple[dt.date, int]], days: Sequence[dt.date]) -> list[float]:
    found = dict(rows)
    return [float(found.get(d, 0)) for d in days]


@dataclass(frozen=True)
class BillRow:
    month: str  # YYYY-MM
    event_type: str
    parts: int
    messages: int


def sms_bill(conn: sa.Connection, since: dt.datetime) -> list[BillRow]:
    return [
        BillRow(r.month, r.event_type, int(r.parts), int(r.messages))
        for r in conn.execute(q("console_sms_parts_by_month"), {"since": since})
    ]


def month_range(now: dt.datetime, months: int = MONTHS) -> list[str]:
    return [f"{start_of_month(now, months - 1 - i):%Y-%m}" for i in range(months)]


def bill_series(rows: Sequence[BillRow], months: Sequence[str]) -> list[Series]:
    types = sorted({r.event_type for r in rows})
    found = {(r.month, r.event_type): r.parts for r in rows}
    return [
        Series(s.name, [float(found.get((m, s.name), 0)) for m in months], s.colour)
        for s in colours(types)
    ]


def bill_csv(rows: Sequence[BillRow]) -> str:
    """The same figures as the chart, for the accounts department's spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["month", "event_type", "sms_parts", "messages"])
    for r in rows:
        writer.writerow([r.month, r.event_type, r.parts, r.messages])
    return out.getvalue()
