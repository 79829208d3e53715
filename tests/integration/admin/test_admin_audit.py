"""`obvo audit`: every administrative change with its actor and time."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.admin_helpers import Obvo, write_config
from tests.support import EXAMPLE_RULES


@pytest.fixture
def obvo(tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> Obvo:
    return Obvo(write_config(tmp_path, database_url), capsys)


def test_every_change_is_listed_with_actor_and_filters(
    obvo: Obvo, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert obvo("rules", "apply", str(EXAMPLE_RULES), "--actor", "admin.ana").code == 0
    monkeypatch.setenv("SUDO_USER", "referent.bor")  # `sudo -u obvo obvo …`
    assert obvo("subscribers", "add", "--party", "7", "--email", "a@example.si").code == 0
    monkeypatch.delenv("SUDO_USER")
    assert (
        obvo("subscribers", "update", "--party", "7", "--events", "key", "--actor", "c").code == 0
    )
    assert obvo("subscribers", "remove", "--party", "7", "--actor", "c").code == 0
    # Refused commands leave no trace.
    assert obvo("subscribers", "remove", "--party", "7", "--actor", "c").code == 78

    entries = json.loads(obvo("audit", "--json").out)
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("c", "subscriber.remove"),
        ("c", "subscriber.update"),
        ("referent.bor", "subscriber.add"),
        ("admin.ana", "rules.apply"),
    ]
    assert all(e["at"] for e in entries)
    family = json.loads(obvo("audit", "--action", "subscriber", "--json").out)
    assert len(family) == 3
    assert len(json.loads(obvo("audit", "--actor", "c", "--json").out)) == 2
    target = entries[0]["target"]
    assert [e["action"] for e in json.loads(obvo("audit", "--target", target, "--json").out)] == [
        "subscriber.remove",
        "subscriber.update",
        "subscriber.add",
    ]
    assert json.loads(obvo("audit", "--since", "2999-01-01", "--json").out) == []

    human = obvo("audit", "--limit", "2").out.splitlines()
    assert human[0].split() == [
        "source", "id", "time", "actor", "action", "outcome", "target", "peer", "detail"
    ]  # fmt: skip
    assert human[1].split()[0] == "admin"
    assert human[1].split()[4:6] == ["c", "subscriber.remove"]
    assert human[-1] == "(the newest 2; --limit N for more)"


def test_the_portal_trail_is_listed_with_the_same_filters(obvo: Obvo, database_url: str) -> None:
    assert obvo("subscribers", "add", "--party", "7", "--email", "a@example.si").code == 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        for actor, action, outcome, peer in (
            ("anonymous", "sign_in.revoked", "refused", "203.0.113.9"),
            ("identity:1", "sign_in", "ok", "127.0.0.1"),
            ("identity:1", "settings.changed", "ok", "127.0.0.1"),
        ):
            conn.execute(
                "INSERT INTO obvo.portal_audit (actor, action, outcome, party_id, peer)"
                " VALUES (%s, %s, %s, '7', %s)",
                (actor, action, outcome, peer),
            )
    both = json.loads(obvo("audit", "--json").out)
    assert {e["source"] for e in both} == {"admin", "portal"}
    portal = json.loads(obvo("audit", "--source", "portal", "--json").out)
    assert [e["action"] for e in portal] == ["settings.changed", "sign_in", "sign_in.revoked"]
    refused = json.loads(obvo("audit", "--outcome", "refused", "--json").out)
    assert [(e["action"], e["peer"], e["target"]) for e in refused] == [
        ("sign_in.revoked", "203.0.113.9", "party:7")
    ]
    family = json.loads(obvo("audit", "--source", "portal", "--action", "sign_in", "--json").out)
    assert len(family) == 2
    admin = json.loads(obvo("audit", "--source", "admin", "--json").out)
    assert [e["action"] for e in admin] == ["subscriber.add"]
    assert obvo("audit", "--source", "daemon").code == 2


def test_since_and_until_bound_the_trail_in_ljubljana_time(obvo: Obvo, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for action, at in (
            ("rules.apply", "2026-03-01 08:00+01"),  # 08:00 in Ljubljana (winter time)
            ("subscriber.add", "2026-03-01 23:30+01"),
            ("subscriber.update", "2026-03-02 00:00+01"),  # midnight: the next day's
        ):
            conn.execute(
                "INSERT INTO obvo.audit_log (at, actor, action) VALUES (%s, 'c', %s)", (at, action)
            )
        conn.execute(
            "INSERT INTO obvo.portal_audit (at, actor, action, outcome, party_id)"
            " VALUES ('2026-03-01 12:00+01', 'identity:1', 'sign_in', 'ok', '7')"
        )

    def actions(*args: str) -> list[str]:
        return [e["action"] for e in json.loads(obvo("audit", *args, "--json").out)]

    day = ("--since", "2026-03-01", "--until", "2026-03-02")
    assert actions(*day) == ["subscriber.add", "sign_in", "rules.apply"]
    assert actions(*day, "--source", "admin") == ["subscriber.add", "rules.apply"]
    assert actions("--until", "2026-03-01 12:00") == ["rules.apply"]  # before 12:00
    assert actions("--since", "2026-03-01 12:00", "--until", "2026-03-01T23:30+01:00") == [
        "sign_in"
    ]
    assert actions("--until", "2026-03-02T00:00:01+01:00", "--action", "subscriber") == [
        "subscriber.update",
        "subscriber.add",
    ]


BAD_FILTERS_CASES = [
    (("--since", "lani"), "--since: 'lani' is not a time", 78),
    (("--until", "jutri"), "--until: 'jutri' is not a time", 78),
    (("--since", "2026-03-02", "--until", "2026-03-01"), "--until must be later than --since", 78),
    (("--actor", " "), "--actor must not be empty", 78),
    (("--limit", "x"), "argument --limit: 'x' is not a whole number", 2),
]


def test_bad_filters(obvo: Obvo) -> None:
    for args, message, code in BAD_FILTERS_CASES:
        result = obvo("audit", *args)
        assert result.code == code
        assert message in result.err
