//! The ordered global log: every event of every aggregate, read in an order that never skips an
//! event whose transaction commits late.
//!
//! Identity values are handed out before commit, so a later position can become visible before an
//! earlier one. Reading only events whose transaction id is below the oldest transaction still
//! running (`pg_snapshot_xmin`) and ordering by `(transaction_id, global_position)` means anything
//! that becomes visible later sorts after everything already read.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::{GenericClient, ToStatement};

/// A place in the global log: the last event read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Checkpoint {
    pub transaction_id: u64,
    pub global_position: i64,
}

/// One event as stored, with its place in the log.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    pub checkpoint: Checkpoint,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    pub fn position(&self) -> i64 {
        self.checkpoint.global_position
    }

    /// Whether `A` recorded the event (event types alone may repeat across aggregates).
    pub fn of<A: cqrs_es::Aggregate>(&self) -> bool {
        self.aggregate_type == A::TYPE
    }
}

/// What one read of the log found.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub events: Vec<RecordedEvent>,
    /// How far the read has seen: every event of the asked types up to here is in `events`. Past
    /// the last event when the page is not full: everything below the oldest running transaction
    /// was visible, so a reader may move its checkpoint there without missing anything.
    pub reached: Checkpoint,
    /// Events of the asked types exist beyond the horizon, waiting for older transactions (of
    /// any database in the cluster) to end: worth reading again soon.
    pub held_back: bool,
}

// One statement, so the horizon and the events come from the same snapshot. xid8 has no Rust
// mapping in tokio-postgres, so it travels as text, under another name: `ORDER BY
// transaction_id` must sort the xid8 column, not its text ("10" < "9").
// `held_back` is a scalar subquery with ORDER BY ... LIMIT 1, not EXISTS: the planner cannot
// estimate `>= pg_snapshot_xmin(..)` and, for EXISTS (which drops ORDER BY and LIMIT), chose a
// sequential scan of the whole log on every read (measured: 6 ms at 6 000 events).
// `$4 = '{}'` is a follower of every event type (the audit chain). Followers run it with one
// generic plan (`follower::READ_PLANNING`), where that test is evaluated per event: a comparison
// of two arrays, cheaper than planning each read.
pub const READ_AFTER: &str = "
SELECT h.horizon::text,
       (SELECT b.transaction_id FROM events b
         WHERE b.transaction_id >= h.horizon AND ($4::text[] = '{}' OR b.event_type = ANY($4))
         ORDER BY b.transaction_id LIMIT 1) IS NOT NULL AS held_back,
       e.global_position, e.xid, e.aggregate_type, e.aggregate_id, e.sequence,
       e.event_type, e.event_version, e.payload, e.metadata, e.recorded_at
  FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon) h
  LEFT JOIN LATERAL (
        SELECT global_position, transaction_id, transaction_id::text AS xid, aggregate_type,
               aggregate_id, sequence, event_type, event_version, payload, metadata, recorded_at
          FROM events
         WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
           AND transaction_id < h.horizon
           AND ($4::text[] = '{}' OR event_type = ANY($4))
         ORDER BY transaction_id, global_position
         LIMIT $3) e ON true
 ORDER BY e.transaction_id, e.global_position";

/// Up to `limit` events of `event_types` (none: of every type) after `after`, in log order, all
/// from transactions that have ended.
/// `read` is [`READ_AFTER`], as text or prepared.
pub async fn read_after<S: ToStatement + ?Sized + Sync + Send>(
    client: &impl GenericClient,
    read: &S,
    after: Checkpoint,
    event_types: &[&str],
    limit: i64,
) -> Result<LogPage, tokio_postgres::Error> {
    let rows = client
        .query(
            read,
            &[
                &after.transaction_id.to_string(),
                &after.global_position,
                &limit,
                &event_types,
            ],
        )
        .await?;
    let horizon = rows.first().map_or(0, |row| parse_xid(row.get(0)));
    let held_back = rows.first().is_some_and(|row| row.get(1));
    let events: Vec<RecordedEvent> = rows
        .into_iter()
        .filter(|row| row.get::<_, Option<i64>>(2).is_some())
        .map(|row| RecordedEvent {
            checkpoint: Checkpoint {
                global_position: row.get(2),
                transaction_id: parse_xid(row.get(3)),
            },
            aggregate_type: row.get(4),
            aggregate_id: row.get(5),
            sequence: row.get(6),
            event_type: row.get(7),
            event_version: row.get(8),
            payload: row.get(9),
            metadata: row.get(10),
            recorded_at: row.get(11),
        })
        .collect();
    let last = events.last().map_or(after, |e| e.checkpoint);
    let reached = if (events.len() as i64) < limit {
        // Every event below the horizon has been seen; later ones have larger transaction ids.
        let below_horizon = Checkpoint {
            transaction_id: horizon.saturating_sub(1),
            global_position: i64::MAX,
        };
        last.max(below_horizon).max(after)
    } else {
        last
    };
    Ok(LogPage {
        events,
        reached,
        held_back,
    })
}

/// Where event `position` stands in log order; for a position no event took (a rolled-back
/// append leaves a gap), the first event after it. `None`: the log has not reached `position`.
pub async fn checkpoint_at_or_after(
    client: &impl GenericClient,
    position: i64,
) -> Result<Option<Checkpoint>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT global_position, transaction_id::text FROM events
              WHERE global_position >= $1 ORDER BY global_position LIMIT 1",
            &[&position],
        )
        .await?;
    Ok(row.map(|row| Checkpoint {
        transaction_id: parse_xid(row.get(1)),
        global_position: row.get(0),
    }))
}

pub fn parse_xid(text: &str) -> u64 {
    // PostgreSQL prints xid8 as a plain decimal u64.
    text.parse().expect("xid8 is a decimal integer")
}
