"""Two HTTP SMS gateways: failover after repeated temporary failures, and back on recovery."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.integration.test_pipeline import apply_rules, notifications, subscribe
from tests.support import Vopi, wait_for
from tests.support_sms import ProviderStub
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service


@pytest.fixture
def gateways() -> Iterator[tuple[ProviderStub, ProviderStub]]:
    first = ProviderStub(lambda _r, n: {"id": f"first-{n}"}).start()
    second = ProviderStub(lambda _r, n: {"id": f"second-{n}"}).start()
    yield first, second
    first.stop()
    second.stop()


def test_fail_over_and_back(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    gateways: tuple[ProviderStub, ProviderStub],
) -> None:
    first, second = gateways
    settings = make_settings(
        sms__url=first.url,
        sms__failover_after=2,
        sms__failover_probe_after=1.0,
        sms_fallback__backend="http",
        sms_fallback__url=second.url,
        # Long enough that one `run(once=True)` cannot also make the retry.
        delivery__retry_initial_delay=2.0,
        delivery__retry_max_delay=2.0,
    )
    apply_rules(settings)
    party = vopi.party()
    app = vopi.application(party)
    subscribe(settings, party, phone="+38641123456")
    service = Service(settings)

    def run() -> None:
        service.dispatcher._paused_until.clear()
        service.run(once=True)

    def statuses() -> dict[int, tuple[str, str | None]]:
        return {
            r["source_event_id"]: (r["status"], r["provider_id"]) for r in notifications(settings)
        }

    try:
        first.status = 503
        one = vopi.event("KLAS", app)
        run()  # failure 1 of the first gateway: retried later
        assert statuses()[one][0] == "pending"
        assert second.received == []

        def sent(event_id: int) -> Callable[[], bool]:
            def check() -> bool:
                run()
                return statuses()[event_id][0] == "sent"

            return check

        wait_for(sent(one), timeout=10)  # failure 2: over to the second gateway
        assert statuses()[one][1] == "second-1"
        tries_on_first = len(first.received)
        assert tries_on_first == 2

        two = vopi.event("KLAS", app)
        run()  # straight to the second gateway, the first is not tried
        assert statuses()[two] == ("sent", "second-2")
        assert len(first.received) == tries_on_first

        first.status = 200  # recovers; the next message after the cooldown probes it
        time.sleep(1.1)
        three = vopi.event("KLAS", app)
        run()
        assert statuses()[three] == ("sent", "first-3")
        four = vopi.event("KLAS", app)
        run()
        assert statuses()[four] == ("sent", "first-4")
        assert len(second.accepted) == 2
    finally:
        service.close()


def test_single_gateway_without_fallback_keeps_retrying(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    gateways: tuple[ProviderStub, ProviderStub],
) -> None:
    first, second = gateways
    settings = make_settings(sms__url=first.url, sms__failover_after=1)
    first.status = 503
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
    assert row["status"] == "pending"
    assert row["last_error"].startswith("SMS gateway HTTP 503")
    assert second.received == []
