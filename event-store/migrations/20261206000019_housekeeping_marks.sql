-- Housekeeping reads the log for a few event types on every run: registrations (an account's
-- first application and every later one) for applications started and never submitted. A
-- partial index keeps that read to those events, and a mark per job keeps it to the ones after
-- everything already settled, so a run costs what happened lately, not the whole history.
CREATE INDEX events_registrations ON events (global_position)
    WHERE aggregate_type = 'Account' AND event_type IN ('CustomerRegistered', 'ApplicationStarted');

-- Per housekeeping job: every event it reads at or before `position` is settled for good.
CREATE TABLE housekeeping_marks
(
    job      text PRIMARY KEY,
    position bigint      NOT NULL,
    moved_at timestamptz NOT NULL DEFAULT now()
);
