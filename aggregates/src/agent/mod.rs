//! An agent: a person or company who brings in borrowers with a referral code and earns a
//! commission on their loans. The aggregate holds the rules: who is attributed to the agent,
//! what each referred loan earns under the plan in effect on its issue day, what is taken back
//! when a loan is returned under 353-FZ art. 11, and each month's statement.

mod commands;
mod error;
mod events;
pub mod plan;
#[cfg(test)]
mod tests;
pub mod values;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use commands::AgentCommand;
pub use error::AgentError;
pub use events::{AgentEvent, AgentEventType, NotEarned};

use crate::calendar::moscow_date;
use crate::money::Kopecks;
use plan::CommissionPlan;
use values::{Month, ReferralCode};

/// What an earned commission stands at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Accrual {
    amount: Kopecks,
    reversed: bool,
}

/// Where a closed statement's payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
enum Payment {
    #[default]
    NotApproved,
    Approved,
    Paid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Statement {
    payable: Kopecks,
    payment: Payment,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Agent {
    registered: bool,
    /// The Moscow day the agent was registered: their first statement's month.
    registered_on: Option<NaiveDate>,
    suspended: bool,
    code: Option<ReferralCode>,
    account_id: Option<Uuid>,
    /// `(version, effective from, plan)`, oldest first.
    plans: Vec<(u32, NaiveDate, CommissionPlan)>,
    clients: BTreeSet<Uuid>,
    /// Clients who had a loan issued already: a later loan is not their first.
    clients_with_loans: BTreeSet<Uuid>,
    accruals: BTreeMap<Uuid, Accrual>,
    /// What was earned and taken back in each month: `(accrued, reversed)`.
    months: BTreeMap<Month, (Kopecks, Kopecks)>,
    statements: BTreeMap<Month, Statement>,
    /// The negative rest the latest closed statement carried on (0 or less).
    carried: i64,
}

impl Agent {
    pub fn code(&self) -> Option<&ReferralCode> {
        self.code.as_ref()
    }

    pub fn account_id(&self) -> Option<Uuid> {
        self.account_id
    }

    pub fn is_active(&self) -> bool {
        self.registered && !self.suspended
    }

    pub fn has_client(&self, customer_id: Uuid) -> bool {
        self.clients.contains(&customer_id)
    }

    /// The plan in effect on `day`, with its version.
    fn plan_on(&self, day: NaiveDate) -> Option<(u32, &CommissionPlan)> {
        self.plans
            .iter()
            .rev()
            .find(|(_, from, _)| *from <= day)
            .map(|(version, _, plan)| (*version, plan))
    }

    /// The months that ended by `today` (Moscow) and have no statement yet, oldest first: from
    /// the month after the latest statement (the registration month for the first).
    pub fn months_to_close(&self, today: NaiveDate) -> Vec<Month> {
        let first = match (self.statements.keys().next_back(), self.registered_on) {
            (Some(latest), _) => latest.next(),
            (None, Some(registered)) => Month::of(registered),
            (None, None) => return vec![],
        };
        let current = Month::of(today);
        std::iter::successors(Some(first), |m| Some(m.next()))
            .take_while(|m| *m < current)
            .collect()
    }

    fn closed(&self, month: Month) -> bool {
        self.statements.contains_key(&month)
    }

    /// The statement month for something that happened on `day`: its own month, or, if that
    /// closed before it was heard of (a loan paid out at 23:59 on the last day and counted after
    /// the close), the first month still open, so no line is ever left out of a statement.
    fn open_month(&self, day: NaiveDate) -> Month {
        let own = Month::of(day);
        match self.statements.keys().next_back() {
            Some(latest) if *latest >= own => latest.next(),
            _ => own,
        }
    }
}

impl Aggregate for Agent {
    const TYPE: &'static str = "Agent";
    type Command = AgentCommand;
    type Event = AgentEvent;
    type Error = AgentError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        use AgentError as E;
        if !self.registered && !matches!(command, AgentCommand::Register { .. }) {
            return Err(E::NotRegistered);
        }
        let events = match command {
            AgentCommand::Register {
                kind,
                profile,
                payout,
                account_id,
                code,
                plan,
                plan_from,
                at,
            } => {
                if self.registered {
                    return Err(E::AlreadyRegistered);
                }
                if !plan.is_valid() {
                    return Err(E::InvalidPlan);
                }
                vec![
                    AgentEvent::AgentRegistered {
                        kind,
                        profile,
                        payout,
                        account_id,
                        code,
                        plan: plan.clone(),
                        plan_from,
                        registered_at: at,
                    },
                    AgentEvent::CommissionPlanChanged {
                        version: 1,
                        plan,
                        effective_from: plan_from,
                        changed_at: at,
                    },
                ]
            }
            AgentCommand::Suspend { at } => {
                if self.suspended {
                    return Err(E::Suspended);
                }
                vec![AgentEvent::AgentSuspended { suspended_at: at }]
            }
            AgentCommand::Resume { at } => {
                if !self.suspended {
                    return Err(E::NotSuspended);
                }
                vec![AgentEvent::AgentResumed { resumed_at: at }]
            }
            AgentCommand::ChangePlan {
                plan,
                effective_from,
                at,
            } => {
                if !plan.is_valid() {
                    return Err(E::InvalidPlan);
                }
                if effective_from < moscow_date(at) {
                    return Err(E::PlanInThePast);
                }
                if self
                    .plans
                    .last()
                    .is_some_and(|(_, from, _)| effective_from <= *from)
                {
                    return Err(E::PlanWouldRewrite);
                }
                vec![AgentEvent::CommissionPlanChanged {
                    version: self.plans.len() as u32 + 1,
                    plan,
                    effective_from,
                    changed_at: at,
                }]
            }
            AgentCommand::AttributeClient {
                customer_id,
                application_id,
                at,
            } => {
                if self.suspended {
                    return Err(E::Suspended);
                }
                if self.clients.contains(&customer_id) {
                    return Err(E::AlreadyAttributed);
                }
                vec![AgentEvent::ClientAttributed {
                    customer_id,
                    application_id,
                    attributed_at: at,
                }]
            }
            AgentCommand::Accrue {
                loan_id,
                customer_id,
                principal,
                issued_on,
                at,
            } => {
                // Asked again (a retried step): already decided.
                if self.accruals.contains_key(&loan_id) {
                    return Ok(());
                }
                let not_earned = |reason| {
                    vec![AgentEvent::CommissionNotEarned {
                        loan_id,
                        customer_id,
                        reason,
                        recorded_at: at,
                    }]
                };
                if !self.clients.contains(&customer_id) {
                    not_earned(NotEarned::NotAClient)
                } else if self.suspended {
                    not_earned(NotEarned::Suspended)
                } else {
                    let (plan_version, plan) = self
                        .plan_on(issued_on)
                        .or_else(|| self.plans.first().map(|(v, _, p)| (*v, p)))
                        .expect("a registered agent has a plan");
                    let first_loan = !self.clients_with_loans.contains(&customer_id);
                    vec![AgentEvent::CommissionAccrued {
                        loan_id,
                        customer_id,
                        principal,
                        plan_version,
                        first_loan,
                        amount: plan.commission(principal, first_loan),
                        month: self.open_month(moscow_date(at)),
                        accrued_at: at,
                    }]
                }
            }
            AgentCommand::Reverse {
                loan_id,
                returned_on,
                at,
            } => match self.accruals.get(&loan_id) {
                Some(accrual) if !accrual.reversed => vec![AgentEvent::CommissionReversed {
                    loan_id,
                    amount: accrual.amount,
                    month: self.open_month(returned_on),
                    reversed_at: at,
                }],
                _ => return Err(E::NothingToReverse),
            },
            AgentCommand::CloseMonth { month, at } => {
                if moscow_date(at) < month.next().first_day() {
                    return Err(E::MonthNotOver(month));
                }
                if self.closed(month) || self.statements.keys().any(|m| *m > month) {
                    return Err(E::MonthClosed(month));
                }
                let (accrued, reversed) = self.months.get(&month).copied().unwrap_or_default();
                let net = accrued.get() - reversed.get() + self.carried;
                vec![AgentEvent::StatementClosed {
                    month,
                    accrued,
                    reversed,
                    carried_in: self.carried,
                    net,
                    payable: Kopecks::new(net.max(0)).expect("not negative"),
                    carried_out: net.min(0),
                    closed_at: at,
                }]
            }
            AgentCommand::ApprovePayment {
                month,
                payout_id,
                approved_by,
                at,
            } => {
                let statement = self
                    .statements
                    .get(&month)
                    .ok_or(E::StatementNotClosed(month))?;
                if statement.payable == Kopecks::ZERO {
                    return Err(E::NothingPayable(month));
                }
                if statement.payment != Payment::NotApproved {
                    return Err(E::PaymentApprovedAlready(month));
                }
                vec![AgentEvent::StatementPaymentApproved {
                    month,
                    payout_id,
                    amount: statement.payable,
                    approved_by,
                    approved_at: at,
                }]
            }
            AgentCommand::RecordPayout { month, paid, at } => {
                match self.statements.get(&month) {
                    Some(s) if s.payment == Payment::Approved => {}
                    _ => return Err(E::NoPaymentAwaited(month)),
                }
                if paid {
                    vec![AgentEvent::StatementPaid { month, paid_at: at }]
                } else {
                    vec![AgentEvent::StatementPaymentFailed {
                        month,
                        failed_at: at,
                    }]
                }
            }
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            AgentEvent::AgentRegistered {
                code,
                account_id,
                registered_at,
                ..
            } => {
                self.registered = true;
                self.registered_on = Some(moscow_date(registered_at));
                self.code = Some(code);
                self.account_id = Some(account_id);
            }
            AgentEvent::AgentSuspended { .. } => self.suspended = true,
            AgentEvent::AgentResumed { .. } => self.suspended = false,
            AgentEvent::CommissionPlanChanged {
                version,
                plan,
                effective_from,
                ..
            } => self.plans.push((version, effective_from, plan)),
            AgentEvent::ClientAttributed { customer_id, .. } => {
                self.clients.insert(customer_id);
            }
            AgentEvent::CommissionAccrued {
                loan_id,
                customer_id,
                amount,
                month,
                ..
            } => {
                self.clients_with_loans.insert(customer_id);
                self.accruals.insert(
                    loan_id,
                    Accrual {
                        amount,
                        reversed: false,
                    },
                );
                self.months.entry(month).or_default().0 += amount;
            }
            AgentEvent::CommissionNotEarned {
                loan_id,
                customer_id,
                ..
            } => {
                // A loan of a suspended agent's client is still the client's first one.
                self.clients_with_loans.insert(customer_id);
                self.accruals.insert(
                    loan_id,
                    Accrual {
                        amount: Kopecks::ZERO,
                        reversed: true,
                    },
                );
            }
            AgentEvent::CommissionReversed {
                loan_id,
                amount,
                month,
                ..
            } => {
                if let Some(accrual) = self.accruals.get_mut(&loan_id) {
                    accrual.reversed = true;
                }
                self.months.entry(month).or_default().1 += amount;
            }
            AgentEvent::StatementClosed {
                month,
                payable,
                carried_out,
                ..
            } => {
                self.carried = carried_out;
                self.statements.insert(
                    month,
                    Statement {
                        payable,
                        payment: Payment::NotApproved,
                    },
                );
            }
            AgentEvent::StatementPaymentApproved { month, .. } => {
                self.set_payment(month, Payment::Approved)
            }
            AgentEvent::StatementPaid { month, .. } => self.set_payment(month, Payment::Paid),
            AgentEvent::StatementPaymentFailed { month, .. } => {
                self.set_payment(month, Payment::NotApproved)
            }
        }
    }
}

impl Agent {
    fn set_payment(&mut self, month: Month, payment: Payment) {
        if let Some(statement) = self.statements.get_mut(&month) {
            statement.payment = payment;
        }
    }
}
