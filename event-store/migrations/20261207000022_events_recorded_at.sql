-- The audit trail (issue #16) is searched by time. Events are appended in time order, so a BRIN
-- index (a few pages for millions of events, next to nothing per insert) finds a time range's
-- blocks; a B-tree here would be a sixth index every append keeps up to date.
CREATE INDEX IF NOT EXISTS events_recorded_at ON events USING brin (recorded_at);
