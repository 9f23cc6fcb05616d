//! The cqrs-es event store, in its plain event-store mode (the snapshot modes of 0.5.0 apply new
//! events twice; see ARCHITECTURE.md), over k911's repository: postgres-es reads, group commit
//! appends, and k911's own snapshots (`snapshot`) for aggregates with a long history.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use cqrs_es::persist::{
    EventStoreAggregateContext, EventUpcaster, PersistedEventRepository, PersistedEventStore,
    PersistenceError, SerializedEvent,
};
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventEnvelope, EventStore};
use k911_aggregates::upcast::Upcasters;

use crate::append::Repository;
use crate::log::{parse_xid, Checkpoint};
use crate::snapshot::Snapshots;
use crate::Database;

/// The event store of one aggregate type: events, and a snapshot when the aggregate has many.
pub struct Store<A: Aggregate> {
    events: PersistedEventStore<Repository, A>,
    /// The same repository, for the events after a snapshot.
    repository: Repository,
    snapshots: Snapshots,
    /// Ids of aggregates just generated, whose first load reads nothing (see
    /// [`Cqrs::expect_new`]).
    fresh: Arc<Mutex<HashSet<String>>>,
}

pub fn store<A: Aggregate>(db: &Database) -> Store<A> {
    let repository = || Repository::new(db.sqlx.clone(), db.appends.clone());
    Store {
        events: PersistedEventStore::new_event_store(repository())
            .with_upcasters(vec![Box::new(Upcasters)]),
        repository: repository(),
        snapshots: Snapshots::new(db.sqlx.clone()),
        fresh: Arc::default(),
    }
}

impl<A: Aggregate> EventStore<A> for Store<A> {
    type AC = EventStoreAggregateContext<A>;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        self.events.load_events(aggregate_id).await
    }

    /// From the snapshot and the events after it, or from every event when there is none;
    /// nothing to read for an aggregate known to be new.
    async fn load_aggregate(
        &self,
        aggregate_id: &str,
    ) -> Result<Self::AC, AggregateError<A::Error>> {
        // Taken out on first use, so a retry after a conflict reads the events.
        if self.fresh.lock().expect("fresh ids").remove(aggregate_id) {
            return Ok(new_context(aggregate_id));
        }
        let Some(mut context) = self.snapshots.load::<A>(aggregate_id).await? else {
            return self.events.load_aggregate(aggregate_id).await;
        };
        let later = self
            .repository
            .get_last_events::<A>(aggregate_id, context.current_sequence)
            .await?;
        for event in later {
            apply_stored(&mut context, event)?;
        }
        Ok(context)
    }

    /// The events in one append; then, [`crate::snapshot::SNAPSHOT_EVERY`] events or more past
    /// the last snapshot, the state the command left.
    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: Self::AC,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let pending = Snapshots::due(&context, events.len());
        let aggregate_id = context.aggregate_id.clone();
        let committed = self.events.commit(events, context, metadata).await?;
        if let Some(pending) = pending {
            self.snapshots.save::<A>(&aggregate_id, pending).await;
        }
        Ok(committed)
    }
}

/// The context of an aggregate with no events yet.
pub(crate) fn new_context<A: Aggregate>(aggregate_id: &str) -> EventStoreAggregateContext<A> {
    EventStoreAggregateContext {
        aggregate_id: aggregate_id.to_string(),
        aggregate: A::default(),
        current_sequence: 0,
        current_snapshot: None,
    }
}

/// Applies a stored event to `context`, upcast as a full load of the events does (cqrs-es's own
/// `deserialize_events` is crate-private).
pub(crate) fn apply_stored<A: Aggregate>(
    context: &mut EventStoreAggregateContext<A>,
    event: SerializedEvent,
) -> Result<(), PersistenceError> {
    let event = if Upcasters.can_upcast(&event.event_type, &event.event_version) {
        Upcasters.upcast(event)
    } else {
        event
    };
    let envelope = EventEnvelope::<A>::try_from(event)?;
    context.current_sequence = envelope.sequence;
    context.aggregate.apply(envelope.payload);
    Ok(())
}

/// A cqrs-es framework persisting to PostgreSQL. It has no in-process queries: read models are
/// built by projectors from the global log, which survives a crash between commit and dispatch.
pub struct Cqrs<A: Aggregate> {
    pub framework: CqrsFramework<A, Store<A>>,
    fresh: Arc<Mutex<HashSet<String>>>,
}

impl<A: Aggregate> Cqrs<A> {
    /// The next command on `id` creates the aggregate (its id was just generated): no need to
    /// read its events. Should it exist after all, the append conflicts and the retry loads it.
    pub fn expect_new(&self, id: &str) {
        self.fresh.lock().expect("fresh ids").insert(id.to_string());
    }
}

pub fn cqrs<A: Aggregate>(db: &Database, services: A::Services) -> Cqrs<A> {
    let store = store::<A>(db);
    let fresh = store.fresh.clone();
    Cqrs {
        framework: CqrsFramework::new(store, vec![], services),
        fresh,
    }
}

/// Where an aggregate's last event stands in the log: what a command answers as `position`
/// (`execute` returns neither events nor positions), with the transaction id that read models
/// are checked against.
pub async fn last_checkpoint(
    db: &Database,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Option<Checkpoint>, sqlx::Error> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT global_position, transaction_id::text FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2
          ORDER BY sequence DESC LIMIT 1",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_optional(&db.sqlx)
    .await?;
    Ok(row.map(|(global_position, xid)| Checkpoint {
        transaction_id: parse_xid(&xid),
        global_position,
    }))
}
