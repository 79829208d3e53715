"""The SMPP backend against a local SMSC (tests/support_smpp.py) and a real PostgreSQL:
binds, encodings, long messages with UDH, receipts to delivered/undelivered, reconnects."""

from __future__ import annotations

import copy
import itertools
import threading
import tomllib
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from tests.integration.test_pipeline import apply_rules, subscribe
from tests.support import EXAMPLE_RULES, Vopi, wait_for
from tests.support_smpp import ESME_RTHROTTLED, Outcome, SmppServer
from vopi_obvo.config import Settings as ObvoSettings
from vopi_obvo.config import SmsGatewaySettings
from vopi_obvo.daemon import Service
from vopi_obvo.delivery.pacing import DEFAULT_PAUSE
from vopi_obvo.senders import OutgoingMessage, PermanentFailure, TemporaryFailure
from vopi_obvo.senders import smpp as smpp_module
from vopi_obvo.senders.smpp import SmppSession
from vopi_obvo.senders.smpp_text import Receipt

PHONE = "+38641123456"


@pytest.fixture
def smsc() -> Iterator[SmppServer]:
    server = SmppServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def quick_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smpp_module, "SWEEP_SECONDS", 0.2)


@pytest.fixture
def smpp_settings(
    make_settings: Callable[..., ObvoSettings], smsc: SmppServer
) -> Callable[..., ObvoSettings]:
    def factory(**overrides: Any) -> ObvoSettings:
        keys: dict[str, Any] = {
            "sms__backend": "smpp",
            "sms__url": smsc.url,
            "sms__system_id": "obvo",
            "sms__password": "geslo",
            "sms__sender": "KOPER",
        }
        return make_settings(**(keys | overrides))

    return factory


@pytest.fixture
def services() -> Iterator[list[Service]]:
    made: list[Service] = []
    yield made
    for service in made:
        service.close()


def sms_rows(settings: ObvoSettings) -> list[dict[str, Any]]:
    with psycopg.connect(settings.database.url) as conn:
        cur = conn.execute(
            "SELECT id, status, provider_id, body, delivery_error, delivered_at, attempts,"
            " last_error FROM obvo.notifications WHERE channel = 'sms' ORDER BY id"
        )
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def rules_with_sms(text: str) -> dict[str, Any]:
    doc = copy.deepcopy(tomllib.loads(EXAMPLE_RULES.read_text(encoding="utf-8")))
    for rule in doc["event_types"]:
        for templates in rule.get("templates", {}).values():
            templates["sms"] = text
    return doc


def send_one(
    vopi: Vopi, settings: ObvoSettings, services: list[Service], sms: str | None = None
) -> Service:
    apply_rules(settings, rules_with_sms(sms) if sms else None)
    party = vopi.party()
    subscribe(settings, party, phone=PHONE)
    vopi.event("KLAS", vopi.application(party))
    service = Service(settings)
    services.append(service)
    service.run(once=True)
    return service


def final(settings: ObvoSettings) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        [row] = sms_rows(settings)
        return row if row["status"] in ("delivered", "undelivered") else None

    result: dict[str, Any] = wait_for(settled, timeout=10)
    return result


def test_gsm7_message_is_submitted_and_delivered(
    vopi: Vopi,
    smsc: SmppServer,
    smpp_settings: Callable[..., ObvoSettings],
    services: list[Service],
) -> None:
    settings = smpp_settings()
    send_one(vopi, settings, services, "Vloga {{ event.case_number }}: klasifikacija [A] 5€.")
    [submitted] = smsc.submitted
    assert smsc.binds == [("obvo", True)]
    assert (submitted.source_ton, submitted.source_npi, submitted.source) == (5, 0, "KOPER")
    assert (submitted.dest_ton, submitted.dest_npi, submitted.destination) == (1, 1, "38641123456")
    assert submitted.data_coding == 0
    assert submitted.registered_delivery == 1
    assert submitted.esm_class == 0
    assert submitted.payload.endswith(b": klasifikacija \x1b\x3cA\x1b\x3e 5\x1b\x65.")
    row = final(settings)
    assert row["status"] == "delivered"
    assert row["provider_id"] == "smsc-0001"
    assert row["delivery_error"] is None
    assert row["delivered_at"] is not None
    smsc.wait_acknowledged(1)
    assert smsc.receipts_acknowledged == [("smsc-0001", 0)]


