-- OBVO's whole current schema (`obvo`), generated from sql/migrations/ by `make schema`:
-- do not edit by hand; add a migration and run `make schema` again.
-- tests/integration/ops/test_schema.py fails when this file and the migrations disagree.

--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: obvo; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA obvo;

--
-- Name: scrub_contacts(text); Type: FUNCTION; Schema: obvo; Owner: -
--

CREATE FUNCTION obvo.scrub_contacts(t text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
SELECT regexp_replace(
    regexp_replace(t, '[^][[:space:]<>"'',;:()]+@[^][[:space:]<>"'',;:()]+', '***@***', 'g'),
    '\+?[0-9]{8,15}', '***', 'g')
$$;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: audit_log; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.audit_log (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    target text,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT audit_log_actor_check CHECK ((actor <> ''::text))
);

--
-- Name: audit_log_id_seq; Type: SEQUENCE; Schema: obvo; Owner: -
--

CREATE SEQUENCE obvo.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: audit_log_id_seq; Type: SEQUENCE OWNED BY; Schema: obvo; Owner: -
--

ALTER SEQUENCE obvo.audit_log_id_seq OWNED BY obvo.audit_log.id;

--
-- Name: console_sessions; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.console_sessions (
    token_hash text NOT NULL,
    staff_id bigint NOT NULL,
    csrf_token text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    notice jsonb
);

--
-- Name: console_staff; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.console_staff (
    id bigint NOT NULL,
    issuer text NOT NULL,
    subject_serial text NOT NULL,
    name text NOT NULL,
    role text NOT NULL,
    granted_at timestamp with time zone DEFAULT now() NOT NULL,
    granted_by text NOT NULL,
    revoked_at timestamp with time zone,
    revoked_by text,
    last_seen_at timestamp with time zone,
    CONSTRAINT console_staff_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200))),
    CONSTRAINT console_staff_role_check CHECK ((role = ANY (ARRAY['viewer'::text, 'clerk'::text, 'admin'::text])))
);

--
-- Name: console_staff_id_seq; Type: SEQUENCE; Schema: obvo; Owner: -
--

CREATE SEQUENCE obvo.console_staff_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: console_staff_id_seq; Type: SEQUENCE OWNED BY; Schema: obvo; Owner: -
--

ALTER SEQUENCE obvo.console_staff_id_seq OWNED BY obvo.console_staff.id;

--
-- Name: delivery_counts; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.delivery_counts (
    scope text NOT NULL,
    key text NOT NULL,
    bucket timestamp with time zone NOT NULL,
    count bigint NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT delivery_counts_scope_check CHECK ((scope = ANY (ARRAY['event_type'::text, 'subscriber'::text])))
);

--
-- Name: event_types; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.event_types (
    code text NOT NULL,
    name text DEFAULT ''::text NOT NULL,
    kind text NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT event_types_kind_check CHECK ((kind = ANY (ARRAY['internal'::text, 'notify'::text, 'key'::text])))
);

--
-- Name: notification_attempts; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.notification_attempts (
    id bigint NOT NULL,
    notification_id bigint NOT NULL,
    attempt integer NOT NULL,
    worker_id text,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone DEFAULT now() NOT NULL,
    outcome text NOT NULL,
    error text,
    provider_id text,
    CONSTRAINT notification_attempts_outcome_check CHECK ((outcome = ANY (ARRAY['sent'::text, 'retry'::text, 'failed'::text, 'taken_back'::text])))
);

--
-- Name: notification_attempts_id_seq; Type: SEQUENCE; Schema: obvo; Owner: -
--

CREATE SEQUENCE obvo.notification_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: notification_attempts_id_seq; Type: SEQUENCE OWNED BY; Schema: obvo; Owner: -
--

ALTER SEQUENCE obvo.notification_attempts_id_seq OWNED BY obvo.notification_attempts.id;

