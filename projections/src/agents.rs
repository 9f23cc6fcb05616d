//! `read.agents`, `read.agent_clients`, `read.agent_commissions`, `read.agent_statements`: the
//! agents, whom they brought, every accrual and reversal, and each month's statement, for the
//! agents' cabinet, staff and analysts. What a loan earns is decided by the Agent aggregate;
//! this only records it.

use async_trait::async_trait;
use k911_aggregates::agent::{Agent, AgentEvent, AgentEventType};
use k911_event_store::follower::{aggregate_uuid, payload, BatchTx, Follower, FollowerError, Kind};
use k911_event_store::log::RecordedEvent;

use crate::json;
use k911_aggregates::loan_application::applicant::Applicant;
use k911_aggregates::values::Phone;

k911_event_store::text_enum! {
    /// Whether an agent brings new clients and earns.
    #[derive(utoipa::ToSchema)]
    pub enum AgentState {
        Active,
        Suspended,
    }
}

k911_event_store::text_enum! {
    /// A line of the commission ledger.
    #[derive(utoipa::ToSchema)]
    pub enum CommissionKind {
        /// Earned when a referred loan was paid out.
        Accrual,
        /// Taken back when the loan was returned within 14 days.
        Reversal,
    }
}

k911_event_store::text_enum! {
    /// Where a month's statement stands.
    #[derive(utoipa::ToSchema)]
    pub enum StatementState {
        /// The month is running: the figures so far.
        Open,
        /// The month ended and the statement is fixed.
        Closed,
        /// Finance approved the payment; the payout is on its way.
        Approved,
        Paid,
    }
}

pub struct Agents;

pub const NAME: &str = "agents";

