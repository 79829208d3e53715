-- Every statement OBVO runs at runtime, by name. `-- name: x` starts a query; the comment
-- line under it says what it is for. Parameters are SQLAlchemy `:named`. Queries marked
-- [vopi] run on VOPI's database and wrap the administrator's `events_query` as {events_query}.

-- name: vopi_events_after
-- [vopi] The next batch of committed events above the cursor (an index scan on the event log).
SELECT * FROM ({events_query}) AS ev
WHERE ev.event_id > :after_id
ORDER BY ev.event_id
LIMIT :limit

-- name: vopi_events_by_id
-- [vopi] Events that were holes: look them up by id on every poll.
SELECT * FROM ({events_query}) AS ev
WHERE ev.event_id = ANY(:event_ids)
ORDER BY ev.event_id

-- name: vopi_newest_event
-- [vopi] The newest event, for the first start ("latest") and for lag in `status`.
SELECT ev.event_id, ev.occurred_at FROM ({events_query}) AS ev
ORDER BY ev.event_id DESC
LIMIT 1

-- name: vopi_oldest_event_id
-- [vopi] The oldest event id, for start = "earliest".
SELECT ev.event_id FROM ({events_query}) AS ev ORDER BY ev.event_id LIMIT 1

-- name: vopi_probe_events
-- [vopi] The columns the events query returns, without reading rows (`obvo check`).
SELECT * FROM ({events_query}) AS ev LIMIT 0

-- name: vopi_clock
-- [vopi] VOPI's clock and snapshot xmax, taken right after a batch read: a later, hence
-- conservative, bound for every transaction that could still commit a hole.
SELECT statement_timestamp() AS now,
       pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax

-- name: vopi_hole_evidence
-- [vopi] In one statement: the oldest other running client transaction, the oldest xid in
-- progress, and whether this role can see other roles' sessions at all.
SELECT statement_timestamp() AS now,
       (SELECT min(a.xact_start) FROM pg_stat_activity AS a
         WHERE a.xact_start IS NOT NULL
           AND a.pid <> pg_backend_pid()
           AND a.backend_type = 'client backend') AS oldest_transaction_start,
       (SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x)
           AS oldest_running_xid,
       (pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')
        OR (SELECT r.rolsuper FROM pg_roles AS r WHERE r.rolname = current_user))
           AS can_see_all_sessions

-- name: get_cursor
-- The highest VOPI event id read.
SELECT last_event_id FROM source_cursor WHERE source = :source

-- name: init_cursor
-- The first start: where reading begins (never moves an existing cursor).
INSERT INTO source_cursor (source, last_event_id) VALUES (:source, :event_id)
ON CONFLICT (source) DO NOTHING

-- name: set_cursor
-- Move the cursor, in the same transaction as the batch's notifications.
UPDATE source_cursor SET last_event_id = :event_id, updated_at = now()
WHERE source = :source AND last_event_id <= :event_id

-- name: list_holes
-- Ids below the cursor not yet seen.
SELECT event_id, first_seen_at, first_seen_xmax FROM pending_holes
WHERE source = :source ORDER BY event_id

-- name: add_hole
-- Remember a new hole (executemany).
INSERT INTO pending_holes (source, event_id, first_seen_at, first_seen_xmax)
VALUES (:source, :event_id, :first_seen_at, :first_seen_xmax)
ON CONFLICT (source, event_id) DO NOTHING

-- name: remove_holes
-- Holes that were filled or given up.
DELETE FROM pending_holes WHERE source = :source AND event_id = ANY(:event_ids)

-- name: try_poller_lock
-- One active poller per source and schema; held for the life of a session.
SELECT pg_try_advisory_lock(hashtext(:lock_name)) AS locked

-- name: release_poller_lock
-- Let a standby take over.
SELECT pg_advisory_unlock(hashtext(:lock_name)) AS released

