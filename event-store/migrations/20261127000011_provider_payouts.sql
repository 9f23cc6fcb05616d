-- Payouts asked of a real payout provider: the provider's own id of each (to ask it how the payout
-- ended), or why it refused the request outright (a refusal is an answer, not something to retry).
CREATE TABLE provider_payouts
(
    payout_id   uuid PRIMARY KEY,
    provider_id text,
    refused     text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
