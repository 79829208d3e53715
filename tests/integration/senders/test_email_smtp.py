"""E-mail as mail servers and people expect it, on a real aiosmtpd: MIME, headers, TLS, AUTH."""

from __future__ import annotations

import copy
import email
import email.policy
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import psycopg
import pytest

from tests.integration.test_pipeline import apply_rules, notifications, subscribe
from tests.support import EXAMPLE_RULES, SmtpServer, Vopi
from tests.support_tls import CertFiles, TlsSmtpServer, make_certificates
from vopi_obvo.config import EmailSettings, Settings
from vopi_obvo.daemon import Service
from vopi_obvo.messages import unsubscribe
from vopi_obvo.senders import OutgoingMessage, TemporaryFailure
from vopi_obvo.senders.email import EmailSender

SECRET = "s" * 40


def message(notification_id: int = 1, **overrides: Any) -> OutgoingMessage:
    values: dict[str, Any] = {
        "notification_id": notification_id,
        "recipient": "janez@example.si",
        "subject": "Vloga št. 354-1/2026 je uvrščena",
        "body": "Spoštovani,\n\nvaša vloga je uvrščena.",
        "key_event": True,
    }
    return OutgoingMessage(**(values | overrides))


# ---- the pipeline: templates → notification → inbox ----


@pytest.fixture
def service_factory() -> Iterator[Callable[[Settings], Service]]:
    made: list[Service] = []

    def factory(settings: Settings) -> Service:
        service = Service(settings)
        made.append(service)
        return service

    yield factory
    for service in made:
        service.close()


def rules_with_html() -> dict[str, Any]:
    doc = tomllib.loads(EXAMPLE_RULES.read_text(encoding="utf-8"))
    doc = copy.deepcopy(doc)
    for rule in doc["event_types"]:
        if rule["code"] == "VLOZ":
            rule["templates"]["sl"]["email_html"] = (
                "<p>Vaša vloga <strong>{{ event.case_subject }}</strong> "
                "({{ event.case_number }}) je prejeta.</p>"
            )
    return doc


def test_html_template_values_are_escaped_and_headers_are_encoded(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
    service_factory: Callable[[Settings], Service],
) -> None:
    settings = make_settings(
        email__sender="Mestna občina Žalec <obvestila@zalec.si>",
        email__reply_to="Glavna pisarna Šmarje <pisarna@zalec.si>",
        email__message_id_domain="obvestila.zalec.si",
        email__organisation="Občina Žalec",
        email__logo_url="https://www.zalec.si/logo.png",
    )
    apply_rules(settings, rules_with_html())
    party = vopi.party()
    app = vopi.application(party)
    vopi.conn.execute(
        "UPDATE vopi.applications SET subject = %s WHERE id = %s",
        ("<script>alert(1)</script> & čiščenje", app),
    )
    subscribe(settings, party, email="janez@example.si")
    vopi.event("VLOZ", app)
    service_factory(settings).run(once=True)

    [mail] = smtp_server.messages
    raw = mail.message.as_bytes(policy=email.policy.SMTP)
    headers = raw.split(b"\r\n\r\n", 1)[0]
    # Non-ASCII only as RFC 2047 encoded words: the header block is pure ASCII.
    assert headers.isascii()
    assert b"=?utf-8?" in headers
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == f"Prejeli smo vašo vlogo 354-{app}/2026"
    assert parsed["From"].addresses[0].display_name == "Mestna občina Žalec"
    assert parsed["Reply-To"].addresses[0].display_name == "Glavna pisarna Šmarje"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Date"].datetime is not None
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert "<script>alert(1)</script> & čiščenje" in plain.get_content()
    html_text = html.get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; čiščenje" in html_text
    assert "<script>" not in html_text
    assert "<strong>" in html_text  # the template's own markup stays
    assert 'src="https://www.zalec.si/logo.png"' in html_text
    assert "Občina Žalec" in html_text

    [row] = notifications(settings)
    assert row["status"] == "sent"
    assert row["provider_id"] == parsed["Message-ID"]
    assert parsed["Message-ID"] == f"<obvo.{row['id']}@obvestila.zalec.si>"


def test_without_html_template_the_text_is_shown_in_the_layout(
    vopi: Vopi,
    settings: Settings,
    smtp_server: SmtpServer,
    service_factory: Callable[[Settings], Service],
) -> None:
    apply_rules(settings)
    party = vopi.party()
    app = vopi.application(party)
    subscribe(settings, party, email="janez@example.si")
    vopi.event("KLAS", app)
    service_factory(settings).run(once=True)

    [mail] = smtp_server.messages
    html = mail.message.get_body(("html",))
    assert html is not None
    content = html.get_content()
    assert "<p>Spoštovani,</p>" in content
    assert f"vaša vloga 354-{app}/2026 je" in content
    assert "Mestna občina Koper" in content  # the sender's name stands in for organisation
    assert "Odjava" not in content  # key event: no unsubscribe link


