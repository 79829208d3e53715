"""Retention: old notifications lose their texts and addresses and keep anonymised metadata,
from `obvo purge`, `obvo purge --dry-run` and the daemon's daily job."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acceptance.test_cli import Deployment
from tests.integration.test_pipeline import apply_rules, subscribe
from tests.ops_support import run_cli
from tests.support import SmsGateway, SmtpServer, Vopi, wait_for
from vopi_obvo import db
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service
from vopi_obvo.ops import retention

REFUSED = "gone.away@example.si"
COLUMNS = (
    "id, status, channel, event_type, event_kind, language, attempts, created_at, sent_at,"
    " recipient, subject, body, body_html, event_values, subscriber_id, case_id, last_error,"
    " purged_at"
)
# What only OBVO holds about a citizen: gone after [retention] message_days.
PERSONAL = (
    "recipient",
    "subject",
    "body",
    "body_html",
    "event_values",
    "subscriber_id",
    "case_id",
)


def rows(database_url: str, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as conn:
        cur = conn.execute(query, params)
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def execute(database_url: str, query: str, *params: Any) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(query, params)


def notifications(database_url: str) -> dict[int, dict[str, Any]]:
    found = rows(database_url, f"SELECT {COLUMNS} FROM obvo.notifications ORDER BY id")
    return {r["id"]: r for r in found}


@pytest.fixture
def history(
    vopi: Vopi,
    settings: Settings,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    database_url: str,
) -> dict[str, list[int]]:
    """Sent, failed and still pending notifications, some created 100 days ago, some today."""
    apply_rules(settings)
    smtp_server.handler.refuse[REFUSED] = f"550 5.1.1 <{REFUSED}>: Recipient address rejected"
    janez = vopi.party("Janez Novak")
    ana = vopi.party("Ana Kos")
    subscribe(settings, janez, email="janez@example.si", phone="+38641123456")
    subscribe(settings, ana, email=REFUSED)
    for party in (janez, ana):
        vopi.event("KLAS", vopi.application(party))
    service = Service(settings)
    try:
        service.run(once=True)
        sms_gateway.status = 503  # the next SMS stays pending (retry later)
        vopi.event("ODLOC", vopi.application(janez))
        service.run(once=True)
    finally:
        service.close()
    found = notifications(database_url)
    old = sorted(found)
    assert {r["status"] for r in found.values()} == {"sent", "failed", "pending"}
    execute(
        database_url,
        "UPDATE obvo.notifications SET created_at = created_at - interval '100 days',"
        " next_attempt_at = next_attempt_at + interval '1 hour',"  # the retry stays pending
        # as [delivery] coalesce_window keeps them until sending: VOPI's values of the event
        """ event_values = '{"case_subject": "Gradbeno dovoljenje"}'""",
    )
    # Today's notification of the same citizen: recent, kept in full.
    sms_gateway.status = 200
    vopi.event("DODELJ", vopi.application(janez))
    service = Service(settings)
    try:
        service.run(once=True)
    finally:
        service.close()
    recent = sorted(set(notifications(database_url)) - set(old))
    assert recent
    return {"old": old, "recent": recent}


def test_purge_anonymises_old_finished_notifications_only(
    history: dict[str, list[int]], settings: Settings, database_url: str
) -> None:
    before = notifications(database_url)
    failed = next(r for r in before.values() if r["status"] == "failed")
    assert REFUSED in failed["last_error"]
    engine = db.obvo_engine(database_url, "obvo")
    try:
        preview = retention.preview(engine, 90)
        old_open = [i for i in history["old"] if before[i]["status"] == "pending"]
        old_done = [i for i in history["old"] if i not in old_open]
        assert (preview.due, preview.still_open) == (len(old_done), len(old_open))
        assert notifications(database_url) == before  # a preview changes nothing
        report = retention.purge(engine, 90, batch_size=2)  # several batches
        assert report.anonymised == len(old_done)
        assert retention.purge(engine, 90).anonymised == 0  # nothing twice
    finally:
        engine.dispose()

    after = notifications(database_url)
    kept = (
        "status",
        "channel",
        "event_type",
        "event_kind",
        "language",
        "attempts",
        "created_at",
        "sent_at",
    )
    for nid in old_done:
        row = after[nid]
        assert {k: row[k] for k in kept} == {k: before[nid][k] for k in kept}
        assert row["purged_at"] is not None
        for personal in PERSONAL:
            assert row[personal] is None, (nid, personal)
    assert after[failed["id"]]["last_error"] == (
        "SMTP 550 5.1.1 <***@***>: Recipient address rejected"
    )
    for nid in old_open + history["recent"]:
        assert after[nid] == before[nid]
    attempt_errors = [
        r["error"]
        for r in rows(database_url, "SELECT error FROM obvo.notification_attempts")
        if r["error"]
    ]
    assert attempt_errors
    assert not [e for e in attempt_errors if REFUSED in e]
    leftovers = rows(
        database_url,
        "SELECT count(*) AS n FROM obvo.notifications"
        " WHERE purged_at IS NOT NULL AND (recipient || subject || body) IS NOT NULL",
    )
    assert leftovers == [{"n": 0}]


def test_a_second_purger_at_the_same_time_steps_aside(
    history: dict[str, list[int]], database_url: str
) -> None:
    engine = db.obvo_engine(database_url, "obvo")
    holder = psycopg.connect(database_url)
    try:
        holder.execute("SET search_path TO obvo")
        holder.execute("SELECT pg_advisory_xact_lock(hashtext('obvo-retention:obvo'))")
        report = retention.purge(engine, 90)
        assert (report.busy, report.anonymised) == (True, 0)
        assert "another obvo process is purging too" in report.describe(dry_run=False)
        holder.rollback()
        assert retention.purge(engine, 90).anonymised > 0
    finally:
        holder.close()
        engine.dispose()


def test_the_daemon_purges_on_its_schedule(
    history: dict[str, list[int]], settings: Settings, database_url: str
) -> None:
    service = Service(settings)
    service.retention_delay = 0.2
    worker = threading.Thread(target=service.run, daemon=True)
    worker.start()
    try:
        wait_for(
            lambda: (
                rows(
                    database_url,
                    "SELECT count(*) AS n FROM obvo.notifications WHERE purged_at IS NOT NULL",
                )[0]["n"]
                > 0
            ),
            timeout=20,
        )
    finally:
        service.stop_event.set()
        worker.join(timeout=20)
        service.close()
    assert not worker.is_alive()
    purged = rows(database_url, "SELECT id FROM obvo.notifications WHERE purged_at IS NOT NULL")
    assert {r["id"] for r in purged} <= set(history["old"])


def test_obvo_purge_command(
    history: dict[str, list[int]],
    tmp_path: Path,
    database_url: str,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = Deployment(tmp_path, database_url, smtp_server, sms_gateway).config
    before = notifications(database_url)
    due = sum(1 for i in history["old"] if before[i]["status"] != "pending")
    code, output = run_cli(monkeypatch, capsys, config, "purge", "--dry-run")
    assert code == 0, output
    assert f"(90 days, [retention] message_days): {due} to anonymise" in output
    assert "(dry run: nothing changed)" in output
    assert "1 still open (pending, sending or held) are left until they end" in output
    assert notifications(database_url) == before
    code, output = run_cli(monkeypatch, capsys, config, "purge")
    assert code == 0, output
    assert f"anonymised {due}" in output
    # A longer limit reaches nothing of these.
    code, output = run_cli(monkeypatch, capsys, config, "purge", OBVO_RETENTION_MESSAGE_DAYS="365")
    assert code == 0
    assert ": 0 to anonymise\nanonymised 0" in output
