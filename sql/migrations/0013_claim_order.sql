-- The claim's order as an index (issue 12): oldest due first, key events before notify events
-- of the same due time, then id. A claim then reads its few dozen rows off the index instead
-- of sorting every due row first: a backlog or a released storm shares one due time, so the
-- old index on next_attempt_at alone left a sort of the whole backlog for every claim.
-- It replaces that index: its leading column serves the same look-ups (due rows, the oldest
-- pending one, quiet-hours deferral).
CREATE INDEX notifications_claim_order ON notifications
    (next_attempt_at, (event_kind = 'key') DESC, id) WHERE status = 'pending';
DROP INDEX notifications_due;
