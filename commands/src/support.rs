//! Support tickets: the feedback form, the strict first-come queue, replies and closing.

use k911_aggregates::support_ticket::{
    Requester, SupportTicket, SupportTicketCommand, SupportTicketError, TicketContact, TicketKind,
    TicketStatus,
};
use k911_aggregates::values::{MessageText, PersonName};
use uuid::Uuid;

use std::sync::Arc;

use k911_event_store::store::{Cqrs, Store};

use crate::app::Core;
use crate::profile::Profiles;
use crate::{CommandMeta, Error, Written};

/// How many waiting tickets `take_next` tries before it reads the queue again.
const NEXT_WINDOW: i64 = 16;

/// The waiting tickets in arrival order, as the support queue (a read model) shows them once it
/// has caught up with everything committed: whom to try first. Which ticket an agent gets is
/// decided by the tickets themselves (one assignment each).
#[async_trait::async_trait]
pub trait WaitingTickets: Send + Sync {
    async fn oldest(&self, limit: i64) -> Result<Vec<Uuid>, Error>;
}

/// A filled-in feedback form, already validated.
#[derive(Debug, Clone)]
pub struct TicketForm {
    pub kind: TicketKind,
    pub requester: Requester,
    pub contact: TicketContact,
    pub question: MessageText,
}

/// A ticket's personal data as the agent who holds it sees it: `None` once erased.
#[derive(Debug, Clone)]
pub struct TicketView {
    pub ticket_id: Uuid,
    pub contact: Option<TicketContact>,
    pub question: Option<MessageText>,
}

/// Support tickets: filed from the site or the cabinet, served strictly in arrival order,
/// answered and closed by the agent who holds them.
#[derive(Clone)]
pub struct Support {
    pub(crate) core: Core,
    pub(crate) tickets: Arc<Cqrs<SupportTicket>>,
    pub(crate) ticket_store: Arc<Store<SupportTicket>>,
    pub(crate) profiles: Profiles,
}

impl Support {
    /// Submits the feedback form. (Its place in the queue is the read side's to tell.)
    pub async fn submit_ticket(
        &self,
        form: TicketForm,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let ticket_id = self.core.ids.new_id();
        // An anonymous requester is a subject of their own; a customer's data shares their key.
        let subject = match form.requester {
            Requester::Anonymous => self.core.keys.new_subject().await?,
            Requester::Customer { customer_id } => customer_id,
        };
        let command = SupportTicketCommand::Submit {
            kind: form.kind,
            requester: form.requester,
            contact: self.core.keys.seal(subject, &form.contact).await?,
            question: self.core.keys.seal(subject, &form.question).await?,
            at: self.core.clock.now(),
        };
        self.core
            .create(&self.tickets, ticket_id, command, &meta.about(subject))
            .await
    }

    /// Hands the oldest waiting ticket to `agent_id`. Two agents asking at once never get the
    /// same ticket: the ticket aggregate accepts only one assignment, the loser moves on to the
    /// next.
    pub async fn take_next_ticket(
        &self,
        agent_id: Uuid,
        queue: &dyn WaitingTickets,
        meta: &CommandMeta,
    ) -> Result<Option<(Written, TicketView)>, Error> {
        // Tickets the queue lists that are not waiting any more: taken meanwhile, or shown
        // waiting by a queue that could not apply their assignment. Never tried twice, so the
        // loop ends when the queue has nothing else.
        let mut refused = std::collections::HashSet::new();
        loop {
            let listed = queue.oldest(NEXT_WINDOW + refused.len() as i64).await?;
            let waiting: Vec<Uuid> = listed
                .into_iter()
                .filter(|id| !refused.contains(id))
                .collect();
            if waiting.is_empty() {
                return Ok(None);
            }
            for ticket_id in waiting {
                let command = SupportTicketCommand::Assign {
                    agent_id,
                    at: self.core.clock.now(),
                };
                match self
                    .core
                    .execute(&self.tickets, ticket_id, command, meta)
                    .await
                {
                    Ok(written) => {
                        let view = self.ticket_for_agent(ticket_id, agent_id, meta).await?;
                        return Ok(Some((written, view)));
                    }
                    // Taken by someone else since the queue was read: try the next one.
                    Err(Error::Ticket(SupportTicketError::NotWaiting)) | Err(Error::Conflict) => {
                        refused.insert(ticket_id);
                    }
                    Err(other) => return Err(other),
                }
            }
            // Every ticket in the window was taken meanwhile: read the queue again.
        }
    }

