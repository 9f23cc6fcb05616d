//! `read.support_tickets`: every support ticket with its place in the queue, for the staff queue
//! and the customer's own ticket list. Personal data stays sealed here; it is opened only for the
//! agent who holds the ticket, and that read is recorded.

use k911_aggregates::support_ticket::SupportTicketEventType;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use k911_aggregates::support_ticket::{Requester, SupportTicket, SupportTicketEvent, TicketKind};
use k911_event_store::log::RecordedEvent;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Row};
use uuid::Uuid;

use crate::reader::{ReadError, Reader};
use k911_aggregates::values::MessageText;
use k911_event_store::follower::{aggregate_uuid, payload, BatchTx, Follower, FollowerError, Kind};
use k911_event_store::log::Checkpoint;

pub struct SupportTickets {
    pub receipts: Receipts,
}

k911_event_store::text_enum! {
    /// Where a ticket stands in `read.support_tickets`. The queue's reads name `'waiting'`
    /// literally, as its partial indexes do: a bound value would not use them.
    #[derive(utoipa::ToSchema)]
    pub enum TicketState {
        /// In the queue.
        Waiting,
        /// Taken by an agent.
        Assigned,
        Answered,
        Closed,
    }
}

k911_event_store::text_enum! {
    /// Who asked.
    #[derive(utoipa::ToSchema)]
    pub enum RequesterKind {
        /// Someone on the public site.
        Anonymous,
        /// A logged-in customer.
        Customer,
    }
}

/// Queue positions of the tickets this process's projector wrote lately: the row is written
/// with its position, so a submission's answer needs no query of its own once the read model has
/// its ticket. At most [`RECEIPTS_KEPT`] are kept, the oldest forgotten first; a ticket projected
/// by another instance (or forgotten) has no receipt here, and its position is read from the
/// table.
#[derive(Clone, Default)]
pub struct Receipts(Arc<Mutex<RecentPositions>>);

/// How many new tickets' positions are kept: far more than can be waiting for an answer at once.
const RECEIPTS_KEPT: usize = 4096;

#[derive(Default)]
struct RecentPositions {
    positions: HashMap<Uuid, i64>,
    order: VecDeque<Uuid>,
}

impl Receipts {
    fn fill(&self, ticket_id: Uuid, position: i64) {
        let mut recent = self.lock();
        if recent.positions.insert(ticket_id, position).is_none() {
            recent.order.push_back(ticket_id);
        }
        while recent.order.len() > RECEIPTS_KEPT {
            if let Some(oldest) = recent.order.pop_front() {
                recent.positions.remove(&oldest);
            }
        }
    }

    /// The position this process's projector wrote `ticket_id` with, if it did lately.
    pub fn position(&self, ticket_id: Uuid) -> Option<i64> {
        self.lock().positions.get(&ticket_id).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecentPositions> {
        self.0.lock().expect("queue receipts")
    }
}

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
COMMENT ON COLUMN read.support_tickets.ticket_id IS 'The SupportTicket aggregate''s id.';
COMMENT ON COLUMN read.support_tickets.customer_id IS 'The borrower who asked from the cabinet (null: anonymous).';
COMMENT ON COLUMN read.support_tickets.submitted_at IS 'When the ticket was submitted.';
COMMENT ON COLUMN read.support_tickets.assigned_to IS 'The support member who took it (null while waiting).';
COMMENT ON COLUMN read.support_tickets.assigned_at IS 'When it was taken.';
COMMENT ON COLUMN read.support_tickets.answers IS 'How many answers were sent.';
COMMENT ON COLUMN read.support_tickets.last_answer_at IS 'When the last answer was sent.';
COMMENT ON COLUMN read.support_tickets.closed_at IS 'When it was closed.';
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
impl Follower for SupportTickets {
    fn name(&self) -> &'static str {
        NAME
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            SupportTicketEventType::TicketSubmitted.into(),
            SupportTicketEventType::TicketAssigned.into(),
            SupportTicketEventType::TicketAnswered.into(),
            SupportTicketEventType::TicketClosed.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ReadModel {
            create_sql: CREATE,
            tables: &["read.support_tickets"],
            views: &[],
        }
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        self.apply_all(tx, std::slice::from_ref(event)).await
    }

