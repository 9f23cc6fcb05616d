//! Running one command: optimistic-concurrency retries, metadata, and the answer's position.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventStore};
use k911_event_store::append::capture_position;
use k911_event_store::log::Checkpoint;
use k911_event_store::store::{self, Cqrs, Store};

use crate::app::Core;
use crate::metrics::AggregateLabels;
use crate::Error;

/// How often a command is retried from a fresh load when another writer got there first.
const CONFLICT_RETRIES: usize = 5;

/// Who asked and how; stored with every event for the audit trail. The client's address is
/// personal data: it is stored sealed (see [`Core::metadata`]).
#[derive(Debug, Clone, Default)]
pub struct CommandMeta {
    pub actor_id: Option<uuid::Uuid>,
    pub actor_role: Option<String>,
    pub request_id: Option<String>,
    pub client_ip: Option<std::net::IpAddr>,
    /// Whose data the request is about when no one is logged in (a first application's new
    /// customer, an anonymous ticket's requester): the client's address is sealed with their key.
    pub subject: Option<uuid::Uuid>,
    pub channel: &'static str,
}

impl CommandMeta {
    /// The service itself acting: a process manager or a scheduled job, on `channel`.
    pub fn system(channel: &'static str) -> Self {
        Self {
            actor_role: Some("system".into()),
            channel,
            ..Self::default()
        }
    }

    /// The same request, about `subject`.
    pub fn about(&self, subject: uuid::Uuid) -> Self {
        Self {
            subject: Some(subject),
            ..self.clone()
        }
    }

    /// Everything but the client's address, which needs a key to be stored.
    pub(crate) fn to_map(&self) -> HashMap<String, String> {
        let mut map = HashMap::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                map.insert(key.to_string(), value);
            }
        };
        put("actor_id", self.actor_id.map(|id| id.to_string()));
        put("actor_role", self.actor_role.clone());
        put("request_id", self.request_id.clone());
        put("channel", Some(self.channel.to_string()));
        map
    }
}

/// What a successful command wrote: the aggregate and its last event's place in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub id: uuid::Uuid,
    pub position: i64,
    pub checkpoint: Checkpoint,
}

impl Core {
    /// Runs the command that creates aggregate `id`, an id just generated: no events to load.
    pub(crate) async fn create<A>(
        &self,
        cqrs: &Cqrs<A>,
        id: uuid::Uuid,
        command: A::Command,
        meta: &CommandMeta,
    ) -> Result<Written, Error>
    where
        A: Aggregate,
        A::Command: Clone,
        Error: From<A::Error>,
    {
        cqrs.expect_new(&id.to_string());
        self.execute(cqrs, id, command, meta).await
    }

    /// Runs `command` against aggregate `id`, retrying concurrency conflicts from a fresh load.
    pub(crate) async fn execute<A>(
        &self,
        cqrs: &Cqrs<A>,
        id: uuid::Uuid,
        command: A::Command,
        meta: &CommandMeta,
    ) -> Result<Written, Error>
    where
        A: Aggregate,
        A::Command: Clone,
        Error: From<A::Error>,
    {
        // A command that changed nothing answers with where the aggregate stands.
        let checkpoint = match self.run(cqrs, id, command, meta).await? {
            Some(checkpoint) => checkpoint,
            None => store::last_checkpoint(&self.db, A::TYPE, &id.to_string())
                .await?
                .ok_or(Error::NotFound)?,
        };
        Ok(Written {
            id,
            position: checkpoint.global_position,
            checkpoint,
        })
    }

