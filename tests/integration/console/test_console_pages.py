"""Every console page, as each role sees it, walked over HTTP: one `h1`, the skip link, a
label for every field (and every id once), text on every button, so the pages are usable by
keyboard and screen reader; and what a clerk or administrator looks for on them: the audit's
outcome filter, a notification's provider id and delivery receipt, the held notifications'
way into the outbox, the outbox's event type suggestions."""

from __future__ import annotations

import csv
import html
import io
import re
from html.parser import HTMLParser

import psycopg

from tests.console_support import ConsoleServer, StaffBrowser, StaffCertificates
from tests.integration.console.test_console_overview import add_notifications
from tests.support import Vopi
from vopi_obvo.config import Settings

CONTROLS = {"input", "select", "textarea"}
UNLABELLED = {"hidden", "submit", "button"}


class PageShape(HTMLParser):
    """What a page holds for keyboard and screen-reader users."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.labels: set[str] = set()
        self.fields: list[tuple[str, str]] = []  # (tag, id) of every control needing a label
        self.headings = 0
        self.skip = False
        self.lang = ""
        self.buttons: list[str] = []
        self._button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if "id" in found:
            self.ids.append(found["id"])
        if tag == "html":
            self.lang = found.get("lang", "")
        elif tag == "label" and "for" in found:
            self.labels.add(found["for"])
        elif tag in CONTROLS and found.get("type", "text") not in UNLABELLED:
            self.fields.append((f"{tag} name={found.get('name')}", found.get("id", "")))
        elif tag == "h1":
            self.headings += 1
        elif tag == "a" and found.get("href") == "#main":
            self.skip = True
        elif tag == "button":
            self._button = []

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None:
            self.buttons.append("".join(self._button).strip())
            self._button = None


def shape_problems(path: str, text: str) -> tuple[list[str], int]:
    """The page's problems, and how many fields it has (a scan that sees none proves nothing)."""
    page = PageShape()
    page.feed(text)
    problems = [f"{path}: {tag} has no label" for tag, id_ in page.fields if id_ not in page.labels]
    problems += [f"{path}: id {i!r} twice" for i in sorted(set(page.ids)) if page.ids.count(i) > 1]
    problems += [f"{path}: a button without text" for b in page.buttons if not b]
    if page.headings != 1:
        problems.append(f"{path}: {page.headings} h1 headings")
    if not page.skip or page.lang not in ("sl", "it"):
        problems.append(f"{path}: no skip link or no page language")
    return problems, len(page.fields)


def test_every_page_labels_every_field_for_every_role(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates, vopi: Vopi
) -> None:
    add_notifications(console_settings)
    with psycopg.connect(console_settings.database.url, autocommit=True) as conn:
        conn.execute("UPDATE obvo.notifications SET status = 'held', held_reason = 'storm'")
    admin = StaffBrowser(console, certs.admin)
    party = vopi.party("Ana Kos")
    registered = admin.post(
        "/narocniki/nov",
        {"party": str(party), "email": "ana@example.si", "events": "all", "language": "sl",
         "origin": "in_person"},
        token_from="/narocniki/nov",
    )  # fmt: skip
    subscriber_page = registered.headers["location"].removesuffix("/potrdilo")
    paths = {
        "viewer": ["/", "/obvestila", "/obvestila/1", "/zadrzana", "/revizija", "/dogodki",
                   "/dogodki/vrsta/VLOZ"],
        "clerk": ["/obvestila?subscriber=1", "/narocniki", "/narocniki/nov", subscriber_page,
                  f"{subscriber_page}/potrdilo", "/narocniki/uvoz/"],
        "admin": ["/osebje", "/dogodki/vrsta/VLOZ", "/zadrzana", subscriber_page],
    }  # fmt: skip
    problems: list[str] = []
    fields = 0
    for role, pages in paths.items():
        browser = StaffBrowser(console, getattr(certs, role))
        for path in pages:
            for lang in ("sl", "it"):
                reply = browser.get(f"{path}{'&' if '?' in path else '?'}lang={lang}")
                assert reply.status_code == 200, (role, path, reply.text[:300])
                found, count = shape_problems(f"{role} {path} {lang}", reply.text)
                problems += found
                fields += count
    assert fields > 100  # the filters, the registration and change forms, the templates, …
    assert not problems, "\n".join(problems)
    unlabelled = '<form><input type="text" name="x" id="x"><button> </button></form>'
    assert len(shape_problems("a page without", unlabelled)[0]) == 4  # label, button, h1, skip


