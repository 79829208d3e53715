"""The poller: VOPI's new events → notification rows, with the cursor and holes, atomically.

`poll_once` is the recipe: read VOPI (new events and the hole ranges), keep track of the
holes, compose the messages (messages/compose.py: classification, rendering, the SMS text
policy, coalescing values), guard against storms (delivery/storm_store.py) and write the
outbox, the holes and the cursor in one OBVO transaction.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
import structlog

from vopi_obvo import store
from vopi_obvo.config import Settings
from vopi_obvo.delivery import storm_store
from vopi_obvo.messages import compose, storm
from vopi_obvo.messages.outbox_row import NewNotification
from vopi_obvo.messages.sms_text import SmsPolicy
from vopi_obvo.rule_validation import invalid_rules, rule_changes
from vopi_obvo.rules import RuleSet, Subscriber
from vopi_obvo.source.engines import IdOrigin
from vopi_obvo.source.holes import (
    Evidence,
    GiveUpRule,
    Hole,
    can_give_up,
    count_ids,
    gaps,
    merge_adjacent,
    rule_for,
    split_at,
    subtract,
)
from vopi_obvo.source.vopi import SOURCE_NAME, Batch, VopiEvent, VopiSource
from vopi_obvo.subscriber_cases import case_limits, covers

log = structlog.get_logger("vopi_obvo.poller")

# The first start with start = "latest" treats the ids missing among this many ids below the
# newest event as holes: an open transaction may still commit them (a documented limit).
START_WINDOW = 100_000
# How often the sequence behind event_id is looked at again (an ALTER SEQUENCE … CACHE).
ID_ORIGIN_EVERY = 300.0


@dataclass(frozen=True)
class PollResult:
    events_read: int
    notifications: int
    holes_pending: int  # missing ids still looked up
    holes_filled: int
    holes_given_up: int  # ids
    cursor: int
    batch_full: bool  # more to read at once (new events or hole rows beyond the batch size)
    hole_ranges: int = 0


@dataclass
class HoleUpdate:
    """What one poll did to the hole ranges."""

    fresh: list[Hole]  # gaps among the new events
    pending: list[Hole]  # every range still missing after this poll
    late: list[VopiEvent] = field(default_factory=list)  # found by the look before giving up
    given_up: list[Hole] = field(default_factory=list)
    more: bool = False  # a lookup stopped at the batch size


class Poller:
    def __init__(self, settings: Settings, obvo: sa.Engine, source: VopiSource) -> None:
        self.settings = settings
        self.obvo = obvo
        self.source = source
        self._rules = RuleSet({})
        self._rules_fingerprint: str | None = None
        self._rule_said: str | None = None
        self._prepared_seen = 0
        self._id_origin: IdOrigin | None = None
        self._id_origin_at = 0.0
        self._compose = compose.ComposeOptions(
            SmsPolicy(settings.sms.transliterate, settings.sms.max_segments),
            settings.delivery.coalesce_window,
        )
        self._limits = storm.Limits(
            settings.delivery.storm_threshold, settings.delivery.max_per_subscriber_per_hour
        )
        self._last_prune = 0.0

    @property
    def rules(self) -> RuleSet:
        return self._rules

    def ensure_cursor(self) -> int:
        """The stored cursor; at the first start, where reading begins. "earliest" reads from
        0: ids below the oldest visible one that an open transaction may still commit become
        one hole range like any other gap. "latest" begins at the newest event, and the ids
        missing below it (within START_WINDOW) become holes first seen now."""
        with self.obvo.begin() as conn:
            cursor = store.get_cursor(conn, SOURCE_NAME)
        if cursor is not None:
            return cursor
        start = self.settings.source.start
        holes: list[Hole] = []
        if start == "latest":
            newest, holes = self.source.recent_gaps(START_WINDOW)
            first = newest or 0
        elif start == "earliest":
            first = 0
        else:
            first = int(start) - 1
        with self.obvo.begin() as conn:
            store.init_cursor(conn, SOURCE_NAME, first)
            cursor = store.get_cursor(conn, SOURCE_NAME)
            if cursor == first:  # this process initialised it
                store.replace_holes(conn, SOURCE_NAME, [], holes)
        log.info(
            "cursor.initialised",
            start=start,
            cursor=cursor,
            holes=[h.describe() for h in holes[:20]],
            hole_ids=count_ids(holes),
        )
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
        cursor, holes = self._load_state()
        batch_size = self.settings.source.batch_size
        batch = self.source.read_batch(cursor, batch_size, holes)
        tracked = self._track_holes(cursor, holes, batch)
        events = [*batch.events, *batch.filled_holes, *tracked.late]
        new_cursor = max((e.event_id for e in batch.events), default=cursor)
        classified = compose.classify(events, self._rules)
        composed = compose.compose(
            classified.relevant, self._rules, self._audience(classified.relevant), self._compose
        )
        self._log_composed(composed)
        changed = (
            composed.notifications
            or classified.unclassified
            or tracked.pending != holes
            or new_cursor != cursor
        )
        if changed:  # an idle poll writes nothing
            self._write(
                batch,
                notifications=composed.notifications,
                unclassified=classified.unclassified,
                holes_before=holes,
                holes=tracked,
                new_cursor=new_cursor,
            )
        for event in [*batch.filled_holes, *tracked.late]:
            log.info("hole.filled", event_id=event.event_id)
        for hole in tracked.given_up:
            log.info("hole.given_up", event_ids=hole.describe(), ids=hole.size)
        result = PollResult(
            events_read=len(events),
            notifications=len(composed.notifications),
            holes_pending=count_ids(tracked.pending),
            holes_filled=len(batch.filled_holes) + len(tracked.late),
            holes_given_up=count_ids(tracked.given_up),
            cursor=new_cursor,
            batch_full=len(batch.events) >= batch_size or tracked.more,
            hole_ranges=len(tracked.pending),
        )
        if events or tracked.fresh or tracked.given_up:
            log.info(
                "poll.batch",
                events=result.events_read,
                notifications=result.notifications,
                cursor=new_cursor,
                holes_new=count_ids(tracked.fresh),
                holes_pending=result.holes_pending,
                hole_ranges=result.hole_ranges,
            )
        return result

    # ---- the steps ----

    def _load_state(self) -> tuple[int, list[Hole]]:
        """Cursor, hole ranges and the rules, over one OBVO connection: round trips are what
        an idle poll costs (see bench/README.md)."""
        with self.obvo.connect() as conn:
            cursor = store.get_cursor(conn, SOURCE_NAME)
            holes = store.list_holes(conn, SOURCE_NAME)
            self.refresh_rules(conn)
        if cursor is None:
            cursor = self.ensure_cursor()
            with self.obvo.connect() as conn:
                holes = store.list_holes(conn, SOURCE_NAME)
        return cursor, holes

    def _track_holes(self, cursor: int, holes: Sequence[Hole], batch: Batch) -> HoleUpdate:
        """New gaps become ranges, ids that appeared leave theirs, and ranges that can no
        longer fill are given up on evidence. Lookups stop at the batch size; what lies above
        the id they reached is decided in the next poll."""
        fresh = [
            Hole(lo, hi, batch.vopi_now, batch.vopi_xmax)
            for lo, hi in gaps(cursor, (e.event_id for e in batch.events))
        ]
        waiting = subtract(holes, (e.event_id for e in batch.filled_holes))
        looked_at, not_yet = (
            (waiting, []) if batch.holes_read_to is None else split_at(waiting, batch.holes_read_to)
        )
        late, given_up, kept, more = self._give_up(looked_at)
        pending = merge_adjacent([*kept, *not_yet, *fresh])
        return HoleUpdate(fresh, pending, late, given_up, more or batch.holes_read_to is not None)

    def _give_up(
        self, waiting: Sequence[Hole]
    ) -> tuple[list[VopiEvent], list[Hole], list[Hole], bool]:
        """(rows found by the fresh look, ranges given up, ranges kept, look stopped early).
        The evidence comes first, then one fresh look that the ids are still absent."""
        if not waiting:
            return [], [], [], False
        evidence = self.source.hole_evidence()
        rule = self.give_up_rule(evidence)
        candidates = [h for h in waiting if can_give_up(h, evidence, rule)]
        if not candidates:
            return [], [], list(waiting), False
        late, read_to = self.source.events_in_holes(candidates, self.settings.source.batch_size)
        remaining = subtract(candidates, (e.event_id for e in late))
        given_up, unread = (remaining, []) if read_to is None else split_at(remaining, read_to)
        kept = [h for h in waiting if h not in candidates]
        return late, given_up, [*kept, *unread], read_to is not None

    def give_up_rule(self, evidence: Evidence) -> GiveUpRule:
        """The rule in force for this evidence; logged whenever it changes."""
        origin = self.id_origin()
        rule = rule_for(
            evidence,
            cached_sequence=origin is not None and origin.cached,
            min_age=self.settings.source.hole_min_age,
            max_age=self.settings.source.hole_max_age,
            limited_reason=self.source.evidence_limit(evidence),
        )
        said = rule.describe()
        if said != self._rule_said:
            self._rule_said = said
            emit = log.info if rule.sessions_trusted else log.warning
            emit("holes.rule", rule=said, id_origin=None if origin is None else origin.describe())
        if evidence.prepared_transactions != self._prepared_seen:
            self._prepared_seen = evidence.prepared_transactions
            if evidence.prepared_transactions:
                log.warning(
                    "holes.prepared_transactions",
                    count=evidence.prepared_transactions,
                    consequence="no hole is given up until they are committed or rolled back "
                    "(their start is unknown); see pg_prepared_xacts",
                )
        return rule

    def id_origin(self) -> IdOrigin | None:
        """The sequence behind event_id, looked at again every ID_ORIGIN_EVERY s; None while
        VOPI cannot tell (the rule then stays automatic without a cache)."""
        now = time.monotonic()
        if self._id_origin is None or now - self._id_origin_at > ID_ORIGIN_EVERY:
            self._id_origin = self.source.id_origin()
            self._id_origin_at = now
        return self._id_origin

    def _audience(self, events: Sequence[compose.Event]) -> dict[int, list[Subscriber]]:
        """event id → the subscribers among its case's parties who follow that case."""
        if not events:
            return {}
        parties = self.source.parties(e.case_id for e in events if e.case_id is not None)
        all_parties = set().union(*parties.values()) if parties else set()
        with self.obvo.connect() as conn:
            subscribers = store.subscribers_for_parties(conn, all_parties)
            limits = case_limits(conn, [s.id for s in subscribers])
        by_party = {s.party_id: s for s in subscribers}
        return {
            event.event_id: [
                by_party[p]
                for p in sorted(parties.get(event.case_id or "", ()))
                if p in by_party and covers(limits, by_party[p].id, event.case_id)
            ]
            for event in events
        }

    def _log_composed(self, composed: compose.Composed) -> None:
        for failure in composed.render_failures:
            log.error(
                "notification.render_failed",
                event_id=failure.event_id,
                event_type=failure.event_type,
                channel=failure.channel,
                error=failure.error,
            )
        for event_id, segments in composed.shortened_sms:
            log.debug(
                "sms.shortened",
                event_id=event_id,
                segments=segments,
                max_segments=self._compose.sms.max_segments,
            )

    def _write(
        self,
        batch: Batch,
        *,
        notifications: Sequence[NewNotification],
        unclassified: dict[str, tuple[int, int]],
        holes_before: Sequence[Hole],
        holes: HoleUpdate,
        new_cursor: int,
    ) -> None:
        """One OBVO transaction: the storm guard, the outbox rows, the hole ranges, the
        unclassified counts and the cursor; a crash before its commit re-reads the batch."""
        with self.obvo.begin() as conn:
            guarded = self._guard(conn, notifications, batch.vopi_now)
            store.insert_notifications(conn, guarded.notifications)
            store.replace_holes(conn, SOURCE_NAME, holes_before, holes.pending)
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

    def _guard(
        self,
        conn: sa.Connection,
        notifications: Sequence[NewNotification],
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
