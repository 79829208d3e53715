"""The dispatcher: claim due notifications, send them, record the outcome of each.

Every path out of a batch settles or gives back what it claimed: an outcome per message sent
or tried; unsent claims released (their attempt not counted) on a stop, a lost worker session
or an old claim; and on an error between claim and outcome (the database went away) the rest
given back, best effort, or else taken back by this worker's next dispatch
(`reclaim_dead_claims` with its own id). One message never stops the loop: any exception from a
sender becomes that message's attempt (delivery/outcomes.py), and a database error about one
row (integrity, data) fails that row only.

Up to `[delivery] concurrency` messages are in flight at once: sending threads
(delivery/send_pool.py) only call the senders; this thread starts them, collects what they
return and records every outcome, `sent` marks several to a statement and never before the
provider accepted (docs/architecture.md, "Concurrent delivery").
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog

from vopi_obvo import db, store
from vopi_obvo.config import DeliverySettings, Settings
from vopi_obvo.delivery import claims, outcomes
from vopi_obvo.delivery.backoff import retry_delay
from vopi_obvo.delivery.coalesce_store import RulesCache, coalesce_claimed
from vopi_obvo.delivery.pacing import DEFAULT_PAUSE
from vopi_obvo.delivery.send_pool import Done, SendPool
from vopi_obvo.messages.contacts import mask_recipient
from vopi_obvo.messages.quiet_hours import QuietHours
from vopi_obvo.messages.sms_text import SmsPolicy
from vopi_obvo.ops.lifecycle import GraceOver, InFlight
from vopi_obvo.queries import q
from vopi_obvo.senders import (
    NotAttempted,
    OutgoingMessage,
    Sender,
    SendError,
    TemporaryFailure,
    Throttled,
)

log = structlog.get_logger("vopi_obvo.dispatcher")

# After a temporary failure a channel rests this long at most before the next claim.
MAX_CHANNEL_PAUSE = 60.0
# A claim is at most this many notifications per sending thread (and at least MIN_CLAIM, so
# that one claim round, a few queries, is shared by enough messages): a crash holds few, and
# a second process gets its share.
CLAIMS_PER_THREAD = 4
MIN_CLAIM = 25
# A batch claims again while its last claim is being sent (fewer waiting than threads), so
# the threads never stand idle for a claim round; it stops claiming after this many seconds
# (at most a quarter of claim_timeout), and the daemon's loop gets its turn: the poll, the
# reload, the watchdog.
DEFAULT_REFILL_FOR = 1.0
# While sends are in flight the dispatcher wakes at least this often (heartbeat, watchdog).
COLLECT_TIMEOUT = 0.5
# `sent` marks wait at most this long (or for `concurrency` of them) to be written together.
FLUSH_AFTER = 0.2
# Seconds before each new try of `sent` marks whose connection was lost (about 2 s in all:
# what a failover or a restarted PostgreSQL takes to answer again).
MARK_RETRY_DELAYS = (0.1, 0.4, 1.5)


@dataclass
class _Sending:
    """A message handed to a sending thread."""

    item: store.ClaimedNotification
    started_at: dt.datetime
    started: float  # time.monotonic()

    @functools.cached_property
    def bound(self) -> structlog.typing.FilteringBoundLogger:
        """The logger naming this message, made when its outcome is logged."""
        return bound_logger(self.item)


def bound_logger(item: store.ClaimedNotification) -> structlog.typing.FilteringBoundLogger:
    bound: structlog.typing.FilteringBoundLogger = log.bind(
        notification_id=item.id,
        channel=item.channel,
        event_id=item.source_event_id,
        attempt=item.attempts,
        to=mask_recipient(item.recipient),
    )
    return bound


@dataclass
class _Accepted:
    """A message its provider accepted, its `sent` mark not yet written."""

    sending: _Sending
    provider_id: str | None


@dataclass
class DispatchResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    deferred: int = 0  # SMS claimed in quiet hours, back to wait (not an attempt)
    coalesced: int = 0  # notifications whose events went out in another's message
    taken_back: int = 0  # claims of dead workers (or left over by this one) returned


@dataclass
class _Batch:
    """What this dispatch claimed and has not settled yet; `started`: handed to a sender."""

    open: dict[int, bool]
    claimed_at: float  # time.monotonic() of its first claim
    more: bool = False  # the last claim was full: the outbox may have more now

    def add(self, claimed: Sequence[store.ClaimedNotification]) -> None:
        self.open.update((c.id, False) for c in claimed)

    def start(self, notification_id: int) -> None:
        self.open[notification_id] = True

    def settle(self, notification_id: int) -> None:
        self.open.pop(notification_id, None)

    def unstarted(self) -> list[int]:
        return [i for i, started in self.open.items() if not started]

    def started(self) -> list[int]:
        return [i for i, started in self.open.items() if started]


def dispatch_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of Dispatcher that come from other sections: [sms] (quiet hours,
    text policy), [source] poll_interval (how long one batch may go on claiming)."""
    return {
        "quiet_hours": QuietHours.parse(settings.sms.quiet_hours, settings.sms.quiet_hours_key),
        "sms_policy": SmsPolicy(settings.sms.transliterate, settings.sms.max_segments),
        "refill_for": settings.source.poll_interval,
    }