def test_long_slovenian_message_goes_as_ucs2_parts_with_udh(
    vopi: Vopi,
    smsc: SmppServer,
    smpp_settings: Callable[..., ObvoSettings],
    services: list[Service],
) -> None:
    settings = smpp_settings(sms__max_segments=5)
    text = "Spoštovani, vaša vloga {{ event.case_number }} je uvrščena v obravnavo. " * 2
    send_one(vopi, settings, services, text)
    parts = smsc.submitted
    assert len(parts) >= 2
    assert {p.data_coding for p in parts} == {8}
    assert all(p.esm_class & 0x40 for p in parts)
    references = {p.udh[3] for p in parts}
    assert len(references) == 1
    assert [(p.udh[4], p.udh[5]) for p in parts] == [
        (len(parts), n) for n in range(1, len(parts) + 1)
    ]
    [row] = sms_rows(settings)
    assert b"".join(p.payload for p in parts).decode("utf-16-be") == row["body"]
    row = final(settings)
    assert row["status"] == "delivered"
    assert row["provider_id"] == ",".join(p.message_id for p in parts)


def test_undelivered_receipt_carries_the_network_error(
    vopi: Vopi,
    smsc: SmppServer,
    smpp_settings: Callable[..., ObvoSettings],
    services: list[Service],
) -> None:
    smsc.outcomes["38641123456"] = Outcome("UNDELIV", error=34, delay=1.5)
    settings = smpp_settings()
    send_one(vopi, settings, services)
    assert sms_rows(settings)[0]["status"] == "sent"  # before the receipt
    row = final(settings)
    assert row["status"] == "undelivered"
    assert row["delivery_error"] == "UNDELIV err:GSM:34"


def test_refused_destination_fails_and_throttling_is_retried(
    vopi: Vopi,
    smsc: SmppServer,
    smpp_settings: Callable[..., ObvoSettings],
    services: list[Service],
) -> None:
    smsc.refuse["38641123456"] = 0x0B
    settings = smpp_settings()
    send_one(vopi, settings, services)
    [row] = sms_rows(settings)
    assert row["status"] == "failed"
    assert row["last_error"] == ("SMPP submit_sm part 1/1: status 0x0B invalid destination address")

    smsc.refuse["38641123456"] = 0x58  # ESME_RTHROTTLED
    session = services[0].dispatcher.senders["sms"]
    with pytest.raises(TemporaryFailure, match="status 0x58"):
        session.send(OutgoingMessage(999_999, PHONE, None, "x", key_event=True))


def test_throttling_slows_the_channel_down_and_fails_nothing(
    vopi: Vopi,
    smsc: SmppServer,
    smpp_settings: Callable[..., ObvoSettings],
    services: list[Service],
) -> None:
    """ESME_RTHROTTLED is the SMSC's "too fast": the message is not at fault. It goes again,
    its try not counted (max_attempts 1: a counted try would fail it), after the channel
    rested (SMPP has no Retry-After: DEFAULT_PAUSE, then a halved pace, delivery/pacing.py)."""
    settings = smpp_settings(delivery__concurrency=1, delivery__max_attempts=1)
    apply_rules(settings)
    party = vopi.party()
    subscribe(settings, party, phone=PHONE)
    vopi.events("KLAS", vopi.application(party), 5)
    smsc.throttle = 3
    service = Service(settings)
    services.append(service)
    worker = threading.Thread(target=service.run, daemon=True)
    worker.start()
    try:
        wait_for(lambda: len(smsc.submitted) >= 5, timeout=30)
        wait_for(lambda: {r["status"] for r in sms_rows(settings)} <= {"sent", "delivered"}, 30)
    finally:
        service.stop_event.set()
        worker.join(timeout=30)
    rows = sms_rows(settings)
    assert len(rows) == 5
    assert {r["attempts"] for r in rows} == {1}  # the throttled tries were not attempts
    assert [status for _, status in smsc.answers] == [ESME_RTHROTTLED] * 3 + [0] * 5
    # Slower: after each "throttled" the channel rested before the next submit_sm.
    for (answered, _), (following, _) in itertools.pairwise(smsc.answers[:4]):
        assert following - answered >= DEFAULT_PAUSE * 0.9
    with psycopg.connect(settings.database.url) as conn:
        retries = conn.execute(
            "SELECT error FROM obvo.notification_attempts WHERE outcome = 'retry'"
        ).fetchall()
    assert len(retries) == 3
    assert all("0x58" in str(error) for (error,) in retries)


