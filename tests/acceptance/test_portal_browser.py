"""A real headless browser (Debian chromium + chromedriver, through Selenium) on the portal.

The browser talks to a loopback reverse proxy that plays nginx: it adds the verified client
certificate header, as `$ssl_client_escaped_cert` would, and forwards to the portal on
uvicorn. The citizen switches to key events only and confirms a new mobile number with the
code read from the SMS gateway stub; the daemon's next notifications follow the change. Once,
the citizen signs in through the test SI-PASS instead (tests/support_saml.py).
Skipped where chromium is missing, except in CI (CI set), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import portal_support as ps
from tests import support_saml
from tests.integration.test_pipeline import apply_rules, subscribe
from tests.portal_support import CERT_HEADER, PortalServer, link, nginx_header, running_portal
from tests.support import SmsGateway, SmtpServer, Vopi, free_port, wait_for
from tests.support_saml import SipassIdp, sipass_overrides
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service

pki = ps.pki
sipass_idp = support_saml.sipass_idp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@pytest.fixture
def chrome() -> Iterator[Any]:
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are required in CI (see .ci/run)")
        pytest.skip("chromium / chromedriver not installed")
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service as DriverService  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=420,900",
    ):  # a phone-sized window
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=DriverService(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


class CertificateProxy:
    """nginx's part: TLS is done, the certificate is verified and passed on in a header."""

    def __init__(self, upstream: str, pem: str) -> None:
        self.upstream = upstream
        self.header = nginx_header(pem)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers[CERT_HEADER] = proxy.header
                with httpx.Client(timeout=30) as client:
                    reply = client.request(
                        self.command, proxy.upstream + self.path, headers=headers, content=body
                    )
                self.send_response(reply.status_code)
                for name, value in reply.headers.multi_items():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            do_GET = _forward  # noqa: N815
            do_POST = _forward  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow
def test_citizen_changes_level_and_phone_in_a_real_browser(
    chrome: Any,
    make_settings: Any,
    pki: ps.Pki,
    vopi: Vopi,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    settings: Settings = make_settings(**ps.portal_overrides(pki))
    apply_rules(settings)
    party = vopi.party("Janez Novak")
    application = vopi.application(party)
    subscribe(settings, party, email="janez@example.si", phone="+38641123456")
    link(settings, pki, "PNO-1001", party)
    pem = pki.ca.issue(serial="PNO-1001", common_name="Janez Novak")
    server: PortalServer
    with running_portal(settings) as server:
        proxy = CertificateProxy(server.url, pem)
        try:
            chrome.get(proxy.url + "/nastavitve")
            assert chrome.find_element(By.TAG_NAME, "h1").text == "Nastavitve obvestil"
            chrome.find_element(By.ID, "events_key").click()
            phone = chrome.find_element(By.ID, "phone")
            phone.clear()
            phone.send_keys("040 222 333")
            chrome.find_element(By.ID, "save").click()
            wait_for(lambda: "/potrditev" in chrome.current_url, timeout=30)
            [sms] = wait_for(lambda: sms_gateway.messages, timeout=30)
            assert sms.payload["to"] == "+38640222333"
            code = re.search(r"\b(\d{6})\b", sms.payload["text"])
            assert code
            field = chrome.find_element(By.ID, "code-phone")
            field.send_keys(code.group(1))
            field.submit()
            wait_for(lambda: "/obvestila" in chrome.current_url, timeout=30)
            page = chrome.find_element(By.TAG_NAME, "main").text
            assert "Mobilna številka je potrjena." in page
            assert "+38640222333" in page
            assert "Samo ključne dogodke" in page
        finally:
            proxy.close()
    # The daemon's next notifications follow the change: the notify event reaches nobody
    # (key events only now), the key event reaches the new number.
    vopi.event("DODELJ", application)
    vopi.event("KLAS", application)
    service = Service(settings)
    try:
        service.run(once=True)
    finally:
        service.close()
    texts = [(m.payload["to"], m.payload["text"]) for m in sms_gateway.messages[1:]]
    assert len(texts) == 1
    assert texts[0][0] == "+38640222333"
    assert [m.recipients for m in smtp_server.messages] == [["janez@example.si"]]
    assert "je uvrščena v obravnavo" in smtp_server.messages[0].subject


@pytest.mark.slow
def test_citizen_signs_in_through_sipass_in_a_real_browser(
    chrome: Any, make_settings: Any, pki: ps.Pki, vopi: Vopi, sipass_idp: SipassIdp, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    port = free_port()
    settings: Settings = make_settings(
        **ps.portal_overrides(pki),
        **sipass_overrides(sipass_idp, tmp_path, f"http://127.0.0.1:{port}"),
    )
    apply_rules(settings)
    party = vopi.party("Janez Novak")
    vopi.conn.execute(
        "UPDATE vopi.parties SET tax_number = %s WHERE id = %s",
        (sipass_idp.citizen.tax_number, party),
    )
    subscribe(settings, party, email="janez@example.si")
    with running_portal(settings, port=port) as server:
        sp = server.portal.config.sipass
        assert sp is not None
        sipass_idp.sp_metadata = sp.metadata()
        chrome.get(server.url + "/nastavitve")
        chrome.find_element(By.ID, "sipass").click()  # the sign-in page offers SI-PASS
        wait_for(lambda: chrome.current_url.startswith(sipass_idp.url), timeout=30)
        chrome.find_element(By.ID, "continue").click()  # SI-PASS posts the response back
        wait_for(lambda: "/obvestila" in chrome.current_url, timeout=30)
        assert "Janez Novak" in chrome.find_element(By.TAG_NAME, "main").text
        chrome.get(server.url + "/nastavitve")
        assert chrome.find_element(By.TAG_NAME, "h1").text == "Nastavitve obvestil"
