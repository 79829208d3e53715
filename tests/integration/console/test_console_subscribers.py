"""Subscribers over HTTP: a clerk searches (POSTed, normalised), registers a citizen in person
and from a written application (cases checked in VOPI), prints the confirmation, changes,
ends; an admin erases after typing the party id; a CSV import with a dry run first. The same
validation and audit rows as `obvo subscribers …`."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import psycopg

from tests.console_support import (
    ConsoleServer,
    StaffBrowser,
    StaffCertificates,
    audit_rows,
    console_overrides,
    grant_staff,
    running_console,
)
from tests.portal_support import Pki
from tests.support import Vopi
from tests.support_saml import SipassIdp, sipass_overrides
from vopi_obvo.config import Settings

FORM = {
    "origin": "in_person",
    "reference": "",
    "consent_at": "",
    "email": "",
    "phone": "",
    "events": "all",
    "language": "sl",
    "cases": "",
}


def subscribers(settings: Settings) -> list[tuple[str, str | None, str | None, str]]:
    with psycopg.connect(settings.database.url) as conn:
        return [
            (str(r[0]), r[1], r[2], str(r[3]))
            for r in conn.execute(
                "SELECT party_id, email, phone, origin FROM obvo.subscribers ORDER BY id"
            )
        ]


def test_a_clerk_registers_searches_changes_and_ends_a_subscription(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates, vopi: Vopi
) -> None:
    party = vopi.party("Ana Kos")
    application = vopi.application(party)
    other = vopi.application(vopi.party("Nekdo Drug"))
    clerk = StaffBrowser(console, certs.clerk)
    viewer = StaffBrowser(console, certs.viewer)
    assert viewer.get("/narocniki").status_code == 403
    new = "/narocniki/nov"
    refused = clerk.post(
        new, {**FORM, "party": str(party), "phone": "041 555 666", "cases": f"{other}"},
        token_from=new,
    )  # fmt: skip
    assert refused.status_code == 400
    assert f"Samo te zadeve: stranka {party} v VOPI ni stranka zadev {other}" in refused.text
    written = clerk.post(new, {**FORM, "party": str(party), "origin": "written",
                               "phone": "041 555 666"}, token_from=new)  # fmt: skip
    assert written.status_code == 400
    assert "pri pisni vlogi je obvezna številka dokumenta" in written.text
    assert "--reference" not in written.text  # the CLI's option means nothing on a form
    assert subscribers(console_settings) == []
    done = clerk.post(
        new,
        {**FORM, "party": str(party), "phone": "041 555 666", "email": "Ana.Kos@Example.si",
         "cases": f"{application}"},
        token_from=new,
    )  # fmt: skip
    confirmation = clerk.follow(done, "Naročnina je shranjena.")
    assert "Potrdilo o prijavi" in confirmation.text
    assert "+38641555666" in confirmation.text and "privolitev" in confirmation.text.lower()
    assert subscribers(console_settings) == [
        (str(party), "Ana.Kos@example.si", "+38641555666", "in_person")
    ]
    [added] = audit_rows(console_settings, "subscriber.add")
    assert added["actor"] == "Cene Referent (console, staff 2)"
    assert "Ana.Kos" not in str(added["detail"])  # no address in the audit
    twice = clerk.post(new, {**FORM, "party": str(party), "phone": "040 111 222"}, token_from=new)
    assert twice.status_code == 400
    assert f"Stranka v VOPI (številka): stranka {party} je že naročena" in twice.text
    assert "naročnino spremenite na strani naročnika" in twice.text
    # Search by the phone as a citizen says it: normalised, POSTed (no number in a URL).
    found = clerk.post("/narocniki/iskanje", {"phone": "+386 41 555 666"}, token_from="/narocniki")
    assert found.status_code == 200
    [subscriber_id] = re.findall(r'href="/narocniki/(\d+)"', found.text)
    page = f"/narocniki/{subscriber_id}"
    changed = clerk.post(
        f"{page}/sprememba",
        {**FORM, "phone": "041 555 666", "email": "", "events": "key",
         "cases": f"{application}"},
        token_from=page,
    )  # fmt: skip
    clerk.follow(changed, "Spremembe so shranjene.")
    assert subscribers(console_settings)[0][1] is None  # the e-mail removed
    [update] = audit_rows(console_settings, "subscriber.update")
    assert sorted(update["detail"]["changed"]) == ["email", "events"]
    ended = clerk.post(f"{page}/konec", token_from=page)
    assert ended.headers["location"] == "/narocniki"  # the party's number is not in a URL
    clerk.follow(ended, f"Naročnina stranke {party} je odjavljena; preklicanih čakajočih")
    assert subscribers(console_settings) == []
    assert len(audit_rows(console_settings, "subscriber.remove")) == 1


def test_only_an_admin_erases_and_only_after_typing_the_party_id(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates, vopi: Vopi
) -> None:
    party = vopi.party("Ana Kos")
    clerk = StaffBrowser(console, certs.clerk)
    done = clerk.post(
        "/narocniki/nov", {**FORM, "party": str(party), "email": "ana@example.si"},
        token_from="/narocniki/nov",
    )  # fmt: skip
    page = done.headers["location"].removesuffix("/potrdilo")
    assert 'id="erase"' not in clerk.get(page).text
    assert clerk.post(f"{page}/izbris", {"confirm": str(party)}, token_from=page).status_code == 403
    admin = StaffBrowser(console, certs.admin)
    wrong = admin.post(f"{page}/izbris", {"confirm": "12"}, token_from=page)
    assert wrong.status_code == 400 and "Izbris ni potrjen" in wrong.text
    assert len(subscribers(console_settings)) == 1
    erased = admin.post(f"{page}/izbris", {"confirm": str(party)}, token_from=page)
    admin.follow(erased, f"Podatki stranke {party} so izbrisani")
    assert subscribers(console_settings) == []
    [row] = audit_rows(console_settings, "subscriber.forget")
    assert row["actor"] == "Ana Admin (console, staff 1)"


def test_a_csv_import_is_checked_first_and_reports_each_line(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates, vopi: Vopi
) -> None:
    first, second = vopi.party("A"), vopi.party("B")
    text = (
        "party;email;phone;events\n"
        f"{first};a@example.si;;all\n"
        f"{second};;041 1;key\n"
        f"{second};b@example.si;;all\n"
    )
    clerk = StaffBrowser(console, certs.clerk)
    upload = "/narocniki/uvoz/"
    files = {"file": ("narocniki.csv", text.encode(), "text/csv")}
    dry = clerk.post(upload, {"mode": "dry_run", "origin": "in_person"}, token_from=upload,
                     files=files)  # fmt: skip
    assert dry.status_code == 200
    assert "veljavnih vrstic 2, neveljavnih 1; nič ni bilo zapisano" in dry.text
    assert "<td>3</td>" in dry.text  # the bad phone's line
    assert subscribers(console_settings) == []
    real = clerk.post(upload, {"mode": "import", "origin": "in_person"}, token_from=upload,
                      files=files)  # fmt: skip
    assert real.headers["location"] == upload
    report = clerk.follow(real, "Uvoženih naročnikov: 2")
    assert "<td>3</td>" in report.text  # the line it refused, shown once
    assert "<td>3</td>" not in clerk.get(upload).text
    assert sorted(s[0] for s in subscribers(console_settings)) == sorted([str(first), str(second)])
    rows = audit_rows(console_settings, "subscriber.add")
    assert {r["detail"]["via"] for r in rows} == {"import"}
    bad = clerk.post(upload, {"mode": "import"}, token_from=upload,
                     files={"file": ("x.csv", b"\xff\xfe", "text/csv")})  # fmt: skip
    assert bad.status_code == 400
    assert "x.csv, vrstica 1: besedilo ni v kodiranju UTF-8 (bajt 0xff)" in bad.text


def test_a_bad_registration_is_refused_in_the_pages_language_and_nothing_written(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates, vopi: Vopi
) -> None:
    """The CLI's validation, worded for the clerk: the field as the form labels it, the
    problem in Slovenian (or Italian, the language chosen on the console)."""
    party = vopi.party("Ana Kos")
    new = "/narocniki/nov"
    clerk = StaffBrowser(console, certs.clerk)
    bad = {**FORM, "party": str(party), "email": "ana.kos.example.si", "phone": "041 ABC DEF"}
    refused = clerk.post(new, bad, token_from=new)
    assert refused.status_code == 400
    assert "E-pošta: »ana.kos.example.si« ni veljaven e-poštni naslov" in refused.text
    assert "invalid e-mail address" not in refused.text
    assert clerk.get(f"{new}?lang=it").status_code == 200  # the console's language: Italian
    italian = clerk.post(new, bad, token_from=new)
    assert italian.status_code == 400
    assert "E-mail: «ana.kos.example.si» non è un indirizzo e-mail valido" in italian.text
    no_mobile = clerk.post(new, {**bad, "email": "", "phone": "05 664 62 00"}, token_from=new)
    assert "Cellulare: «05 664 62 00» non è un numero di cellulare" in no_mobile.text
    assert subscribers(console_settings) == []
    assert audit_rows(console_settings, "subscriber.") == []


def test_a_csv_imports_bad_line_is_reported_in_the_pages_language_and_not_written(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates, vopi: Vopi
) -> None:
    party = vopi.party("A")
    files = {"file": ("narocniki.csv", f"party;email\n{party};a@\n".encode(), "text/csv")}
    upload = "/narocniki/uvoz/"
    clerk = StaffBrowser(console, certs.clerk)
    sent = clerk.post(upload, {"mode": "import", "origin": "in_person"}, token_from=upload,
                      files=files)  # fmt: skip
    report = clerk.follow(sent, "Uvoženih naročnikov: 0")
    row = report.text[report.text.index("<td>2</td>") :].split("</tr>")[0]
    assert "stolpec email: »a@« ni veljaven e-poštni naslov" in row
    assert clerk.get(f"{upload}?lang=it").status_code == 200
    sent = clerk.post(upload, {"mode": "import", "origin": "in_person"}, token_from=upload,
                      files=files)  # fmt: skip
    italian = clerk.follow(sent, "Iscritti importati: 0")
    assert "colonna email: «a@» non è un indirizzo e-mail valido" in italian.text
    assert subscribers(console_settings) == []
    assert audit_rows(console_settings, "subscriber.") == []


def test_the_confirmation_tells_the_citizen_how_to_change_it_on_the_portal(
    make_settings: Callable[..., Settings],
    pki: Pki,
    certs: StaffCertificates,
    vopi: Vopi,
    sipass_idp: SipassIdp,
    tmp_path: Path,
) -> None:
    portal = "https://obvestila.koper.si"
    only_certificates = make_settings(**console_overrides(pki, portal__public_url=portal))
    with_sipass = make_settings(
        **console_overrides(pki, **sipass_overrides(sipass_idp, tmp_path, portal))
    )
    grant_staff(only_certificates, certs)  # one database: the staff serve both consoles
    for settings, sentence in (
        (only_certificates, f"Ali sami na portalu {portal} z digitalnim potrdilom."),
        (with_sipass, f"Ali sami na portalu {portal} z digitalnim potrdilom ali prek SI-PASS."),
    ):
        with running_console(settings) as server:
            clerk = StaffBrowser(server, certs.clerk)
            new = "/narocniki/nov"
            form = {**FORM, "party": str(vopi.party("Ana Kos")), "email": "ana@example.si"}
            confirmation = clerk.follow(
                clerk.post(new, form, token_from=new), "Naročnina je shranjena."
            )
            assert sentence in confirmation.text
