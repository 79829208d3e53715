"""`obvo status` as a monitoring script uses it: exit 0 while a daemon runs, 1 with the reason
once it has stopped. The other reasons (lag, failures, a stale heartbeat, VOPI unreachable)
are tested in-process in tests/integration/test_ops_health.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.test_cli import OBVO, Deployment
from tests.ops_support import Daemon
from tests.support import EXAMPLE_RULES, SmsGateway, SmtpServer, wait_for


@pytest.fixture
def ready(
    tmp_path: Path, database_url: str, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> Deployment:
    deployment = Deployment(tmp_path, database_url, smtp_server, sms_gateway)
    for args in (("migrate",), ("rules", "apply", str(EXAMPLE_RULES))):
        result = deployment.run(*args)
        assert result.returncode == 0, result.stdout + result.stderr
    return deployment


def status(deployment: Deployment, *args: str, **env: str) -> tuple[int, str]:
    saved = dict(deployment.env)
    deployment.env.update(env)
    try:
        result = deployment.run("status", *args)
    finally:
        deployment.env = saved
    return result.returncode, result.stdout + result.stderr


def status_json(deployment: Deployment, **env: str) -> tuple[int, dict[str, Any]]:
    code, output = status(deployment, "--json", **env)
    report: dict[str, Any] = json.loads(output)
    return code, report


@pytest.mark.slow
def test_healthy_while_a_daemon_runs_and_unhealthy_when_none_does(ready: Deployment) -> None:
    daemon = Daemon([OBVO, "run"], cwd=ready.directory, env=ready.env)
    try:
        daemon.wait_logged("daemon.started")
        wait_for(lambda: daemon.logged("poller.active"), timeout=20)
        code, output = status(ready)
        assert code == 0, output
        assert output.startswith("health            ok\n")
    finally:
        assert daemon.stop() == 0
    code, report = status_json(ready)
    assert code == 1
    assert report["health"] == {
        "ok": False,
        "problems": ["no obvo daemon is running (no worker has registered a heartbeat)"],
    }
