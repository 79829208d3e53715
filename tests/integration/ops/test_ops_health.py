"""`obvo status` exits 1 and says why: lag over [health] max_lag_seconds, failures over
max_failed within failed_window, no live daemon heartbeat, VOPI unreachable. The real CLI
code runs in this process against a real database, SMTP server and VOPI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from tests.acceptance.test_cli import Deployment
from tests.integration.test_pipeline import apply_rules, subscribe
from tests.ops_support import run_cli
from tests.support import SmsGateway, SmtpServer, Vopi, free_port
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service

NO_DAEMON_CHECK = {"OBVO_HEALTH_MAX_HEARTBEAT_AGE": "0"}


@pytest.fixture
def config(
    tmp_path: Path,
    database_url: str,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    settings: Settings,
) -> Path:
    apply_rules(settings)
    return Deployment(tmp_path, database_url, smtp_server, sms_gateway).config


@pytest.fixture
def status(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    def run(*args: str, **env: str) -> tuple[int, str]:
        return run_cli(monkeypatch, capsys, config, "status", *args, **env)

    return run


def run_once(settings: Settings) -> None:
    service = Service(settings)
    try:
        service.run(once=True)
    finally:
        service.close()


def execute(database_url: str, statement: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(statement)


def test_a_stale_heartbeat_is_unhealthy(status: Any, database_url: str) -> None:
    execute(
        database_url,
        "INSERT INTO obvo.workers (id, hostname, pid, heartbeat_at)"
        " VALUES ('gone/1/abc', 'gone', 1, now() - interval '10 minutes')",
    )
    code, output = status()
    assert code == 1
    assert output.startswith("health            UNHEALTHY\n  - no live obvo daemon: ")
    assert re.search(
        r"the newest heartbeat is 60\d s old, over \[health\] max_heartbeat_age = 120", output
    ), output
    code, output = status(OBVO_HEALTH_MAX_HEARTBEAT_AGE="900")
    assert code == 0, output
    assert output.startswith("health            ok\n")


def test_no_daemon_at_all_is_unhealthy_unless_the_check_is_off(status: Any) -> None:
    code, output = status("--json")
    assert code == 1
    assert json.loads(output)["health"] == {
        "ok": False,
        "problems": ["no obvo daemon is running (no worker has registered a heartbeat)"],
    }
    assert status(**NO_DAEMON_CHECK)[0] == 0


def test_lag_over_the_limit_is_unhealthy_until_the_events_are_read(
    status: Any, vopi: Vopi, settings: Settings
) -> None:
    run_once(settings)  # the cursor exists from now on
    app = vopi.application(vopi.party())
    vopi.conn.execute(
        "INSERT INTO vopi.event_log (event_type_code, application_id, created_at)"
        " VALUES ('VLOZ', %s, now() - interval '1 hour'), ('KLAS', %s, now())",
        (app, app),
    )
    code, output = status(**NO_DAEMON_CHECK)
    assert code == 1
    assert re.search(
        r"  - lag 360\d s \(2 event\(s\) not read\) is over \[health\] max_lag_seconds = 300",
        output,
    ), output
    code, output = status(OBVO_HEALTH_MAX_LAG_SECONDS="7200", **NO_DAEMON_CHECK)
    assert code == 0, output
    assert status(OBVO_HEALTH_MAX_LAG_SECONDS="0", **NO_DAEMON_CHECK)[0] == 0  # check off
    run_once(settings)
    code, output = status("--json", **NO_DAEMON_CHECK)
    assert code == 0, output
    report = json.loads(output)
    assert report["lag"] == {
        "newest_event_id": report["cursor"]["event_id"],
        "events_behind": 0,
        "seconds": 0.0,
    }


def test_failures_over_the_limit_within_the_window_are_unhealthy(
    status: Any,
    vopi: Vopi,
    settings: Settings,
    smtp_server: SmtpServer,
    database_url: str,
) -> None:
    env = {**NO_DAEMON_CHECK, "OBVO_HEALTH_MAX_FAILED": "2"}
    for n in range(3):
        party = vopi.party()
        address = f"nobody{n}@example.si"
        smtp_server.handler.refuse[address] = "550 5.1.1 no such user"
        subscribe(settings, party, email=address)
        vopi.event("KLAS", vopi.application(party))
    run_once(settings)
    code, output = status("--json", **env)
    assert code == 1
    report = json.loads(output)
    assert report["health"]["problems"] == [
        "3 notification(s) failed in the last 3600 s, over [health] max_failed = 2 "
        "(see `obvo status`, the log's notification.failed lines)"
    ]
    assert report["failed_recent"] == {"window_seconds": 3600.0, "count": 3}
    assert status(**{**env, "OBVO_HEALTH_MAX_FAILED": "3"})[0] == 0
    # Failures older than the window no longer count.
    execute(database_url, "UPDATE obvo.notifications SET updated_at = now() - interval '2 hours'")
    code, output = status(**env)
    assert code == 0, output
    assert "failed recently   0 in the last 3600 s" in output


def test_vopi_unreachable_is_unhealthy(status: Any, settings: Settings) -> None:
    run_once(settings)
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    code, output = status(OBVO_SOURCE_URL=dead, **NO_DAEMON_CHECK)
    assert code == 1
    assert "  - VOPI cannot be read, so the lag is unknown: connection failed" in output


def test_obvo_database_unreachable_exits_69(
    tmp_path: Path,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    config = Deployment(tmp_path, dead, smtp_server, sms_gateway).config
    code, output = run_cli(monkeypatch, capsys, config, "status")
    assert code == 69
    assert "obvo: error: cannot reach the database" in output


def test_check_warns_about_a_world_readable_config_with_a_password(
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config.write_text(
        config.read_text(encoding="utf-8").replace('password = ""', 'password = "geslo"'),
        encoding="utf-8",
    )
    config.chmod(0o644)
    code, output = run_cli(monkeypatch, capsys, config, "check")
    assert code == 0, output
    assert f"warning: {config} can be read by every user of this machine (mode 0644)" in output
    assert "holds [email] password" in output
    assert f"warning: {config.parent / '.env'} can be read" in output  # OBVO_SMS_TOKEN
    config.chmod(0o600)
    (config.parent / ".env").chmod(0o600)
    code, output = run_cli(monkeypatch, capsys, config, "check")
    assert code == 0, output
    assert "warning:" not in output


def test_the_poller_lock_of_a_vanished_host_is_freed_within_seconds(settings: Settings) -> None:
    """A standby takes over when the active host dies silently (power, network) only once
    PostgreSQL ends that host's session: server-side keepalives make that ~25 s."""
    service = Service(settings)
    try:
        with service.obvo.connect() as conn:
            values = [
                conn.execute(sa.text(f"SHOW {name}")).scalar()
                for name in (
                    "tcp_keepalives_idle",
                    "tcp_keepalives_interval",
                    "tcp_keepalives_count",
                )
            ]
    finally:
        service.close()
    assert values == ["10", "5", "3"]
