//! Deletion requests as compliance works them (issue #16): `read.erasure_cases`, one row per
//! customer who asked, with the legal deadline, the latest refusal and its date, or when the data
//! was erased. The scheduler reads it for the refusals whose day came; the account decides.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use k911_aggregates::account::{Account, AccountEvent, AccountEventType};
use k911_event_store::follower::{aggregate_uuid, payload, BatchTx, Follower, FollowerError, Kind};
use k911_event_store::log::RecordedEvent;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::reader::{ReadError, Reader};

pub struct ErasureCases;

/// See [`Reader::erasures_due`]. `loans_customer` finds the customer's loans.
const ERASURES_DUE: &str = "
SELECT c.customer_id FROM read.erasure_cases c
 WHERE c.status = 'refused' AND (c.possible_from <= $1 OR c.possible_from IS NULL)
   AND (c.reason IS DISTINCT FROM 'loan_in_force'
        OR NOT EXISTS (SELECT 1 FROM read.loans l
                        WHERE l.customer_id = c.customer_id AND l.status = 'active'))
 ORDER BY c.customer_id";

#[async_trait]
impl Follower for ErasureCases {
    fn name(&self) -> &'static str {
        "erasure_cases"
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            AccountEventType::ErasureRequested.into(),
            AccountEventType::ErasureRefused.into(),
            AccountEventType::CustomerErased.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ReadModel {
            create_sql: "CREATE TABLE IF NOT EXISTS read.erasure_cases (
            customer_id    uuid PRIMARY KEY,
            ticket_id      uuid,
            requested_at   timestamptz NOT NULL,
            deadline       date        NOT NULL,
            status         text        NOT NULL,
            reason         text,
            possible_from  date,
            decided_at     timestamptz,
            erased_at      timestamptz,
            last_position  bigint      NOT NULL
        );
        CREATE INDEX IF NOT EXISTS erasure_cases_open ON read.erasure_cases (deadline)
            WHERE status <> 'erased';
        COMMENT ON TABLE read.erasure_cases IS
            'Deletion requests (issue #16): one row per customer who asked to have their data erased, with the legal deadline (152-FZ art. 21 part 5) and what came of it.';
        COMMENT ON COLUMN read.erasure_cases.customer_id IS 'Who asked (their account).';
        COMMENT ON COLUMN read.erasure_cases.ticket_id IS 'The support ticket of kind deletion it came with; null: received otherwise.';
        COMMENT ON COLUMN read.erasure_cases.requested_at IS 'When the request was made.';
        COMMENT ON COLUMN read.erasure_cases.deadline IS 'The last day (Moscow) the law allows for carrying it out.';
        COMMENT ON COLUMN read.erasure_cases.status IS 'requested | refused | erased.';
        COMMENT ON COLUMN read.erasure_cases.reason IS 'Why it was refused: application_pending | loan_in_force | retention_period | reports_pending.';
        COMMENT ON COLUMN read.erasure_cases.possible_from IS 'The first day (Moscow) erasure becomes possible, where known; the scheduler erases then.';
        COMMENT ON COLUMN read.erasure_cases.decided_at IS 'When the latest refusal was recorded.';
        COMMENT ON COLUMN read.erasure_cases.erased_at IS 'When the data was erased.';
        COMMENT ON COLUMN read.erasure_cases.last_position IS 'The log position of the last event applied to the row.';",
            tables: &["read.erasure_cases"],
            views: &[],
        }
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        if !event.of::<Account>() {
            return Ok(());
        }
        let id = aggregate_uuid(event)?;
        let position = event.position();
        match payload::<AccountEvent>(event)? {
            AccountEvent::ErasureRequested {
                ticket_id,
                deadline,
                requested_at,
            } => {
                tx.execute(
                    "INSERT INTO read.erasure_cases (customer_id, ticket_id, requested_at, deadline,
                            status, last_position)
                     VALUES ($1, $2, $3, $4, 'requested', $5)",
                    &[&id, &ticket_id, &requested_at, &deadline, &position],
                )
                .await?;
            }
            AccountEvent::ErasureRefused {
                reason,
                possible_from,
                refused_at,
                ..
            } => {
                let reason: &str = reason.into();
                tx.execute(
                    "UPDATE read.erasure_cases SET status = 'refused', reason = $2,
                            possible_from = $3, decided_at = $4, last_position = $5
                      WHERE customer_id = $1",
                    &[&id, &reason, &possible_from, &refused_at, &position],
                )
                .await?;
            }
            AccountEvent::CustomerErased { erased_at } => {
                tx.execute(
                    "UPDATE read.erasure_cases SET status = 'erased', reason = NULL,
                            possible_from = NULL, erased_at = $2, last_position = $3
                      WHERE customer_id = $1",
                    &[&id, &erased_at, &position],
                )
                .await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// A deletion request as compliance sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ErasureCaseRow {
    pub customer_id: Uuid,
    pub ticket_id: Option<Uuid>,
    pub requested_at: DateTime<Utc>,
    pub deadline: NaiveDate,
    pub status: String,
    pub reason: Option<String>,
    pub possible_from: Option<NaiveDate>,
    pub decided_at: Option<DateTime<Utc>>,
    pub erased_at: Option<DateTime<Utc>>,
}

impl Reader {
    /// The deletion requests: open ones first, nearest deadline first, then the erased ones.
    pub async fn erasure_cases(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ErasureCaseRow>, ReadError> {
        let rows = self
            .client()
            .await?
            .query_typed(
                "SELECT customer_id, ticket_id, requested_at, deadline, status, reason,
                        possible_from, decided_at, erased_at
                   FROM read.erasure_cases
                  ORDER BY status = 'erased', deadline, customer_id
                  LIMIT $1 OFFSET $2",
                &[(&limit, Type::INT8), (&offset, Type::INT8)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ErasureCaseRow {
                customer_id: row.get(0),
                ticket_id: row.get(1),
                requested_at: row.get(2),
                deadline: row.get(3),
                status: row.get(4),
                reason: row.get(5),
                possible_from: row.get(6),
                decided_at: row.get(7),
                erased_at: row.get(8),
            })
            .collect())
    }

    /// The customers whose refused erasure may be possible by `today`: the day a refusal named
    /// came, or a refusal waiting for an event (a decision, a close, the bureau's reports sent),
    /// decided again each run; but not one refused for a loan that the book still shows active.
    /// A loan runs for weeks or months, and each decision loads the account, its application
    /// and the reports owed; its close decides the case again by itself (the account's own
    /// reaction), and the run after the book shows it closed decides what that left. The book
    /// only spares a decision: the account decides, on its own state.
    pub async fn erasures_due(&self, today: NaiveDate) -> Result<Vec<Uuid>, ReadError> {
        let rows = self
            .client()
            .await?
            .query_typed(ERASURES_DUE, &[(&today, Type::DATE)])
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }
}