const CREATE: &str = r#"
CREATE TABLE IF NOT EXISTS read.agents (
    agent_id          uuid PRIMARY KEY,
    kind              text        NOT NULL,
    code              text        NOT NULL UNIQUE,
    account_id        uuid        NOT NULL,
    status            text        NOT NULL,
    profile           jsonb       NOT NULL,
    plan_version      integer     NOT NULL DEFAULT 0,
    plan              jsonb,
    plan_from         date,
    clients           integer     NOT NULL DEFAULT 0,
    registered_at     timestamptz NOT NULL,
    last_position     bigint      NOT NULL
);
COMMENT ON TABLE read.agents IS 'Agents who bring in borrowers, with their latest commission plan.';
COMMENT ON COLUMN read.agents.status IS 'active | suspended (a suspended agent attributes and earns nothing new)';
COMMENT ON COLUMN read.agents.profile IS 'Name, INN and payout method, sealed under the agent''s key.';
COMMENT ON COLUMN read.agents.plan IS 'The latest plan: {percent_of_principal, first_loan_bonus, cap_per_loan}, from plan_from.';
COMMENT ON COLUMN read.agents.agent_id IS 'The Agent aggregate''s id.';
COMMENT ON COLUMN read.agents.kind IS 'individual | sole_trader | company';
COMMENT ON COLUMN read.agents.code IS 'The referral code, carried by the site''s link /?ref=CODE.';
COMMENT ON COLUMN read.agents.account_id IS 'The agent''s login account (role agent).';
COMMENT ON COLUMN read.agents.plan_version IS 'The latest plan''s version (1 for the first).';
COMMENT ON COLUMN read.agents.plan_from IS 'The first day loans earn by the latest plan (Europe/Moscow).';
COMMENT ON COLUMN read.agents.clients IS 'How many customers the agent brought.';
COMMENT ON COLUMN read.agents.registered_at IS 'When an admin registered the agent.';
COMMENT ON COLUMN read.agents.last_position IS 'The log position of the last event applied to the row.';
CREATE TABLE IF NOT EXISTS read.agent_clients (
    customer_id    uuid PRIMARY KEY,
    agent_id       uuid        NOT NULL,
    application_id uuid        NOT NULL,
    attributed_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS agent_clients_agent ON read.agent_clients (agent_id, attributed_at);
COMMENT ON TABLE read.agent_clients IS 'Which agent brought each referred customer (by their first application).';
COMMENT ON COLUMN read.agent_clients.customer_id IS 'The referred customer (read.customers).';
COMMENT ON COLUMN read.agent_clients.agent_id IS 'The agent who brought them (read.agents).';
COMMENT ON COLUMN read.agent_clients.application_id IS 'The first application, which carried the code.';
COMMENT ON COLUMN read.agent_clients.attributed_at IS 'When the customer applied with the code.';
CREATE TABLE IF NOT EXISTS read.agent_commissions (
    agent_id       uuid        NOT NULL,
    loan_id        uuid        NOT NULL,
    kind           text        NOT NULL,
    customer_id    uuid,
    amount_kopecks bigint      NOT NULL,
    month          text        NOT NULL,
    plan_version   integer,
    first_loan     boolean,
    at             timestamptz NOT NULL,
    position       bigint      NOT NULL,
    PRIMARY KEY (loan_id, kind)
);
CREATE INDEX IF NOT EXISTS agent_commissions_agent ON read.agent_commissions (agent_id, position);
COMMENT ON TABLE read.agent_commissions IS 'The commission ledger: one row per accrual and per reversal.';
COMMENT ON COLUMN read.agent_commissions.kind IS 'accrual (loan paid out) | reversal (returned within 14 days)';
COMMENT ON COLUMN read.agent_commissions.month IS 'The statement month (YYYY-MM, Europe/Moscow) the line counts in.';
COMMENT ON COLUMN read.agent_commissions.agent_id IS 'The agent (read.agents).';
COMMENT ON COLUMN read.agent_commissions.loan_id IS 'The referred loan (read.loans).';
COMMENT ON COLUMN read.agent_commissions.customer_id IS 'The referred borrower (accruals only).';
COMMENT ON COLUMN read.agent_commissions.amount_kopecks IS 'The amount earned or taken back, in kopecks (never negative; kind says which).';
COMMENT ON COLUMN read.agent_commissions.plan_version IS 'The plan the accrual was decided by (accruals only).';
COMMENT ON COLUMN read.agent_commissions.first_loan IS 'Whether the loan was the client''s first ever (the plan''s bonus applied; accruals only).';
COMMENT ON COLUMN read.agent_commissions.at IS 'When the accrual or reversal was decided.';
COMMENT ON COLUMN read.agent_commissions.position IS 'The log position of the line''s event (the ledger''s order).';
CREATE TABLE IF NOT EXISTS read.agent_statements (
    agent_id         uuid    NOT NULL,
    month            text    NOT NULL,
    status           text    NOT NULL,
    accrued_kopecks  bigint  NOT NULL DEFAULT 0,
    reversed_kopecks bigint  NOT NULL DEFAULT 0,
    carried_in       bigint  NOT NULL DEFAULT 0,
    net_kopecks      bigint,
    payable_kopecks  bigint,
    carried_out      bigint,
    payout_id        uuid,
    closed_at        timestamptz,
    paid_at          timestamptz,
    last_position    bigint  NOT NULL,
    PRIMARY KEY (agent_id, month)
);
COMMENT ON TABLE read.agent_statements IS 'Each agent''s monthly statement: open while the month runs, then closed, approved, paid.';
COMMENT ON COLUMN read.agent_statements.carried_in IS 'A negative rest carried from the previous statement (never paid out).';
COMMENT ON COLUMN read.agent_statements.carried_out IS 'The negative rest this statement carries on (0 when it nets positive).';
COMMENT ON COLUMN read.agent_statements.agent_id IS 'The agent (read.agents).';
COMMENT ON COLUMN read.agent_statements.month IS 'The calendar month, YYYY-MM (Europe/Moscow).';
COMMENT ON COLUMN read.agent_statements.status IS 'open (the month runs) | closed | approved (payout on its way) | paid';
COMMENT ON COLUMN read.agent_statements.accrued_kopecks IS 'Earned in the month, in kopecks.';
COMMENT ON COLUMN read.agent_statements.reversed_kopecks IS 'Taken back in the month, in kopecks.';
COMMENT ON COLUMN read.agent_statements.net_kopecks IS 'accrued - reversed + carried_in, fixed at close (null while open).';
COMMENT ON COLUMN read.agent_statements.payable_kopecks IS 'What is paid out: the net if positive, else 0 (null while open).';
COMMENT ON COLUMN read.agent_statements.payout_id IS 'The payout''s id at the provider, once finance approved it (one per agent and month).';
COMMENT ON COLUMN read.agent_statements.closed_at IS 'When the month was closed.';
COMMENT ON COLUMN read.agent_statements.paid_at IS 'When the provider confirmed the payout.';
COMMENT ON COLUMN read.agent_statements.last_position IS 'The log position of the last event applied to the row.';
"#;

#[async_trait]
impl Follower for Agents {
    fn name(&self) -> &'static str {
        NAME
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            AgentEventType::AgentRegistered.into(),
            AgentEventType::AgentSuspended.into(),
            AgentEventType::AgentResumed.into(),
            AgentEventType::CommissionPlanChanged.into(),
            AgentEventType::ClientAttributed.into(),
            AgentEventType::CommissionAccrued.into(),
            AgentEventType::CommissionReversed.into(),
            AgentEventType::StatementClosed.into(),
            AgentEventType::StatementPaymentApproved.into(),
            AgentEventType::StatementPaid.into(),
            AgentEventType::StatementPaymentFailed.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ReadModel {
            create_sql: CREATE,
            tables: &[
                "read.agents",
                "read.agent_clients",
                "read.agent_commissions",
                "read.agent_statements",
            ],
            views: &[],
        }
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        if !event.of::<Agent>() {
            return Ok(());
        }
        let agent_id = aggregate_uuid(event)?;
        let p = event.position();
        match payload::<AgentEvent>(event)? {
            AgentEvent::AgentRegistered {
                kind,
                profile,
                account_id,
                code,
                registered_at,
                ..
            } => {
                tx.execute(
                    "INSERT INTO read.agents (agent_id, kind, code, account_id, status, profile,
                         registered_at, last_position)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &agent_id,
                        &<&'static str>::from(kind),
                        &code.as_str(),
                        &account_id,
                        &AgentState::Active,
                        &json(&profile),
                        &registered_at,
                        &p,
                    ],
                )
                .await?;
            }
            AgentEvent::AgentSuspended { .. } => {
                tx.execute(
                    "UPDATE read.agents SET status = $2, last_position = $3 WHERE agent_id = $1",
                    &[&agent_id, &AgentState::Suspended, &p],
                )
                .await?;
            }
            AgentEvent::AgentResumed { .. } => {
                tx.execute(
                    "UPDATE read.agents SET status = $2, last_position = $3 WHERE agent_id = $1",
                    &[&agent_id, &AgentState::Active, &p],
                )
                .await?;
            }
            AgentEvent::CommissionPlanChanged {
                version,
                plan,
                effective_from,
                ..
            } => {
                tx.execute(
                    "UPDATE read.agents SET plan_version = $2, plan = $3, plan_from = $4,
                         last_position = $5
                      WHERE agent_id = $1",
                    &[
                        &agent_id,
                        &(version as i32),
                        &json(&plan),
                        &effective_from,
                        &p,
                    ],
                )
                .await?;
            }
            AgentEvent::ClientAttributed {
                customer_id,
                application_id,
                attributed_at,
            } => {
                tx.execute(
                    "INSERT INTO read.agent_clients (customer_id, agent_id, application_id,
                         attributed_at)
                     VALUES ($1, $2, $3, $4)",
                    &[&customer_id, &agent_id, &application_id, &attributed_at],
                )
                .await?;
                tx.execute(
                    "UPDATE read.agents SET clients = clients + 1, last_position = $2
                      WHERE agent_id = $1",
                    &[&agent_id, &p],
                )
                .await?;
            }
            AgentEvent::CommissionAccrued {
                loan_id,
                customer_id,
                plan_version,
                first_loan,
                amount,
                month,
                accrued_at,
                ..
            } => {
                tx.execute(
                    "INSERT INTO read.agent_commissions (agent_id, loan_id, kind, customer_id,
                         amount_kopecks, month, plan_version, first_loan, at, position)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    &[
                        &agent_id,
                        &loan_id,
                        &CommissionKind::Accrual,
                        &customer_id,
                        &amount.get(),
                        &month.to_string(),
                        &(plan_version as i32),
                        &first_loan,
                        &accrued_at,
                        &p,
                    ],
                )
                .await?;
                open_statement(tx, agent_id, &month.to_string(), amount.get(), 0, p).await?;
            }
            AgentEvent::CommissionReversed {
                loan_id,
                amount,
                month,
                reversed_at,
            } => {
                tx.execute(
                    "INSERT INTO read.agent_commissions (agent_id, loan_id, kind, amount_kopecks,
                         month, at, position)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        &agent_id,
                        &loan_id,
                        &CommissionKind::Reversal,
                        &amount.get(),
                        &month.to_string(),
                        &reversed_at,
                        &p,
                    ],
                )
                .await?;
                open_statement(tx, agent_id, &month.to_string(), 0, amount.get(), p).await?;
            }
            AgentEvent::StatementClosed {
                month,
                accrued,
                reversed,
                carried_in,
                net,
                payable,
                carried_out,
                closed_at,
            } => {
                tx.execute(
                    "INSERT INTO read.agent_statements (agent_id, month, status, accrued_kopecks,
                         reversed_kopecks, carried_in, net_kopecks, payable_kopecks, carried_out,
                         closed_at, last_position)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (agent_id, month) DO UPDATE
                        SET status = EXCLUDED.status, accrued_kopecks = EXCLUDED.accrued_kopecks,
                            reversed_kopecks = EXCLUDED.reversed_kopecks,
                            carried_in = EXCLUDED.carried_in, net_kopecks = EXCLUDED.net_kopecks,
                            payable_kopecks = EXCLUDED.payable_kopecks,
                            carried_out = EXCLUDED.carried_out, closed_at = EXCLUDED.closed_at,
                            last_position = EXCLUDED.last_position",
                    &[
                        &agent_id,
                        &month.to_string(),
                        &StatementState::Closed,
                        &accrued.get(),
                        &reversed.get(),
                        &carried_in,
                        &net,
                        &payable.get(),
                        &carried_out,
                        &closed_at,
                        &p,
                    ],
                )
                .await?;
            }
            AgentEvent::StatementPaymentApproved {
                month, payout_id, ..
            } => {
                tx.execute(
                    "UPDATE read.agent_statements SET status = $3, payout_id = $4,
                         last_position = $5
                      WHERE agent_id = $1 AND month = $2",
                    &[
                        &agent_id,
                        &month.to_string(),
                        &StatementState::Approved,
                        &payout_id,
                        &p,
                    ],
                )
                .await?;
            }
            AgentEvent::StatementPaid { month, paid_at } => {
                tx.execute(
                    "UPDATE read.agent_statements SET status = $3, paid_at = $4,
                         last_position = $5
                      WHERE agent_id = $1 AND month = $2",
                    &[
                        &agent_id,
                        &month.to_string(),
                        &StatementState::Paid,
                        &paid_at,
                        &p,
                    ],
                )
                .await?;
            }
            AgentEvent::StatementPaymentFailed { month, .. } => {
                tx.execute(
                    "UPDATE read.agent_statements SET status = $3, last_position = $4
                      WHERE agent_id = $1 AND month = $2",
                    &[&agent_id, &month.to_string(), &StatementState::Closed, &p],
                )
                .await?;
            }
            AgentEvent::CommissionNotEarned { .. } => {}
        }
        Ok(())
    }
}

