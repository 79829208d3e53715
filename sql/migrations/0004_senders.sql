-- Senders: the HTML part of e-mails, and SMS delivery receipts (SMPP deliver_sm).

-- An optional HTML template per language (values HTML-escaped); NULL = the plain text in the
-- HTML layout.
ALTER TABLE templates ADD COLUMN email_html text;

-- The rendered HTML part of an e-mail notification (NULL = built from body at sending time).
ALTER TABLE notifications ADD COLUMN body_html text;

-- What the network said in the end: when the last delivery receipt came, and for
-- `undelivered` the receipt's state and the network's error code.
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS delivered_at timestamptz;
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS delivery_error text;

-- The full list of states, whichever other migration also changed it first: dropped and
-- added again under the name PostgreSQL gave the original inline constraint.
ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check CHECK (status IN (
    'pending', 'sending', 'sent', 'failed', 'cancelled', 'held', 'coalesced',
    'delivered', 'undelivered'));

-- One row per SMS part handed to an SMPP gateway (a long text is several parts, each with
-- the SMSC's own message id and its own receipt). A receipt may arrive before the sender has
-- written the part (notification_id still NULL): the row is completed when the part is.
CREATE TABLE sms_parts (
    gateway         text NOT NULL,        -- smpp://host:port: message ids are unique per SMSC
    message_id      text NOT NULL,
    notification_id bigint REFERENCES notifications (id) ON DELETE CASCADE,
    part            integer,
    parts           integer,
    submitted_at    timestamptz,
    state           text,                 -- the receipt's stat: DELIVRD, UNDELIV, EXPIRED, …
    error_code      text,                 -- the receipt's err: (network error code)
    receipt_at      timestamptz,
    PRIMARY KEY (gateway, message_id)
);

CREATE INDEX sms_parts_notification ON sms_parts (notification_id);
-- Recent receipts, for the sweep that settles notifications marked sent after their receipt.
CREATE INDEX sms_parts_receipt_at ON sms_parts (receipt_at) WHERE receipt_at IS NOT NULL;
