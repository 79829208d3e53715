-- Operations: retention (GDPR storage limitation) and cheap health counts.
-- Runs with search_path = OBVO's schema.

-- When a notification's texts, addresses and links to subscriber and case were removed by
-- retention ([retention] message_days); NULL = not yet.
ALTER TABLE notifications ADD COLUMN purged_at timestamptz;

-- The daily purge reads only rows it has not anonymised yet, oldest first.
CREATE INDEX notifications_unpurged ON notifications (created_at) WHERE purged_at IS NULL;
-- `obvo status` and STATUS=: failures within the last hour(s).
CREATE INDEX notifications_failed_at ON notifications (updated_at)
    WHERE status IN ('failed', 'undelivered');

-- Error texts from SMTP servers and SMS gateways may quote the recipient: cut out anything that
-- looks like an e-mail address or a phone number (8 to 15 digits, + optional).
CREATE FUNCTION scrub_contacts(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT regexp_replace(
    regexp_replace(t, '[^][[:space:]<>"'',;:()]+@[^][[:space:]<>"'',;:()]+', '***@***', 'g'),
    '\+?[0-9]{8,15}', '***', 'g')
$$;
