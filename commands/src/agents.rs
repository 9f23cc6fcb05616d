//! Agents: registered by an admin with a login, a referral code and a commission plan;
//! suspended and resumed; their codes on first applications bring them clients. The rules live
//! in the Agent aggregate; this is where its commands are run and codes are looked up.

use std::sync::Arc;

use chrono::NaiveDate;
use k911_aggregates::agent::plan::CommissionPlan;
use k911_aggregates::agent::values::{AgentKind, AgentProfile, Inn, ReferralCode};
use k911_aggregates::agent::{Agent, AgentCommand, AgentError, AgentEvent, AgentEventType};
use k911_aggregates::loan::{Loan, LoanEvent, LoanEventType};
use k911_aggregates::loan_application::applicant::{OfficialText, PayoutMethod};
use k911_aggregates::values::{Email, Role};
use k911_event_store::store::{Cqrs, Store};
use uuid::Uuid;

use cqrs_es::{Aggregate, AggregateError};
use k911_aggregates::account::AccountEvent;
use k911_aggregates::loan_application::{LoanApplicationEvent, LoanApplicationEventType};
use k911_event_store::follower::{aggregate_uuid, payload, BatchTx, Follower, FollowerError, Kind};
use k911_event_store::log::RecordedEvent;

use crate::app::Core;
use crate::auth::Access;
use crate::error::{step_failed, StepFailure};
use crate::execute::run_retrying;
use crate::payout::{PayoutOutcome, PayoutProvider};
use crate::{CommandMeta, Error, Written};
use k911_aggregates::account::Account;
use k911_aggregates::agent::values::Month;
use k911_event_store::outbox::{self, Effect, EffectKind, PayoutPurpose};

/// What an admin gives to register an agent.
#[derive(Debug, Clone)]
pub struct AgentForm {
    pub kind: AgentKind,
    pub name: OfficialText,
    pub inn: Inn,
    pub payout: PayoutMethod,
    pub login: Email,
    pub password: String,
    pub plan: CommissionPlan,
    pub plan_from: NaiveDate,
}

/// What became of a referral code on an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    pub code: String,
    /// The agent the client is attributed to, if any.
    pub agent_id: Option<Uuid>,
    /// Why not, when not: `unknown_code`, `agent_suspended` or `existing_customer`.
    pub refused: Option<&'static str>,
}

impl Referral {
    pub fn attributed(&self) -> bool {
        self.agent_id.is_some()
    }

    pub(crate) fn refused(code: String, why: &'static str) -> Self {
        Self {
            code,
            agent_id: None,
            refused: Some(why),
        }
    }
}

#[derive(Clone)]
pub struct Agents {
    pub(crate) core: Core,
    pub(crate) agents: Arc<Cqrs<Agent>>,
    pub(crate) agent_store: Arc<Store<Agent>>,
    pub(crate) access: Access,
    pub(crate) payout: Arc<dyn PayoutProvider>,
}

impl Agents {
    /// Registers an agent: their login (like staff's), a referral code of their own, and the
    /// agent with the first plan; the profile sealed under the agent's key.
    pub async fn register(
        &self,
        form: AgentForm,
        meta: &CommandMeta,
    ) -> Result<(Written, ReferralCode), Error> {
        if !form.inn.fits(form.kind) {
            return Err(AgentError::InnDoesNotFitKind.into());
        }
        crate::payout::check_card(self.payout.as_ref(), &form.payout).await?;
        let agent_id = self.core.ids.new_id();
        let code = self.reserve_code(agent_id).await?;
        let login = self
            .access
            .create_staff(form.login, Role::Agent, &form.password, meta)
            .await?;
        let profile = AgentProfile {
            name: form.name,
            inn: form.inn,
        };
        let command = AgentCommand::Register {
            kind: form.kind,
            profile: self.core.keys.seal(agent_id, &profile).await?,
            payout: self.core.keys.seal(agent_id, &form.payout).await?,
            account_id: login.id,
            code: code.clone(),
            plan: form.plan,
            plan_from: form.plan_from,
            at: self.core.clock.now(),
        };
        let written = self
            .core
            .create(&self.agents, agent_id, command, &meta.about(agent_id))
            .await?;
        Ok((written, code))
    }

