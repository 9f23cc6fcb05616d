use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Requester, TicketContact, TicketKind};
use crate::values::MessageText;
use crate::{Sealed, EVENT_VERSION_1};

/// What happened to a support ticket. Released shapes are never edited.
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
/// `SupportTicketEventType` names each event type, for followers of the log (`SupportTicketEventType::X.into()`).
#[strum_discriminants(name(SupportTicketEventType), derive(strum::IntoStaticStr))]
pub enum SupportTicketEvent {
    TicketSubmitted {
        kind: TicketKind,
        requester: Requester,
        contact: Sealed<TicketContact>,
        question: Sealed<MessageText>,
        submitted_at: DateTime<Utc>,
    },
    TicketAssigned {
        agent_id: Uuid,
        assigned_at: DateTime<Utc>,
    },
    TicketAnswered {
        agent_id: Uuid,
        answer: Sealed<MessageText>,
        answered_at: DateTime<Utc>,
    },
    TicketClosed {
        agent_id: Uuid,
        closed_at: DateTime<Utc>,
    },
}

impl DomainEvent for SupportTicketEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION_1.to_string()
    }
}
