//! The follower runtime: one task per follower of the global log (a read model or a process
//! manager, see [`Kind`]) that applies the log from its checkpoint.
//!
//! - Exactly once: a batch of events and the new checkpoint commit in one transaction.
//! - One writer per follower across instances: each batch takes a transaction-level advisory
//!   lock (released with the transaction, even if the connection dies); a rebuild holds the same
//!   lock for its whole run, so live projectors wait meanwhile.
//! - Woken in-process right after a local commit, and by other instances' commits through
//!   `NOTIFY`; polling only covers what a notification could miss (a command-line process that
//!   exits before announcing, a listener that is down), slowly while the listener is up.
//! - `rebuild` drops the tables, resets the checkpoint and replays the log through the same code.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::log::{self, Checkpoint, LogPage, RecordedEvent};
use crate::Database;
use async_trait::async_trait;
use cqrs_es::persist::EventUpcaster;
use futures::{StreamExt, TryStreamExt};
use k911_aggregates::upcast::{upcast, Upcasters};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

/// Events applied per transaction.
const BATCH: i64 = 500;
/// Read models rebuilt at once (each on its own connection).
const REBUILDS_AT_ONCE: usize = 4;
/// How often an idle projector looks for events anyway while the commit listener is down: other
/// instances' commits are then found only this way.
const POLL: Duration = Duration::from_millis(100);
/// How often it looks while the listener is up, for commits nobody announced (a command-line
/// process that exited before its announcement went out). Each look is a transaction and a
/// log read: at [`POLL`]'s pace, 22 idle followers made a third of the log reads under the ticket
/// load (`pg_stat_statements`).
const LISTENING_POLL: Duration = Duration::from_secs(1);
/// How long a follower that [trails](Follower::trails) lets commits gather before it reads them.
const GATHER: Duration = Duration::from_millis(500);
/// The channel on which instances tell each other that events were committed.
const CHANNEL: &str = "k911_events";
/// At most one NOTIFY per this interval: NOTIFY serialises commits, so it is coalesced.
const NOTIFY_EVERY: Duration = Duration::from_millis(5);
/// How soon a projector looks again at events held back by a running transaction.
const HELD_BACK_RETRY: Duration = Duration::from_millis(5);
/// A rebuild held back this long says so (every such interval) and goes on waiting.
const HELD_BACK_WARNING: Duration = Duration::from_secs(10);
/// How often a projector with nothing to apply stores how far it has seen.
const PERSIST_IDLE_EVERY: Duration = Duration::from_secs(1);
/// Pause before a projector that failed tries again.
const RETRY: Duration = Duration::from_secs(1);

/// What a follower of the log is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Keeps `tables` (schema-qualified), which the log can rebuild: `create_sql` makes them if
    /// they are missing (idempotent); a rebuild drops them, after the `views` it defines over
    /// them (which `create_sql` defines again). Read-your-writes waits for these.
    ReadModel {
        create_sql: &'static str,
        tables: &'static [&'static str],
        views: &'static [&'static str],
    },
    /// Acts on events: issues commands and writes effects in the outbox. What it did happened
    /// once, so it is never rebuilt, and readers do not wait for it.
    ProcessManager,
    /// Keeps a record of the whole log from its first event (the audit hash chain): never
    /// rebuilt, never moved to the log's end by a cut-over, and readers do not wait for it.
    Ledger,
}

/// A read model, a process manager or the audit chain, fed from the global log.
#[async_trait]
pub trait Follower: Send + Sync {
    /// Stable name: the checkpoint key and the `k911 projections rebuild NAME` argument.
    fn name(&self) -> &'static str;
    /// The event types it reads; the log is filtered to these, and only their commits wake it.
    /// Named through the aggregates' event enums (`LoanEventType::ContractSigned.into()`), so a
    /// misspelt type does not compile. Event type names are unique across aggregates. An empty
    /// list: every event of every type, those of types no aggregate records any more included
    /// (the audit chain).
    fn event_types(&self) -> Vec<&'static str>;
    fn kind(&self) -> Kind;

    fn is_process_manager(&self) -> bool {
        self.kind() == Kind::ProcessManager
    }

    fn is_read_model(&self) -> bool {
        matches!(self.kind(), Kind::ReadModel { .. })
    }

    /// Whether it follows the log up to [`GATHER`] behind instead of being woken by every
    /// commit: for followers that no reader needs in step with a command (the audit trail's
    /// subjects, the hash chain). They read commits in fewer, larger batches, out of the
    /// commands' way (measured: a follower woken by each ticket took a fifth of the ticket
    /// path's throughput). Read-your-writes does not wait for them; `wait_for_all` wakes them.
    fn trails(&self) -> bool {
        false
    }

    /// Applies one event inside the batch transaction; events of no interest are ignored.
    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError>;

    /// Applies a batch of events in log order. One after another by default, since an event's
    /// statements may depend on the rows of the events before it; a read model can write runs of
    /// events with one statement instead.
    async fn apply_all(
        &self,
        tx: &BatchTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), FollowerError> {
        for event in events {
            self.apply(tx, event).await?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FollowerError {
    #[error("database: {}", pg_message(.0))]
    Database(#[from] tokio_postgres::Error),
    #[error("event at position {position} cannot be handled: {reason}")]
    BadEvent { position: i64, reason: String },
    /// A process manager's step could not be done now (the database or a provider is out of
    /// reach): the batch is tried again, the event is not set aside.
    #[error("not now: {0}")]
    NotNow(String),
    #[error("the read models did not reach position {0} in time")]
    Timeout(i64),
    #[error("position {0} is beyond the head of the log")]
    BeyondHead(i64),
    #[error("no read model or process manager is called {0}")]
    Unknown(String),
    #[error(
        "{0} is not a read model: what a process manager did happened once, and the audit chain \
         is never rewritten; neither is rebuilt"
    )]
    NotReadModel(String),
    #[error(
        "{0} is not a process manager: read models replay the whole log, and the audit chain \
         links it all"
    )]
    NotProcessManager(String),
    #[error("no database connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
}