    /// A fresh code for `agent_id`, reserved: eight letters and digits from a random secret
    /// (tried again in the unlikely case it is taken).
    async fn reserve_code(&self, agent_id: Uuid) -> Result<ReferralCode, Error> {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        for _ in 0..4 {
            let secret = self.core.ids.secret();
            let code: String = secret[..8]
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect();
            let reserved = sqlx::query(
                "INSERT INTO referral_codes (code, agent_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(&code)
            .bind(agent_id)
            .execute(&self.core.db.sqlx)
            .await?;
            if reserved.rows_affected() == 1 {
                return Ok(ReferralCode::parse(&code).expect("the alphabet makes valid codes"));
            }
        }
        Err(Error::Conflict)
    }

    pub async fn suspend(&self, agent_id: Uuid, meta: &CommandMeta) -> Result<Written, Error> {
        let command = AgentCommand::Suspend {
            at: self.core.clock.now(),
        };
        self.core
            .execute(&self.agents, agent_id, command, meta)
            .await
    }

    pub async fn resume(&self, agent_id: Uuid, meta: &CommandMeta) -> Result<Written, Error> {
        let command = AgentCommand::Resume {
            at: self.core.clock.now(),
        };
        self.core
            .execute(&self.agents, agent_id, command, meta)
            .await
    }

    /// Closes every agent's months that have ended (the tidy-up job, once a minute): each
    /// month's statement is fixed, oldest first. One agent's failure is logged and counted, and
    /// the others go on.
    pub async fn close_ended_months(&self) -> Result<(), Error> {
        let today = crate::clock::moscow_date(self.core.clock.now());
        let agents: Vec<Uuid> = sqlx::query_scalar("SELECT agent_id FROM referral_codes")
            .fetch_all(&self.core.db.sqlx)
            .await?;
        let meta = CommandMeta::system("scheduler");
        for agent_id in agents {
            let closed = async {
                let agent = self.core.load(&self.agent_store, agent_id).await?;
                for month in agent.months_to_close(today) {
                    let command = AgentCommand::CloseMonth {
                        month,
                        at: self.core.clock.now(),
                    };
                    self.core
                        .execute(&self.agents, agent_id, command, &meta.about(agent_id))
                        .await?;
                }
                Ok::<_, Error>(())
            };
            if let Err(error) = closed.await {
                tracing::warn!(agent = %agent_id, %error, "closing an agent's months failed; skipped");
                let labels = crate::metrics::JobLabels {
                    job: "agent_statements".to_string(),
                };
                self.core.metrics.job_failures.get_or_create(&labels).inc();
            }
        }
        Ok(())
    }

    /// Records that an agent looked at a client they brought (masked as it is), as staff reads
    /// are recorded.
    pub async fn record_client_read(
        &self,
        caller_account: Uuid,
        customer_id: Uuid,
        purpose: &str,
        meta: &CommandMeta,
    ) -> Result<(), Error> {
        self.core
            .record_personal_data_read(caller_account, customer_id, purpose, meta)
            .await
    }

    /// Finance approves a closed statement's payable amount: the payout (its id derived from the
    /// agent and the month, so approving twice cannot pay twice) follows through the effects
    /// outbox (`CommissionPayouts`).
    pub async fn approve_payment(
        &self,
        agent_id: Uuid,
        month: Month,
        staff_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<(Written, Uuid), Error> {
        let payout_id = commission_payout_id(agent_id, month);
        let command = AgentCommand::ApprovePayment {
            month,
            payout_id,
            approved_by: staff_id,
            at: self.core.clock.now(),
        };
        let written = self
            .core
            .execute(&self.agents, agent_id, command, meta)
            .await?;
        Ok((written, payout_id))
    }

    /// The payout provider's answer to a statement's payment, once it has one: paid or refused.
    pub async fn settle_commission_payout(
        &self,
        agent_id: Uuid,
        month: Month,
        payout_id: Uuid,
    ) -> Result<(), Error> {
        let paid = match self
            .payout
            .outcome(payout_id)
            .await
            .map_err(Error::Storage)?
        {
            PayoutOutcome::Pending => return Ok(()),
            PayoutOutcome::Paid => true,
            PayoutOutcome::Failed(_) => false,
        };
        let command = AgentCommand::RecordPayout {
            month,
            paid,
            at: self.core.clock.now(),
        };
        let meta = CommandMeta::system("scheduler").about(agent_id);
        self.core
            .execute(&self.agents, agent_id, command, &meta)
            .await?;
        Ok(())
    }

    /// A new plan from `effective_from`; what was earned before stays as it was.
    pub async fn change_plan(
        &self,
        agent_id: Uuid,
        plan: CommissionPlan,
        effective_from: NaiveDate,
        meta: &CommandMeta,
    ) -> Result<Written, Error> {
        let command = AgentCommand::ChangePlan {
            plan,
            effective_from,
            at: self.core.clock.now(),
        };
        self.core
            .execute(&self.agents, agent_id, command, meta)
            .await
    }
}

/// What a code on a new customer's application comes to: the agent it names, if they take new
/// clients now. Decided from the write side (the codes table and the agent itself).
pub(crate) async fn referral(
    core: &Core,
    agent_store: &Store<Agent>,
    raw: &str,
) -> Result<Referral, Error> {
    let Ok(code) = ReferralCode::parse(raw) else {
        return Ok(Referral::refused(raw.trim().to_string(), "unknown_code"));
    };
    let code_text = code.as_str().to_string();
    let Some(agent_id) = agent_of_code(&core.db.sqlx, &code).await? else {
        return Ok(Referral::refused(code_text, "unknown_code"));
    };
    let agent = core.load(agent_store, agent_id).await?;
    if !agent.is_active() {
        return Ok(Referral::refused(code_text, "agent_suspended"));
    }
    Ok(Referral {
        code: code_text,
        agent_id: Some(agent_id),
        refused: None,
    })
}

/// The payout id of an agent's month: the same however often it is approved.
fn commission_payout_id(agent_id: Uuid, month: Month) -> Uuid {
    Uuid::new_v5(&agent_id, format!("commission/{month}").as_bytes())
}

/// Sends an approved statement's money: the payout becomes an effect of the outbox, with the
/// agent's sealed payout method, written in this step's transaction; the effects worker pays it
/// once under its id.
pub struct CommissionPayouts;

#[async_trait::async_trait]
impl Follower for CommissionPayouts {
    fn name(&self) -> &'static str {
        "commission_payouts"
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![AgentEventType::StatementPaymentApproved.into()]
    }

    fn kind(&self) -> Kind {
        Kind::ProcessManager
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        let bad = |e: &dyn StepFailure| step_failed(event, e);
        let AgentEvent::StatementPaymentApproved {
            payout_id, amount, ..
        } = payload(event)?
        else {
            return Ok(());
        };
        let agent_id = aggregate_uuid(event)?;
        let registered = tx.first_payload(Agent::TYPE, &event.aggregate_id).await?;
        let Ok(AgentEvent::AgentRegistered { payout, .. }) = serde_json::from_value(registered)
        else {
            return Err(bad(&"agent without registration"));
        };
        let effect = Effect::Payout {
            payout_id,
            // The payout's subject: for a commission, the agent.
            loan_id: agent_id,
            purpose: PayoutPurpose::Commission,
            amount,
            method: payout,
        };
        outbox::enqueue(tx.transaction(), payout_id, EffectKind::Payout, &effect).await?;
        Ok(())
    }
}

/// The agent who owns `code`.
pub(crate) async fn agent_of_code(
    db: &sqlx::PgPool,
    code: &ReferralCode,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT agent_id FROM referral_codes WHERE code = $1")
        .bind(code.as_str())
        .fetch_optional(db)
        .await
}

/// Attributes a new customer to the agent whose live code their first application carried
/// (`ApplicationSubmitted` keeps the code only when it was live at submission). A process
/// manager, so a crash after the submission cannot lose the attribution; the agent refusing
/// (suspended since, or the client theirs already) is an outcome, not an error.
pub struct AgentAttribution {
    pub(crate) agents: Arc<Cqrs<Agent>>,
    pub(crate) db: sqlx::PgPool,
}

#[async_trait::async_trait]
impl Follower for AgentAttribution {
    fn name(&self) -> &'static str {
        "agent_attribution"
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![LoanApplicationEventType::ApplicationSubmitted.into()]
    }

