"""Named SQL statements from `sql/queries.sql`, loaded once."""

from __future__ import annotations

import functools
import re

import sqlalchemy as sa

from vopi_obvo.resources import sql_path

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@functools.cache
def _raw_queries() -> dict[str, str]:
    text = sql_path("queries.sql").read_text(encoding="utf-8")
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [line for line in body.strip().splitlines() if not line.startswith("--")]
        queries[name] = "\n".join(lines).strip()
    return queries


def raw(name: str) -> str:
    return _raw_queries()[name]


@functools.cache
def q(name: str) -> sa.TextClause:
    """An OBVO query by name."""
    return sa.text(raw(name))


def vopi(name: str, events_query: str) -> sa.TextClause:
    """A query on VOPI that wraps the administrator's events query."""
    inner = events_query.strip().rstrip(";")
    return sa.text(raw(name).replace("{events_query}", inner))


def names() -> list[str]:
    return list(_raw_queries())
