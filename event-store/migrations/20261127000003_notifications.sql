-- Transactional outbox of notifications to customers (SMS, e-mail). Process managers add a row in
-- the same transaction as their checkpoint, with an id derived from the triggering event, so a
-- replay adds nothing; a dispatcher sends each row through the configured driver and marks it.
-- Recipient and text stay sealed with the subject's key until the moment of sending.
CREATE TABLE notification_outbox
(
    id              uuid PRIMARY KEY,
    channel         text        NOT NULL CHECK (channel IN ('sms', 'email')),
    message         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    sent_at         timestamptz
);
CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at) WHERE sent_at IS NULL;

-- What the development drivers "sent": readable at /dev/sms. Never used in production mode.
CREATE TABLE dev_outbox
(
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel   text        NOT NULL,
    recipient text        NOT NULL,
    subject   text,
    body      text        NOT NULL,
    sent_at   timestamptz NOT NULL
);
CREATE INDEX dev_outbox_recipient ON dev_outbox (channel, recipient, id);
