//! k911's own snapshots: an aggregate's state after its `sequence`-th event, so a command on a
//! long-lived aggregate (a loan with a year of daily charges, an agent with every accrual) reads
//! one row and the few events after it instead of its whole history.
//!
//! Why it is safe (cqrs-es 0.5.0's own snapshot modes are not, see ARCHITECTURE.md):
//! - the state saved is the aggregate exactly as the command left it (`EventSink` applied each new
//!   event once), taken only after the events committed, and used only by the code that took it
//!   ([`CODE_VERSION`]): a changed `apply` ignores the old rows and replays;
//! - a snapshot is not the lock: the events' primary key still is. A command on a snapshot that
//!   another writer has passed appends at a taken sequence and is retried from a fresh load;
//! - a state that would not come back the same from JSON is never saved (checked each time);
//! - it is written outside the command's transaction: a lost write costs a longer load later.

use cqrs_es::persist::{EventStoreAggregateContext, PersistenceError};
use cqrs_es::Aggregate;
use k911_aggregates::CODE_VERSION;
use sqlx::PgPool;

/// A snapshot is taken once a command leaves this many events or more after the last snapshot
/// (or the first event): a load reads fewer than this many events beyond its snapshot, and at
/// most one command in this many writes a row.
pub const SNAPSHOT_EVERY: usize = 16;

/// The snapshot table of every aggregate type.
#[derive(Clone)]
pub struct Snapshots {
    pool: PgPool,
}

/// A state ready to be saved: taken before the commit (which consumes the aggregate), saved after.
pub struct Pending {
    sequence: usize,
    state: serde_json::Value,
}

impl Pending {
    /// The aggregate's sequence the state stands at.
    pub fn sequence(&self) -> usize {
        self.sequence
    }
}

/// A stored snapshot as a context to apply the later events to; `None` when its state does not
/// read (written by other code after all: the aggregate is replayed instead).
pub(crate) fn restore<A: Aggregate>(
    aggregate_id: &str,
    sequence: i64,
    state: serde_json::Value,
) -> Option<EventStoreAggregateContext<A>> {
    let aggregate = serde_json::from_value::<A>(state).ok()?;
    Some(EventStoreAggregateContext {
        aggregate_id: aggregate_id.to_string(),
        aggregate,
        current_sequence: sequence as usize,
        // Where the snapshot stands, so the commit knows how far the aggregate has gone since.
        current_snapshot: Some(sequence as usize),
    })
}

impl Snapshots {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The latest snapshot of `aggregate_id` this code can use, as a context to apply the later
    /// events to; `None` when there is none.
    pub async fn load<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<EventStoreAggregateContext<A>>, PersistenceError> {
        let row: Option<(i64, serde_json::Value)> = sqlx::query_as(
            "SELECT sequence, state FROM aggregate_snapshots
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND code_version = $3",
        )
        .bind(A::TYPE)
        .bind(aggregate_id)
        .bind(CODE_VERSION)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?;
        Ok(row.and_then(|(sequence, state)| restore(aggregate_id, sequence, state)))
    }

    /// The state to save if the command that left `context` with `new_events` more brings the
    /// aggregate [`SNAPSHOT_EVERY`] events or more past its snapshot (a load from the events
    /// alone: past its first event), and the state survives a JSON round trip.
    pub fn due<A: Aggregate>(
        context: &EventStoreAggregateContext<A>,
        new_events: usize,
    ) -> Option<Pending> {
        let after = context.current_sequence + new_events;
        let since = after - context.current_snapshot.unwrap_or(0);
        if new_events == 0 || since < SNAPSHOT_EVERY {
            return None;
        }
        let aggregate = &context.aggregate;
        let state = serde_json::to_value(aggregate).ok()?;
        let again = serde_json::from_value::<A>(state.clone())
            .ok()
            .and_then(|back| serde_json::to_value(back).ok())?;
        if again != state {
            tracing::warn!(
                aggregate_type = A::TYPE,
                "state does not survive JSON; not snapshotted"
            );
            return None;
        }
        Some(Pending {
            sequence: after,
            state,
        })
    }

    /// Saves `pending` once its events committed, unless a newer snapshot is there already.
    pub async fn save<A: Aggregate>(&self, aggregate_id: &str, pending: Pending) {
        self.save_all(vec![(A::TYPE, aggregate_id.to_string(), pending)])
            .await;
    }

    /// [`Self::save`] for many aggregates (of any types, each once) in one statement.
    pub async fn save_all(&self, pending: Vec<(&str, String, Pending)>) {
        if pending.is_empty() {
            return;
        }
        let mut types = Vec::with_capacity(pending.len());
        let mut ids = Vec::with_capacity(pending.len());
        let mut sequences = Vec::with_capacity(pending.len());
        let mut states = Vec::with_capacity(pending.len());
        for (aggregate_type, aggregate_id, pending) in pending {
            types.push(aggregate_type);
            ids.push(aggregate_id);
            sequences.push(pending.sequence as i64);
            states.push(pending.state);
        }
        let saved = sqlx::query(
            "INSERT INTO aggregate_snapshots (aggregate_type, aggregate_id, sequence, code_version, state)
             SELECT t, id, seq, $4, st FROM UNNEST($1::text[], $2::text[], $3::bigint[], $5::jsonb[])
                 AS u(t, id, seq, st)
             ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
                SET sequence = EXCLUDED.sequence, code_version = EXCLUDED.code_version,
                    state = EXCLUDED.state, taken_at = now()
              WHERE aggregate_snapshots.sequence < EXCLUDED.sequence
                 OR aggregate_snapshots.code_version <> EXCLUDED.code_version",
        )
        .bind(&types)
        .bind(&ids)
        .bind(&sequences)
        .bind(CODE_VERSION)
        .bind(&states)
        .execute(&self.pool)
        .await;
        if let Err(error) = saved {
            tracing::warn!(%error, "snapshots not saved; loads replay more");
        }
    }
}
