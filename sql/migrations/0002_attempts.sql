-- Every delivery attempt of a notification, for `notifications show` and for audits of what
-- the SMTP server or SMS gateway answered.
CREATE TABLE notification_attempts (
    id              bigserial PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    worker_id       text,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL DEFAULT now(),
    outcome         text NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed', 'taken_back')),
    error           text,
    provider_id     text
);

CREATE INDEX notification_attempts_notification ON notification_attempts (notification_id, id);
