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
-- [vopi] Events by id (`obvo preview`, `notifications retry`).
SELECT * FROM ({events_query}) AS ev
WHERE ev.event_id = ANY(:event_ids)
ORDER BY ev.event_id

-- name: vopi_events_in_ranges
-- [vopi] The lowest :limit events inside the hole ranges (lows[i]..highs[i]), on every poll:
-- one primary-key range scan per range, each stopping after :limit rows, so the work is
-- bounded by the number of ranges and the batch size, never by the size of a gap.
SELECT ev.* FROM unnest(CAST(:lows AS bigint[]), CAST(:highs AS bigint[])) AS r (lo, hi)
CROSS JOIN LATERAL (
    SELECT * FROM ({events_query}) AS e
    WHERE e.event_id BETWEEN r.lo AND r.hi
    ORDER BY e.event_id
    LIMIT :limit
) AS ev
ORDER BY ev.event_id
LIMIT :limit

-- name: vopi_newest_event
-- [vopi] The newest event, for the first start ("latest") and for lag in `status`.
SELECT ev.event_id, ev.occurred_at FROM ({events_query}) AS ev
ORDER BY ev.event_id DESC
LIMIT 1

-- name: vopi_oldest_event_id
-- [vopi] The oldest event id, for start = "earliest".
SELECT ev.event_id FROM ({events_query}) AS ev ORDER BY ev.event_id LIMIT 1

-- name: vopi_recent_gaps
-- [vopi] The first start with start = "latest": the newest event, and the ids missing among
-- the :window ids below it, in one snapshot. An open transaction may still commit any of them.
WITH newest AS (
    SELECT ev.event_id AS id FROM ({events_query}) AS ev ORDER BY ev.event_id DESC LIMIT 1
), visible AS (
    SELECT ev.event_id,
           lag(ev.event_id) OVER (ORDER BY ev.event_id) AS previous
    FROM ({events_query}) AS ev, newest
    WHERE ev.event_id > greatest(newest.id - :window, 0) AND ev.event_id <= newest.id
)
SELECT newest.id AS newest_id,
       coalesce(v.previous, greatest(newest.id - :window, 0)) + 1 AS first_id,
       v.event_id - 1 AS last_id
FROM newest LEFT JOIN visible AS v
  ON v.event_id > coalesce(v.previous, greatest(newest.id - :window, 0)) + 1
ORDER BY first_id

-- name: vopi_probe_events
-- [vopi] The columns the events query returns, without reading rows (`obvo check`).
SELECT * FROM ({events_query}) AS ev LIMIT 0

-- name: vopi_clock
-- [vopi] VOPI's clock and snapshot xmax, taken right after a batch read: a later, hence
-- conservative, bound for every transaction that could still commit a hole.
SELECT statement_timestamp() AS now,
       pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax

-- name: vopi_hole_evidence
-- [vopi] In one statement: the oldest other transaction in VOPI's database (only VOPI's
-- database can commit a VOPI row), its prepared transactions (their start is unknown: they
-- block every hole), the oldest other client session (cached sequence values die with their
-- session; OBVO's own sessions never draw VOPI ids), the oldest xid in progress anywhere (the
-- fallback evidence), whether this role sees other roles' sessions, and whether VOPI is a hot
-- standby (whose pg_stat_activity shows only the standby's own sessions).
SELECT statement_timestamp() AS now,
       (SELECT min(a.xact_start) FROM pg_stat_activity AS a
         WHERE a.xact_start IS NOT NULL
           AND a.pid <> pg_backend_pid()
           AND a.backend_type = 'client backend'
           AND a.datname = current_database()) AS oldest_transaction_start,
       (SELECT count(*) FROM pg_prepared_xacts AS p
         WHERE p.database = current_database()) AS prepared_transactions,
       (SELECT min(a.backend_start) FROM pg_stat_activity AS a
         WHERE a.pid <> pg_backend_pid()
           AND a.backend_type = 'client backend'
           AND a.datname = current_database()
           AND a.application_name NOT LIKE 'obvo %') AS oldest_session_start,
       (SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x)
           AS oldest_running_xid,
       (pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')
        OR (SELECT r.rolsuper FROM pg_roles AS r WHERE r.rolname = current_user))
           AS can_see_all_sessions,
       pg_is_in_recovery() AS in_recovery

-- name: vopi_id_sequence
-- [vopi] The table column event_id comes from, and the sequence behind it (serial/identity
-- through pg_depend, or a nextval() default) with its cache and increment: `obvo check`,
-- `status` and the hole rule.
SELECT format('%s.%I', c.oid::regclass, a.attname) AS column_name,
       seq.name AS sequence_name, seq.cache_size, seq.increment_by
FROM pg_class AS c
JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = :column_number
LEFT JOIN LATERAL (
    SELECT s.seqrelid::regclass::text AS name, s.seqcache AS cache_size,
           s.seqincrement AS increment_by
    FROM pg_sequence AS s
    WHERE s.seqrelid IN (
        SELECT d.objid FROM pg_depend AS d
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
           AND d.refobjid = c.oid AND d.refobjsubid = a.attnum AND d.deptype IN ('a', 'i')
        UNION
        SELECT d.refobjid FROM pg_attrdef AS ad
          JOIN pg_depend AS d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
                             AND d.refclassid = 'pg_class'::regclass
         WHERE ad.adrelid = c.oid AND ad.adnum = a.attnum)
    ORDER BY s.seqrelid
    LIMIT 1
) AS seq ON true
WHERE c.oid = :table_oid

-- ---- [vopi] on MariaDB/MySQL (vopi_obvo/source/engines/mysql.py); the queries above
-- ---- without a mysql_ twin run there as written ----

-- name: mysql_vopi_events_in_ranges
-- [vopi] MariaDB/MySQL: vopi_events_in_ranges with the ranges as a JSON array of [lo, hi]
-- (:ranges; JSON_TABLE, since there are no arrays and MariaDB has no LATERAL): a primary-key
-- range per range, every row inside them read, the lowest :limit returned.
SELECT ev.* FROM JSON_TABLE(:ranges, '$[*]' COLUMNS (lo BIGINT PATH '$[0]', hi BIGINT PATH '$[1]')) AS r
JOIN ({events_query}) AS ev ON ev.event_id BETWEEN r.lo AND r.hi
ORDER BY ev.event_id
LIMIT :limit

-- name: mysql_vopi_events_by_id
-- [vopi] Events that were holes, by id (an expanding IN list).
SELECT * FROM ({events_query}) AS ev
WHERE ev.event_id IN :event_ids
ORDER BY ev.event_id

-- name: mysql_vopi_clock
-- [vopi] VOPI's clock in UTC, right after a batch read.
SELECT UTC_TIMESTAMP(6) AS now

-- name: mysql_vopi_hole_evidence
-- [vopi] The oldest other InnoDB transaction (PROCESS privilege) in UTC. trx_started is in
-- the server's system time zone, whole seconds: the earliest of its readings around a DST
-- change is taken. INNODB_TRX is a cache up to 0.1 s old, so a transaction it may not show
-- yet is assumed to have started a second ago.
SELECT UTC_TIMESTAMP(6) AS now,
       LEAST(UTC_TIMESTAMP(6) - INTERVAL 1 SECOND,
             COALESCE((SELECT MIN(LEAST(
                          CONVERT_TZ(t.trx_started, 'SYSTEM', '+00:00'),
                          CONVERT_TZ(t.trx_started - INTERVAL 1 HOUR, 'SYSTEM', '+00:00')
                              + INTERVAL 1 HOUR,
                          CONVERT_TZ(t.trx_started + INTERVAL 1 HOUR, 'SYSTEM', '+00:00')
                              - INTERVAL 1 HOUR))
                       FROM information_schema.INNODB_TRX AS t
                       WHERE t.trx_mysql_thread_id <> CONNECTION_ID()),
                      UTC_TIMESTAMP(6))) AS oldest_transaction_start

-- name: mysql_id_column
-- [vopi] `obvo check`: how the event log's id column gets its values.
SELECT c.EXTRA AS extra, c.COLUMN_DEFAULT AS column_default
FROM information_schema.COLUMNS AS c
WHERE c.TABLE_SCHEMA = :schema AND c.TABLE_NAME = :table AND c.COLUMN_NAME = :column

-- name: mysql_table_kind
-- [vopi] `obvo roles`: is a name the queries use a table or a view (NULL: neither)?
SELECT t.TABLE_TYPE FROM information_schema.TABLES AS t
WHERE t.TABLE_SCHEMA = :schema AND t.TABLE_NAME = :name

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
-- Id ranges below the cursor not yet seen.
SELECT first_id, last_id, first_seen_at, first_seen_xmax FROM pending_holes
WHERE source = :source ORDER BY first_id

-- name: add_holes
-- New or shrunk hole ranges, in one statement (one array per column).
INSERT INTO pending_holes (source, first_id, last_id, first_seen_at, first_seen_xmax)
SELECT :source, t.first_id, t.last_id, t.first_seen_at, t.first_seen_xmax
FROM unnest(CAST(:first_id AS bigint[]), CAST(:last_id AS bigint[]),
            CAST(:first_seen_at AS timestamptz[]), CAST(:first_seen_xmax AS bigint[]))
     AS t (first_id, last_id, first_seen_at, first_seen_xmax)

-- name: remove_holes
-- Hole ranges filled, shrunk, split or given up (by their first id).
DELETE FROM pending_holes WHERE source = :source AND first_id = ANY(:first_ids)

-- name: try_poller_lock
-- One active poller per source and schema; held for the life of a session.
SELECT pg_try_advisory_lock(hashtext(:lock_name)) AS locked

-- name: release_poller_lock
-- Let a standby take over.
SELECT pg_advisory_unlock(hashtext(:lock_name)) AS released

-- name: rules_fingerprint
-- Changes when any rule or template row changes, also by hand in SQL without touching
-- updated_at: a hash of the rows' contents (a few dozen small rows: cheap per poll).
SELECT coalesce((SELECT md5(string_agg(e::text, '|' ORDER BY e.code)) FROM event_types AS e), '')
    || '|' ||
       coalesce((SELECT md5(string_agg(t::text, '|' ORDER BY t.event_type, t.language))
                 FROM templates AS t), '')
       AS fingerprint

-- name: list_event_types
-- Every classified event type.
SELECT code, name, kind FROM event_types ORDER BY code

-- name: list_templates
-- Every template row.
SELECT event_type, language, email_subject, email_body, sms, email_html FROM templates
ORDER BY event_type, language

-- name: upsert_event_type
-- `rules apply`: add or change an event type.
INSERT INTO event_types (code, name, kind) VALUES (:code, :name, :kind)
ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind, updated_at = now()
WHERE (event_types.name, event_types.kind) IS DISTINCT FROM (excluded.name, excluded.kind)

-- name: upsert_template
-- `rules apply`: add or change one language's templates.
INSERT INTO templates (event_type, language, email_subject, email_body, sms, email_html)
VALUES (:event_type, :language, :email_subject, :email_body, :sms, :email_html)
ON CONFLICT (event_type, language) DO UPDATE
SET email_subject = excluded.email_subject, email_body = excluded.email_body,
    sms = excluded.sms, email_html = excluded.email_html, updated_at = now()
WHERE (templates.email_subject, templates.email_body, templates.sms, templates.email_html)
      IS DISTINCT FROM
      (excluded.email_subject, excluded.email_body, excluded.sms, excluded.email_html)

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

-- name: notifications_per_event_type
-- The console's event types: notifications each type made since :since, the newest one's time
-- (a range of notifications_created, not the whole outbox).
SELECT event_type, count(*) AS n, max(created_at) AS last_at, max(source_event_id) AS last_event_id
FROM notifications WHERE created_at >= :since GROUP BY event_type

-- name: subscribers_for_parties
-- Subscribers among a batch's parties.
SELECT id, party_id, email, phone, events, language, key_only_channels FROM subscribers
WHERE party_id = ANY(:party_ids)

-- name: insert_notifications_bulk
-- A batch's outbox rows in one statement (one array per column): a per-row INSERT costs a
-- round trip per notification, which dominated a backlog's poll.
INSERT INTO notifications
    (source_event_id, subscriber_id, channel, event_type, event_kind, case_id, occurred_at,
     language, recipient, subject, body, status, last_error, body_html,
     sms_encoding, sms_segments, held_reason, next_attempt_at, event_values)
SELECT t.source_event_id, t.subscriber_id, t.channel, t.event_type, t.event_kind, t.case_id,
       t.occurred_at, t.language, t.recipient, t.subject, t.body, t.status, t.last_error,
       t.body_html, t.sms_encoding, t.sms_segments, t.held_reason,
       now() + make_interval(secs => t.delay), CAST(t.event_values AS jsonb)
FROM unnest(
    CAST(:source_event_id AS bigint[]), CAST(:subscriber_id AS bigint[]),
    CAST(:channel AS text[]), CAST(:event_type AS text[]), CAST(:event_kind AS text[]),
    CAST(:case_id AS text[]), CAST(:occurred_at AS timestamptz[]), CAST(:language AS text[]),
    CAST(:recipient AS text[]), CAST(:subject AS text[]), CAST(:body AS text[]),
    CAST(:status AS text[]), CAST(:last_error AS text[]), CAST(:body_html AS text[]),
    CAST(:sms_encoding AS text[]), CAST(:sms_segments AS integer[]),
    CAST(:held_reason AS text[]), CAST(:delay AS double precision[]),
    CAST(:event_values AS text[])
) AS t (source_event_id, subscriber_id, channel, event_type, event_kind, case_id, occurred_at,
        language, recipient, subject, body, status, last_error, body_html, sms_encoding,
        sms_segments, held_reason, delay, event_values)
ON CONFLICT ON CONSTRAINT notifications_once DO NOTHING

-- name: claim_due
-- Take due notifications for sending; other workers skip the locked rows.
WITH due AS (
    SELECT id FROM notifications
    WHERE status = 'pending' AND next_attempt_at <= now() AND channel = ANY(:channels)
    -- Oldest due first; within the same due time (a backlog, a storm released at once) key
    -- events before notify events.
    -- The index notifications_claim_order has this order: the LIMIT rows are read off it.
    ORDER BY next_attempt_at, event_kind = 'key' DESC, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE notifications AS n
SET status = 'sending', claimed_by = :worker_id, claimed_at = now(),
    attempts = n.attempts + 1, updated_at = now()
-- An array, so the rows are updated by primary key whatever the planner thinks of the table.
WHERE n.id = ANY(ARRAY(SELECT id FROM due))
RETURNING n.id, n.channel, n.recipient, n.subject, n.body, n.attempts, n.event_kind,
          n.source_event_id, n.subscriber_id, n.language, n.body_html

-- name: mark_sent
-- Sent, with its attempt row, in one statement (each outcome is one statement: the dispatcher
-- writes them in autocommit). Also accepted when the claim was taken back meanwhile: it was
-- sent, do not send again.
WITH sent AS (
    UPDATE notifications
    SET status = 'sent', sent_at = now(), provider_id = :provider_id, last_error = NULL,
        claimed_by = NULL, updated_at = now()
    WHERE id = :id AND status IN ('sending', 'pending')
)
INSERT INTO notification_attempts
    (notification_id, attempt, worker_id, started_at, outcome, provider_id)
VALUES (:id, :attempt, :worker_id, :started_at, 'sent', :provider_id)

-- name: mark_sent_many
-- Several messages their providers accepted, in one statement: each sent (also when its
-- claim was taken back meanwhile, as mark_sent), each with its attempt row. Idempotent: a
-- retry after a commit whose answer was lost with the connection adds no second attempt.
WITH marks AS (
    SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS integer[]),
                         CAST(:started_at AS timestamptz[]), CAST(:provider_ids AS text[]))
        AS m (id, attempt, started_at, provider_id)
), sent AS (
    UPDATE notifications AS n
    SET status = 'sent', sent_at = now(), provider_id = m.provider_id, last_error = NULL,
        claimed_by = NULL, updated_at = now()
    FROM marks AS m
    WHERE n.id = m.id AND n.status IN ('sending', 'pending')
)
INSERT INTO notification_attempts
    (notification_id, attempt, worker_id, started_at, outcome, provider_id)