def test_wrong_password_is_a_temporary_failure(
    vopi: Vopi,
    smsc: SmppServer,
    smpp_settings: Callable[..., ObvoSettings],
    services: list[Service],
) -> None:
    settings = smpp_settings(sms__password="napacno", sms__timeout=3.0)
    send_one(vopi, settings, services)
    [row] = sms_rows(settings)
    assert row["status"] == "pending"
    assert "not bound (bind refused: (14)" in row["last_error"]
    assert smsc.submitted == []


def test_reconnects_after_the_smsc_drops_the_connection(
    vopi: Vopi,
    smsc: SmppServer,
    smpp_settings: Callable[..., ObvoSettings],
    services: list[Service],
) -> None:
    settings = smpp_settings()
    service = send_one(vopi, settings, services)
    final(settings)
    smsc.drop_connections()

    def rebound() -> bool:
        return len(smsc.binds) == 2

    wait_for(rebound, timeout=10)
    sender = service.dispatcher.senders["sms"]
    assert sender.send(OutgoingMessage(-1, PHONE, None, "spet", key_event=True)) == "smsc-0002"


# ---- the session alone (no daemon) ----


class ListSink:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.receipts: list[Receipt] = []

    def parts_submitted(self, gateway: str, notification_id: int, message_ids: Any) -> None:
        pass

    def receipt(self, gateway: str, receipt: Receipt) -> None:
        if self.fail:
            raise sa.exc.OperationalError("INSERT …", {}, Exception("database is down"))
        self.receipts.append(receipt)

    def settle_recent(self) -> None:
        pass


def session_for(smsc: SmppServer, sink: ListSink, **keys: Any) -> SmppSession:
    gateway = SmsGatewaySettings(
        url=smsc.url, system_id="obvo", password="geslo", timeout=2.0, **keys
    )
    session = SmppSession(gateway, sink, sweep_interval=60)
    session.start()
    assert session.wait_bound(5)
    return session


def test_receipt_not_stored_is_not_acknowledged(smsc: SmppServer) -> None:
    session = session_for(smsc, ListSink(fail=True))
    try:
        session.submit(OutgoingMessage(1, PHONE, None, "x", key_event=False), "KOPER")
        smsc.wait_acknowledged(1)
    finally:
        session.stop()
    assert smsc.receipts_acknowledged == [("smsc-0001", 0x64)]  # ESME_RX_T_APPN: send again


def test_enquire_link_keeps_an_idle_session_alive(smsc: SmppServer) -> None:
    session = session_for(smsc, ListSink(), enquire_link_interval=0.2)
    try:
        wait_for(lambda: smsc.enquire_links >= 2, timeout=5)
        assert session.bound
        assert smsc.binds == [("obvo", True)]
    finally:
        session.stop()


def test_no_submit_sm_resp_is_a_temporary_failure(smsc: SmppServer) -> None:
    smsc.answer_submits = False
    session = session_for(smsc, ListSink())
    try:
        with pytest.raises(TemporaryFailure, match=r"no submit_sm_resp in 2\.0 s"):
            session.submit(OutgoingMessage(1, PHONE, None, "x", key_event=False), "KOPER")
    finally:
        session.stop()


def test_text_too_long_for_sms_is_permanent(smsc: SmppServer) -> None:
    session = session_for(smsc, ListSink())
    try:
        with pytest.raises(PermanentFailure, match="parts"):
            session.submit(OutgoingMessage(1, PHONE, None, "a" * 153 * 256, key_event=False), "K")
    finally:
        session.stop()
    assert smsc.submitted == []


def test_senders_share_one_session_and_the_last_one_unbinds(
    smsc: SmppServer, smpp_settings: Callable[..., ObvoSettings]
) -> None:
    settings = smpp_settings()
    first = smpp_module.smpp_sender(settings, settings.sms)
    second = smpp_module.smpp_sender(settings, settings.sms)  # e.g. a reload, or the portal
    assert first.session is second.session
    assert first.session.wait_bound(5)
    first.shutdown()
    first.shutdown()  # twice is once
    assert second.session.bound
    assert second.send(OutgoingMessage(-1, PHONE, None, "še vedno", key_event=True))
    second.shutdown()
    assert not second.session.bound
    wait_for(lambda: smsc.unbinds == 1, timeout=5)
    assert smsc.binds == [("obvo", True)]


def test_service_close_unbinds(
    vopi: Vopi,
    smsc: SmppServer,
    smpp_settings: Callable[..., ObvoSettings],
) -> None:
    settings = smpp_settings()
    service = Service(settings)
    service.run(once=True)
    service.close()
    wait_for(lambda: smsc.unbinds == 1, timeout=5)
