"""The console's front desk and storm pages in a real headless browser (Debian chromium +
chromedriver, through Selenium), behind the loopback proxy that plays the intranet nginx:
a clerk registers a citizen in person and the next VOPI event of that citizen's application
reaches the SMTP sink; an administrator releases a storm and the held messages go out.
Screenshots of each step are kept (tests/support_browser.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests import console_support as cs
from tests.acceptance import test_portal_browser as portal_browser
from tests.acceptance.test_portal_browser import CertificateProxy
from tests.console_support import StaffCertificates
from tests.integration.test_pipeline import apply_rules, notifications, subscribe
from tests.portal_support import Pki
from tests.support import SmtpServer, Vopi, wait_for
from tests.support_browser import screenshot
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service

chrome = portal_browser.chrome
pki = cs.pki
certs = cs.certs
console_settings = cs.console_settings


def run_daemon(settings: Settings) -> None:
    service = Service(settings)
    try:
        service.run(once=True)
    finally:
        service.close()


@pytest.mark.slow
def test_a_clerk_registers_a_citizen_who_then_hears_about_their_application(
    chrome: Any,
    console_settings: Settings,
    certs: StaffCertificates,
    vopi: Vopi,
    smtp_server: SmtpServer,
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    name = "console-register"
    chrome.set_window_size(1280, 900)  # a laptop at the counter
    party = vopi.party("Marija Horvat")
    application = vopi.application(party, case_number="354-77/2026")
    with cs.running_console(console_settings) as server:
        proxy = CertificateProxy(server.url, certs.clerk)
        try:
            chrome.get(proxy.url + "/narocniki")
            assert chrome.find_element(By.TAG_NAME, "h1").text == "Naročniki"
            chrome.find_element(By.ID, "register").click()
            wait_for(lambda: "/narocniki/nov" in chrome.current_url, timeout=30)
            chrome.find_element(By.ID, "party").send_keys(str(party))
            chrome.find_element(By.ID, "origin-in_person").click()
            chrome.find_element(By.ID, "email").send_keys("marija.horvat@example.si")
            chrome.find_element(By.ID, "events-all").click()
            chrome.find_element(By.ID, "cases").send_keys(str(application))
            screenshot(chrome, name, "1-form")
            chrome.find_element(By.ID, "save").click()
            wait_for(lambda: "/potrdilo" in chrome.current_url, timeout=30)
            page = chrome.find_element(By.TAG_NAME, "main").text
            assert "Potrdilo o prijavi" in page
            assert "marija.horvat@example.si" in page and str(application) in page
            screenshot(chrome, name, "2-confirmation")
        finally:
            proxy.close()
    vopi.event("VLOZ", application)
    run_daemon(console_settings)
    [mail] = wait_for(lambda: smtp_server.messages, timeout=30)
    assert mail.recipients == ["marija.horvat@example.si"]
    assert "354-77/2026" in mail.subject


@pytest.mark.slow
def test_an_admin_releases_a_storm_and_the_held_messages_go_out(
    chrome: Any,
    make_settings: Callable[..., Settings],
    pki: Pki,
    certs: StaffCertificates,
    vopi: Vopi,
    smtp_server: SmtpServer,
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    name = "console-storm"
    settings = make_settings(**cs.console_overrides(pki), delivery__storm_threshold=2)
    apply_rules(settings)
    cs.grant_staff(settings, certs)
    for n in range(3):
        party = vopi.party(f"Občan {n}")
        application = vopi.application(party)
        subscribe(settings, party, email=f"obcan{n}@example.si")
        vopi.event("VLOZ", application)
    run_daemon(settings)
    assert {n["status"] for n in notifications(settings)} == {"held"}
    chrome.set_window_size(1280, 900)
    with cs.running_console(settings) as server:
        proxy = CertificateProxy(server.url, certs.admin)
        try:
            chrome.get(proxy.url + "/")
            chrome.find_element(By.LINK_TEXT, "Obvestila").click()
            chrome.find_element(By.LINK_TEXT, "Zadržana obvestila").click()
            wait_for(lambda: "/zadrzana" in chrome.current_url, timeout=30)
            assert "Nevihta: 3 obvestil" in chrome.find_element(By.TAG_NAME, "main").text
            screenshot(chrome, name, "1-held")
            chrome.find_element(By.ID, "release-VLOZ").click()
            wait_for(lambda: "obvestila vrste VLOZ: 3" in chrome.page_source, timeout=30)
            screenshot(chrome, name, "2-released")
        finally:
            proxy.close()
    run_daemon(settings)
    sent = wait_for(lambda: len(smtp_server.messages) == 3 and smtp_server.messages, timeout=30)
    assert sorted(m.recipients[0] for m in sent) == [
        "obcan0@example.si",
        "obcan1@example.si",
        "obcan2@example.si",
    ]
