-- An erasure is decided with whether reports about the customer are still owed to the credit
-- bureau (`erasure::REPORTS_PENDING`), and the scheduler decides each refusal that waits for an
-- event again on every run: found through the customer among the pending reports, instead of
-- reading the request of every report waiting for the day's export.
CREATE INDEX effects_bureau_pending_customer
    ON effects ((request -> 'BureauReport' ->> 'customer_id'))
    WHERE kind = 'bureau_report' AND status = 'pending';
