"""The installed `obvo`: SMS length warnings in `rules apply`, a storm in `status`, and
`notifications release|cancel --event-type`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import psycopg
import pytest
import tomli_w

from tests.acceptance.test_cli import Deployment, count_rows
from tests.support import EXAMPLE_RULES, SmsGateway, SmtpServer, Vopi


@pytest.fixture
def deployment(
    tmp_path: Path, database_url: str, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> Deployment:
    return Deployment(tmp_path, database_url, smtp_server, sms_gateway)


def test_rules_apply_warns_about_long_sms_but_applies(
    deployment: Deployment, database_url: str
) -> None:
    assert deployment.run("migrate").returncode == 0
    document = tomllib.loads(EXAMPLE_RULES.read_text(encoding="utf-8"))
    for entry in document["event_types"]:
        if entry["code"] == "DODELJ":
            entry["templates"]["sl"]["sms"] = (
                "Vlogo {{ event.case_number }} rešuje {{ event.clerk_name }}. " * 6
            )
    rules = deployment.directory / "rules.toml"
    rules.write_text(tomli_w.dumps(document), encoding="utf-8")
    deployment.env["OBVO_SMS_MAX_SEGMENTS"] = "2"
    result = deployment.run("rules", "apply", str(rules))
    assert result.returncode == 0, result.stderr
    assert f"applied {rules}" in result.stdout
    assert (
        "obvo: warning: event type DODELJ, language sl: the SMS rendered with sample values "
        "needs 4 parts (ucs2"
    ) in result.stderr
    assert "more than [sms] max_segments = 2" in result.stderr
    assert count_rows(database_url, "event_types") == 5


@pytest.mark.slow
def test_a_storm_is_shown_and_decided_from_the_command_line(
    deployment: Deployment, vopi: Vopi, database_url: str, smtp_server: SmtpServer
) -> None:
    for args in (("migrate",), ("rules", "apply", str(EXAMPLE_RULES))):
        assert deployment.run(*args).returncode == 0
    deployment.env["OBVO_DELIVERY_STORM_THRESHOLD"] = "3"
    party = vopi.party()
    app = vopi.application(party)
    added = deployment.run("subscribers", "add", "--party", str(party), "--email", "a@example.si")
    assert added.returncode == 0, added.stderr
    vopi.events("VLOZ", app, 5)
    vopi.events("DODELJ", app, 4)
    assert deployment.run("once").returncode == 0
    assert smtp_server.messages == []

    status = deployment.run("status")  # exit 1: no daemon runs here (health)
    assert status.stderr == ""
    assert "STORM             DODELJ: 4 notifications in the minute" in status.stdout
    assert "STORM             VLOZ: 4 notifications in the minute" in status.stdout
    assert "obvo notifications release --event-type VLOZ" in status.stdout
    released = deployment.run("notifications", "release", "--event-type", "VLOZ")
    assert released.returncode == 0, released.stderr
    assert released.stdout.startswith(
        "released 5 held notification(s) of event type VLOZ (due now); its storm is over"
    )
    cancelled = deployment.run(
        "notifications", "cancel", "--event-type", "DODELJ", "--actor", "ana"
    )
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.startswith("cancelled 4 held notification(s) of event type DODELJ")
    assert deployment.run("once").returncode == 0
    assert len(smtp_server.messages) == 5
    with psycopg.connect(database_url) as conn:
        states: dict[str, int] = dict(
            conn.execute(
                "SELECT event_type || '/' || status, count(*) FROM obvo.notifications GROUP BY 1"
            ).fetchall()
        )
        audit = conn.execute(
            "SELECT actor, action, target FROM obvo.audit_log"
            " WHERE action LIKE 'notifications.%' ORDER BY id"
        ).fetchall()
    assert states == {"VLOZ/sent": 5, "DODELJ/cancelled": 4}
    assert audit[-1] == ("ana", "notifications.cancel", "event_type:DODELJ")
    assert audit[-2][1:] == ("notifications.release", "event_type:VLOZ")
    assert count_rows(database_url, "storms") == 0

    again = deployment.run("notifications", "release", "--event-type", "VLOZ")
    assert (again.returncode, again.stdout.strip()) == (0, "nothing is held for event type VLOZ")
    # Bad input: named, exit 78, nothing changed.
    unknown = deployment.run("notifications", "release", "--event-type", "VLZO")
    assert unknown.returncode == 78
    assert "--event-type VLZO: no such event type in the rules (known: DODELJ, KLAS," in (
        unknown.stderr
    )
    missing = deployment.run("notifications", "cancel")
    assert missing.returncode == 78
    assert "--event-type CODE" in missing.stderr
