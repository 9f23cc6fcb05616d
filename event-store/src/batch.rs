//! Many commands at once: aggregates loaded by the hundred, commands decided in memory by the
//! aggregates' own `handle`, and every event appended by one statement — all or none.
//!
//! For bulk work whose rows are independent commands (a payment registry): one command at a time
//! costs a load and an append per aggregate, about ten round trips a row. Here a batch costs two
//! reads per aggregate type and one append. The rules are the same code: each command goes through
//! the aggregate's `handle`, which applies its events, so the next command on the same aggregate
//! sees them. The optimistic lock is the same too: should another writer have appended to any of
//! the batch's aggregates since it was loaded, the append conflicts, nothing of the batch is
//! written, and the caller runs its rows one command at a time.

use std::collections::HashMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistenceError, SerializedEvent};
use cqrs_es::{Aggregate, AggregateError, EventEnvelope};
use k911_aggregates::CODE_VERSION;

use crate::snapshot::{restore, Pending, Snapshots};
use crate::store::{apply_stored, new_context};
use crate::Database;

const SNAPSHOTS: &str = "
SELECT aggregate_id, sequence, state FROM aggregate_snapshots
 WHERE aggregate_type = $1 AND aggregate_id = ANY($2) AND code_version = $3";

/// Each aggregate's events read through the primary key, whatever the planner's statistics say
/// (`OFFSET 0` keeps the lateral read from being turned into a join): a type that had few events
/// when the log was last analyzed (payments, before the first registries) was joined by hashing
/// every event of the type, which grew with each registry (110-180 ms a batch at 40 000 payments).
/// Public for the test of its plan.
pub const EVENTS_AFTER: &str = "
SELECT e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, e.metadata
  FROM UNNEST($2::text[], $3::bigint[]) AS a(id, after)
 CROSS JOIN LATERAL (
       SELECT * FROM events e
        WHERE e.aggregate_type = $1 AND e.aggregate_id = a.id AND e.sequence > a.after
       OFFSET 0) e
 ORDER BY e.aggregate_id, e.sequence";

/// Aggregates of one type, loaded together: each from its snapshot (when this code took one) and
/// the events after it, or from its first event; an aggregate with no events is new.
pub async fn load_many<A: Aggregate>(
    db: &Database,
    ids: &[String],
) -> Result<HashMap<String, EventStoreAggregateContext<A>>, AggregateError<A::Error>> {
    let unreadable = |e: sqlx::Error| PersistenceError::UnknownError(Box::new(e));
    let snapshots: Vec<(String, i64, serde_json::Value)> = sqlx::query_as(SNAPSHOTS)
        .bind(A::TYPE)
        .bind(ids)
        .bind(CODE_VERSION)
        .fetch_all(&db.sqlx)
        .await
        .map_err(unreadable)?;
    let mut contexts: HashMap<String, EventStoreAggregateContext<A>> =
        ids.iter().map(|id| (id.clone(), new_context(id))).collect();
    for (id, sequence, state) in snapshots {
        if let Some(restored) = restore(&id, sequence, state) {
            contexts.insert(id, restored);
        }
    }
    let (ids, after): (Vec<&String>, Vec<i64>) = contexts
        .iter()
        .map(|(id, context)| (id, context.current_sequence as i64))
        .unzip();
    let rows: Vec<(
        String,
        i64,
        String,
        String,
        serde_json::Value,
        serde_json::Value,
    )> = sqlx::query_as(EVENTS_AFTER)
        .bind(A::TYPE)
        .bind(ids)
        .bind(after)
        .fetch_all(&db.sqlx)
        .await
        .map_err(unreadable)?;
    for (id, sequence, event_type, event_version, payload, metadata) in rows {
        let event = SerializedEvent {
            aggregate_id: id,
            sequence: sequence as usize,
            aggregate_type: A::TYPE.to_string(),
            event_type,
            event_version,
            payload,
            metadata,
        };
        let context = contexts
            .get_mut(&event.aggregate_id)
            .expect("only the asked aggregates are read");
        apply_stored(context, event)?;
    }
    Ok(contexts)
}

/// What `aggregate` decides on `command`, its events applied to it (as a command through the
/// framework would be): the rules are the aggregate's `handle`, unchanged.
pub async fn decide<A: Aggregate>(
    aggregate: &mut A,
    command: A::Command,
    services: &A::Services,
) -> Result<Vec<A::Event>, A::Error> {
    let sink = EventSink::default();
    aggregate.handle(command, services, &sink).await?;
    Ok(sink.collect().await)
}

/// The events decided for a batch's aggregates, in order, waiting to be appended together.
#[derive(Default)]
pub struct Batch {
    events: Vec<SerializedEvent>,
    /// The snapshot each aggregate is due, keyed by type and id: the latest wins.
    snapshots: HashMap<(&'static str, String), Pending>,
}

impl Batch {
    /// Takes the events a command decided on `context`'s aggregate (already applied to it, see
    /// [`decide`]), numbered after its current sequence, with the command's metadata.
    pub fn record<A: Aggregate>(
        &mut self,
        context: &mut EventStoreAggregateContext<A>,
        events: Vec<A::Event>,
        metadata: &HashMap<String, String>,
    ) -> Result<(), PersistenceError> {
        if events.is_empty() {
            return Ok(());
        }
        if let Some(pending) = Snapshots::due(context, events.len()) {
            context.current_snapshot = Some(pending.sequence());
            self.snapshots
                .insert((A::TYPE, context.aggregate_id.clone()), pending);
        }
        for payload in events {
            context.current_sequence += 1;
            let envelope = EventEnvelope::<A> {
                aggregate_id: context.aggregate_id.clone(),
                sequence: context.current_sequence,
                payload,
                metadata: metadata.clone(),
            };
            self.events.push(SerializedEvent::try_from(&envelope)?);
        }
        Ok(())
    }

    /// Appends every event in one statement (all or none: a conflict on any aggregate is
    /// [`PersistenceError::OptimisticLockError`] and writes nothing), then the snapshots due.
    pub async fn commit(self, db: &Database) -> Result<(), PersistenceError> {
        if self.events.is_empty() {
            return Ok(());
        }
        db.appends.append_together(self.events).await?;
        let due = self
            .snapshots
            .into_iter()
            .map(|((aggregate_type, id), pending)| (aggregate_type, id, pending))
            .collect();
        Snapshots::new(db.sqlx.clone()).save_all(due).await;
        Ok(())
    }
}
