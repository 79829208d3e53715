"""The dispatcher: claim due notifications, send them, record the outcome of each."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog

from vopi_obvo import store
from vopi_obvo.config import DeliverySettings, Settings
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
        self.quiet_hours = quiet_hours or QuietHours()
        self.sms_policy = sms_policy or SmsPolicy()
        self.clock = clock
        self._rules = RulesCache()
        self._batch_conn: sa.Connection | None = None
        self._paused_until: dict[str, float] = {}

    def ready_channels(self) -> list[str]:
        now = time.monotonic()
        return [c for c in self.senders if self._paused_until.get(c, 0.0) <= now]

    def dispatch_once(self) -> DispatchResult:
        result = DispatchResult()
        channels = self.ready_channels()
        if not channels:
            return result
        with self.obvo.begin() as conn:
            if "sms" in channels:
                self._defer_quiet_sms(conn)
            claimed = store.claim_due(conn, self.worker_id, self.settings.batch_size, channels)
        result.claimed = len(claimed)
        claimed = self._prepare_claimed(claimed, result)
        last_beat = time.monotonic()
        try:
            self._batch_conn = self.obvo.connect() if claimed else None
            for index, item in enumerate(claimed):
                if self.should_stop():
                    self._release([c.id for c in claimed[index:]], result)
                    break
                if item.channel not in self.ready_channels():
                    self._release([item.id], result)
                    continue
                self._deliver(item, result)
                if time.monotonic() - last_beat > 5.0:
                    self.heartbeat()
                    last_beat = time.monotonic()
        finally:
            if self._batch_conn is not None:
                self._batch_conn.close()
                self._batch_conn = None
            for sender in self.senders.values():
                sender.close()
        return result

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

    def _release(self, ids: list[int], result: DispatchResult) -> None:
        if not ids:
            return
        with self._outcome_transaction() as conn:
            store.release_claims(conn, self.worker_id, ids)
        result.released += len(ids)

    def _deliver(self, item: store.ClaimedNotification, result: DispatchResult) -> None:
        bound = log.bind(
            notification_id=item.id,
            channel=item.channel,
            event_id=item.source_event_id,
            attempt=item.attempts,
            to=mask_recipient(item.recipient),
        )
        if not item.recipient or item.body is None:
            with self._outcome_transaction() as conn:
                store.mark_failed(conn, item.id, self.worker_id, "no recipient or text to send")
            result.failed += 1
            bound.error("notification.failed", error="no recipient or text to send")
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
        started_at = dt.datetime.now(dt.UTC)
        try:
            provider_id = self.senders[item.channel].send(message)
        except SendError as exc:
            self._record_failure(item, exc, result, bound, started_at)
            return
        with self._outcome_transaction() as conn:
            store.mark_sent(conn, item.id, provider_id)
            store.record_attempt(
                conn,
                item,
                worker_id=self.worker_id,
                started_at=started_at,
                outcome="sent",
                provider_id=provider_id,
            )
        result.sent += 1
        bound.info(
            "notification.sent",
            provider_id=provider_id,
            seconds=round(time.monotonic() - started, 3),
        )

    def _record_failure(
        self,
        item: store.ClaimedNotification,
        exc: SendError,
        result: DispatchResult,
        bound: structlog.typing.FilteringBoundLogger,
        started_at: dt.datetime,
    ) -> None:
        error = str(exc)
        if exc.permanent or item.attempts >= self.settings.max_attempts:
            with self._outcome_transaction() as conn:
                store.mark_failed(conn, item.id, self.worker_id, error)
                store.record_attempt(
                    conn,
                    item,
                    worker_id=self.worker_id,
                    started_at=started_at,
                    outcome="failed",
                    error=error,
                )
            result.failed += 1
            bound.error(
                "notification.failed",
                error=error,
                permanent=exc.permanent,
                max_attempts=self.settings.max_attempts,
            )
            return
        delay = retry_delay(
            item.attempts, self.settings.retry_initial_delay, self.settings.retry_max_delay
        )
        with self._outcome_transaction() as conn:
            store.schedule_retry(conn, item.id, self.worker_id, delay, error)
            store.record_attempt(
                conn,
                item,
                worker_id=self.worker_id,
                started_at=started_at,
                outcome="retry",
                error=error,
            )
        result.retried += 1
        # The server is probably down for everyone: rest the channel rather than time out on
        # every message of the batch.
        self._paused_until[item.channel] = time.monotonic() + min(delay, MAX_CHANNEL_PAUSE)
        bound.warning("notification.retry", error=error, retry_in=round(delay, 1))