--
-- Name: notifications; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.notifications (
    id bigint NOT NULL,
    source_event_id bigint NOT NULL,
    subscriber_id bigint,
    channel text NOT NULL,
    event_type text NOT NULL,
    event_kind text NOT NULL,
    case_id text,
    occurred_at timestamp with time zone,
    language text NOT NULL,
    recipient text,
    subject text,
    body text,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    claimed_by text,
    claimed_at timestamp with time zone,
    last_error text,
    provider_id text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    sent_at timestamp with time zone,
    sms_encoding text,
    sms_segments integer,
    held_reason text,
    coalesced_into bigint,
    event_values jsonb,
    body_html text,
    delivered_at timestamp with time zone,
    delivery_error text,
    purged_at timestamp with time zone,
    CONSTRAINT notifications_channel_check CHECK ((channel = ANY (ARRAY['email'::text, 'sms'::text]))),
    CONSTRAINT notifications_event_kind_check CHECK ((event_kind = ANY (ARRAY['notify'::text, 'key'::text]))),
    CONSTRAINT notifications_held_reason_check CHECK ((held_reason = ANY (ARRAY['storm'::text, 'subscriber_rate'::text]))),
    CONSTRAINT notifications_sms_encoding_check CHECK ((sms_encoding = ANY (ARRAY['gsm7'::text, 'ucs2'::text]))),
    CONSTRAINT notifications_sms_segments_check CHECK ((sms_segments >= 1)),
    CONSTRAINT notifications_status_check CHECK ((status = ANY ('{cancelled,coalesced,delivered,failed,held,pending,sending,sent,undelivered}'::text[])))
);

--
-- Name: notifications_id_seq; Type: SEQUENCE; Schema: obvo; Owner: -
--

CREATE SEQUENCE obvo.notifications_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: notifications_id_seq; Type: SEQUENCE OWNED BY; Schema: obvo; Owner: -
--

ALTER SEQUENCE obvo.notifications_id_seq OWNED BY obvo.notifications.id;

--
-- Name: pending_holes; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.pending_holes (
    source text NOT NULL,
    first_id bigint NOT NULL,
    last_id bigint NOT NULL,
    first_seen_at timestamp with time zone NOT NULL,
    first_seen_xmax bigint,
    CONSTRAINT pending_hole_ranges_check CHECK ((first_id <= last_id))
);

--
-- Name: portal_audit; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.portal_audit (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    outcome text NOT NULL,
    party_id text,
    subscriber_id bigint,
    peer text,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT portal_audit_outcome_check CHECK ((outcome = ANY (ARRAY['ok'::text, 'refused'::text])))
);

--
-- Name: portal_audit_id_seq; Type: SEQUENCE; Schema: obvo; Owner: -
--

CREATE SEQUENCE obvo.portal_audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: portal_audit_id_seq; Type: SEQUENCE OWNED BY; Schema: obvo; Owner: -
--

ALTER SEQUENCE obvo.portal_audit_id_seq OWNED BY obvo.portal_audit.id;

--
-- Name: portal_codes; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.portal_codes (
    id bigint NOT NULL,
    identity_id bigint NOT NULL,
    purpose text NOT NULL,
    target text NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    code_hash text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    closed_at timestamp with time zone,
    outcome text,
    CONSTRAINT portal_codes_outcome_check CHECK ((outcome = ANY (ARRAY['confirmed'::text, 'superseded'::text, 'too_many_attempts'::text, 'not_sent'::text]))),
    CONSTRAINT portal_codes_purpose_check CHECK ((purpose = ANY (ARRAY['email'::text, 'phone'::text, 'link'::text])))
);

--
-- Name: portal_codes_id_seq; Type: SEQUENCE; Schema: obvo; Owner: -
--

CREATE SEQUENCE obvo.portal_codes_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: portal_codes_id_seq; Type: SEQUENCE OWNED BY; Schema: obvo; Owner: -
--

ALTER SEQUENCE obvo.portal_codes_id_seq OWNED BY obvo.portal_codes.id;

--
-- Name: portal_identities; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.portal_identities (
    id bigint NOT NULL,
    issuer text NOT NULL,
    subject_serial text NOT NULL,
    party_id text,
    linked_at timestamp with time zone,
    linked_by text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT portal_identities_check CHECK (((party_id IS NULL) = (linked_at IS NULL))),
    CONSTRAINT portal_identities_linked_by_check CHECK ((linked_by = ANY (ARRAY['tax_number'::text, 'code'::text])))
);

--
-- Name: portal_identities_id_seq; Type: SEQUENCE; Schema: obvo; Owner: -
--

CREATE SEQUENCE obvo.portal_identities_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: portal_identities_id_seq; Type: SEQUENCE OWNED BY; Schema: obvo; Owner: -
--

ALTER SEQUENCE obvo.portal_identities_id_seq OWNED BY obvo.portal_identities.id;

