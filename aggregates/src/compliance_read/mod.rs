//! A compliance officer's read of the audit trail or of an aggregate's history, recorded (issue
//! #16: compliance reads are themselves audited). Each read is an aggregate of its own, so officers reading at once never
//! wait on one another, and the record is an event: on the log, in its hash chain, and in the
//! audit trail under the person searched for.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::MessageText;
use crate::EVENT_VERSION_1;

/// What the audit trail was searched by (each `None`: not filtered on).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// The person the events concern. Named `subject_id` so the record of the read is itself on
    /// that person's trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// From this time on (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Before this time (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
}

/// How the trail left the system's hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditReadKind {
    /// A page on screen (`GET /api/v1/compliance/audit`).
    Page,
    /// A file written by `k911 audit export`.
    Export,
}

/// What of an aggregate's history was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayKind {
    /// Its events, in order.
    History,
    /// Its state at a point, replayed by the aggregate's own code.
    State,
}

/// An aggregate's history read up to a point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay {
    pub kind: ReplayKind,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The person its events name, if any: the read is on their trail.
    pub subject_id: Option<Uuid>,
    /// Up to this log position (inclusive; `None`: to its last event).
    pub until_position: Option<i64>,
    /// Up to this time (inclusive; `None`: to its last event).
    pub until: Option<DateTime<Utc>>,
    /// Why personal data in it was opened; `None`: it stayed sealed.
    pub purpose: Option<MessageText>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ComplianceReadCommand {
    Record {
        query: AuditQuery,
        kind: AuditReadKind,
        /// Events handed out.
        entries: u64,
        at: DateTime<Utc>,
    },
    RecordReplay {
        replay: Replay,
        at: DateTime<Utc>,
    },
}

#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Deserialize,
    strum::VariantNames,
    strum::IntoStaticStr,
    strum::EnumDiscriminants,
)]
/// `ComplianceReadEventType` names each event type, for followers of the log.
#[strum_discriminants(name(ComplianceReadEventType), derive(strum::IntoStaticStr))]
pub enum ComplianceReadEvent {
    /// The trail was read; who read it is the event's actor.
    AuditTrailRead {
        query: AuditQuery,
        kind: AuditReadKind,
        entries: u64,
        read_at: DateTime<Utc>,
    },
    /// An aggregate's history or past state was read (with its personal data opened if the
    /// replay states a purpose).
    AggregateReplayed {
        replay: Replay,
        read_at: DateTime<Utc>,
    },
}

impl DomainEvent for ComplianceReadEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION_1.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComplianceReadError {
    #[error("this read is already recorded")]
    AlreadyRecorded,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ComplianceRead {
    recorded: bool,
}

impl Aggregate for ComplianceRead {
    const TYPE: &'static str = "ComplianceRead";
    type Command = ComplianceReadCommand;
    type Event = ComplianceReadEvent;
    type Error = ComplianceReadError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        if self.recorded {
            return Err(ComplianceReadError::AlreadyRecorded);
        }
        let event = match command {
            ComplianceReadCommand::Record {
                query,
                kind,
                entries,
                at,
            } => ComplianceReadEvent::AuditTrailRead {
                query,
                kind,
                entries,
                read_at: at,
            },
            ComplianceReadCommand::RecordReplay { replay, at } => {
                ComplianceReadEvent::AggregateReplayed {
                    replay,
                    read_at: at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ComplianceReadEvent::AuditTrailRead { .. }
            | ComplianceReadEvent::AggregateReplayed { .. } => self.recorded = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    use super::*;

    fn record() -> ComplianceReadCommand {
        ComplianceReadCommand::Record {
            query: AuditQuery {
                subject_id: Some(Uuid::from_u128(7)),
                ..AuditQuery::default()
            },
            kind: AuditReadKind::Page,
            entries: 12,
            at: Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap(),
        }
    }

    fn read() -> ComplianceReadEvent {
        ComplianceReadEvent::AuditTrailRead {
            query: AuditQuery {
                subject_id: Some(Uuid::from_u128(7)),
                ..AuditQuery::default()
            },
            kind: AuditReadKind::Page,
            entries: 12,
            read_at: Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap(),
        }
    }

    #[test]
    fn a_read_is_recorded_with_what_was_asked_and_how_much_was_handed_out() {
        TestFramework::<ComplianceRead>::with(())
            .given_no_previous_events()
            .when(record())
            .then_expect_events(vec![read()]);
    }

    #[test]
    fn a_replay_is_recorded_with_its_purpose_on_the_persons_trail() {
        let replay = Replay {
            kind: ReplayKind::History,
            aggregate_type: "Loan".into(),
            aggregate_id: Uuid::from_u128(9).to_string(),
            subject_id: Some(Uuid::from_u128(7)),
            until_position: None,
            until: None,
            purpose: Some(MessageText::parse("Запрос суда по делу № 2-15/2026").unwrap()),
        };
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
        let replayed = ComplianceReadEvent::AggregateReplayed {
            replay: replay.clone(),
            read_at: at,
        };
        TestFramework::<ComplianceRead>::with(())
            .given_no_previous_events()
            .when(ComplianceReadCommand::RecordReplay { replay, at })
            .then_expect_events(vec![replayed.clone()]);
        assert_eq!(
            crate::replay::named_subject(&serde_json::to_value(replayed).unwrap()),
            Some(Uuid::from_u128(7))
        );
    }

    #[test]
    fn a_read_is_recorded_once() {
        TestFramework::<ComplianceRead>::with(())
            .given(vec![read()])
            .when(record())
            .then_expect_error(ComplianceReadError::AlreadyRecorded);
    }

    #[test]
    fn the_query_names_the_person_as_the_audit_trail_looks_for_them() {
        let stored = serde_json::to_value(read()).unwrap();
        assert_eq!(
            stored["AuditTrailRead"]["query"],
            serde_json::json!({"subject_id": Uuid::from_u128(7)})
        );
    }
}
