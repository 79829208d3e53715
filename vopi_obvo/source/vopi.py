"""Reading VOPI: the administrator's queries, wrapped, in short read-only transactions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vopi_obvo import queries
from vopi_obvo.errors import SourceQueryError
from vopi_obvo.source.holes import Evidence

# The name OBVO keeps VOPI's cursor and holes under (source_cursor, pending_holes).
SOURCE_NAME = "vopi"
REQUIRED_EVENT_COLUMNS = ("event_id", "event_type", "occurred_at", "case_id")
REQUIRED_PARTY_COLUMNS = ("case_id", "party_id")
# PostgreSQL type OIDs the wrapped query relies on: integer ids, timestamps.
_EXPECTED_TYPES = {
    "event_id": ({20, 21, 23}, "an integer (bigint/integer)"),
    "occurred_at": ({1114, 1184}, "a timestamp"),
}


@dataclass(frozen=True)
class VopiEvent:
    event_id: int
    event_type: str
    case_id: str | None
    occurred_at: dt.datetime | None
    values: Mapping[str, Any]  # every column the events query returns, for templates


@dataclass(frozen=True)
class Batch:
    events: list[VopiEvent]  # new events above the cursor, by id
    filled_holes: list[VopiEvent]  # earlier holes that are now visible
    vopi_now: dt.datetime
    vopi_xmax: int


class VopiSource:
    def __init__(self, engine: sa.Engine, events_query: str, parties_query: str) -> None:
        self.engine = engine
        self.events_query = events_query
        self._after = queries.vopi("vopi_events_after", events_query)
        self._by_id = queries.vopi("vopi_events_by_id", events_query)
        self._newest = queries.vopi("vopi_newest_event", events_query)
        self._oldest = queries.vopi("vopi_oldest_event_id", events_query)
        self._probe = queries.vopi("vopi_probe_events", events_query)
        self._parties = sa.text(parties_query.strip().rstrip(";")).bindparams(
            sa.bindparam("case_ids", expanding=True)
        )

    def read_batch(self, after_id: int, limit: int, holes: Sequence[int]) -> Batch:
        """One short read-only transaction: events above the cursor, then the holes, then the
        clock. Committed as soon as read, so nothing is held open on VOPI."""
        with self.engine.connect() as conn:
            events = self._run_events(conn, self._after, {"after_id": after_id, "limit": limit})
            filled = (
                self._run_events(conn, self._by_id, {"event_ids": list(holes)}) if holes else []
            )
            clock = conn.execute(queries.q("vopi_clock")).one()
            conn.rollback()
        return Batch(events, filled, clock.now, int(clock.xmax))

    def events_by_id(self, event_ids: Sequence[int]) -> list[VopiEvent]:
        with self.engine.connect() as conn:
            events = self._run_events(conn, self._by_id, {"event_ids": list(event_ids)})
            conn.rollback()
        return events

    def newest_event(self) -> tuple[int, dt.datetime | None] | None:
        with self.engine.connect() as conn:
            row = self._execute(conn, self._newest, {}, "events_query").first()
            conn.rollback()
        return (int(row.event_id), row.occurred_at) if row else None

    def oldest_event_id(self) -> int | None:
        with self.engine.connect() as conn:
            row = self._execute(conn, self._oldest, {}, "events_query").first()
            conn.rollback()
        return int(row.event_id) if row else None

    def hole_evidence(self) -> Evidence:
        with self.engine.connect() as conn:
            row = conn.execute(queries.q("vopi_hole_evidence")).one()
            conn.rollback()
        return Evidence(
            now=row.now,
            oldest_transaction_start=row.oldest_transaction_start,
            oldest_running_xid=row.oldest_running_xid,
            can_see_all_sessions=bool(row.can_see_all_sessions),
        )

    def parties(self, case_ids: Iterable[str]) -> dict[str, set[str]]:
        """case_id → party ids (both compared as text)."""
        ids = sorted(set(case_ids))
        result: dict[str, set[str]] = {}
        if not ids:
            return result
        with self.engine.connect() as conn:
            rows = self._execute(conn, self._parties, {"case_ids": ids}, "parties_query")
            _require_columns(rows.keys(), REQUIRED_PARTY_COLUMNS, "parties_query")
            for row in rows:
                if row.case_id is None or row.party_id is None:
                    continue
                result.setdefault(str(row.case_id), set()).add(str(row.party_id))
            conn.rollback()
        return result

    def check(self) -> list[str]:
        """Problems with the two queries (run with LIMIT 0 / no ids): `obvo check`."""
        problems: list[str] = []
        with self.engine.connect() as conn:
            try:
                probed = self._execute(conn, self._probe, {}, "events_query")
                _require_columns(probed.keys(), REQUIRED_EVENT_COLUMNS, "events_query")
                problems.extend(_type_problems(probed))
            except SourceQueryError as exc:
                problems.append(str(exc))
            conn.rollback()
        with self.engine.connect() as conn:
            try:
                probe = sa.text(f"SELECT * FROM ({self._parties.text}) AS p LIMIT 0").bindparams(
                    sa.bindparam("case_ids", expanding=True)
                )
                keys = self._execute(conn, probe, {"case_ids": ["0"]}, "parties_query").keys()
                _require_columns(keys, REQUIRED_PARTY_COLUMNS, "parties_query")
            except SourceQueryError as exc:
                problems.append(str(exc))
            conn.rollback()
        return problems

    def _run_events(
        self, conn: sa.Connection, stmt: sa.TextClause, params: dict[str, Any]
    ) -> list[VopiEvent]:
        result = self._execute(conn, stmt, params, "events_query")
        _require_columns(result.keys(), REQUIRED_EVENT_COLUMNS, "events_query")
        events: list[VopiEvent] = []
        for row in result.mappings():
            event_id = row["event_id"]
            if not isinstance(event_id, int):
                raise SourceQueryError(
                    f"events_query: column event_id must be an integer, got "
                    f"{type(event_id).__name__} ({event_id!r})"
                )
            occurred_at = row["occurred_at"]
            if occurred_at is not None and not isinstance(occurred_at, dt.datetime):
                raise SourceQueryError(
                    f"events_query: column occurred_at must be a timestamp, got "
                    f"{type(occurred_at).__name__}"
                )
            events.append(
                VopiEvent(
                    event_id=event_id,
                    event_type=str(row["event_type"]),
                    case_id=None if row["case_id"] is None else str(row["case_id"]),
                    occurred_at=occurred_at,
                    values=dict(row),
                )
            )
        return events

    @staticmethod
    def _execute(
        conn: sa.Connection, stmt: sa.TextClause, params: dict[str, Any], which: str
    ) -> sa.CursorResult[Any]:
        try:
            return conn.execute(stmt, params)
        except sa.exc.ProgrammingError as exc:
            conn.rollback()
            raise SourceQueryError(f"{which} failed in VOPI: {_first_line(exc)}") from exc
        except sa.exc.DataError as exc:
            conn.rollback()
            raise SourceQueryError(f"{which} failed in VOPI: {_first_line(exc)}") from exc


def _type_problems(result: sa.CursorResult[Any]) -> list[str]:
    problems: list[str] = []
    for name, type_code, *_ in result.cursor.description or ():
        expected = _EXPECTED_TYPES.get(name)
        if expected and type_code not in expected[0]:
            problems.append(
                f"events_query: column {name} must be {expected[1]} "
                f"(PostgreSQL type oid {type_code}); cast it in the query"
            )
    return problems


def _first_line(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)


def _require_columns(keys: Iterable[str], required: Sequence[str], which: str) -> None:
    present = list(keys)
    missing = [c for c in required if c not in present]
    if missing:
        raise SourceQueryError(
            f"{which} must return the column(s) {', '.join(missing)} "
            f"(it returns: {', '.join(present) or 'nothing'}); use `AS {missing[0]}` in the query"
        )
    duplicated = sorted({c for c in present if present.count(c) > 1})
    if duplicated:
        raise SourceQueryError(f"{which} returns the column(s) {', '.join(duplicated)} twice")
