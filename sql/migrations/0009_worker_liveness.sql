-- Delivery under faults: how PostgreSQL knows that a worker lives, and what it reports.
-- Runs with search_path = OBVO's schema.

-- 'lock': the process holds, on a session of its own, the advisory lock
-- (hashtext('obvo-worker:' || schema), hashtext(worker id)); the moment that session ends
-- (kill -9, a crashed host once TCP keepalives notice, pg_terminate_backend) pg_locks stops
-- showing it and its claims are taken back by the next dispatch of any worker.
-- 'heartbeat': behind a connection pooler in transaction mode a session lock means nothing;
-- only the heartbeat age ([delivery] stale_worker_after) tells.
ALTER TABLE workers ADD COLUMN liveness text NOT NULL DEFAULT 'heartbeat'
    CHECK (liveness IN ('lock', 'heartbeat'));
-- A problem with OBVO's own configuration that this worker meets while sending (the SMTP
-- server refuses OBVO's sender or credentials, the SMS gateway its token): `obvo status`.
ALTER TABLE workers ADD COLUMN problem text;
ALTER TABLE workers ADD COLUMN problem_since timestamptz;
