//! Group commit: the events of concurrent commands are appended by one statement, in one
//! transaction, and each command learns its events' place in the log from that statement.
//!
//! postgres-es appends a command's events in a transaction of its own, one INSERT per event, and
//! returns no positions, so every command cost begin, insert, commit and a read-back of its
//! position: four round-trips and one WAL flush each. Here a writer task takes whatever commands
//! are waiting (a command never waits for others to arrive: a lone command is written at once)
//! and writes them all with one multi-row INSERT ... RETURNING, one round-trip and one flush for
//! the lot.
//!
//! The optimistic lock is unchanged: the primary key `(aggregate_type, aggregate_id, sequence)`.
//! A conflict aborts the whole statement, so only the commands that really lost the race may be
//! answered with one: two commands on one aggregate in one batch are written one after the
//! other, and after a conflict with an event already stored the batch is written again one
//! command at a time.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, OnceLock};

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use postgres_es::PostgresEventRepository;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use crate::log::{parse_xid, Checkpoint};

/// At most this many events per statement, so one statement stays short.
const MAX_EVENTS: usize = 256;
/// Commands waiting for the writer; beyond this a command waits to be queued.
const QUEUE: usize = 1024;

const INSERT: &str = "
INSERT INTO events
       (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
                     $6::jsonb[], $7::jsonb[])
RETURNING aggregate_type, aggregate_id, sequence, global_position, transaction_id::text";

tokio::task_local! {
    /// Where the last events appended by the current command went (see [`capture_position`]).
    static APPENDED: Cell<Option<Checkpoint>>;
}

/// Runs `command` (a cqrs-es `execute`, which returns no positions) and returns, beside its
/// result, the place in the log of the last event it appended, if it appended any.
pub async fn capture_position<F: Future>(command: F) -> (F::Output, Option<Checkpoint>) {
    APPENDED
        .scope(Cell::new(None), async {
            let output = command.await;
            (output, APPENDED.with(Cell::get))
        })
        .await
}

/// One command's events (or a batch's, on several aggregates: [`GroupCommit::append_together`]),
/// waiting for a writer.
struct Append {
    events: Vec<SerializedEvent>,
    done: oneshot::Sender<Result<Checkpoint, AppendError>>,
}

#[derive(Debug, Clone, thiserror::Error)]
enum AppendError {
    #[error("another command appended to the aggregate first")]
    Conflict,
    #[error("database unreachable: {0}")]
    Connection(String),
    #[error("append failed: {0}")]
    Other(String),
}

impl From<AppendError> for PersistenceError {
    fn from(error: AppendError) -> Self {
        match error {
            AppendError::Conflict => Self::OptimisticLockError,
            AppendError::Connection(_) => Self::ConnectionError(Box::new(error)),
            AppendError::Other(_) => Self::UnknownError(Box::new(error)),
        }
    }
}

impl From<sqlx::Error> for AppendError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => Self::Conflict,
            e if crate::connect::sqlx_unavailable(e) => Self::Connection(error.to_string()),
            _ => Self::Other(error.to_string()),
        }
    }
}

/// Told the event types of every batch, right after it commits: how the projectors that read
/// those types (and only those) are woken.
pub type OnCommit = Arc<dyn Fn(&[String]) + Send + Sync>;

/// The queue to the writer task of one database. The writer stops once every handle is gone.
///
/// One writer, measured best: batches grow by themselves while the previous one is written, and
/// no append's open transaction holds back the log that projectors read (with four writers,
/// projectors woke for commits they could not read yet).
#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Append>,
    on_commit: Arc<OnceLock<OnCommit>>,
}

impl GroupCommit {
    /// Starts the writer task (on the current tokio runtime).
    pub fn start(pool: PgPool) -> Self {
        let (queue, mut waiting) = mpsc::channel(QUEUE);
        let on_commit: Arc<OnceLock<OnCommit>> = Arc::default();
        let writer = Writer {
            pool,
            on_commit: on_commit.clone(),
        };
        tokio::spawn(async move {
            while let Some(batch) = next_batch(&mut waiting).await {
                writer.write(batch).await;
            }
        });
        Self { queue, on_commit }
    }

    /// Calls `hook` after every batch that commits (the first hook set stays). The writer calls
    /// it before it answers the batch's commands, so projectors start reading at once.
    pub fn when_committed(&self, hook: OnCommit) {
        let _ = self.on_commit.set(hook);
    }

    /// Appends the events of several commands (on as many aggregates) atomically: all or none,
    /// a conflict on any of them failing the lot. Returns the last one's place in the log.
    pub async fn append_together(
        &self,
        events: Vec<SerializedEvent>,
    ) -> Result<Checkpoint, PersistenceError> {
        Ok(self.append(events).await?)
    }

