-- OpenID Connect flows in progress: one row per authorization request, found by the sha256 of
-- its `state`, used once and within ten minutes. The nonce and PKCE verifier are kept until the
-- provider's answer comes back; they are worthless without the provider's one-time code.
CREATE TABLE oidc_flows
(
    state_hash    bytea PRIMARY KEY,
    provider      text        NOT NULL,
    purpose       text        NOT NULL CHECK (purpose IN ('login', 'link')),
    account_id    uuid,
    nonce         text        NOT NULL,
    pkce_verifier text        NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);

-- Which account a provider's subject is linked to, by keyed hash of provider and subject (a
-- subject identifies a person at the provider). Reserved before the account's link event is
-- written, like customer_identities: one subject, one account.
CREATE TABLE social_identities
(
    provider     text        NOT NULL,
    subject_hash bytea       NOT NULL,
    account_id   uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject_hash)
);
CREATE INDEX social_identities_account ON social_identities (account_id);
