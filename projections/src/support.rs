//! `read.support_tickets`: every support ticket with its place in the queue, for the staff queue
//! and the customer's own ticket list. Personal data stays sealed here; it is opened only for the
//! agent who holds the ticket, and that read is recorded.

use async_trait::async_trait;
use k911_aggregates::support_ticket::{Requester, SupportTicketEvent, TicketKind};
use k911_event_store::log::RecordedEvent;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::runtime::{BatchTx, Projection, ProjectionError};

pub struct SupportTickets;

/// The read model's name (checkpoint key, rebuild argument).
pub const NAME: &str = "support_tickets";

const CREATE: &str = r#"
CREATE TABLE IF NOT EXISTS read.support_tickets (
    ticket_id      uuid PRIMARY KEY,
    arrival        bigint      NOT NULL UNIQUE,
    kind           text        NOT NULL,
    requester      text        NOT NULL,
    customer_id    uuid,
    status         text        NOT NULL,
    submitted_at   timestamptz NOT NULL,
    assigned_to    uuid,
    assigned_at    timestamptz,
    answers        integer     NOT NULL DEFAULT 0,
    last_answer_at timestamptz,
    closed_at      timestamptz,
    contact        jsonb       NOT NULL,
    question       jsonb       NOT NULL,
    last_position  bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS support_tickets_waiting
    ON read.support_tickets (arrival) WHERE status = 'waiting';
CREATE INDEX IF NOT EXISTS support_tickets_left
    ON read.support_tickets (arrival) WHERE status <> 'waiting';
CREATE INDEX IF NOT EXISTS support_tickets_customer
    ON read.support_tickets (customer_id, arrival) WHERE customer_id IS NOT NULL;
COMMENT ON TABLE read.support_tickets IS
    'Support tickets (feedback form, deletion requests). One row per ticket.';
COMMENT ON COLUMN read.support_tickets.arrival IS
    'Order of arrival (1, 2, ...): the queue is served strictly in this order.';
COMMENT ON COLUMN read.support_tickets.kind IS 'question | deletion';
COMMENT ON COLUMN read.support_tickets.requester IS 'anonymous | customer';
COMMENT ON COLUMN read.support_tickets.status IS 'waiting | assigned | answered | closed';
COMMENT ON COLUMN read.support_tickets.contact IS
    'Name, phone, e-mail: sealed with the requester''s key (personal data, not readable in SQL).';
COMMENT ON COLUMN read.support_tickets.question IS 'The question, sealed like contact.';
COMMENT ON COLUMN read.support_tickets.last_position IS
    'Global log position of the last event applied to this row.';
"#;

#[async_trait]
impl Projection for SupportTickets {
    fn name(&self) -> &'static str {
        NAME
    }

    fn event_types(&self) -> &'static [&'static str] {
        &[
            "TicketSubmitted",
            "TicketAssigned",
            "TicketAnswered",
            "TicketClosed",
        ]
    }

    fn create_sql(&self) -> &'static str {
        CREATE
    }

    fn drop_sql(&self) -> &'static str {
        "DROP TABLE IF EXISTS read.support_tickets"
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), ProjectionError> {
        if event.aggregate_type != "SupportTicket" {
            return Ok(());
        }
        let ticket_id: Uuid = event
            .aggregate_id
            .parse()
            .map_err(|e| ProjectionError::bad_event(event, e))?;
        let payload: SupportTicketEvent = serde_json::from_value(event.payload.clone())
            .map_err(|e| ProjectionError::bad_event(event, e))?;
        let position = event.position();
        match payload {
            SupportTicketEvent::TicketSubmitted {
                kind,
                requester,
                contact,
                question,
                submitted_at,
            } => {
                let (requester, customer_id) = match requester {
                    Requester::Anonymous => ("anonymous", None),
                    Requester::Customer { customer_id } => ("customer", Some(customer_id)),
                };
                let kind = match kind {
                    TicketKind::Question => "question",
                    TicketKind::Deletion => "deletion",
                };
                let contact = serde_json::to_value(&contact).expect("sealed values serialize");
                let question = serde_json::to_value(&question).expect("sealed values serialize");
                tx.execute(
                    "INSERT INTO read.support_tickets
                        (ticket_id, arrival, kind, requester, customer_id, status, submitted_at,
                         contact, question, last_position)
                     VALUES ($1, (SELECT coalesce(max(arrival), 0) + 1 FROM read.support_tickets),
                             $2, $3, $4, 'waiting', $5, $6, $7, $8)",
                    &[
                        &ticket_id,
                        &kind,
                        &requester,
                        &customer_id,
                        &submitted_at,
                        &contact,
                        &question,
                        &position,
                    ],
                )
                .await?;
            }
            SupportTicketEvent::TicketAssigned {
                agent_id,
                assigned_at,
            } => {
                tx.execute(
                    "UPDATE read.support_tickets
                        SET status = 'assigned', assigned_to = $2, assigned_at = $3, last_position = $4
                      WHERE ticket_id = $1",
                    &[&ticket_id, &agent_id, &assigned_at, &position],
                )
                .await?;
            }
            SupportTicketEvent::TicketAnswered { answered_at, .. } => {
                tx.execute(
                    "UPDATE read.support_tickets
                        SET status = 'answered', answers = answers + 1, last_answer_at = $2,
                            last_position = $3
                      WHERE ticket_id = $1",
                    &[&ticket_id, &answered_at, &position],
                )
                .await?;
            }
            SupportTicketEvent::TicketClosed { closed_at, .. } => {
                tx.execute(
                    "UPDATE read.support_tickets
                        SET status = 'closed', closed_at = $2, last_position = $3
                      WHERE ticket_id = $1",
                    &[&ticket_id, &closed_at, &position],
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// A ticket as the read model holds it.
#[derive(Debug, Clone)]
pub struct TicketRow {
    pub ticket_id: Uuid,
    pub kind: String,
    pub requester: String,
    pub customer_id: Option<Uuid>,
    pub status: String,
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    pub assigned_to: Option<Uuid>,
    pub answers: i32,
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// 1 for the next ticket to be served; `None` once it left the queue.
    pub queue_position: Option<i64>,
    pub contact: serde_json::Value,
    pub question: serde_json::Value,
}

impl TicketRow {
    fn from_row(row: &Row) -> Self {
        Self {
            ticket_id: row.get("ticket_id"),
            kind: row.get("kind"),
            requester: row.get("requester"),
            customer_id: row.get("customer_id"),
            status: row.get("status"),
            submitted_at: row.get("submitted_at"),
            assigned_to: row.get("assigned_to"),
            answers: row.get("answers"),
            closed_at: row.get("closed_at"),
            queue_position: row.get("queue_position"),
            contact: row.get("contact"),
            question: row.get("question"),
        }
    }
}

// A waiting ticket's place = its arrival, less those that arrived before it and left. Everything
// before the oldest waiting ticket has left; beyond it, only the few tickets taken out of order
// need counting, so the cost does not grow with the length of the queue.
const SELECT_TICKET: &str = "
SELECT t.*,
       CASE WHEN t.status = 'waiting' THEN
           t.arrival - f.front
           - (SELECT count(*) FROM read.support_tickets d
               WHERE d.status <> 'waiting' AND d.arrival > f.front AND d.arrival < t.arrival)
       END AS queue_position
  FROM read.support_tickets t,
       (SELECT coalesce(min(arrival), 1) - 1 AS front
          FROM read.support_tickets WHERE status = 'waiting') f";

/// Waiting tickets, oldest first, with their queue positions.
pub async fn waiting(
    client: &impl GenericClient,
    limit: i64,
    offset: i64,
) -> Result<Vec<TicketRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            // Numbered after the page is cut: a window over the whole queue would read every
            // waiting ticket on every call.
            "SELECT t.*, $2 + row_number() OVER (ORDER BY t.arrival) AS queue_position
               FROM (SELECT * FROM read.support_tickets
                      WHERE status = 'waiting'
                      ORDER BY arrival
                      LIMIT $1 OFFSET $2) t
              ORDER BY t.arrival",
            &[&limit, &offset],
        )
        .await?;
    Ok(rows.iter().map(TicketRow::from_row).collect())
}

pub async fn by_id(
    client: &impl GenericClient,
    ticket_id: Uuid,
) -> Result<Option<TicketRow>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!("{SELECT_TICKET} WHERE t.ticket_id = $1"),
            &[&ticket_id],
        )
        .await?;
    Ok(row.as_ref().map(TicketRow::from_row))
}

/// One customer's tickets, oldest first, with their queue positions.
pub async fn customer_tickets(
    client: &impl GenericClient,
    customer_id: Uuid,
    limit: i64,
    offset: i64,
) -> Result<Vec<TicketRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "{SELECT_TICKET} WHERE t.customer_id = $1 ORDER BY t.arrival LIMIT $2 OFFSET $3"
            ),
            &[&customer_id, &limit, &offset],
        )
        .await?;
    Ok(rows.iter().map(TicketRow::from_row).collect())
}