-- name: rules_fingerprint
-- Changes when any rule or template row changes: a cheap check per poll.
SELECT (SELECT count(*) || '/' || coalesce(max(updated_at)::text, '') FROM event_types)
    || '|' ||
       (SELECT count(*) || '/' || coalesce(max(updated_at)::text, '') FROM templates)
       AS fingerprint

-- name: list_event_types
-- Every classified event type.
SELECT code, name, kind FROM event_types ORDER BY code

-- name: list_templates
-- Every template row.
SELECT event_type, language, email_subject, email_body, sms FROM templates
ORDER BY event_type, language

-- name: upsert_event_type
-- `rules apply`: add or change an event type.
INSERT INTO event_types (code, name, kind) VALUES (:code, :name, :kind)
ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind, updated_at = now()
WHERE (event_types.name, event_types.kind) IS DISTINCT FROM (excluded.name, excluded.kind)

-- name: upsert_template
-- `rules apply`: add or change one language's templates.
INSERT INTO templates (event_type, language, email_subject, email_body, sms)
VALUES (:event_type, :language, :email_subject, :email_body, :sms)
ON CONFLICT (event_type, language) DO UPDATE
SET email_subject = excluded.email_subject, email_body = excluded.email_body,
    sms = excluded.sms, updated_at = now()
WHERE (templates.email_subject, templates.email_body, templates.sms)
      IS DISTINCT FROM (excluded.email_subject, excluded.email_body, excluded.sms)

-- name: note_unclassified
-- Count an event type that no rule classifies (executemany).
INSERT INTO unclassified_event_types (event_type, seen_count, last_event_id)
VALUES (:event_type, :count, :last_event_id)
ON CONFLICT (event_type) DO UPDATE
SET seen_count = unclassified_event_types.seen_count + excluded.seen_count,
    last_seen_at = now(),
    last_event_id = greatest(unclassified_event_types.last_event_id, excluded.last_event_id)
RETURNING event_type, (xmax = 0) AS first_time

-- name: forget_classified
-- An event type that now has a rule is no longer unclassified.
DELETE FROM unclassified_event_types WHERE event_type IN (SELECT code FROM event_types)

-- name: list_unclassified
-- Unclassified event types for `status`.
SELECT event_type, seen_count, first_seen_at, last_seen_at, last_event_id
FROM unclassified_event_types ORDER BY last_seen_at DESC

-- name: subscribers_for_parties
-- Subscribers among a batch's parties.
SELECT id, party_id, email, phone, events, language FROM subscribers
WHERE party_id = ANY(:party_ids)

-- name: insert_notification
-- The outbox row for one (event, subscriber, channel); re-reading a batch inserts nothing.
INSERT INTO notifications
    (source_event_id, subscriber_id, channel, event_type, event_kind, case_id, occurred_at,
     language, recipient, subject, body, status, last_error)
VALUES
    (:source_event_id, :subscriber_id, :channel, :event_type, :event_kind, :case_id,
     :occurred_at, :language, :recipient, :subject, :body, :status, :last_error)
ON CONFLICT ON CONSTRAINT notifications_once DO NOTHING