impl FollowerError {
    pub fn bad_event(event: &RecordedEvent, reason: impl ToString) -> Self {
        Self::BadEvent {
            position: event.position(),
            reason: reason.to_string(),
        }
    }

    /// Whether the error is about one event (it cannot be read, or breaks the read model's
    /// constraints or types), not about the database or the code: such an event is set aside so
    /// the read model goes on. Anything else is retried.
    fn about_one_event(&self) -> bool {
        match self {
            Self::BadEvent { .. } => true,
            // 25P02: a pipelined statement failed and aborted the batch; applied again one event
            // at a time, each statement awaited, the failing one shows itself.
            Self::Database(error) => error.code().is_some_and(|code| {
                let code = code.code();
                code.starts_with("22") || code.starts_with("23") || code == "25P02"
            }),
            _ => false,
        }
    }
}

/// Prepared statements of one projector connection: each SQL text is parsed and planned once
/// per connection, not once per event.
#[derive(Default)]
pub struct Statements(std::sync::Mutex<HashMap<&'static str, Statement>>);

/// An event's aggregate id as the UUID every k911 aggregate uses.
pub fn aggregate_uuid(event: &RecordedEvent) -> Result<uuid::Uuid, FollowerError> {
    event
        .aggregate_id
        .parse()
        .map_err(|e| FollowerError::bad_event(event, e))
}

/// An event's payload as its aggregate's event type, in today's shape (older versions upcast).
pub fn payload<T: serde::de::DeserializeOwned>(event: &RecordedEvent) -> Result<T, FollowerError> {
    // Read in place unless an upcaster changes it: a payload's copy costs more than its reading.
    let read = if Upcasters.can_upcast(&event.event_type, &event.event_version) {
        let current = upcast(
            &event.event_type,
            &event.event_version,
            event.payload.clone(),
        );
        T::deserialize(current)
    } else {
        T::deserialize(&event.payload)
    };
    read.map_err(|e| FollowerError::bad_event(event, e))
}

/// The transaction a batch is applied in (begun and ended by the runtime, so that BEGIN and
/// COMMIT travel with other statements), with its connection's prepared statements.
pub struct BatchTx<'a> {
    tx: &'a Client,
    statements: &'a Statements,
    /// Writes are sent without waiting for their answers (see [`Self::execute`]).
    pipelined: bool,
}

impl BatchTx<'_> {
    /// A write. In a pipelined batch it is sent at once and its answer not awaited: the batch's
    /// statements travel back to back instead of one round trip each, in the order written, and
    /// every later statement sees it. A write that fails aborts the transaction, so the batch's
    /// checkpoint cannot be stored after it (25P02) and the batch is applied again one event at
    /// a time with every write awaited ([`FollowerError::about_one_event`]).
    pub async fn execute(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<(), tokio_postgres::Error> {
        let statement = self.prepare(sql).await?;
        let write = self.tx.execute(&statement, params);
        if self.pipelined {
            // One poll encodes and sends the request; its answer is then dropped unread.
            match futures::FutureExt::now_or_never(write) {
                Some(done) => done.map(|_| ()),
                None => Ok(()),
            }
        } else {
            write.await.map(|_| ())
        }
    }

    pub async fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let statement = self.prepare(sql).await?;
        self.tx.query(&statement, params).await
    }

    pub async fn query_one(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, tokio_postgres::Error> {
        let statement = self.prepare(sql).await?;
        self.tx.query_one(&statement, params).await
    }

    pub async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        let statement = self.prepare(sql).await?;
        self.tx.query_opt(&statement, params).await
    }

    /// The payload of an aggregate's first event: how a process manager reaches the data that
    /// started the aggregate (a ticket's contact, an application's customer).
    pub async fn first_payload(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<serde_json::Value, tokio_postgres::Error> {
        let row = self
            .query_one(
                "SELECT event_type, event_version, payload FROM events
                  WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = 1",
                &[&aggregate_type, &aggregate_id],
            )
            .await?;
        Ok(upcast(row.get(0), row.get(1), row.get(2)))
    }

    /// The payload of an aggregate's latest event of `event_type` before its event number
    /// `before` (the one being handled), if it has one: what was so when that event happened,
    /// whatever came after it.
    pub async fn latest_payload_before(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        event_type: &str,
        before: i64,
    ) -> Result<Option<serde_json::Value>, tokio_postgres::Error> {
        let row = self
            .query_opt(
                "SELECT event_version, payload FROM events
                  WHERE aggregate_type = $1 AND aggregate_id = $2 AND event_type = $3
                    AND sequence < $4
                  ORDER BY sequence DESC LIMIT 1",
                &[&aggregate_type, &aggregate_id, &event_type, &before],
            )
            .await?;
        Ok(row.map(|row| upcast(event_type, row.get(0), row.get(1))))
    }

    /// The event number of an aggregate's latest event of `event_type`, if it has one.
    pub async fn latest_sequence(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        event_type: &str,
    ) -> Result<Option<i64>, tokio_postgres::Error> {
        let row = self
            .query_opt(
                "SELECT max(sequence) FROM events
                  WHERE aggregate_type = $1 AND aggregate_id = $2 AND event_type = $3",
                &[&aggregate_type, &aggregate_id, &event_type],
            )
            .await?;
        Ok(row.and_then(|row| row.get(0)))
    }

    /// The connection, inside the batch's transaction, for helpers that take any client.
    pub fn transaction(&self) -> &Client {
        self.tx
    }

    async fn prepare(&self, sql: &'static str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(statement) = self.statements.0.lock().expect("statement cache").get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(sql).await?;
        self.statements
            .0
            .lock()
            .expect("statement cache")
            .insert(sql, statement.clone());
        Ok(statement)
    }
}

/// The projectors of this process.
#[derive(Clone)]
pub struct Followers {
    inner: Arc<Inner>,
}

/// Wakes the projectors once they exist. Stores are built before the projectors (a process
/// manager among them may hold a store), so a store's commit hook holds this, and only a weak
/// reference to the projectors: no cycle keeps either alive.
#[derive(Clone, Default)]
pub struct Waker(Arc<std::sync::OnceLock<std::sync::Weak<Inner>>>);

