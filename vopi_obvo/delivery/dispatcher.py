"""The dispatcher: claim due notifications, send them, record the outcome of each.

Every path out of a batch settles or gives back what it claimed: an outcome per message sent
or tried; unsent claims released (their attempt not counted) on a stop, a lost worker session
or an old claim; and on an error between claim and outcome (the database went away) the rest
given back, best effort, or else taken back by this worker's next dispatch
(`reclaim_dead_claims` with its own id). One message never stops the loop: any exception from a
sender becomes that message's attempt (delivery/outcomes.py), and a database error about one
row (integrity, data) fails that row only.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog

from vopi_obvo import db, store
from vopi_obvo.config import DeliverySettings, Settings
from vopi_obvo.delivery import claims, outcomes
from vopi_obvo.delivery.backoff import retry_delay
from vopi_obvo.delivery.coalesce_store import RulesCache, coalesce_claimed
from vopi_obvo.messages.contacts import mask_recipient
from vopi_obvo.messages.quiet_hours import QuietHours
from vopi_obvo.messages.sms_text import SmsPolicy
from vopi_obvo.queries import q
from vopi_obvo.senders import OutgoingMessage, Sender, SendError

log = structlog.get_logger("vopi_obvo.dispatcher")

# After a temporary failure a channel rests this long at most before the next claim.
MAX_CHANNEL_PAUSE = 60.0


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
    claimed_at: float  # time.monotonic()

    def start(self, notification_id: int) -> None:
        self.open[notification_id] = True

    def settle(self, notification_id: int) -> None:
        self.open.pop(notification_id, None)

    def unstarted(self) -> list[int]:
        return [i for i, started in self.open.items() if not started]

    def started(self) -> list[int]:
        return [i for i, started in self.open.items() if started]


def dispatch_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of Dispatcher that come from [sms] (quiet hours, text policy)."""
    return {
        "quiet_hours": QuietHours.parse(settings.sms.quiet_hours, settings.sms.quiet_hours_key),
        "sms_policy": SmsPolicy(settings.sms.transliterate, settings.sms.max_segments),
    }


