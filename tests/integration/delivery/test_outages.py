"""The database goes away under a running daemon: it logs, waits, reconnects, loses nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from structlog.testing import capture_logs

from tests.integration.test_pipeline import apply_rules, notifications, subscribe
from tests.support import SmsGateway, SmtpServer, TcpProxy, Vopi, wait_for
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service


@pytest.fixture
def proxy(database_url: str) -> Iterator[TcpProxy]:
    parts = urlsplit(database_url)
    relay = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    relay.start()
    yield relay
    relay.stop()


def via(proxy: TcpProxy, url: str) -> str:
    parts = urlsplit(url)
    netloc = (
        f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
    )
    return urlunsplit(parts._replace(netloc=netloc))


def test_daemon_survives_database_outage(
    vopi: Vopi,
    database_url: str,
    proxy: TcpProxy,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    direct = make_settings()
    apply_rules(direct)
    party = vopi.party()
    app = vopi.application(party)
    subscribe(direct, party, phone="+38641123456")
    settings = make_settings(database__url=via(proxy, database_url))
    service = Service(settings)
    thread = threading.Thread(target=service.run, daemon=True)
    with capture_logs() as logs:
        thread.start()
        try:
            before = vopi.event("KLAS", app)
            wait_for(lambda: len(sms_gateway.messages) == 1, timeout=15)
            proxy.stop()
            during = vopi.event("ODLOC", app)  # committed in VOPI while OBVO cannot see it
            wait_for(lambda: any(e["event"] == "database.unavailable" for e in logs), timeout=15)
            assert thread.is_alive()
            proxy.start()
            wait_for(lambda: len(sms_gateway.messages) == 2, timeout=30)
        finally:
            service.stop_event.set()
            thread.join(timeout=20)
            service.close()
    assert not thread.is_alive()
    rows = notifications(direct)
    assert {(r["source_event_id"], r["status"]) for r in rows} == {
        (before, "sent"),
        (during, "sent"),
    }
