//! A loan application: submitted by a customer (the first one registers them), decided once by an
//! underwriter. The decision is final; the loan itself is a separate aggregate.

pub mod applicant;
mod commands;
pub mod consents;
mod error;
mod events;
#[cfg(test)]
mod tests;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use commands::{Assessment, LoanApplicationCommand};
pub use error::LoanApplicationError;
pub use events::{LoanApplicationEvent, LoanApplicationEventType};

use crate::calendar::moscow_date;
use crate::loan::law::{LawEditions, Unlawful};
pub use crate::loan::psk::LoanCost;
use crate::money::{DailyRate, Kopecks};
use crate::Sealed;
use rust_decimal::{Decimal, RoundingStrategy};

/// The applicant's finances a debt-to-income assessment starts from: personal data, sealed in
/// the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredFinances {
    /// As the applicant declared it.
    pub monthly_income: Kopecks,
    /// The average monthly payments on the loans already in force, before the new one.
    pub monthly_payments: Kopecks,
}

/// ПДН: monthly payments over monthly income, in percent to one decimal; `None` without income.
pub fn pdn_percent(monthly_payments: Kopecks, monthly_income: Kopecks) -> Option<Decimal> {
    (monthly_income > Kopecks::ZERO).then(|| {
        (Decimal::from(monthly_payments.get()) * Decimal::ONE_HUNDRED
            / Decimal::from(monthly_income.get()))
        .round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero)
    })
}

/// Above this share of income a borrower is warned before signing (353-FZ art. 5.1).
pub const PDN_WARNING_ABOVE_PERCENT: Decimal = Decimal::from_parts(50, 0, 0, false, 0);

/// The warning a borrower gets before signing when the loan would take more than half their
/// income, or when no income was declared (the ratio cannot be told).
pub fn pdn_warning(pdn_percent: Option<Decimal>) -> Option<String> {
    match pdn_percent {
        Some(pdn) if pdn <= PDN_WARNING_ABOVE_PERCENT => None,
        Some(pdn) => Some(format!(
            "Внимание: ваша долговая нагрузка (ПДН) с этим займом — {pdn} % дохода, больше \
             {PDN_WARNING_ABOVE_PERCENT} %: есть риск не исполнить обязательства."
        )),
        None => Some(
            "Внимание: доход не указан, долговую нагрузку (ПДН) оценить нельзя: \
             есть риск не исполнить обязательства."
                .to_string(),
        ),
    }
}
use applicant::{Applicant, PayoutMethod};

/// The loan asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoanRequest {
    pub amount: Kopecks,
    pub term_days: u16,
}

/// The product's limits, from configuration: what may be asked for and granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub min_amount: Kopecks,
    pub max_amount: Kopecks,
    pub min_term_days: u16,
    pub max_term_days: u16,
    /// The rate an approval gets unless the underwriter sets a lower one; never above the legal
    /// cap (checked when the configuration is read).
    pub daily_rate: DailyRate,
}

impl Default for Product {
    fn default() -> Self {
        Self {
            min_amount: Kopecks::from_roubles(1_000),
            max_amount: Kopecks::from_roubles(30_000),
            min_term_days: 5,
            max_term_days: 30,
            daily_rate: DailyRate::parse("0.8").expect("a valid rate"),
        }
    }
}

/// What an approval is decided against: the product, and the law's editions (an approval must
/// be one the loan can offer lawfully).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LendingPolicy {
    pub product: Product,
    pub law: LawEditions,
}