    /// Under load most of a batch is new tickets: each run of them is one INSERT.
    async fn apply_all(
        &self,
        tx: &BatchTx<'_>,
        events: &[RecordedEvent],
    ) -> Result<(), FollowerError> {
        let mut arrived = vec![];
        for event in events {
            if !event.of::<SupportTicket>() {
                continue;
            }
            let ticket_id = aggregate_uuid(event)?;
            let position = event.position();
            match payload::<SupportTicketEvent>(event)? {
                SupportTicketEvent::TicketSubmitted {
                    kind,
                    requester,
                    contact,
                    question,
                    submitted_at,
                } => {
                    let (requester, customer_id) = match requester {
                        Requester::Anonymous => (RequesterKind::Anonymous, None),
                        Requester::Customer { customer_id } => {
                            (RequesterKind::Customer, Some(customer_id))
                        }
                    };
                    arrived.push(Arrival {
                        ticket_id,
                        kind,
                        requester,
                        customer_id,
                        submitted_at,
                        contact: serde_json::to_value(&contact).expect("sealed values serialize"),
                        question: serde_json::to_value(&question).expect("sealed values serialize"),
                        position,
                    });
                }
                change => {
                    // Rows of earlier tickets first: the change may be to one of them.
                    self.insert(tx, &mut arrived).await?;
                    update(tx, ticket_id, position, change).await?;
                }
            }
        }
        self.insert(tx, &mut arrived).await
    }
}

/// A new ticket, as its row will hold it.
struct Arrival {
    ticket_id: Uuid,
    kind: TicketKind,
    requester: RequesterKind,
    customer_id: Option<Uuid>,
    submitted_at: DateTime<Utc>,
    contact: serde_json::Value,
    question: serde_json::Value,
    position: i64,
}

// New tickets join the end of the queue: each one's place is its arrival, less the queue's
// front (the oldest waiting ticket, less one) and the tickets after the front that have left.
// Subqueries see the table as it was before the insert. ORDER BY ... LIMIT 1 rather than min()
// and max(): the statement is prepared once, and a plan made while the table was small read
// min() by scanning every waiting ticket.
const INSERT_ARRIVALS: &str = "
WITH last AS (SELECT coalesce((SELECT arrival FROM read.support_tickets
                                ORDER BY arrival DESC LIMIT 1), 0) AS arrival),
     front AS (SELECT coalesce((SELECT arrival FROM read.support_tickets WHERE status = 'waiting'
                                 ORDER BY arrival LIMIT 1), last.arrival + 1) - 1 AS arrival
                 FROM last)
INSERT INTO read.support_tickets
       (ticket_id, arrival, kind, requester, customer_id, status, submitted_at, contact,
        question, last_position)
SELECT t.ticket_id, last.arrival + t.n, t.kind, t.requester, t.customer_id, $9,
       t.submitted_at, t.contact, t.question, t.position
  FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::timestamptz[], $6::jsonb[],
              $7::jsonb[], $8::bigint[]) WITH ORDINALITY
       AS t(ticket_id, kind, requester, customer_id, submitted_at, contact, question, position,
            n),
       last
RETURNING ticket_id,
          arrival - (SELECT arrival FROM front)
          - (SELECT count(*) FROM read.support_tickets d
              WHERE d.status <> 'waiting' AND d.arrival > (SELECT arrival FROM front))";

impl SupportTickets {
    /// Writes `arrived` (in log order, numbered on from the last arrival), leaves their queue
    /// positions for the requests waiting for them, and empties the list.
    async fn insert(
        &self,
        tx: &BatchTx<'_>,
        arrived: &mut Vec<Arrival>,
    ) -> Result<(), FollowerError> {
        if arrived.is_empty() {
            return Ok(());
        }
        let arrived = std::mem::take(arrived);
        let column = |f: fn(&Arrival) -> &'static str| arrived.iter().map(f).collect::<Vec<_>>();
        let json =
            |f: fn(&Arrival) -> &serde_json::Value| arrived.iter().map(f).collect::<Vec<_>>();
        let rows = tx
            .query(
                INSERT_ARRIVALS,
                &[
                    &arrived.iter().map(|a| a.ticket_id).collect::<Vec<_>>(),
                    &column(|a| a.kind.into()),
                    &column(|a| a.requester.as_str()),
                    &arrived.iter().map(|a| a.customer_id).collect::<Vec<_>>(),
                    &arrived.iter().map(|a| a.submitted_at).collect::<Vec<_>>(),
                    &json(|a| &a.contact),
                    &json(|a| &a.question),
                    &arrived.iter().map(|a| a.position).collect::<Vec<_>>(),
                    &TicketState::Waiting,
                ],
            )
            .await?;
        for row in rows {
            self.receipts.fill(row.get(0), row.get(1));
        }
        Ok(())
    }
}

