"""The overview: the health verdict as `obvo status` gives it, counts by status and channel,
the charts drawn as SVG, and the SMS bill's CSV with the same figures."""

from __future__ import annotations

import csv
import io

import psycopg

from tests.console_support import ConsoleServer, StaffBrowser, StaffCertificates
from vopi_obvo.config import Settings


def add_notifications(settings: Settings) -> None:
    """SMS sent this month and in an earlier one, e-mails today, a failure."""
    rows = [
        # channel, event_type, status, sms parts, sent days ago
        ("sms", "VLOZ", "sent", 1, 0),
        ("sms", "VLOZ", "delivered", 2, 0),
        ("sms", "KLAS", "sent", 3, 0),
        ("sms", "KLAS", "sent", 2, 40),
        ("email", "VLOZ", "sent", None, 0),
        ("email", "KLAS", "failed", None, 0),
        ("sms", "KLAS", "pending", 2, None),  # not sent: not on the bill
    ]
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        for n, (channel, event_type, status, parts, days) in enumerate(rows, start=1):
            conn.execute(
                "INSERT INTO obvo.notifications (source_event_id, channel, event_type, event_kind,"
                " language, status, sms_segments, sent_at, created_at, updated_at)"
                " VALUES (%s, %s, %s, 'notify', 'sl', %s, %s,"
                " CASE WHEN %s::int IS NULL THEN NULL ELSE now() - make_interval(days => %s) END,"
                " now() - make_interval(days => coalesce(%s, 0)),"
                " now() - make_interval(days => coalesce(%s, 0)))",
                (n, channel, event_type, status, parts, days, days or 0, days, days),
            )


def test_the_overview_shows_the_verdict_counts_and_charts(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    add_notifications(console_settings)
    page = StaffBrowser(console, certs.viewer).get("/")
    assert page.status_code == 200
    text = page.text
    # No daemon runs in this test: the verdict says so, as `obvo status` would.
    assert "Sistem potrebuje pozornost" in text
    assert "noben proces obvo ne teče" in text  # the verdict in the page's language
    assert "no obvo daemon" not in text
    italian = StaffBrowser(console, certs.viewer).get("/?lang=it").text
    assert "nessun processo obvo è in esecuzione" in italian
    assert text.count('<svg class="chart"') == 3
    assert "Deli SMS na mesec po vrsti dogodka" in text
    assert "<title>" in text  # every bar names its figure
    assert '<th scope="row">neuspešno</th>' in text


def test_the_sms_bill_csv_has_the_parts_per_month_and_event_type(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    add_notifications(console_settings)
    reply = StaffBrowser(console, certs.viewer).get("/racun-sms.csv")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    this_month = sorted(
        (r["event_type"], int(r["sms_parts"]), int(r["messages"]))
        for r in rows
        if r["month"] == max(x["month"] for x in rows)
    )
    assert this_month == [("KLAS", 3, 1), ("VLOZ", 3, 2)]
    assert sum(int(r["sms_parts"]) for r in rows) == 8  # the pending SMS is not billed
