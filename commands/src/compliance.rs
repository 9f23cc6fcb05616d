//! Compliance officers' side (issue #16): the audit trail read or exported, an aggregate's
//! history and its state at a past point replayed; every such read is recorded as an event
//! before anything is handed out.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use k911_aggregates::account::Account;
use k911_aggregates::compliance_read::{
    AuditQuery, AuditReadKind, ComplianceRead, ComplianceReadCommand, Replay, ReplayKind,
};
use k911_aggregates::disclosure::{
    Disclosure, DisclosureCommand, DisclosureRequest, DisclosureScope, LawfulBasis,
};
use k911_aggregates::replay::{named_subject, state_of, ReplayError, Stored};
use k911_aggregates::values::MessageText;
use k911_event_store::follower::Followers;
use k911_event_store::keys::KeyError;
use k911_event_store::store::{Cqrs, Store};
use serde_json::Value;
use uuid::Uuid;

use crate::app::Core;
use crate::{CommandMeta, Error, Written};

#[derive(Clone)]
pub struct Compliance {
    pub(crate) core: Core,
    pub(crate) reads: Arc<Cqrs<ComplianceRead>>,
    pub(crate) disclosures: Arc<Cqrs<Disclosure>>,
    pub(crate) disclosure_store: Arc<Store<Disclosure>>,
    pub(crate) accounts: Arc<Cqrs<Account>>,
    pub(crate) account_store: Arc<Store<Account>>,
    pub(crate) application_store: Arc<Store<k911_aggregates::loan_application::LoanApplication>>,
    /// The erase route waits for the process manager that shreds.
    pub(crate) followers: Followers,
}

impl Compliance {
    /// Records that the caller read `entries` events of the trail matching `query`.
    pub async fn record_audit_read(
        &self,
        query: AuditQuery,
        kind: AuditReadKind,
        entries: u64,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let command = ComplianceReadCommand::Record {
            query,
            kind,
            entries,
            at: self.core.clock.now(),
        };
        self.core
            .create(&self.reads, self.core.ids.new_id(), command, meta)
            .await
    }
}

/// Up to where an aggregate's history is read (both bounds hold when both are given).
#[derive(Debug, Clone, Copy, Default)]
pub struct Until {
    /// Its events at or before this log position.
    pub position: Option<i64>,
    /// Its events recorded at or before this time.
    pub time: Option<DateTime<Utc>>,
}

/// One event of an aggregate's history as compliance reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryEvent {
    pub position: i64,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub recorded_at: DateTime<Utc>,
    /// Who recorded it (actor, role, request, channel; the client's address only when opened).
    pub metadata: Value,
    /// As stored; with a purpose, every sealed value in it opened (an erased one: "стёрто").
    pub payload: Value,
}

/// An aggregate's state at a point of its history.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub events_applied: usize,
    /// The position of the last event applied.
    pub last_position: i64,
    /// The aggregate as it serializes (sealed values stay sealed).
    pub state: Value,
}

impl Compliance {
    /// The events of an aggregate up to `until`, in order. With a `purpose` the personal data in
    /// them is opened, and the read is recorded with it before anything is handed out.
    pub async fn history(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        purpose: Option<MessageText>,
        meta: &CommandMeta,
    ) -> Result<Vec<HistoryEvent>, Error> {
        let mut events = self
            .events_of(aggregate_type, aggregate_id, Until::default())
            .await?;
        let opened = purpose.is_some();
        let replay = Replay {
            kind: ReplayKind::History,
            aggregate_type: aggregate_type.to_string(),
            aggregate_id: aggregate_id.to_string(),
            subject_id: None,
            until_position: None,
            until: None,
            purpose,
        };
        self.record_replay(replay, &events, meta).await?;
        for event in &mut events {
            let client_ip = match event.metadata.as_object_mut() {
                Some(map) => map.remove("client_ip"),
                None => None,
            };
            if opened {
                self.core.keys.open_within(&mut event.payload, None).await?;
                if let Some(Value::String(sealed)) = client_ip {
                    let mut sealed: Value = serde_json::from_str(&sealed)
                        .map_err(|e| Error::Storage(format!("a sealed address: {e}")))?;
                    self.core.keys.open_within(&mut sealed, None).await?;
                    event.metadata["client_ip"] = sealed;
                }
            }
        }
        Ok(events)
    }