/// A ticket's later events: taken, answered, closed.
async fn update(
    tx: &BatchTx<'_>,
    ticket_id: Uuid,
    position: i64,
    change: SupportTicketEvent,
) -> Result<(), FollowerError> {
    match change {
        SupportTicketEvent::TicketSubmitted { .. } => unreachable!("new tickets are inserted"),
        SupportTicketEvent::TicketAssigned {
            agent_id,
            assigned_at,
        } => {
            tx.execute(
                "UPDATE read.support_tickets
                    SET status = $5, assigned_to = $2, assigned_at = $3, last_position = $4
                  WHERE ticket_id = $1",
                &[
                    &ticket_id,
                    &agent_id,
                    &assigned_at,
                    &position,
                    &TicketState::Assigned,
                ],
            )
            .await?;
        }
        SupportTicketEvent::TicketAnswered { answered_at, .. } => {
            tx.execute(
                "UPDATE read.support_tickets
                    SET status = $4, answers = answers + 1, last_answer_at = $2,
                        last_position = $3
                  WHERE ticket_id = $1",
                &[&ticket_id, &answered_at, &position, &TicketState::Answered],
            )
            .await?;
        }
        SupportTicketEvent::TicketClosed { closed_at, .. } => {
            tx.execute(
                "UPDATE read.support_tickets
                    SET status = $4, closed_at = $2, last_position = $3
                  WHERE ticket_id = $1",
                &[&ticket_id, &closed_at, &position, &TicketState::Closed],
            )
            .await?;
        }
    }
    Ok(())
}

