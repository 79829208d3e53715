"""Event types on the console over HTTP on a real uvicorn: the list (unclassified first), the
edit page's preview on the newest real VOPI event (SMS parts, UCS-2 characters marked), the
diff before saving, saving exactly as `obvo rules apply` (same messages, same audit row,
nothing written on error), the roles' refusals, and the rules file's export and import."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.datastructures import FormData

from tests import console_support as cs
from tests.admin_helpers import Obvo, snapshot, write_config
from tests.console_support import ConsoleServer, StaffBrowser, StaffCertificates, audit_rows
from tests.integration.admin.test_admin_rules import poll
from tests.integration.console.test_console_overview import add_notifications
from tests.integration.test_pipeline import apply_rules
from tests.portal_support import Pki
from tests.support import Vopi
from vopi_obvo import db, store
from vopi_obvo.config import Settings
from vopi_obvo.console.pages.event_types import RuleForm
from vopi_obvo.errors import RulesError
from vopi_obvo.poller import Poller
from vopi_obvo.problems import Problem, render
from vopi_obvo.rules import parse_rules_document

poll_once = poll

ADMIN = "Ana Admin (console, staff 1)"
GSM_TEXT = "Obcina Koper: vloga {{ event.case_number }} je prejeta. Podrobnosti na portalu OBVO."


def rules_rows(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    """The rules tables (a sign-in's audit row is not a change of rules)."""
    found = snapshot(settings.database.url)
    return {"event_types": found["event_types"], "templates": found["templates"]}


def stored_sms(settings: Settings, code: str, language: str = "sl") -> str:
    engine = db.obvo_engine(settings.database.url, settings.database.schema)
    with engine.connect() as conn:
        rule = store.load_rules(conn).rules[code]
    engine.dispose()
    return rule.templates[language].sms


def edit_form(page: str) -> dict[str, str]:
    """The edit form's fields as the browser would send them (textareas, inputs, selects)."""
    fields: dict[str, str] = {}
    for name, value in re.findall(
        r'<textarea[^>]* name="([^"]+)"[^>]*>\n?(.*?)</textarea>', page, re.S
    ):
        fields[name] = html.unescape(value)
    for tag in re.findall(r"<input [^>]*>", page):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and name.group(1) != "csrf" and 'type="file"' not in tag:
            fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    fields["kind"] = re.findall(r'<option value="(\w+)" selected>', page)[0]
    return fields


def confirm_fields(page: str) -> dict[str, str]:
    """The confirmation form's hidden fields (the rules text the diff was made of, …)."""
    found = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page)
    return {name: html.unescape(value) for name, value in found if name != "csrf"}


def problems_of_form(form: dict[str, str]) -> list[Problem]:
    """What validating the edit form's document finds (as the page does)."""
    document = RuleForm.of_request("VLOZ", FormData(form), ["sl", "it"]).document()
    with pytest.raises(RulesError) as caught:
        parse_rules_document(document)
    return caught.value.problems


def parts_shown(page: str, language: str = "sl") -> int:
    match = re.search(rf'id="parts-{language}"[^>]*><strong>SMS: (\d+) del', page)
    assert match, page
    return int(match.group(1))


def test_the_list_puts_unclassified_types_first_and_everyone_reads_it(
    console: ConsoleServer,
    console_settings: Settings,
    certs: StaffCertificates,
    vopi: Vopi,
    poll_once: Callable[[Settings], Poller],
) -> None:
    app = vopi.application(vopi.party())
    vopi.events("ARHIV", app, 3)
    poll_once(console_settings)
    add_notifications(console_settings)
    for who in (certs.viewer, certs.clerk, certs.admin):
        page = StaffBrowser(console, who).get("/dogodki")
        assert page.status_code == 200
    text = page.text
    assert text.index("ARHIV") < text.index("VLOZ")  # unclassified first
    row = text[text.index('class="unclassified"') :].split("</tr>")[0]
    assert "ARHIV" in row and "nerazvrščen" in row and '<td class="num">3</td>' in row
    klas = text[text.index(">KLAS</a>") :].split("</tr>")[0]
    # Key; four notifications, one of them 40 days old: the list counts the last 30 days.
    assert "ključni" in klas and '<td class="num">3</td>' in klas
    assert "obvestilo" in text.split(">VLOZ</a>")[1].split("</tr>")[0]
    # An unclassified type opens as internal, to be classified.
    edit = StaffBrowser(console, certs.viewer).get("/dogodki/vrsta/ARHIV")
    assert edit.status_code == 200
    assert "ni razvrščena" in edit.text
    assert StaffBrowser(console, certs.viewer).get("/dogodki/vrsta/NOPE").status_code == 404
    italian = StaffBrowser(console, certs.viewer).get("/dogodki?lang=it")
    assert "Tipi di evento" in italian.text and "non classificato" in italian.text


