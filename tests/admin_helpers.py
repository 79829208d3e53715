"""Helpers for the administration tests: a config file as a deployer writes it, and `obvo`
run in-process (fast) with its exit code and output."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
import structlog

from tests.support import EXAMPLE_CONFIG, EXAMPLE_RULES
from vopi_obvo import store
from vopi_obvo.cli import main
from vopi_obvo.rules import parse_rules_document


def write_config(
    directory: Path, database_url: str, *, source_url: str = "", extra_source: str = ""
) -> Path:
    """The example configuration pointed at this test's database (VOPI in the same one unless
    `source_url`); `extra_source` adds lines to [source]."""
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = text.replace('url = "postgresql://obvo@127.0.0.1/vopi"', f'url = "{database_url}"', 1)
    if source_url:
        assert '\nurl = ""\n' in text  # [source] url, the first empty url of the example
        text = text.replace('\nurl = ""\n', f'\nurl = "{source_url}"\n', 1)
    if extra_source:
        text = text.replace("[source]\n", f"[source]\n{extra_source}\n", 1)
    path = directory / "obvo.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Result:
    code: int
    out: str
    err: str


class Obvo:
    """`obvo …` in this process, with --config appended to the sub-command."""

    def __init__(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config = config
        self.capsys = capsys

    def __call__(self, *args: str) -> Result:
        self.capsys.readouterr()
        try:
            code = main([*args, "--config", str(self.config)])
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
        finally:
            # main() pointed structlog at this test's captured stdout, which pytest closes.
            structlog.reset_defaults()
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


def apply_example_rules(database_url: str) -> None:
    doc = tomllib.loads(EXAMPLE_RULES.read_text(encoding="utf-8"))
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL search_path TO obvo"))
        store.save_rules(conn, parse_rules_document(doc))
    engine.dispose()


def rows(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return list(conn.execute(sql, params or None).fetchall())


def execute(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql, params or None)


def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of OBVO's administrative tables, to show a refused command changed nothing."""
    tables = {
        "event_types": "SELECT code, name, kind, updated_at FROM obvo.event_types ORDER BY 1",
        "templates": "SELECT * FROM obvo.templates ORDER BY 1, 2",
        "subscribers": "SELECT * FROM obvo.subscribers ORDER BY id",
        "subscriber_cases": "SELECT * FROM obvo.subscriber_cases ORDER BY 1, 2",
        "notifications": "SELECT * FROM obvo.notifications ORDER BY id",
        "notification_attempts": "SELECT * FROM obvo.notification_attempts ORDER BY id",
        "audit_log": "SELECT * FROM obvo.audit_log ORDER BY id",
    }
    return {name: rows(database_url, sql) for name, sql in tables.items()}