def test_notify_events_carry_a_verifiable_one_click_unsubscribe_link(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
    service_factory: Callable[[Settings], Service],
) -> None:
    settings = make_settings(
        email__unsubscribe_url="https://obvestila.koper.si/odjava/{token}",
        email__unsubscribe_secret=SECRET,
    )
    apply_rules(settings)
    party = vopi.party()
    app = vopi.application(party)
    subscriber = subscribe(settings, party, email="janez@example.si")
    vopi.event("VLOZ", app)  # notify
    vopi.event("KLAS", app)  # key
    service_factory(settings).run(once=True)

    by_subject = {m.subject.split()[0]: m.message for m in smtp_server.messages}
    notify, key = by_subject["Prejeli"], by_subject["Vaša"]
    assert key["List-Unsubscribe"] is None
    assert notify["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = str(notify["List-Unsubscribe"]).strip()  # a long value may be folded
    assert link.startswith("<https://obvestila.koper.si/odjava/")
    token = link.removeprefix("<https://obvestila.koper.si/odjava/").removesuffix(">")
    verified = unsubscribe.verify(token, SECRET)
    assert verified is not None
    assert verified.subscriber_id == subscriber
    notify_row = next(r for r in notifications(settings) if r["event_type"] == "VLOZ")
    assert verified.notification_id == notify_row["id"]
    html = notify.get_body(("html",))
    assert html is not None
    assert link.strip("<>") in html.get_content()


def test_email_html_is_stored_per_language(
    vopi: Vopi, settings: Settings, service_factory: Callable[[Settings], Service]
) -> None:
    apply_rules(settings, rules_with_html())
    with psycopg.connect(settings.database.url) as conn:
        rows = conn.execute(
            "SELECT event_type, language FROM obvo.templates WHERE email_html IS NOT NULL"
        ).fetchall()
    assert rows == [("VLOZ", "sl")]


# ---- one connection per batch, and reconnecting ----


def test_one_connection_is_reused_and_a_server_hang_up_is_survived(tmp_path: Path) -> None:
    server = TlsSmtpServer(make_certificates(tmp_path), "none")
    server.handler.close_after = 2  # the server hangs up after every second message
    server.start()
    try:
        sender = EmailSender(EmailSettings(port=server.port, timeout=5.0))
        ids = [sender.send(message(n)) for n in range(1, 6)]
        sender.close()
    finally:
        server.stop()
    assert len(server.messages) == 5
    assert ids == [f"<obvo.{n}@localhost>" for n in range(1, 6)]
    peers = server.handler.peers
    # Messages 1-2 on the first connection, 3-4 on the second, 5 on a third.
    assert peers[0] == peers[1]
    assert peers[2] == peers[3]
    assert len({peers[0], peers[2], peers[4]}) == 3


# ---- TLS and AUTH ----


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_certificates(tmp_path_factory.mktemp("certs"), "Obcina")


@pytest.fixture(scope="module")
def other_certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_certificates(tmp_path_factory.mktemp("other"), "Other")


@contextmanager
def running(server: TlsSmtpServer) -> Iterator[TlsSmtpServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["tls", "starttls"])
def test_tls_with_the_configured_ca_and_auth(
    mode: Literal["tls", "starttls"], certs: CertFiles
) -> None:
    with running(TlsSmtpServer(certs, mode, users={"obvestila": "geslo-č"})) as server:
        sender = EmailSender(
            EmailSettings(
                port=server.port,
                security=mode,
                ca_file=str(certs.ca_file),
                username="obvestila",
                password="geslo-č",
                timeout=5.0,
            )
        )
        sender.send(message(1))
        sender.send(message(2))
        sender.close()
        assert [m.message["Message-ID"] for m in server.messages] == [
            "<obvo.1@localhost>",
            "<obvo.2@localhost>",
        ]
        assert server.auth_attempts == [("obvestila", True)]  # one login for the batch


@pytest.mark.parametrize("mode", ["tls", "starttls"])
def test_a_certificate_from_another_ca_is_a_temporary_failure(
    mode: Literal["tls", "starttls"], certs: CertFiles, other_certs: CertFiles
) -> None:
    with running(TlsSmtpServer(certs, mode)) as server:
        sender = EmailSender(
            EmailSettings(
                port=server.port, security=mode, ca_file=str(other_certs.ca_file), timeout=5.0
            )
        )
        with pytest.raises(TemporaryFailure) as info:
            sender.send(message())
        error = str(info.value)
        assert f"SMTP 127.0.0.1:{server.port}: the server's TLS certificate is not trusted" in error
        assert "[email] ca_file" in error
        assert server.messages == []


def test_system_trust_store_rejects_a_private_ca(certs: CertFiles) -> None:
    with running(TlsSmtpServer(certs, "tls")) as server:
        sender = EmailSender(EmailSettings(port=server.port, security="tls", timeout=5.0))
        with pytest.raises(TemporaryFailure, match="not trusted"):
            sender.send(message())


def test_wrong_password_is_a_temporary_failure_naming_the_account(certs: CertFiles) -> None:
    with running(TlsSmtpServer(certs, "starttls", users={"obvestila": "pravo"})) as server:
        sender = EmailSender(
            EmailSettings(
                port=server.port,
                security="starttls",
                ca_file=str(certs.ca_file),
                username="obvestila",
                password="napačno",
                timeout=5.0,
            )
        )
        with pytest.raises(TemporaryFailure) as info:
            sender.send(message())
        assert "authentication as 'obvestila' failed: 535" in str(info.value)
        assert server.auth_attempts == [("obvestila", False)]
        assert server.messages == []


def test_plain_connection_to_a_starttls_only_server_is_refused_temporarily(
    certs: CertFiles,
) -> None:
    with running(TlsSmtpServer(certs, "starttls")) as server:
        sender = EmailSender(EmailSettings(port=server.port, security="none", timeout=5.0))
        with pytest.raises(TemporaryFailure) as info:
            sender.send(message())
        assert "SMTP 530" in str(info.value)
        assert "[email] security" in str(info.value)
