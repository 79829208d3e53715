"""The service: one loop that polls VOPI and dispatches notifications until told to stop."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

import sqlalchemy as sa
import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from vopi_obvo import db, store, systemd
from vopi_obvo.config import Settings
from vopi_obvo.dispatcher import Dispatcher, DispatchResult
from vopi_obvo.errors import ConfigError, SourceQueryError
from vopi_obvo.migrate import pending_migrations
from vopi_obvo.poller import SOURCE_NAME, Poller, PollResult
from vopi_obvo.queries import q
from vopi_obvo.senders import Sender
from vopi_obvo.senders.email import EmailSender
from vopi_obvo.senders.sms_http import HttpSmsSender
from vopi_obvo.senders.sms_log import LogSmsSender
from vopi_obvo.source import VopiSource

log = structlog.get_logger("vopi_obvo.daemon")

MAX_ERROR_WAIT = 30.0
_TRANSIENT_DB_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError)


def make_senders(settings: Settings) -> dict[str, Sender]:
    sms: Sender = HttpSmsSender(settings.sms) if settings.sms.backend == "http" else LogSmsSender()
    return {"email": EmailSender(settings.email), "sms": sms}


@dataclass
class CycleResult:
    poll: PollResult | None
    dispatch: DispatchResult

    @property
    def more_work(self) -> bool:
        polled_full = self.poll is not None and self.poll.batch_full
        return polled_full or self.dispatch.claimed > 0


class Service:
    def __init__(self, settings: Settings, senders: dict[str, Sender] | None = None) -> None:
        self.settings = settings
        self.stop_event = threading.Event()
        self.worker_id = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"
        self.obvo = db.obvo_engine(settings.database.url, settings.database.schema)
        self.vopi = db.source_engine(settings.source_url, settings.source.statement_timeout)
        self.source = VopiSource(
            self.vopi, settings.source.events_query, settings.source.parties_query
        )
        self.poller = Poller(settings, self.obvo, self.source)
        self.dispatcher = Dispatcher(
            settings.delivery,
            self.obvo,
            senders if senders is not None else make_senders(settings),
            self.worker_id,
            should_stop=self.stop_event.is_set,
            heartbeat=self.heartbeat,
        )
        self._lock_conn: sa.Connection | None = None
        self._registered = False
        self._errors = 0
        self._totals = DispatchResult()
        self._cursor: int | None = None
        self._holes = 0
        self._last_status = 0.0
        self._lock_name = f"obvo-poller:{settings.database.schema}:{SOURCE_NAME}"

    # ---- start-up ----

    def verify(self) -> None:
        """Refuse to start on a configuration that cannot work (exit code CONFIG)."""
        pending = pending_migrations(self.obvo, self.settings.database.schema)
        if pending:
            raise ConfigError(
                f"OBVO's schema is not up to date ({len(pending)} migration(s) pending): "
                "run `obvo migrate` first"
            )
        problems = self.source.check()
        if problems:
            raise ConfigError(
                "VOPI queries do not fit:\n" + "\n".join(f"  - {p}" for p in problems)
            )

    # ---- worker presence ----

    def heartbeat(self) -> None:
        with self.obvo.begin() as conn:
            store.heartbeat(conn, self.worker_id)

    def _register(self) -> None:
        with self.obvo.begin() as conn:
            store.register_worker(conn, self.worker_id, socket.gethostname(), os.getpid())
        self._registered = True

    def _unregister(self) -> None:
        if not self._registered:
            return
        try:
            with self.obvo.begin() as conn:
                store.unregister_worker(conn, self.worker_id)
        except sa.exc.SQLAlchemyError:
            log.warning("worker.unregister_failed", worker_id=self.worker_id)
        self._registered = False

    def reclaim(self) -> None:
        try:
            with self.obvo.begin() as conn:
                ids = store.reclaim_dead_claims(conn, self.settings.delivery.stale_worker_after)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("reclaim.failed", error=str(exc).splitlines()[0])
            return
        if ids:
            log.warning("notifications.taken_back", count=len(ids), ids=ids[:20])

    # ---- the single active poller ----

    def _hold_poller_lock(self) -> bool:
        if self._lock_conn is not None:
            try:
                self._lock_conn.execute(sa.text("SELECT 1"))
                self._lock_conn.commit()
            except sa.exc.SQLAlchemyError:
                log.warning("poller.lock_lost")
                self._drop_lock_connection()
            else:
                return True
        conn = self.obvo.connect()
        locked = bool(conn.execute(q("try_poller_lock"), {"lock_name": self._lock_name}).scalar())
        conn.commit()  # the lock is the session's; no transaction stays open
        if not locked:
            conn.close()
            return False
        self._lock_conn = conn
        log.info("poller.active", worker_id=self.worker_id)
        return True

    def _drop_lock_connection(self) -> None:
        if self._lock_conn is not None:
            try:
                self._lock_conn.execute(q("release_poller_lock"), {"lock_name": self._lock_name})
                self._lock_conn.commit()
            except sa.exc.SQLAlchemyError:
                pass  # the connection is gone, and the lock with it
            finally:
                try:
                    self._lock_conn.invalidate()
                    self._lock_conn.close()
                except sa.exc.SQLAlchemyError:
                    pass
            self._lock_conn = None

    # ---- the loop ----

    def cycle(self) -> CycleResult:
        self.heartbeat()
        poll = self.poller.poll_once() if self._hold_poller_lock() else None
        dispatch = self.dispatcher.dispatch_once()
        return CycleResult(poll, dispatch)

    def run(self, *, once: bool = False, max_seconds: float | None = None) -> None:
        """Work until stopped (or, with once, until nothing is due now)."""
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        scheduler = BackgroundScheduler(timezone="Europe/Ljubljana")
        scheduler.add_job(
            self.reclaim,
            "interval",
            seconds=max(self.settings.delivery.stale_worker_after / 2, 0.5),
            id="reclaim",
            max_instances=1,
            coalesce=True,
        )
        if not once:
            scheduler.start()
        self._errors = 0
        try:
            while not self.stop_event.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                wait = self._guarded_cycle(once=once)
                self._report_to_systemd()
                if wait is None:
                    break
                if wait > 0:
                    self.stop_event.wait(wait)
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            self._drop_lock_connection()
            self._unregister()

    def _guarded_cycle(self, *, once: bool) -> float | None:
        """One round; the seconds to wait before the next, or None when `once` is done.
        Outages are logged and waited out with backoff: the daemon never exits on them."""
        try:
            if not self._registered:
                self._register()
                self.reclaim()
            result = self.cycle()
        except _TRANSIENT_DB_ERRORS as exc:
            self._drop_lock_connection()
            if once:
                raise
            return self._after_error("database.unavailable", _first_line(exc))
        except SourceQueryError as exc:
            if once:
                raise
            return self._after_error("source.query_failed", str(exc))
        self._errors = 0
        self._count(result)
        if result.more_work:
            return 0.0
        return None if once else self.settings.source.poll_interval

    def _count(self, result: CycleResult) -> None:
        if result.poll is not None:
            self._cursor, self._holes = result.poll.cursor, result.poll.holes_pending
        for name in ("claimed", "sent", "retried", "failed", "released"):
            setattr(
                self._totals, name, getattr(self._totals, name) + getattr(result.dispatch, name)
            )

    def status_line(self) -> str:
        role = "polling" if self._lock_conn is not None else "standby (sending only)"
        t = self._totals
        health = f", {self._errors} consecutive error(s)" if self._errors else ""
        return (
            f"{role}; cursor {self._cursor}, holes {self._holes}; since start: sent {t.sent}, "
            f"retrying {t.retried}, failed {t.failed}{health}"
        )

    def _report_to_systemd(self) -> None:
        """Each turn of the loop pings the watchdog: only a hung loop stops the pings."""
        now = time.monotonic()
        if now - self._last_status < 1.0:
            return
        self._last_status = now
        systemd.notify("WATCHDOG=1", f"STATUS={self.status_line()}")

    def _after_error(self, event: str, error: str) -> float:
        self._errors += 1
        wait = min(self.settings.source.poll_interval * 2.0**self._errors, MAX_ERROR_WAIT)
        log.error(event, error=error, retry_in=wait)
        return wait

    def close(self) -> None:
        self._drop_lock_connection()
        self.obvo.dispose()
        self.vopi.dispose()

    @contextmanager
    def signals_stop(self) -> Iterator[None]:
        """SIGTERM and SIGINT ask the loop to stop after the message in hand."""

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("daemon.stopping", signal=signal.Signals(signum).name)
            self.stop_event.set()

        previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
