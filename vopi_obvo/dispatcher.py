"""The dispatcher: claim due notifications, send them, record the outcome of each."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
import structlog

from vopi_obvo import store
from vopi_obvo.backoff import retry_delay
from vopi_obvo.config import DeliverySettings
from vopi_obvo.contacts import mask_recipient
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
    ) -> None:
        self.settings = settings
        self.obvo = obvo
        self.senders = senders
        self.worker_id = worker_id
        self.should_stop = should_stop
        self.heartbeat = heartbeat
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
            claimed = store.claim_due(conn, self.worker_id, self.settings.batch_size, channels)
        result.claimed = len(claimed)
        last_beat = time.monotonic()
        try:
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
            for sender in self.senders.values():
                sender.close()
        return result

    def _release(self, ids: list[int], result: DispatchResult) -> None:
        if not ids:
            return
        with self.obvo.begin() as conn:
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
            with self.obvo.begin() as conn:
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
        )
        started = time.monotonic()
        started_at = dt.datetime.now(dt.UTC)
        try:
            provider_id = self.senders[item.channel].send(message)
        except SendError as exc:
            self._record_failure(item, exc, result, bound, started_at)
            return
        with self.obvo.begin() as conn:
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
            with self.obvo.begin() as conn:
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
        with self.obvo.begin() as conn:
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
