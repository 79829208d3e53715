"""A whole run of `obvo run` and `obvo portal`, with real sinks and debug logging, captured
whole: not one line (OBVO's own, uvicorn's, APScheduler's, an exception's) shows a subscriber's
e-mail address or phone number in clear."""

from __future__ import annotations

import re
import signal

import httpx
import pytest

from tests import portal_support as ps
from tests.acceptance.test_cli import Deployment
from tests.acceptance.test_portal_cli import add_portal, deployment
from tests.portal_support import CERT_HEADER, csrf, nginx_header
from tests.support import EXAMPLE_RULES, SmsGateway, SmtpServer, Vopi, free_port, wait_for

pki = ps.pki
__all__ = ["deployment", "pki"]  # fixtures shared with the portal's acceptance tests

CITIZENS = [
    # (e-mail, phone as typed, the forms the number may take in a line)
    ("ana.kos@example.si", "041 555 666", ("+38641555666", "38641555666", "041 555 666")),
    ("refused.one@example.si", "040 777 888", ("+38640777888", "38640777888", "040 777 888")),
]


def subscribe_citizens(deployment: Deployment, vopi: Vopi) -> list[int]:
    parties = []
    for email, phone, _ in CITIZENS:
        party = vopi.party()
        added = deployment.run(
            "subscribers", "add", "--party", str(party), "--email", email, "--phone", phone
        )
        assert added.returncode == 0, added.stderr
        parties.append(party)
    return parties


@pytest.mark.slow
def test_a_full_run_of_daemon_and_portal_logs_no_contact_in_clear(
    deployment: Deployment,
    pki: ps.Pki,
    vopi: Vopi,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    for args in (("migrate",), ("rules", "apply", str(EXAMPLE_RULES))):
        assert deployment.run(*args).returncode == 0
    parties = subscribe_citizens(deployment, vopi)
    # The mail server's refusal quotes the address; it reaches the log as the error text.
    smtp_server.handler.refuse["refused.one@example.si"] = (
        "550 5.1.1 <refused.one@example.si>: Recipient address rejected: user unknown"
    )
    # A gateway's refusal echoes the number as digits, without the "+".
    sms_gateway.refuse["+38640777888"] = (400, "invalid destination 38640777888")
    port = free_port()
    add_portal(deployment, pki, port)
    deployment.env["OBVO_LOGGING_LEVEL"] = "debug"
    daemon = deployment.start("run")
    try:
        for party in parties:
            vopi.event("KLAS", vopi.application(party))
        with deployment.serving("portal", port) as portal:
            # A citizen signs in and types the address the code goes to.
            headers = {CERT_HEADER: nginx_header(pki.ca.issue(serial="PNO-77"))}
            with httpx.Client(base_url=portal.base, headers=headers) as browser:
                page = browser.get("/povezava")
                sent = browser.post(
                    "/povezava", data={"csrf": csrf(page), "contact": "Ana.Kos@Example.SI"}
                )
                assert sent.status_code == 200
                api = httpx.get(
                    f"{portal.base}/api/v1/subscriptions/{parties[0]}",
                    headers={"Authorization": f"Bearer {ps.API_TOKEN}"},
                )
                assert api.json()["email"] == "ana.kos@example.si"
            # Both events delivered or refused, and the portal's code sent.
            wait_for(
                lambda: (
                    len(sms_gateway.messages) >= 1
                    and sum(m.recipients == ["ana.kos@example.si"] for m in smtp_server.messages)
                    >= 2
                ),
                timeout=60,
            )
            status = deployment.run("status")
            assert status.returncode in (0, 1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon_log, _ = daemon.communicate(timeout=30)
    portal_log = portal.output
    whole = "\n".join([daemon_log, portal_log, status.stdout, status.stderr])
    # The refusals quoting the address and the number are there, masked.
    assert daemon_log.count('"notification.failed"') >= 2
    assert '"level": "debug"' in whole  # debug lines of the libraries were written too
    assert re.search(r"\*\*\*@example\.si", whole)
    for email, _, numbers in CITIZENS:
        assert email not in whole.lower()
        for number in numbers:
            assert number not in whole, number
