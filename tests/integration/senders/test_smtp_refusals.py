"""Replies about OBVO itself are configuration errors, never a citizen's failure; servers and
gateways that break mid-conversation lose nothing. A real aiosmtpd and HTTP gateway."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.delivery.test_claims import delivered_ids, stream_of
from tests.integration.test_pipeline import attempts, notifications
from tests.support import SmsGateway, SmtpServer, Vopi, wait_for
from tests.support_tls import TlsSmtpServer, make_certificates
from vopi_obvo.config import EmailSettings, HealthSettings, Settings
from vopi_obvo.daemon import Service
from vopi_obvo.ops.status import format_status, gather_status
from vopi_obvo.senders import ConfigurationFailure, PermanentFailure, SendError
from vopi_obvo.senders.email import EmailSender

from .test_email_smtp import message


def refusal(server: SmtpServer) -> SendError:
    sender = EmailSender(EmailSettings(port=server.port, timeout=5.0))
    try:
        with pytest.raises(SendError) as info:
            sender.send(message(recipient="ana@example.si"))
    finally:
        sender.close()
    return info.value


def test_a_refused_sender_is_a_configuration_error(smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse_mail = "550 5.7.1 <obvestila@koper.si>: Sender address rejected"
    error = refusal(smtp_server)
    assert isinstance(error, ConfigurationFailure)
    assert not error.permanent
    assert "refused the sender" in str(error)
    assert "[email] sender" in str(error)


def test_relay_denied_at_rcpt_is_a_configuration_error(smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse["ana@example.si"] = "554 5.7.1 <ana@example.si>: Relay access denied"
    error = refusal(smtp_server)
    assert isinstance(error, ConfigurationFailure)
    assert "does not relay for OBVO" in str(error)


def test_an_unknown_recipient_stays_permanent(smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse["ana@example.si"] = "550 5.1.1 <ana@example.si>: no such user"
    error = refusal(smtp_server)
    assert isinstance(error, PermanentFailure)
    assert not error.configuration


def test_auth_required_and_refused_are_configuration_errors(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    server = TlsSmtpServer(certs, "starttls", users={"obvestila": "pravo"})
    server.start()
    try:
        for username, password in (("", ""), ("obvestila", "napačno")):
            sender = EmailSender(
                EmailSettings(
                    port=server.port,
                    security="starttls",
                    ca_file=str(certs.ca_file),
                    username=username,
                    password=password,
                    timeout=5.0,
                )
            )
            with pytest.raises(ConfigurationFailure):
                sender.send(message())
            sender.close()
    finally:
        server.stop()
    assert server.messages == []


def test_a_refused_sender_fails_no_citizen_and_shows_in_status(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
) -> None:
    max_attempts = 2
    settings = make_settings(delivery__max_attempts=max_attempts)
    stream_of(vopi, settings, 3)
    smtp_server.handler.refuse_mail = "550 5.7.1 Sender address rejected: not owned by you"
    service = Service(settings)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:

        def configuration_attempts() -> int:
            return len([a for r in notifications(settings) for a in attempts(settings, r["id"])])

        # More refusals than max_attempts would allow a citizen's message.
        wait_for(lambda: configuration_attempts() > 3 * max_attempts, timeout=30)
        rows = notifications(settings)
        assert {(r["status"], r["attempts"]) for r in rows} <= {
            ("pending", 0),
            ("sending", 1),
        }
        report = wait_for(lambda: problem_reported(service))
        assert not report["health"]["ok"]
        assert "configuration error" in format_status(report)

        smtp_server.handler.refuse_mail = None  # the administrator fixed [email] sender
        wait_for(lambda: {r["status"] for r in notifications(settings)} == {"sent"}, timeout=30)
        wait_for(lambda: problem_reported(service) is None)
    finally:
        service.stop_event.set()
        thread.join(timeout=20)
        service.close()
    assert delivered_ids(smtp_server) == [r["id"] for r in notifications(settings)]


def problem_reported(service: Service) -> dict[str, Any] | None:
    report = gather_status(service.obvo, None, HealthSettings())
    problems = [w["problem"] for w in report["workers"] if w["problem"]]
    if problems:
        assert "Sender address rejected" in problems[0]
        return report
    return None


def test_a_connection_cut_mid_data_is_retried_and_nothing_is_lost(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings()
    stream_of(vopi, settings, 4)
    smtp_server.handler.drop_in_data = 1
    service = Service(settings)
    try:
        service.run(once=True)
        service.dispatcher._paused_until.clear()
        while {r["status"] for r in notifications(settings)} != {"sent"}:
            service.run(once=True)  # the cut one is due again after retry_initial_delay
    finally:
        service.close()
    rows = notifications(settings)
    assert delivered_ids(smtp_server) == [r["id"] for r in rows]
    cut = [r for r in rows if r["attempts"] == 2]
    assert len(cut) == 1
    assert [o for _, o, _ in attempts(settings, cut[0]["id"])] == ["retry", "sent"]


def test_a_gateway_answering_garbage_loses_nothing(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    sms_gateway: SmsGateway,
) -> None:
    settings = make_settings()
    stream_of(vopi, settings, 3, phone="+38641123456")
    sms_gateway.garbage = 1
    service = Service(settings)
    try:
        while {r["status"] for r in notifications(settings)} != {"sent"}:
            service.run(once=True)
            service.dispatcher._paused_until.clear()
    finally:
        service.close()
    rows = notifications(settings)
    assert sorted(int(m.payload["reference"]) for m in sms_gateway.messages) == [
        r["id"] for r in rows
    ]
    [retried] = [r for r in rows if r["attempts"] == 2]
    [(_, outcome, error), _] = attempts(settings, retried["id"])
    assert outcome == "retry"
    assert "SMS gateway unreachable" in (error or "")
