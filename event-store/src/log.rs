//! The ordered global log: every event of every aggregate, read in an order that never skips an
//! event whose transaction commits late.
//!
//! Identity values are handed out before commit, so a later position can become visible before an
//! earlier one. Reading only events whose transaction id is below the oldest transaction still
//! running (`pg_snapshot_xmin`) and ordering by `(transaction_id, global_position)` means anything
//! that becomes visible later sorts after everything already read.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::GenericClient;

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
}

// xid8 has no Rust mapping in tokio-postgres, so it travels as text. The text column gets another
// name: `ORDER BY transaction_id` must sort the xid8 column, not its text ("10" < "9").
const READ_AFTER: &str = "
SELECT global_position, transaction_id::text AS xid, aggregate_type, aggregate_id, sequence,
       event_type, event_version, payload, metadata, recorded_at
  FROM events
 WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
   AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY transaction_id, global_position
 LIMIT $3";

/// Up to `limit` events after `after`, in log order, all from transactions that have ended.
pub async fn read_after(
    client: &impl GenericClient,
    after: Checkpoint,
    limit: i64,
) -> Result<Vec<RecordedEvent>, tokio_postgres::Error> {
    let rows = client
        .query(
            READ_AFTER,
            &[
                &after.transaction_id.to_string(),
                &after.global_position,
                &limit,
            ],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| RecordedEvent {
            checkpoint: Checkpoint {
                global_position: row.get(0),
                transaction_id: parse_xid(row.get(1)),
            },
            aggregate_type: row.get(2),
            aggregate_id: row.get(3),
            sequence: row.get(4),
            event_type: row.get(5),
            event_version: row.get(6),
            payload: row.get(7),
            metadata: row.get(8),
            recorded_at: row.get(9),
        })
        .collect())
}

/// Where event `position` stands in log order, or `None` if there is no such event.
pub async fn checkpoint_of(
    client: &impl GenericClient,
    position: i64,
) -> Result<Option<Checkpoint>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT transaction_id::text FROM events WHERE global_position = $1",
            &[&position],
        )
        .await?;
    Ok(row.map(|row| Checkpoint {
        transaction_id: parse_xid(row.get(0)),
        global_position: position,
    }))
}

pub fn parse_xid(text: &str) -> u64 {
    // PostgreSQL prints xid8 as a plain decimal u64.
    text.parse().expect("xid8 is a decimal integer")
}