impl Waker {
    pub fn committed(&self, event_types: &[String]) {
        if let Some(inner) = self.0.get().and_then(std::sync::Weak::upgrade) {
            Followers { inner }.committed(event_types);
        }
    }

    /// Points the waker at `projectors`; the first call wins.
    pub fn attach(&self, projectors: &Followers) {
        let _ = self.0.set(Arc::downgrade(&projectors.inner));
    }
}

/// Whom a wait is for.
#[derive(Clone, Copy)]
enum Whom<'a> {
    ReadModels,
    All,
    Named(&'a str),
}

impl Whom<'_> {
    fn includes(self, projection: &dyn Follower) -> bool {
        match self {
            Whom::ReadModels => projection.is_read_model() && !projection.trails(),
            Whom::All => true,
            Whom::Named(name) => projection.name() == name,
        }
    }
}

/// One read model in this process: what wakes it, and how far it has applied the log.
struct Slot {
    projection: Arc<dyn Follower>,
    /// Its event types, asked once.
    types: Vec<&'static str>,
    wake: Notify,
    /// The checkpoint as last seen by this process's projector (its own batches, or another
    /// instance's, read back from the database).
    applied: watch::Sender<Checkpoint>,
    /// The furthest place a reader in this process has waited for it to reach: until it gets
    /// there it looks at the log again soon, not at its idle pace (the place may lie past the
    /// horizon of a transaction still running, with none of its own types beyond it).
    wanted: std::sync::Mutex<Checkpoint>,
}

struct Inner {
    db: Database,
    projections: Vec<Slot>,
    /// Set by local commits; the notifier task turns it into one NOTIFY for other instances.
    committed: Notify,
    /// Event types committed here since the last NOTIFY.
    pending: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Tells this instance's notifications from others'.
    instance: u64,
    poll: Duration,
    /// Whether the commit listener is `LISTEN`ing: other instances' commits then wake the
    /// followers, and polling slows to [`LISTENING_POLL`].
    listening: std::sync::atomic::AtomicBool,
    /// Bumped whenever a checkpoint moves, for `wait_for`.
    progress: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
}

/// The event types a follower reads that no aggregate records (a typo, a renamed event): such a
/// follower would wait for ever.
pub fn unknown_event_types(projection: &dyn Follower) -> Vec<&'static str> {
    let known: std::collections::BTreeSet<&str> = k911_aggregates::event_types()
        .into_iter()
        .map(|(_, event)| event)
        .collect();
    projection
        .event_types()
        .into_iter()
        .filter(|event| !known.contains(event))
        .collect()
}

impl Followers {
    /// The followers of `projections`. Panics if one reads an event type no aggregate records:
    /// a programming error every test meets at once.
    pub fn new(db: Database, projections: Vec<Arc<dyn Follower>>) -> Self {
        for projection in &projections {
            let unknown = unknown_event_types(projection.as_ref());
            assert!(
                unknown.is_empty(),
                "{} reads event types no aggregate records: {unknown:?}",
                projection.name()
            );
        }
        Self {
            inner: Arc::new(Inner {
                db,
                projections: projections
                    .into_iter()
                    .map(|projection| Slot {
                        types: projection.event_types(),
                        projection,
                        wake: Notify::new(),
                        applied: watch::Sender::new(Checkpoint::default()),
                        wanted: std::sync::Mutex::default(),
                    })
                    .collect(),
                committed: Notify::new(),
                pending: std::sync::Mutex::default(),
                instance: rand_instance_id(),
                poll: POLL,
                listening: std::sync::atomic::AtomicBool::new(false),
                progress: watch::Sender::new(0),
                shutdown: watch::Sender::new(false),
            }),
        }
    }

    /// The same projectors, looking for missed events every `poll` instead of the default while
    /// the listener is down (and every `poll` or every second, whichever is longer, while it is
    /// up).
    pub fn with_poll_interval(self, poll: Duration) -> Self {
        let inner =
            Arc::try_unwrap(self.inner).unwrap_or_else(|_| panic!("configure before start"));
        Self {
            inner: Arc::new(Inner { poll, ..inner }),
        }
    }

    /// Starts one task per read model, the listener for other instances' commits and the
    /// notifier for ours. They run until [`Followers::shutdown`].
    pub fn start(&self) -> Vec<JoinHandle<()>> {
        let mut tasks: Vec<JoinHandle<()>> = (0..self.inner.projections.len())
            .map(|i| {
                let inner = self.inner.clone();
                tokio::spawn(async move { inner.run(i).await })
            })
            .collect();
        let inner = self.inner.clone();
        tasks.push(tokio::spawn(async move { inner.listen().await }));
        tasks.push(self.start_announcer());
        tasks
    }

