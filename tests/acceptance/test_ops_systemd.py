"""`obvo run` under a (simulated) systemd: the sd_notify datagrams on a NOTIFY_SOCKET the test
listens on, the watchdog cadence, SIGHUP reloads and the SIGTERM grace period."""

from __future__ import annotations

import itertools
import json
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acceptance.test_cli import OBVO, Deployment
from tests.ops_support import Daemon, NotifyListener
from tests.support import (
    EXAMPLE_RULES,
    SmsGateway,
    SmtpServer,
    Vopi,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def ready(
    tmp_path: Path, database_url: str, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> Deployment:
    deployment = Deployment(tmp_path, database_url, smtp_server, sms_gateway)
    result = deployment.run("rules", "apply", str(EXAMPLE_RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    return deployment


@pytest.fixture
def notify() -> Iterator[NotifyListener]:
    listener = NotifyListener()
    yield listener
    listener.close()


def start(deployment: Deployment, **env: str) -> Daemon:
    return Daemon([OBVO, "run"], cwd=deployment.directory, env={**deployment.env, **env})


def subscribe(deployment: Deployment, party: int, *channels: str) -> None:
    args = ["subscribers", "add", "--party", str(party)]
    for channel in channels:
        args += ["--email" if "@" in channel else "--phone", channel]
    result = deployment.run(*args)
    assert result.returncode == 0, result.stderr


def rows(database_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query, params).fetchall()


# ---- sd_notify ----


def test_ready_status_watchdog_and_stopping(
    ready: Deployment,
    notify: NotifyListener,
    vopi: Vopi,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    party = vopi.party()
    subscribe(ready, party, "janez@example.si", "041 123 456")
    refused = vopi.party()
    smtp_server.handler.refuse["nobody@example.si"] = "550 5.1.1 <nobody@example.si>: no such user"
    subscribe(ready, refused, "nobody@example.si")
    # WatchdogSec=2: pings are due at least every second.
    port = free_port()
    daemon = start(
        ready,
        NOTIFY_SOCKET=str(notify.path),
        WATCHDOG_USEC="2000000",
        OBVO_METRICS_LISTEN=f"127.0.0.1:{port}",
    )
    try:
        ready_at = wait_for(lambda: notify.with_field("READY"), timeout=30)[0].at
        first = notify.datagrams[0]
        assert first.fields["READY"] == "1", "nothing may come before READY=1"
        vopi.event("KLAS", vopi.application(party))
        last_event = vopi.event("KLAS", vopi.application(refused))
        wait_for(lambda: len(sms_gateway.messages) == 1 and len(smtp_server.messages) == 1)

        def settled_status() -> str | None:
            for datagram in reversed(notify.with_field("STATUS")):
                text = datagram.fields["STATUS"]
                if f"cursor {last_event}," in text and "0 pending" in text:
                    return text
            return None

        text = wait_for(settled_status, timeout=20)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
            exposed = page.read().decode("utf-8")
        assert 'obvo_notifications{channel="email",status="failed"} 1.0' in exposed
        assert "obvo_poller_active 1.0" in exposed
        assert text.startswith(f"polling; cursor {last_event}, lag 0 s (0 behind), holes 0; ")
        assert "0 pending, 1 failed in the last 3600 s; since start: sent 2," in text
        time.sleep(3.0)  # a few idle seconds: the pings go on
        pings = [d.at for d in notify.with_field("WATCHDOG") if d.at > ready_at]
        assert len(pings) >= 4
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        assert max(gaps) <= 1.0, f"watchdog gaps {gaps}"
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0, daemon.output
    finally:
        daemon.kill()
    # The refusal quoted the address; the log line says which failed, masked.
    failed = daemon.logged("notification.failed")
    assert failed[0]["to"] == "n***@example.si"
    for clear in ("nobody@example.si", "janez@example.si", "+38641123456"):
        assert clear not in daemon.output
    stopping = notify.with_field("STOPPING")
    assert stopping, "no STOPPING=1"
    assert stopping[0].fields["STATUS"].startswith("stopping (SIGTERM)")
    assert not [d for d in notify.datagrams if d.at > stopping[-1].at and "READY" in d.fields]


def test_no_ready_when_the_checks_fail(
    ready: Deployment, notify: NotifyListener, database_url: str
) -> None:
    text = ready.config.read_text(encoding="utf-8")
    ready.config.write_text(text.replace("e.created_at      AS occurred_at,", ""), "utf-8")
    daemon = start(ready, NOTIFY_SOCKET=str(notify.path))
    try:
        assert daemon.wait() == 78
    finally:
        daemon.kill()
    assert "occurred_at" in daemon.output
    assert notify.with_field("READY") == []
    assert rows(database_url, "SELECT count(*) FROM obvo.workers") == [(0,)]


# ---- SIGHUP ----


def test_sighup_reloads_config_dotenv_and_rules_and_keeps_a_broken_config_out(
    ready: Deployment,
    notify: NotifyListener,
    vopi: Vopi,
    sms_gateway: SmsGateway,
    database_url: str,
) -> None:
    party = vopi.party()
    subscribe(ready, party, "041 123 456")
    app = vopi.application(party)
    daemon = start(ready, NOTIFY_SOCKET=str(notify.path))
    stop_writing = threading.Event()
    written: list[int] = []

    def write_events() -> None:
        writer = Vopi(vopi.url)
        try:
            while not stop_writing.is_set():
                written.append(writer.event("KLAS", app))
                time.sleep(0.05)
        finally:
            writer.close()

    try:
        wait_for(lambda: notify.with_field("READY"), timeout=30)
        stream = threading.Thread(target=write_events, daemon=True)
        stream.start()
        wait_for(lambda: len(sms_gateway.messages) >= 3)
        assert {m.payload["sender"] for m in sms_gateway.messages} == {"KOPER"}
        # New sender id in the file, a new token in .env (a rotated secret).
        ready.config.write_text(
            ready.config.read_text(encoding="utf-8").replace(
                'sender = "KOPER"', 'sender = "IZOLA"'
            ),
            encoding="utf-8",
        )
        dotenv = ready.directory / ".env"
        dotenv.write_text(
            dotenv.read_text(encoding="utf-8").replace("from-dotenv", "rotated"), "utf-8"
        )
        daemon.signal(signal.SIGHUP)
        reloaded = daemon.wait_logged("config.reloaded")
        assert reloaded["restart_needed"] == []
        assert reloaded["event_types"] == 5
        count = len(sms_gateway.messages)
        wait_for(lambda: len(sms_gateway.messages) >= count + 3)
        latest = sms_gateway.messages[-1]
        assert latest.payload["sender"] == "IZOLA"
        assert latest.headers["Authorization"] == "Bearer rotated"
        # A broken file: logged, the running configuration stays.
        good = ready.config.read_text(encoding="utf-8")
        ready.config.write_text(good.replace("[delivery]", "[delivery]\nmax_attempt = 3"), "utf-8")
        daemon.signal(signal.SIGHUP)
        failed = daemon.wait_logged("config.reload_failed")
        assert "[delivery] unknown key 'max_attempt'" in failed["error"]
        count = len(sms_gateway.messages)
        wait_for(lambda: len(sms_gateway.messages) >= count + 3)
        assert sms_gateway.messages[-1].payload["sender"] == "IZOLA"
        stop_writing.set()
        stream.join(timeout=10)
        # One SMS per event written: wait until the last of them has gone out.
        wait_for(
            lambda: len({m.payload["reference"] for m in sms_gateway.messages}) >= len(written),
            timeout=30,
        )
        time.sleep(0.5)  # a duplicate would show up now
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0, daemon.output
    finally:
        stop_writing.set()
        daemon.kill()
    # Every event written during the reloads reached the phone exactly once.
    references = [m.payload["reference"] for m in sms_gateway.messages]
    assert len(references) == len(set(references)) == len(written)
    assert rows(database_url, "SELECT count(*) FROM obvo.notifications") == [(len(written),)]
    # systemd's reload protocol: RELOADING=1 (with the monotonic time), then READY=1 again.
    reloading = notify.with_field("RELOADING")
    assert len(reloading) == 2
    assert int(reloading[0].fields["MONOTONIC_USEC"]) > 0
    readies = notify.with_field("READY")
    assert len(readies) == 3
    assert all(any(r.at > d.at for r in readies) for d in reloading), (
        "READY=1 must follow each RELOADING=1"
    )


# ---- SIGTERM and the grace period ----


class SlowGateway:
    """An SMS gateway that takes `delay` seconds to answer; records each request on arrival."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.arrived: list[dict[str, Any]] = []
        self.release = threading.Event()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                gateway.arrived.append(json.loads(self.rfile.read(length)))
                gateway.release.wait(gateway.delay)
                body = b'{"id": "slow"}'
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_gateway() -> Iterator[SlowGateway]:
    gateway = SlowGateway(delay=2.0)
    yield gateway
    gateway.close()


def three_sms(ready: Deployment, vopi: Vopi, count: int = 3) -> None:
    party = vopi.party()
    subscribe(ready, party, "041 123 456")
    app = vopi.application(party)
    for _ in range(count):
        vopi.event("KLAS", app)


def test_sigterm_lets_the_messages_in_flight_finish_within_the_grace_period(
    ready: Deployment, vopi: Vopi, slow_gateway: SlowGateway, database_url: str
) -> None:
    three_sms(ready, vopi, count=5)
    daemon = start(
        ready,
        OBVO_SMS_URL=slow_gateway.url,
        OBVO_SMS_TIMEOUT="60",
        OBVO_DELIVERY_SHUTDOWN_GRACE="10",
        OBVO_DELIVERY_CONCURRENCY="3",
    )
    try:
        wait_for(lambda: len(slow_gateway.arrived) == 3, timeout=30)
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0, daemon.output
    finally:
        daemon.kill()
    states = rows(
        database_url, "SELECT status, attempts, claimed_by FROM obvo.notifications ORDER BY id"
    )
    # Three were in flight at once and answered within the grace period; two never started.
    assert sorted(states) == [("pending", 0, None)] * 2 + [("sent", 1, None)] * 3
    assert len(slow_gateway.arrived) == 3
    assert rows(database_url, "SELECT count(*) FROM obvo.workers") == [(0,)]
    assert daemon.logged("daemon.send_interrupted") == []


def test_sigterm_gives_up_a_hung_send_after_the_grace_period_and_releases_claims(
    ready: Deployment, vopi: Vopi, database_url: str, sms_gateway: SmsGateway
) -> None:
    hung = SlowGateway(delay=120.0)
    three_sms(ready, vopi)
    daemon = start(
        ready, OBVO_SMS_URL=hung.url, OBVO_SMS_TIMEOUT="300", OBVO_DELIVERY_SHUTDOWN_GRACE="1"
    )
    try:
        wait_for(lambda: len(hung.arrived) == 3, timeout=30)  # all three in flight at once
        asked = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0, daemon.output
        took = time.monotonic() - asked
    finally:
        daemon.kill()
        hung.close()
    assert took < 20, f"the daemon needed {took:.1f} s to stop (grace 1 s, gateway 120 s)"
    interrupted = daemon.wait_logged("daemon.send_interrupted")
    in_flight = sorted(int(a["reference"]) for a in hung.arrived)
    assert interrupted["notification_ids"] == in_flight
    released = daemon.wait_logged("notifications.released")
    assert released["count"] == 3
    states = rows(
        database_url,
        "SELECT id, status, attempts, claimed_by, last_error FROM obvo.notifications ORDER BY id",
    )
    # Each was being handed over: it keeps its attempt, with a note, and goes again.
    assert [s[0] for s in states] == in_flight
    assert [(s[1], s[2], s[3]) for s in states] == [("pending", 1, None)] * 3
    assert all("shutdown_grace over" in s[4] for s in states)
    assert rows(
        database_url,
        "SELECT notification_id, outcome FROM obvo.notification_attempts ORDER BY notification_id",
    ) == [(i, "taken_back") for i in in_flight]
    assert rows(database_url, "SELECT count(*) FROM obvo.workers") == [(0,)]
    # The next start (a working gateway) sends all three, each once.
    again = start(ready)
    try:
        wait_for(lambda: len(sms_gateway.messages) == 3, timeout=30)
        assert again.stop() == 0
    finally:
        again.kill()
    assert sorted(int(m.payload["reference"]) for m in sms_gateway.messages) == [
        s[0] for s in states
    ]
