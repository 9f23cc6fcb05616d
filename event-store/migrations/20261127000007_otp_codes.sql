-- One-time SMS codes (login by phone; later: signing a contract). A row is kept for every request,
-- known phone or not, so the rate limits (1 a minute, 5 an hour per phone) answer the same for
-- anyone and reveal nothing about who is a customer. The code itself is never stored: only an HMAC
-- of it keyed by the server's lookup key and bound to the row's id.
CREATE TABLE otp_codes
(
    id          uuid PRIMARY KEY,
    phone_hash  bytea       NOT NULL,
    purpose     text        NOT NULL,
    -- Null when no code was sent (unknown phone, or not a phone-only customer).
    account_id  uuid,
    code_hash   bytea,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0,
    used_at     timestamptz
);
CREATE INDEX otp_codes_phone ON otp_codes (phone_hash, purpose, created_at);

-- Failed-login throttling is keyed by a keyed hash of the login from now on: a customer's login
-- is their e-mail or phone, personal data that must not sit in clear in any table. The rows are
-- transient counters; the old plaintext keys are simply dropped.
DELETE FROM login_failures;