_ASYNC_COMMIT = sa.text("SET LOCAL synchronous_commit = off")


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
        quiet_hours: QuietHours | None = None,
        sms_policy: SmsPolicy | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
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
        self.pace = claims.SendPace()
        # Channel → the configuration error it meets (shown by `obvo status`), until it works.
        self.problems: dict[str, str] = {}
        self._rules = RulesCache()
        self._batch_conn: sa.Connection | None = None
        self._paused_until: dict[str, float] = {}

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
        return claims.claim_limit(self.pace.seconds_per_message, self.settings.batch_size)

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
        with self.obvo.begin() as conn:
            taken = self.take_back(conn)
            result.taken_back = len(taken.pending) + len(taken.failed)
            if "sms" in channels:
                self._defer_quiet_sms(conn)
            claimed = store.claim_due(conn, self.worker_id, self.claim_limit(), channels)
        result.claimed = len(claimed)
        if not claimed:
            return result
        batch = _Batch({c.id: False for c in claimed}, time.monotonic())
        last_beat = time.monotonic()
        handed_over = 0
        try:
            to_send = self._prepare_claimed(claimed, result)
            for c in claimed:
                if c.id not in {t.id for t in to_send}:
                    batch.settle(c.id)  # deferred, or travelling in another's message
            self._batch_conn = self.obvo.connect()
            for index, item in enumerate(to_send):
                reason = self._reason_to_stop(batch)
                if reason is not None:
                    self._release([c.id for c in to_send[index:]], result, batch)
                    if reason != "stopping":
                        log.info("dispatch.batch_cut", reason=reason, released=result.released)
                    break
                if item.channel not in self.ready_channels():
                    self._release([item.id], result, batch)
                    continue
                batch.start(item.id)
                self._deliver(item, result)
                batch.settle(item.id)
                handed_over += 1
                if time.monotonic() - last_beat > 5.0:
                    self.heartbeat()
                    last_beat = time.monotonic()
        except Exception as exc:
            self._give_back(batch, exc)
            raise
        finally:
            if self._batch_conn is not None:
                self._batch_conn.close()
                self._batch_conn = None
            for sender in self.senders.values():
                sender.close()
        if handed_over:
            self.pace.record(handed_over, time.monotonic() - batch.claimed_at)
        return result

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

    @contextmanager
    def _outcome_transaction(self) -> Iterator[sa.Connection]:
        """A short transaction recording one message's outcome, on the connection held for the
        batch. Commits are asynchronous (synchronous_commit off): a crash of the database
        server, not of this process, could forget the last fraction of a second of outcomes,
        and those messages would be sent again: the at-least-once duplicate we accept anyway,
        for 5-10x fewer waits on the disk per message."""
        conn = self._batch_conn
        if conn is None:
            with self.obvo.begin() as fresh:
                yield fresh
            return
        with conn.begin():
            conn.execute(_ASYNC_COMMIT)
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
            with self._outcome_transaction() as conn:
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
        with self._outcome_transaction() as conn:
            store.release_claims(conn, self.worker_id, ids)
        for i in ids:
            batch.settle(i)
        result.released += len(ids)

    def _deliver(self, item: store.ClaimedNotification, result: DispatchResult) -> None:
        bound = log.bind(
            notification_id=item.id,
            channel=item.channel,
            event_id=item.source_event_id,
            attempt=item.attempts,
            to=mask_recipient(item.recipient),
        )
        started_at = dt.datetime.now(dt.UTC)
        if not item.recipient or item.body is None:
            self._settle_failed(item, "no recipient or text to send", result, bound, started_at)
            return
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
        started = time.monotonic()
        try:
            provider_id = self.senders[item.channel].send(message)
        except SendError as exc:
            self._record_failure(item, exc, result, bound, started_at)
            return
        except Exception as exc:  # noqa: BLE001 - one message must never stop the daemon
            failure = outcomes.unexpected_failure(exc)
            bound.error("sender.unexpected_error", error=str(failure), exc_info=exc)
            # About this message, not the server: the channel does not rest for it.
            self._record_failure(item, failure, result, bound, started_at, pause=False)
            return
        self.problems.pop(item.channel, None)
        self._record(
            item,
            result,
            bound,
            lambda conn: self._write_sent(conn, item, started_at, provider_id),
            failed_text=f"sent (provider id {provider_id}), but the outcome could not be recorded",
        )
        result.sent += 1
        bound.info(
            "notification.sent",
            provider_id=provider_id,
            seconds=round(time.monotonic() - started, 3),
        )

    def _write_sent(
        self,
        conn: sa.Connection,
        item: store.ClaimedNotification,
        started_at: dt.datetime,
        provider_id: str | None,
    ) -> None:
        provider_id = outcomes.db_text(provider_id)
        store.mark_sent(conn, item.id, provider_id)
        self._attempt(conn, item, started_at, outcome="sent", provider_id=provider_id)

    def _attempt(
        self,
        conn: sa.Connection,
        item: store.ClaimedNotification,
        started_at: dt.datetime,
        *,
        outcome: str,
        error: str | None = None,
        provider_id: str | None = None,
    ) -> None:
        store.record_attempt(
            conn,
            item,
            worker_id=self.worker_id,
            started_at=started_at,
            outcome=outcome,
            error=error,
            provider_id=provider_id,
        )

    def _record(
        self,
        item: store.ClaimedNotification,
        result: DispatchResult,
        bound: structlog.typing.FilteringBoundLogger,
        write: Callable[[sa.Connection], None],
        *,
        failed_text: str,
    ) -> bool:
        """Write one outcome. A lost connection ends the batch (raised); any other database
        error (integrity, data: a trigger, a constraint, a text PostgreSQL refuses) fails this
        one row instead, so that it is not sent again and the loop goes on."""
        try:
            with self._outcome_transaction() as conn:
                write(conn)
        except sa.exc.SQLAlchemyError as exc:
            if db.is_connection_error(exc):
                raise
            error = f"{failed_text}: {outcomes.first_line(exc)}"
            bound.error("notification.outcome_not_recorded", error=error)
            with self._outcome_transaction() as conn:
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
            store.mark_failed(conn, item.id, self.worker_id, error)
            self._attempt(conn, item, started_at, outcome="failed", error=error)

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
            store.schedule_retry(conn, item.id, self.worker_id, delay, error)
            self._attempt(conn, item, started_at, outcome="retry", error=error)

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
            store.postpone_uncounted(conn, item.id, self.worker_id, pause, error)
            self._attempt(conn, item, started_at, outcome="retry", error=f"configuration: {error}")

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
