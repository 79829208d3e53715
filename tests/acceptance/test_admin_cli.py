"""The administrator's and clerk's commands through the installed `obvo`, as deployed."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.acceptance.test_cli import OBVO, Deployment
from tests.support import EXAMPLE_RULES, SmsGateway, SmtpServer, Vopi


@pytest.fixture
def ready(
    tmp_path: Path, database_url: str, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> Deployment:
    deployment = Deployment(tmp_path, database_url, smtp_server, sms_gateway)
    for args in (("migrate",), ("rules", "apply", str(EXAMPLE_RULES))):
        result = deployment.run(*args)
        assert result.returncode == 0, result.stderr
    return deployment


@pytest.mark.slow
def test_rules_dump_apply_round_trip_and_diff(ready: Deployment, tmp_path: Path) -> None:
    dumped = tmp_path / "rules.toml"
    assert ready.run("rules", "dump", "-o", str(dumped)).returncode == 0
    again = ready.run("rules", "apply", str(dumped))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1].endswith("nothing changed")
    assert ready.run("rules", "diff", str(dumped)).returncode == 0
    dumped.write_text(
        dumped.read_text(encoding="utf-8").replace('kind = "notify"', 'kind = "key"', 1),
        encoding="utf-8",
    )
    diff = ready.run("rules", "diff", str(dumped))
    assert diff.returncode == 1
    assert "kind notify → key" in diff.stdout
    check = ready.run("rules", "check", "--sample")
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
def test_a_template_broken_in_sql_is_failed_then_retried_once_fixed(
    ready: Deployment, vopi: Vopi, database_url: str, smtp_server: SmtpServer
) -> None:
    party = vopi.party()
    app = vopi.application(party)
    assert ready.run(
        "subscribers", "add", "--party", str(party), "--email", "a@example.si"
    ).returncode == 0  # fmt: skip
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE obvo.templates SET email_subject = '{{ event.case_number '"
            " WHERE event_type = 'KLAS' AND language = 'sl'"
        )
    status = ready.run("status")
    assert "invalid rules     1 event type(s)" in status.stdout
    assert "KLAS" in status.stdout
    vopi.event("KLAS", app)
    once = ready.run("once")
    assert once.returncode == 0
    assert "rules.invalid_row" in once.stdout
    [failed] = json.loads(ready.run("notifications", "list", "--status", "failed", "--json").stdout)
    assert "syntax error" in failed["last_error"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE obvo.templates SET email_subject = 'Vloga {{ event.case_number }}'"
            " WHERE event_type = 'KLAS' AND language = 'sl'"
        )
    retry = ready.run("notifications", "retry", "--failed", "--actor", "ana")
    assert retry.returncode == 0, retry.stderr
    assert ready.run("once").returncode == 0
    [mail] = smtp_server.messages
    assert mail.subject == f"Vloga 354-{app}/2026"
    shown = json.loads(ready.run("notifications", "show", str(failed["id"]), "--json").stdout)
    assert shown["status"] == "sent"
    audit = json.loads(ready.run("audit", "--json").stdout)
    assert ("ana", "notification.retry") in {(e["actor"], e["action"]) for e in audit}


@pytest.mark.slow
def test_import_reports_lines_and_applies_the_valid_rows(
    ready: Deployment, tmp_path: Path, database_url: str
) -> None:
    csv = tmp_path / "prijave.csv"
    csv.write_bytes(
        "\ufeffparty;email;phone;events;language;origin;reference\r\n"
        "7;janez@example.si;041 123 456;all;sl;written;354-7/2026\r\n"
        "8;ana@;;;;;\r\n"
        "9;;040 222 333;key;it;e_vloga;\r\n".encode()
    )
    dry = ready.run("subscribers", "import", str(csv), "--dry-run")
    assert dry.returncode == 1
    assert "2 row(s) valid, 1 invalid (dry run: nothing written)" in dry.stdout
    result = ready.run("subscribers", "import", str(csv))
    assert result.returncode == 1
    problem = result.stdout.splitlines()[1].split(None, 1)
    assert problem[0] == "3"
    assert problem[1].startswith("column email: invalid e-mail address 'ana@'")
    listed = json.loads(ready.run("subscribers", "list", "--json").stdout)
    assert [(s["party"], s["origin"]) for s in listed] == [("7", "written"), ("9", "e_vloga")]


def _run_in_terminal(deployment: Deployment, args: list[str], answer: str) -> tuple[int, str]:
    """Run obvo with a pseudo-terminal as stdin/stdout, typing `answer` at the prompt."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [OBVO, *args],
        cwd=deployment.directory,
        env=deployment.env,
        stdin=child,
        stdout=child,
        stderr=child,
    )
    os.close(child)
    output = b""
    deadline = time.monotonic() + 30
    answered = False
    while time.monotonic() < deadline:
        ready_to_read, _, _ = select.select([main], [], [], 0.2)
        if ready_to_read:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if not answered and b"to confirm:" in output:
            os.write(main, answer.encode() + b"\n")
            answered = True
        if process.poll() is not None and not ready_to_read:
            break
    process.wait(timeout=10)
    os.close(main)
    return process.returncode, output.decode(errors="replace")


@pytest.mark.slow
def test_forget_asks_for_confirmation_in_a_terminal(ready: Deployment, database_url: str) -> None:
    assert (
        ready.run("subscribers", "add", "--party", "7", "--email", "a@example.si").returncode == 0
    )
    code, output = _run_in_terminal(ready, ["subscribers", "forget", "--party", "7"], "8")
    assert code == 78, output
    assert "permanently erases subscriber" in output
    assert "not confirmed: nothing was erased" in output
    code, output = _run_in_terminal(ready, ["subscribers", "forget", "--party", "7"], "7")
    assert code == 0, output
    assert "erased subscriber" in output
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM obvo.subscribers").fetchone() == (0,)
        actions = conn.execute("SELECT action FROM obvo.audit_log ORDER BY id").fetchall()
    assert actions[-1] == ("subscriber.forget",)
