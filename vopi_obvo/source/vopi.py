"""Reading VOPI: the administrator's queries, wrapped, in short read-only transactions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vopi_obvo import queries
from vopi_obvo.errors import SourceQueryError, SourceUnavailable
from vopi_obvo.source.holes import Evidence, Hole

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
    filled_holes: list[VopiEvent]  # earlier holes that are now visible, by id
    # The hole ranges were looked up up to this id (the lookup stopped at the batch size);
    # None: completely.
    holes_read_to: int | None
    vopi_now: dt.datetime
    vopi_xmax: int


@dataclass(frozen=True)
class IdOrigin:
    """Where event_id comes from, as `obvo check`, `status` and the hole rule need it."""

    column: str | None  # e.g. vopi.event_log.id; None: an expression, origin unknown
    sequence: str | None  # the sequence behind that column; None: none found
    cache_size: int = 1
    increment_by: int = 1

    @property
    def cached(self) -> bool:
        """The sequence hands each session a block of ids, inserted in later transactions."""
        return self.cache_size > 1

    def describe(self) -> str:
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


class VopiSource:
    def __init__(self, engine: sa.Engine, events_query: str, parties_query: str) -> None:
        self.engine = engine
        self.events_query = events_query
        self._after = queries.vopi("vopi_events_after", events_query)
        self._by_id = queries.vopi("vopi_events_by_id", events_query)
        self._in_ranges = queries.vopi("vopi_events_in_ranges", events_query)
        self._newest = queries.vopi("vopi_newest_event", events_query)
        self._oldest = queries.vopi("vopi_oldest_event_id", events_query)
        self._probe = queries.vopi("vopi_probe_events", events_query)
        self._recent_gaps = queries.vopi("vopi_recent_gaps", events_query)
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
            clock = conn.execute(queries.q("vopi_clock")).one()
        return Batch(events, filled, read_to, clock.now, int(clock.xmax))

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
            "limit": limit,
        }
        found = self._run_events(conn, self._in_ranges, params)
        return found, (found[-1].event_id if len(found) >= limit else None)

    def events_by_id(self, event_ids: Sequence[int]) -> list[VopiEvent]:
        with self._reading("vopi_events_by_id") as conn:
            return self._run_events(conn, self._by_id, {"event_ids": list(event_ids)})

    def newest_event(self) -> tuple[int, dt.datetime | None] | None:
        with self._reading("vopi_newest_event") as conn:
            row = self._execute(conn, self._newest, {}, "events_query").first()
        return (int(row.event_id), row.occurred_at) if row else None

    def recent_gaps(self, window: int) -> tuple[int | None, list[Hole]]:
        """The newest event id and, as holes first seen now, the ids missing among the
        `window` ids below it (for the first start with start = "latest")."""
        with self._reading("vopi_recent_gaps") as conn:
            rows = self._execute(conn, self._recent_gaps, {"window": window}, "events_query").all()
            clock = conn.execute(queries.q("vopi_clock")).one()
        newest = None if not rows or rows[0].newest_id is None else int(rows[0].newest_id)
        holes = [
            Hole(int(r.first_id), int(r.last_id), clock.now, int(clock.xmax))
            for r in rows
            if r.last_id is not None
        ]
        return newest, holes

    def oldest_event_id(self) -> int | None:
        with self._reading("vopi_oldest_event_id") as conn:
            row = self._execute(conn, self._oldest, {}, "events_query").first()
        return int(row.event_id) if row else None

    def hole_evidence(self) -> Evidence:
        with self._reading("vopi_hole_evidence") as conn:
            row = conn.execute(queries.q("vopi_hole_evidence")).one()
        return Evidence(
            now=row.now,
            oldest_transaction_start=row.oldest_transaction_start,
            oldest_running_xid=row.oldest_running_xid,
            can_see_all_sessions=bool(row.can_see_all_sessions),
            in_recovery=bool(row.in_recovery),
            prepared_transactions=int(row.prepared_transactions),
            oldest_session_start=row.oldest_session_start,
        )

    def id_origin(self) -> IdOrigin:
        """The table column behind event_id (from the result's column origin, which PostgreSQL
        resolves through subqueries) and its sequence."""
        with self._reading("vopi_id_sequence") as conn:
            probed = self._execute(conn, self._probe, {}, "events_query")
            names = list(probed.keys())
            pgresult = getattr(probed.cursor, "pgresult", None)
            if "event_id" not in names or pgresult is None:
                return IdOrigin(None, None)
            index = names.index("event_id")
            table_oid, column_number = pgresult.ftable(index), pgresult.ftablecol(index)
            if not table_oid or not column_number:
                return IdOrigin(None, None)
            row = conn.execute(
                queries.q("vopi_id_sequence"),
                {"table_oid": table_oid, "column_number": column_number},
            ).first()
        if row is None:
            return IdOrigin(None, None)
        if row.sequence_name is None:
            return IdOrigin(row.column_name, None)
        return IdOrigin(
            row.column_name, row.sequence_name, int(row.cache_size), int(row.increment_by)
        )

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
