-- The staff console's outbox and overview at scale, and its notices after a change (issue 11).
-- Runs with search_path = OBVO's schema.

-- The outbox filtered by case or by event type, newest first: without these a case's few
-- notifications (or a rare type's) are found only by reading the whole table backwards.
CREATE INDEX notifications_case ON notifications (case_id, created_at) WHERE case_id IS NOT NULL;
CREATE INDEX notifications_event_type ON notifications (event_type, created_at);

-- The SMS bill (SMS parts per month and event type): read from the index alone, not from a
-- scan of every notification ever made (rows stay, anonymised, after retention).
CREATE INDEX notifications_sms_sent ON notifications (sent_at) INCLUDE (event_type, sms_segments)
    WHERE channel = 'sms' AND sms_segments IS NOT NULL;

-- A notice for the next page a console session opens (redirect after a change, so a reload
-- does not repeat it): a text key and its values, shown once and cleared.
ALTER TABLE console_sessions ADD COLUMN notice jsonb;
