-- The citizens' portal (`obvo portal`): certificate identities linked to VOPI parties,
-- sessions, confirmation codes, its audit trail, and SMS delivery reports.
-- Runs with search_path = OBVO's schema.

-- How a subscription was made and when consent was given (the administration migration adds
-- the same columns; IF NOT EXISTS lets either come first).
ALTER TABLE subscribers
    ADD COLUMN IF NOT EXISTS origin text
        CHECK (origin IN ('in_person', 'written', 'e_vloga')),
    ADD COLUMN IF NOT EXISTS reference text,
    ADD COLUMN IF NOT EXISTS consent_at timestamptz;

-- Channels on which the citizen turned non-key events off (the List-Unsubscribe link of an
-- e-mail): key events still arrive there, as the rules say.
ALTER TABLE subscribers
    ADD COLUMN IF NOT EXISTS key_only_channels text[] NOT NULL DEFAULT '{}'
        CHECK (key_only_channels <@ ARRAY['email', 'sms']::text[]);

-- What the network said in the end (also added by the senders' migration).
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS delivered_at timestamptz;
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS delivery_error text;

-- Delivery reports move SMS notifications to delivered / undelivered. Other migrations may
-- have extended the list of states too: keep every state already allowed and add ours.
DO $$
DECLARE
    states text[];
BEGIN
    SELECT coalesce(array_agg(DISTINCT m[1]), '{}') INTO states
    FROM pg_constraint AS c,
         regexp_matches(pg_get_constraintdef(c.oid), '''([a-z_]+)''', 'g') AS m
    WHERE c.conrelid = 'notifications'::regclass AND c.conname = 'notifications_status_check';
    states := ARRAY(SELECT DISTINCT s FROM unnest(states || ARRAY[
        'pending', 'sending', 'sent', 'failed', 'cancelled', 'delivered', 'undelivered']) AS s
        ORDER BY s);
    ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_status_check;
    -- (no format(): the migration runner sends this file through the driver's placeholders)
    EXECUTE 'ALTER TABLE notifications ADD CONSTRAINT notifications_status_check '
            'CHECK (status = ANY (' || quote_literal(states::text) || '::text[]))';
END
$$;

-- A person as their qualified certificate names them: the issuing CA and the subject's
-- serialNumber (stable across renewals by the same CA). party_id is set at the first sign-in
-- (tax number query or a one-time code), NULL until then.
CREATE TABLE portal_identities (
    id             bigserial PRIMARY KEY,
    issuer         text NOT NULL,
    subject_serial text NOT NULL,
    party_id       text,
    linked_at      timestamptz,
    linked_by      text CHECK (linked_by IN ('tax_number', 'code')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issuer, subject_serial),
    CHECK ((party_id IS NULL) = (linked_at IS NULL))
);

CREATE INDEX portal_identities_party ON portal_identities (party_id);

-- Server-side sessions: the cookie holds a random token, this table only its keyed hash.
CREATE TABLE portal_sessions (
    token_hash   text PRIMARY KEY,
    identity_id  bigint NOT NULL REFERENCES portal_identities (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE INDEX portal_sessions_expires ON portal_sessions (expires_at);

-- One-time codes: a new e-mail address or phone number takes effect only with the code sent
-- to it; linking a certificate to a party uses a code sent to the party's registered contact.
-- Only a keyed hash of the code is stored.
CREATE TABLE portal_codes (
    id           bigserial PRIMARY KEY,
    identity_id  bigint NOT NULL REFERENCES portal_identities (id) ON DELETE CASCADE,
    purpose      text NOT NULL CHECK (purpose IN ('email', 'phone', 'link')),
    -- The new address or number (email, phone), or the party id to link (link).
    target       text NOT NULL,
    -- A subscription made on the portal: its level, language and consent time, applied
    -- when the first contact is confirmed.
    payload      jsonb NOT NULL DEFAULT '{}',
    code_hash    text NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    -- Set when the code was entered correctly, when a newer code or too many wrong attempts
    -- made it void, or when it could not be sent.
    closed_at    timestamptz,
    outcome      text CHECK (outcome IN ('confirmed', 'superseded', 'too_many_attempts',
                                        'not_sent'))
);

CREATE INDEX portal_codes_open ON portal_codes (identity_id, purpose) WHERE closed_at IS NULL;
CREATE INDEX portal_codes_created ON portal_codes (identity_id, created_at);

-- The portal's own audit trail: sign-ins, refusals (forged header, expired certificate,
-- unknown issuer, bad API token, bad webhook secret), changes and API calls. `peer` is the
-- connecting address (the proxy, or whoever forged a header); `detail` never holds an
-- address or number in clear.
CREATE TABLE portal_audit (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    actor         text NOT NULL,
    action        text NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('ok', 'refused')),
    party_id      text,
    subscriber_id bigint,
    peer          text,
    detail        jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX portal_audit_at ON portal_audit (at);
CREATE INDEX portal_audit_party ON portal_audit (party_id);

-- SMS delivery reports received on /hooks/sms-status; gateways repeat reports, the unique
-- key makes a repeat a no-op.
CREATE TABLE sms_status_reports (
    notification_id bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    status          text NOT NULL CHECK (status IN ('delivered', 'undelivered')),
    provider_status text NOT NULL DEFAULT '',
    error           text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notification_id, status, provider_status)
);

-- Reports that name only the gateway's own message id.
CREATE INDEX IF NOT EXISTS notifications_sms_provider_id ON notifications (provider_id)
    WHERE channel = 'sms' AND provider_id IS NOT NULL;