def test_the_audit_filters_by_outcome_as_obvo_audit_does(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    with psycopg.connect(console_settings.database.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO obvo.portal_audit (actor, action, outcome, party_id, peer) VALUES"
            " ('anonymous', 'sign_in.revoked', 'refused', '7', '203.0.113.9'),"
            " ('identity:1', 'sign_in', 'ok', '7', '127.0.0.1')"
        )
    viewer = StaffBrowser(console, certs.viewer)
    refused = viewer.get("/revizija?outcome=refused")
    assert refused.status_code == 200
    assert "sign_in.revoked" in refused.text and ">sign_in<" not in refused.text
    assert "zavrnjeno" in refused.text and 'value="refused" selected' in refused.text
    exported = viewer.get("/revizija.csv?outcome=refused&source=portal")
    assert [(r["action"], r["outcome"]) for r in csv.DictReader(io.StringIO(exported.text))] == [
        ("sign_in.revoked", "refused")
    ]
    allowed = viewer.get("/revizija.csv?outcome=ok&source=portal").text
    assert [r["action"] for r in csv.DictReader(io.StringIO(allowed))] == ["sign_in"]
    bad = viewer.get("/revizija?outcome=maybe")
    assert bad.status_code == 400 and "Izid: mora biti ena od vrednosti ok, refused" in bad.text


def test_a_notification_shows_its_provider_id_and_delivery_receipt(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    add_notifications(console_settings)
    with psycopg.connect(console_settings.database.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE obvo.notifications SET status = 'undelivered', provider_id = 'smsc-4711',"
            " delivered_at = '2026-12-01 10:15+01', delivery_error = 'UNDELIV err 034'"
            " WHERE id = 2"
        )
        conn.execute(
            "INSERT INTO obvo.notification_attempts (notification_id, attempt, worker_id,"
            " started_at, finished_at, outcome, provider_id)"
            " VALUES (2, 1, 'w1', now(), now(), 'sent', 'smsc-4711')"
        )
    page = StaffBrowser(console, certs.viewer).get("/obvestila/2").text
    assert "Oznaka pri ponudniku" in page and page.count("smsc-4711") == 2
    assert "Potrdilo o dostavi" in page and "1. 12. 2026 10:15 UNDELIV err 034" in page


def test_held_notifications_lead_to_the_outbox_and_the_filter_suggests_types(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    add_notifications(console_settings)
    with psycopg.connect(console_settings.database.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE obvo.notifications SET status = 'held', held_reason = 'storm'"
            " WHERE event_type = 'KLAS'"
        )
    viewer = StaffBrowser(console, certs.viewer)
    held = viewer.get("/zadrzana").text
    assert '<a href="/obvestila?status=held&amp;event_type=KLAS">' in held
    listed = viewer.get("/obvestila?status=held&event_type=KLAS")
    assert listed.status_code == 200
    assert listed.text.count('<a href="/obvestila/') == 4
    assert '<datalist id="f-types">' in listed.text and '<option value="VLOZ">' in listed.text


def test_the_outbox_pages_on_past_its_newest_200_without_losing_ties(
    console: ConsoleServer, console_settings: Settings, certs: StaffCertificates
) -> None:
    with psycopg.connect(console_settings.database.url, autocommit=True) as conn:
        # 250 made in one transaction (one creation time, as a poll makes them), 10 older.
        conn.execute(
            "INSERT INTO obvo.notifications (source_event_id, channel, event_type, event_kind,"
            " language, status, created_at)"
            " SELECT g, CASE WHEN g % 2 = 0 THEN 'sms' ELSE 'email' END, 'VLOZ', 'notify', 'sl',"
            " 'sent', CASE WHEN g <= 10 THEN now() - interval '1 day' ELSE now() END"
            " FROM generate_series(1, 260) AS g"
        )
        everything = [r[0] for r in conn.execute("SELECT id FROM obvo.notifications")]
    viewer = StaffBrowser(console, certs.viewer)

    def listed(text: str) -> list[int]:
        return [int(i) for i in re.findall(r'<td><a href="/obvestila/(\d+)">', text)]

    def older_link(text: str) -> str | None:
        found = re.search(r'<a href="([^"]+)" rel="next">', text)
        return html.unescape(found.group(1)) if found else None

    seen: list[int] = []
    path: str | None = "/obvestila"
    pages = 0
    while path is not None:
        page = viewer.get(path)
        assert page.status_code == 200
        seen += listed(page.text)
        pages += 1
        path = older_link(page.text)
        assert ("Najnovejša obvestila" in page.text) == (pages > 1)
    assert pages == 2 and len(seen) == len(set(seen)) == 260
    assert seen == sorted(everything, reverse=True)  # newest first; ties by id
    # The filters go along to the next page; a selection of one page has no next page.
    assert older_link(viewer.get("/obvestila?channel=email&status=sent").text) is None  # 130
    sent = viewer.get("/obvestila?status=sent").text
    link = older_link(sent)
    assert link is not None and "status=sent" in link and "before=" in link
    following = listed(viewer.get(link).text)
    assert len(following) == 60 and max(following) < min(listed(sent))
    bad = viewer.get("/obvestila?before=last")
    assert bad.status_code == 400
    assert "mora biti številka obvestila, ne »last«" in html.unescape(bad.text)
