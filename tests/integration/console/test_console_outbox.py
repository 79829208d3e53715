"""The outbox over HTTP: filters, a notification's attempts, retry and cancel by a clerk, a
storm's held notifications released by an admin and sent by the daemon; the audit trail
with its filters and CSV. Each action leaves the CLI's own audit row, the staff member as
actor."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator

import psycopg
import pytest

from tests import console_support as cs
from tests.console_support import ConsoleServer, StaffBrowser, StaffCertificates, audit_rows
from tests.integration.test_pipeline import apply_rules, notifications, subscribe
from tests.portal_support import Pki
from tests.support import SmtpServer, Vopi
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service


@pytest.fixture
def storm_settings(
    make_settings: Callable[..., Settings], pki: Pki, certs: StaffCertificates
) -> Settings:
    """A storm guard that trips at two notifications a minute for one event type."""
    settings = make_settings(**cs.console_overrides(pki), delivery__storm_threshold=2)
    apply_rules(settings)
    cs.grant_staff(settings, certs)
    return settings


@pytest.fixture
def console(storm_settings: Settings) -> Iterator[ConsoleServer]:
    with cs.running_console(storm_settings) as server:
        yield server


def run_daemon(settings: Settings) -> None:
    service = Service(settings)
    try:
        service.run(once=True)
    finally:
        service.close()


def storm(settings: Settings, vopi: Vopi, people: int = 3) -> list[int]:
    """Three citizens' applications get a VLOZ event in the same minute: a storm."""
    applications = []
    for n in range(people):
        party = vopi.party(f"Občan {n}")
        applications.append(vopi.application(party))
        subscribe(settings, party, email=f"obcan{n}@example.si")
    for application in applications:
        vopi.event("VLOZ", application)
    run_daemon(settings)
    return applications


def test_an_admin_releases_a_storm_and_the_daemon_sends_the_held_messages(
    console: ConsoleServer,
    storm_settings: Settings,
    certs: StaffCertificates,
    vopi: Vopi,
    smtp_server: SmtpServer,
) -> None:
    storm(storm_settings, vopi)
    assert {n["status"] for n in notifications(storm_settings)} == {"held"}
    assert smtp_server.messages == []
    viewer = StaffBrowser(console, certs.viewer)
    page = viewer.get("/zadrzana")
    assert page.status_code == 200
    assert "Nevihta" in page.text and "VLOZ" in page.text
    assert 'id="release-VLOZ"' not in page.text  # a viewer cannot decide
    refused = viewer.post("/zadrzana/sprosti", {"event_type": "VLOZ"})
    assert refused.status_code == 403
    admin = StaffBrowser(console, certs.admin)
    unknown = admin.post("/zadrzana/sprosti", {"event_type": "NOPE"}, token_from="/zadrzana")
    assert unknown.status_code == 400
    assert "Vrsta dogodka NOPE: te vrste dogodka v pravilih ni (znane so:" in unknown.text
    released = admin.post("/zadrzana/sprosti", {"event_type": "VLOZ"}, token_from="/zadrzana")
    assert released.headers["location"] == "/zadrzana"
    page = admin.follow(released, "Sproščena zadržana obvestila vrste VLOZ: 3; poslana bodo zdaj.")
    assert "Nevihta te vrste je končana" in page.text
    assert "Za vrsto VLOZ" not in page.text  # nothing held is left to show
    [row] = audit_rows(storm_settings, "notifications.release")  # the reload changed nothing
    assert row["actor"] == "Ana Admin (console, staff 1)"
    assert row["target"] == "event_type:VLOZ"
    run_daemon(storm_settings)
    assert sorted(m.recipients[0] for m in smtp_server.messages) == [
        "obcan0@example.si",
        "obcan1@example.si",
        "obcan2@example.si",
    ]


def test_a_clerk_retries_and_cancels_one_notification(
    console: ConsoleServer, storm_settings: Settings, certs: StaffCertificates, vopi: Vopi
) -> None:
    storm(storm_settings, vopi)
    first, second, _ = [n["id"] for n in notifications(storm_settings)]
    viewer = StaffBrowser(console, certs.viewer)
    detail = viewer.get(f"/obvestila/{first}")
    assert detail.status_code == 200
    assert "obcan0@example.si" not in detail.text  # a viewer sees the address masked
    assert (
        viewer.post(f"/obvestila/{first}/preklici", token_from=f"/obvestila/{first}").status_code
        == 403
    )
    clerk = StaffBrowser(console, certs.clerk)
    cancelled = clerk.post(f"/obvestila/{first}/preklici", token_from=f"/obvestila/{first}")
    clerk.follow(cancelled, "Obvestilo je preklicano in ne bo poslano.")
    again = clerk.post(f"/obvestila/{first}/preklici", token_from=f"/obvestila/{first}")
    assert again.status_code == 400
    assert "preklicati je mogoče le čakajoča, zadržana ali neuspešna obvestila" in again.text
    with psycopg.connect(storm_settings.database.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE obvo.notifications SET status = 'failed', last_error = 'boom' WHERE id = %s",
            (second,),
        )
    retried = clerk.post(f"/obvestila/{second}/ponovi", token_from=f"/obvestila/{second}")
    clerk.follow(retried, "Obvestilo bo poslano znova.")
    statuses = {n["id"]: n["status"] for n in notifications(storm_settings)}
    assert (statuses[first], statuses[second]) == ("cancelled", "pending")
    assert [(r["action"], r["actor"]) for r in audit_rows(storm_settings, "notification.")] == [
        ("notification.cancel", "Cene Referent (console, staff 2)"),
        ("notification.retry", "Cene Referent (console, staff 2)"),
    ]