/// Adds a ledger line to its month's statement, opened by the first line.
async fn open_statement(
    tx: &BatchTx<'_>,
    agent_id: uuid::Uuid,
    month: &str,
    accrued: i64,
    reversed: i64,
    position: i64,
) -> Result<(), FollowerError> {
    tx.execute(
        "INSERT INTO read.agent_statements (agent_id, month, status, accrued_kopecks,
             reversed_kopecks, last_position)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (agent_id, month) DO UPDATE
            SET accrued_kopecks = read.agent_statements.accrued_kopecks + EXCLUDED.accrued_kopecks,
                reversed_kopecks = read.agent_statements.reversed_kopecks + EXCLUDED.reversed_kopecks,
                last_position = EXCLUDED.last_position",
        &[
            &agent_id,
            &month,
            &StatementState::Open,
            &accrued,
            &reversed,
            &position,
        ],
    )
    .await?;
    Ok(())
}

impl crate::Reader {
    /// Approved statements whose payout has no answer yet: `(agent, month, payout)`.
    pub async fn awaited_commission_payouts(
        &self,
    ) -> Result<Vec<(uuid::Uuid, String, uuid::Uuid)>, crate::ReadError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT agent_id, month, payout_id FROM read.agent_statements
                  WHERE status = $1 ORDER BY month, agent_id",
                &[&StatementState::Approved],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect())
    }
}

