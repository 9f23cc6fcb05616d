-- The development payout provider's card vault. A real provider keeps the card numbers on its
-- side and hands out tokens; the sandbox does the same, keeping only the masked number and the
-- expiry (never the full number) so that applications can be checked against their token.
CREATE TABLE sandbox_cards
(
    card_token  text PRIMARY KEY,
    masked_pan  text        NOT NULL,
    exp_month   integer     NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year    integer     NOT NULL,
    created_at  timestamptz NOT NULL
);
