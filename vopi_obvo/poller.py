"""The poller: VOPI's new events → notification rows, with the cursor and holes, atomically."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
import structlog

from vopi_obvo import store
from vopi_obvo.config import Settings
from vopi_obvo.delivery import storm_store
from vopi_obvo.errors import TemplateError
from vopi_obvo.messages import storm
from vopi_obvo.messages.event_values import dump_values
from vopi_obvo.messages.sms_text import SmsPolicy, prepare_sms
from vopi_obvo.rule_validation import invalid_rules, rule_changes
from vopi_obvo.rules import EventKind, RuleSet, recipients, render_message
from vopi_obvo.source.holes import Hole, can_give_up, new_holes
from vopi_obvo.source.vopi import SOURCE_NAME, VopiEvent, VopiSource
from vopi_obvo.subscriber_cases import case_limits, covers

log = structlog.get_logger("vopi_obvo.poller")

# A gap this large is a sequence jump (setval, a restore), not transactions racing.
MAX_TRACKED_GAP = 10_000


@dataclass(frozen=True)
class PollResult:
    events_read: int
    notifications: int
    holes_pending: int
    holes_filled: int
    holes_given_up: int
    cursor: int
    batch_full: bool


class Poller:
    def __init__(self, settings: Settings, obvo: sa.Engine, source: VopiSource) -> None:
        self.settings = settings
        self.obvo = obvo
        self.source = source
        self._rules = RuleSet({})
        self._rules_fingerprint: str | None = None
        self._warned_no_evidence = False
        self._sms_policy = SmsPolicy(settings.sms.transliterate, settings.sms.max_segments)
        self._limits = storm.Limits(
            settings.delivery.storm_threshold, settings.delivery.max_per_subscriber_per_hour
        )
        self._last_prune = 0.0

    @property
    def rules(self) -> RuleSet:
        return self._rules

    def initial_cursor(self) -> int:
        """Where a first start begins; later starts continue from the stored cursor."""
        start = self.settings.source.start
        if start == "latest":
            newest = self.source.newest_event()
            return newest[0] if newest else 0
        if start == "earliest":
            # Not "oldest visible - 1": an older id may belong to a transaction still open.
            oldest = self.source.oldest_event_id()
            return 0 if oldest is None or oldest - 1 <= MAX_TRACKED_GAP else oldest - 1
        return int(start) - 1

    def ensure_cursor(self) -> int:
        with self.obvo.begin() as conn:
            cursor = store.get_cursor(conn, SOURCE_NAME)
        if cursor is not None:
            return cursor
        first = self.initial_cursor()
        with self.obvo.begin() as conn:
            store.init_cursor(conn, SOURCE_NAME, first)
            cursor = store.get_cursor(conn, SOURCE_NAME)
        log.info("cursor.initialised", start=self.settings.source.start, cursor=cursor)
        assert cursor is not None  # noqa: S101 - inserted just above
        return cursor

    def refresh_rules(self, conn: sa.Connection) -> None:
        fingerprint = store.rules_fingerprint(conn)
        if fingerprint != self._rules_fingerprint:
            old, self._rules = self._rules, store.load_rules(conn)
            if self._rules_fingerprint is not None:
                log.info(
                    "rules.reloaded",
                    event_types=len(self._rules.rules),
                    changes=rule_changes(old, self._rules),
                )
            # Rows edited by hand in SQL are checked like a rules file; a broken one fails
            # only its own notifications, with the reason (see _match).
            for code, problems in invalid_rules(self._rules).items():
                log.error(
                    "rules.invalid_row",
                    event_type=code,
                    problems=problems,
                    consequence="its notifications fail with the reason; after fixing the "
                    "row, `obvo notifications retry --failed` sends them",
                )
            self._rules_fingerprint = fingerprint

    def poll_once(self) -> PollResult:
        # One connection for everything an idle poll needs from OBVO: round trips are what an
        # idle poll costs (see bench/README.md).
        with self.obvo.connect() as conn:
            stored_cursor = store.get_cursor(conn, SOURCE_NAME)
            holes = store.list_holes(conn, SOURCE_NAME)
            self.refresh_rules(conn)
        cursor = stored_cursor if stored_cursor is not None else self.ensure_cursor()
        batch_size = self.settings.source.batch_size
        batch = self.source.read_batch(cursor, batch_size, [h.event_id for h in holes])

        missing, skipped = new_holes(cursor, (e.event_id for e in batch.events), MAX_TRACKED_GAP)
        if skipped:
            log.warning("poll.gap_skipped", after=cursor, ids_skipped=skipped)
        fresh_holes = [Hole(i, batch.vopi_now, batch.vopi_xmax) for i in missing]

        filled_ids = {e.event_id for e in batch.filled_holes}
        waiting = [h for h in holes if h.event_id not in filled_ids]
        late, given_up = self._settle_old_holes(waiting)
        late_ids = {e.event_id for e in late}
        given_up_ids = [i for i in given_up if i not in late_ids]

        to_process = [*batch.events, *batch.filled_holes, *late]
        new_cursor = max((e.event_id for e in batch.events), default=cursor)
        notifications, unclassified = self._match(to_process)
        notifications = self._finish(notifications, to_process)

        settled = sorted(filled_ids | late_ids | set(given_up_ids))
        changed = notifications or fresh_holes or settled or unclassified or new_cursor != cursor
        guarded = storm_store.Guarded(notifications=[], held={}, new_storms=[], held_earlier={})
        first_seen: list[str] = []
        if changed:  # an idle poll writes nothing
            with self.obvo.begin() as conn:
                guarded = self._guard(conn, notifications, batch.vopi_now)
                store.insert_notifications(conn, guarded.notifications)
                store.add_holes(conn, SOURCE_NAME, fresh_holes)
                store.remove_holes(conn, SOURCE_NAME, settled)
                first_seen = store.note_unclassified(conn, unclassified)
                store.set_cursor(conn, SOURCE_NAME, new_cursor)

        storm_store.log_guarded(
            guarded, self._limits.storm_threshold, self._limits.per_subscriber_per_hour
        )
        for event_type in first_seen:
            log.warning(
                "event_type.unclassified",
                event_type=event_type,
                hint="add it to the rules (kind internal, notify or key) to decide",
            )
        for event in [*batch.filled_holes, *late]:
            log.info("hole.filled", event_id=event.event_id)
        for event_id in given_up_ids:
            log.info("hole.given_up", event_id=event_id)
        pending = len(waiting) - len(late_ids) - len(given_up_ids) + len(fresh_holes)
        result = PollResult(
            events_read=len(to_process),
            notifications=len(notifications),
            holes_pending=pending,
            holes_filled=len(filled_ids) + len(late_ids),
            holes_given_up=len(given_up_ids),
            cursor=new_cursor,
            batch_full=len(batch.events) >= batch_size,
        )
        if to_process or fresh_holes or given_up_ids:
            log.info(
                "poll.batch",
                events=result.events_read,
                notifications=result.notifications,
                cursor=new_cursor,
                holes_new=len(fresh_holes),
                holes_pending=pending,
            )
        return result

    def _finish(
        self, notifications: Sequence[store.NewNotification], events: Sequence[VopiEvent]
    ) -> list[store.NewNotification]:
        """The SMS text policy (transliteration, at most max_segments parts, encoding and
        segments stored as billed) and, with coalescing on, the wait and the event's values."""
        window = self.settings.delivery.coalesce_window
        values = {e.event_id: e.values for e in events} if window > 0 else {}
        dumped: dict[int, str] = {}
        result: list[store.NewNotification] = []
        for n in notifications:
            changes: dict[str, object] = {}
            if n.channel == "sms" and n.body is not None:
                sms = prepare_sms(n.body, self._sms_policy)
                changes.update(
                    body=sms.text, sms_encoding=str(sms.encoding), sms_segments=sms.segments
                )
                if sms.shortened:
                    log.debug(
                        "sms.shortened",
                        event_id=n.source_event_id,
                        segments=sms.original_segments,
                        max_segments=self._sms_policy.max_segments,
                    )
            if window > 0 and n.status == "pending":
                event_id = n.source_event_id
                if event_id not in dumped:
                    dumped[event_id] = dump_values(values.get(event_id, {}))
                changes.update(delay=window, event_values=dumped[event_id])
            result.append(dataclasses.replace(n, **changes) if changes else n)  # type: ignore[arg-type]
        return result

    def _guard(
        self,
        conn: sa.Connection,
        notifications: Sequence[store.NewNotification],
        vopi_now: dt.datetime,
    ) -> storm_store.Guarded:
        """The storm guard and the per-subscriber limit, in the batch's transaction."""
        guarded = storm_store.apply_guard(
            conn, self.settings.database.schema, notifications, self._limits, vopi_now
        )
        if time.monotonic() - self._last_prune > storm_store.PRUNE_EVERY.total_seconds():
            storm_store.prune_counts(conn)
            self._last_prune = time.monotonic()
        return guarded

    def _settle_old_holes(self, waiting: Sequence[Hole]) -> tuple[list[VopiEvent], list[int]]:
        """Holes that can no longer be filled, on evidence; one fresh look before giving up."""
        if not waiting:
            return [], []
        evidence = self.source.hole_evidence()
        if not evidence.can_see_all_sessions and not self._warned_no_evidence:
            self._warned_no_evidence = True
            log.warning(
                "holes.no_evidence",
                reason=self.source.evidence_limit(),
                rule=f"holes are given up after hole_max_age={self.settings.source.hole_max_age}s",
            )
        max_age = dt.timedelta(seconds=self.settings.source.hole_max_age)
        candidates = [h.event_id for h in waiting if can_give_up(h, evidence, max_age)]
        if not candidates:
            return [], []
        late = self.source.events_by_id(candidates)
        return late, candidates

    def _match(
        self, events: Sequence[VopiEvent]
    ) -> tuple[list[store.NewNotification], dict[str, tuple[int, int]]]:
        unclassified: Counter[str] = Counter()
        last_unclassified: dict[str, int] = {}
        relevant: list[VopiEvent] = []
        for event in events:
            rule = self._rules.get(event.event_type)
            if rule is None:
                unclassified[event.event_type] += 1
                last_unclassified[event.event_type] = max(
                    event.event_id, last_unclassified.get(event.event_type, 0)
                )
            elif rule.kind is not EventKind.INTERNAL and event.case_id is not None:
                relevant.append(event)
        notes = {t: (n, last_unclassified[t]) for t, n in unclassified.items()}
        if not relevant:
            return [], notes

        parties = self.source.parties(e.case_id for e in relevant if e.case_id is not None)
        all_parties = set().union(*parties.values()) if parties else set()
        with self.obvo.connect() as conn:
            subscribers = store.subscribers_for_parties(conn, all_parties)
            limits = case_limits(conn, [s.id for s in subscribers])
        by_party = {s.party_id: s for s in subscribers}

        result: list[store.NewNotification] = []
        for event in relevant:
            rule = self._rules.get(event.event_type)
            assert rule is not None  # noqa: S101 - filtered above
            case_subscribers = [
                by_party[p]
                for p in sorted(parties.get(event.case_id or "", ()))
                if p in by_party and covers(limits, by_party[p].id, event.case_id)
            ]
            for recipient in recipients(rule.kind, case_subscribers):
                subject: str | None = None
                body: str | None = None
                body_html: str | None = None
                error: str | None = None
                try:
                    message = render_message(
                        rule, recipient.channel, recipient.subscriber, event.values
                    )
                    subject, body, body_html = message.subject, message.body, message.html
                except TemplateError as exc:
                    error = f"event type {rule.code}: {exc}"
                    log.error(
                        "notification.render_failed",
                        event_id=event.event_id,
                        event_type=rule.code,
                        channel=str(recipient.channel),
                        error=error,
                    )
                result.append(
                    store.NewNotification(
                        source_event_id=event.event_id,
                        subscriber_id=recipient.subscriber.id,
                        channel=str(recipient.channel),
                        event_type=event.event_type,
                        event_kind=str(rule.kind),
                        case_id=event.case_id,
                        occurred_at=event.occurred_at,
                        language=recipient.subscriber.language,
                        recipient=recipient.address,
                        subject=subject,
                        body=body,
                        body_html=body_html,
                        status="failed" if error else "pending",
                        last_error=error,
                    )
                )
        return result, notes
