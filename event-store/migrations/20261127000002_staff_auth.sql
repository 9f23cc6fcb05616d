-- Logins are unique across accounts. Reserved here before the account's first event is written:
-- a unique constraint inside the postgres-es transaction would be mistaken for a concurrency
-- conflict.
CREATE TABLE account_logins
(
    login      text PRIMARY KEY,
    account_id uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Bearer sessions. Only the sha256 of a token is kept, so a database leak yields no usable token.
CREATE TABLE auth_sessions
(
    token_hash bytea PRIMARY KEY,
    account_id uuid        NOT NULL,
    role       text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX auth_sessions_account ON auth_sessions (account_id);

-- Failed-login throttling per login: after repeated failures the login is locked for a back-off
-- period that doubles with every further failure.
CREATE TABLE login_failures
(
    login         text PRIMARY KEY,
    failures      integer     NOT NULL,
    last_failure  timestamptz NOT NULL,
    locked_until  timestamptz
);

-- Every time a staff member opens someone's personal data: who, whose, why, when. Compliance
-- reads this; nothing else may read personal data.
CREATE TABLE personal_data_reads
(
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id   uuid        NOT NULL,
    subject_id uuid        NOT NULL,
    purpose    text        NOT NULL,
    request_id text,
    read_at    timestamptz NOT NULL
);
CREATE INDEX personal_data_reads_subject ON personal_data_reads (subject_id, read_at);