    /// The assigned agent answers; the answer is sealed with the requester's key.
    pub async fn reply_to_ticket(
        &self,
        ticket_id: Uuid,
        agent_id: Uuid,
        answer: MessageText,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let ticket: SupportTicket = self.core.load(&self.ticket_store, ticket_id).await?;
        let (contact, _) = ticket.submitted().ok_or(Error::NotFound)?;
        let subject = contact.subject_id;
        let command = SupportTicketCommand::Reply {
            agent_id,
            answer: self.core.keys.seal(subject, &answer).await?,
            at: self.core.clock.now(),
        };
        self.core
            .execute(&self.tickets, ticket_id, command, meta)
            .await
    }

    pub async fn close_ticket(
        &self,
        ticket_id: Uuid,
        agent_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let command = SupportTicketCommand::Close {
            agent_id,
            at: self.core.clock.now(),
        };
        self.core
            .execute(&self.tickets, ticket_id, command, meta)
            .await
    }

    /// A question or a deletion request from the cabinet: the contacts come from the profile.
    pub async fn submit_customer_ticket(
        &self,
        customer_id: Uuid,
        kind: TicketKind,
        question: MessageText,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let (applicant, _) = self.profiles.current(customer_id).await?;
        // Addressed by first name and patronymic, as is polite in Russian; the first name alone
        // when both together are too long for a contact name.
        let first = applicant.first_name.as_str();
        let addressed = match &applicant.middle_name {
            Some(middle) => format!("{first} {}", middle.as_str()),
            None => first.to_string(),
        };
        let name = PersonName::parse(&addressed)
            .or_else(|_| PersonName::parse(first))
            .map_err(|e| Error::Storage(format!("profile name: {e}")))?;
        let contact = TicketContact::new(name, Some(applicant.phone), applicant.email)
            .map_err(|e| Error::Storage(format!("profile contacts: {e}")))?;
        let form = TicketForm {
            kind,
            requester: Requester::Customer { customer_id },
            contact,
            question,
        };
        self.submit_ticket(form, meta).await
    }

    /// One ticket for the agent who holds it, personal data opened and the read recorded.
    pub async fn ticket_for_agent(
        &self,
        ticket_id: Uuid,
        agent_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<TicketView, Error> {
        let ticket: SupportTicket = self.core.load(&self.ticket_store, ticket_id).await?;
        let holder = match ticket.status() {
            TicketStatus::Assigned { agent_id } | TicketStatus::Answered { agent_id } => {
                Some(agent_id)
            }
            _ => None,
        };
        if holder != Some(agent_id) {
            // Only the holder reads the requester's data; to anyone else it does not exist.
            return Err(Error::NotFound);
        }
        let (contact, question) = ticket.submitted().ok_or(Error::NotFound)?;
        self.core
            .record_personal_data_read(agent_id, contact.subject_id, "support ticket", meta)
            .await?;
        Ok(TicketView {
            ticket_id,
            contact: opened(self.core.keys.open(contact).await)?,
            question: opened(self.core.keys.open(question).await)?,
        })
    }
}

/// Erased personal data reads as `None`; any other failure is an error.
fn opened<T>(result: Result<T, k911_event_store::keys::KeyError>) -> Result<Option<T>, Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(k911_event_store::keys::KeyError::Erased(_)) => Ok(None),
        Err(other) => Err(other.into()),
    }
}
