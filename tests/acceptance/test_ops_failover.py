"""Two `obvo run` processes against the same databases (a standby server): exactly one polls,
both send; kill -9 of the active one, and the other takes over polling within a few poll
intervals, with nothing lost and nothing sent twice except what was in flight at the kill."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.acceptance.test_cli import OBVO, Deployment
from tests.ops_support import Daemon
from tests.support import EXAMPLE_RULES, SmsGateway, SmtpServer, Vopi, wait_for

pytestmark = pytest.mark.slow

POLL_INTERVAL = 0.2  # the Deployment's [source] poll_interval
EVENTS = 120


@pytest.fixture
def ready(
    tmp_path: Path, database_url: str, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> Deployment:
    deployment = Deployment(tmp_path, database_url, smtp_server, sms_gateway)
    # Small claims, so that both processes get work while a stream comes in.
    deployment.env["OBVO_DELIVERY_BATCH_SIZE"] = "3"
    for args in (("rules", "apply", str(EXAMPLE_RULES)),):
        result = deployment.run(*args)
        assert result.returncode == 0, result.stdout + result.stderr
    return deployment


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.kill()


def test_standby_takes_over_after_kill_9_without_loss_or_unexplained_duplicates(
    ready: Deployment,
    vopi: Vopi,
    database_url: str,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    daemons: list[Daemon],
) -> None:
    party = vopi.party()
    app = vopi.application(party)
    added = ready.run(
        "subscribers",
        "add",
        "--party",
        str(party),
        "--email",
        "j@example.si",
        "--phone",
        "041 123 456",
    )
    assert added.returncode == 0, added.stderr

    first = Daemon([OBVO, "run"], cwd=ready.directory, env=ready.env, name="first")
    daemons.append(first)
    first.wait_logged("poller.active")
    second = Daemon([OBVO, "run"], cwd=ready.directory, env=ready.env, name="second")
    daemons.append(second)
    second.wait_logged("daemon.started")

    def write() -> None:
        writer = Vopi(vopi.url)
        try:
            for _ in range(EVENTS):
                writer.event("KLAS", app)
                time.sleep(1 / 40)
        finally:
            writer.close()

    stream = threading.Thread(target=write, daemon=True)
    stream.start()
    wait_for(lambda: len(sms_gateway.messages) >= 40, timeout=60)
    assert second.logged("poller.active") == [], "the standby must not poll while the first does"
    first.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    first.wait(timeout=10)
    second.wait_logged("poller.active", timeout=30)
    took_over = (second.first_logged_at("poller.active") or 0.0) - killed_at
    stream.join(timeout=60)

    with psycopg.connect(database_url) as conn:
        event_ids = {int(r[0]) for r in conn.execute("SELECT id FROM vopi.event_log")}
    assert len(event_ids) == EVENTS

    def all_delivered() -> bool:
        refs = {m.payload["reference"] for m in sms_gateway.messages}
        mail = {str(m.message["Message-ID"]) for m in smtp_server.messages}
        return len(refs) >= EVENTS and len(mail) >= EVENTS

    wait_for(all_delivered, timeout=90)
    time.sleep(1.0)  # anything extra would arrive now
    assert second.stop() == 0, second.output

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id, source_event_id, channel, status FROM obvo.notifications"
        ).fetchall()
        attempts = conn.execute(
            "SELECT notification_id, worker_id, outcome FROM obvo.notification_attempts"
        ).fetchall()
    # Nothing lost: one sent notification per event and channel.
    assert {r[3] for r in rows} == {"sent"}
    assert sorted((r[1], r[2]) for r in rows) == sorted(
        (e, c) for e in event_ids for c in ("email", "sms")
    )
    by_id = {int(r[0]): r for r in rows}
    sms_sent = Counter(int(m.payload["reference"]) for m in sms_gateway.messages)
    mail_sent = Counter(
        int(str(m.message["Message-ID"]).split(".")[1].split("@")[0]) for m in smtp_server.messages
    )
    assert set(sms_sent) == {i for i, r in by_id.items() if r[2] == "sms"}
    assert set(mail_sent) == {i for i, r in by_id.items() if r[2] == "email"}
    # Sent twice only what the killed process had in hand: taken back from it, sent again.
    taken_back = {int(a[0]) for a in attempts if a[2] == "taken_back"}
    twice = {i for i, n in (sms_sent + mail_sent).items() if n > 1}
    assert twice <= taken_back
    assert len(taken_back) <= 2 * 3  # at most one claim per channel (batch_size 3)
    assert max((sms_sent + mail_sent).values()) <= 2
    # Both processes sent; exactly one polled at a time.
    senders = {str(a[1]).split("/")[1] for a in attempts if a[2] == "sent"}
    assert senders == {str(first.pid), str(second.pid)}
    assert len(first.logged("poller.active")) == 1
    assert len(second.logged("poller.active")) == 1
    # Within a few poll intervals (PostgreSQL frees the dead session's advisory lock as soon
    # as its connection drops).
    assert took_over < 10 * POLL_INTERVAL, f"took over after {took_over:.2f} s"
