-- Administration: how a subscription was made, subscriptions limited to given cases, and the
-- audit trail of every administrative change. Runs with search_path = OBVO's schema.

-- How the citizen subscribed, the document reference of a written application, and when
-- consent was given. IF NOT EXISTS: the portal's migration may add the same columns; rows from
-- before this migration keep NULL (not recorded).
ALTER TABLE subscribers
    ADD COLUMN IF NOT EXISTS origin text
        CHECK (origin IN ('in_person', 'written', 'e_vloga')),
    ADD COLUMN IF NOT EXISTS reference text,
    ADD COLUMN IF NOT EXISTS consent_at timestamptz;

-- A subscriber with rows here hears only about these cases (VOPI case ids as events_query
-- returns them in case_id); without rows, about every case of the party.
CREATE TABLE subscriber_cases (
    subscriber_id bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    case_id       text NOT NULL CHECK (case_id <> ''),
    added_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscriber_id, case_id)
);

-- Every administrative change (rules, subscribers, retries, cancellations): who, when, what.
-- `detail` never holds a citizen's address or message text, so erasure leaves it as it is.
CREATE TABLE audit_log (
    id     bigserial PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    actor  text NOT NULL CHECK (actor <> ''),
    action text NOT NULL,
    target text,
    detail jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_at ON audit_log (at);
-- `notifications show` lists the actions on one notification.
CREATE INDEX audit_log_target ON audit_log (target);
-- `notifications list --subscriber/--case`, erasure of one subscriber's texts.
CREATE INDEX IF NOT EXISTS notifications_subscriber ON notifications (subscriber_id);
CREATE INDEX IF NOT EXISTS notifications_created ON notifications (created_at);
