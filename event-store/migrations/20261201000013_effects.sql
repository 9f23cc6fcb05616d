-- The effects outbox: everything the outside world sees (SMS, e-mail, money out) is a row here,
-- written by a process manager in the same transaction as its checkpoint, with an id derived
-- from the causing event, so a replay adds nothing. The effects worker claims due rows with a
-- short lease (its own short transaction), performs them outside any transaction with the id as
-- the provider's idempotency key, and records the answer: done, or a retry with back-off, or dead
-- after too many tries (for a person to look at and retry). Done rows are kept: an effect once
-- performed is never performed again, whatever is replayed. (Was `notification_outbox`.)
ALTER TABLE notification_outbox RENAME TO effects;
ALTER INDEX notification_outbox_pkey RENAME TO effects_pkey;
DROP INDEX notification_outbox_due;
ALTER TABLE effects RENAME COLUMN channel TO kind;
ALTER TABLE effects RENAME COLUMN message TO request;
ALTER TABLE effects RENAME COLUMN sent_at TO done_at;
ALTER TABLE effects DROP CONSTRAINT notification_outbox_channel_check;
ALTER TABLE effects ADD CONSTRAINT effects_kind_check CHECK (kind IN ('sms', 'email', 'payout'));
ALTER TABLE effects
    ADD COLUMN status       text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'done', 'dead')),
    -- Until when a worker holds the row; a worker that died leaves it to be taken again after.
    ADD COLUMN leased_until timestamptz,
    -- Why a done effect did nothing (the recipient's data was erased, say).
    ADD COLUMN note         text;
UPDATE effects SET status = 'done' WHERE done_at IS NOT NULL;
UPDATE effects SET note = last_error, last_error = NULL WHERE done_at IS NOT NULL;
CREATE INDEX effects_due ON effects (next_attempt_at) WHERE status = 'pending';
CREATE INDEX effects_dead ON effects (created_at) WHERE status = 'dead';

COMMENT ON TABLE effects IS 'Effects outbox: SMS, e-mail and payouts asked for by process managers, each performed once.';
COMMENT ON COLUMN effects.request IS 'What to do; personal data in it is sealed with the subject''s key.';
COMMENT ON COLUMN effects.attempts IS 'Times a worker took the effect (a worker that died counts too).';

-- The sandbox payout provider shows what it received: every request, and the money moved (at
-- most once per payout id, which is its idempotency key).
ALTER TABLE sandbox_payouts
    ADD COLUMN kind       text    NOT NULL DEFAULT 'loan' CHECK (kind IN ('loan', 'refund', 'commission')),
    ADD COLUMN requests   integer NOT NULL DEFAULT 1,
    ADD COLUMN executions integer NOT NULL DEFAULT 1;

-- Idempotency keys are kept a day; the scheduler forgets older ones.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Events a read model could not apply (unreadable, or against its constraints): set aside with
-- the reason, so one bad event never stops the read model for everyone. A rebuild applies them
-- again (and sets aside those that still fail).
CREATE TABLE projection_failures
(
    projection      text        NOT NULL,
    global_position bigint      NOT NULL,
    event_type      text        NOT NULL,
    error           text        NOT NULL,
    failed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, global_position)
);
COMMENT ON TABLE projection_failures IS 'Events a read model set aside because it could not apply them; each needs a fix and a rebuild.';
