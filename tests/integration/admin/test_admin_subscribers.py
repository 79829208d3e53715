"""`obvo subscribers …` against a real PostgreSQL, and per-case subscriptions in the poller."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.admin_helpers import Obvo, apply_example_rules, execute, rows, snapshot, write_config
from tests.support import SmtpServer, Vopi
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service


@pytest.fixture
def obvo(tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> Obvo:
    return Obvo(write_config(tmp_path, database_url), capsys)


def subscribers(database_url: str) -> list[tuple[object, ...]]:
    return rows(
        database_url,
        "SELECT party_id, email, phone, events, language, origin, reference"
        " FROM obvo.subscribers ORDER BY id",
    )


# ---- add, show, list ----


def test_add_records_origin_reference_consent_and_cases(
    obvo: Obvo, vopi: Vopi, database_url: str
) -> None:
    party = vopi.party()
    first, second = vopi.application(party), vopi.application(party)
    result = obvo(
        "subscribers", "add", "--party", str(party), "--email", "Janez@Example.si",
        "--phone", "041 123 456", "--origin", "written", "--reference", "354-5/2026-1",
        "--consent-at", "2026-03-01 10:15", "--case", str(first), "--case", str(second),
        "--actor", "referentka.maja",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert f"cases {first}, {second}" in result.out
    shown = json.loads(obvo("subscribers", "show", "--party", str(party), "--json").out)
    assert shown["email"] == "Janez@example.si"
    assert shown["phone"] == "+38641123456"
    assert (shown["origin"], shown["reference"]) == ("written", "354-5/2026-1")
    assert shown["consent_at"] == "2026-03-01T09:15:00+00:00"
    assert shown["cases"] == sorted([str(first), str(second)])
    assert shown["audit"][0]["actor"] == "referentka.maja"
    [(actor, action, target, detail)] = rows(
        database_url, "SELECT actor, action, target, detail FROM obvo.audit_log"
    )
    assert (actor, action, target) == (
        "referentka.maja",
        "subscriber.add",
        f"subscriber:{shown['id']}",
    )
    assert detail["channels"] == ["email", "sms"]
    assert "Janez" not in json.dumps(detail) and "41123456" not in json.dumps(detail)

    human = obvo("subscribers", "show", str(shown["id"])).out
    assert "origin     written" in human
    assert f"cases      {', '.join(sorted([str(first), str(second)]))}" in human
    listed = obvo("subscribers", "list").out.splitlines()
    assert listed[0].split() == [
        "id", "party", "email", "phone", "events", "language", "origin", "cases", "consent",
    ]  # fmt: skip
    assert listed[1].split()[:7] == [
        str(shown["id"]), str(party), "Janez@example.si", "+38641123456", "all", "sl", "written",
    ]  # fmt: skip
    by_case = json.loads(obvo("subscribers", "list", "--case", str(first), "--json").out)
    assert [s["party"] for s in by_case] == [str(party)]
    assert json.loads(obvo("subscribers", "list", "--case", "999", "--json").out) == []


BAD_ADDS = [
    (("--party", "7", "--email", "janez@"), "--email: invalid e-mail address 'janez@'"),
    (("--party", "7", "--phone", "01 234"), "--phone: invalid phone number '01 234'"),
    (("--party", "7"), "at least one channel"),
    (("--party", " ", "--email", "a@example.si"), "--party must not be empty"),
    (("--party", "7", "--email", "a@example.si", "--events", "most"), "--events must be"),
    (("--party", "7", "--email", "a@example.si", "--language", "slo"), "--language must"),
    (("--party", "7", "--email", "a@example.si", "--origin", "fax"), "--origin must be"),
    (
        ("--party", "7", "--email", "a@example.si", "--origin", "written"),
        "a written application needs its document reference (--reference)",
    ),
    (
        ("--party", "7", "--email", "a@example.si", "--consent-at", "2999-01-01"),
        "--consent-at: '2999-01-01' is in the future",
    ),
    (("--party", "7", "--email", "a@example.si", "--actor", " "), "--actor must not be empty"),
]


def test_add_refuses_bad_input_and_writes_nothing(obvo: Obvo, database_url: str) -> None:
    for args, message in BAD_ADDS:
        before = snapshot(database_url)
        result = obvo("subscribers", "add", *args)
        assert result.code == 78
        assert message in result.err
        assert snapshot(database_url) == before


def test_add_refuses_a_case_the_party_is_not_in(obvo: Obvo, vopi: Vopi, database_url: str) -> None:
    party, other = vopi.party(), vopi.party()
    theirs = vopi.application(other)
    before = snapshot(database_url)
    result = obvo(
        "subscribers", "add", "--party", str(party), "--email", "a@example.si",
        "--case", str(theirs),
    )  # fmt: skip
    assert result.code == 78
    assert f"--case: party {party} is not a party of case(s) {theirs} in VOPI" in result.err
    assert snapshot(database_url) == before


def test_adding_an_existing_party_points_to_update(obvo: Obvo, database_url: str) -> None:
    assert obvo("subscribers", "add", "--party", "7", "--email", "a@example.si").code == 0
    before = snapshot(database_url)
    result = obvo("subscribers", "add", "--party", "7", "--phone", "041 123 456")
    assert result.code == 78
    assert "party 7 is already subscribed (subscriber" in result.err
    assert "obvo subscribers update --party 7" in result.err
    assert snapshot(database_url) == before


# ---- update ----


def test_update_changes_only_what_is_given(obvo: Obvo, vopi: Vopi, database_url: str) -> None:
    party = vopi.party()
    app = vopi.application(party)
    obvo("subscribers", "add", "--party", str(party), "--email", "a@example.si")
    result = obvo(
        "subscribers", "update", "--party", str(party), "--phone", "040 222 333",
        "--no-email", "--events", "key", "--case", str(app), "--actor", "maja",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.strip().endswith("email, phone, events, cases")
    assert subscribers(database_url) == [
        (str(party), None, "+38640222333", "key", "sl", "in_person", None)
    ]
    assert rows(database_url, "SELECT case_id FROM obvo.subscriber_cases") == [(str(app),)]
    again = obvo("subscribers", "update", "--party", str(party), "--events", "key")
    assert "nothing to change" in again.out
    assert obvo("subscribers", "update", "--party", str(party), "--all-cases").code == 0
    assert rows(database_url, "SELECT case_id FROM obvo.subscriber_cases") == []
    actions = rows(database_url, "SELECT action, detail->'changed' FROM obvo.audit_log ORDER BY id")
    assert actions == [
        ("subscriber.add", None),
        ("subscriber.update", ["email", "phone", "events", "cases"]),
        ("subscriber.update", ["cases"]),
    ]


BAD_UPDATES = [
    (("--party", "7"), "nothing to update"),
    (("--party", "7", "--no-email"), "at least one channel"),
    (("--party", "7", "--email", "b@example.si", "--no-email"), "contradict each other"),
    (("--party", "7", "--case", "1", "--all-cases"), "contradict each other"),
    (("--party", "7", "--origin", "written"), "needs its document reference"),
    (("--party", "8", "--events", "key"), "--party: party 8 has no subscription"),
    (("424242", "--events", "key"), "ID: no subscriber with id 424242"),
    (("x1", "--events", "key"), "ID: 'x1' is not a subscriber id"),
    (("1", "--party", "7", "--events", "key"), "by its ID or by --party (one of them)"),
    (("--party", "7", "--phone", "abc"), "--phone: invalid phone number 'abc'"),
    (("--party", "7", "--case", "999"), "--case: party 7 is not a party of case(s) 999"),
]


def test_update_refuses_bad_input_and_writes_nothing(obvo: Obvo, database_url: str) -> None:
    assert obvo("subscribers", "add", "--party", "7", "--email", "a@example.si").code == 0
    for args, message in BAD_UPDATES:
        before = snapshot(database_url)
        result = obvo("subscribers", "update", *args)
        assert result.code == 78, result.err
        assert message in result.err
        assert snapshot(database_url) == before


# ---- remove ----


def test_remove_cancels_what_is_still_due(obvo: Obvo, database_url: str) -> None:
    obvo("subscribers", "add", "--party", "7", "--email", "a@example.si")
    [(sid,)] = rows(database_url, "SELECT id FROM obvo.subscribers")
    execute(
        database_url,
        "INSERT INTO obvo.notifications (source_event_id, subscriber_id, channel, event_type,"
        " event_kind, language, recipient, subject, body, status)"
        " VALUES (1, %s, 'email', 'KLAS', 'key', 'sl', 'a@example.si', 's', 'b', 'pending'),"
        "        (2, %s, 'email', 'KLAS', 'key', 'sl', 'a@example.si', 's', 'b', 'sent')",
        (sid, sid),
    )
    result = obvo("subscribers", "remove", "--party", "7")
    assert result.code == 0
    assert "removed the subscription of party 7 (1 notification(s) still due cancelled)" in (
        result.out
    )
    assert rows(
        database_url, "SELECT source_event_id, status FROM obvo.notifications ORDER BY 1"
    ) == [(1, "cancelled"), (2, "sent")]
    missing = obvo("subscribers", "remove", "--party", "7")
    assert missing.code == 78
    assert "party 7 has no subscription" in missing.err


# ---- per-case subscriptions in the poller ----


def test_a_subscription_limited_to_a_case_hears_only_of_that_case(
    obvo: Obvo,
    vopi: Vopi,
    settings: Settings,
    database_url: str,
    smtp_server: SmtpServer,
) -> None:
    apply_example_rules(database_url)
    party, neighbour = vopi.party(), vopi.party()
    followed, other = vopi.application(party, neighbour), vopi.application(party, neighbour)
    obvo("subscribers", "add", "--party", str(party), "--email", "a@example.si",
         "--case", str(followed))  # fmt: skip
    obvo("subscribers", "add", "--party", str(neighbour), "--email", "b@example.si")
    vopi.event("KLAS", followed)
    vopi.event("KLAS", other)
    service = Service(settings)
    try:
        service.run(once=True)
    finally:
        service.close()
    got = sorted((m.recipients[0], m.subject.split()[2]) for m in smtp_server.messages)
    assert got == sorted(
        [
            ("a@example.si", f"354-{followed}/2026"),
            ("b@example.si", f"354-{followed}/2026"),
            ("b@example.si", f"354-{other}/2026"),
        ]
    )


# ---- import ----


def test_import_applies_valid_rows_and_reports_invalid_ones(
    obvo: Obvo, vopi: Vopi, database_url: str, tmp_path: Path
) -> None:
    ana, bor, cene = vopi.party(), vopi.party(), vopi.party()
    app = vopi.application(ana)
    obvo("subscribers", "add", "--party", str(cene), "--email", "c@example.si")
    csv = tmp_path / "prijave.csv"
    csv.write_text(
        "party,email,phone,events,language,origin,reference,cases\n"
        f"{ana},ana@example.si,041 123 456,all,sl,written,354-1/2026-7,{app}\n"
        f"{bor},bor@,,,,,,\n"
        f"{cene},cene@example.si,,,,,,\n"
        f"{bor},,040 222 333,key,it,,,{app}\n"
        "99,d@example.si,,,,e_vloga,,\n",
        encoding="utf-8",
    )
    dry = obvo("subscribers", "import", str(csv), "--dry-run")
    assert dry.code == 1
    assert "2 row(s) valid, 3 invalid (dry run: nothing written)" in dry.out
    assert len(subscribers(database_url)) == 1

    result = obvo("subscribers", "import", str(csv), "--actor", "maja")
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0].split() == ["line", "problem"]
    table = [line.split(None, 1) for line in lines[1:4]]
    assert [n for n, _ in table] == ["3", "4", "5"]
    assert table[0][1].startswith("column email: invalid e-mail address 'bor@'")
    assert table[1][1].startswith(f"party {cene} is already subscribed")
    assert table[2][1] == f"column cases: party {bor} is not a party of case(s) {app} in VOPI"
    assert f"{csv}: imported 2 subscriber(s); 3 invalid row(s) not imported" in result.out
    assert subscribers(database_url)[1:] == [
        (str(ana), "ana@example.si", "+38641123456", "all", "sl", "written", "354-1/2026-7"),
        ("99", "d@example.si", None, "all", "sl", "e_vloga", None),
    ]
    assert rows(
        database_url,
        "SELECT detail->>'line', actor FROM obvo.audit_log WHERE detail->>'via' = 'import'"
        " ORDER BY id",
    ) == [("2", "maja"), ("6", "maja")]


UNUSABLE_FILES = [
    (b"party,fax\n7,1\n", "line 1 (header): unknown column(s) 'fax'"),
    (b"party,email\n7,a@example.si\n8,\x8aef@example.si\n", "line 3: not UTF-8 text"),
    (b"", "line 1: the header row is missing"),
]


def test_an_unusable_file_imports_nothing(obvo: Obvo, database_url: str, tmp_path: Path) -> None:
    for content, message in UNUSABLE_FILES:
        csv = tmp_path / "bad.csv"
        csv.write_bytes(content)
        before = snapshot(database_url)
        result = obvo("subscribers", "import", str(csv))
        assert result.code == 78
        assert message in result.err
        assert snapshot(database_url) == before


def test_import_of_a_missing_file(obvo: Obvo, tmp_path: Path) -> None:
    result = obvo("subscribers", "import", str(tmp_path / "none.csv"))
    assert result.code == 78
    assert "none.csv: no such file" in result.err


# ---- forget ----


def test_forget_erases_personal_data_and_keeps_counts(
    obvo: Obvo,
    vopi: Vopi,
    settings: Settings,
    database_url: str,
    smtp_server: SmtpServer,
) -> None:
    apply_example_rules(database_url)
    party = vopi.party()
    app = vopi.application(party)
    obvo("subscribers", "add", "--party", str(party), "--email", "janez@example.si",
         "--phone", "041 123 456")  # fmt: skip
    smtp_server.handler.refuse["janez@example.si"] = "550 5.1.1 <janez@example.si> unknown"
    vopi.event("KLAS", app)
    service = Service(settings)
    try:
        service.run(once=True)
    finally:
        service.close()
    vopi.event("ODLOC", app)
    service = Service(settings)
    try:
        service.poller.poll_once()  # ODLOC stays pending
    finally:
        service.close()
    before_counts = rows(
        database_url,
        "SELECT channel, event_type FROM obvo.notifications ORDER BY id",
    )
    assert any(
        "janez@example.si" in (e or "")
        for (e,) in rows(database_url, "SELECT error FROM obvo.notification_attempts")
    )

    # The citizen also signed in on the portal and asked for a new address there.
    [(identity,)] = rows(
        database_url,
        "INSERT INTO obvo.portal_identities (issuer, subject_serial, party_id, linked_at,"
        " linked_by) VALUES ('CN=SIGEN-CA', 'PNOSI-123', %s, now(), 'code') RETURNING id",
        (str(party),),
    )
    execute(
        database_url,
        "INSERT INTO obvo.portal_codes (identity_id, purpose, target, code_hash, expires_at)"
        " VALUES (%s, 'email', 'novi.janez@example.si', 'h', now() + interval '1 hour')",
        (identity,),
    )

    refused = obvo("subscribers", "forget", "--party", str(party))
    assert refused.code == 78
    assert "confirm with --yes" in refused.err
    assert len(subscribers(database_url)) == 1

    result = obvo("subscribers", "forget", "--party", str(party), "--yes", "--actor", "dpo")
    assert result.code == 0, result.err
    assert (
        "addresses and texts of 4 notification(s) removed, 2 still due cancelled; "
        "1 portal sign-in link(s) removed" in result.out
    )
    assert rows(database_url, "SELECT count(*) FROM obvo.portal_codes") == [(0,)]
    assert subscribers(database_url) == []
    assert rows(database_url, "SELECT count(*) FROM obvo.subscriber_cases") == [(0,)]
    after = rows(
        database_url,
        "SELECT channel, event_type, status, subscriber_id, recipient, subject, body, last_error"
        " FROM obvo.notifications ORDER BY id",
    )
    assert [(c, t) for c, t, *_ in after] == before_counts
    assert {s for _, _, s, *_ in after} == {"failed", "sent", "cancelled"}
    assert all(r[3:7] == (None, None, None, None) for r in after)
    everything = json.dumps(
        [
            rows(database_url, "SELECT * FROM obvo.notifications"),
            rows(database_url, "SELECT * FROM obvo.notification_attempts"),
            rows(database_url, "SELECT * FROM obvo.audit_log"),
            rows(database_url, "SELECT * FROM obvo.portal_identities"),
        ],
        default=str,
    )
    assert "janez" not in everything
    assert "41123456" not in everything
    assert "[erased]" in everything
    [(actor, detail)] = rows(
        database_url,
        "SELECT actor, detail FROM obvo.audit_log WHERE action = 'subscriber.forget'",
    )
    assert actor == "dpo"
    assert detail["notifications_erased"] == 4