def test_the_outbox_filters_and_refuses_bad_ones(
    console: ConsoleServer, storm_settings: Settings, certs: StaffCertificates, vopi: Vopi
) -> None:
    applications = storm(storm_settings, vopi)
    clerk = StaffBrowser(console, certs.clerk)
    everything = clerk.get("/obvestila")
    assert everything.text.count('<a href="/obvestila/') == 3
    one_case = notifications(storm_settings)[0]
    with psycopg.connect(storm_settings.database.url) as conn:
        row = conn.execute(
            "SELECT case_id FROM obvo.notifications WHERE id = %s", (one_case["id"],)
        ).fetchone()
    assert row is not None
    narrowed = clerk.get(f"/obvestila?case={row[0]}&status=held&channel=email&event_type=VLOZ")
    assert narrowed.text.count('<a href="/obvestila/') == 1
    assert clerk.get("/obvestila?status=sent").text.count('<a href="/obvestila/') == 0
    bad = clerk.get("/obvestila?status=lost&since=yesterday")
    assert bad.status_code == 400
    assert "Stanje: mora biti ena od vrednosti pending, " in bad.text
    assert "Od: »yesterday« ni veljaven čas" in bad.text
    assert clerk.get("/obvestila?lang=it").status_code == 200
    italian = clerk.get("/obvestila?status=lost&since=yesterday")
    assert "Stato: deve essere uno tra pending, " in italian.text
    assert "Dal: «yesterday» non è un&#39;ora valida" in italian.text
    viewer = StaffBrowser(console, certs.viewer)
    assert viewer.get("/obvestila?subscriber=1").status_code == 400  # a clerk's view
    assert len(applications) == 3


def test_the_audit_trail_filters_and_exports(
    console: ConsoleServer, storm_settings: Settings, certs: StaffCertificates, vopi: Vopi
) -> None:
    storm(storm_settings, vopi)
    admin = StaffBrowser(console, certs.admin)
    admin.post("/zadrzana/preklici", {"event_type": "VLOZ"}, token_from="/zadrzana")
    viewer = StaffBrowser(console, certs.viewer)
    page = viewer.get("/revizija?action=notifications")
    assert page.status_code == 200
    assert "notifications.cancel" in page.text and "staff.grant" not in page.text
    exported = viewer.get("/revizija.csv?actor=Ana+Admin+%28console%2C+staff+1%29")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["action"] for r in rows} == {"console.sign_in", "notifications.cancel"}
    assert viewer.get("/revizija?since=never").status_code == 400
    assert viewer.get("/revizija?source=elsewhere").status_code == 400
    admin_only = viewer.get("/revizija.csv?source=admin&action=console.sign_in")
    assert {r["source"] for r in csv.DictReader(io.StringIO(admin_only.text))} == {"admin"}


def test_the_audit_trail_takes_since_and_until_on_the_page_and_in_its_csv(
    console: ConsoleServer, storm_settings: Settings, certs: StaffCertificates
) -> None:
    with psycopg.connect(storm_settings.database.url, autocommit=True) as conn:
        for action, at in (
            ("rules.apply", "2026-03-01 08:00+01"),
            ("subscriber.add", "2026-03-01 23:30+01"),
            ("subscriber.update", "2026-03-02 00:00+01"),
        ):
            conn.execute(
                "INSERT INTO obvo.audit_log (at, actor, action) VALUES (%s, 'c', %s)", (at, action)
            )
    viewer = StaffBrowser(console, certs.viewer)
    # As the form sends it: datetime-local values, Ljubljana time.
    day = "actor=c&since=2026-03-01T00%3A00&until=2026-03-02T00%3A00"
    page = viewer.get(f"/revizija?{day}")
    assert page.status_code == 200
    assert "subscriber.add" in page.text and "rules.apply" in page.text
    assert "subscriber.update" not in page.text
    assert 'id="a-until" name="until" value="2026-03-02T00:00"' in page.text
    assert f'href="/revizija.csv?{day.replace("&", "&amp;")}"' in page.text
    exported = viewer.get(f"/revizija.csv?{day}")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["action"], r["time"]) for r in rows] == [
        ("subscriber.add", "2026-03-01 23:30:00"),
        ("rules.apply", "2026-03-01 08:00:00"),
    ]
    morning = viewer.get("/revizija.csv?actor=c&until=2026-03-01T12%3A00")
    assert [r["action"] for r in csv.DictReader(io.StringIO(morning.text))] == ["rules.apply"]
    backwards = viewer.get("/revizija?since=2026-03-02T00%3A00&until=2026-03-01T00%3A00")
    assert backwards.status_code == 400
    assert "»Do« mora biti pozneje kot »Od«, sicer vmes ni ničesar" in backwards.text
    assert viewer.get("/revizija.csv?until=jutri").status_code == 400