def test_an_unclassified_type_is_classified_on_its_page(
    console: ConsoleServer,
    console_settings: Settings,
    certs: StaffCertificates,
    vopi: Vopi,
    poll_once: Callable[[Settings], Poller],
) -> None:
    vopi.events("ARHIV", vopi.application(vopi.party()), 2)
    poll_once(console_settings)
    admin = StaffBrowser(console, certs.admin)
    form = edit_form(admin.get("/dogodki/vrsta/ARHIV").text)
    assert form["kind"] == "internal"
    form["name"] = "Zadeva arhivirana"
    review = admin.post("/dogodki/vrsta/ARHIV", {**form, "action": "save"}, token_from="/dogodki")
    assert "added     ARHIV (internal)" in html.unescape(review.text)
    assert admin.post("/dogodki/potrdi", confirm_fields(review.text)).status_code == 303
    listed = admin.get("/dogodki").text
    assert 'class="unclassified"' not in listed
    row = listed[listed.index(">ARHIV</a>") :].split("</tr>")[0]
    assert "notranji" in row and "Zadeva arhivirana" in row


def test_the_preview_renders_the_newest_event_and_counts_sms_parts(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates, vopi: Vopi
) -> None:
    app = vopi.application(vopi.party(), case_number="354-77/2026")
    newest = vopi.event("VLOZ", app)
    admin = StaffBrowser(console, certs.admin)
    page = admin.get("/dogodki/vrsta/VLOZ")
    assert page.status_code == 200
    assert f"(dogodek {newest})" in page.text and "354-77/2026" in page.text
    before = rules_rows(console_settings)
    form = edit_form(page.text)
    form["sl.sms"] = GSM_TEXT
    plain = admin.post("/dogodki/vrsta/VLOZ", {**form, "action": "preview"}, token_from="/dogodki")
    assert plain.status_code == 200
    assert len(html.unescape(plain.text).split('id="sms-sl">')[1].split("</pre>")[0]) > 70
    assert parts_shown(plain.text) == 1
    assert '<mark class="ucs2">' not in plain.text.split('id="sms-sl"')[1].split("</pre>")[0]
    form["sl.sms"] = GSM_TEXT.replace("Obcina", "Občina")
    with_c = admin.post("/dogodki/vrsta/VLOZ", {**form, "action": "preview"}, token_from="/dogodki")
    assert parts_shown(with_c.text) == 2
    assert '<mark class="ucs2">č</mark>' in with_c.text
    assert rules_rows(console_settings) == before  # a preview writes nothing


def test_the_live_counter_answers_for_admins_and_the_page_may_run_only_its_script(
    console: ConsoleServer, certs: StaffCertificates
) -> None:
    admin = StaffBrowser(console, certs.admin)
    page = admin.get("/dogodki/vrsta/VLOZ")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/event_type.js"' in page.text
    assert "script-src" not in admin.get("/dogodki").headers["content-security-policy"]
    assert "fetch(form.dataset.live" in admin.get("/static/event_type.js").text
    form = edit_form(page.text)
    lines = []
    for text in (GSM_TEXT, GSM_TEXT + " č"):
        reply = admin.post("/dogodki/sms/VLOZ", {**form, "sl.sms": text}, token_from="/dogodki")
        assert reply.status_code == 200
        lines.append(reply.json()["sl"])
    assert lines[0]["cost"].startswith("SMS: 1 del(ov), GSM-7")
    assert lines[1]["cost"].startswith("SMS: 2 del(ov), UCS-2")
    assert lines[1]["rendered"].startswith("Besedilo po predlogi: 2 del(ov), UCS-2")
    forged = admin.http.post("/dogodki/sms/VLOZ", data={**form, "csrf": "forged"})
    assert forged.status_code == 403
    viewer = StaffBrowser(console, certs.viewer)
    assert "data-live" not in viewer.get("/dogodki/vrsta/VLOZ").text
    assert viewer.post("/dogodki/sms/VLOZ", form).status_code == 403