    /// Starts only the task that announces this process's commits to other instances: for a
    /// command-line process that appends events with no followers of its own, so the running
    /// services apply them at once instead of at their next poll.
    pub fn start_announcer(&self) -> JoinHandle<()> {
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.notify_others().await })
    }

    /// Tells the projectors that read `event_types` that such events were committed here, and
    /// other instances soon after.
    pub fn committed(&self, event_types: &[String]) {
        event_types.iter().for_each(|t| self.inner.wake_for(t));
        self.inner
            .pending
            .lock()
            .expect("pending types")
            .extend(event_types.iter().cloned());
        self.inner.committed.notify_one();
    }

    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Announces at once the commits the announcer has not yet: for a one-off command before it
    /// exits (its last commits would otherwise wait for the services' next look at the log).
    pub async fn announce_pending(&self) {
        self.inner.announce_pending().await;
    }

    /// Waits until every read model has applied the event at `position` (read-your-writes).
    /// Process managers are not waited for: a reader wants rows, not what a process manager
    /// decided (which shows in a read model only once its own events are applied).
    pub async fn wait_for(&self, position: i64, timeout: Duration) -> Result<(), FollowerError> {
        self.wait_for_whom(Whom::ReadModels, position, timeout)
            .await
    }

    /// Waits until every follower, process managers included, has handled the event at
    /// `position` (a test, or an operator, waiting for the system to settle).
    pub async fn wait_for_all(
        &self,
        position: i64,
        timeout: Duration,
    ) -> Result<(), FollowerError> {
        self.wait_for_whom(Whom::All, position, timeout).await
    }

    async fn wait_for_whom(
        &self,
        whom: Whom<'_>,
        position: i64,
        timeout: Duration,
    ) -> Result<(), FollowerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        // The connection goes back to the pool before the wait: waiting readers must not drain it.
        let target = {
            let client = self.inner.db.pg.get().await?;
            log::checkpoint_at_or_after(&**client, position).await?
        };
        match target {
            Some(target) => self.wait_until(whom, target, deadline).await,
            // Every command answers after its commit: no client can know a position beyond it.
            None => Err(FollowerError::BeyondHead(position)),
        }
    }

    /// Waits until the follower `name` has handled the event at `position`, waking it if it
    /// [trails](Follower::trails) the log.
    pub async fn wait_for_named(
        &self,
        name: &str,
        position: i64,
        timeout: Duration,
    ) -> Result<(), FollowerError> {
        self.wait_for_whom(Whom::Named(name), position, timeout)
            .await
    }

    /// Waits until the read model `name` has applied the event at `target`, which a command's
    /// answer knows without asking the database.
    pub async fn wait_for_one(
        &self,
        name: &str,
        target: Checkpoint,
        timeout: Duration,
    ) -> Result<(), FollowerError> {
        self.wait_until(
            Whom::Named(name),
            target,
            tokio::time::Instant::now() + timeout,
        )
        .await
    }

    /// Waits on this process's projectors (which also pick up other instances' progress when
    /// they read their checkpoints): no query per waiting request.
    async fn wait_until(
        &self,
        whom: Whom<'_>,
        target: Checkpoint,
        deadline: tokio::time::Instant,
    ) -> Result<(), FollowerError> {
        let mut progress = self.inner.progress.subscribe();
        let mut woken = false;
        loop {
            progress.borrow_and_update();
            let behind: Vec<&Slot> = self
                .inner
                .projections
                .iter()
                .filter(|slot| whom.includes(slot.projection.as_ref()))
                .filter(|slot| *slot.applied.borrow() < target)
                .collect();
            if behind.is_empty() {
                return Ok(());
            }
            // A projector with nothing of its own to apply only looks at the log when polled;
            // nudge those behind once so they move their horizon now, and keep looking until
            // they reach the target.
            if !woken {
                for slot in &behind {
                    let mut wanted = slot.wanted.lock().expect("wanted checkpoint");
                    *wanted = (*wanted).max(target);
                    slot.wake.notify_one();
                }
                woken = true;
            }
            if tokio::time::timeout_at(deadline, progress.changed())
                .await
                .is_err()
            {
                return Err(FollowerError::Timeout(target.global_position));
            }
        }
    }

    /// Waits until every projector has created its tables and checkpoint.
    pub async fn wait_started(&self, timeout: Duration) -> Result<(), FollowerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let names: Vec<&str> = self
            .inner
            .projections
            .iter()
            .map(|slot| slot.projection.name())
            .collect();
        loop {
            let client = self.inner.db.pg.get().await?;
            let started: i64 = client
                .query_one(
                    "SELECT count(*) FROM projection_checkpoints WHERE projection = ANY($1)",
                    &[&names],
                )
                .await?
                .get(0);
            if started as usize == names.len() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(FollowerError::Timeout(0));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many visible events of its types the slowest follower (read model, process manager
    /// or the audit chain) still has to apply, as this process's followers last saw their
    /// checkpoints.
    pub async fn lag(&self) -> Result<i64, FollowerError> {
        let client = self.inner.db.pg.get().await?;
        let mut worst = 0;
        for slot in &self.inner.projections {
            let seen = *slot.applied.borrow();
            let row = client
                .query_one(
                    "SELECT count(*) FROM events
                      WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
                        AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                        AND ($3::text[] = '{}' OR event_type = ANY($3))",
                    &[
                        &seen.transaction_id.to_string(),
                        &seen.global_position,
                        &slot.types,
                    ],
                )
                .await?;
            worst = worst.max(row.get::<_, i64>(0));
        }
        Ok(worst)
    }

    /// Events set aside because a follower could not handle them (`projection_failures`),
    /// waiting for a person.
    pub async fn set_aside(&self) -> Result<i64, FollowerError> {
        let client = self.inner.db.pg.get().await?;
        let row = client
            .query_one("SELECT count(*) FROM projection_failures", &[])
            .await?;
        Ok(row.get(0))
    }

    /// Drops and replays the read model `name` (all of them when `None`), holding its lock so a
    /// live projector waits meanwhile. Returns how many events each replay applied, and how long
    /// it took. Process managers are never rebuilt.
    pub async fn rebuild(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<(&'static str, u64, Duration)>, FollowerError> {
        if let Some(manager) =
            self.inner.projections.iter().find(|slot| {
                !slot.projection.is_read_model() && Some(slot.projection.name()) == name
            })
        {
            return Err(FollowerError::NotReadModel(
                manager.projection.name().to_string(),
            ));
        }
        let selected: Vec<&Slot> = self
            .inner
            .projections
            .iter()
            .filter(|slot| slot.projection.is_read_model())
            .filter(|slot| name.is_none_or(|n| n == slot.projection.name()))
            .collect();
        if selected.is_empty() {
            return Err(FollowerError::Unknown(name.unwrap_or_default().to_string()));
        }
        // Each read model has its own tables, lock, checkpoint and connection: a few are rebuilt
        // at once, so that one's round trips overlap another's work on the two sides of the
        // connection. The next starts as soon as any one ends (in order, a finished rebuild kept
        // its place until every one before it had ended: behind the loans' 39 s, the small read
        // models and the consents waited, a fifth of a loan book's rebuild). Reported in the
        // order they are kept.
        let mut rebuilt: Vec<(usize, (&'static str, u64, Duration))> =
            futures::stream::iter(selected.into_iter().enumerate())
                .map(|(i, slot)| async move {
                    Ok::<_, FollowerError>((i, self.rebuild_one(slot).await?))
                })
                .buffer_unordered(REBUILDS_AT_ONCE)
                .try_collect()
                .await?;
        rebuilt.sort_by_key(|(i, _)| *i);
        Ok(rebuilt.into_iter().map(|(_, done)| done).collect())
    }

    async fn rebuild_one(
        &self,
        slot: &Slot,
    ) -> Result<(&'static str, u64, Duration), FollowerError> {
        let projection = &slot.projection;
        let started = std::time::Instant::now();
        let connection = connect(&self.inner.db, projection.name()).await?;
        let client = &connection.client;
        // Held for the whole rebuild: live projectors skip their batches meanwhile.
        client
            .execute(
                "SELECT pg_advisory_lock(hashtext($1))",
                &[&lock_key(projection.as_ref())],
            )
            .await?;
        // The checkpoint goes back first: readers elsewhere then wait for the replay, and never
        // see the emptied tables under the old checkpoint.
        client
            .execute(
                "UPDATE projection_checkpoints SET transaction_id = '0', global_position = 0,
                        updated_at = now() WHERE projection = $1",
                &[&projection.name()],
            )
            .await?;
        let (tables, views) = match projection.kind() {
            Kind::ReadModel { tables, views, .. } => (tables.join(", "), views.join(", ")),
            _ => (String::new(), String::new()),
        };
        // A view over the tables would stop their DROP; `create_sql` defines it again.
        if !views.is_empty() {
            client
                .batch_execute(&format!("DROP VIEW IF EXISTS {views}"))
                .await?;
        }
        if !tables.is_empty() {
            client
                .batch_execute(&format!("DROP TABLE IF EXISTS {tables}"))
                .await?;
        }
        prepare(client, projection.as_ref()).await?;
        client
            .execute(
                "DELETE FROM projection_failures WHERE projection = $1",
                &[&projection.name()],
            )
            .await?;
        // The log is read ahead on a connection of its own: the next page comes from the
        // server while this one's batch is applied, and decoding it overlaps the batch's writes.
        let reader = connect(&self.inner.db, projection.name()).await?;
        reader
            .client
            .batch_execute(&read_planning(|name, value| {
                format!("SET {name} = {value}")
            }))
            .await?;
        let read_after =
            |from| log::read_after(&reader.client, &reader.read, from, &slot.types, BATCH);
        let mut stored = Checkpoint::default();
        let mut page = read_after(stored).await?;
        let mut applied = 0u64;
        let mut waiting_since: Option<std::time::Instant> = None;
        loop {
            let reached = page.reached;
            let source = Source::ReadAhead { stored, page };
            let (batch, ahead) = tokio::join!(
                apply_batch(&connection, slot, true, false, source),
                read_after(reached)
            );
            let batch = match batch {
                Err(error) if error.about_one_event() => {
                    // The batch's transaction is still open: end it, and apply the batch again
                    // (read again in its transaction), setting aside what cannot be applied.
                    client.batch_execute("ROLLBACK").await?;
                    apply_batch(&connection, slot, true, true, Source::Log(None)).await?
                }
                other => other?,
            };
            stored = batch.checkpoint.unwrap_or(stored);
            slot.applied.send_replace(stored);
            if batch.applied == 0 {
                if !batch.held_back {
                    break;
                }
                // Events wait behind a transaction still running (in any database of the
                // cluster): the rebuild is done only once it has read them.
                let since = *waiting_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > HELD_BACK_WARNING {
                    tracing::warn!(
                        projection = projection.name(),
                        "rebuild waiting for a transaction that has been open for a long time \
                         (pg_stat_activity: idle in transaction, or prepared)"
                    );
                    waiting_since = Some(std::time::Instant::now());
                }
                tokio::time::sleep(HELD_BACK_RETRY).await;
                page = read_after(stored).await?;
                continue;
            }
            waiting_since = None;
            applied += batch.applied as u64;
            // The page read ahead starts where this batch ended, unless it was read again.
            page = match ahead {
                Ok(ahead) if stored == reached => ahead,
                _ => read_after(stored).await?,
            };
        }
        // New tables have no planner statistics until autovacuum analyzes them (minutes later,
        // or never where it is off): meanwhile every estimate is a default guess, and the
        // cabinet's loan page read its payments with a bitmap scan that cost it a fifth more.
        if !tables.is_empty() {
            client.batch_execute(&format!("ANALYZE {tables}")).await?;
        }
        client
            .execute(
                "SELECT pg_advisory_unlock(hashtext($1))",
                &[&lock_key(projection.as_ref())],
            )
            .await?;
        self.inner.progress.send_modify(|v| *v += 1);
        Ok((projection.name(), applied, started.elapsed()))
    }

    /// Process managers begin at the end of the log as it stands, and read models still replay
    /// it all: for a loan book imported with its history from the system it came from, which
    /// already acted on it (accounts opened, money paid out, SMS sent). `name`: only that
    /// process manager, for a release that adds one to a running book (it would otherwise act
    /// on the whole history: bureau reports long past their deadline, say). Run with the
    /// service stopped, or events committed meanwhile are skipped too. Returns the position they
    /// start after (0 for an empty log).
    pub async fn cut_over(&self, name: Option<&str>) -> Result<i64, FollowerError> {
        if let Some(name) = name {
            match self
                .inner
                .projections
                .iter()
                .find(|slot| slot.projection.name() == name)
            {
                None => return Err(FollowerError::Unknown(name.to_string())),
                Some(slot) if !slot.projection.is_process_manager() => {
                    return Err(FollowerError::NotProcessManager(name.to_string()))
                }
                Some(_) => {}
            }
        }
        let client = self.inner.db.pg.get().await?;
        let end = client
            .query_opt(
                // Ordered by the column, not by its text (an output name would win in ORDER
                // BY, and "999999" sorts after "1000000").
                "SELECT e.transaction_id::text AS xid, e.global_position FROM events e
                  ORDER BY e.transaction_id DESC, e.global_position DESC LIMIT 1",
                &[],
            )
            .await?;
        let Some(end) = end else {
            return Ok(0);
        };
        let (transaction_id, position): (&str, i64) = (end.get(0), end.get(1));
        for slot in &self.inner.projections {
            let projection = slot.projection.as_ref();
            if !projection.is_process_manager() || name.is_some_and(|n| n != projection.name()) {
                continue;
            }
            // Its lock, so a running instance's manager is not moved under its feet.
            let lock = lock_key(projection);
            client
                .execute("SELECT pg_advisory_lock(hashtext($1))", &[&lock])
                .await?;
            client
                .execute(
                    "INSERT INTO projection_checkpoints (projection, transaction_id, global_position)
                     VALUES ($1, $2::text::xid8, $3)
                     ON CONFLICT (projection) DO UPDATE
                        SET transaction_id = EXCLUDED.transaction_id,
                            global_position = EXCLUDED.global_position, updated_at = now()",
                    &[&projection.name(), &transaction_id, &position],
                )
                .await?;
            client
                .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&lock])
                .await?;
        }
        Ok(position)
    }
}

impl Inner {
    fn wake_for(&self, event_type: &str) {
        for slot in &self.projections {
            if slot.projection.trails() {
                continue;
            }
            if slot.types.is_empty() || slot.types.contains(&event_type) {
                slot.wake.notify_one();
            }
        }
    }

    /// Handles another instance's NOTIFY (`instance:EventType,EventType`); our own are ignored.
    fn on_notification(&self, payload: &str) {
        match payload.split_once(':') {
            Some((instance, types)) => {
                if instance.parse() != Ok(self.instance) {
                    types.split(',').for_each(|t| self.wake_for(t));
                }
            }
            // Unknown sender: wake everyone.
            None => self
                .projections
                .iter()
                .for_each(|slot| slot.wake.notify_one()),
        }
    }

    /// LISTENs for other instances' commits and wakes the local projectors, reconnecting after
    /// any failure, until shutdown.
    async fn listen(&self) {
        let mut shutdown = self.shutdown.subscribe();
        loop {
            tokio::select! {
                result = self.listen_once() => {
                    if let Err(error) = result {
                        tracing::warn!(%error, "commit listener failed; reconnecting");
                    }
                }
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Listens until the connection fails. Once the `LISTEN` is in place every follower looks
    /// at the log: what was committed while nobody listened was announced to no one.
    async fn listen_once(&self) -> Result<(), FollowerError> {
        use std::sync::atomic::Ordering;
        let mut config: tokio_postgres::Config = self.db.url().parse()?;
        config.application_name("k911 listener");
        let listened = crate::listen::listen(
            &config,
            CHANNEL,
            || {
                self.listening.store(true, Ordering::Relaxed);
                self.projections
                    .iter()
                    .for_each(|slot| slot.wake.notify_one());
            },
            |payload| self.on_notification(payload),
        )
        .await;
        self.listening.store(false, Ordering::Relaxed);
        listened?;
        Ok(())
    }

    /// How long an idle follower waits for a wake-up before it looks at the log anyway.
    fn idle_poll(&self) -> Duration {
        if self.listening.load(std::sync::atomic::Ordering::Relaxed) {
            self.poll.max(LISTENING_POLL)
        } else {
            self.poll
        }
    }

    /// Sends one NOTIFY for any number of local commits within [`NOTIFY_EVERY`].
    async fn notify_others(&self) {
        let mut shutdown = self.shutdown.subscribe();
        loop {
            tokio::select! {
                _ = self.committed.notified() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            self.announce_pending().await;
            tokio::time::sleep(NOTIFY_EVERY).await;
        }
    }

    /// One NOTIFY for the commits not yet announced, if any.
    async fn announce_pending(&self) {
        let types: Vec<String> = std::mem::take(&mut *self.pending.lock().expect("pending types"))
            .into_iter()
            .collect();
        if types.is_empty() {
            return;
        }
        let payload = format!("{}:{}", self.instance, types.join(","));
        if let Err(error) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&self.db.sqlx)
            .await
        {
            tracing::debug!(%error, "NOTIFY failed; other instances will poll");
        }
    }

    /// Runs the projector `i` until shutdown, starting over after any failure. A read model that
    /// failed on one event starts over carefully: its next batch sets aside what it cannot apply.
    async fn run(&self, i: usize) {
        let projection = self.projections[i].projection.clone();
        let mut shutdown = self.shutdown.subscribe();
        let mut careful = false;
        loop {
            tokio::select! {
                result = self.follow(i, careful) => {
                    if let Err(error) = result {
                        careful = error.about_one_event();
                        tracing::warn!(projection = projection.name(), %error, "projector failed; restarting");
                    }
                }
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Applies batches as events arrive, until the connection fails; the first one `careful`ly.
    async fn follow(&self, i: usize, mut careful: bool) -> Result<(), FollowerError> {
        let slot = &self.projections[i];
        let projection = slot.projection.as_ref();
        let connection = connect(&self.db, projection.name()).await?;
        prepare(&connection.client, projection).await?;
        let mut persisted_at = std::time::Instant::now();
        let mut next = None;
        loop {
            let persist_idle = persisted_at.elapsed() >= PERSIST_IDLE_EVERY;
            // Commits announced before this read are all in it: their wake-up is spent, or it
            // would cost a read that finds nothing.
            let _ = futures::FutureExt::now_or_never(slot.wake.notified());
            let batch =
                apply_batch(&connection, slot, persist_idle, careful, Source::Log(next)).await?;
            careful = false;
            next = batch.next;
            if batch.persisted {
                persisted_at = std::time::Instant::now();
            }
            // Another instance's progress shows here too, read back with the checkpoint.
            let moved = batch.checkpoint.is_some_and(|checkpoint| {
                slot.applied
                    .send_if_modified(|seen| std::mem::replace(seen, checkpoint) != checkpoint)
            });
            if moved {
                self.progress.send_modify(|v| *v += 1);
            }
            // A full batch leaves more to read at once; otherwise the next commit wakes it.
            if (batch.applied as i64) < BATCH {
                // Events held back by a transaction still running elsewhere are looked at again
                // soon: no commit notification will come for them.
                let awaited =
                    *slot.wanted.lock().expect("wanted checkpoint") > *slot.applied.borrow();
                let pause = if batch.held_back || awaited {
                    HELD_BACK_RETRY
                } else if projection.trails() {
                    GATHER
                } else {
                    self.idle_poll()
                };
                let _ = tokio::time::timeout(pause, slot.wake.notified()).await;
            }
        }
    }
}

/// The log read is planned once per connection, as an ordered walk of the log's index (the one
/// plan that is right at every size of the log; the planner, asked each time, spent as long
/// choosing it as running it: 0.2–1 ms a read, a seventh of PostgreSQL's time under the ticket
/// load). A generic plan made while the log is small would be a bitmap scan and a sort of every
/// event after the checkpoint, kept as the log grows; with those two paths off while it is made,
/// the index walk is the plan, whenever it is made or made again.
/// (With the event types a parameter, `= ANY($4)` searches the list linearly for each event;
/// the audit subjects' sixty types cost less than the planning did.)
const READ_PLANNING: [(&str, &str); 3] = [
    ("plan_cache_mode", "force_generic_plan"),
    ("enable_seqscan", "off"),
    ("enable_bitmapscan", "off"),
];
/// A batch's transaction, with the read's planning (above) for as long as it lasts.
pub static BEGIN_WITH_THE_READS_PLAN: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| {
        format!(
            "BEGIN ISOLATION LEVEL READ COMMITTED; {}",
            read_planning(|name, value| format!("SET LOCAL {name} = {value}"))
        )
    });
/// Back to the connection's planning (every run, see `connect`) for the read model's statements.
pub static PLAN_EACH_RUN: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| read_planning(|name, _| format!("RESET {name}")));

/// One statement per setting of [`READ_PLANNING`], made by `statement` from its name and value.
fn read_planning(statement: impl Fn(&str, &str) -> String) -> String {
    let statements: Vec<String> = READ_PLANNING
        .iter()
        .map(|(name, value)| statement(name, value))
        .collect();
    statements.join("; ")
}

/// A projector's own connection, named so operators can see projectors in `pg_stat_activity`,
/// with the runtime's statements prepared once: prepared statements are sent at once when their
/// future is first polled, which is what lets a batch pipeline them.
struct ProjectorConnection {
    client: Client,
    /// The read model's own statements, prepared on first use.
    statements: Statements,
    /// Takes the follower's transaction-level lock, if no one holds it.
    lock: Statement,
    /// Reads its stored checkpoint (after the lock: see `connect`).
    checkpoint: Statement,
    /// The log read ([`log::READ_AFTER`]).
    read: Statement,
    /// Stores the checkpoint.
    store: Statement,
}

async fn connect(db: &Database, projection: &str) -> Result<ProjectorConnection, FollowerError> {
    let mut config: tokio_postgres::Config = db.url().parse()?;
    config.application_name(format!("k911 projector {projection}"));
    // A read model and its checkpoint commit together, and the log can always replay them: a
    // crash that loses the last commits only makes the projector apply them again. So the
    // projector need not wait for its commits to be flushed, which keeps it from holding back
    // the log horizon of every other reader.
    // Statements are prepared once per connection, but planned on every run: read models grow
    // from empty (a new database, a rebuild), and a plan made while a table was small (a
    // sequential scan) would be kept while it grows. The log read is the exception (see
    // `READ_PLANNING`).
    crate::connect::add_options(
        &mut config,
        "-c synchronous_commit=off -c plan_cache_mode=force_custom_plan",
    );
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "projector connection closed");
        }
    });
    // The lock and the checkpoint are two statements, the checkpoint read after the lock is
    // taken. In one statement its snapshot would be older than the lock: the other instance's
    // batch could commit (and let go of the lock) in between, and its events be applied again
    // (test `two_instances_racing_for_every_batch_apply_each_event_once`).
    let lock = client
        .prepare("SELECT pg_try_advisory_xact_lock(hashtext($1))")
        .await?;
    let checkpoint = client
        .prepare(
            "SELECT transaction_id::text, global_position FROM projection_checkpoints
              WHERE projection = $1",
        )
        .await?;
    let read = client.prepare(log::READ_AFTER).await?;
    let store = client
        .prepare(
            "UPDATE projection_checkpoints
                SET transaction_id = $2::text::xid8, global_position = $3, updated_at = now()
              WHERE projection = $1",
        )
        .await?;
    Ok(ProjectorConnection {
        client,
        statements: Statements::default(),
        lock,
        checkpoint,
        read,
        store,
    })
}

fn lock_key(projection: &dyn Follower) -> String {
    format!("k911.projection.{}", projection.name())
}

async fn prepare(client: &Client, projection: &dyn Follower) -> Result<(), FollowerError> {
    if let Kind::ReadModel { create_sql, .. } = projection.kind() {
        client.batch_execute(create_sql).await?;
    }
    client
        .execute(
            "INSERT INTO projection_checkpoints (projection) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&projection.name()],
        )
        .await?;
    Ok(())
}

/// Where a batch left a read model.
struct Batch {
    /// Events applied (0: nothing new, or another instance holds the lock).
    applied: usize,
    /// How far the log has been seen (when the lock was not ours, as far as the instance that
    /// holds it had stored).
    checkpoint: Option<Checkpoint>,
    /// Whether that was stored.
    persisted: bool,
    /// Newer events wait for older transactions to end.
    held_back: bool,
    /// Where the next batch may read from, and the stored checkpoint that holds for.
    next: Option<NextRead>,
}

/// Where the next read of the log starts, as long as the stored checkpoint is still `stored`:
/// right after a batch of ours both are where it ended; after an idle read that was not stored,
/// `from` is past the stored checkpoint (nothing of the projection's types lies in between, and
/// nothing ever will: anything committed later sorts after it). Another instance's batch or a
/// rebuild (even a failed one) moves the stored checkpoint, and then the read starts from there.
#[derive(Debug, Clone, Copy)]
struct NextRead {
    stored: Checkpoint,
    from: Checkpoint,
}

/// Where a batch's events come from.
enum Source {
    /// Read in the batch's transaction: from the stored checkpoint, or from where the last
    /// batch left off if the stored checkpoint is still the one it names.
    Log(Option<NextRead>),
    /// Read ahead on another connection while the batch before was applied (a rebuild's): used
    /// if the stored checkpoint is still `stored`.
    ReadAhead { stored: Checkpoint, page: LogPage },
}

/// Applies the next batch and moves the checkpoint, in one transaction. A read that finds
/// nothing to apply stores how far it has seen only when `persist_idle`: the read is harmless to
/// repeat, so idle checkpoints need not cost a commit each time.
///
/// Round-trips: BEGIN, the lock, the checkpoint and the log read travel together when the
/// projector knows where to read from (it does after its first batch); then the read model's
/// statements; then the checkpoint and COMMIT together. An error leaves the transaction open:
/// the caller drops the connection, and the server rolls it back.
async fn apply_batch(
    connection: &ProjectorConnection,
    slot: &Slot,
    persist_idle: bool,
    careful: bool,
    source: Source,
) -> Result<Batch, FollowerError> {
    let client = &connection.client;
    let projection = slot.projection.as_ref();
    let (name, key, types) = (projection.name(), lock_key(projection), &slot.types);
    // Read committed, whatever the database's default: the checkpoint's statement must see the
    // commit of the instance that let go of the lock. The log read that follows keeps one plan.
    let begin = client.batch_execute(&BEGIN_WITH_THE_READS_PLAN);
    let (key_param, name_param): ([&(dyn ToSql + Sync); 1], [&(dyn ToSql + Sync); 1]) =
        ([&key], [&name]);
    let lock = client.query_one(&connection.lock, &key_param);
    let stored = client.query_opt(&connection.checkpoint, &name_param);
    let (locked, row, guess) = match source {
        Source::Log(Some(next)) => {
            let read = log::read_after(client, &connection.read, next.from, types, BATCH);
            let ((), locked, row, page) = tokio::try_join!(begin, lock, stored, read)?;
            (locked, row, Some((next.stored, page)))
        }
        Source::Log(None) => {
            let ((), locked, row) = tokio::try_join!(begin, lock, stored)?;
            (locked, row, None)
        }
        Source::ReadAhead { stored: at, page } => {
            let ((), locked, row) = tokio::try_join!(begin, lock, stored)?;
            (locked, row, Some((at, page)))
        }
    };
    let stored = row.map(|row| Checkpoint {
        transaction_id: log::parse_xid(row.get(0)),
        global_position: row.get(1),
    });
    let checkpoint = match stored {
        Some(checkpoint) if locked.get::<_, bool>(0) => checkpoint,
        // Another instance is applying a batch: what it committed before shows as progress
        // here, so this instance's readers waiting for it go on without waiting for a poll.
        _ => {
            client.batch_execute("COMMIT").await?;
            return Ok(Batch {
                applied: 0,
                checkpoint: stored,
                persisted: false,
                held_back: false,
                next: None,
            });
        }
    };
    let started = std::time::Instant::now();
    let page = match guess {
        Some((stored, page)) if stored == checkpoint => page,
        _ => log::read_after(client, &connection.read, checkpoint, types, BATCH).await?,
    };
    let (events, reached, held_back) = (page.events, page.reached, page.held_back);
    if events.is_empty() && (!persist_idle || reached == checkpoint) {
        client.batch_execute("COMMIT").await?;
        return Ok(Batch {
            applied: 0,
            checkpoint: Some(reached),
            persisted: false,
            held_back,
            next: Some(NextRead {
                stored: checkpoint,
                from: reached,
            }),
        });
    }
    // The read model's statements are planned with their values again; sent without waiting
    // for its answer, ahead of them.
    let _ = futures::FutureExt::now_or_never(client.batch_execute(&PLAN_EACH_RUN));
    let tx = BatchTx {
        tx: client,
        statements: &connection.statements,
        pipelined: !careful,
    };
    if careful {
        apply_setting_aside(&tx, projection, &events).await?;
    } else {
        projection.apply_all(&tx, &events).await?;
    }
    let xid = reached.transaction_id.to_string();
    let store_params: [&(dyn ToSql + Sync); 3] = [&name, &xid, &reached.global_position];
    let store = client.execute(&connection.store, &store_params);
    tokio::try_join!(store, client.batch_execute("COMMIT"))?;
    tracing::debug!(
        projection = name,
        events = events.len(),
        micros = started.elapsed().as_micros() as u64,
        "batch applied"
    );
    Ok(Batch {
        applied: events.len(),
        checkpoint: Some(reached),
        persisted: true,
        held_back,
        next: Some(NextRead {
            stored: reached,
            from: reached,
        }),
    })
}

/// Applies `events` one by one, each under a savepoint: an event the follower cannot handle is
/// rolled back alone (with the effects it wrote) and recorded in `projection_failures`, for a
/// person to look at, and the rest go on. For a process manager that means one borrower's
/// broken event does not stop everyone's offers, payouts and messages.
async fn apply_setting_aside(
    tx: &BatchTx<'_>,
    projection: &dyn Follower,
    events: &[RecordedEvent],
) -> Result<(), FollowerError> {
    for event in events {
        tx.tx.batch_execute("SAVEPOINT event").await?;
        match projection.apply(tx, event).await {
            Ok(()) => tx.tx.batch_execute("RELEASE SAVEPOINT event").await?,
            Err(error) if error.about_one_event() => {
                tx.tx.batch_execute("ROLLBACK TO SAVEPOINT event").await?;
                tracing::error!(
                    projection = projection.name(),
                    position = event.position(),
                    event_type = %event.event_type,
                    %error,
                    "event set aside: the follower cannot handle it"
                );
                tx.execute(
                    "INSERT INTO projection_failures (projection, global_position, event_type, error)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[
                        &projection.name(),
                        &event.position(),
                        &event.event_type,
                        &error.to_string(),
                    ],
                )
                .await?;
            }
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// tokio-postgres says only "db error" in its Display; the server's message is in the source.
fn pg_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

fn rand_instance_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // A random per-process id from the standard library's randomly keyed hasher.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}
