"""This process as PostgreSQL sees it: a `workers` row and, with liveness "lock", a session.

With `[delivery] liveness = "lock"` (the default) the worker keeps one connection of its own
that holds the advisory lock named by its worker id (`take_worker_lock`). PostgreSQL drops
that lock the moment the session ends: kill -9, a crash, pg_terminate_backend, or (for a host
that vanished) the server's TCP keepalives. Any worker's next dispatch sees the lock missing in
`pg_locks` and takes the claims back (`reclaim_dead_claims`): no waiting for a heartbeat to age.

The same session is this worker's proof that its claims are still its own: while it is intact
nobody takes them back. `intact()` is a non-blocking look at its socket, cheap enough to ask
before every send; a session the server ended has something to read (the FATAL message, or
EOF). When it is gone, the dispatcher stops sending what it claimed (another worker may already
hold it) and the next `beat()` opens a new session.

Behind a pooler in transaction mode a session lock means nothing (the server session is shared
between clients), so `liveness = "heartbeat"` keeps only the row's heartbeat age as the rule.

The row is written by an upsert on every beat, so a worker whose row was forgotten during a
long outage (`delete_dead_workers`) shows up again in `obvo status` as soon as it can write.
"""

from __future__ import annotations

import os
import select
import socket
from typing import Any

import sqlalchemy as sa
import structlog

from vopi_obvo import store

log = structlog.get_logger("vopi_obvo.presence")

# Seconds a new lock session waits for this worker's previous one to end on the server.
LOCK_WAIT = 10


class WorkerPresence:
    def __init__(self, engine: sa.Engine, worker_id: str, *, liveness: str) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.liveness = liveness
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self._session: sa.Connection | None = None
        self._raw: Any = None  # the session's DB-API connection (psycopg)
        self.registered = False

    # ---- the lock session ----

    def intact(self) -> bool:
        """This worker's claims are still its own (its lock session has not ended)."""
        if self.liveness != "lock":
            return True
        return self._session is not None and self._intact_session()

    def _intact_session(self) -> bool:
        raw = self._raw
        if self._session is None or self._session.invalidated or raw is None or raw.closed:
            return False
        try:
            readable, _, _ = select.select([raw.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        # Idle in autocommit, nothing is due from the server: whatever arrived ends the session.
        return not readable

    def _open_session(self) -> None:
        self.drop_session()
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        # Out of the pool: held for the life of the process, it must not take a pooled slot.
        conn.detach()
        try:
            # A previous session of this worker may still be ending on the server (it holds
            # the same lock until then): wait for it, but not for ever.
            conn.execute(sa.text(f"SET lock_timeout = '{LOCK_WAIT}s'"))
            store.take_worker_lock(conn, self.worker_id)
        except BaseException:
            conn.close()
            raise
        self._session = conn
        self._raw = conn.connection.dbapi_connection

    def drop_session(self) -> None:
        session, raw = self._session, self._raw
        self._session = self._raw = None
        if session is None:
            return
        try:
            if raw is not None and not raw.closed and not session.invalidated:
                store.release_worker_lock(session, self.worker_id)
        except sa.exc.SQLAlchemyError:
            pass  # the session is gone, and the lock with it
        # Detached from the pool, so close the socket itself: the server ends the session
        # (and frees the lock a new session of this worker waits for) at once.
        try:
            if raw is not None:
                raw.close()
            session.invalidate()
            session.close()
        except (sa.exc.SQLAlchemyError, OSError):
            pass

    # ---- the row ----

    def beat(self, problem: str | None = None, stale_after: float = 60.0) -> int:
        """Upsert the row (heartbeat, liveness, the reported problem); with liveness "lock",
        first make sure the lock session is there (a new one after it was lost). Returns how
        many workers live, this one included."""
        if self.liveness == "lock" and not self.intact():
            if self._session is not None:
                log.warning("worker.session_lost", worker_id=self.worker_id)
            self._open_session()
        conn = self._session
        if conn is not None:
            live = self._upsert(conn, problem, stale_after)
        else:
            with self.engine.begin() as pooled:
                live = self._upsert(pooled, problem, stale_after)
        self.registered = True
        return live

    def _upsert(self, conn: sa.Connection, problem: str | None, stale_after: float) -> int:
        return store.register_worker(
            conn,
            self.worker_id,
            self.hostname,
            self.pid,
            liveness=self.liveness,
            problem=problem,
            stale_after=stale_after,
        )

    def leave(self) -> None:
        """A clean stop: the row goes, and the lock with its session."""
        if self.registered:
            try:
                with self.engine.begin() as conn:
                    store.unregister_worker(conn, self.worker_id)
            except sa.exc.SQLAlchemyError:
                log.warning("worker.unregister_failed", worker_id=self.worker_id)
            self.registered = False
        self.drop_session()