-- name: claim_due
-- Take due notifications for sending; other workers skip the locked rows.
WITH due AS (
    SELECT id FROM notifications
    WHERE status = 'pending' AND next_attempt_at <= now() AND channel = ANY(:channels)
    ORDER BY next_attempt_at, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE notifications AS n
SET status = 'sending', claimed_by = :worker_id, claimed_at = now(),
    attempts = n.attempts + 1, updated_at = now()
FROM due WHERE n.id = due.id
RETURNING n.id, n.channel, n.recipient, n.subject, n.body, n.attempts, n.event_kind,
          n.source_event_id

-- name: record_attempt
-- One delivery attempt and its outcome.
INSERT INTO notification_attempts
    (notification_id, attempt, worker_id, started_at, outcome, error, provider_id)
VALUES (:notification_id, :attempt, :worker_id, :started_at, :outcome, :error, :provider_id)

-- name: mark_sent
-- Sent. Also accepted when the claim was taken back meanwhile: it was sent, do not send again.
UPDATE notifications
SET status = 'sent', sent_at = now(), provider_id = :provider_id, last_error = NULL,
    claimed_by = NULL, updated_at = now()
WHERE id = :id AND status IN ('sending', 'pending')

-- name: schedule_retry
-- A temporary failure: try again later.
UPDATE notifications
SET status = 'pending', next_attempt_at = now() + make_interval(secs => :delay),
    last_error = :error, claimed_by = NULL, updated_at = now()
WHERE id = :id AND status = 'sending' AND claimed_by = :worker_id

-- name: mark_failed
-- A permanent failure, or the last attempt failed.
UPDATE notifications
SET status = 'failed', last_error = :error, claimed_by = NULL, updated_at = now()
WHERE id = :id AND status = 'sending' AND claimed_by = :worker_id

-- name: release_claims
-- Graceful stop: claimed but not attempted rows go back, their attempt not counted.
UPDATE notifications
SET status = 'pending', attempts = greatest(attempts - 1, 0), claimed_by = NULL,
    updated_at = now()
WHERE status = 'sending' AND claimed_by = :worker_id AND id = ANY(:ids)

-- name: register_worker
-- A process announces itself.
INSERT INTO workers (id, hostname, pid) VALUES (:worker_id, :hostname, :pid)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()

-- name: heartbeat
-- A process is alive.
UPDATE workers SET heartbeat_at = now() WHERE id = :worker_id

-- name: unregister_worker
-- A process stops cleanly.
DELETE FROM workers WHERE id = :worker_id

-- name: reclaim_dead_claims
-- Rows claimed by a worker that is gone or silent go back to pending, with a note per attempt.
WITH taken AS (
    UPDATE notifications
    SET status = 'pending', claimed_by = NULL, updated_at = now(),
        last_error = 'the sending process stopped during this attempt; taken back'
    WHERE status = 'sending'
      AND (claimed_by IS NULL OR claimed_by NOT IN (
            SELECT id FROM workers
            WHERE heartbeat_at > now() - make_interval(secs => :stale_after)))
    RETURNING id, attempts, claimed_at
), noted AS (
    INSERT INTO notification_attempts
        (notification_id, attempt, started_at, outcome, error)
    SELECT id, attempts, coalesce(claimed_at, now()), 'taken_back',
           'the sending process stopped during this attempt'
    FROM taken
)
SELECT id FROM taken

-- name: delete_dead_workers
-- Forget workers that stopped heartbeating long ago.
DELETE FROM workers WHERE heartbeat_at <= now() - make_interval(secs => :stale_after)

-- name: count_notifications
-- Notifications by status and channel, for `status`.
SELECT status, channel, count(*) AS n FROM notifications GROUP BY status, channel
ORDER BY status, channel

-- name: oldest_pending
-- The oldest notification still waiting, for `status`.
SELECT id, created_at, next_attempt_at, attempts, last_error FROM notifications
WHERE status IN ('pending', 'sending') ORDER BY created_at, id LIMIT 1

-- name: cursor_state
-- Cursor with its update time, for `status`.
SELECT last_event_id, updated_at FROM source_cursor WHERE source = :source

-- name: list_workers
-- Running processes and their heartbeats, for `status`.
SELECT id, hostname, pid, started_at, heartbeat_at, now() - heartbeat_at AS silent_for
FROM workers ORDER BY started_at

-- name: insert_subscriber
-- `subscribers add`: a new citizen's subscription.
INSERT INTO subscribers (party_id, email, phone, events, language)
VALUES (:party_id, :email, :phone, :events, :language)
ON CONFLICT (party_id) DO NOTHING
RETURNING id

-- name: list_subscribers
-- `subscribers list`.
SELECT id, party_id, email, phone, events, language, created_at FROM subscribers ORDER BY id

-- name: delete_subscriber
-- `subscribers remove`: the subscription ends; sent notifications keep their history.
DELETE FROM subscribers WHERE party_id = :party_id RETURNING id
