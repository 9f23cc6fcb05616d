-- Password hashes leave the events: an event records that a password was set and names its
-- credential; the argon2id hash lives here, in a table that erasure can empty (an event cannot be
-- edited). A row is written before the command that names it, so a command that failed leaves an
-- unused row, never an event naming a hash that is not stored.
CREATE TABLE credentials (
    credential_id uuid        PRIMARY KEY,
    account_id    uuid        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credentials_account ON credentials (account_id);

COMMENT ON TABLE credentials IS 'Password hashes (argon2id) of staff and customers; events name the credential, never the hash.';
COMMENT ON COLUMN credentials.password_hash IS 'argon2id PHC string; a secret, not for analysts.';
