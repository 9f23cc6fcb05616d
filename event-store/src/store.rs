//! The postgres-es event store, in its plain event-store mode (the snapshot modes of 0.5.0 apply
//! new events twice; see ARCHITECTURE.md).

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, CqrsFramework};
use postgres_es::PostgresEventRepository;

use crate::log::{parse_xid, Checkpoint};
use crate::Database;

/// The event store of one aggregate type.
pub type Store<A> = PersistedEventStore<PostgresEventRepository, A>;

/// A cqrs-es framework persisting to PostgreSQL. It has no in-process queries: read models are
/// built by projectors from the global log, which survives a crash between commit and dispatch.
pub type Cqrs<A> = CqrsFramework<A, Store<A>>;

pub fn store<A: Aggregate>(db: &Database) -> Store<A> {
    PersistedEventStore::new_event_store(PostgresEventRepository::new(db.sqlx.clone()))
}

pub fn cqrs<A: Aggregate>(db: &Database, services: A::Services) -> Cqrs<A> {
    CqrsFramework::new(store::<A>(db), vec![], services)
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