/// A ticket as the read model holds it.
#[derive(Debug, Clone)]
pub struct TicketRow {
    pub ticket_id: Uuid,
    pub kind: TicketKind,
    pub requester: RequesterKind,
    pub customer_id: Option<Uuid>,
    pub status: TicketState,
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
            kind: crate::parsed(row, "kind"),
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
// The front is ORDER BY ... LIMIT 1, not min(): the statement is prepared once, and a plan made
// while the table was small read min() by scanning every waiting ticket (1.3 ms at 10 000).
const SELECT_TICKET: &str = "
SELECT t.*,
       CASE WHEN t.status = 'waiting' THEN
           t.arrival - f.front
           - (SELECT count(*) FROM read.support_tickets d
               WHERE d.status <> 'waiting' AND d.arrival > f.front AND d.arrival < t.arrival)
       END AS queue_position
  FROM read.support_tickets t,
       (SELECT coalesce((SELECT arrival FROM read.support_tickets WHERE status = 'waiting'
                          ORDER BY arrival LIMIT 1), 1) - 1 AS front) f";

/// Waiting tickets, oldest first, with their queue positions.
pub async fn waiting(
    client: &Client,
    limit: i64,
    offset: i64,
) -> Result<Vec<TicketRow>, tokio_postgres::Error> {
    // Numbered after the page is cut: a window over the whole queue would read every waiting
    // ticket on every call. Planned with the page's values (see `connect`): a cached generic
    // plan sorts every waiting ticket.
    let rows = client
        .query_typed(
            "SELECT t.*, $2 + row_number() OVER (ORDER BY t.arrival) AS queue_position
               FROM (SELECT * FROM read.support_tickets
                      WHERE status = 'waiting'
                      ORDER BY arrival
                      LIMIT $1 OFFSET $2) t
              ORDER BY t.arrival",
            &[(&limit, Type::INT8), (&offset, Type::INT8)],
        )
        .await?;
    Ok(rows.iter().map(TicketRow::from_row).collect())
}

/// A ticket's place in the queue (`None` once it has left it, or if there is no such ticket):
/// what a new ticket's receipt says, without reading the sealed columns. Planned every run, as
/// every ticket read (see `connect`): a generic plan made while the table was small counted the
/// queue by scanning it whole as it grew.
pub async fn queue_position(
    client: &Client,
    ticket_id: Uuid,
) -> Result<Option<i64>, tokio_postgres::Error> {
    let row = client
        .query_typed_opt(
            &format!("SELECT queue_position FROM ({SELECT_TICKET} WHERE t.ticket_id = $1) q"),
            &[(&ticket_id, Type::UUID)],
        )
        .await?;
    Ok(row.and_then(|row| row.get(0)))
}

pub async fn by_id(
    client: &Client,
    ticket_id: Uuid,
) -> Result<Option<TicketRow>, tokio_postgres::Error> {
    let row = client
        .query_typed_opt(
            &format!("{SELECT_TICKET} WHERE t.ticket_id = $1"),
            &[(&ticket_id, Type::UUID)],
        )
        .await?;
    Ok(row.as_ref().map(TicketRow::from_row))
}

/// One customer's tickets, oldest first, with their queue positions.
pub async fn customer_tickets(
    client: &Client,
    customer_id: Uuid,
    limit: i64,
    offset: i64,
) -> Result<Vec<TicketRow>, tokio_postgres::Error> {
    let rows = client
        .query_typed(
            &format!(
                "{SELECT_TICKET} WHERE t.customer_id = $1 ORDER BY t.arrival LIMIT $2 OFFSET $3"
            ),
            &[
                (&customer_id, Type::UUID),
                (&limit, Type::INT8),
                (&offset, Type::INT8),
            ],
        )
        .await?;
    Ok(rows.iter().map(TicketRow::from_row).collect())
}

impl Reader {
    /// A new ticket's place in the queue, once the queue shows it (the command's answer knows
    /// where it was written). `None` if the queue cannot tell in time: the ticket is in anyway,
    /// and no failure here may turn its answer into an error (a 5xx would free the
    /// Idempotency-Key, and the client's retry would file a second ticket).
    pub async fn new_ticket_position(&self, ticket_id: Uuid, written: Checkpoint) -> Option<i64> {
        if let Err(error) = self.followers.wait_for_one(NAME, written, self.wait).await {
            tracing::warn!(%error, "ticket filed; its queue position is not known yet");
            return None;
        }
        if let Some(position) = self.receipts.position(ticket_id) {
            return Some(position);
        }
        // Projected by another instance.
        let read =
            async { Ok::<_, ReadError>(queue_position(&**self.client().await?, ticket_id).await?) };
        read.await.unwrap_or_else(|error| {
            tracing::warn!(%error, "ticket filed; its queue position could not be read");
            None
        })
    }

    /// The waiting queue, oldest first.
    pub async fn support_queue(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<TicketRow>, ReadError> {
        Ok(waiting(&**self.client().await?, limit, offset).await?)
    }

    /// The oldest waiting tickets once the queue shows everything committed so far: serving in
    /// arrival order needs the latest arrivals counted.
    pub async fn oldest_waiting(&self, limit: i64) -> Result<Vec<Uuid>, ReadError> {
        self.catch_up().await?;
        let rows = waiting(&**self.client().await?, limit, 0).await?;
        Ok(rows.into_iter().map(|row| row.ticket_id).collect())
    }

    /// One ticket, without its personal data.
    pub async fn ticket(&self, ticket_id: Uuid) -> Result<TicketRow, ReadError> {
        by_id(&**self.client().await?, ticket_id)
            .await?
            .ok_or(ReadError::NotFound)
    }

    /// The customer's own tickets with their questions opened, oldest first.
    pub async fn customer_tickets(
        &self,
        customer_id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<(TicketRow, Option<MessageText>)>, ReadError> {
        let client = self.client().await?;
        let rows = customer_tickets(&client, customer_id, limit, offset).await?;
        drop(client);
        let mut tickets = Vec::with_capacity(rows.len());
        for row in rows {
            let question = self.open(&row.question).await?;
            tickets.push((row, question));
        }
        Ok(tickets)
    }
}
