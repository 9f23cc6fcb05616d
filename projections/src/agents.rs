//! `read.agents`, `read.agent_clients`, `read.agent_commissions`, `read.agent_statements`: the
//! agents, whom they brought, every accrual and reversal, and each month's statement, for the
//! agents' cabinet, staff and analysts. What a loan earns is decided by the Agent aggregate;
//! this only records it.

use async_trait::async_trait;
use k911_aggregates::agent::{Agent, AgentEvent, AgentEventType};
use k911_event_store::follower::{aggregate_uuid, payload, BatchTx, Follower, FollowerError, Kind};
use k911_event_store::log::RecordedEvent;

use crate::json;

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
CREATE TABLE IF NOT EXISTS read.agent_clients (
    customer_id    uuid PRIMARY KEY,
    agent_id       uuid        NOT NULL,
    application_id uuid        NOT NULL,
    attributed_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS agent_clients_agent ON read.agent_clients (agent_id, attributed_at);
COMMENT ON TABLE read.agent_clients IS 'Which agent brought each referred customer (by their first application).';
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
            drop_sql: "DROP TABLE IF EXISTS read.agents, read.agent_clients, \
                       read.agent_commissions, read.agent_statements",
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
