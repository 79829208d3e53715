-- The staff console (`obvo console`): who may sign in with which employee certificate and
-- role, and their sessions. Runs with search_path = OBVO's schema.

-- A staff member as their certificate names them: the issuing CA and the subject's
-- serialNumber (stable across renewals by the same CA). Revoked members stay, for the audit.
CREATE TABLE console_staff (
    id             bigserial PRIMARY KEY,
    issuer         text NOT NULL,
    subject_serial text NOT NULL,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role           text NOT NULL CHECK (role IN ('viewer', 'clerk', 'admin')),
    granted_at     timestamptz NOT NULL DEFAULT now(),
    granted_by     text NOT NULL,
    revoked_at     timestamptz,
    revoked_by     text,
    last_seen_at   timestamptz,
    UNIQUE (issuer, subject_serial)
);

-- A signed-in browser: the keyed hash of the cookie's token, never the token itself.
CREATE TABLE console_sessions (
    token_hash  text PRIMARY KEY,
    staff_id    bigint NOT NULL REFERENCES console_staff (id) ON DELETE CASCADE,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

CREATE INDEX console_sessions_staff ON console_sessions (staff_id);