    /// As [`Self::execute`], for a caller that needs no answer (a scheduled job): where its
    /// events went if it wrote any, and no read of where the aggregate stands if it wrote none.
    pub(crate) async fn run<A>(
        &self,
        cqrs: &Cqrs<A>,
        id: uuid::Uuid,
        command: A::Command,
        meta: &CommandMeta,
    ) -> Result<Option<Checkpoint>, Error>
    where
        A: Aggregate,
        A::Command: Clone,
        Error: From<A::Error>,
    {
        let aggregate_id = id.to_string();
        let metadata = self.metadata(meta).await?;
        let (result, appended) =
            capture_position(run_retrying(cqrs, &aggregate_id, command, metadata)).await;
        match result {
            Ok(()) => {
                self.count_commands(A::TYPE, 1);
                Ok(appended)
            }
            Err(AggregateError::AggregateConflict) => Err(Error::Conflict),
            Err(AggregateError::UserError(e)) => Err(e.into()),
            Err(other) => Err(Error::from_store(other)),
        }
    }
}

impl Core {
    /// Counts `commands` run on aggregates of `aggregate_type` (`/metrics`).
    pub(crate) fn count_commands(&self, aggregate_type: &str, commands: u64) {
        self.metrics
            .commands
            .get_or_create(&AggregateLabels {
                aggregate_type: aggregate_type.to_string(),
            })
            .inc_by(commands);
    }

    /// Records that `actor_id` read `subject_id`'s personal data, and why: before it is shown.
    pub(crate) async fn record_personal_data_read(
        &self,
        actor_id: uuid::Uuid,
        subject_id: uuid::Uuid,
        purpose: &str,
        meta: &CommandMeta,
    ) -> Result<(), Error> {
        let now: DateTime<Utc> = self.clock.now();
        sqlx::query(
            "INSERT INTO personal_data_reads (actor_id, subject_id, purpose, request_id, read_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(actor_id)
        .bind(subject_id)
        .bind(purpose)
        .bind(&meta.request_id)
        .bind(now)
        .execute(&self.db.sqlx)
        .await?;
        Ok(())
    }

    /// The metadata stored with a command's events. The client's address is sealed with the key
    /// of the person acting (or the one the request is about), so erasing them erases it too; a
    /// request about no one (a bank's notification) records none.
    pub(crate) async fn metadata(
        &self,
        meta: &CommandMeta,
    ) -> Result<HashMap<String, String>, Error> {
        let mut map = meta.to_map();
        if let (Some(ip), Some(subject)) = (meta.client_ip, meta.actor_id.or(meta.subject)) {
            match self.keys.seal(subject, &ip).await {
                Ok(sealed) => {
                    let sealed = serde_json::to_string(&sealed).expect("sealed values serialize");
                    map.insert("client_ip".to_string(), sealed);
                }
                // An erased person's address is not recorded any more.
                Err(k911_event_store::keys::KeyError::Erased(_)) => {}
                Err(other) => return Err(other.into()),
            }
        }
        Ok(map)
    }
}

/// Runs `command` on aggregate `id`; while another writer got there first, again from a fresh
/// load, at most [`CONFLICT_RETRIES`] times. For callers without a [`Core`] (process managers).
pub(crate) async fn run_retrying<A>(
    cqrs: &Cqrs<A>,
    id: &str,
    command: A::Command,
    metadata: HashMap<String, String>,
) -> Result<(), AggregateError<A::Error>>
where
    A: Aggregate,
    A::Command: Clone,
{
    let mut attempt = 1;
    loop {
        match cqrs
            .framework
            .execute_with_metadata(id, command.clone(), metadata.clone())
            .await
        {
            Err(AggregateError::AggregateConflict) if attempt < CONFLICT_RETRIES => attempt += 1,
            result => return result,
        }
    }
}

impl Core {
    /// An aggregate's current state, from its own events: for decisions that must not trust a
    /// read model that may lag.
    pub(crate) async fn load<A: Aggregate>(
        &self,
        store: &Store<A>,
        id: uuid::Uuid,
    ) -> Result<A, Error> {
        load(store, id).await
    }
}

/// An aggregate's current state from its events; for callers without a [`Core`] (process
/// managers).
pub(crate) async fn load<A: Aggregate>(store: &Store<A>, id: uuid::Uuid) -> Result<A, Error> {
    let mut context = store
        .load_aggregate(&id.to_string())
        .await
        .map_err(Error::from_store)?;
    Ok(std::mem::take(context.aggregate()))
}
