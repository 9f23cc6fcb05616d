-- Each lane of the effects worker claims its own kind (`outbox::claim`), so the index of due
-- effects leads with the kind and carries the claim's order: a lane seeks its due effects
-- directly whatever waits in the others. Bureau reports wait in the outbox until the day's export
-- takes them; with the index on the time alone, every SMS and e-mail claim (each lane polls
-- every 100 ms) walked past all of them: 20-25 ms a claim at 11 000 reports waiting, a third of
-- the machine during the loan book's cabinet load (issue #15).
DROP INDEX effects_due;
CREATE INDEX effects_due ON effects (kind, next_attempt_at, created_at, id) WHERE status = 'pending';
