"""The service: one loop that polls VOPI and dispatches notifications until told to stop."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from vopi_obvo import db, store
from vopi_obvo.config import Settings, load_settings
from vopi_obvo.delivery.dispatcher import Dispatcher, DispatchResult, dispatch_options
from vopi_obvo.delivery.outcomes import first_line
from vopi_obvo.delivery.presence import WorkerPresence
from vopi_obvo.errors import ConfigError, ObvoError, SourceQueryError, SourceUnavailable
from vopi_obvo.ops import health, retention, systemd
from vopi_obvo.ops.lifecycle import GraceOver, SendObserver, Signals, TrackedSender
from vopi_obvo.ops.logsetup import configure_logging
from vopi_obvo.ops.migrate import pending_migrations
from vopi_obvo.poller import Poller, PollResult
from vopi_obvo.queries import q
from vopi_obvo.senders import Sender, shutdown_senders
from vopi_obvo.senders.factory import Wait, build_senders
from vopi_obvo.senders.paced import pacers_of, sleep_then_go
from vopi_obvo.source.vopi import SOURCE_NAME, VopiSource

log = structlog.get_logger("vopi_obvo.daemon")

# After a database error the loop retries soon and often: a failover or a restart of
# PostgreSQL is over in seconds, and a failed connect costs nothing. Reset once it answers.
FIRST_ERROR_WAIT = 0.25
MAX_ERROR_WAIT = 2.0
# STATUS= (lag, pending, failed) is measured at most this often: a few index look-ups.
STATUS_EVERY = 5.0
# The worker's heartbeat is written at most this often (and 4 times per stale_worker_after).
HEARTBEAT_EVERY = 5.0


def make_senders(settings: Settings, wait: Wait = sleep_then_go) -> dict[str, Sender]:
    """SMTP and the SMS gateway(s) (vopi_obvo/senders/factory.py); `wait` is how a paced
    sender waits (False: stopping)."""
    return build_senders(settings, wait)


@dataclass
class CycleResult:
    poll: PollResult | None
    dispatch: DispatchResult
    polled: bool = True  # False: no poll was due (a backlog being sent; Service.poll_due)

    @property
    def more_work(self) -> bool:
        polled_full = self.poll is not None and self.poll.batch_full
        # A round without a poll is never the last one: the next round polls.
        return polled_full or self.dispatch.claimed > 0 or not self.polled


def _reading(settings: Settings) -> tuple[str, str, str]:
    """What a VopiSource is made of besides its engine."""
    s = settings.source
    return (s.events_query, s.parties_query, s.timezone)


class Service:
    # Seconds from start to the first retention run (tests make it short).
    retention_delay: float = 60.0

    def __init__(self, settings: Settings, senders: dict[str, Sender] | None = None) -> None:
        self.settings = settings
        # SIGTERM/SIGINT/SIGHUP and the grace period for a message in flight (lifecycle.py).
        self.signals = Signals(lambda: self.settings.delivery.shutdown_grace)
        self.stop_event = self.signals.stop
        self.send_observers: list[SendObserver] = []  # e.g. metrics: channel, outcome, seconds
        self._fixed_senders = senders
        self.worker_id = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"
        self.obvo = db.obvo_engine(settings.database.url, settings.database.schema)
        self.vopi = db.source_engine(settings.source_url, settings.source.statement_timeout)
        self.source = VopiSource(
            self.vopi,
            settings.source.events_query,
            settings.source.parties_query,
            settings.source.timezone,
        )
        self.poller = Poller(settings, self.obvo, self.source)
        self.presence = WorkerPresence(
            self.obvo, self.worker_id, liveness=settings.delivery.liveness
        )
        self.dispatcher = self._make_dispatcher(
            settings,
            self._tracked(senders if senders is not None else make_senders(settings, self._wait)),
        )
        self._lock_conn: sa.Connection | None = None
        self._errors = 0
        self._totals = DispatchResult()
        self._cursor: int | None = None
        self._holes = 0
        self._lock_name = f"obvo-poller:{settings.database.schema}:{SOURCE_NAME}"
        self._notify = bool(os.environ.get("NOTIFY_SOCKET"))
        watchdog = systemd.watchdog_interval()  # half of WatchdogSec, if systemd watches us
        # Pings come at least this often (well inside WatchdogSec/2) while the loop turns.
        self._ping_every = 1.0 if watchdog is None else min(1.0, watchdog / 2)
        self._last_ping = 0.0
        self._last_beat = -math.inf
        self._last_poll = -math.inf
        self._poll_now = True
        self._last_problem: str | None = None
        self._last_snapshot = -STATUS_EVERY
        self.lag: health.Lag | None = None  # the latest measurement, for STATUS=
        self.events_read_total = 0  # for metrics
        self.counts: health.Counts | None = None

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
        # How holes will end, said once at start (and in `obvo check`, `obvo status`).
        evidence = self.source.evidence_mode()
        (log.info if evidence == "full" else log.warning)(
            "holes.evidence", engine=self.source.dialect.name, evidence=evidence
        )

    # ---- worker presence ----

    def _make_dispatcher(self, settings: Settings, senders: dict[str, Sender]) -> Dispatcher:
        return Dispatcher(
            settings.delivery,
            self.obvo,
            senders,
            self.worker_id,
            should_stop=self.stop_event.is_set,
            heartbeat=self.heartbeat,
            claims_valid=self.presence.intact,
            in_flight=self.signals.in_flight,
            **dispatch_options(settings),
        )

    def heartbeat(self) -> None:
        """Every few seconds, not every turn of the loop: an idle daemon writes nothing else.
        Sooner when the worker's lock session was lost (a new one is opened) or the problem its
        senders meet changed. The row is an upsert (back after a long outage); the count of
        live workers it returns divides each max_per_second between them."""
        now = time.monotonic()
        stale_after = self.settings.delivery.stale_worker_after
        problem = self.dispatcher.problem
        due = now - self._last_beat >= min(HEARTBEAT_EVERY, stale_after / 4)
        if due or not self.presence.intact() or problem != self._last_problem:
            workers = self.presence.beat(problem, stale_after)
            self._last_beat, self._last_problem = now, problem
            for pacer in pacers_of(self.dispatcher.senders.values()):
                pacer.share(workers)
        # Also during a long batch of sends: the loop is busy, not hung.
        self._ping_watchdog()

    @property
    def _registered(self) -> bool:
        return self.presence.registered

    def _unregister(self) -> None:
        self.presence.leave()

    def reclaim(self) -> None:
        """The background sweep (also when the loop is busy with a long batch): claims of dead
        or hung workers; rows of workers silent for 10x stale_worker_after are forgotten."""
        try:
            with self.obvo.begin() as conn:
                self.dispatcher.take_back(conn, own=False)
                store.forget_dead_workers(conn, self.settings.delivery.stale_worker_after * 10)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("reclaim.failed", error=first_line(exc))

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

    def poll_due(self) -> bool:
        """While a backlog is being sent, VOPI is read every `poll_interval`, not before every
        claim: a round sends one claim (a few dozen messages), and a poll is a dozen round
        trips to the databases whose new events would wait behind the backlog anyway. At once
        again after a full batch (more to read), and when a round claimed nothing, so a quiet
        daemon reads as before and new events still start at most one poll_interval late."""
        interval = self.settings.source.poll_interval
        return self._poll_now or time.monotonic() - self._last_poll >= interval

    def cycle(self) -> CycleResult:
        self.heartbeat()
        polled = self.poll_due()
        poll = None
        if polled:
            self._last_poll = time.monotonic()
            if self._hold_poller_lock():
                poll = self.poller.poll_once()
        dispatch = self.dispatcher.dispatch_once()
        self._poll_now = (poll is not None and poll.batch_full) or dispatch.claimed == 0
        return CycleResult(poll, dispatch, polled)

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
        # Retention: daily, the first time soon after start (a daemon restarted every night
        # would otherwise never purge).
        scheduler.add_job(
            self.purge_expired,
            "interval",
            hours=24,
            id="retention",
            next_run_time=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.retention_delay),
            max_instances=1,
            coalesce=True,
        )
        if not once:
            scheduler.start()
        self._errors = 0
        self._poll_now = True  # every run starts with a poll
        try:
            while not self.stop_event.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if self.signals.reload_requested:
                    self.reload()  # between two rounds: nothing in flight is dropped
                wait = self._guarded_cycle(once=once)
                self.signals.report()
                self._report_to_systemd()
                if wait is None:
                    break
                if wait > 0:
                    self.signals.sleep(wait, self._ping_every, self._report_to_systemd)
        except GraceOver as over:
            log.warning(
                "daemon.send_interrupted",
                notification_ids=over.notification_ids,
                grace_seconds=self.settings.delivery.shutdown_grace,
            )
        finally:
            self.signals.report()
            if scheduler.running:
                scheduler.shutdown(wait=False)
            self._release_own_claims()
            self._drop_lock_connection()
            self._unregister()

    def _release_own_claims(self) -> None:
        """On the way out, whatever this process still holds goes back to pending at once,
        for a standby or the next start (instead of waiting for stale_worker_after)."""
        if not self._registered:
            return
        interrupted = self.signals.in_flight.interrupted
        try:
            with self.obvo.begin() as conn:
                released = conn.execute(
                    q("release_own_claims"),
                    {
                        "worker_id": self.worker_id,
                        "in_flight": interrupted,
                        "error": "the daemon stopped while sending (shutdown_grace over); "
                        "it may have arrived, it is sent again",
                    },
                ).all()
        except sa.exc.SQLAlchemyError as exc:
            log.warning("notifications.release_failed", error=first_line(exc))
            return
        if released:
            log.info(
                "notifications.released",
                count=len(released),
                ids=[int(r.id) for r in released][:20],
                interrupted=interrupted,
            )

    def purge_expired(self) -> None:
        """The daily retention job (vopi_obvo/retention.py); an outage just skips a day."""
        try:
            retention.purge(self.obvo, self.settings.retention.message_days)
        except sa.exc.SQLAlchemyError as exc:
            log.error("retention.failed", error=first_line(exc))

    def _guarded_cycle(self, *, once: bool) -> float | None:
        """One round; the seconds to wait before the next, or None when `once` is done.
        Outages are logged and waited out with backoff: the daemon never exits on them."""
        try:
            if not self._registered:
                self.heartbeat()
                self.reclaim()
            result = self.cycle()
        except SourceUnavailable as exc:
            # VOPI's trouble (a statement timeout, VOPI restarting): OBVO's own sessions are
            # fine, so the poller lock stays and no standby flaps in. Only VOPI's pool may hold
            # dead connections; retried with backoff.
            self.vopi.dispose()
            if once:
                raise
            return self._after_error("source.unavailable", exc.error, query=exc.query)
        except SourceQueryError as exc:
            if once:
                raise
            return self._after_error("source.query_failed", str(exc))
        except sa.exc.SQLAlchemyError as exc:
            if db.is_connection_error(exc):
                self.discard_connections()
                if once:
                    raise
                return self._after_error("database.unavailable", first_line(exc))
            if once:
                raise
            # Not about one row (those fail their row in the dispatcher): logged loudly, the
            # loop goes on rather than exit and crash-loop under systemd.
            log.error("cycle.failed", error=first_line(exc), exc_info=exc)
            return self._after_error("database.error", first_line(exc))
        self._errors = 0
        self._count(result)
        if result.more_work:
            return 0.0
        return None if once else self.settings.source.poll_interval

    def _count(self, result: CycleResult) -> None:
        if result.poll is not None:
            self._cursor, self._holes = result.poll.cursor, result.poll.holes_pending
            self.events_read_total += result.poll.events_read
        for name in ("claimed", "sent", "retried", "failed", "released"):
            setattr(
                self._totals, name, getattr(self._totals, name) + getattr(result.dispatch, name)
            )

    @property
    def polling(self) -> bool:
        """This process holds the poller lock (the active instance)."""
        return self._lock_conn is not None

    def status_line(self) -> str:
        """What `systemctl status obvo` shows: role, cursor, lag, open and failed messages."""
        role = "polling" if self._lock_conn is not None else "standby (sending only)"
        t = self._totals
        errors = f"; {self._errors} consecutive error(s)" if self._errors else ""
        counts = self.counts
        cursor = counts.cursor if counts is not None else self._cursor
        outbox = (
            f"{counts.pending} pending, {counts.failed_recent} failed in the last "
            f"{self.settings.health.failed_window:g} s"
            if counts is not None
            else "outbox unknown"
        )
        return (
            f"{role}; cursor {cursor}, {health.format_lag(self.lag)}, holes {self._holes}; "
            f"{outbox}; since start: sent {t.sent}, retrying {t.retried}, failed {t.failed}"
            f"{errors}"
        )

    def _report_to_systemd(self) -> None:
        """Each turn of the loop, and each slice of a wait, pings the watchdog: only a hung
        loop stops the pings. STATUS= is measured again every STATUS_EVERY seconds."""
        now = time.monotonic()
        if now - self._last_snapshot < STATUS_EVERY:
            self._ping_watchdog()
            return
        self._last_snapshot = now
        if self._notify:
            self.measure()
            systemd.notify("WATCHDOG=1", f"STATUS={self.status_line()}")
            self._last_ping = time.monotonic()

    def _ping_watchdog(self) -> None:
        now = time.monotonic()
        if self._notify and now - self._last_ping >= self._ping_every:
            self._last_ping = now
            systemd.notify("WATCHDOG=1")

    def measure(self) -> None:
        """Lag, open and recently failed notifications: a few index look-ups. A database that
        cannot answer leaves them unknown; the loop reports the outage itself."""
        try:
            with self.obvo.connect() as conn:
                self.counts = health.counts(conn, SOURCE_NAME, self.settings.health.failed_window)
            self.lag = health.measure_lag(self.source, self.counts.cursor)
        except (sa.exc.SQLAlchemyError, SourceQueryError, SourceUnavailable):
            self.lag = None

    # ---- reload (SIGHUP) ----

    def _tracked(self, senders: dict[str, Sender]) -> dict[str, Sender]:
        return {
            channel: TrackedSender(sender, self.signals.in_flight, self._observe_send)
            for channel, sender in senders.items()
        }

    def _observe_send(self, channel: str, outcome: str, seconds: float) -> None:
        for observe in self.send_observers:
            observe(channel, outcome, seconds)

    def reload(self) -> bool:
        """SIGHUP: the configuration file, `.env` and the rules again, applied between two
        rounds. A configuration that does not load or does not fit is logged and the running
        one kept. [database] and [metrics] listen take effect at the next start."""
        self.signals.reload_requested = False
        systemd.notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            self._apply(load_settings(self.settings.path))
        except ObvoError as exc:
            log.error("config.reload_failed", error=str(exc), kept="the running configuration")
            return False
        except sa.exc.SQLAlchemyError as exc:
            log.error(
                "config.reload_failed", error=first_line(exc), kept="the running configuration"
            )
            return False
        finally:
            systemd.notify("READY=1", f"STATUS={self.status_line()}")
        return True

    def _apply(self, new: Settings) -> None:
        old = self.settings
        restart_needed = [
            key
            for key, before, after in (
                ("[database] url", old.database.url, new.database.url),
                ("[database] schema", old.database.schema, new.database.schema),
                ("[metrics] listen", old.metrics.listen, new.metrics.listen),
            )
            if before != after
        ]
        new = dataclasses.replace(
            new, database=old.database, metrics=old.metrics, path=old.path or new.path
        )
        vopi, source = self.vopi, self.source
        if (new.source_url, new.source.statement_timeout) != (
            old.source_url,
            old.source.statement_timeout,
        ):
            vopi = db.source_engine(new.source_url, new.source.statement_timeout)
        if vopi is not self.vopi or _reading(new) != _reading(old):
            source = VopiSource(
                vopi, new.source.events_query, new.source.parties_query, new.source.timezone
            )
            try:
                problems = source.check()
            except sa.exc.SQLAlchemyError:
                problems = ["VOPI cannot be reached with the new [source] settings"]
            if problems:
                if vopi is not self.vopi:
                    vopi.dispose()
                raise ConfigError(
                    "VOPI queries do not fit:\n" + "\n".join(f"  - {p}" for p in problems)
                )
        senders = self._tracked(
            self._fixed_senders
            if self._fixed_senders is not None
            else make_senders(new, self._wait)
        )
        poller = Poller(new, self.obvo, source)
        with self.obvo.connect() as conn:
            poller.refresh_rules(conn)
        dispatcher = self._make_dispatcher(new, senders)
        self.dispatcher.close()
        if self._fixed_senders is None:
            shutdown_senders(self.dispatcher.senders.values())
        if vopi is not self.vopi:
            self.vopi.dispose()
            self.vopi = vopi
        self.settings, self.source, self.poller, self.dispatcher = new, source, poller, dispatcher
        if new.logging != old.logging:
            configure_logging(new.logging.level, new.logging.format)
        log.info(
            "config.reloaded",
            path=str(new.path) if new.path else None,
            event_types=len(poller.rules.rules),
            restart_needed=restart_needed,
        )

    def _after_error(self, event: str, error: str, **context: str) -> float:
        self._errors += 1
        wait = min(FIRST_ERROR_WAIT * 2.0 ** (self._errors - 1), MAX_ERROR_WAIT)
        log.error(event, error=error, retry_in=wait, **context)
        return wait

    def _wait(self, seconds: float) -> bool:
        """How a paced sender waits for its turn: False when the process is stopping."""
        return not self.stop_event.wait(seconds)

    def discard_connections(self) -> None:
        """After a lost connection every pooled connection may be dead (a restart or failover
        of PostgreSQL ends them all): discard them all, so the next cycle starts on fresh ones
        instead of failing once per dead connection."""
        self._drop_lock_connection()
        self.presence.drop_session()
        self.obvo.dispose()
        self.vopi.dispose()

    def close(self) -> None:
        self.dispatcher.close()
        self._drop_lock_connection()
        self.presence.drop_session()
        shutdown_senders(self.dispatcher.senders.values())  # e.g. an SMPP session
        self.obvo.dispose()
        self.vopi.dispose()

    @contextmanager
    def signals_stop(self) -> Iterator[None]:
        """SIGTERM/SIGINT stop (with the grace period), SIGHUP reloads (lifecycle.py)."""
        with self.signals.installed():
            yield