impl Product {
    /// Whether the product lends `amount` for `term_days`.
    pub fn check(&self, amount: Kopecks, term_days: u16) -> Result<(), LoanApplicationError> {
        if !(self.min_amount..=self.max_amount).contains(&amount) {
            return Err(LoanApplicationError::AmountOutOfLimits {
                min: self.min_amount,
                max: self.max_amount,
            });
        }
        if !(self.min_term_days..=self.max_term_days).contains(&term_days) {
            return Err(LoanApplicationError::TermOutOfLimits {
                min: self.min_term_days,
                max: self.max_term_days,
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplicationStatus {
    #[default]
    New,
    Submitted,
    Approved,
    Rejected,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LoanApplication {
    status: ApplicationStatus,
    customer_id: Option<Uuid>,
    loan: Option<LoanRequest>,
    /// The profile and payout method as submitted: what a repeat application starts from.
    profile: Option<(Sealed<Applicant>, Sealed<PayoutMethod>)>,
    /// The terms of the approval in force, if one is.
    approved: Option<ApprovedLoan>,
}

/// What an approval granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedLoan {
    pub amount: Kopecks,
    pub term_days: u16,
    pub daily_rate: DailyRate,
    pub approved_at: chrono::DateTime<chrono::Utc>,
}

impl ApprovedLoan {
    /// What the loan costs under the edition of the approval's day (the approval checked it).
    pub fn cost(&self, law: &LawEditions) -> Result<LoanCost, Unlawful> {
        law.for_contract(moscow_date(self.approved_at)).lawful_cost(
            self.amount,
            self.term_days,
            self.daily_rate,
        )
    }
}

impl LoanApplication {
    pub fn status(&self) -> ApplicationStatus {
        self.status
    }

    pub fn customer_id(&self) -> Option<Uuid> {
        self.customer_id
    }

    /// The applicant's data and payout method as submitted (sealed).
    pub fn profile(&self) -> Option<&(Sealed<Applicant>, Sealed<PayoutMethod>)> {
        self.profile.as_ref()
    }

    /// The approval in force (not returned), if there is one.
    pub fn approved(&self) -> Option<ApprovedLoan> {
        self.approved
    }
}

impl Aggregate for LoanApplication {
    const TYPE: &'static str = "LoanApplication";
    type Command = LoanApplicationCommand;
    type Event = LoanApplicationEvent;
    type Error = LoanApplicationError;
    type Services = LendingPolicy;

    async fn handle(
        &mut self,
        command: Self::Command,
        policy: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        use LoanApplicationError as E;
        let event = match command {
            LoanApplicationCommand::Submit {
                customer_id,
                applicant,
                loan,
                payout,
                referral_code,
                repeat,
                consents,
                at,
            } => {
                if self.status != ApplicationStatus::New {
                    return Err(E::AlreadySubmitted);
                }
                policy.product.check(loan.amount, loan.term_days)?;
                LoanApplicationEvent::ApplicationSubmitted {
                    customer_id,
                    applicant,
                    loan,
                    payout,
                    consents_given_at: at,
                    consents,
                    referral_code,
                    repeat,
                    submitted_at: at,
                }
            }
            LoanApplicationCommand::Approve {
                underwriter_id,
                amount,
                term_days,
                daily_rate,
                assessment,
                at,
            } => {
                let (amount, term_days, daily_rate, cost) =
                    self.approval_terms(amount, term_days, daily_rate, policy, at)?;
                let today = moscow_date(at);
                let rules = policy.law.for_contract(today);
                rules.check_high_cost(cost.psk_percent, &assessment.credit_history, today)?;
                let monthly_payments = assessment.monthly_payments + cost.monthly_payment();
                let assessed = LoanApplicationEvent::DebtToIncomeAssessed {
                    declared: Some(assessment.declared),
                    pdn_percent: pdn_percent(monthly_payments, assessment.monthly_income),
                    assessed_at: at,
                };
                sink.write(assessed, self).await;
                LoanApplicationEvent::ApplicationApproved {
                    underwriter_id,
                    amount,
                    term_days,
                    daily_rate,
                    approved_at: at,
                }
            }
            LoanApplicationCommand::Return { reason, at } => {
                if self.status != ApplicationStatus::Approved {
                    // Returned already, or never approved: nothing to give back.
                    return Ok(());
                }
                LoanApplicationEvent::ApplicationReturned {
                    reason,
                    returned_at: at,
                }
            }
            LoanApplicationCommand::Reject {
                underwriter_id,
                reason,
                at,
            } => {
                self.undecided()?;
                LoanApplicationEvent::ApplicationRejected {
                    underwriter_id,
                    reason: Some(reason),
                    rejected_at: at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            LoanApplicationEvent::ApplicationSubmitted {
                customer_id,
                loan,
                applicant,
                payout,
                ..
            } => {
                self.status = ApplicationStatus::Submitted;
                self.customer_id = Some(customer_id);
                self.loan = Some(loan);
                self.profile = Some((applicant, payout));
            }
            LoanApplicationEvent::ApplicationApproved {
                amount,
                term_days,
                daily_rate,
                approved_at,
                ..
            } => {
                self.status = ApplicationStatus::Approved;
                self.approved = Some(ApprovedLoan {
                    amount,
                    term_days,
                    daily_rate,
                    approved_at,
                });
            }
            LoanApplicationEvent::ApplicationRejected { .. } => {
                self.status = ApplicationStatus::Rejected
            }
            LoanApplicationEvent::ApplicationReturned { .. } => {
                self.status = ApplicationStatus::Submitted;
                self.approved = None;
            }
            LoanApplicationEvent::DebtToIncomeAssessed { .. } => {}
        }
    }
}

impl LoanApplication {
    /// The terms an approval at `at` would grant (the request's where the underwriter named
    /// none) and what they cost, every figure checked against the product and the edition of the
    /// day: an approval is one the loan can always offer.
    pub fn approval_terms(
        &self,
        amount: Option<Kopecks>,
        term_days: Option<u16>,
        daily_rate: Option<DailyRate>,
        policy: &LendingPolicy,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(Kopecks, u16, DailyRate, LoanCost), LoanApplicationError> {
        use LoanApplicationError as E;
        let asked = self.undecided()?;
        let amount = amount.unwrap_or(asked.amount);
        let term_days = term_days.unwrap_or(asked.term_days);
        if amount > asked.amount {
            return Err(E::AmountAboveRequest {
                asked: asked.amount,
            });
        }
        if term_days > asked.term_days {
            return Err(E::TermAboveRequest {
                asked: asked.term_days,
            });
        }
        let product = &policy.product;
        product.check(amount, term_days)?;
        let daily_rate = daily_rate.unwrap_or(product.daily_rate);
        if daily_rate > product.daily_rate {
            return Err(E::RateAboveCap {
                cap: product.daily_rate,
            });
        }
        let rules = policy.law.for_contract(moscow_date(at));
        let cost = rules.lawful_cost(amount, term_days, daily_rate)?;
        Ok((amount, term_days, daily_rate, cost))
    }

    /// The loan asked for, if the application still waits for its decision.
    fn undecided(&self) -> Result<LoanRequest, LoanApplicationError> {
        match (self.status, self.loan) {
            (ApplicationStatus::Submitted, Some(loan)) => Ok(loan),
            (ApplicationStatus::New, _) => Err(LoanApplicationError::NotSubmitted),
            _ => Err(LoanApplicationError::AlreadyDecided),
        }
    }
}