/// A referred client as their agent may see them: masked, never more (opened and masked here,
/// so nothing unmasked leaves the read side).
#[derive(Debug, Clone)]
pub struct AgentClientRow {
    pub customer_id: uuid::Uuid,
    pub attributed_at: chrono::DateTime<chrono::Utc>,
    /// The first name and the last name's initial (`None` once erased).
    pub name: Option<String>,
    /// `+7 916 ***-**-12` (`None` once erased).
    pub phone: Option<String>,
}

/// A line of an agent's commission ledger.
#[derive(Debug, Clone)]
pub struct CommissionRow {
    pub loan_id: uuid::Uuid,
    pub kind: CommissionKind,
    pub amount_kopecks: i64,
    pub month: String,
    pub first_loan: Option<bool>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// An agent's month.
#[derive(Debug, Clone)]
pub struct StatementRow {
    pub agent_id: uuid::Uuid,
    /// The agent's referral code, as staff know the agent.
    pub code: String,
    pub month: String,
    pub status: StatementState,
    pub accrued_kopecks: i64,
    pub reversed_kopecks: i64,
    pub carried_in: i64,
    pub net_kopecks: Option<i64>,
    pub payable_kopecks: Option<i64>,
    pub carried_out: Option<i64>,
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub paid_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Every statement read selects these, so a row always maps the same way.
const STATEMENT: &str = "SELECT s.agent_id, a.code, s.month, s.status, s.accrued_kopecks,
        s.reversed_kopecks, s.carried_in, s.net_kopecks, s.payable_kopecks, s.carried_out,
        s.closed_at, s.paid_at
   FROM read.agent_statements s JOIN read.agents a USING (agent_id)";

impl StatementRow {
    fn from_row(row: &tokio_postgres::Row) -> Self {
        Self {
            agent_id: row.get(0),
            code: row.get(1),
            month: row.get(2),
            status: row.get(3),
            accrued_kopecks: row.get(4),
            reversed_kopecks: row.get(5),
            carried_in: row.get(6),
            net_kopecks: row.get(7),
            payable_kopecks: row.get(8),
            carried_out: row.get(9),
            closed_at: row.get(10),
            paid_at: row.get(11),
        }
    }
}

impl crate::Reader {
    /// The agent a login account belongs to.
    pub async fn agent_of_account(
        &self,
        account_id: uuid::Uuid,
    ) -> Result<Option<uuid::Uuid>, crate::ReadError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT agent_id FROM read.agents WHERE account_id = $1",
                &[&account_id],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// The clients `agent_id` brought, oldest first, masked.
    pub async fn agent_clients(
        &self,
        agent_id: uuid::Uuid,
    ) -> Result<Vec<AgentClientRow>, crate::ReadError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT a.customer_id, a.attributed_at, c.phone, c.profile
                   FROM read.agent_clients a JOIN read.customers c USING (customer_id)
                  WHERE a.agent_id = $1 ORDER BY a.attributed_at, a.customer_id",
                &[&agent_id],
            )
            .await?;
        let mut clients = Vec::with_capacity(rows.len());
        for row in rows {
            let phone: Option<Phone> = self.open(&row.get::<_, serde_json::Value>(2)).await?;
            let profile: Option<Applicant> = match row.get::<_, Option<serde_json::Value>>(3) {
                Some(stored) => self.open(&stored).await?,
                None => None,
            };
            clients.push(AgentClientRow {
                customer_id: row.get(0),
                attributed_at: row.get(1),
                name: profile.map(|p| p.masked_name()),
                phone: phone.map(|p| p.masked()),
            });
        }
        Ok(clients)
    }

