-- Reports owed to a credit bureau (218-FZ) are effects of kind `bureau_report`: written by the
-- process manager `bureau_reports` with their legal deadline, and sent as a file by
-- `k911 bureau export` (not by the effects worker).
ALTER TABLE effects DROP CONSTRAINT effects_kind_check;
ALTER TABLE effects ADD CONSTRAINT effects_kind_check
    CHECK (kind IN ('sms', 'email', 'payout', 'bureau_report'));
ALTER TABLE effects ADD COLUMN due_on date;
CREATE INDEX effects_bureau_due ON effects (due_on) WHERE kind = 'bureau_report' AND status = 'pending';
COMMENT ON COLUMN effects.due_on IS 'The legal deadline (Moscow day) of a bureau report; null for other effects.';
