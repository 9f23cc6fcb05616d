-- The event store: the tables postgres-es 0.5.0 expects (its db/init.sql), with three columns it
-- does not know about. Its INSERT names its own columns, so defaulted extra columns are safe.
--   global_position: an ordered global log for projectors and process managers.
--   transaction_id:  identity values are handed out before commit, so events become visible out
--                    of position order; readers only take events whose transaction has ended
--                    (see the log reader in event-store/src/log.rs) and order by
--                    (transaction_id, global_position).
--   recorded_at:     EventEnvelope has no timestamp; business time lives in the events.
-- payload/metadata are jsonb (postgres-es binds serde_json values) so analysts can query them.
CREATE TABLE events
(
    aggregate_type  text                         NOT NULL,
    aggregate_id    text                         NOT NULL,
    sequence        bigint CHECK (sequence >= 0) NOT NULL,
    event_type      text                         NOT NULL,
    event_version   text                         NOT NULL,
    payload         jsonb                        NOT NULL,
    metadata        jsonb                        NOT NULL,
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id  xid8                         NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz                  NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

-- Not UNIQUE on purpose: postgres-es maps every unique violation in its transaction to an
-- optimistic-lock conflict, and identity values never collide anyway.
CREATE INDEX events_global_log ON events (transaction_id, global_position);
CREATE INDEX events_global_position ON events (global_position);

-- Only used by postgres-es's snapshot modes, which k911 does not use (they apply new events twice
-- in 0.5.0); kept so the schema is the one postgres-es documents.
CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          jsonb                                NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- Where each projector (read model or process manager) stands in the global log. Written in the
-- same transaction as the rows it produced, so every event is applied exactly once.
CREATE TABLE projection_checkpoints
(
    projection      text PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT '0',
    global_position bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- HTTP Idempotency-Key: reserved before the command runs, the answer stored after it, so a
-- concurrent or later retry gets the first answer and writes nothing.
CREATE TABLE idempotency_keys
(
    scope         text        NOT NULL, -- who asked: 'anonymous' or an account id
    key           uuid        NOT NULL,
    request_hash  bytea       NOT NULL, -- sha256 of method, path and body
    status_code   smallint,             -- null while the first request is still running
    response_body bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

-- Per-subject data keys for personal data inside events, wrapped by the master key. Erasure sets
-- wrapped_key to null (crypto-shredding): the events stay, the data is gone.
CREATE TABLE subject_keys
(
    subject_id  uuid PRIMARY KEY,
    wrapped_key bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    erased_at   timestamptz
);