SELECT id, attempt, CAST(:worker_id AS text), started_at, 'sent', provider_id FROM marks
-- A subquery per mark, not NOT EXISTS: an anti-join may be planned as a scan of all attempts
-- (a plan made while the table was small is kept by the prepared statement as it grows).
WHERE (SELECT 1 FROM notification_attempts AS a
       WHERE a.notification_id = marks.id AND a.attempt = marks.attempt
         AND a.outcome = 'sent' AND a.worker_id = CAST(:worker_id AS text)
       LIMIT 1) IS NULL

-- name: schedule_retry
-- A temporary failure: try again later; with its attempt row, in one statement.
WITH retried AS (
    UPDATE notifications
    SET status = 'pending', next_attempt_at = now() + make_interval(secs => :delay),
        last_error = :error, claimed_by = NULL, updated_at = now()
    WHERE id = :id AND status = 'sending' AND claimed_by = :worker_id
)
INSERT INTO notification_attempts
    (notification_id, attempt, worker_id, started_at, outcome, error)
VALUES (:id, :attempt, :worker_id, :started_at, 'retry', :error)

-- name: fail_attempt
-- A permanent failure, or the last attempt failed; with its attempt row, in one statement.
WITH failed AS (
    UPDATE notifications
    SET status = 'failed', last_error = :error, claimed_by = NULL, updated_at = now()
    WHERE id = :id AND status = 'sending' AND claimed_by = :worker_id
)
INSERT INTO notification_attempts
    (notification_id, attempt, worker_id, started_at, outcome, error)
VALUES (:id, :attempt, :worker_id, :started_at, 'failed', :error)

-- name: mark_failed
-- Failed without an attempt row of its own (its outcome could not be recorded).
UPDATE notifications
SET status = 'failed', last_error = :error, claimed_by = NULL, updated_at = now()
WHERE id = :id AND status = 'sending' AND claimed_by = :worker_id

-- name: release_claims
-- Claimed but never handed to a sender: back to pending, the attempt not counted.
UPDATE notifications
SET status = 'pending', attempts = greatest(attempts - 1, 0), claimed_by = NULL,
    updated_at = now()
WHERE status = 'sending' AND claimed_by = :worker_id AND id = ANY(:ids)

-- name: abandon_claims
-- A batch cut short (a database error between claim and outcome): the messages handed to a
-- sender whose outcome was not recorded go back keeping their attempt, with a note; they may
-- have arrived and are sent again.
WITH back AS (
    UPDATE notifications
    SET status = 'pending', claimed_by = NULL, updated_at = now(), last_error = :error
    WHERE status = 'sending' AND claimed_by = :worker_id AND id = ANY(:ids)
    RETURNING id, attempts, claimed_at
), noted AS (
    INSERT INTO notification_attempts
        (notification_id, attempt, worker_id, started_at, outcome, error)
    SELECT id, attempts, CAST(:worker_id AS text), coalesce(claimed_at, now()), 'taken_back',
           CAST(:error AS text)
    FROM back
)
SELECT id FROM back

-- name: postpone_uncounted
-- Not the citizen's failure: a configuration error of OBVO's own (the SMTP server refuses our
-- sender or credentials) or a provider asking us to slow down. Not counted towards
-- max_attempts; its attempt row notes it (`retry`), in the same statement.
WITH postponed AS (
    UPDATE notifications
    SET status = 'pending', attempts = greatest(attempts - 1, 0),
        next_attempt_at = now() + make_interval(secs => :delay), last_error = :error,
        claimed_by = NULL, updated_at = now()
    WHERE id = :id AND status = 'sending' AND claimed_by = :worker_id
)
INSERT INTO notification_attempts
    (notification_id, attempt, worker_id, started_at, outcome, error)
VALUES (:id, :attempt, :worker_id, :started_at, 'retry', :attempt_error)

-- name: register_worker
-- A process announces itself, and says it lives: an upsert, so a row forgotten during a long
-- outage (delete_dead_workers) comes back with the next heartbeat.
INSERT INTO workers (id, hostname, pid, liveness, problem, problem_since)
VALUES (:worker_id, :hostname, :pid, :liveness, :problem,
        CASE WHEN CAST(:problem AS text) IS NOT NULL THEN now() END)
ON CONFLICT (id) DO UPDATE
SET heartbeat_at = now(), liveness = EXCLUDED.liveness, problem = EXCLUDED.problem,
    problem_since = CASE WHEN EXCLUDED.problem IS NULL THEN NULL
                         WHEN workers.problem IS NOT DISTINCT FROM EXCLUDED.problem
                         THEN coalesce(workers.problem_since, now())
                         ELSE now() END
-- How many workers live, this one included (pacing divides each max_per_second by it).
RETURNING 1 + (SELECT count(*) FROM workers AS w
               WHERE w.id <> :worker_id
                 AND w.heartbeat_at > now() - make_interval(secs => :stale_after)) AS live_workers

