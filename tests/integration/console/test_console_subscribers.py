"""Subscribers over HTTP: a clerk searches (POSTed, normalised), registers a citizen in person
and from a written application (cases checked in VOPI), prints the confirmation, changes,
ends; an admin erases after typing the party id; a CSV import with a dry run first. The same
validation and audit rows as `obvo subscribers …`."""

from __future__ import annotations

import re

import psycopg

from tests import console_support as cs
from tests.console_support import ConsoleServer, StaffBrowser, StaffCertificates, audit_rows
from tests.support import Vopi
from vopi_obvo.config import Settings

pki = cs.pki
certs = cs.certs
console_settings = cs.console_settings
console = cs.console
close_staff_browsers = cs.close_staff_browsers

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
    assert f"is not a party of case(s) {other} in VOPI" in refused.text
    written = clerk.post(new, {**FORM, "party": str(party), "origin": "written",
                               "phone": "041 555 666"}, token_from=new)  # fmt: skip
    assert written.status_code == 400
    assert "a written application needs its document reference" in written.text
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
    assert twice.status_code == 400 and "is already subscribed" in twice.text
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
    assert bad.status_code == 400 and "not UTF-8 text" in bad.text
