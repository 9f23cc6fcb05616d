-- Who is already a customer: keyed hashes (HMAC, key derived from the master key) of a phone, an
-- e-mail or a passport, never the values themselves. Reserved before the customer's first event
-- is written, like account_logins: one person registers once, and logins by e-mail or phone find
-- the account without storing personal data in clear.
CREATE TABLE customer_identities
(
    kind        text        NOT NULL CHECK (kind IN ('phone', 'email', 'passport')),
    hash        bytea       NOT NULL,
    customer_id uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, hash)
);
CREATE INDEX customer_identities_customer ON customer_identities (customer_id);
