-- Contract numbers: what a customer types in Sberbank Online or at a terminal to repay. Numbered
-- from a sequence (gaps are harmless); found by their digits only, however they were typed.
CREATE SEQUENCE contract_number_seq;
CREATE TABLE contracts
(
    digits          text PRIMARY KEY,
    contract_number text        NOT NULL,
    loan_id         uuid        NOT NULL UNIQUE,
    customer_id     uuid        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- The sandbox payout provider's side: payouts it was asked for (once per id) and how they ended.
-- A sandbox card may be made to refuse payouts, to exercise the failure path.
ALTER TABLE sandbox_cards ADD COLUMN declines_payouts boolean NOT NULL DEFAULT false;
CREATE TABLE sandbox_payouts
(
    payout_id    uuid PRIMARY KEY,
    loan_id      uuid        NOT NULL,
    amount       bigint      NOT NULL,
    destination  text        NOT NULL,
    requested_at timestamptz NOT NULL
);
