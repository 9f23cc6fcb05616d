//! Support tickets: the feedback form, the strict first-come queue, replies and closing.

use chrono::{DateTime, Utc};
use k911_aggregates::support_ticket::{
    Requester, SupportTicket, SupportTicketCommand, SupportTicketError, TicketContact, TicketKind,
    TicketStatus,
};
use k911_aggregates::values::{MessageText, PersonName};
use k911_aggregates::Sealed;
use k911_projections::support::{self, TicketRow};
use uuid::Uuid;

use crate::{App, CommandMeta, Error, Written};

/// How many waiting tickets `take_next` tries before it reads the queue again.
const NEXT_WINDOW: i64 = 16;

/// A filled-in feedback form, already validated.
#[derive(Debug, Clone)]
pub struct TicketForm {
    pub kind: TicketKind,
    pub requester: Requester,
    pub contact: TicketContact,
    pub question: MessageText,
}

/// A ticket as a support agent sees it: the personal data opened for them.
#[derive(Debug, Clone)]
pub struct TicketView {
    pub row: TicketRow,
    /// `None` when the requester's personal data has been erased.
    pub contact: Option<TicketContact>,
    pub question: Option<MessageText>,
}

impl App {
    /// Submits the feedback form; answers with the ticket's place in the queue.
    pub async fn submit_ticket(
        &self,
        form: TicketForm,
        meta: &CommandMeta,
    ) -> Result<(Written, Option<i64>), Error> {
        let ticket_id = self.ids.new_id();
        // An anonymous requester is a subject of their own; a customer's data shares their key.
        let subject = match form.requester {
            Requester::Anonymous => self.keys.new_subject().await?,
            Requester::Customer { customer_id } => customer_id,
        };
        let command = SupportTicketCommand::Submit {
            kind: form.kind,
            requester: form.requester,
            contact: self.keys.seal(subject, &form.contact).await?,
            question: self.keys.seal(subject, &form.question).await?,
            at: self.clock.now(),
        };
        let receipt = self.queue_receipts.expect(ticket_id);
        let meta = &meta.about(subject);
        let written = self.create(&self.tickets, ticket_id, command, meta).await?;
        // Read-your-writes: the queue position is only known once the ticket is projected. The
        // ticket is in: a read model too slow to tell its place is no failure (a 5xx would free the
        // Idempotency-Key, and the client's retry would file a second ticket).
        if let Err(error) = self
            .projectors
            .wait_for_one(
                support::NAME,
                written.checkpoint,
                self.settings.read_your_writes_timeout,
            )
            .await
        {
            tracing::warn!(%error, "ticket filed; its queue position is not known yet");
            return Ok((written, None));
        }
        let queue_position = match receipt.position() {
            Some(position) => Some(position),
            // Projected by another instance.
            None => support::queue_position(&self.db.pg.get().await?, ticket_id).await?,
        };
        Ok((written, queue_position))
    }