    /// Whether `customer_id` is `agent_id`'s client.
    pub async fn is_agent_client(
        &self,
        agent_id: uuid::Uuid,
        customer_id: uuid::Uuid,
    ) -> Result<bool, crate::ReadError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT 1 FROM read.agent_clients WHERE agent_id = $1 AND customer_id = $2",
                &[&agent_id, &customer_id],
            )
            .await?;
        Ok(row.is_some())
    }

    /// The agent's ledger (one month's lines, or all), in the order it was written.
    pub async fn agent_commissions(
        &self,
        agent_id: uuid::Uuid,
        month: Option<&str>,
    ) -> Result<Vec<CommissionRow>, crate::ReadError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT loan_id, kind, amount_kopecks, month, first_loan, at
                   FROM read.agent_commissions
                  WHERE agent_id = $1 AND ($2::text IS NULL OR month = $2)
                  ORDER BY position",
                &[&agent_id, &month],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| CommissionRow {
                loan_id: row.get(0),
                kind: row.get(1),
                amount_kopecks: row.get(2),
                month: row.get(3),
                first_loan: row.get(4),
                at: row.get(5),
            })
            .collect())
    }

    /// The agent's statements, newest month first.
    pub async fn agent_statements(
        &self,
        agent_id: uuid::Uuid,
    ) -> Result<Vec<StatementRow>, crate::ReadError> {
        let rows = self
            .client()
            .await?
            .query(
                &format!("{STATEMENT} WHERE s.agent_id = $1 ORDER BY s.month DESC"),
                &[&agent_id],
            )
            .await?;
        Ok(rows.iter().map(StatementRow::from_row).collect())
    }

    /// One of the agent's statements.
    pub async fn agent_statement(
        &self,
        agent_id: uuid::Uuid,
        month: &str,
    ) -> Result<StatementRow, crate::ReadError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("{STATEMENT} WHERE s.agent_id = $1 AND s.month = $2"),
                &[&agent_id, &month],
            )
            .await?
            .ok_or(crate::ReadError::NotFound)?;
        Ok(StatementRow::from_row(&row))
    }

    /// Every agent's statements in `status`, oldest month first (finance's list to pay is the
    /// closed ones).
    pub async fn statements_with_status(
        &self,
        status: StatementState,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<StatementRow>, crate::ReadError> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "{STATEMENT} WHERE s.status = $1 ORDER BY s.month, a.code LIMIT $2 OFFSET $3"
                ),
                &[&status, &limit, &offset],
            )
            .await?;
        Ok(rows.iter().map(StatementRow::from_row).collect())
    }
}