    fn kind(&self) -> Kind {
        Kind::ProcessManager
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        let bad = |e: &dyn StepFailure| step_failed(event, e);
        let LoanApplicationEvent::ApplicationSubmitted {
            customer_id,
            referral_code: Some(code),
            repeat: false,
            submitted_at,
            ..
        } = payload(event)?
        else {
            return Ok(());
        };
        // Only the application that registered the customer brings them to an agent.
        let registered = tx
            .first_payload(Account::TYPE, &customer_id.to_string())
            .await?;
        let application_id = aggregate_uuid(event)?;
        match serde_json::from_value(registered) {
            Ok(AccountEvent::CustomerRegistered {
                application_id: first,
                ..
            }) if first == application_id => {}
            _ => return Ok(()),
        }
        let code =
            ReferralCode::parse(&code).map_err(|_| bad(&"a referral code that does not parse"))?;
        let Some(agent_id) = agent_of_code(&self.db, &code)
            .await
            .map_err(|e| bad(&Error::from(e)))?
        else {
            return Ok(());
        };
        let command = AgentCommand::AttributeClient {
            customer_id,
            application_id,
            // The client came when they applied (by the service's clock, not the database's).
            at: submitted_at,
        };
        let meta = CommandMeta::system("agents").about(agent_id);
        match run_retrying(&self.agents, &agent_id.to_string(), command, meta.to_map()).await {
            Ok(()) => Ok(()),
            Err(AggregateError::UserError(refusal)) => {
                tracing::info!(agent = %agent_id, customer = %customer_id, %refusal, "client not attributed");
                Ok(())
            }
            Err(other) => Err(bad(&Error::from_store(other))),
        }
    }
}

