-- OBVO's own state. Runs with search_path set to OBVO's schema (default "obvo"),
-- so no object here is schema-qualified. Never touches VOPI's objects.

-- Highest VOPI event id read, per source.
CREATE TABLE source_cursor (
    source        text PRIMARY KEY,
    last_event_id bigint NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Ids below the cursor that were not visible when the cursor passed them: drawn by a VOPI
-- transaction that had not committed yet, or rolled back. Looked up on every poll.
CREATE TABLE pending_holes (
    source        text NOT NULL,
    event_id      bigint NOT NULL,
    first_seen_at timestamptz NOT NULL,
    -- VOPI's pg_snapshot_xmax(pg_current_snapshot()) when first seen: every transaction that
    -- could have drawn this id has an xid below it (or none yet, see pg_stat_activity).
    first_seen_xmax bigint,
    PRIMARY KEY (source, event_id)
);

CREATE TABLE event_types (
    code       text PRIMARY KEY,
    name       text NOT NULL DEFAULT '',
    kind       text NOT NULL CHECK (kind IN ('internal', 'notify', 'key')),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE templates (
    event_type    text NOT NULL REFERENCES event_types (code) ON DELETE CASCADE ON UPDATE CASCADE,
    language      text NOT NULL CHECK (language ~ '^[a-z]{2}$'),
    email_subject text,
    email_body    text,
    sms           text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_type, language)
);

CREATE TABLE unclassified_event_types (
    event_type    text PRIMARY KEY,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    seen_count    bigint NOT NULL DEFAULT 0,
    last_event_id bigint
);

CREATE TABLE subscribers (
    id         bigserial PRIMARY KEY,
    party_id   text NOT NULL UNIQUE,
    email      text,
    phone      text CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    events     text NOT NULL DEFAULT 'all' CHECK (events IN ('all', 'key')),
    language   text NOT NULL DEFAULT 'sl' CHECK (language ~ '^[a-z]{2}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (email IS NOT NULL OR phone IS NOT NULL)
);

-- Running obvo processes; a worker whose heartbeat is stale is dead and its claims are void.
CREATE TABLE workers (
    id           text PRIMARY KEY,
    hostname     text NOT NULL,
    pid          integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- The outbox: one row per (VOPI event, subscriber, channel), with its delivery state.
CREATE TABLE notifications (
    id              bigserial PRIMARY KEY,
    source_event_id bigint NOT NULL,
    subscriber_id   bigint REFERENCES subscribers (id) ON DELETE SET NULL,
    channel         text NOT NULL CHECK (channel IN ('email', 'sms')),
    event_type      text NOT NULL,
    event_kind      text NOT NULL CHECK (event_kind IN ('notify', 'key')),
    case_id         text,
    occurred_at     timestamptz,
    language        text NOT NULL,
    recipient       text,
    subject         text,
    body            text,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_by      text,
    claimed_at      timestamptz,
    last_error      text,
    provider_id     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    CONSTRAINT notifications_once UNIQUE (source_event_id, subscriber_id, channel)
);

-- The dispatcher's claim query: due pending rows, oldest first.
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
-- Taking back the claims of dead workers.
CREATE INDEX notifications_sending ON notifications (claimed_by) WHERE status = 'sending';
CREATE INDEX notifications_status ON notifications (status);
