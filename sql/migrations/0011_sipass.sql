-- SI-PASS (SAML 2.0) sign-in and revocation-aware certificate sign-in (issue 14).

-- The AuthnRequests this portal sent: a response must answer one made from the same browser
-- (the keyed hash of a short-lived pre-sign-in cookie), within its lifetime.
CREATE TABLE portal_saml_requests (
    request_id   text PRIMARY KEY,
    browser_hash text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE INDEX portal_saml_requests_browser ON portal_saml_requests (browser_hash);

-- Assertions already used to sign in, kept until they would have expired: a replay of one
-- is refused.
CREATE TABLE portal_saml_assertions (
    assertion_id text PRIMARY KEY,
    used_at      timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

-- How a session signed in; for SI-PASS, what single logout needs (the IdP's NameID and
-- session index) and the name the service reported (shown on the pages).
ALTER TABLE portal_sessions
    ADD COLUMN method text NOT NULL DEFAULT 'certificate'
        CHECK (method IN ('certificate', 'sipass')),
    ADD COLUMN display_name text NOT NULL DEFAULT '',
    ADD COLUMN saml_name_id text,
    ADD COLUMN saml_name_id_format text,
    ADD COLUMN saml_session_index text;

CREATE INDEX portal_sessions_saml_name_id ON portal_sessions (saml_name_id)
    WHERE saml_name_id IS NOT NULL;
