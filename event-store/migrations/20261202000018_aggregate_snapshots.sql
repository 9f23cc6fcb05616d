-- k911's own snapshots (the postgres-es `snapshots` table stays unused): an aggregate's state
-- after its event number `sequence`, written by the code whose aggregates hash `code_version`
-- and used only by that code. One row per aggregate, moved forward; never part of a command's
-- transaction, so a missing or old row only makes a load longer, never a state wrong.
CREATE TABLE aggregate_snapshots
(
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL CHECK (sequence > 0),
    code_version   text        NOT NULL,
    state          jsonb       NOT NULL,
    taken_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id)
);
