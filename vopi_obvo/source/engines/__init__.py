"""The database engine VOPI runs on: everything about reading VOPI that differs per engine.

OBVO's own state is always PostgreSQL; VOPI may live elsewhere. One module per engine
(`postgresql.py`, `mysql.py`) implements `SourceEngine`; `for_url` picks it by the scheme of
`[source] url`, `for_engine` by the SQLAlchemy dialect of an engine already made. What an
engine module must do, and what SQL Server and Oracle would need: docs/engines.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from vopi_obvo.source.holes import Evidence

# URL scheme → engine module; `[source] url` must start with one of these.
SCHEMES = {
    "postgresql": "postgresql",
    "postgresql+psycopg": "postgresql",
    "postgres": "postgresql",
    "mysql+pymysql": "mysql",
    "mariadb+pymysql": "mysql",
    "mysql": "mysql",
    "mariadb": "mysql",
}


@dataclass(frozen=True)
class Clock:
    """VOPI's clock (aware) and, where the engine has one, its snapshot's upper transaction id
    bound, read right after a batch: a later, hence conservative, bound for every transaction
    that could still commit a hole."""

    now: dt.datetime
    xmax: int | None


@dataclass(frozen=True)
class EngineReport:
    """`obvo check` on VOPI's engine: facts worth knowing, and warnings (a slow plan, a
    cached id generator) that make OBVO slower or more conservative but not wrong."""

    notes: list[str]
    warnings: list[str]


@dataclass(frozen=True)
class IdOrigin:
    """Where event_id comes from, as `obvo check`, `status` and the hole rule need it."""

    column: str | None  # e.g. vopi.event_log.id; None: an expression, origin unknown
    sequence: str | None  # the id generator behind that column; None: none found
    cache_size: int = 1
    increment_by: int = 1
    note: str = ""  # the engine's own words, when it says more than the fields above

    @property
    def cached(self) -> bool:
        """The generator hands each session a block of ids, inserted in later transactions."""
        return self.cache_size > 1

    def describe(self) -> str:
        if self.note:
            return self.note
        if self.column is None:
            return (
                "event_id is an expression, so its sequence is unknown; if its ids are cached "
                "(CACHE > 1) or handed out in blocks by the application, set [source] "
                "hole_min_age"
            )
        if self.sequence is None:
            return (
                f"event_id is {self.column}, filled without a sequence OBVO can see; if the "
                "application hands out ids in blocks, set [source] hole_min_age"
            )
        text = f"event_id is {self.column} from sequence {self.sequence}"
        if self.cached:
            text += (
                f" with CACHE {self.cache_size}: each VOPI session draws {self.cache_size} ids "
                "at once and may insert them in later transactions, which no transaction "
                "start shows; holes also wait for [source] hole_min_age (or until every "
                "session that was connected when they were seen has gone)"
            )
        if self.increment_by > 1:
            text += (
                f"; INCREMENT BY {self.increment_by}: if the application hands out the ids "
                "of each block itself (Hibernate's pooled optimizer), set [source] "
                "hole_min_age, or holes may be given up before their rows arrive"
            )
        return text


@dataclass(frozen=True)
class UsedObject:
    """A relation the configured queries read (`obvo roles`)."""

    schema: str  # PostgreSQL schema; the database on MariaDB/MySQL
    name: str
    kind: str  # "table", "view", …
    columns: tuple[str, ...] | None  # None: the whole relation (e.g. count(*), a whole row)


class SourceEngine(Protocol):
    """What OBVO needs from VOPI's database engine. Every statement it returns runs in a
    short read-only transaction that the caller ends at once (nothing is held between polls)."""

    name: str  # for people: "PostgreSQL", "MariaDB/MySQL"
    # What the reader role needs to see other sessions' transactions (the hole evidence);
    # without it, holes are given up by the conservative age rule.
    evidence_privilege: str

    def create_engine(self, url: str, statement_timeout: float) -> sa.Engine:
        """A read-only reader whose statements stop after `statement_timeout` seconds."""
        ...

    def wrapped(self, name: str, events_query: str) -> sa.TextClause:
        """A named [vopi] query from sql/queries.sql around the administrator's events query
        (filter, order, limit), written so that it stays a range scan of the primary key."""
        ...

    def is_query_error(self, exc: sa.exc.DBAPIError) -> bool:
        """True when the administrator's query is at fault (a wrong column, a missing
        privilege, a type error): a clear error, not a retry as for an unreachable VOPI."""
        ...

    def clock(self, conn: sa.Connection) -> Clock: ...

    def hole_evidence(self, conn: sa.Connection) -> Evidence:
        """In one statement: the oldest other transaction still running, and whether this
        role can see them all (`can_see_all_sessions`); False runs the age rule."""
        ...

    def id_origin(
        self, conn: sa.Connection, events_query: str, probed: sa.CursorResult[Any]
    ) -> IdOrigin:
        """The table column behind event_id in the probed events query, and its id generator
        (cache and increment)."""
        ...

    def naive_zones(self, result: sa.CursorResult[Any], local: dt.tzinfo) -> dict[str, dt.tzinfo]:
        """Column → the zone its naive datetimes are in (`local`: VOPI's [source] timezone)."""
        ...

    def column_kinds(self, result: sa.CursorResult[Any]) -> list[tuple[str, str | None]]:
        """Each column's kind, for sample values (`rules check`, `preview`): "integer",
        "float", "numeric", "boolean", "date", "timestamp"; None: text or anything else."""
        ...

    def column_problems(self, result: sa.CursorResult[Any]) -> list[str]:
        """Columns of the probed events query whose type the wrapped query cannot rely on."""
        ...

    def evidence_blockers(self, conn: sa.Connection, events_query: str) -> list[str]:
        """Why the evidence cannot prove a hole dead for this event log (e.g. ids drawn from
        a sequence before the insert, which no transaction view shows); empty: it can."""
        ...

    def check(self, conn: sa.Connection, events_query: str) -> EngineReport:
        """Engine-specific findings of `obvo check`: the wrapped query's plan, the id
        generator behind event_id."""
        ...

    def used_objects(
        self, engine: sa.Engine, queries: Sequence[tuple[str, str]]
    ) -> list[UsedObject]:
        """Relations and columns the (name, query) pairs read, as the engine reports them."""
        ...

    def reader_grants(self, reader: str, objects: Sequence[UsedObject]) -> list[str]:
        """The SQL (part 1 of `obvo roles`) that gives the reader exactly what it needs."""
        ...


ExpectedTypes = dict[str, tuple[set[int], str]]


def column_kinds_by_type(
    result: sa.CursorResult[Any], kind_of_type: dict[int, str]
) -> list[tuple[str, str | None]]:
    """(column, kind) from the driver's type codes: what an engine's `column_kinds` returns."""
    return [
        (str(d[0]), kind_of_type.get(d[1]) if isinstance(d[1], int) else None)
        for d in result.cursor.description or ()
    ]


def column_type_problems(
    result: sa.CursorResult[Any], expected: ExpectedTypes, type_word: str, fix: str
) -> list[str]:
    """The columns the wrapped query relies on whose driver type code is not one expected:
    what an engine's `column_problems` returns, in its own words for types and casts."""
    problems: list[str] = []
    for name, type_code, *_ in result.cursor.description or ():
        wanted = expected.get(name)
        if wanted and type_code not in wanted[0]:
            problems.append(
                f"events_query: column {name} must be {wanted[1]} ({type_word} {type_code}); {fix}"
            )
    return problems


def kind_of_url(url: str) -> str | None:
    """ "postgresql" or "mysql" for a URL OBVO can read VOPI from; None otherwise."""
    scheme, sep, _ = url.partition("://")
    return SCHEMES.get(scheme.lower()) if sep else None


def for_kind(kind: str) -> SourceEngine:
    """ "postgresql" or "mysql" (also SQLAlchemy's dialect names, "mariadb" among them)."""
    # Imported here: the engine modules build on this one.
    if kind in ("mysql", "mariadb"):
        from vopi_obvo.source.engines.mysql import MYSQL  # noqa: PLC0415

        return MYSQL
    from vopi_obvo.source.engines.postgresql import POSTGRESQL  # noqa: PLC0415

    return POSTGRESQL


def for_url(url: str) -> SourceEngine:
    kind = kind_of_url(url)
    if kind is None:
        raise ValueError(
            "[source] url must start with postgresql:// or mysql+pymysql:// (MariaDB, MySQL)"
        )
    return for_kind(kind)


def for_engine(engine: sa.Engine) -> SourceEngine:
    return for_kind(engine.dialect.name)