    /// Hands the oldest waiting ticket to `agent_id`. Two agents asking at once never get the same
    /// ticket: the ticket aggregate accepts only one assignment, the loser moves on to the next.
    pub async fn take_next_ticket(
        &self,
        agent_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<Option<(Written, TicketView)>, Error> {
        // Serve in arrival order: let the queue catch up with everything committed so far.
        self.catch_up().await?;
        loop {
            let client = self.db.pg.get().await?;
            let waiting = support::waiting(&client, NEXT_WINDOW, 0).await?;
            drop(client);
            if waiting.is_empty() {
                return Ok(None);
            }
            for row in waiting {
                let command = SupportTicketCommand::Assign {
                    agent_id,
                    at: self.clock.now(),
                };
                match self
                    .execute(&self.tickets, row.ticket_id, command, meta)
                    .await
                {
                    Ok(written) => {
                        let view = self.open_ticket(row, agent_id, meta).await?;
                        return Ok(Some((written, view)));
                    }
                    // Taken by someone else since the queue was read: try the next one.
                    Err(Error::Ticket(SupportTicketError::NotWaiting)) | Err(Error::Conflict) => {}
                    Err(other) => return Err(other),
                }
            }
            // Every ticket in the window was taken meanwhile: wait for the queue to show it.
            self.catch_up().await?;
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
        let row = self.ticket_row(ticket_id).await?;
        let subject = sealed::<TicketContact>(&row.contact)?.subject_id;
        let command = SupportTicketCommand::Reply {
            agent_id,
            answer: self.keys.seal(subject, &answer).await?,
            at: self.clock.now(),
        };
        self.execute(&self.tickets, ticket_id, command, meta).await
    }

    pub async fn close_ticket(
        &self,
        ticket_id: Uuid,
        agent_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let command = SupportTicketCommand::Close {
            agent_id,
            at: self.clock.now(),
        };
        self.execute(&self.tickets, ticket_id, command, meta).await
    }

    /// The waiting queue, oldest first.
    /// A question or a deletion request from the cabinet: the contacts come from the profile.
    pub async fn submit_customer_ticket(
        &self,
        customer_id: Uuid,
        kind: TicketKind,
        question: MessageText,
        meta: &CommandMeta,
    ) -> Result<(Written, Option<i64>), Error> {
        let (applicant, _) = self.current_profile(customer_id).await?;
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

    /// The customer's own tickets with their questions, oldest first.
    pub async fn customer_tickets(
        &self,
        customer_id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<(TicketRow, Option<MessageText>)>, Error> {
        let client = self.db.pg.get().await?;
        let rows = support::customer_tickets(&client, customer_id, limit, offset).await?;
        drop(client);
        let mut tickets = Vec::with_capacity(rows.len());
        for row in rows {
            let question = sealed::<MessageText>(&row.question)?;
            let question = opened(self.keys.open(&question).await)?;
            tickets.push((row, question));
        }
        Ok(tickets)
    }

    pub async fn support_queue(&self, limit: i64, offset: i64) -> Result<Vec<TicketRow>, Error> {
        let client = self.db.pg.get().await?;
        Ok(support::waiting(&client, limit, offset).await?)
    }

    /// One ticket for the agent who holds it, personal data opened and the read recorded.
    pub async fn ticket_for_agent(
        &self,
        ticket_id: Uuid,
        agent_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<TicketView, Error> {
        let ticket: SupportTicket = self.load(&self.ticket_store, ticket_id).await?;
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
        let row = self.ticket_row(ticket_id).await?;
        self.open_ticket(row, agent_id, meta).await
    }

    async fn ticket_row(&self, ticket_id: Uuid) -> Result<TicketRow, Error> {
        let client = self.db.pg.get().await?;
        support::by_id(&client, ticket_id)
            .await?
            .ok_or(Error::NotFound)
    }

    async fn open_ticket(
        &self,
        row: TicketRow,
        agent_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<TicketView, Error> {
        let contact: Sealed<TicketContact> = sealed(&row.contact)?;
        let question: Sealed<MessageText> = sealed(&row.question)?;
        self.record_personal_data_read(agent_id, contact.subject_id, "support ticket", meta)
            .await?;
        Ok(TicketView {
            contact: opened(self.keys.open(&contact).await)?,
            question: opened(self.keys.open(&question).await)?,
            row,
        })
    }

    pub(crate) async fn record_personal_data_read(
        &self,
        actor_id: Uuid,
        subject_id: Uuid,
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

    /// Waits until the read models show everything committed so far.
    async fn catch_up(&self) -> Result<(), Error> {
        let head: Option<i64> = sqlx::query_scalar("SELECT max(global_position) FROM events")
            .fetch_one(&self.db.sqlx)
            .await?;
        if let Some(head) = head {
            self.projectors
                .wait_for(head, self.settings.read_your_writes_timeout)
                .await?;
        }
        Ok(())
    }
}

/// A sealed value as the read model stores it.
pub(crate) fn sealed<T>(stored: &serde_json::Value) -> Result<Sealed<T>, Error> {
    serde_json::from_value(stored.clone()).map_err(|e| Error::Storage(e.to_string()))
}

/// Erased personal data reads as `None`; any other failure is an error.
pub(crate) fn opened<T>(
    result: Result<T, k911_event_store::keys::KeyError>,
) -> Result<Option<T>, Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(k911_event_store::keys::KeyError::Erased(_)) => Ok(None),
        Err(other) => Err(other.into()),
    }
}