--
-- Name: portal_saml_assertions; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.portal_saml_assertions (
    assertion_id text NOT NULL,
    used_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

--
-- Name: portal_saml_requests; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.portal_saml_requests (
    request_id text NOT NULL,
    browser_hash text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

--
-- Name: portal_sessions; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.portal_sessions (
    token_hash text NOT NULL,
    identity_id bigint NOT NULL,
    csrf_token text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    method text DEFAULT 'certificate'::text NOT NULL,
    display_name text DEFAULT ''::text NOT NULL,
    saml_name_id text,
    saml_name_id_format text,
    saml_session_index text,
    CONSTRAINT portal_sessions_method_check CHECK ((method = ANY (ARRAY['certificate'::text, 'sipass'::text])))
);

--
-- Name: schema_migrations; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: sms_parts; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.sms_parts (
    gateway text NOT NULL,
    message_id text NOT NULL,
    notification_id bigint,
    part integer,
    parts integer,
    submitted_at timestamp with time zone,
    state text,
    error_code text,
    receipt_at timestamp with time zone
);

--
-- Name: sms_status_reports; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.sms_status_reports (
    notification_id bigint NOT NULL,
    status text NOT NULL,
    provider_status text DEFAULT ''::text NOT NULL,
    error text,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT sms_status_reports_status_check CHECK ((status = ANY (ARRAY['delivered'::text, 'undelivered'::text])))
);

--
-- Name: source_cursor; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.source_cursor (
    source text NOT NULL,
    last_event_id bigint NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: storms; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.storms (
    event_type text NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    minute timestamp with time zone NOT NULL,
    threshold integer NOT NULL,
    count bigint NOT NULL
);

--
-- Name: subscriber_cases; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.subscriber_cases (
    subscriber_id bigint NOT NULL,
    case_id text NOT NULL,
    added_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT subscriber_cases_case_id_check CHECK ((case_id <> ''::text))
);

--
-- Name: subscribers; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.subscribers (
    id bigint NOT NULL,
    party_id text NOT NULL,
    email text,
    phone text,
    events text DEFAULT 'all'::text NOT NULL,
    language text DEFAULT 'sl'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    origin text,
    reference text,
    consent_at timestamp with time zone,
    key_only_channels text[] DEFAULT '{}'::text[] NOT NULL,
    CONSTRAINT subscribers_check CHECK (((email IS NOT NULL) OR (phone IS NOT NULL))),
    CONSTRAINT subscribers_events_check CHECK ((events = ANY (ARRAY['all'::text, 'key'::text]))),
    CONSTRAINT subscribers_key_only_channels_check CHECK ((key_only_channels <@ ARRAY['email'::text, 'sms'::text])),
    CONSTRAINT subscribers_language_check CHECK ((language ~ '^[a-z]{2}$'::text)),
    CONSTRAINT subscribers_origin_check CHECK ((origin = ANY (ARRAY['in_person'::text, 'written'::text, 'e_vloga'::text]))),
    CONSTRAINT subscribers_phone_check CHECK ((phone ~ '^\+[1-9][0-9]{6,14}$'::text))
);

--
-- Name: subscribers_id_seq; Type: SEQUENCE; Schema: obvo; Owner: -
--

CREATE SEQUENCE obvo.subscribers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: subscribers_id_seq; Type: SEQUENCE OWNED BY; Schema: obvo; Owner: -
--

ALTER SEQUENCE obvo.subscribers_id_seq OWNED BY obvo.subscribers.id;

--
-- Name: templates; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.templates (
    event_type text NOT NULL,
    language text NOT NULL,
    email_subject text,
    email_body text,
    sms text,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    email_html text,
    CONSTRAINT templates_language_check CHECK ((language ~ '^[a-z]{2}$'::text))
);

--
-- Name: unclassified_event_types; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.unclassified_event_types (
    event_type text NOT NULL,
    first_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    seen_count bigint DEFAULT 0 NOT NULL,
    last_event_id bigint
);

--
-- Name: workers; Type: TABLE; Schema: obvo; Owner: -
--

CREATE TABLE obvo.workers (
    id text NOT NULL,
    hostname text NOT NULL,
    pid integer NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    heartbeat_at timestamp with time zone DEFAULT now() NOT NULL,
    liveness text DEFAULT 'heartbeat'::text NOT NULL,
    problem text,
    problem_since timestamp with time zone,
    CONSTRAINT workers_liveness_check CHECK ((liveness = ANY (ARRAY['lock'::text, 'heartbeat'::text])))
);

--
-- Name: audit_log id; Type: DEFAULT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.audit_log ALTER COLUMN id SET DEFAULT nextval('obvo.audit_log_id_seq'::regclass);

--
-- Name: console_staff id; Type: DEFAULT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.console_staff ALTER COLUMN id SET DEFAULT nextval('obvo.console_staff_id_seq'::regclass);

--
-- Name: notification_attempts id; Type: DEFAULT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.notification_attempts ALTER COLUMN id SET DEFAULT nextval('obvo.notification_attempts_id_seq'::regclass);

--
-- Name: notifications id; Type: DEFAULT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.notifications ALTER COLUMN id SET DEFAULT nextval('obvo.notifications_id_seq'::regclass);

--
-- Name: portal_audit id; Type: DEFAULT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.portal_audit ALTER COLUMN id SET DEFAULT nextval('obvo.portal_audit_id_seq'::regclass);

--
-- Name: portal_codes id; Type: DEFAULT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.portal_codes ALTER COLUMN id SET DEFAULT nextval('obvo.portal_codes_id_seq'::regclass);

--
-- Name: portal_identities id; Type: DEFAULT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.portal_identities ALTER COLUMN id SET DEFAULT nextval('obvo.portal_identities_id_seq'::regclass);

--
-- Name: subscribers id; Type: DEFAULT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.subscribers ALTER COLUMN id SET DEFAULT nextval('obvo.subscribers_id_seq'::regclass);

--
-- Name: audit_log audit_log_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);

--
-- Name: console_sessions console_sessions_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.console_sessions
    ADD CONSTRAINT console_sessions_pkey PRIMARY KEY (token_hash);

--
-- Name: console_staff console_staff_issuer_subject_serial_key; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.console_staff
    ADD CONSTRAINT console_staff_issuer_subject_serial_key UNIQUE (issuer, subject_serial);

--
-- Name: console_staff console_staff_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.console_staff
    ADD CONSTRAINT console_staff_pkey PRIMARY KEY (id);

--
-- Name: delivery_counts delivery_counts_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.delivery_counts
    ADD CONSTRAINT delivery_counts_pkey PRIMARY KEY (scope, key, bucket);

--
-- Name: event_types event_types_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.event_types
    ADD CONSTRAINT event_types_pkey PRIMARY KEY (code);

--
-- Name: notification_attempts notification_attempts_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.notification_attempts
    ADD CONSTRAINT notification_attempts_pkey PRIMARY KEY (id);

--
-- Name: notifications notifications_once; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.notifications
    ADD CONSTRAINT notifications_once UNIQUE (source_event_id, subscriber_id, channel);

--
-- Name: notifications notifications_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.notifications
    ADD CONSTRAINT notifications_pkey PRIMARY KEY (id);

--
-- Name: pending_holes pending_holes_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.pending_holes
    ADD CONSTRAINT pending_holes_pkey PRIMARY KEY (source, first_id);

--
-- Name: portal_audit portal_audit_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.portal_audit
    ADD CONSTRAINT portal_audit_pkey PRIMARY KEY (id);

--
-- Name: portal_codes portal_codes_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.portal_codes
    ADD CONSTRAINT portal_codes_pkey PRIMARY KEY (id);

--
-- Name: portal_identities portal_identities_issuer_subject_serial_key; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.portal_identities
    ADD CONSTRAINT portal_identities_issuer_subject_serial_key UNIQUE (issuer, subject_serial);

--
-- Name: portal_identities portal_identities_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.portal_identities
    ADD CONSTRAINT portal_identities_pkey PRIMARY KEY (id);

--
-- Name: portal_saml_assertions portal_saml_assertions_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.portal_saml_assertions
    ADD CONSTRAINT portal_saml_assertions_pkey PRIMARY KEY (assertion_id);

--
-- Name: portal_saml_requests portal_saml_requests_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.portal_saml_requests
    ADD CONSTRAINT portal_saml_requests_pkey PRIMARY KEY (request_id);

--
-- Name: portal_sessions portal_sessions_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.portal_sessions
    ADD CONSTRAINT portal_sessions_pkey PRIMARY KEY (token_hash);

--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

--
-- Name: sms_parts sms_parts_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.sms_parts
    ADD CONSTRAINT sms_parts_pkey PRIMARY KEY (gateway, message_id);

--
-- Name: sms_status_reports sms_status_reports_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.sms_status_reports
    ADD CONSTRAINT sms_status_reports_pkey PRIMARY KEY (notification_id, status, provider_status);

--
-- Name: source_cursor source_cursor_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.source_cursor
    ADD CONSTRAINT source_cursor_pkey PRIMARY KEY (source);

--
-- Name: storms storms_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.storms
    ADD CONSTRAINT storms_pkey PRIMARY KEY (event_type);

--
-- Name: subscriber_cases subscriber_cases_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.subscriber_cases
    ADD CONSTRAINT subscriber_cases_pkey PRIMARY KEY (subscriber_id, case_id);

--
-- Name: subscribers subscribers_party_id_key; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.subscribers
    ADD CONSTRAINT subscribers_party_id_key UNIQUE (party_id);

--
-- Name: subscribers subscribers_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.subscribers
    ADD CONSTRAINT subscribers_pkey PRIMARY KEY (id);

--
-- Name: templates templates_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.templates
    ADD CONSTRAINT templates_pkey PRIMARY KEY (event_type, language);

--
-- Name: unclassified_event_types unclassified_event_types_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.unclassified_event_types
    ADD CONSTRAINT unclassified_event_types_pkey PRIMARY KEY (event_type);

--
-- Name: workers workers_pkey; Type: CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.workers
    ADD CONSTRAINT workers_pkey PRIMARY KEY (id);

--
-- Name: audit_log_at; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX audit_log_at ON obvo.audit_log USING btree (at);

--
-- Name: audit_log_target; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX audit_log_target ON obvo.audit_log USING btree (target);

--
-- Name: console_sessions_staff; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX console_sessions_staff ON obvo.console_sessions USING btree (staff_id);

--
-- Name: delivery_counts_updated; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX delivery_counts_updated ON obvo.delivery_counts USING btree (updated_at);

--
-- Name: notification_attempts_notification; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX notification_attempts_notification ON obvo.notification_attempts USING btree (notification_id, id);

--
-- Name: notifications_case; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX notifications_case ON obvo.notifications USING btree (case_id, created_at) WHERE (case_id IS NOT NULL);

--
-- Name: notifications_claim_order; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX notifications_claim_order ON obvo.notifications USING btree (next_attempt_at, ((event_kind = 'key'::text)) DESC, id) WHERE (status = 'pending'::text);

--
-- Name: notifications_coalesced_into; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX notifications_coalesced_into ON obvo.notifications USING btree (coalesced_into) WHERE (coalesced_into IS NOT NULL);

--
-- Name: notifications_created; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX notifications_created ON obvo.notifications USING btree (created_at);

--
-- Name: notifications_event_type; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX notifications_event_type ON obvo.notifications USING btree (event_type, created_at);

--
-- Name: notifications_failed_at; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX notifications_failed_at ON obvo.notifications USING btree (updated_at) WHERE (status = ANY (ARRAY['failed'::text, 'undelivered'::text]));

--
-- Name: notifications_held; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX notifications_held ON obvo.notifications USING btree (event_type) WHERE (status = 'held'::text);

--
-- Name: notifications_sending; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX notifications_sending ON obvo.notifications USING btree (claimed_by) WHERE (status = 'sending'::text);

--
-- Name: notifications_sms_provider_id; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX notifications_sms_provider_id ON obvo.notifications USING btree (provider_id) WHERE ((channel = 'sms'::text) AND (provider_id IS NOT NULL));

--
-- Name: notifications_sms_sent; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX notifications_sms_sent ON obvo.notifications USING btree (sent_at) INCLUDE (event_type, sms_segments) WHERE ((channel = 'sms'::text) AND (sms_segments IS NOT NULL));

--
-- Name: notifications_status; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX notifications_status ON obvo.notifications USING btree (status);

--
-- Name: notifications_subscriber; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX notifications_subscriber ON obvo.notifications USING btree (subscriber_id);

--
-- Name: notifications_unpurged; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX notifications_unpurged ON obvo.notifications USING btree (created_at) WHERE (purged_at IS NULL);

--
-- Name: portal_audit_at; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX portal_audit_at ON obvo.portal_audit USING btree (at);

--
-- Name: portal_audit_party; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX portal_audit_party ON obvo.portal_audit USING btree (party_id);

--
-- Name: portal_codes_created; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX portal_codes_created ON obvo.portal_codes USING btree (identity_id, created_at);

--
-- Name: portal_codes_open; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX portal_codes_open ON obvo.portal_codes USING btree (identity_id, purpose) WHERE (closed_at IS NULL);

--
-- Name: portal_identities_party; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX portal_identities_party ON obvo.portal_identities USING btree (party_id);

--
-- Name: portal_saml_requests_browser; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX portal_saml_requests_browser ON obvo.portal_saml_requests USING btree (browser_hash);

--
-- Name: portal_sessions_expires; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX portal_sessions_expires ON obvo.portal_sessions USING btree (expires_at);

--
-- Name: portal_sessions_saml_name_id; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX portal_sessions_saml_name_id ON obvo.portal_sessions USING btree (saml_name_id) WHERE (saml_name_id IS NOT NULL);

--
-- Name: sms_parts_notification; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX sms_parts_notification ON obvo.sms_parts USING btree (notification_id);

--
-- Name: sms_parts_receipt_at; Type: INDEX; Schema: obvo; Owner: -
--

CREATE INDEX sms_parts_receipt_at ON obvo.sms_parts USING btree (receipt_at) WHERE (receipt_at IS NOT NULL);

--
-- Name: console_sessions console_sessions_staff_id_fkey; Type: FK CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.console_sessions
    ADD CONSTRAINT console_sessions_staff_id_fkey FOREIGN KEY (staff_id) REFERENCES obvo.console_staff(id) ON DELETE CASCADE;

--
-- Name: notification_attempts notification_attempts_notification_id_fkey; Type: FK CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.notification_attempts
    ADD CONSTRAINT notification_attempts_notification_id_fkey FOREIGN KEY (notification_id) REFERENCES obvo.notifications(id) ON DELETE CASCADE;

--
-- Name: notifications notifications_coalesced_into_fkey; Type: FK CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.notifications
    ADD CONSTRAINT notifications_coalesced_into_fkey FOREIGN KEY (coalesced_into) REFERENCES obvo.notifications(id) ON DELETE SET NULL;

--
-- Name: notifications notifications_subscriber_id_fkey; Type: FK CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.notifications
    ADD CONSTRAINT notifications_subscriber_id_fkey FOREIGN KEY (subscriber_id) REFERENCES obvo.subscribers(id) ON DELETE SET NULL;

--
-- Name: portal_codes portal_codes_identity_id_fkey; Type: FK CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.portal_codes
    ADD CONSTRAINT portal_codes_identity_id_fkey FOREIGN KEY (identity_id) REFERENCES obvo.portal_identities(id) ON DELETE CASCADE;

--
-- Name: portal_sessions portal_sessions_identity_id_fkey; Type: FK CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.portal_sessions
    ADD CONSTRAINT portal_sessions_identity_id_fkey FOREIGN KEY (identity_id) REFERENCES obvo.portal_identities(id) ON DELETE CASCADE;

--
-- Name: sms_parts sms_parts_notification_id_fkey; Type: FK CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.sms_parts
    ADD CONSTRAINT sms_parts_notification_id_fkey FOREIGN KEY (notification_id) REFERENCES obvo.notifications(id) ON DELETE CASCADE;

--
-- Name: sms_status_reports sms_status_reports_notification_id_fkey; Type: FK CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.sms_status_reports
    ADD CONSTRAINT sms_status_reports_notification_id_fkey FOREIGN KEY (notification_id) REFERENCES obvo.notifications(id) ON DELETE CASCADE;

--
-- Name: subscriber_cases subscriber_cases_subscriber_id_fkey; Type: FK CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.subscriber_cases
    ADD CONSTRAINT subscriber_cases_subscriber_id_fkey FOREIGN KEY (subscriber_id) REFERENCES obvo.subscribers(id) ON DELETE CASCADE;

--
-- Name: templates templates_event_type_fkey; Type: FK CONSTRAINT; Schema: obvo; Owner: -
--

ALTER TABLE ONLY obvo.templates
    ADD CONSTRAINT templates_event_type_fkey FOREIGN KEY (event_type) REFERENCES obvo.event_types(code) ON UPDATE CASCADE ON DELETE CASCADE;

--
-- PostgreSQL database dump complete
--

-- The migrations this schema holds, so `obvo migrate` on it applies only newer ones.
INSERT INTO obvo.schema_migrations (version, name) VALUES
    (1, 'initial'),
    (2, 'attempts'),
    (3, 'messages'),
    (4, 'senders'),
    (5, 'admin'),
    (6, 'operations'),
    (7, 'portal'),
    (8, 'hole_ranges'),
    (9, 'worker_liveness'),
    (10, 'console'),
    (11, 'sipass'),
    (12, 'console_gaps'),
    (13, 'claim_order');