def test_transliteration_shows_what_is_sent(
    make_settings: Callable[..., Settings], pki: Pki, certs: StaffCertificates
) -> None:
    settings = make_settings(**cs.console_overrides(pki), sms__transliterate=True)
    apply_rules(settings)
    cs.grant_staff(settings, certs)
    with cs.running_console(settings) as server:
        admin = StaffBrowser(server, certs.admin)
        form = edit_form(admin.get("/dogodki/vrsta/VLOZ").text)
        form["sl.sms"] = GSM_TEXT.replace("Obcina", "Občina")
        page = admin.post("/dogodki/vrsta/VLOZ", {**form, "action": "preview"})
    assert parts_shown(page.text) == 1  # sent transliterated, as GSM-7
    assert '<mark class="ucs2">č</mark>' in page.text  # but the template's č is shown
    sent = html.unescape(page.text.split('id="sms-sent-sl">')[1].split("</pre>")[0])
    assert sent.startswith("Obcina Koper")


def test_saving_shows_the_diff_then_applies_it_as_rules_apply_does(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    admin = StaffBrowser(console, certs.admin)
    form = edit_form(admin.get("/dogodki/vrsta/VLOZ").text)
    form["sl.sms"] = GSM_TEXT
    review = admin.post("/dogodki/vrsta/VLOZ", {**form, "action": "save"}, token_from="/dogodki")
    assert review.status_code == 200
    text = html.unescape(review.text)
    assert "changed   VLOZ: templates.sl.sms" in text
    assert "kept      KLAS" not in text  # one type's page: the others are not news
    assert f"+{GSM_TEXT}" in text and "-Obcina: vloga" in text
    assert stored_sms(console_settings, "VLOZ") != GSM_TEXT  # nothing written yet
    assert audit_rows(console_settings, "rules.apply") == []
    fields = confirm_fields(review.text)
    applied = admin.post("/dogodki/potrdi", fields, token_from="/dogodki")
    assert applied.headers["location"] == "/dogodki/vrsta/VLOZ"
    admin.follow(applied, "Pravila so uveljavljena")
    assert stored_sms(console_settings, "VLOZ") == GSM_TEXT
    [row] = audit_rows(console_settings, "rules.apply")
    assert row["actor"] == ADMIN and row["target"] == "rules"
    assert row["detail"] == {
        "file": "console: event type VLOZ",
        "changes": ["changed   VLOZ: templates.sl.sms"],
    }
    # The same confirmation again is stale: the rules changed since its diff was made.
    again = admin.post("/dogodki/potrdi", fields, token_from="/dogodki")
    assert again.status_code == 200 and "medtem spremenil" in again.text
    assert len(audit_rows(console_settings, "rules.apply")) == 1


def test_a_broken_template_is_refused_with_the_clis_message_and_nothing_written(
    console: ConsoleServer,
    console_settings: Settings,
    certs: StaffCertificates,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The CLI's problem, worded in the page's language: Slovenian, Italian when chosen."""
    admin = StaffBrowser(console, certs.admin)
    form = edit_form(admin.get("/dogodki/vrsta/VLOZ").text)
    form["sl.sms"] = "Vloga {{ event.case_number"
    before = rules_rows(console_settings)
    refused = admin.post("/dogodki/vrsta/VLOZ", {**form, "action": "save"}, token_from="/dogodki")
    assert refused.status_code == 400
    shown = html.unescape(refused.text)
    slovenian = "vrsta dogodka VLOZ, jezik »sl«: predloga »SMS«: skladenjska napaka v vrstici 1 ("
    assert slovenian in shown
    assert admin.get("/dogodki/vrsta/VLOZ?lang=it").status_code == 200
    in_italian = admin.post(
        "/dogodki/vrsta/VLOZ", {**form, "action": "save"}, token_from="/dogodki"
    )
    assert in_italian.status_code == 400
    italian = "tipo di evento VLOZ, lingua «sl»: modello «SMS»: errore di sintassi alla riga 1 ("
    assert italian in html.unescape(in_italian.text)
    rules_file = tmp_path / "broken.toml"
    rules_file.write_text(
        '[[event_types]]\ncode = "VLOZ"\nkind = "notify"\n[event_types.templates.sl]\n'
        'email_subject = "s"\nemail_body = "b"\nsms = "Vloga {{ event.case_number"\n',
        encoding="utf-8",
    )
    cli = Obvo(write_config(tmp_path, console_settings.database.url), capsys)
    result = cli("rules", "apply", str(rules_file))
    assert result.code != 0
    [message] = [
        line.removeprefix(f"obvo: error: {rules_file}: ")
        for line in result.err.splitlines()
        if "template 'sms'" in line
    ]
    # The same problem: what the CLI prints is the English of what the page shows.
    [problem] = problems_of_form(form)
    assert message == str(problem)
    assert render(problem, "sl") in shown and message not in shown
    assert render(problem, "it") in html.unescape(in_italian.text)
    assert rules_rows(console_settings) == before
    assert audit_rows(console_settings, "rules.apply") == []
    # A confirmation whose rules text was altered is validated again and refused.
    altered = {"rules_text": "[[event_types]\n", "source": "console: event type VLOZ",
               "fingerprint": "x", "back": "/dogodki/vrsta/VLOZ"}  # fmt: skip
    tampered = admin.post("/dogodki/potrdi", altered, token_from="/dogodki")
    assert tampered.status_code == 400
    assert "console: event type VLOZ: TOML non valido" in html.unescape(tampered.text)
    assert rules_rows(console_settings) == before
    assert audit_rows(console_settings, "rules.apply") == []


def test_viewer_and_clerk_may_read_but_not_change(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    before = rules_rows(console_settings)
    for who in (certs.viewer, certs.clerk):
        browser = StaffBrowser(console, who)
        page = browser.get("/dogodki/vrsta/VLOZ")
        assert page.status_code == 200 and 'value="save"' not in page.text
        assert browser.get("/dogodki/pravila.toml").status_code == 200
        for path, data in (
            ("/dogodki/vrsta/VLOZ", {"action": "save", "kind": "key"}),
            ("/dogodki/uvoz", {}),
            ("/dogodki/potrdi", {"rules_text": "x", "source": "x", "fingerprint": "x"}),
        ):
            reply = browser.post(path, data, files={"rules": ("r.toml", b"x", "text/plain")})
            assert reply.status_code == 403, (path, reply.text[:200])
            assert "To lahko stori le skrbnik" in reply.text
    assert rules_rows(console_settings) == before


def test_export_then_import_round_trips_and_an_import_is_applied_after_its_diff(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    admin = StaffBrowser(console, certs.admin)
    exported = admin.get("/dogodki/pravila.toml")
    assert exported.status_code == 200
    assert 'filename="obvo-rules.toml"' in exported.headers["content-disposition"]
    text = exported.text
    assert '[[event_types]]\ncode = "KLAS"' in text
    same = admin.post(
        "/dogodki/uvoz", files={"rules": ("obvo-rules.toml", text.encode(), "application/toml")}
    )
    assert same.status_code == 200 and "Ni sprememb" in same.text
    renamed = text.replace('name = "Vloga je vložena"', 'name = "Vloga je prispela"')
    review = admin.post(
        "/dogodki/uvoz", files={"rules": ("nova.toml", renamed.encode(), "application/toml")}
    )
    assert "changed   VLOZ: name" in html.unescape(review.text)
    fields = confirm_fields(review.text)
    assert admin.post("/dogodki/potrdi", fields).status_code == 303
    [row] = audit_rows(console_settings, "rules.apply")
    assert row["detail"]["file"] == "console: upload nova.toml"
    again = admin.get("/dogodki/pravila.toml").text
    assert 'name = "Vloga je prispela"' in again
    assert again.split("\n\n", 1)[1] == renamed.split("\n\n", 1)[1]  # past the dated header
    broken = admin.post(
        "/dogodki/uvoz",
        files={"rules": ("bad.toml", b'[[event_types]]\ncode = "X"\n', "text/plain")},
    )
    assert broken.status_code == 400
    assert "bad.toml: vrsta dogodka X: neznana vrsta obveščanja None" in html.unescape(broken.text)


# A VOPI event type code is any text; each of these broke the type's page once.
UNSAFE_CODES = ("PRE/IZ", "ZAK?", "ST#2", "50%", "NA VOLJO", "ČAKA/č", "KONEC/sms")


def test_codes_with_url_unsafe_characters_open_save_and_count_by_url(
    console: ConsoleServer,
    console_settings: Settings,
    certs: StaffCertificates,
    vopi: Vopi,
    poll_once: Callable[[Settings], Poller],
) -> None:
    app = vopi.application(vopi.party())
    for code in UNSAFE_CODES:  # VOPI's catalogue knows them: its events refer to it
        vopi.execute(
            vopi.conn, f"INSERT INTO {vopi.t}event_types (code, name) VALUES (%s, %s)", (code, code)
        )
        vopi.event(code, app)
    poll_once(console_settings)
    viewer = StaffBrowser(console, certs.viewer)
    listed = viewer.get("/dogodki").text
    links = {
        html.unescape(text): html.unescape(href)
        for href, text in re.findall(r'<a href="(/dogodki/vrsta/[^"]+)">([^<]+)</a>', listed)
    }
    assert set(UNSAFE_CODES) <= set(links)
    for code in UNSAFE_CODES:
        page = viewer.get(links[code])
        assert page.status_code == 200, (code, links[code])
        assert f"<h1>{html.escape(code)}" in page.text.replace("Vrsta dogodka ", "")
        assert "ni razvrščena" in page.text
    # The link is the code, percent-encoded as one segment; the typed-out form works as well.
    assert links["PRE/IZ"] == "/dogodki/vrsta/PRE%2FIZ"
    assert viewer.get("/dogodki/vrsta/%C4%8CAKA%2F%C4%8D").status_code == 200
    assert viewer.get("/dogodki/vrsta/PRE%2FNO").status_code == 404
    # An admin classifies one: the diff, the confirmation, back to the same page.
    admin = StaffBrowser(console, certs.admin)
    code = "KONEC/sms"
    edit = admin.get(links[code]).text
    assert 'data-live="/dogodki/sms/KONEC%2Fsms"' in edit
    form = edit_form(edit)
    form["name"] = "Postopek končan"
    review = admin.post(links[code], {**form, "action": "save"}, token_from="/dogodki")
    assert review.status_code == 200
    assert f"added     {code} (internal)" in html.unescape(review.text)
    applied = admin.post("/dogodki/potrdi", confirm_fields(review.text), token_from="/dogodki")
    assert applied.headers["location"] == "/dogodki/vrsta/KONEC%2Fsms"
    again = admin.follow(applied, "Pravila so uveljavljena")
    assert "Postopek končan" in again.text
    [row] = audit_rows(console_settings, "rules.apply")
    assert row["detail"]["file"] == f"console: event type {code}"
    # The live counter of a code ending in "/sms" is that code's, not another type's.
    counted = admin.post(
        "/dogodki/sms/KONEC%2Fsms", {**edit_form(again.text), "sl.sms": ""}, token_from="/dogodki"
    )
    assert counted.status_code == 200 and counted.headers["content-type"] == "application/json"
    assert admin.post("/dogodki/sms/NI%2FTAKE", form, token_from="/dogodki").status_code == 404
    # A viewer reads but cannot change it.
    assert viewer.post(links[code], {**form, "action": "save"}).status_code == 403
    assert viewer.post("/dogodki/sms/KONEC%2Fsms", form).status_code == 403
