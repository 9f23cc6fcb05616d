-- The development driver of the credit-history port: what a qualified credit bureau would answer
-- about a borrower's loans at other lenders (353-FZ as amended by 545-FZ of 29.12.2025 counts
-- them). The subject is the keyed hash (HMAC) of their passport, never the passport itself.
CREATE TABLE credit_history
(
    record_id    uuid PRIMARY KEY,
    subject_hash bytea   NOT NULL,
    lender       text    NOT NULL,
    psk_percent  numeric NOT NULL,
    opened_on    date    NOT NULL,
    repaid_on    date
);
CREATE INDEX credit_history_subject ON credit_history (subject_hash);