    /// The aggregate's state after its events up to `until`, replayed by its own code.
    pub async fn state_as_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        until: Until,
        meta: &CommandMeta,
    ) -> Result<Replayed, Error> {
        let events = self.events_of(aggregate_type, aggregate_id, until).await?;
        let stored: Vec<Stored> = events
            .iter()
            .map(|e| Stored {
                event_type: e.event_type.clone(),
                event_version: e.event_version.clone(),
                payload: e.payload.clone(),
            })
            .collect();
        let state = state_of(aggregate_type, &stored).map_err(|e| match e {
            ReplayError::UnknownType(_) => Error::NotFound,
            unreadable => Error::Storage(unreadable.to_string()),
        })?;
        let replay = Replay {
            kind: ReplayKind::State,
            aggregate_type: aggregate_type.to_string(),
            aggregate_id: aggregate_id.to_string(),
            subject_id: None,
            until_position: until.position,
            until: until.time,
            purpose: None,
        };
        self.record_replay(replay, &events, meta).await?;
        Ok(Replayed {
            events_applied: events.len(),
            last_position: events.last().map_or(0, |e| e.position),
            state,
        })
    }

    /// The stored events of one aggregate up to `until`, in sequence order; none is `NotFound`.
    /// Within an aggregate, positions grow with sequence: each event is appended after the one
    /// before it committed.
    async fn events_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        until: Until,
    ) -> Result<Vec<HistoryEvent>, Error> {
        let events: Vec<HistoryEvent> = sqlx::query_as(
            "SELECT global_position AS position, sequence, event_type, event_version, recorded_at,
                    metadata, payload
               FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2
                AND ($3::bigint IS NULL OR global_position <= $3)
                AND ($4::timestamptz IS NULL OR recorded_at <= $4)
              ORDER BY sequence",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(until.position)
        .bind(until.time)
        .fetch_all(&self.core.db.sqlx)
        .await?;
        if events.is_empty() {
            return Err(Error::NotFound);
        }
        Ok(events)
    }

    /// Records the read of `events` of an aggregate, on the trail of the person they name.
    async fn record_replay(
        &self,
        replay: Replay,
        events: &[HistoryEvent],
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let command = ComplianceReadCommand::RecordReplay {
            replay: Replay {
                subject_id: events.iter().find_map(|e| named_subject(&e.payload)),
                ..replay
            },
            at: self.core.clock.now(),
        };
        self.core
            .create(&self.reads, self.core.ids.new_id(), command, meta)
            .await
    }
}

impl Compliance {
    /// Registers a request to disclose `subject`'s data: the person must be one k911 holds
    /// data of, and what the request asks is sealed with their key (it may name them).
    pub async fn register_disclosure(
        &self,
        subject_id: Uuid,
        basis: LawfulBasis,
        asked: MessageText,
        scope: DisclosureScope,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        if !self.core.keys.knows(subject_id).await? {
            return Err(Error::UnknownSubject);
        }
        let asked = match self.core.keys.seal(subject_id, &asked).await {
            Ok(sealed) => sealed,
            Err(KeyError::Erased(_)) => return Err(Error::SubjectErased),
            Err(other) => return Err(other.into()),
        };
        let command = DisclosureCommand::Register {
            subject_id,
            basis,
            asked,
            scope,
            at: self.core.clock.now(),
        };
        self.core
            .create(&self.disclosures, self.core.ids.new_id(), command, meta)
            .await
    }

    /// A registered request, as the write side holds it.
    pub async fn disclosure_request(&self, id: Uuid) -> Result<DisclosureRequest, Error> {
        let disclosure: Disclosure = self.core.load(&self.disclosure_store, id).await?;
        disclosure.request().cloned().ok_or(Error::NotFound)
    }

    /// Records that the request was answered with a file (its SHA-256, the events in it):
    /// refused if it was answered before, so the data leaves once per request.
    pub async fn record_disclosed(
        &self,
        id: Uuid,
        file_sha256: String,
        events: u64,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let command = DisclosureCommand::RecordDisclosed {
            file_sha256,
            events,
            at: self.core.clock.now(),
        };
        self.core
            .execute(&self.disclosures, id, command, meta)
            .await
    }

    /// What a request asks, opened for the file that answers it.
    pub async fn asked(&self, request: &DisclosureRequest) -> Result<Option<MessageText>, Error> {
        match self.core.keys.open(&request.asked).await {
            Ok(text) => Ok(Some(text)),
            Err(KeyError::Erased(_)) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }
}
