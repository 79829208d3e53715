"""`obvo roles` on MariaDB/MySQL: the tables a query names, from its SQL text."""

from __future__ import annotations

import pytest

from vopi_obvo.source.engines.mysql import named_tables


@pytest.mark.parametrize(
    ("query", "tables"),
    [
        (
            "SELECT e.id AS event_id FROM event_log e LEFT JOIN applications a ON a.id = e.x",
            [(None, "event_log"), (None, "applications")],
        ),
        (
            "SELECT 1 FROM vopi.event_log AS e, `vopi`.`app lications` a",
            [
                ("vopi", "event_log"),
                ("vopi", "app lications"),
            ],
        ),
        (
            "SELECT EXTRACT(YEAR FROM e.created_at), TRIM(LEADING 'x' FROM e.detail),"
            " (SELECT max(t.id) FROM types t WHERE t.code = e.code) FROM event_log e",
            [(None, "types"), (None, "event_log")],
        ),
        (
            "SELECT * FROM (SELECT id FROM event_log WHERE detail = 'FROM secret') d"
            " -- JOIN commented\n JOIN parties p USING (id) /* FROM nothing */",
            [(None, "event_log"), (None, "parties")],
        ),
        ("SELECT 1 FROM DUAL", []),
        (
            "SELECT ap.application_id AS case_id FROM application_parties ap"
            " WHERE ap.application_id IN :case_ids",
            [(None, "application_parties")],
        ),
    ],
)
def test_named_tables(query: str, tables: list[tuple[str | None, str]]) -> None:
    assert named_tables(query) == tables
