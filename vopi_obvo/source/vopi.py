"""Reading VOPI: the administrator's queries, wrapped, in short read-only transactions.

What differs between database engines (the wrapping, the clock, the hole evidence, column
types, `obvo check`'s plan checks) comes from vopi_obvo/source/engines/.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from vopi_obvo.errors import SourceQueryError, SourceUnavailable
from vopi_obvo.source import engines
from vopi_obvo.source.engines import IdOrigin
from vopi_obvo.source.holes import Evidence, Hole

# The name OBVO keeps VOPI's cursor and holes under (source_cursor, pending_holes).
SOURCE_NAME = "vopi"
REQUIRED_EVENT_COLUMNS = ("event_id", "event_type", "occurred_at", "case_id")
REQUIRED_PARTY_COLUMNS = ("case_id", "party_id")
DEFAULT_TIMEZONE = "Europe/Ljubljana"


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
    filled_holes: list[VopiEvent]  # earlier holes that are now visible, by id
    # The hole ranges were looked up up to this id (the lookup stopped at the batch size);
    # None: completely.
    holes_read_to: int | None
    vopi_now: dt.datetime
    vopi_xmax: int | None  # None: the engine has no transaction id bound (MariaDB/MySQL)


class VopiSource:
    def __init__(
        self,
        engine: sa.Engine,
        events_query: str,
        parties_query: str,
        timezone: str = DEFAULT_TIMEZONE,
    ) -> None:
        self.engine = engine
        self.dialect = engines.for_engine(engine)
        self.events_query = events_query
        # VOPI's wall clock: the zone of timestamps stored without one (DATETIME, timestamp).
        self.timezone = ZoneInfo(timezone)
        self._after = self.wrapped("vopi_events_after")
        self._by_id = self.wrapped("vopi_events_by_id")
        self._in_ranges = self.wrapped("vopi_events_in_ranges")
        self._recent_gaps = self.wrapped("vopi_recent_gaps")
        self._newest = self.wrapped("vopi_newest_event")
        self._oldest = self.wrapped("vopi_oldest_event_id")
        self._oldest_unread = self.wrapped("vopi_oldest_unread")
        self._probe = self.wrapped("vopi_probe_events")
        self._blockers: list[str] | None = None
        self._parties = sa.text(parties_query.strip().rstrip(";")).bindparams(
            sa.bindparam("case_ids", expanding=True)
        )

    @contextmanager
    def _reading(self, query: str) -> Iterator[sa.Connection]:
        """A short read-only transaction on VOPI, rolled back at the end. A VOPI that does not
        answer (statement timeout, connection lost, server error) raises SourceUnavailable
        naming the query, so the caller can tell VOPI's trouble from OBVO's own."""
        try:
            with self.engine.connect() as conn:
                yield conn
                conn.rollback()
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.InternalError) as exc:
            raise SourceUnavailable(query, _first_line(exc)) from exc
        except sa.exc.TimeoutError as exc:  # no pooled connection came free
            raise SourceUnavailable(query, str(exc).splitlines()[0]) from exc

    def read_batch(self, after_id: int, limit: int, holes: Sequence[Hole]) -> Batch:
        """One short read-only transaction: events above the cursor, then the lowest events
        inside the hole ranges (at most `limit` of each), then the clock. Committed as soon as
        read, so nothing is held open on VOPI."""
        with self._reading("vopi_events_after") as conn:
            events = self._run_events(conn, self._after, {"after_id": after_id, "limit": limit})
            filled, read_to = self._in_holes(conn, holes, limit)
            clock = self.dialect.clock(conn)
        return Batch(events, filled, read_to, clock.now, clock.xmax)

    def events_in_holes(
        self, holes: Sequence[Hole], limit: int
    ) -> tuple[list[VopiEvent], int | None]:
        """The lowest `limit` events inside the ranges, and the id up to which the ranges were
        read (None: completely)."""
        with self._reading("vopi_events_in_ranges") as conn:
            return self._in_holes(conn, holes, limit)

    def _in_holes(
        self, conn: sa.Connection, holes: Sequence[Hole], limit: int
    ) -> tuple[list[VopiEvent], int | None]:
        if not holes:
            return [], None
        params = {
            "lows": [h.first_id for h in holes],
            "highs": [h.last_id for h in holes],
            "ranges": json.dumps([[h.first_id, h.last_id] for h in holes]),  # MariaDB/MySQL
            "limit": limit,
        }
        found = self._run_events(conn, self._in_ranges, params)
        return found, (found[-1].event_id if len(found) >= limit else None)

    def recent_gaps(self, window: int) -> tuple[int | None, list[Hole]]:
        """The newest event id and, as holes first seen now, the ids missing among the
        `window` ids below it (for the first start with start = "latest")."""
        with self._reading("vopi_recent_gaps") as conn:
            rows = self._execute(conn, self._recent_gaps, {"window": window}, "events_query").all()
            clock = self.dialect.clock(conn)
        newest = None if not rows or rows[0].newest_id is None else int(rows[0].newest_id)
        holes = [
            Hole(int(r.first_id), int(r.last_id), clock.now, clock.xmax)
            for r in rows
            if r.last_id is not None
        ]
        return newest, holes

    def wrapped(self, name: str) -> sa.TextClause:
        """A named [vopi] query around the events query, in this engine's SQL."""
        return self.dialect.wrapped(name, self.events_query)

    def events_by_id(self, event_ids: Sequence[int]) -> list[VopiEvent]:
        with self._reading("vopi_events_by_id") as conn:
            return self._run_events(conn, self._by_id, {"event_ids": list(event_ids)})

    def newest_event(self) -> tuple[int, dt.datetime | None] | None:
        with self._reading("vopi_newest_event") as conn:
            result = self._execute(conn, self._newest, {}, "events_query")
            zones = self.dialect.naive_zones(result, self.timezone)
            row = result.first()
        return (
            (int(row.event_id), _aware(row.occurred_at, zones.get("occurred_at"))) if row else None
        )

    def lag(self, cursor: int | None) -> tuple[int | None, tuple[int, float | None] | None]:
        """The newest event id, and the first event above the cursor with its age in seconds
        on VOPI's clock (None: nothing unread); one read-only transaction."""
        with self._reading("vopi_oldest_unread") as conn:
            newest = conn.execute(self._newest).first()
            unread: tuple[int, float | None] | None = None
            if cursor is not None:
                result = conn.execute(self._oldest_unread, {"after_id": cursor})
                zones = self.dialect.naive_zones(result, self.timezone)
                row = result.first()
                if row is not None:
                    occurred = _aware(row.occurred_at, zones.get("occurred_at"))
                    now = self.dialect.clock(conn).now
                    age = None if occurred is None else (now - occurred).total_seconds()
                    unread = (int(row.event_id), age)
        return (None if newest is None else int(newest.event_id)), unread

    def evidence_mode(self) -> str:
        """How holes end, for the start-up log, `obvo check` and `obvo status`."""
        evidence = self.hole_evidence()
        if evidence.sessions_trusted:
            return "full"
        return "limited: " + self.evidence_limit(evidence)

    def evidence_limit(self, evidence: Evidence | None = None) -> str:
        """Why hole evidence is limited (for `evidence`, or the last `hole_evidence`)."""
        if evidence is not None and evidence.in_recovery:
            return (
                "VOPI is a hot standby, whose session list shows only its own sessions, so "
                "holes are given up after [source] hole_max_age"
            )
        if self._blockers:
            return "; ".join(self._blockers)
        return (
            f"the VOPI role lacks {self.dialect.evidence_privilege}, so holes are given up "
            "after [source] hole_max_age"
        )

    def id_origin(self) -> IdOrigin:
        """The table column behind event_id and the id generator behind it (a cached sequence
        hands out ids that are inserted long after they are drawn)."""
        with self._reading("vopi_id_sequence") as conn:
            probed = self._execute(conn, self._probe, {}, "events_query")
            return self.dialect.id_origin(conn, self.events_query, probed)

    def oldest_event_id(self) -> int | None:
        with self._reading("vopi_oldest_event_id") as conn:
            row = self._execute(conn, self._oldest, {}, "events_query").first()
        return int(row.event_id) if row else None

    def hole_evidence(self) -> Evidence:
        with self._reading("vopi_hole_evidence") as conn:
            evidence = self.dialect.hole_evidence(conn)
            if evidence.can_see_all_sessions and self._evidence_blockers(conn):
                evidence = dataclasses.replace(evidence, can_see_all_sessions=False)
        return evidence

    def _evidence_blockers(self, conn: sa.Connection) -> list[str]:
        """Asked once per source: the event log's id generator does not change."""
        if self._blockers is None:
            self._blockers = self.dialect.evidence_blockers(conn, self.events_query)
        return self._blockers

    def parties(self, case_ids: Iterable[str]) -> dict[str, set[str]]:
        """case_id → party ids (both compared as text)."""
        ids = sorted(set(case_ids))
        result: dict[str, set[str]] = {}
        if not ids:
            return result
        with self._reading("parties_query") as conn:
            rows = self._execute(conn, self._parties, {"case_ids": ids}, "parties_query")
            _require_columns(rows.keys(), REQUIRED_PARTY_COLUMNS, "parties_query")
            for row in rows:
                if row.case_id is None or row.party_id is None:
                    continue
                result.setdefault(str(row.case_id), set()).add(str(row.party_id))
        return result

    def check(self) -> list[str]:
        """Problems with the two queries (run with LIMIT 0 / no ids): `obvo check`."""
        problems: list[str] = []
        with self.engine.connect() as conn:
            try:
                probed = self._execute(conn, self._probe, {}, "events_query")
                _require_columns(probed.keys(), REQUIRED_EVENT_COLUMNS, "events_query")
                problems.extend(self.dialect.column_problems(probed))
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

    def engine_report(self) -> engines.EngineReport:
        """What `obvo check` says about VOPI's engine: the wrapped query's plan, the id
        generator, the hole evidence. Warnings do not stop the daemon; they cost speed or
        fall back to the age rule."""
        with self.engine.connect() as conn:
            try:
                report = self.dialect.check(conn, self.events_query)
            except sa.exc.DBAPIError as exc:
                report = engines.EngineReport(
                    [], [f"events_query cannot be inspected in VOPI: {_first_line(exc)}"]
                )
            conn.rollback()
        notes = [
            f"{self.dialect.name}; hole evidence: {self.evidence_mode()}",
            f"event ids: {self.id_origin().describe()}",
            *report.notes,
        ]
        return engines.EngineReport(notes, report.warnings)

    def _run_events(
        self, conn: sa.Connection, stmt: sa.TextClause, params: dict[str, Any]
    ) -> list[VopiEvent]:
        result = self._execute(conn, stmt, params, "events_query")
        _require_columns(result.keys(), REQUIRED_EVENT_COLUMNS, "events_query")
        zones = self.dialect.naive_zones(result, self.timezone)
        events: list[VopiEvent] = []
        for raw in result.mappings():
            row = {k: _aware(v, zones.get(k)) for k, v in raw.items()} if zones else dict(raw)
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
                    values=row,
                )
            )
        return events

    def _execute(
        self, conn: sa.Connection, stmt: sa.TextClause, params: dict[str, Any], which: str
    ) -> sa.CursorResult[Any]:
        try:
            return conn.execute(stmt, params)
        except sa.exc.DBAPIError as exc:
            if not self.dialect.is_query_error(exc):
                raise  # VOPI unreachable or busy: the daemon retries
            conn.rollback()
            raise SourceQueryError(f"{which} failed in VOPI: {_first_line(exc)}") from exc


def _aware(value: Any, zone: dt.tzinfo | None) -> Any:
    """A naive datetime of a column whose zone is known, made aware; anything else as is."""
    if zone is not None and isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value


def _first_line(exc: sa.exc.DBAPIError) -> str:
    args: tuple[Any, ...] = tuple(getattr(exc.orig, "args", ()))
    if len(args) == 2 and isinstance(args[0], int):  # PyMySQL: (error code, message)
        return f"{args[1]} (error {args[0]})"
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
