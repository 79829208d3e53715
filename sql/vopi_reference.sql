-- A reference VOPI schema: the shape OBVO's example queries read. Real VOPI installations
-- differ; OBVO adapts through [source] events_query / parties_query, never by changing VOPI.
-- Used by `obvo demo` and the tests.

CREATE SCHEMA IF NOT EXISTS vopi;

CREATE TABLE vopi.parties (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    tax_number text UNIQUE
);

CREATE TABLE vopi.applications (
    id          bigserial PRIMARY KEY,
    case_number text NOT NULL UNIQUE,          -- e.g. 354-12/2026
    subject     text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    clerk_name  text,
    classification_code text
);

CREATE TABLE vopi.application_parties (
    application_id bigint NOT NULL REFERENCES vopi.applications (id),
    party_id       bigint NOT NULL REFERENCES vopi.parties (id),
    role           text NOT NULL DEFAULT 'vlagatelj',
    PRIMARY KEY (application_id, party_id, role)
);

CREATE TABLE vopi.event_types (
    code text PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE vopi.event_log (
    id              bigserial PRIMARY KEY,
    event_type_code text NOT NULL REFERENCES vopi.event_types (code),
    application_id  bigint NOT NULL REFERENCES vopi.applications (id),
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    clerk_name      text,
    detail          text
);

INSERT INTO vopi.event_types (code, name) VALUES
    ('VLOZ',   'Vloga je vložena'),
    ('KLAS',   'Vloga je dobila klasifikacijsko oznako'),
    ('DODELJ', 'Vloga je dodeljena referentu'),
    ('DOPOL',  'Poziv k dopolnitvi vloge'),
    ('ODLOC',  'Izdana je odločba'),
    ('ARHIV',  'Zadeva je arhivirana'),
    ('OGLED',  'Notranji pregled spisa');