/// Within how many days of issue a loan returned in full takes its commission back (353-FZ
/// art. 11 part 4: the borrower may return the whole loan within 14 days, before its due date).
const COOLING_OFF_DAYS: u64 = 14;

/// Feeds referred loans to their agents: a loan paid out to an agent's client is accrued on the
/// agent (who decides what it earns), and one returned in full within 14 days of issue and before
/// its due date is reversed. Commands carry the log's own moments, so a replay decides the same.
pub struct AgentCommissions {
    pub(crate) agents: Arc<Cqrs<Agent>>,
    pub(crate) clock: Arc<dyn crate::clock::Clock>,
}

#[async_trait::async_trait]
impl Follower for AgentCommissions {
    fn name(&self) -> &'static str {
        "agent_commissions"
    }

    fn event_types(&self) -> Vec<&'static str> {
        vec![
            AgentEventType::ClientAttributed.into(),
            LoanEventType::LoanIssued.into(),
            LoanEventType::LoanRepaid.into(),
        ]
    }

    fn kind(&self) -> Kind {
        Kind::ProcessManager
    }

    async fn apply(&self, tx: &BatchTx<'_>, event: &RecordedEvent) -> Result<(), FollowerError> {
        let bad = |e: &dyn StepFailure| step_failed(event, e);
        let id = aggregate_uuid(event)?;
        if event.of::<Agent>() {
            if let AgentEvent::ClientAttributed { customer_id, .. } = payload(event)? {
                tx.execute(
                    "INSERT INTO agent_clients (customer_id, agent_id) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                    &[&customer_id, &id],
                )
                .await?;
            }
            return Ok(());
        }
        let (agent_id, command) = match payload::<LoanEvent>(event)? {
            LoanEvent::LoanIssued {
                issued_on,
                due_on,
                issued_at,
                ..
            } => {
                let offered = tx.first_payload(Loan::TYPE, &event.aggregate_id).await?;
                let Ok(LoanEvent::LoanOffered { terms, .. }) = serde_json::from_value(offered)
                else {
                    return Err(bad(&"loan without offer"));
                };
                let Some(row) = tx
                    .query_opt(
                        "SELECT agent_id FROM agent_clients WHERE customer_id = $1",
                        &[&terms.customer_id],
                    )
                    .await?
                else {
                    return Ok(());
                };
                let agent_id: Uuid = row.get(0);
                tx.execute(
                    "INSERT INTO agent_loans (loan_id, agent_id, issued_on, due_on)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[&id, &agent_id, &issued_on, &due_on],
                )
                .await?;
                let accrue = AgentCommand::Accrue {
                    loan_id: id,
                    customer_id: terms.customer_id,
                    principal: terms.principal,
                    issued_on,
                    at: issued_at,
                };
                (agent_id, accrue)
            }
            LoanEvent::LoanRepaid { closed_on } => {
                let Some(row) = tx
                    .query_opt(
                        "SELECT agent_id, issued_on, due_on FROM agent_loans WHERE loan_id = $1",
                        &[&id],
                    )
                    .await?
                else {
                    return Ok(());
                };
                let (agent_id, issued_on, due_on): (Uuid, NaiveDate, NaiveDate) =
                    (row.get(0), row.get(1), row.get(2));
                let returned_early = closed_on < due_on
                    && closed_on <= issued_on + chrono::Days::new(COOLING_OFF_DAYS);
                if !returned_early {
                    return Ok(());
                }
                let reverse = AgentCommand::Reverse {
                    loan_id: id,
                    returned_on: closed_on,
                    at: self.clock.now(),
                };
                (agent_id, reverse)
            }
            _ => return Ok(()),
        };
        let meta = CommandMeta::system("agents").about(agent_id);
        match run_retrying(&self.agents, &agent_id.to_string(), command, meta.to_map()).await {
            Ok(()) => Ok(()),
            // Decided already (a replayed step), or nothing to take back: an outcome.
            Err(AggregateError::UserError(refusal)) => {
                tracing::info!(agent = %agent_id, loan = %id, %refusal, "commission step refused");
                Ok(())
            }
            Err(other) => Err(bad(&Error::from_store(other))),
        }
    }
}