# The batch's connection commits asynchronously (see _open_batch_connection), and says so
# again before it goes back to the pool, whose next user must commit durably.
_ASYNC_COMMIT = sa.text("SET synchronous_commit = off")
_DURABLE_COMMIT = sa.text("RESET synchronous_commit")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Dispatcher:
    def __init__(
        self,
        settings: DeliverySettings,
        obvo: sa.Engine,
        senders: Mapping[str, Sender],
        worker_id: str,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        heartbeat: Callable[[], None] = lambda: None,
        claims_valid: Callable[[], bool] = lambda: True,
        in_flight: InFlight | None = None,
        quiet_hours: QuietHours | None = None,
        sms_policy: SmsPolicy | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
        refill_for: float = DEFAULT_REFILL_FOR,
    ) -> None:
        self.settings = settings
        self.obvo = obvo
        self.senders = senders
        self.worker_id = worker_id
        self.should_stop = should_stop
        self.heartbeat = heartbeat
        # False once this worker's lock session is gone: what it claimed may be another's now.
        self.claims_valid = claims_valid
        self.quiet_hours = quiet_hours or QuietHours()
        self.sms_policy = sms_policy or SmsPolicy()
        self.clock = clock
        self.refill_for = min(refill_for, settings.claim_timeout / 4)
        self.pace = claims.SendPace()
        # Channel → the configuration error it meets (shown by `obvo status`), until it works.
        self.problems: dict[str, str] = {}
        self._rules = RulesCache()
        self._batch_conn: sa.Connection | None = None
        self._paused_until: dict[str, float] = {}
        # The sends in progress, for the shutdown grace period (ops/lifecycle.py).
        self.in_flight = in_flight
        self.pool: SendPool[str | None] = SendPool(settings.concurrency)
        self._accepted: list[_Accepted] = []
        self._flush_at = 0.0
        self._senders_open = False

    def ready_channels(self) -> list[str]:
        now = time.monotonic()
        return [c for c in self.senders if self._paused_until.get(c, 0.0) <= now]

    @property
    def problem(self) -> str | None:
        """One line for the worker's row: the configuration errors met, by channel."""
        if not self.problems:
            return None
        return "; ".join(f"{channel}: {text}" for channel, text in sorted(self.problems.items()))

    def claim_limit(self) -> int:
        paced = claims.claim_limit(self.pace.seconds_per_message, self.settings.batch_size)
        return min(paced, max(CLAIMS_PER_THREAD * self.settings.concurrency, MIN_CLAIM))

    def close(self) -> None:
        """The sending threads end after their current send (a reload or process exit)."""
        self.pool.close()

    def take_back(
        self, conn: sa.Connection, *, own: bool = True, in_flight: Sequence[int] = ()
    ) -> store.TakenBack:
        """Claims of dead or hung workers and, with `own`, this worker's own leftovers
        (anything it holds but `in_flight`), back to pending: run before every claim, so a
        killed process's messages wait one dispatch, not a heartbeat timeout. `own=False` for
        a sweep from another thread while a batch may be in progress."""
        taken = store.reclaim_dead_claims(
            conn,
            stale_after=self.settings.stale_worker_after,
            claim_timeout=self.settings.claim_timeout,
            max_attempts=self.settings.max_attempts,
            worker_id=self.worker_id if own else None,
            in_flight=in_flight,
        )
        if taken.pending or taken.failed:
            log.warning(
                "notifications.taken_back",
                count=len(taken.pending),
                ids=taken.pending[:20],
                failed_at_max_attempts=taken.failed[:20],
            )
        return taken

    def dispatch_once(self) -> DispatchResult:
        result = DispatchResult()
        channels = self.ready_channels()
        if not channels:
            return result
        limit = self.claim_limit()
        with self.obvo.begin() as conn:
            taken = self.take_back(conn)
            result.taken_back = len(taken.pending) + len(taken.failed)
            claimed = self._claim(conn, channels, limit)
        result.claimed = len(claimed)
        if not claimed:
            self._close_senders()  # the outbox is drained: QUIT what stays open
            return result
        batch = _Batch({c.id: False for c in claimed}, time.monotonic(), len(claimed) == limit)
        handed_over = 0
        try:
            to_send = self._to_send(claimed, batch, result)
            self._batch_conn = self._open_batch_connection()
            handed_over = self._send_all(to_send, batch, result)
        except Exception as exc:
            self._give_back(batch, exc)
            self._close_senders()
            raise
        finally:
            self._close_batch_connection()
        if handed_over:
            self.pace.record(handed_over, time.monotonic() - batch.claimed_at)
        return result

    def _claim(
        self, conn: sa.Connection, channels: list[str], limit: int
    ) -> list[store.ClaimedNotification]:
        if "sms" in channels:
            self._defer_quiet_sms(conn)
        return store.claim_due(conn, self.worker_id, limit, channels)

    def _to_send(
        self, claimed: list[store.ClaimedNotification], batch: _Batch, result: DispatchResult
    ) -> list[store.ClaimedNotification]:
        """The claimed notifications that go now; the others (deferred, or travelling in
        another's message) are settled already."""
        to_send = self._prepare_claimed(claimed, result)
        going = {t.id for t in to_send}
        for c in claimed:
            if c.id not in going:
                batch.settle(c.id)
        return to_send

    def _refill(self, batch: _Batch, result: DispatchResult) -> list[store.ClaimedNotification]:
        """The next claim of a batch whose threads are about to run out of work, while the
        outbox has more and the batch is young: topped up to the claim limit, so the worker
        never holds more than one claim's worth (waiting, in flight, or sent with the mark
        unwritten), as without refills; no take-back here (what this worker holds is the
        batch's own), the same quiet-hours deferral and coalescing as the first claim."""
        if not batch.more or time.monotonic() - batch.claimed_at >= self.refill_for:
            return []
        room = self.claim_limit() - len(batch.open)
        if room <= 0:
            return []
        channels = self.ready_channels()
        if not channels or self._reason_to_stop(batch) is not None:
            return []
        with self.obvo.begin() as conn:
            claimed = self._claim(conn, channels, room)
        batch.more = len(claimed) == room
        batch.add(claimed)
        result.claimed += len(claimed)
        return self._to_send(claimed, batch, result)

    def _close_senders(self) -> None:
        """Connections stay open from batch to batch while there is work, and are closed
        when a claim finds nothing (or a batch fails)."""
        if self._senders_open:
            self._senders_open = False
            for sender in self.senders.values():
                sender.close()

    # ---- sending, `concurrency` at a time ----

    def _send_all(
        self, to_send: list[store.ClaimedNotification], batch: _Batch, result: DispatchResult
    ) -> int:
        """Keep every sending thread busy with the claim, record each outcome as it comes
        back; returns how many were handed over."""
        waiting = deque(to_send)
        sending: dict[int, _Sending] = {}
        handed_over = 0
        last_beat = time.monotonic()
        while waiting or sending:
            if len(waiting) < self.pool.size:
                waiting.extend(self._refill(batch, result))
            ready = self.ready_channels()  # a channel rests only after an outcome, below
            while waiting and self.pool.free > 0:
                reason = self._reason_to_stop(batch)
                if reason is not None:
                    self._release([c.id for c in waiting], result, batch)
                    waiting.clear()
                    if reason != "stopping":
                        log.info("dispatch.batch_cut", reason=reason, released=result.released)
                    break
                item = waiting.popleft()
                if item.channel not in ready:
                    self._release([item.id], result, batch)
                    continue
                started = self._start(item, result, batch)
                if started is not None:
                    sending[item.id] = started
            if not sending:
                break
            for done in self._collect(result, batch):
                current = sending.pop(done.key, None)
                if current is None:
                    continue  # the late answer of a send a failed batch gave back
                handed_over += 1
                self._finish(current, done, result, batch)
            if self._accepted and (
                not sending
                or len(self._accepted) >= self.settings.concurrency
                or time.monotonic() >= self._flush_at
            ):
                self._flush_sent(result, batch)
            if time.monotonic() - last_beat > 5.0:
                self.heartbeat()
                last_beat = time.monotonic()
        self._flush_sent(result, batch)
        return handed_over

    def _start(
        self, item: store.ClaimedNotification, result: DispatchResult, batch: _Batch
    ) -> _Sending | None:
        started_at = dt.datetime.now(dt.UTC)
        if not item.recipient or item.body is None:
            bound = bound_logger(item)
            self._settle_failed(item, "no recipient or text to send", result, bound, started_at)
            batch.settle(item.id)
            return None
        message = OutgoingMessage(
            notification_id=item.id,
            recipient=item.recipient,
            subject=item.subject,
            body=item.body,
            key_event=item.event_kind == "key",
            html=item.body_html,
            subscriber_id=item.subscriber_id,
            language=item.language,
        )
        batch.start(item.id)
        self._senders_open = True
        sending = _Sending(item, started_at, time.monotonic())
        self.pool.submit(item.id, functools.partial(self.senders[item.channel].send, message))
        return sending

    def _collect(self, result: DispatchResult, batch: _Batch) -> list[Done[str | None]]:
        """The sends that finished, waiting up to COLLECT_TIMEOUT for the first. Only here may
        the end of the shutdown grace period interrupt the dispatcher (GraceOver); what was
        accepted by then is recorded as sent before the exception goes on."""
        in_flight = self.in_flight
        if in_flight is None:
            return self.pool.collect(COLLECT_TIMEOUT)
        try:
            return self._wait_for_sends(in_flight)
        except GraceOver:
            self._flush_sent(result, batch)
            raise

    def _wait_for_sends(self, in_flight: InFlight) -> list[Done[str | None]]:
        if in_flight.expired:  # the grace period ended while this thread was writing
            in_flight.interrupted = in_flight.ids
            raise GraceOver(in_flight.interrupted)
        in_flight.waiting = True
        try:
            return self.pool.collect(COLLECT_TIMEOUT)
        finally:
            in_flight.waiting = False

    def _finish(
        self, sending: _Sending, done: Done[str | None], result: DispatchResult, batch: _Batch
    ) -> None:
        item, bound, error = sending.item, sending.bound, done.error
        if error is None:
            self.problems.pop(item.channel, None)
            if not self._accepted:
                self._flush_at = time.monotonic() + FLUSH_AFTER
            self._accepted.append(_Accepted(sending, done.value))
            return  # settled when its mark is written
        if isinstance(error, NotAttempted):
            self._release([item.id], result, batch)
            return
        if isinstance(error, Throttled):
            self._postpone_throttled(sending, error, result)
        elif isinstance(error, SendError):
            self._record_failure(item, error, result, bound, sending.started_at)
        else:
            failure = (
                outcomes.unexpected_failure(error)
                if isinstance(error, Exception)
                else TemporaryFailure(f"unexpected error while sending: {error!r}")
            )
            bound.error("sender.unexpected_error", error=str(failure), exc_info=error)
            # About this message, not the server: the channel does not rest for it.
            self._record_failure(item, failure, result, bound, sending.started_at, pause=False)
        batch.settle(item.id)

    def _flush_sent(self, result: DispatchResult, batch: _Batch) -> None:
        """The `sent` marks collected so far, in one statement (each with its attempt row).
        A row the database refuses (a trigger, a constraint) is written alone, so that only
        it fails; a lost connection ends the batch, and the batch gives the rest back."""
        accepted, self._accepted = self._accepted, []
        if not accepted:
            return
        marks = [
            store.SentMark(
                a.sending.item.id,
                a.sending.item.attempts,
                a.sending.started_at,
                outcomes.db_text(a.provider_id),
            )
            for a in accepted
        ]
        try:
            self._write_marks(marks)
        except sa.exc.SQLAlchemyError as exc:
            if db.is_connection_error(exc):
                raise
            for a in accepted:
                self._record(
                    a.sending.item,
                    result,
                    a.sending.bound,
                    functools.partial(
                        self._write_sent,
                        item=a.sending.item,
                        started_at=a.sending.started_at,
                        provider_id=a.provider_id,
                    ),
                    failed_text=f"sent (provider id {a.provider_id}), but the outcome could "
                    "not be recorded",
                )
                batch.settle(a.sending.item.id)
            return
        now = time.monotonic()
        for a in accepted:
            batch.settle(a.sending.item.id)
            result.sent += 1
            a.sending.bound.info(
                "notification.sent",
                provider_id=a.provider_id,
                seconds=round(now - a.sending.started, 3),
            )

    def _write_marks(self, marks: list[store.SentMark]) -> None:
        """The marks on the batch's connection; when it is lost, again on a fresh one, a few
        times over about two seconds. The providers have taken these messages: a mark not
        written sends them again, and a failover or a restarted server answers again within
        that time (a longer outage still ends the batch, and they go again: at least once).
        Writing the same marks twice changes nothing (mark_sent_many is idempotent)."""
        for delay in (*MARK_RETRY_DELAYS, None):
            try:
                with self._outcome_connection() as conn:
                    store.mark_sent_many(conn, self.worker_id, marks)
            except sa.exc.SQLAlchemyError as exc:
                if delay is None or not db.is_connection_error(exc):
                    raise
                log.warning(
                    "dispatch.sent_marks_retried",
                    marks=len(marks),
                    error=outcomes.first_line(exc),
                    retry_in=delay,
                )
            else:
                return
            time.sleep(delay)
            self._renew_batch_connection()

    def _renew_batch_connection(self) -> None:
        """A fresh connection for the rest of the batch (SQLAlchemy has invalidated the pool
        after the disconnect, so this one is new); none when the database does not answer,
        and then each outcome opens its own."""
        self._close_batch_connection()
        with suppress(sa.exc.SQLAlchemyError):
            self._batch_conn = self._open_batch_connection()

    def _postpone_throttled(
        self, sending: _Sending, exc: Throttled, result: DispatchResult
    ) -> None:
        """The provider asked us to slow down: the message was not taken, so it is no
        attempt; it goes again after Retry-After (the Pacer slows the channel meanwhile)."""
        item, bound = sending.item, sending.bound
        delay = DEFAULT_PAUSE if exc.retry_after is None else exc.retry_after
        error = outcomes.db_text(str(exc)) or "throttled"

        def write(conn: sa.Connection) -> None:
            store.postpone_uncounted(
                conn, self._attempt(item, sending.started_at), delay, error, error
            )

        if self._record(item, result, bound, write, failed_text="not sent"):
            result.retried += 1
            bound.warning("notification.throttled", error=error, retry_in=round(delay, 1))

    def _reason_to_stop(self, batch: _Batch) -> str | None:
        if self.should_stop():
            return "stopping"
        if not self.claims_valid():
            return "worker session lost; its claims may be another worker's now"
        if claims.claim_too_old(time.monotonic() - batch.claimed_at, self.settings.claim_timeout):
            return "claims older than half of [delivery] claim_timeout"
        return None

    def _give_back(self, batch: _Batch, exc: Exception) -> None:
        """Best effort on the way out of a failed batch; when the database cannot take it,
        this worker's next dispatch takes its leftovers back."""
        if not batch.open:
            return
        cause = outcomes.first_line(exc)
        error = f"the batch ended with an error before the outcome was recorded: {cause}"
        try:
            with self.obvo.begin() as conn:
                store.release_claims(conn, self.worker_id, batch.unstarted())
                store.abandon_claims(conn, self.worker_id, batch.started(), error)
        except sa.exc.SQLAlchemyError as again:
            log.warning(
                "dispatch.give_back_failed",
                claims=len(batch.open),
                error=outcomes.first_line(again),
                then="taken back by this worker's next dispatch",
            )
        else:
            log.warning("dispatch.batch_failed", given_back=len(batch.open), error=cause)

    def _open_batch_connection(self) -> sa.Connection:
        """The connection the batch's outcomes are written on: in autocommit, because every
        outcome is one statement (its row and its attempt row together, atomic by itself),
        so each costs one round trip instead of BEGIN, statement, COMMIT. Commits are
        asynchronous (synchronous_commit off): a crash of the database server, not of this
        process, could forget the last fraction of a second of outcomes, and those messages
        would be sent again: the at-least-once duplicate we accept anyway, for 5-10x fewer
        waits on the disk per message."""
        conn = self.obvo.connect()
        try:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(_ASYNC_COMMIT)
        except BaseException:
            conn.close()
            raise
        return conn

    def _close_batch_connection(self) -> None:
        """Back to the pool committing durably again; a connection that cannot say so is
        discarded instead."""
        conn, self._batch_conn = self._batch_conn, None
        if conn is None:
            return
        try:
            conn.execute(_DURABLE_COMMIT)
        except sa.exc.SQLAlchemyError:
            with suppress(sa.exc.SQLAlchemyError):
                conn.invalidate()
        with suppress(sa.exc.SQLAlchemyError):
            conn.close()

    @contextmanager
    def _outcome_connection(self) -> Iterator[sa.Connection]:
        """Where one outcome (one statement) is written: the batch's connection, or, without
        one (before or after the batch, or after it was lost), a short transaction."""
        conn = self._batch_conn
        if conn is None:
            with self.obvo.begin() as fresh:
                yield fresh
            return
        yield conn

    # ---- quiet hours and coalescing, between the claim and the sending ----

    def _defer_quiet_sms(self, conn: sa.Connection) -> None:
        """Due SMS in quiet hours get next_attempt_at = the end of the window, so they are not
        claimed (and not counted as attempts) until then."""
        if not self.quiet_hours.enabled:
            return
        now = self.clock()
        for kinds, key_event in ((["notify"], False), (["key"], True)):
            until = self.quiet_hours.sms_allowed_at(now, key_event=key_event)
            if until > now:
                conn.execute(q("defer_quiet_sms"), {"until": until, "kinds": kinds})

    def _prepare_claimed(
        self, claimed: list[store.ClaimedNotification], result: DispatchResult
    ) -> list[store.ClaimedNotification]:
        claimed = self._defer_claimed_in_quiet_hours(claimed, result)
        window = self.settings.coalesce_window
        if window <= 0 or not claimed:
            return claimed
        with self.obvo.begin() as conn:
            outcome = coalesce_claimed(
                conn,
                self.worker_id,
                claimed,
                window=dt.timedelta(seconds=window),
                rules=self._rules,
                sms_policy=self.sms_policy,
            )
        result.coalesced += len(outcome.absorbed) + outcome.companions
        return outcome.to_send

    def _defer_claimed_in_quiet_hours(
        self, claimed: Sequence[store.ClaimedNotification], result: DispatchResult
    ) -> list[store.ClaimedNotification]:
        """The last guard: an SMS claimed although quiet hours began (or it became due between
        the deferral and the claim) goes back unsent."""
        if not self.quiet_hours.enabled:
            return list(claimed)
        now = self.clock()
        keep: list[store.ClaimedNotification] = []
        back: dict[dt.datetime, list[int]] = {}
        for item in claimed:
            if item.channel == "sms":
                until = self.quiet_hours.sms_allowed_at(now, key_event=item.event_kind == "key")
                if until > now:
                    back.setdefault(until, []).append(item.id)
                    continue
            keep.append(item)
        if back:
            with self._outcome_connection() as conn:
                for until, ids in back.items():
                    conn.execute(
                        q("defer_claimed"),
                        {"worker_id": self.worker_id, "ids": ids, "until": until},
                    )
            result.deferred += sum(len(ids) for ids in back.values())
            log.info(
                "sms.quiet_hours",
                deferred=sum(len(ids) for ids in back.values()),
                until=min(back).isoformat(),
            )
        return keep

    def _release(self, ids: list[int], result: DispatchResult, batch: _Batch) -> None:
        if not ids:
            return
        with self._outcome_connection() as conn:
            store.release_claims(conn, self.worker_id, ids)
        for i in ids:
            batch.settle(i)
        result.released += len(ids)

    def _write_sent(
        self,
        conn: sa.Connection,
        *,
        item: store.ClaimedNotification,
        started_at: dt.datetime,
        provider_id: str | None,
    ) -> None:
        store.mark_sent(conn, self._attempt(item, started_at), outcomes.db_text(provider_id))

    def _attempt(self, item: store.ClaimedNotification, started_at: dt.datetime) -> store.Attempt:
        return store.Attempt(item.id, item.attempts, self.worker_id, started_at)

    def _record(
        self,
        item: store.ClaimedNotification,
        result: DispatchResult,
        bound: structlog.typing.FilteringBoundLogger,
        write: Callable[[sa.Connection], None],
        *,
        failed_text: str,
    ) -> bool:
        """Write one outcome (`write` runs one statement). A lost connection ends the batch
        (raised); any other database error (integrity, data: a trigger, a constraint, a text
        PostgreSQL refuses) fails this one row instead, so that it is not sent again and the
        loop goes on."""
        try:
            with self._outcome_connection() as conn:
                write(conn)
        except sa.exc.SQLAlchemyError as exc:
            if db.is_connection_error(exc):
                raise
            error = f"{failed_text}: {outcomes.first_line(exc)}"
            bound.error("notification.outcome_not_recorded", error=error)
            with self._outcome_connection() as conn:
                store.mark_failed(conn, item.id, self.worker_id, error)
            result.failed += 1
            return False
        return True

    def _settle_failed(
        self,
        item: store.ClaimedNotification,
        error: str,
        result: DispatchResult,
        bound: structlog.typing.FilteringBoundLogger,
        started_at: dt.datetime,
    ) -> None:
        error = outcomes.db_text(error) or ""

        def write(conn: sa.Connection) -> None:
            store.fail_attempt(conn, self._attempt(item, started_at), error)

        if self._record(item, result, bound, write, failed_text="failed"):
            result.failed += 1
            bound.error("notification.failed", error=error, max_attempts=self.settings.max_attempts)

    def _record_failure(
        self,
        item: store.ClaimedNotification,
        exc: SendError,
        result: DispatchResult,
        bound: structlog.typing.FilteringBoundLogger,
        started_at: dt.datetime,
        *,
        pause: bool = True,
    ) -> None:
        error = outcomes.db_text(str(exc)) or type(exc).__name__
        if exc.configuration:
            self._postpone_for_configuration(item, error, result, bound, started_at)
            return
        if exc.permanent or item.attempts >= self.settings.max_attempts:
            self._settle_failed(item, error, result, bound, started_at)
            return
        delay = retry_delay(
            item.attempts, self.settings.retry_initial_delay, self.settings.retry_max_delay
        )

        def write(conn: sa.Connection) -> None:
            store.schedule_retry(conn, self._attempt(item, started_at), delay, error)

        if not self._record(item, result, bound, write, failed_text="not sent"):
            return
        result.retried += 1
        # The server is probably down for everyone: rest the channel rather than time out on
        # every message of the batch.
        if pause:
            self._paused_until[item.channel] = time.monotonic() + min(delay, MAX_CHANNEL_PAUSE)
        bound.warning("notification.retry", error=error, retry_in=round(delay, 1))

    def _postpone_for_configuration(
        self,
        item: store.ClaimedNotification,
        error: str,
        result: DispatchResult,
        bound: structlog.typing.FilteringBoundLogger,
        started_at: dt.datetime,
    ) -> None:
        """OBVO's own set-up was refused: the channel rests, the message waits without losing
        an attempt, and the problem stays in the log and `obvo status` until a send works."""
        pause = min(
            retry_delay(
                len(self.problems) + 1,
                self.settings.retry_initial_delay,
                self.settings.retry_max_delay,
            ),
            MAX_CHANNEL_PAUSE,
        )

        def write(conn: sa.Connection) -> None:
            store.postpone_uncounted(
                conn, self._attempt(item, started_at), pause, error, f"configuration: {error}"
            )

        if not self._record(item, result, bound, write, failed_text="not sent"):
            return
        result.retried += 1
        self._paused_until[item.channel] = time.monotonic() + pause
        if self.problems.get(item.channel) != error:
            self.problems[item.channel] = error
        bound.error(
            "channel.configuration_error",
            error=error,
            retry_in=round(pause, 1),
            hint="OBVO's own settings are refused; no citizen's message fails for it",
        )
