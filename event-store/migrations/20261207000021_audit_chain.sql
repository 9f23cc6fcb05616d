-- Tamper evidence (issue #16): a hash chain over every event of the log in the followers' order,
-- appended by the `audit_chain` follower and never rewritten. Link n = SHA-256(link n-1, event
-- n's canonical bytes); `k911 audit verify` recomputes them all from `events`.
CREATE TABLE IF NOT EXISTS audit_chain (
    link_number     bigint PRIMARY KEY CHECK (link_number > 0),
    global_position bigint NOT NULL UNIQUE,
    link            bytea  NOT NULL CHECK (length(link) = 32)
);
COMMENT ON TABLE audit_chain IS
    'Hash chain over the event log, one link per event in log order (issue #16); never rewritten';
