"""The http backend shaped for a real provider (Infobip's JSON API) against a local stand-in."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.integration.test_pipeline import apply_rules, notifications, subscribe
from tests.support import Vopi
from tests.support_sms import ProviderStub, infobip_reply
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service

INFOBIP_BODY = """
{"messages": [{
  "destinations": [{"to": {{ to_digits }}}],
  "from": {{ sender }},
  "text": {{ text }},
  "callbackData": {{ reference }}
}]}
"""


@pytest.fixture
def provider() -> Iterator[ProviderStub]:
    stub = ProviderStub(infobip_reply).start()
    yield stub
    stub.stop()


def test_infobip_shaped_request_and_message_id(
    vopi: Vopi, make_settings: Callable[..., Settings], provider: ProviderStub
) -> None:
    settings = make_settings(
        sms__url=provider.url,
        sms__token="ib-api-key",
        sms__headers=["Authorization: App {token}"],
        sms__body=INFOBIP_BODY,
        sms__id_path="messages.0.messageId",
        sms__sender="KOPER",
    )
    apply_rules(settings)
    party = vopi.party()
    app = vopi.application(party)
    vopi.conn.execute(
        "UPDATE vopi.applications SET case_number = %s WHERE id = %s", ('354-"7"\\2026', app)
    )
    subscribe(settings, party, phone="+38641123456")
    vopi.event("KLAS", app)
    service = Service(settings)
    try:
        service.run(once=True)
    finally:
        service.close()

    [request] = provider.received
    assert request.method == "POST"
    assert request.path == "/sms/2/text/advanced"
    assert request.headers["Authorization"] == "App ib-api-key"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    [row] = notifications(settings)
    message = request.json()["messages"][0]
    assert message["destinations"] == [{"to": "38641123456"}]
    assert message["from"] == "KOPER"
    assert message["callbackData"] == str(row["id"])
    assert message["text"] == row["body"]
    assert '354-"7"\\2026' in message["text"]  # quotes and backslash arrive intact
    assert row["status"] == "sent"
    assert row["provider_id"] == "ib-1"


def test_put_method_and_default_body(
    vopi: Vopi, make_settings: Callable[..., Settings], provider: ProviderStub
) -> None:
    provider.reply = lambda _request, n: {"data": {"ref": n}}
    settings = make_settings(sms__url=provider.url, sms__method="PUT", sms__id_path="data.ref")
    apply_rules(settings)
    party = vopi.party()
    subscribe(settings, party, phone="+38641123456")
    vopi.event("KLAS", vopi.application(party))
    service = Service(settings)
    try:
        service.run(once=True)
    finally:
        service.close()
    [request] = provider.received
    assert request.method == "PUT"
    assert set(request.json()) == {"to", "text", "sender", "reference"}
    assert request.headers["Authorization"] == "Bearer test-token"
    assert notifications(settings)[0]["provider_id"] == "1"


@pytest.mark.parametrize(
    ("status", "outcome"), [(401, "pending"), (403, "pending"), (422, "failed")]
)
def test_credential_errors_wait_message_errors_fail(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    provider: ProviderStub,
    status: int,
    outcome: str,
) -> None:
    provider.status = status
    settings = make_settings(sms__url=provider.url)
    apply_rules(settings)
    party = vopi.party()
    subscribe(settings, party, phone="+38641123456")
    vopi.event("KLAS", vopi.application(party))
    service = Service(settings)
    try:
        service.run(once=True)
    finally:
        service.close()
    [row] = notifications(settings)
    assert row["status"] == outcome
    assert row["last_error"].startswith(f"SMS gateway HTTP {status}")
    assert ("check [sms] token" in row["last_error"]) == (outcome == "pending")