    /// Appends one command's events (one aggregate, consecutive sequences) atomically, and
    /// returns the last one's place in the log.
    async fn append(&self, events: Vec<SerializedEvent>) -> Result<Checkpoint, AppendError> {
        let (done, answer) = oneshot::channel();
        let stopped = || AppendError::Connection("the event writer has stopped".into());
        self.queue
            .send(Append { events, done })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Everything waiting right now (at least one command, at most [`MAX_EVENTS`] events unless a
/// single command has more); `None` once every [`GroupCommit`] is gone.
async fn next_batch(waiting: &mut mpsc::Receiver<Append>) -> Option<Vec<Append>> {
    let first = waiting.recv().await?;
    let mut events = first.events.len();
    let mut batch = vec![first];
    while events < MAX_EVENTS {
        match waiting.try_recv() {
            Ok(next) => {
                events += next.events.len();
                batch.push(next);
            }
            Err(_) => break,
        }
    }
    Some(batch)
}

/// The writer task's connection pool and commit hook.
struct Writer {
    pool: PgPool,
    on_commit: Arc<OnceLock<OnCommit>>,
}

impl Writer {
    /// Writes a batch in one statement, each aggregate once: two commands on one aggregate that
    /// wait together started from the same state, and at most one of them can win, so the
    /// others are written after the batch rather than failing it.
    async fn write(&self, batch: Vec<Append>) {
        let mut aggregates = HashSet::new();
        let (first, again): (Vec<Append>, Vec<Append>) = batch.into_iter().partition(|append| {
            let touched: HashSet<(String, String)> = append
                .events
                .iter()
                .map(|e| (e.aggregate_type.clone(), e.aggregate_id.clone()))
                .collect();
            if touched
                .iter()
                .any(|aggregate| aggregates.contains(aggregate))
            {
                return false;
            }
            aggregates.extend(touched);
            true
        });
        self.write_once(first).await;
        if !again.is_empty() {
            Box::pin(self.write(again)).await;
        }
    }

    /// Writes a batch in one statement; after a conflict (with an event already stored), each
    /// command alone, so only the commands that lost are told so.
    async fn write_once(&self, batch: Vec<Append>) {
        match insert(&self.pool, &batch).await {
            Ok(mut positions) => {
                if let Some(hook) = self.on_commit.get() {
                    let types: BTreeSet<String> = batch
                        .iter()
                        .flat_map(|append| append.events.iter().map(|e| e.event_type.clone()))
                        .collect();
                    hook(&types.into_iter().collect::<Vec<_>>());
                }
                for append in batch {
                    let last = append.events.last().map(key);
                    let result = last
                        .and_then(|last| positions.remove(&last))
                        .ok_or_else(|| {
                            AppendError::Other("an appended event was not returned".into())
                        });
                    let _ = append.done.send(result);
                }
            }
            Err(AppendError::Conflict) if batch.len() > 1 => {
                for append in batch {
                    Box::pin(self.write_once(vec![append])).await;
                }
            }
            Err(error) => {
                for append in batch {
                    let _ = append.done.send(Err(error.clone()));
                }
            }
        }
    }
}

type EventKey = (String, String, i64);

fn key(event: &SerializedEvent) -> EventKey {
    (
        event.aggregate_type.clone(),
        event.aggregate_id.clone(),
        event.sequence as i64,
    )
}

/// One INSERT of every event of the batch (autocommit: one transaction), in the batch's order,
/// so each command's events get ascending positions.
async fn insert(
    pool: &PgPool,
    batch: &[Append],
) -> Result<HashMap<EventKey, Checkpoint>, AppendError> {
    let events = || batch.iter().flat_map(|append| append.events.iter());
    let column = |f: fn(&SerializedEvent) -> String| events().map(f).collect::<Vec<_>>();
    let rows: Vec<(String, String, i64, i64, String)> = sqlx::query_as(INSERT)
        .bind(column(|e| e.aggregate_type.clone()))
        .bind(column(|e| e.aggregate_id.clone()))
        .bind(events().map(|e| e.sequence as i64).collect::<Vec<_>>())
        .bind(column(|e| e.event_type.clone()))
        .bind(column(|e| e.event_version.clone()))
        .bind(events().map(|e| e.payload.clone()).collect::<Vec<_>>())
        .bind(events().map(|e| e.metadata.clone()).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(aggregate_type, aggregate_id, sequence, position, xid)| {
            let checkpoint = Checkpoint {
                transaction_id: parse_xid(&xid),
                global_position: position,
            };
            ((aggregate_type, aggregate_id, sequence), checkpoint)
        })
        .collect())
}

/// The event repository of k911: postgres-es reads the events; appends go through the group
/// commit. postgres-es's snapshots are not used (see ARCHITECTURE.md): k911 keeps its own
/// (`snapshot`).
pub struct Repository {
    reads: PostgresEventRepository,
    appends: GroupCommit,
}

impl Repository {
    pub fn new(pool: PgPool, appends: GroupCommit) -> Self {
        Self {
            reads: PostgresEventRepository::new(pool),
            appends,
        }
    }
}

impl PersistedEventRepository for Repository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads.get_events::<A>(aggregate_id).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.reads.get_snapshot::<A>(aggregate_id).await
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, serde_json::Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if snapshot_update.is_some() {
            return Err(PersistenceError::UnknownError(
                "snapshots are not used: k911 runs cqrs-es in its plain event-store mode".into(),
            ));
        }
        if events.is_empty() {
            return Ok(());
        }
        let checkpoint = self.appends.append(events.to_vec()).await?;
        // Outside `capture_position` (process managers) nobody asks where the events went.
        let _ = APPENDED.try_with(|appended| appended.set(Some(checkpoint)));
        Ok(())
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_all_events::<A>().await
    }
}
