//! A support ticket: the feedback form's question, waiting in a strict first-come queue until a
//! support agent takes it, answers (the answer goes to the requester's phone or e-mail) and closes
//! it. Profile deletion requests are tickets of kind `deletion`.

mod commands;
mod error;
mod events;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use commands::SupportTicketCommand;
pub use error::SupportTicketError;
pub use events::{SupportTicketEvent, SupportTicketEventType};

use crate::values::{Email, MessageText, PersonName, Phone, ValueError};
use crate::Sealed;

/// What the requester wants.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TicketKind {
    Question,
    /// A request to delete the profile (profiles cannot be self-deleted).
    Deletion,
}

/// Who asked: someone on the public site, or a logged-in customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Requester {
    Anonymous,
    Customer { customer_id: Uuid },
}

/// How to reach the requester. Personal data: it only ever travels sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketContact {
    pub name: PersonName,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
}

impl TicketContact {
    /// An answer must be deliverable, so at least one contact is required.
    pub fn new(
        name: PersonName,
        phone: Option<Phone>,
        email: Option<Email>,
    ) -> Result<Self, ValueError> {
        if phone.is_none() && email.is_none() {
            return Err(ValueError::Empty);
        }
        Ok(Self { name, phone, email })
    }
}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TicketStatus {
    #[default]
    NotSubmitted,
    Waiting,
    Assigned {
        agent_id: Uuid,
    },
    Answered {
        agent_id: Uuid,
    },
    Closed,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SupportTicket {
    status: TicketStatus,
    /// The requester's contact and question as submitted (sealed with the requester's key).
    submitted: Option<(Sealed<TicketContact>, Sealed<MessageText>)>,
}

impl SupportTicket {
    pub fn status(&self) -> TicketStatus {
        self.status
    }

    /// The requester's contact and question, sealed; `None` before submission.
    pub fn submitted(&self) -> Option<&(Sealed<TicketContact>, Sealed<MessageText>)> {
        self.submitted.as_ref()
    }

    /// The agent who holds the ticket, for replies and closing.
    fn held_by(&self, agent_id: Uuid) -> Result<(), SupportTicketError> {
        match self.status {
            TicketStatus::NotSubmitted => Err(SupportTicketError::NotFound),
            TicketStatus::Waiting => Err(SupportTicketError::NotAssigned),
            TicketStatus::Closed => Err(SupportTicketError::Closed),
            TicketStatus::Assigned { agent_id: holder }
            | TicketStatus::Answered { agent_id: holder } => {
                if holder == agent_id {
                    Ok(())
                } else {
                    Err(SupportTicketError::AssignedToAnotherAgent)
                }
            }
        }
    }
}

impl Aggregate for SupportTicket {
    const TYPE: &'static str = "SupportTicket";
    type Command = SupportTicketCommand;
    type Event = SupportTicketEvent;
    type Error = SupportTicketError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            SupportTicketCommand::Submit {
                kind,
                requester,
                contact,
                question,
                at,
            } => {
                if self.status != TicketStatus::NotSubmitted {
                    return Err(SupportTicketError::AlreadySubmitted);
                }
                SupportTicketEvent::TicketSubmitted {
                    kind,
                    requester,
                    contact,
                    question,
                    submitted_at: at,
                }
            }
            SupportTicketCommand::Assign { agent_id, at } => match self.status {
                TicketStatus::NotSubmitted => return Err(SupportTicketError::NotFound),
                TicketStatus::Waiting => SupportTicketEvent::TicketAssigned {
                    agent_id,
                    assigned_at: at,
                },
                _ => return Err(SupportTicketError::NotWaiting),
            },
            SupportTicketCommand::Reply {
                agent_id,
                answer,
                at,
            } => {
                self.held_by(agent_id)?;
                SupportTicketEvent::TicketAnswered {
                    agent_id,
                    answer,
                    answered_at: at,
                }
            }
            SupportTicketCommand::Close { agent_id, at } => {
                self.held_by(agent_id)?;
                SupportTicketEvent::TicketClosed {
                    agent_id,
                    closed_at: at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.status = match event {
            SupportTicketEvent::TicketSubmitted {
                contact, question, ..
            } => {
                self.submitted = Some((contact, question));
                TicketStatus::Waiting
            }
            SupportTicketEvent::TicketAssigned { agent_id, .. } => {
                TicketStatus::Assigned { agent_id }
            }
            SupportTicketEvent::TicketAnswered { agent_id, .. } => {
                TicketStatus::Answered { agent_id }
            }
            SupportTicketEvent::TicketClosed { .. } => TicketStatus::Closed,
        };
    }
}

#[cfg(test)]
mod tests;
