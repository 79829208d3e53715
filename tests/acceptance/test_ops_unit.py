"""The systemd unit as shipped: `systemd-analyze verify` accepts it (with ExecStart pointing at
this test's installed obvo), without a single warning, and its settings match the code."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.acceptance.test_cli import OBVO
from tests.support import ROOT
from vopi_obvo.config import DeliverySettings
from vopi_obvo.errors import ExitCode

UNIT = ROOT / "obvo.service"


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    text = UNIT.read_text(encoding="utf-8").replace("/opt/obvo/bin/obvo", OBVO)
    assert OBVO in text
    copy = tmp_path / "obvo.service"
    copy.write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Unknown keys and unparsable values are only warnings (exit 0): none is allowed.
    assert result.stderr.strip() == "", result.stderr


def test_the_unit_matches_the_code() -> None:
    unit = directives()
    assert unit["Type"] == ["notify"]
    assert str(int(ExitCode.CONFIG)) in unit["RestartPreventExitStatus"][0].split()
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert int(unit["WatchdogSec"][0]) >= 30
    assert int(unit["TimeoutStopSec"][0]) > DeliverySettings().shutdown_grace + 10
    for hardening in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert unit[hardening] == ["yes"], hardening
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["User"] == ["obvo"]
    assert unit["EnvironmentFile"] == ["/etc/obvo/obvo.env"]
