-- Messages: what an SMS costs, holding (storm guard, per-subscriber limit) and coalescing.
-- Runs with search_path = OBVO's schema.

-- What the municipality pays for an SMS: the data coding and the number of parts of the text
-- as sent (after transliteration and shortening). NULL for e-mail, for an SMS whose text
-- could not be rendered, and for SMS created before this migration (not recomputed: a guess
-- is worse than no figure on a bill).
ALTER TABLE notifications
    ADD COLUMN sms_encoding text CHECK (sms_encoding IN ('gsm7', 'ucs2')),
    ADD COLUMN sms_segments integer CHECK (sms_segments >= 1),
    -- status 'held': which limit held it ('storm' or 'subscriber_rate'); kept after release
    -- or cancellation as the record of why the message waited.
    ADD COLUMN held_reason text CHECK (held_reason IN ('storm', 'subscriber_rate')),
    -- status 'coalesced': the notification whose message carried this one's event.
    ADD COLUMN coalesced_into bigint REFERENCES notifications (id) ON DELETE SET NULL,
    -- With [delivery] coalesce_window on: the event's values (typed JSON, see
    -- vopi_obvo/event_values.py), to render one message for several events; cleared once the
    -- notification has been claimed for sending.
    ADD COLUMN event_values jsonb;

-- The full list of states, whichever other migration also changed it first: dropped and added
-- again under the name PostgreSQL gave the original inline constraint.
ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check CHECK (status IN (
    'pending', 'sending', 'sent', 'failed', 'cancelled', 'held', 'coalesced',
    'delivered', 'undelivered'));

-- `notifications release/cancel --event-type`, and held counts in `status`.
CREATE INDEX notifications_held ON notifications (event_type) WHERE status = 'held';
-- The members of a coalesced message.
CREATE INDEX notifications_coalesced_into ON notifications (coalesced_into)
    WHERE coalesced_into IS NOT NULL;
-- Finding a notification's companions (same subscriber) when coalescing.
CREATE INDEX IF NOT EXISTS notifications_subscriber ON notifications (subscriber_id);

-- New notifications counted per event type and minute, and per subscriber/channel and hour,
-- by the time the event happened in VOPI (so a backlog read after an outage is not a storm).
-- Written once per poller batch; rows untouched for hours are pruned.
CREATE TABLE delivery_counts (
    scope      text NOT NULL CHECK (scope IN ('event_type', 'subscriber')),
    key        text NOT NULL,
    bucket     timestamptz NOT NULL,
    count      bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key, bucket)
);

CREATE INDEX delivery_counts_updated ON delivery_counts (updated_at);

-- Event types in a storm: while a row is here, every new notification of the type is held;
-- `notifications release` or `cancel --event-type` ends it.
CREATE TABLE storms (
    event_type text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    -- the minute (of VOPI event time) that went over the threshold, and its count then
    minute     timestamptz NOT NULL,
    threshold  integer NOT NULL,
    count      bigint NOT NULL
);
