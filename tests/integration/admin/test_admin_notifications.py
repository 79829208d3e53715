"""`obvo notifications list|show|retry|cancel` against a real outbox, SMTP server and VOPI."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.admin_helpers import Obvo, apply_example_rules, execute, rows, snapshot, write_config
from tests.support import SmsGateway, SmtpServer, Vopi
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service


@pytest.fixture
def obvo(tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> Obvo:
    apply_example_rules(database_url)
    return Obvo(write_config(tmp_path, database_url), capsys)


@pytest.fixture
def run_once(settings: Settings) -> Callable[[], None]:
    def run() -> None:
        service = Service(settings)
        try:
            service.run(once=True)
        finally:
            service.close()

    return run


@pytest.fixture
def citizen(obvo: Obvo, vopi: Vopi) -> dict[str, int]:
    party = vopi.party()
    app = vopi.application(party, case_number="354-300/2026")
    result = obvo(
        "subscribers", "add", "--party", str(party), "--email", "janez@example.si",
        "--phone", "041 123 456",
    )  # fmt: skip
    assert result.code == 0, result.err
    [(sid,)] = rows(obvo_url(obvo), "SELECT id FROM obvo.subscribers")
    return {"party": party, "application": app, "subscriber": int(sid)}


def obvo_url(obvo: Obvo) -> str:
    text = obvo.config.read_text(encoding="utf-8")
    return text.split('url = "', 1)[1].split('"', 1)[0]


def by_channel(database_url: str, event_id: int) -> dict[str, dict[str, object]]:
    found = rows(
        database_url,
        "SELECT id, channel, status, recipient, subject, body, last_error, attempts"
        " FROM obvo.notifications WHERE source_event_id = %s",
        (event_id,),
    )
    keys = ("id", "channel", "status", "recipient", "subject", "body", "last_error", "attempts")
    return {str(r[1]): dict(zip(keys, r, strict=True)) for r in found}


# ---- a template broken in SQL: failed with the reason, retried once fixed ----


def test_broken_template_fails_then_retry_renders_again_once_fixed(
    obvo: Obvo,
    vopi: Vopi,
    citizen: dict[str, int],
    database_url: str,
    smtp_server: SmtpServer,
    run_once: Callable[[], None],
) -> None:
    execute(
        database_url,
        "UPDATE obvo.templates SET email_body = 'Vloga {{ event.case_number }} {{ event.nope }}'"
        " WHERE event_type = 'KLAS' AND language = 'sl'",
    )
    event_id = vopi.event("KLAS", citizen["application"])
    run_once()
    email = by_channel(database_url, event_id)["email"]
    assert email["status"] == "failed"
    assert "event type KLAS: template email_body: undefined value" in str(email["last_error"])
    assert email["body"] is None
    assert smtp_server.messages == []

    before = snapshot(database_url)
    still = obvo("notifications", "retry", str(email["id"]))
    assert still.code == 1
    assert f"notification {email['id']} cannot be retried: still cannot render" in still.err
    assert snapshot(database_url) == before

    execute(
        database_url,
        "UPDATE obvo.templates SET email_body = 'Vloga {{ event.case_number }} je urejena.'"
        " WHERE event_type = 'KLAS' AND language = 'sl'",
    )
    result = obvo("notifications", "retry", "--failed", "--since", "1h", "--actor", "ana")
    assert result.code == 0, result.out + result.err
    assert "retried 1 notification(s), 1 with the text rendered again; they are due now" in (
        result.out
    )
    email = by_channel(database_url, event_id)["email"]
    assert (email["status"], email["attempts"], email["last_error"]) == ("pending", 0, None)
    assert email["body"] == "Vloga 354-300/2026 je urejena."
    run_once()
    [mail] = smtp_server.messages
    assert mail.body.strip() == "Vloga 354-300/2026 je urejena."
    assert rows(
        database_url, "SELECT actor, action, target FROM obvo.audit_log WHERE action LIKE 'notif%'"
    ) == [("ana", "notification.retry", f"notification:{email['id']}")]
    assert "no failed notifications" in obvo("notifications", "retry", "--failed").out


def test_retry_after_a_bounce_goes_to_the_corrected_address(
    obvo: Obvo,
    vopi: Vopi,
    citizen: dict[str, int],
    database_url: str,
    smtp_server: SmtpServer,
    run_once: Callable[[], None],
) -> None:
    smtp_server.handler.refuse["janez@example.si"] = "550 5.1.1 no such mailbox"
    event_id = vopi.event("ODLOC", citizen["application"])
    run_once()
    email = by_channel(database_url, event_id)["email"]
    assert email["status"] == "failed"
    obvo("subscribers", "update", "--party", str(citizen["party"]), "--email", "j@example.si")
    result = obvo("notifications", "retry", str(email["id"]))
    assert result.code == 0, result.err
    assert "retried 1 notification(s); they are due now" in result.out
    run_once()
    assert [m.recipients for m in smtp_server.messages] == [["j@example.si"]]

    shown = json.loads(obvo("notifications", "show", str(email["id"]), "--json").out)
    assert shown["status"] == "sent"
    assert [a["outcome"] for a in shown["attempt_history"]] == ["failed", "sent"]
    assert shown["attempt_history"][0]["error"].startswith("SMTP 550")
    assert [e["action"] for e in shown["audit"]] == ["notification.retry"]
    human = obvo("notifications", "show", str(email["id"])).out
    assert re.search(r"^status +sent$", human, re.MULTILINE)
    assert re.search(r"^recipient +j@example.si$", human, re.MULTILINE)
    attempts = human.split("\nattempts\n", 1)[1].splitlines()
    assert attempts[0].split() == ["#", "started", "finished", "result", "worker", "error"]
    assert " failed " in attempts[1] and "SMTP 550" in attempts[1]
    assert " sent " in attempts[2]
    assert "notification.retry" in human.split("administrative actions", 1)[1]


BAD_RETRIES = [
    (("--failed", "1"), "give one notification ID or --failed, not both"),
    ((), "give a notification ID, or --failed"),
    (("1", "--since", "2h"), "--since goes with --failed"),
    (("--failed", "--since", "gestern"), "--since: 'gestern' is not a time"),
    (("424242",), "ID: no notification with id 424242"),
]


def test_retry_refuses_bad_input(obvo: Obvo, database_url: str) -> None:
    for args, message in BAD_RETRIES:
        before = snapshot(database_url)
        result = obvo("notifications", "retry", *args)
        assert result.code == 78
        assert message in result.err
        assert snapshot(database_url) == before


def test_a_sent_notification_is_not_retried(
    obvo: Obvo,
    vopi: Vopi,
    citizen: dict[str, int],
    database_url: str,
    sms_gateway: SmsGateway,
    run_once: Callable[[], None],
) -> None:
    event_id = vopi.event("KLAS", citizen["application"])
    run_once()
    sms = by_channel(database_url, event_id)["sms"]
    before = snapshot(database_url)
    result = obvo("notifications", "retry", str(sms["id"]))
    assert result.code == 78
    assert f"notification {sms['id']} cannot be retried: it was sent already" in result.err
    assert snapshot(database_url) == before
    assert len(sms_gateway.messages) == 1


# ---- list ----


def test_list_filters_and_json(
    obvo: Obvo, vopi: Vopi, citizen: dict[str, int], database_url: str, run_once: Callable[[], None]
) -> None:
    other_party = vopi.party()
    other_app = vopi.application(other_party)
    obvo("subscribers", "add", "--party", str(other_party), "--phone", "040 222 333")
    first = vopi.event("KLAS", citizen["application"])
    vopi.event("KLAS", other_app)
    run_once()
    everything = obvo("notifications", "list")
    lines = everything.out.splitlines()
    assert lines[0].split()[:5] == ["id", "created", "event", "type", "case"]
    assert len(lines) == 4  # header + 3 notifications
    mine = json.loads(
        obvo(
            "notifications", "list", "--subscriber", str(citizen["subscriber"]), "--json"
        ).out
    )  # fmt: skip
    assert {(n["channel"], n["source_event_id"]) for n in mine} == {
        ("email", first),
        ("sms", first),
    }
    by_case = json.loads(obvo("notifications", "list", "--case", str(other_app), "--json").out)
    assert [(n["channel"], n["status"]) for n in by_case] == [("sms", "sent")]
    assert json.loads(obvo("notifications", "list", "--status", "failed", "--json").out) == []
    assert len(json.loads(obvo("notifications", "list", "--since", "1h", "--json").out)) == 3
    assert json.loads(obvo("notifications", "list", "--since", "2999-01-01", "--json").out) == []
    assert (
        len(json.loads(obvo("notifications", "list", "--until", "2999-01-01", "--json").out)) == 3
    )
    assert json.loads(obvo("notifications", "list", "--until", "1h", "--json").out) == []
    limited = obvo("notifications", "list", "--limit", "2")
    assert "(the newest 2; --limit N for more)" in limited.out


BAD_LISTS = [
    (("--status", "lost"), "--status must be one of pending, sending, sent", 78),
    (("--since", "soon"), "--since: 'soon' is not a time", 78),
    (("--subscriber", "x"), "argument --subscriber: invalid int value: 'x'", 2),
    (("--limit", "0"), "argument --limit: '0' must be at least 1", 2),
    (("--case", " "), "--case must not be empty", 78),
    (("--until", "later"), "--until: 'later' is not a time", 78),
    (("--since", "1h", "--until", "2h"), "--until must be later than --since", 78),
]


def test_list_refuses_bad_input(obvo: Obvo) -> None:
    for args, message, code in BAD_LISTS:
        result = obvo("notifications", "list", *args)
        assert result.code == code
        assert message in result.err


def test_show_unknown(obvo: Obvo) -> None:
    result = obvo("notifications", "show", "424242")
    assert result.code == 78
    assert "ID: no notification with id 424242" in result.err


# ---- cancel ----


def test_cancel_pending_held_and_failed_but_not_sent(
    obvo: Obvo, vopi: Vopi, citizen: dict[str, int], database_url: str, settings: Settings
) -> None:
    service = Service(settings)
    try:
        event_id = vopi.event("KLAS", citizen["application"])
        service.poller.poll_once()
    finally:
        service.close()
    ids = by_channel(database_url, event_id)
    email_id, sms_id = int(str(ids["email"]["id"])), int(str(ids["sms"]["id"]))
    result = obvo("notifications", "cancel", str(email_id), "--actor", "ana")
    assert result.code == 0, result.err
    assert f"cancelled notification {email_id} (was pending)" in result.out
    execute(database_url, "UPDATE obvo.notifications SET status = 'held' WHERE id = %s", (sms_id,))
    assert obvo("notifications", "cancel", str(sms_id)).code == 0
    assert {str(r["status"]) for r in by_channel(database_url, event_id).values()} == {"cancelled"}
    assert rows(
        database_url, "SELECT action, detail->>'previous_status' FROM obvo.audit_log ORDER BY id"
    )[-2:] == [("notification.cancel", "pending"), ("notification.cancel", "held")]

    execute(database_url, "UPDATE obvo.notifications SET status = 'sent' WHERE id = %s", (sms_id,))
    before = snapshot(database_url)
    for args, message in [
        ((str(sms_id),), f"notification {sms_id} is sent; only pending, held or failed"),
        ((str(sms_id), "--event-type", "KLAS"), "not both"),
        ((), "give a notification ID, or --event-type CODE"),
        (("424242",), "ID: no notification with id 424242"),
    ]:
        refused = obvo("notifications", "cancel", *args)
        assert refused.code == 78, args
        assert message in refused.err
    assert snapshot(database_url) == before
    # A cancelled one can be sent after all.
    again = obvo("notifications", "retry", str(email_id))
    assert again.code == 0, again.err