/// An agent as staff list them (the name and INN stay sealed).
#[derive(Debug, Clone)]
pub struct AgentRow {
    pub agent_id: uuid::Uuid,
    pub kind: String,
    pub code: String,
    pub status: AgentState,
    pub clients: i32,
    pub plan_version: i32,
    pub plan: Option<serde_json::Value>,
    pub plan_from: Option<chrono::NaiveDate>,
    pub registered_at: chrono::DateTime<chrono::Utc>,
}

impl AgentRow {
    fn from_row(row: &tokio_postgres::Row) -> Self {
        Self {
            agent_id: row.get("agent_id"),
            kind: row.get("kind"),
            code: row.get("code"),
            status: row.get("status"),
            clients: row.get("clients"),
            plan_version: row.get("plan_version"),
            plan: row.get("plan"),
            plan_from: row.get("plan_from"),
            registered_at: row.get("registered_at"),
        }
    }
}

impl crate::Reader {
    /// Every agent, in the order they were registered.
    pub async fn agents(&self, limit: i64, offset: i64) -> Result<Vec<AgentRow>, crate::ReadError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT * FROM read.agents ORDER BY registered_at, agent_id LIMIT $1 OFFSET $2",
                &[&limit, &offset],
            )
            .await?;
        Ok(rows.iter().map(AgentRow::from_row).collect())
    }

    pub async fn agent(&self, agent_id: uuid::Uuid) -> Result<AgentRow, crate::ReadError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT * FROM read.agents WHERE agent_id = $1",
                &[&agent_id],
            )
            .await?
            .ok_or(crate::ReadError::NotFound)?;
        Ok(AgentRow::from_row(&row))
    }
}
