"""The console's event-type page in a real headless browser (Debian chromium + chromedriver,
through Selenium), behind the loopback proxy that plays the intranet nginx: an administrator
changes an SMS template, sees the part count go from 1 to 2 as a č is typed into a text of
more than 70 characters (the live counter; the Preview button without JavaScript), saves after
the diff, and the daemon's next SMS uses the new text.
Screenshots of each step are kept (tests/support_browser.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests import console_support as cs
from tests.acceptance import test_portal_browser as portal_browser
from tests.acceptance.test_portal_browser import CertificateProxy
from tests.console_support import StaffCertificates
from tests.integration.test_pipeline import subscribe
from tests.portal_support import Pki
from tests.support import SmsGateway, Vopi, wait_for
from tests.support_browser import is_gone, screenshot
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service

chrome = portal_browser.chrome
pki = cs.pki
certs = cs.certs
console_settings = cs.console_settings

TEXT = "Obvestilo: vloga {{ event.case_number }} je prejeta. Podrobnosti so na portalu OBVO."
SIGNED = " Občina Koper"


def submit(driver: Any, selector: str) -> None:
    """Click a submit button and wait for the next page (the old one must be gone first:
    both may show the same figures)."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support.wait import WebDriverWait  # noqa: PLC0415

    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, selector).click()
    WebDriverWait(driver, 30).until(lambda _: is_gone(page))


def parts_shown(driver: Any) -> str:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    return str(driver.find_element(By.ID, "parts-sl").text)


@pytest.mark.slow
def test_admin_changes_an_sms_template_and_the_daemon_sends_it(
    chrome: Any,
    console_settings: Settings,
    certs: StaffCertificates,
    pki: Pki,
    vopi: Vopi,
    sms_gateway: SmsGateway,
) -> None:
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.common.keys import Keys  # noqa: PLC0415

    name = "console-sms-template"
    chrome.set_window_size(1280, 900)  # a laptop at the counter
    with cs.running_console(console_settings) as server:
        proxy = CertificateProxy(server.url, certs.admin)
        try:
            chrome.get(proxy.url + "/dogodki")
            assert chrome.find_element(By.TAG_NAME, "h1").text == "Vrste dogodkov"
            chrome.find_element(By.LINK_TEXT, "VLOZ").click()
            wait_for(lambda: "/dogodki/vrsta/VLOZ" in chrome.current_url, timeout=30)
            sms = chrome.find_element(By.ID, "sl-sms")
            sms.clear()
            sms.send_keys(TEXT)
            submit(chrome, 'button[value="preview"]')
            assert "SMS: 1 del" in parts_shown(chrome)
            screenshot(chrome, name, "1-gsm7-one-part")
            # The live counter (the page's script) follows the typing: a č makes it UCS-2.
            sms = chrome.find_element(By.ID, "sl-sms")
            sms.send_keys(Keys.CONTROL, Keys.END)
            sms.send_keys(SIGNED)
            wait_for(lambda: "SMS: 2 del" in parts_shown(chrome), timeout=30)
            assert "UCS-2" in parts_shown(chrome)
            screenshot(chrome, name, "2-live-two-parts")
            submit(chrome, 'button[value="preview"]')
            assert "SMS: 2 del" in parts_shown(chrome)
            marked = chrome.find_elements(By.CSS_SELECTOR, "#sms-sl mark.ucs2")
            assert [m.text for m in marked] == ["č"]
            screenshot(chrome, name, "3-preview-marked")
            submit(chrome, 'button[value="save"]')
            assert "Pregled sprememb" in chrome.title
            assert (
                "changed   VLOZ: templates.sl.sms" in chrome.find_element(By.TAG_NAME, "pre").text
            )
            screenshot(chrome, name, "4-diff")
            submit(chrome, "form[action='/dogodki/potrdi'] button[type='submit']")
            assert chrome.current_url.endswith("/dogodki/vrsta/VLOZ")  # redirected after post
            assert "Pravila so uveljavljena" in chrome.find_element(By.TAG_NAME, "main").text
            screenshot(chrome, name, "5-applied")
        finally:
            proxy.close()
    # The daemon's next SMS for a VLOZ event is the new text, č and all.
    party = vopi.party("Janez Novak")
    application = vopi.application(party, case_number="354-88/2026")
    subscribe(console_settings, party, phone="+38641123456")
    vopi.event("VLOZ", application)
    service = Service(console_settings)
    try:
        service.run(once=True)
    finally:
        service.close()
    [sent] = wait_for(lambda: sms_gateway.messages, timeout=30)
    assert sent.payload["to"] == "+38641123456"
    assert sent.payload["text"] == (
        "Obvestilo: vloga 354-88/2026 je prejeta. Podrobnosti so na portalu OBVO. Občina Koper"
    )
