"""`obvo rules dump|diff|check|unclassified`, `obvo preview`, and rule rows edited in SQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from tests.admin_helpers import (
    Obvo,
    apply_example_rules,
    execute,
    rows,
    snapshot,
    write_config,
)
from tests.support import EXAMPLE_RULES, Vopi
from vopi_obvo import db
from vopi_obvo.config import Settings
from vopi_obvo.ops.status import format_status, gather_status
from vopi_obvo.poller import Poller
from vopi_obvo.source.vopi import VopiSource


@pytest.fixture
def obvo(tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> Obvo:
    return Obvo(write_config(tmp_path, database_url), capsys)


@pytest.fixture
def with_rules(obvo: Obvo, database_url: str) -> Obvo:
    apply_example_rules(database_url)
    return obvo


# ---- dump, apply, diff ----


def test_dump_then_apply_changes_nothing(
    with_rules: Obvo, database_url: str, tmp_path: Path
) -> None:
    dumped = tmp_path / "dumped.toml"
    result = with_rules("rules", "dump", "--output", str(dumped))
    assert result.code == 0, result.err
    assert "wrote 5 event type(s)" in result.err
    stdout_dump = with_rules("rules", "dump").out
    # Same document apart from the time in the header comment.
    assert stdout_dump.split("\n", 2)[2] == dumped.read_text(encoding="utf-8").split("\n", 2)[2]
    before = snapshot(database_url)

    diff = with_rules("rules", "diff", str(dumped))
    assert diff.code == 0
    assert "no changes" in diff.out
    applied = with_rules("rules", "apply", str(dumped))
    assert applied.code == 0, applied.err
    assert [line.split()[0] for line in applied.out.splitlines()[:-1]] == ["unchanged"] * 5
    assert applied.out.splitlines()[-1] == f"applied {dumped}: nothing changed"
    assert snapshot(database_url) == before  # no rows touched, no audit entry


def test_apply_is_audited_with_the_actor(obvo: Obvo, database_url: str) -> None:
    result = obvo("rules", "apply", str(EXAMPLE_RULES), "--actor", "ana.admin")
    assert result.code == 0, result.err
    [(actor, action, target, detail)] = rows(
        database_url, "SELECT actor, action, target, detail FROM obvo.audit_log"
    )
    assert (actor, action, target) == ("ana.admin", "rules.apply", "rules")
    assert detail["file"] == str(EXAMPLE_RULES)
    assert "added     KLAS (key)" in detail["changes"]


def test_diff_shows_changed_text_and_writes_nothing(
    with_rules: Obvo, database_url: str, tmp_path: Path
) -> None:
    changed = tmp_path / "changed.toml"
    changed.write_text(
        EXAMPLE_RULES.read_text(encoding="utf-8").replace(
            'sms = "Vloga {{ event.case_number }}: klasifikacija {{ event.classification_code }}."',
            'sms = "Vloga {{ event.case_number }} je klasificirana."',
        ),
        encoding="utf-8",
    )
    before = snapshot(database_url)
    result = with_rules("rules", "diff", str(changed))
    assert result.code == 1
    assert "changed   KLAS: templates.sl.sms" in result.out
    assert f"+++ {changed}: KLAS.templates.sl.sms" in result.out
    assert "+Vloga {{ event.case_number }} je klasificirana." in result.out
    assert snapshot(database_url) == before


BROKEN_FILES: list[tuple[str | bytes, str]] = [
    ("[[event_types]]\ncode = 'X'\nkind = 'urgent'\n", "event type X: unknown kind 'urgent'"),
    ("[[event_types]\n", "not valid TOML"),
    (
        "[[event_types]]\ncode = 'X'\nkind = 'key'\n[event_types.templates.sl]\n"
        "email_subject = '{{ a'\nemail_body = 'b'\nsms = 'c'\n",
        "event type X, language 'sl': template 'email_subject': syntax error on line 1",
    ),
    (b"\xff\xfe[[event_types]]", "not UTF-8 text"),
]


def test_a_broken_rules_file_is_refused_by_name(
    with_rules: Obvo, database_url: str, tmp_path: Path
) -> None:
    for content, message in BROKEN_FILES:
        for action in ("apply", "diff"):
            bad = tmp_path / "bad.toml"
            if isinstance(content, bytes):
                bad.write_bytes(content)
            else:
                bad.write_text(content, encoding="utf-8")
            before = snapshot(database_url)
            result = with_rules("rules", action, str(bad))
            assert result.code == 78
            assert str(bad) in result.err
            assert message in result.err
            assert snapshot(database_url) == before


def test_missing_rules_file(with_rules: Obvo, tmp_path: Path) -> None:
    result = with_rules("rules", "diff", str(tmp_path / "nope.toml"))
    assert result.code == 78
    assert "nope.toml: no such file" in result.err


def test_dump_to_an_unwritable_place_is_an_error(with_rules: Obvo, tmp_path: Path) -> None:
    result = with_rules("rules", "dump", "--output", str(tmp_path / "no" / "such" / "dir.toml"))
    assert result.code == 78
    assert "--output" in result.err


# ---- check ----


def test_check_renders_with_the_latest_real_event(
    with_rules: Obvo, vopi: Vopi, database_url: str
) -> None:
    app = vopi.application(vopi.party(), case_number="354-77/2026")
    vopi.event("KLAS", app)
    newest = vopi.event("KLAS", app)
    result = with_rules("rules", "check")
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "event", "type", "lang", "channel", "rendered", "with", "result", "sms", "units",
        "segments",
    ]  # fmt: skip
    klas = [line for line in lines if line.startswith("KLAS")]
    assert len(klas) == 4  # sl and it, e-mail and SMS
    assert all(f"event {newest}" in line and "ok" in line.split() for line in klas)
    sms_sl = next(line for line in klas if " sl " in line and " sms " in line)
    assert sms_sl.split()[-3:] == ["gsm7", "39", "1"]  # "Vloga 354-77/2026: klasifikacija 354-1."
    vloz = [line for line in lines if line.startswith("VLOZ")]
    assert all("sample values" in line for line in vloz)
    assert "internal, never sent, no templates: OGLED" in result.out
    assert "0 error(s), 0 invalid event type row(s)" in result.out


def test_check_shows_texts_and_json(with_rules: Obvo, vopi: Vopi) -> None:
    app = vopi.application(vopi.party(), case_number="354-78/2026")
    event_id = vopi.event("ODLOC", app)
    shown = with_rules("rules", "check", "--event-type", "ODLOC", "--show")
    assert shown.code == 0
    assert f"--- ODLOC sl email (event {event_id})" in shown.out
    assert "354-78/2026" in shown.out
    data = json.loads(with_rules("rules", "check", "--event-type", "ODLOC", "--json").out)
    assert data["ok"] is True
    assert {(r["language"], r["channel"]) for r in data["results"]} == {
        ("sl", "email"),
        ("sl", "sms"),
        ("it", "email"),
        ("it", "sms"),
    }
    sms = next(r for r in data["results"] if r["channel"] == "sms" and r["language"] == "sl")
    assert sms["sms_segments"] == 1
    assert sms["source"] == f"event {event_id}"


def test_check_reports_a_template_broken_in_sql(
    with_rules: Obvo, vopi: Vopi, database_url: str
) -> None:
    execute(
        database_url,
        "UPDATE obvo.templates SET sms = 'Vloga {{ event.no_such_column }}'"
        " WHERE event_type = 'KLAS' AND language = 'it'",
    )
    execute(
        database_url,
        "UPDATE obvo.templates SET email_body = '{% if %}'"
        " WHERE event_type = 'ODLOC' AND language = 'sl'",
    )
    result = with_rules("rules", "check", "--sample")
    assert result.code == 1
    assert "problem: event type KLAS, language it, sms: template sms: undefined value" in result.err
    assert "problem: event type ODLOC: language 'sl': template 'email_body': syntax error" in (
        result.err
    )
    assert "2 invalid event type row(s)" not in result.out
    assert "1 invalid event type row(s)" in result.out


def test_check_unknown_event_type_is_named(with_rules: Obvo) -> None:
    result = with_rules("rules", "check", "--event-type", "NOPE")
    assert result.code == 78
    assert "--event-type: no rule for NOPE" in result.err


def test_obvo_check_names_a_rule_row_broken_in_sql(
    with_rules: Obvo, vopi: Vopi, database_url: str
) -> None:
    # `obvo check` judges rule rows exactly as `rules check` and `status` do (invalid_rules).
    execute(
        database_url,
        "UPDATE obvo.templates SET email_subject = '{{ event.case_number '"
        " WHERE event_type = 'KLAS' AND language = 'sl'",
    )
    result = with_rules("check")
    assert result.code == 1
    assert (
        "problem: rules: event type KLAS: language 'sl': template 'email_subject': syntax error"
        in result.err
    )


def test_check_falls_back_to_samples_when_vopi_is_down(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_example_rules(database_url)
    down = Obvo(
        write_config(tmp_path, database_url, source_url="postgresql://postgres@127.0.0.1:9/x"),
        capsys,
    )
    result = down("rules", "check", "--event-type", "KLAS")
    assert result.code == 0, result.err
    assert "VOPI could not be read" in result.err
    assert "sample values" in result.out


# ---- unclassified ----


def test_unclassified_lists_seen_types_and_the_vopi_catalogue(
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    poll: Callable[[Settings], Poller],
) -> None:
    apply_example_rules(database_url)
    app = vopi.application(vopi.party())
    vopi.events("ARHIV", app, 3)
    poll(make_settings())
    plain = Obvo(write_config(tmp_path, database_url), capsys)
    result = plain("rules", "unclassified")
    assert result.code == 0
    assert result.out.splitlines()[1].split()[:2] == ["ARHIV", "3"]
    assert "set [source] event_types_query" in result.out

    catalogue_dir = tmp_path / "catalogue"
    catalogue_dir.mkdir()
    with_catalogue = Obvo(
        write_config(
            catalogue_dir,
            database_url,
            extra_source='event_types_query = "SELECT code, name FROM vopi.event_types"',
        ),
        capsys,
    )
    data = json.loads(with_catalogue("rules", "unclassified", "--json").out)
    assert data["catalogue_configured"] is True
    by_code = {r["event_type"]: r for r in data["event_types"]}
    assert set(by_code) == {"ARHIV", "DOPOL"}
    assert by_code["ARHIV"]["seen"] == 3
    assert by_code["ARHIV"]["name"] == "Zadeva je arhivirana"
    assert by_code["DOPOL"]["seen"] == 0
    assert by_code["DOPOL"]["last_seen_at"] is None
    human = with_catalogue("rules", "unclassified").out
    assert any(line.split()[0] == "DOPOL" and "never" in line for line in human.splitlines())


def test_a_wrong_catalogue_query_is_named(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    obvo = Obvo(
        write_config(
            tmp_path,
            database_url,
            extra_source='event_types_query = "SELECT code AS kode FROM vopi.event_types"',
        ),
        capsys,
    )
    result = obvo("rules", "unclassified")
    assert result.code == 78
    assert "[source] event_types_query must return the columns code and name" in result.err


# ---- preview ----


def _subscriber(database_url: str, party: int, **fields: str) -> int:
    values = {"email": None, "phone": None, "events": "all", "language": "sl", **fields}
    [(sid,)] = rows(
        database_url,
        "INSERT INTO obvo.subscribers (party_id, email, phone, events, language)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (str(party), values["email"], values["phone"], values["events"], values["language"]),
    )
    return int(sid)


def test_preview_shows_recipients_and_texts(
    with_rules: Obvo, vopi: Vopi, database_url: str
) -> None:
    janez, ana = vopi.party("Janez"), vopi.party("Ana")
    app = vopi.application(janez, ana, case_number="354-90/2026")
    _subscriber(database_url, janez, email="janez@example.si", phone="+38641123456")
    _subscriber(database_url, ana, phone="+38640222333", language="it")
    event_id = vopi.event("KLAS", app)
    before = snapshot(database_url)
    result = with_rules("preview", str(event_id))
    assert result.code == 0, result.err
    out = result.out
    assert f"event {event_id}  KLAS (Vloga je dobila klasifikacijsko oznako, key)" in out
    assert "3 message(s) would be sent" in out
    assert "e-mail to janez@example.si" in out
    assert "Subject: Vaša vloga 354-90/2026 je uvrščena v obravnavo" in out
    assert "| Vloga 354-90/2026: klasifikacija 354-1." in out
    assert "SMS to +38640222333" in out
    assert "language it" in out
    assert "gsm7, " in out
    assert snapshot(database_url) == before  # a preview writes nothing

    italian = json.loads(with_rules("preview", str(event_id), "--language", "it", "--json").out)
    assert {r["language"] for r in italian["recipients"]} == {"it"}
    assert all(r["would_send"] for r in italian["recipients"])


def test_preview_for_one_subscriber_explains_why_not(
    with_rules: Obvo, vopi: Vopi, database_url: str
) -> None:
    party, stranger = vopi.party(), vopi.party()
    app = vopi.application(party)
    _subscriber(database_url, party, email="a@example.si", events="key")
    other = _subscriber(database_url, stranger, email="b@example.si")
    notify_event = vopi.event("VLOZ", app)
    result = with_rules("preview", str(notify_event), "--subscriber", str(other))
    assert result.code == 0
    assert f"NOT SENT: party {stranger} is not a party of case {app}" in result.out
    assert "Prejeli smo vašo vlogo" in result.out  # the text is still shown
    nobody = with_rules("preview", str(notify_event))
    assert "0 message(s) would be sent" in nobody.out
    assert "NOT SENT: no subscribed party of this case would be told" in nobody.out


def test_preview_of_internal_and_unclassified_events(with_rules: Obvo, vopi: Vopi) -> None:
    app = vopi.application(vopi.party())
    internal = with_rules("preview", str(vopi.event("OGLED", app)))
    assert "nobody would be told: event type OGLED is internal" in internal.out
    unknown = with_rules("preview", str(vopi.event("ARHIV", app)), "--json")
    assert json.loads(unknown.out)["nobody_because"] == "event type ARHIV is not classified"


BAD_PREVIEWS = [
    (("999999",), "EVENT_ID: event 999999 is not in VOPI", 78),
    (("abc",), "argument EVENT_ID: invalid int value: 'abc'", 2),
    (("1", "--language", "slo"), "--language must be a two-letter code", 78),
    (("1", "--subscriber", "424242"), "--subscriber: no subscriber with id 424242", 78),
]


def test_preview_bad_input(with_rules: Obvo, vopi: Vopi) -> None:
    vopi.event("KLAS", vopi.application(vopi.party()))
    for args, message, code in BAD_PREVIEWS:
        result = with_rules("preview", *args)
        assert result.code == code
        assert message in result.err


# ---- rule rows edited in SQL while the daemon runs ----


@pytest.fixture
def poll() -> Iterator[Callable[[Settings], Poller]]:
    """A poller on its own engines, polled once; the engines are closed after the test."""
    made: list[Poller] = []

    def first_poll(settings: Settings) -> Poller:
        obvo = db.obvo_engine(settings.database.url, "obvo")
        source = VopiSource(
            db.source_engine(settings.source_url, 5.0),
            settings.source.events_query,
            settings.source.parties_query,
        )
        poller = Poller(settings, obvo, source)
        made.append(poller)
        poller.poll_once()
        return poller

    yield first_poll
    for poller in made:
        poller.obvo.dispose()
        poller.source.engine.dispose()


def test_sql_edits_are_reloaded_validated_logged_and_shown_in_status(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    database_url: str,
    poll: Callable[[Settings], Poller],
) -> None:
    apply_example_rules(database_url)
    settings = make_settings()
    party = vopi.party()
    app = vopi.application(party)
    _subscriber(database_url, party, email="a@example.si")
    poller = poll(settings)
    # An administrator breaks KLAS in psql, without touching updated_at.
    execute(
        database_url,
        "UPDATE obvo.templates SET email_subject = '{{ event.case_number '"
        " WHERE event_type = 'KLAS' AND language = 'sl'",
    )
    event_id = vopi.event("KLAS", app)
    with capture_logs() as logs:
        poller.poll_once()
    reloaded = next(e for e in logs if e["event"] == "rules.reloaded")
    assert reloaded["changes"] == ["KLAS: templates.sl.email_subject"]
    invalid = next(e for e in logs if e["event"] == "rules.invalid_row")
    assert invalid["event_type"] == "KLAS"
    assert "template 'email_subject': syntax error on line 1" in invalid["problems"][0]
    assert invalid["log_level"] == "error"
    [(status, error)] = rows(
        database_url,
        "SELECT status, last_error FROM obvo.notifications WHERE source_event_id = %s",
        (event_id,),
    )
    assert status == "failed"
    assert "KLAS" in error
    assert "syntax error" in error

    report = gather_status(poller.obvo, None)
    assert list(report["invalid_rules"]) == ["KLAS"]
    assert "invalid rules     1 event type(s); their notifications fail" in format_status(report)

    # No change, no reload: the check per poll is cheap and quiet.
    with capture_logs() as quiet:
        poller.poll_once()
    assert not [e for e in quiet if e["event"].startswith("rules.")]
    structlog.reset_defaults()


def test_a_type_without_slovenian_texts_fails_only_where_they_are_needed(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    database_url: str,
    poll: Callable[[Settings], Poller],
) -> None:
    apply_example_rules(database_url)
    execute(
        database_url, "DELETE FROM obvo.templates WHERE event_type = 'KLAS' AND language = 'sl'"
    )
    slovene, italian = vopi.party(), vopi.party()
    app = vopi.application(slovene, italian)
    _subscriber(database_url, slovene, email="a@example.si")
    _subscriber(database_url, italian, email="b@example.si", language="it")
    event_id = vopi.event("KLAS", app)
    with capture_logs() as logs:
        poll(make_settings())
    [invalid] = [e for e in logs if e["event"] == "rules.invalid_row"]
    assert invalid["event_type"] == "KLAS"
    assert "kind key needs Slovenian templates" in invalid["problems"][0]
    outcome = rows(
        database_url,
        "SELECT recipient, status, last_error FROM obvo.notifications"
        " WHERE source_event_id = %s ORDER BY recipient",
        (event_id,),
    )
    assert outcome == [
        ("a@example.si", "failed", "event type KLAS: event type KLAS has no Slovenian templates"),
        ("b@example.si", "pending", None),
    ]
    structlog.reset_defaults()