-- name: take_worker_lock
-- Liveness as a fact PostgreSQL knows: held by the worker's own session while it lives. Waits
-- (up to the session's lock_timeout) for this worker's previous session to end on the server.
SELECT pg_advisory_lock(hashtext('obvo-worker:' || current_schema()), hashtext(:worker_id))

-- name: release_worker_lock
-- A clean stop: the lock goes at once, not when the server notices the closed session.
SELECT pg_advisory_unlock(hashtext('obvo-worker:' || current_schema()), hashtext(:worker_id))

-- name: unregister_worker
-- A process stops cleanly.
DELETE FROM workers WHERE id = :worker_id

-- name: reclaim_dead_claims
-- Claims whose owner is gone go back to pending (failed once max_attempts is reached: a
-- message that kills its sender every time must not crash-loop the service), with a note per
-- attempt; `attempts` is never given back. The owner is judged by identity, not by its row:
-- alive while its session holds the worker lock (take_worker_lock), or, for a worker without
-- one (a pooler in transaction mode), while its heartbeat is fresh. Also taken back: any claim
-- older than :claim_timeout (a hung process), and the caller's own claims that it is not
-- working on (:worker_id, :in_flight; a batch cut short by a database error).
WITH live_locks AS (
    SELECT objid FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 2
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid = CAST(hashtext('obvo-worker:' || current_schema()) AS oid)
), dead AS (
    SELECT n.id FROM notifications AS n
    WHERE n.status = 'sending'
      AND (n.claimed_by IS NULL
           OR n.claimed_at < now() - make_interval(secs => :claim_timeout)
           OR (n.claimed_by = CAST(:worker_id AS text)
               AND n.id <> ALL(CAST(:in_flight AS bigint[])))
           OR (CAST(hashtext(n.claimed_by) AS oid) NOT IN (SELECT objid FROM live_locks)
               AND NOT EXISTS (
                   SELECT 1 FROM workers AS w
                   WHERE w.id = n.claimed_by AND w.liveness = 'heartbeat'
                     AND w.heartbeat_at > now() - make_interval(secs => :stale_after))))
    FOR UPDATE OF n SKIP LOCKED
), taken AS (
    UPDATE notifications AS n
    SET status = CASE WHEN n.attempts >= :max_attempts THEN 'failed' ELSE 'pending' END,
        claimed_by = NULL, updated_at = now(),
        last_error = CASE WHEN n.attempts >= :max_attempts
            THEN 'the sending process stopped during attempt ' || n.attempts
                 || ' (max_attempts reached); not sent again'
            ELSE 'the sending process stopped during this attempt; taken back' END
    FROM dead WHERE n.id = dead.id
    RETURNING n.id, n.attempts, n.claimed_at, n.status
), noted AS (
    INSERT INTO notification_attempts
        (notification_id, attempt, started_at, outcome, error)
    SELECT id, attempts, coalesce(claimed_at, now()), 'taken_back',
           'the sending process stopped during this attempt'
    FROM taken
)
SELECT id, status FROM taken

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
-- Running processes, their heartbeats and the problems they report, for `status`.
SELECT id, hostname, pid, started_at, heartbeat_at, now() - heartbeat_at AS silent_for,
       liveness, problem, problem_since
FROM workers ORDER BY started_at

-- name: insert_subscriber
-- `subscribers add`: a new citizen's subscription.
INSERT INTO subscribers (party_id, email, phone, events, language)
VALUES (:party_id, :email, :phone, :events, :language)
ON CONFLICT (party_id) DO NOTHING
RETURNING id

-- ---- administration (`obvo rules|preview|subscribers|notifications|audit`) ----

-- name: vopi_newest_event_of_type
-- [vopi] `rules check`: the most recent real event of one type, to render its templates with.
SELECT * FROM ({events_query}) AS ev
WHERE ev.event_type = :event_type
ORDER BY ev.event_id DESC
LIMIT 1

-- name: insert_audit
-- One administrative change: who, what, on what; in the change's own transaction.
INSERT INTO audit_log (actor, action, target, detail)
VALUES (:actor, :action, :target, CAST(:detail AS jsonb))

-- name: list_audit
-- `obvo audit` and the console's audit page: the administrative log and the portal's in one
-- trail, newest first, optionally one source; an action filter `subscriber` also matches
-- `subscriber.add`; a portal row's target is its subscriber, else its party.
SELECT source, id, at, actor, action, outcome, target, peer, detail FROM (
    SELECT 'admin' AS source, id, at, actor, action, 'ok' AS outcome, target,
           NULL::text AS peer, detail
    FROM audit_log
    UNION ALL
    SELECT 'portal', id, at, actor, action, outcome,
           COALESCE('subscriber:' || subscriber_id, 'party:' || party_id), peer, detail
    FROM portal_audit
) AS trail
WHERE (CAST(:source AS text) IS NULL OR source = CAST(:source AS text))
  AND (CAST(:since AS timestamptz) IS NULL OR at >= CAST(:since AS timestamptz))
  AND (CAST(:until AS timestamptz) IS NULL OR at < CAST(:until AS timestamptz))
  AND (CAST(:actor AS text) IS NULL OR actor = CAST(:actor AS text))
  AND (CAST(:action AS text) IS NULL OR action = CAST(:action AS text)
       OR action LIKE CAST(:action AS text) || '.%')
  AND (CAST(:target AS text) IS NULL OR target = CAST(:target AS text))
  AND (CAST(:outcome AS text) IS NULL OR outcome = CAST(:outcome AS text))
ORDER BY at DESC, source, id DESC
LIMIT :limit

-- name: subscriber_case_limits
-- The only cases followed by those of these subscribers limited to some cases.
SELECT subscriber_id, case_id FROM subscriber_cases WHERE subscriber_id = ANY(:subscriber_ids)

-- name: admin_subscribers
-- `subscribers list|show`: every field, with the cases a subscription is limited to.
SELECT s.id, s.party_id, s.email, s.phone, s.events, s.language, s.origin, s.reference,
       s.consent_at, s.created_at, s.updated_at,
       coalesce((SELECT array_agg(c.case_id ORDER BY c.case_id) FROM subscriber_cases AS c
                 WHERE c.subscriber_id = s.id), '{}') AS cases
FROM subscribers AS s
WHERE (CAST(:id AS bigint) IS NULL OR s.id = CAST(:id AS bigint))
  AND (CAST(:party_id AS text) IS NULL OR s.party_id = CAST(:party_id AS text))
  AND (CAST(:case_id AS text) IS NULL OR EXISTS (
        SELECT 1 FROM subscriber_cases AS c
        WHERE c.subscriber_id = s.id AND c.case_id = CAST(:case_id AS text)))
ORDER BY s.id

-- name: admin_insert_subscriber
-- `subscribers add|import`: a new subscription with how and when it was made.
INSERT INTO subscribers
    (party_id, email, phone, events, language, origin, reference, consent_at)
VALUES (:party_id, :email, :phone, :events, :language, :origin, :reference, :consent_at)
ON CONFLICT (party_id) DO NOTHING
RETURNING id

-- name: admin_update_subscriber
-- `subscribers update`: the whole row as it is to become.
UPDATE subscribers
SET email = :email, phone = :phone, events = :events, language = :language,
    origin = :origin, reference = :reference, consent_at = :consent_at, updated_at = now()
WHERE id = :id
RETURNING id

-- name: clear_subscriber_cases
-- Back to every case of the party (or before setting a new list).
DELETE FROM subscriber_cases WHERE subscriber_id = :subscriber_id

-- name: add_subscriber_case
-- Limit a subscription to one more case (executemany).
INSERT INTO subscriber_cases (subscriber_id, case_id) VALUES (:subscriber_id, :case_id)
ON CONFLICT DO NOTHING

-- name: subscriber_notification_counts
-- `subscribers show`: what was sent to them, by channel and status.
SELECT channel, status, count(*) AS n FROM notifications WHERE subscriber_id = :subscriber_id
GROUP BY channel, status ORDER BY channel, status

-- name: cancel_open_notifications_of_subscriber
-- `subscribers remove|forget`: nothing more goes out to a subscription that ended.
UPDATE notifications
SET status = 'cancelled', last_error = :reason, claimed_by = NULL, updated_at = now()
WHERE subscriber_id = :subscriber_id AND status IN ('pending', 'held')
RETURNING id

-- name: admin_delete_subscriber
-- `subscribers remove|forget`: the subscription ends; notifications keep their counts.
DELETE FROM subscribers WHERE id = :id RETURNING id

-- name: personal_texts_of_subscriber
-- `subscribers forget`: every stored text that may hold the citizen's address.
SELECT n.id AS notification_id, NULL::bigint AS attempt_id, n.recipient, n.last_error AS error
FROM notifications AS n WHERE n.subscriber_id = :subscriber_id
UNION ALL
SELECT a.notification_id, a.id, n.recipient, a.error
FROM notification_attempts AS a JOIN notifications AS n ON n.id = a.notification_id
WHERE n.subscriber_id = :subscriber_id AND a.error IS NOT NULL

-- name: scrub_attempt_error
-- `subscribers forget`: an attempt's error with the address taken out (executemany).
UPDATE notification_attempts SET error = :error WHERE id = :id

-- name: erase_notifications_of_subscriber
-- `subscribers forget`: addresses and rendered texts removed; channel, type, status, times kept.
UPDATE notifications
SET recipient = NULL, subject = NULL, body = NULL, body_html = NULL, event_values = NULL,
    last_error = CAST(:error AS text), updated_at = now()
WHERE id = :id

-- name: admin_notifications
-- `notifications list` and the console's outbox: newest first, filtered; :before (an id) pages
-- on to those listed after it (same creation time: lower ids), by the time index.
SELECT n.id, n.created_at, n.updated_at, n.source_event_id, n.event_type, n.event_kind,
       n.case_id, n.subscriber_id, s.party_id, n.channel, n.language, n.recipient,
       n.status, n.attempts, n.next_attempt_at, n.sent_at, n.last_error
FROM notifications AS n LEFT JOIN subscribers AS s ON s.id = n.subscriber_id
WHERE (CAST(:status AS text) IS NULL OR n.status = CAST(:status AS text))
  AND (CAST(:subscriber_id AS bigint) IS NULL OR n.subscriber_id = CAST(:subscriber_id AS bigint))
  AND (CAST(:case_id AS text) IS NULL OR n.case_id = CAST(:case_id AS text))
  AND (CAST(:since AS timestamptz) IS NULL OR n.created_at >= CAST(:since AS timestamptz))
  AND (CAST(:until AS timestamptz) IS NULL OR n.created_at < CAST(:until AS timestamptz))
  AND (CAST(:channel AS text) IS NULL OR n.channel = CAST(:channel AS text))
  AND (CAST(:event_type AS text) IS NULL OR n.event_type = CAST(:event_type AS text))
  AND (CAST(:before AS bigint) IS NULL
       OR (n.created_at <= (SELECT b.created_at FROM notifications AS b
                            WHERE b.id = CAST(:before AS bigint))
           AND (n.created_at, n.id) < (SELECT b.created_at, b.id FROM notifications AS b
                                       WHERE b.id = CAST(:before AS bigint))))
ORDER BY n.created_at DESC, n.id DESC
LIMIT :limit

-- name: admin_notifications_by_id
-- `notifications show|retry|cancel`: notifications by id, every column.
SELECT n.*, s.party_id FROM notifications AS n
LEFT JOIN subscribers AS s ON s.id = n.subscriber_id
WHERE n.id = ANY(:ids)
ORDER BY n.id

-- name: admin_notification_attempts
-- `notifications show`: every delivery attempt, in order.
SELECT attempt, worker_id, started_at, finished_at, outcome, error, provider_id
FROM notification_attempts WHERE notification_id = :id ORDER BY id

-- name: failed_notification_ids
-- `notifications retry --failed [--since T]`: failed since T (by the time of failure).
SELECT id FROM notifications
WHERE status = 'failed'
  AND (CAST(:since AS timestamptz) IS NULL OR updated_at >= CAST(:since AS timestamptz))
ORDER BY id

-- name: retry_notification
-- `notifications retry`: due again now with a fresh count of attempts (the history stays in
-- notification_attempts), with the re-rendered text and the subscriber's current address.
UPDATE notifications
SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL,
    claimed_by = NULL, recipient = :recipient, subject = :subject, body = :body,
    body_html = :body_html, sms_encoding = :sms_encoding, sms_segments = :sms_segments,
    updated_at = now()
WHERE id = :id AND status = :expected_status
RETURNING id

-- name: cancel_notification
-- `notifications cancel`: never to be sent (pending, held by the storm guard, or failed).
UPDATE notifications
SET status = 'cancelled', claimed_by = NULL, updated_at = now()
WHERE id = :id AND status IN ('pending', 'held', 'failed')
RETURNING id

-- ---- the citizens' portal (vopi_obvo/portal/) ----

-- name: portal_upsert_identity
-- A certificate signs in: its identity row, created at the first sign-in.
INSERT INTO portal_identities (issuer, subject_serial) VALUES (:issuer, :serial)
ON CONFLICT (issuer, subject_serial) DO UPDATE SET last_seen_at = now()
RETURNING id, party_id

-- name: portal_link_identity
-- First sign-in: the certificate is linked to a VOPI party (tax number query or a code).
UPDATE portal_identities SET party_id = :party_id, linked_at = now(), linked_by = :linked_by
WHERE id = :identity_id

-- name: portal_get_session
-- A live session by the keyed hash of its cookie.
SELECT s.identity_id, s.csrf_token, s.method, s.display_name, s.saml_name_id,
       s.saml_name_id_format, s.saml_session_index, i.party_id
FROM portal_sessions s JOIN portal_identities i ON i.id = s.identity_id
WHERE s.token_hash = :token_hash AND s.expires_at > now()

-- name: portal_touch_session
-- Sliding expiry while the citizen is active.
UPDATE portal_sessions
SET last_seen_at = now(), expires_at = now() + make_interval(secs => :ttl)
WHERE token_hash = :token_hash

-- name: portal_create_session
-- A new session after sign-in (certificate or SI-PASS).
INSERT INTO portal_sessions (token_hash, identity_id, csrf_token, expires_at, method,
                             display_name, saml_name_id, saml_name_id_format, saml_session_index)
VALUES (:token_hash, :identity_id, :csrf_token, now() + make_interval(secs => :ttl), :method,
        :display_name, :saml_name_id, :saml_name_id_format, :saml_session_index)

-- name: portal_delete_saml_sessions
-- Single logout started by SI-PASS: every session of that SAML subject ends.
DELETE FROM portal_sessions WHERE saml_name_id = :name_id RETURNING identity_id

-- name: portal_insert_saml_request
-- An AuthnRequest sent to SI-PASS from this browser (expired ones go at the same time).
WITH gone AS (DELETE FROM portal_saml_requests WHERE expires_at <= now())
INSERT INTO portal_saml_requests (request_id, browser_hash, expires_at)
VALUES (:request_id, :browser_hash, now() + make_interval(secs => :ttl))

-- name: portal_saml_requests_of_browser
-- The AuthnRequests a response from this browser may answer.
SELECT request_id FROM portal_saml_requests
WHERE browser_hash = :browser_hash AND expires_at > now()

-- name: portal_use_saml_assertion
-- An assertion signs in once: a row back means first use, none means a replay.
WITH gone AS (DELETE FROM portal_saml_assertions WHERE expires_at <= now())
INSERT INTO portal_saml_assertions (assertion_id, expires_at)
VALUES (:assertion_id, to_timestamp(:not_on_or_after))
ON CONFLICT (assertion_id) DO NOTHING
RETURNING assertion_id

-- name: portal_delete_session
-- Sign-out.
DELETE FROM portal_sessions WHERE token_hash = :token_hash

-- name: portal_delete_expired_sessions
-- Housekeeping at sign-in: sessions past their expiry.
DELETE FROM portal_sessions WHERE expires_at <= now()

-- name: portal_subscriber_by_party
-- The party's subscription as the portal and the API show it.
SELECT id, party_id, email, phone, events, language, origin, consent_at, key_only_channels,
       created_at, updated_at
FROM subscribers WHERE party_id = :party_id

-- name: portal_parties_by_contact
-- Linking by code: parties whose registered e-mail or phone is the one the citizen typed.
SELECT party_id, email, phone FROM subscribers
WHERE lower(email) = lower(:email) OR phone = :phone
ORDER BY id

-- name: portal_update_subscriber
-- Settings changed on the portal or through the API.
UPDATE subscribers
SET email = :email, phone = :phone, events = :events, language = :language,
    key_only_channels = CAST(:key_only_channels AS text[]), updated_at = now()
WHERE id = :id

-- name: portal_insert_subscriber
-- A subscription made on the portal (e-vloga) or through the API.
INSERT INTO subscribers (party_id, email, phone, events, language, origin, consent_at, reference)
VALUES (:party_id, :email, :phone, :events, :language, :origin, :consent_at, :reference)
ON CONFLICT (party_id) DO NOTHING
RETURNING id

-- name: portal_delete_subscriber
-- Unsubscribe from everything; sent notifications keep their history without the link.
DELETE FROM subscribers WHERE id = :id RETURNING id

-- name: portal_add_key_only_channel
-- List-Unsubscribe: non-key events off for one channel (idempotent).
UPDATE subscribers
SET key_only_channels = array_append(key_only_channels, CAST(:channel AS text)),
    updated_at = now()
WHERE id = :id AND NOT (CAST(:channel AS text) = ANY (key_only_channels))
RETURNING id

-- name: portal_key_event_types
-- Event types a citizen cannot switch off.
SELECT code, name FROM event_types WHERE kind = 'key' ORDER BY name, code

-- name: portal_party_notifications
-- "My notifications": what was sent to the party's subscription in the last days.
SELECT n.id, n.created_at, n.sent_at, n.channel, n.event_type, et.name AS event_name,
       n.case_id, n.status, n.recipient, n.subject, n.body
FROM notifications AS n
JOIN subscribers AS s ON s.id = n.subscriber_id
LEFT JOIN event_types AS et ON et.code = n.event_type
WHERE s.party_id = :party_id AND n.created_at > now() - make_interval(days => :days)
ORDER BY n.created_at DESC, n.id DESC
LIMIT :limit

-- name: portal_insert_code
-- A new one-time code (only its keyed hash).
INSERT INTO portal_codes (identity_id, purpose, target, payload, code_hash, expires_at)
VALUES (:identity_id, :purpose, :target, CAST(:payload AS jsonb), :code_hash,
        now() + make_interval(secs => :ttl))
RETURNING id

-- name: portal_supersede_codes
-- A new code for the same purpose voids the open older ones.
UPDATE portal_codes SET closed_at = now(), outcome = 'superseded'
WHERE identity_id = :identity_id AND purpose = :purpose AND closed_at IS NULL

-- name: portal_recent_code_count
-- Codes sent to this identity in the last hour (limit against SMS and mail bombing).
SELECT count(*) FROM portal_codes
WHERE identity_id = :identity_id AND created_at > now() - interval '1 hour'

-- name: portal_open_codes
-- Changes waiting for their code, for the pages.
SELECT id, identity_id, purpose, target, payload, code_hash, attempts, expires_at
FROM portal_codes
WHERE identity_id = :identity_id AND closed_at IS NULL
ORDER BY id

-- name: portal_open_code_for_update
-- The open code of a purpose, locked while an entry is checked.
SELECT id, identity_id, purpose, target, payload, code_hash, attempts, expires_at
FROM portal_codes
WHERE identity_id = :identity_id AND purpose = :purpose AND closed_at IS NULL
ORDER BY id DESC
LIMIT 1
FOR UPDATE

-- name: portal_count_attempt
-- A wrong code entered.
UPDATE portal_codes SET attempts = attempts + 1 WHERE id = :id RETURNING attempts

-- name: portal_close_code
-- A code confirmed, or void after too many attempts.
UPDATE portal_codes SET closed_at = now(), outcome = :outcome WHERE id = :id

-- name: portal_insert_audit
-- One entry of the portal's audit trail.
INSERT INTO portal_audit (actor, action, outcome, party_id, subscriber_id, peer, detail)
VALUES (:actor, :action, :outcome, :party_id, :subscriber_id, :peer, CAST(:detail AS jsonb))

-- name: portal_notification_for_unsubscribe
-- The notification that carried a List-Unsubscribe link.
SELECT id, channel, subscriber_id FROM notifications WHERE id = :id

-- name: portal_notification_for_report
-- An SMS notification a delivery report names by our reference, locked while it is updated.
SELECT id, channel, status, provider_id FROM notifications WHERE id = :id FOR UPDATE

-- name: portal_notification_by_provider_id
-- An SMS notification a delivery report names only by the gateway's message id.
SELECT id FROM notifications
WHERE channel = 'sms' AND provider_id = :provider_id
ORDER BY id DESC LIMIT 1

-- name: portal_record_status_report
-- A delivery report as received; a repeat inserts nothing.
INSERT INTO sms_status_reports (notification_id, status, provider_status, error)
VALUES (:notification_id, :status, :provider_status, :error)
ON CONFLICT DO NOTHING
RETURNING notification_id

-- name: portal_set_delivery_status
-- The network's verdict on an SMS notification.
UPDATE notifications
SET status = :status, delivery_error = :error, updated_at = now(),
    delivered_at = CASE WHEN :status = 'delivered' THEN now() ELSE delivered_at END
WHERE id = :id

-- ---- messages: storm guard, quiet hours, coalescing (issue 3) ----

-- name: lock_held
-- Serialises the poller's holding decisions with release/cancel of held notifications.
SELECT pg_advisory_xact_lock(hashtext(:lock_name))

-- name: add_delivery_counts
-- Storm guard: add a batch's new notifications to the per-minute and per-hour counters and
-- return the totals after the batch, plus (scope 'storm') the event types in a storm: the one
-- statement per batch when nothing is held.
WITH added AS (
    INSERT INTO delivery_counts AS c (scope, key, bucket, count)
    SELECT * FROM unnest(CAST(:scopes AS text[]), CAST(:keys AS text[]),
                         CAST(:buckets AS timestamptz[]), CAST(:counts AS bigint[]))
    ON CONFLICT (scope, key, bucket) DO UPDATE
    SET count = c.count + excluded.count, updated_at = now()
    RETURNING c.scope, c.key, c.bucket, c.count AS total
)
SELECT scope, key, bucket, total FROM added
UNION ALL
SELECT 'storm', event_type, NULL::timestamptz, NULL::bigint FROM storms

-- name: prune_delivery_counts
-- Counters that can no longer change a decision.
DELETE FROM delivery_counts WHERE updated_at < now() - make_interval(secs => :older_than)

-- name: list_storms
-- Event types in a storm (their new notifications are held).
SELECT event_type, started_at, minute, threshold, count AS storm_count FROM storms
ORDER BY event_type

-- name: start_storm
-- An event type went over [delivery] storm_threshold in one minute.
INSERT INTO storms (event_type, minute, threshold, count)
VALUES (:event_type, :minute, :threshold, :count)
ON CONFLICT (event_type) DO NOTHING

-- name: hold_pending_of_storm
-- A storm began: the notifications of its minute that no sender has tried yet are held too.
UPDATE notifications
SET status = 'held', held_reason = 'storm', updated_at = now()
WHERE status = 'pending' AND attempts = 0 AND event_type = :event_type
  AND occurred_at >= :minute AND occurred_at < :minute + interval '1 minute'

-- name: end_storm
-- `notifications release|cancel --event-type`: the operator has decided.
DELETE FROM storms WHERE event_type = :event_type RETURNING event_type

-- name: release_held
-- `notifications release --event-type`: held notifications are sent after all, from now.
UPDATE notifications
SET status = 'pending', next_attempt_at = now(), updated_at = now()
WHERE status = 'held' AND event_type = :event_type

-- name: cancel_held
-- `notifications cancel --event-type`: held notifications are never sent (the rows stay).
UPDATE notifications
SET status = 'cancelled',
    last_error = 'cancelled by an operator while held (' || coalesce(held_reason, 'held') || ')',
    updated_at = now()
WHERE status = 'held' AND event_type = :event_type

-- name: held_summary
-- Held notifications by event type and reason, for `status`.
SELECT event_type, held_reason, count(*) AS n, min(created_at) AS oldest
FROM notifications WHERE status = 'held'
GROUP BY event_type, held_reason ORDER BY event_type, held_reason

-- name: defer_quiet_sms
-- Quiet hours: due SMS of these kinds wait until the window ends (not an attempt).
UPDATE notifications
SET next_attempt_at = :until, updated_at = now()
WHERE status = 'pending' AND channel = 'sms' AND next_attempt_at <= now()
  AND event_kind = ANY(:kinds)

-- name: defer_claimed
-- Quiet hours: a claimed SMS goes back unsent, due when the window ends; attempt not counted.
UPDATE notifications
SET status = 'pending', attempts = greatest(attempts - 1, 0), claimed_by = NULL,
    next_attempt_at = :until, updated_at = now()
WHERE status = 'sending' AND claimed_by = :worker_id AND id = ANY(:ids)

-- name: coalesce_claimed
-- Coalescing: what grouping needs of the notifications just claimed for their first try.
SELECT n.id, n.subscriber_id, n.channel, n.case_id, n.source_event_id, n.event_type,
       n.event_kind, n.occurred_at, n.created_at, n.subject, n.body, n.body_html,
       n.event_values, n.language, s.party_id
FROM notifications AS n LEFT JOIN subscribers AS s ON s.id = n.subscriber_id
WHERE n.id = ANY(:ids) AND n.status = 'sending' AND n.claimed_by = :worker_id
  AND n.subscriber_id IS NOT NULL AND n.case_id IS NOT NULL

-- name: coalesce_companions
-- Coalescing: never-tried pending notifications of the same subscriber, channel and case
-- whose event is within the window (seconds) of a claimed one's; locked, others skip them.
SELECT c.id AS claimed_id, o.id, o.subscriber_id, o.channel, o.case_id, o.source_event_id,
       o.event_type, o.event_kind, o.occurred_at, o.created_at, o.subject, o.body,
       o.body_html, o.event_values
FROM notifications AS c
JOIN notifications AS o
  ON o.subscriber_id = c.subscriber_id AND o.channel = c.channel AND o.case_id = c.case_id
WHERE c.id = ANY(:ids) AND o.id <> c.id
  AND o.status = 'pending' AND o.attempts = 0
  AND abs(extract(epoch FROM coalesce(o.occurred_at, o.created_at)
                            - coalesce(c.occurred_at, c.created_at))) <= :window
ORDER BY o.id
FOR UPDATE OF o SKIP LOCKED

-- name: forget_event_values
-- Coalescing: an event's values are no longer needed once its notification was claimed.
UPDATE notifications SET event_values = NULL
WHERE id = ANY(:ids) AND event_values IS NOT NULL

-- name: mark_coalesced
-- Notifications whose events travel in another's message: pending companions, or claimed
-- ones of this worker (their claim is not an attempt).
UPDATE notifications
SET status = 'coalesced', coalesced_into = :into, claimed_by = NULL, event_values = NULL,
    attempts = CASE WHEN status = 'sending' THEN greatest(attempts - 1, 0) ELSE attempts END,
    updated_at = now()
WHERE id = ANY(:ids)
  AND (status = 'pending' OR (status = 'sending' AND claimed_by = :worker_id))

-- name: set_coalesced_text
-- The message for several events, on the notification that carries it.
UPDATE notifications
SET subject = :subject, body = :body, body_html = :body_html, sms_encoding = :sms_encoding,
    sms_segments = :sms_segments, event_values = NULL, updated_at = now()
WHERE id = :id AND status = 'sending' AND claimed_by = :worker_id

-- ---- operations (`obvo status`, STATUS=, shutdown, retention) ----

-- name: vopi_oldest_unread
-- [vopi] The first event above the cursor; its age on VOPI's own clock is the lag.
SELECT ev.event_id, ev.occurred_at
FROM ({events_query}) AS ev
WHERE ev.event_id > :after_id
ORDER BY ev.event_id
LIMIT 1

-- name: health_counts
-- Open and recently failed notifications and the cursor, each by index: STATUS=, `status`.
SELECT (SELECT count(*) FROM notifications WHERE status IN ('pending', 'sending')) AS pending,
       (SELECT count(*) FROM notifications
         WHERE status IN ('failed', 'undelivered')
           AND updated_at > now() - make_interval(secs => :window)) AS failed_recent,
       (SELECT last_event_id FROM source_cursor WHERE source = :source) AS cursor

-- name: release_own_claims
-- Stopping: whatever this process still holds goes back to pending for another process. The
-- messages in flight (:in_flight, their sends cut short) keep their attempt and get a note;
-- the others were never tried.
WITH released AS (
    UPDATE notifications
    SET status = 'pending', claimed_by = NULL, updated_at = now(),
        attempts = CASE WHEN id = ANY(CAST(:in_flight AS bigint[])) THEN attempts
                        ELSE greatest(attempts - 1, 0) END,
        last_error = CASE WHEN id = ANY(CAST(:in_flight AS bigint[])) THEN CAST(:error AS text)
                          ELSE last_error END
    WHERE status = 'sending' AND claimed_by = :worker_id
    RETURNING id, attempts, claimed_at
), noted AS (
    INSERT INTO notification_attempts
        (notification_id, attempt, worker_id, started_at, outcome, error)
    SELECT id, attempts, :worker_id, coalesce(claimed_at, now()), 'taken_back',
           CAST(:error AS text)
    FROM released WHERE id = ANY(CAST(:in_flight AS bigint[]))
)
SELECT id FROM released

-- name: retention_try_lock
-- One purge at a time across processes (daemon job, `obvo purge`, a standby); per transaction.
SELECT pg_try_advisory_xact_lock(hashtext('obvo-retention:' || current_schema())) AS locked

-- name: retention_preview
-- `obvo purge --dry-run`: notifications a purge would anonymise now, and open ones it skips.
SELECT count(*) FILTER (WHERE status NOT IN ('pending', 'sending', 'held')) AS due,
       count(*) FILTER (WHERE status IN ('pending', 'sending', 'held')) AS still_open,
       min(created_at) FILTER (WHERE status NOT IN ('pending', 'sending', 'held')) AS oldest
FROM notifications
WHERE purged_at IS NULL AND created_at < :cutoff

-- name: retention_purge_batch
-- Anonymise one batch of finished notifications created before the cutoff: addresses, texts
-- and the links to subscriber and case go; addresses and numbers are cut out of error texts.
-- Status, channel, event type, language, attempts and times stay for statistics.
WITH batch AS (
    SELECT id FROM notifications
    WHERE purged_at IS NULL AND created_at < :cutoff
      AND status NOT IN ('pending', 'sending', 'held')
    ORDER BY created_at, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
), scrubbed_attempts AS (
    UPDATE notification_attempts AS a
    SET error = scrub_contacts(a.error)
    FROM batch
    WHERE a.notification_id = batch.id AND a.error IS NOT NULL
)
UPDATE notifications AS n
SET recipient = NULL, subject = NULL, body = NULL, body_html = NULL, event_values = NULL,
    subscriber_id = NULL, case_id = NULL,
    last_error = scrub_contacts(n.last_error), purged_at = now()
FROM batch
WHERE n.id = batch.id
RETURNING n.id

-- name: sms_parts_submitted
-- The SMSC's message id of each part of an SMS (SMPP); completes a row a receipt made first.
INSERT INTO sms_parts (gateway, message_id, notification_id, part, parts, submitted_at)
VALUES (:gateway, :message_id, :notification_id, :part, :parts, now())
ON CONFLICT (gateway, message_id) DO UPDATE
SET notification_id = excluded.notification_id, part = excluded.part, parts = excluded.parts,
    submitted_at = excluded.submitted_at

-- name: sms_receipt
-- A delivery receipt (deliver_sm) for one part; may come before the part is recorded.
INSERT INTO sms_parts (gateway, message_id, state, error_code, receipt_at)
VALUES (:gateway, :message_id, :state, :error_code, now())
ON CONFLICT (gateway, message_id) DO UPDATE
SET state = excluded.state, error_code = excluded.error_code, receipt_at = excluded.receipt_at
RETURNING notification_id

-- name: settle_sms_deliveries
-- A sent SMS becomes delivered when every part is DELIVRD, undelivered as soon as one part
-- failed for good; for :notification_id, or for every receipt of the last :window seconds
-- (receipts that came before the dispatcher marked the message sent).
WITH candidates AS (
    SELECT DISTINCT notification_id FROM sms_parts
    WHERE notification_id IS NOT NULL
      AND (notification_id = CAST(:notification_id AS bigint)
           OR (CAST(:notification_id AS bigint) IS NULL
               AND receipt_at > now() - make_interval(secs => :window)))
), summary AS (
    SELECT p.notification_id,
           count(*) AS known,
           max(p.parts) AS parts,
           count(*) FILTER (WHERE p.state = 'DELIVRD') AS delivered,
           bool_or(p.state IN ('EXPIRED', 'DELETED', 'UNDELIV', 'UNKNOWN', 'REJECTD')) AS failed,
           max(p.receipt_at) AS last_receipt,
           string_agg(p.state || coalesce(' err:' || p.error_code, ''), ', ' ORDER BY p.part)
               FILTER (WHERE p.state IS NOT NULL AND p.state <> 'DELIVRD') AS problems
    FROM sms_parts AS p JOIN candidates USING (notification_id)
    GROUP BY p.notification_id
)
UPDATE notifications AS n
SET status = CASE WHEN s.failed THEN 'undelivered' ELSE 'delivered' END,
    delivered_at = s.last_receipt, delivery_error = s.problems, updated_at = now()
FROM summary AS s
WHERE n.id = s.notification_id AND n.status = 'sent'
  AND (s.failed OR (s.delivered = s.parts AND s.known = s.parts))
RETURNING n.id, n.status, n.delivery_error

-- name: retention_cutoff
-- The purge's cutoff on the database's clock: created before this = older than the limit.
SELECT now() - make_interval(days => :days) AS cutoff

-- name: metrics_holes
-- Prometheus: missing ids still looked up (the ids in the source's hole ranges).
SELECT coalesce(sum(last_id - first_id + 1), 0) FROM pending_holes WHERE source = :source

-- name: portal_identities_present
-- `subscribers forget`: whether the portal's tables exist in this schema.
SELECT to_regclass('portal_identities') IS NOT NULL AS present

-- name: forget_portal_identities_of_party
-- `subscribers forget`: the certificate links of the party (their sessions and pending codes,
-- which may hold a new address, go with them by cascade).
DELETE FROM portal_identities WHERE party_id = :party_id RETURNING id

-- ---- the staff console (vopi_obvo/console/) ----

-- name: console_grant_staff
-- Grant (or change) a staff member's role; a revoked member granted again is active again.
INSERT INTO console_staff (issuer, subject_serial, name, role, granted_by)
VALUES (:issuer, :serial, :name, :role, :granted_by)
ON CONFLICT (issuer, subject_serial) DO UPDATE
SET name = EXCLUDED.name, role = EXCLUDED.role, granted_at = now(),
    granted_by = EXCLUDED.granted_by, revoked_at = NULL, revoked_by = NULL
RETURNING id, (xmax = 0) AS created

-- name: console_revoke_staff
-- Take a staff member's access away (the row stays for the audit); their sessions end too.
WITH revoked AS (
    UPDATE console_staff SET revoked_at = now(), revoked_by = :revoked_by
    WHERE id = :id AND revoked_at IS NULL
    RETURNING id
), ended AS (
    DELETE FROM console_sessions WHERE staff_id IN (SELECT id FROM revoked)
)
SELECT id FROM revoked

-- name: console_staff
-- Staff members, active first; one by id, or one by certificate.
SELECT id, issuer, subject_serial, name, role, granted_at, granted_by, revoked_at, revoked_by,
       last_seen_at
FROM console_staff
WHERE (CAST(:id AS bigint) IS NULL OR id = CAST(:id AS bigint))
  AND (CAST(:issuer AS text) IS NULL OR (issuer = CAST(:issuer AS text)
                                         AND subject_serial = CAST(:serial AS text)))
ORDER BY revoked_at IS NOT NULL, name, id

-- name: console_staff_seen
-- A sign-in: when the member was last here.
UPDATE console_staff SET last_seen_at = now() WHERE id = :id

-- name: console_get_session
-- A live session of an active member, by the keyed hash of its cookie.
SELECT s.staff_id, s.csrf_token FROM console_sessions AS s
JOIN console_staff AS m ON m.id = s.staff_id
WHERE s.token_hash = :token_hash AND s.expires_at > now() AND m.revoked_at IS NULL

-- name: console_touch_session
-- Sliding expiry while the member is active.
UPDATE console_sessions SET expires_at = now() + make_interval(secs => :ttl)
WHERE token_hash = :token_hash

-- name: console_create_session
-- A new session after sign-in; expired sessions of anyone are cleared on the way.
WITH cleared AS (DELETE FROM console_sessions WHERE expires_at < now())
INSERT INTO console_sessions (token_hash, staff_id, csrf_token, expires_at)
VALUES (:token_hash, :staff_id, :csrf_token, now() + make_interval(secs => :ttl))

-- name: console_delete_session
-- Sign-out.
DELETE FROM console_sessions WHERE token_hash = :token_hash

-- name: console_put_notice
-- After a change: what the next page of this session says about it (redirect after post).
UPDATE console_sessions SET notice = CAST(:notice AS jsonb)
WHERE token_hash = :token_hash AND staff_id = :staff_id

-- name: console_take_notice
-- The next page shows the notice once: read and cleared in one statement (no write when none).
UPDATE console_sessions AS s SET notice = NULL
FROM (SELECT token_hash, notice FROM console_sessions
      WHERE token_hash = :token_hash AND staff_id = :staff_id AND notice IS NOT NULL
      FOR UPDATE) AS before
WHERE s.token_hash = before.token_hash
RETURNING before.notice

-- name: console_counts_since
-- The overview: notifications created since a moment, by status and channel.
SELECT status, channel, count(*) AS n FROM notifications
WHERE created_at >= :since
GROUP BY status, channel

-- name: console_daily_by_channel
-- The overview's chart: notifications per Ljubljana day and channel.
SELECT (created_at AT TIME ZONE 'Europe/Ljubljana')::date AS day, channel, count(*) AS n
FROM notifications
WHERE created_at >= :since
GROUP BY 1, 2

-- name: console_daily_failures
-- The overview's chart: notifications that failed (or were not delivered), per Ljubljana day
-- of their last change.
SELECT (updated_at AT TIME ZONE 'Europe/Ljubljana')::date AS day, count(*) AS n
FROM notifications
WHERE status IN ('failed', 'undelivered') AND updated_at >= :since
GROUP BY 1

-- name: console_sms_parts_by_month
-- The SMS bill: parts handed to a gateway, per Ljubljana month of sending and event type.
SELECT to_char(sent_at AT TIME ZONE 'Europe/Ljubljana', 'YYYY-MM') AS month, event_type,
       sum(sms_segments) AS parts, count(*) AS messages
FROM notifications
WHERE channel = 'sms' AND sent_at IS NOT NULL AND sms_segments IS NOT NULL
  AND sent_at >= :since
GROUP BY 1, 2
ORDER BY 1, 2

-- name: console_held_of_type
-- The console's storm view: the held notifications of one event type, oldest first.
SELECT n.id, n.created_at, n.source_event_id, n.case_id, n.subscriber_id, n.channel,
       n.held_reason
FROM notifications AS n
WHERE n.status = 'held' AND n.event_type = :event_type
ORDER BY n.id
LIMIT :limit

-- name: console_subscriber_ids_by_contact
-- The console's search: subscribers with exactly this (normalised) e-mail or phone.
SELECT id FROM subscribers
WHERE (CAST(:email AS text) IS NOT NULL AND email = CAST(:email AS text))
   OR (CAST(:phone AS text) IS NOT NULL AND phone = CAST(:phone AS text))
ORDER BY id
