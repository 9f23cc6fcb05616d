//! A loan, from the offer an approval makes to the last kopeck repaid: the contract's money rules
//! (353-FZ limits, the full cost of credit, the debt and how a payment is applied) and the Loan
//! aggregate that keeps them.

mod commands;
pub mod course;
mod error;
mod events;
pub mod law;
pub mod ledger;
pub mod psk;
pub mod reminders;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use chrono::{DateTime, Days, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use commands::{LoanCommand, OfferTerms};
pub use error::LoanError;
pub use events::{LoanEvent, LoanEventType};

use crate::calendar::moscow_date;
use crate::incoming_payment::PaymentChannel;
use crate::money::Kopecks;
use crate::regions::LocalTimeZone;
use course::Course;
use law::LawEditions;
use ledger::{allocate, Debt};

/// A loan's ledger replayed from issue (see [`Loan::replay`]).
#[derive(Debug, Default)]
struct Replay {
    course: Option<Course>,
    held: Kopecks,
    allocations: Vec<(PaymentChannel, String, ledger::Allocation)>,
    closed_on: Option<NaiveDate>,
}

/// Where a loan stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoanStatus {
    #[default]
    None,
    /// The approved terms could not be offered lawfully.
    Refused,
    /// Waiting for the borrower's signature.
    Offered,
    /// Unsigned in time, or signing was refused: the offer lapsed.
    Expired,
    /// Signed; the payout is next.
    Signed,
    PayoutRequested,
    /// The provider could not pay out: the loan was never issued.
    PayoutFailed,
    /// Issued and not yet repaid (overdue or not).
    Active,
    /// Repaid in full.
    Closed,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Loan {
    status: LoanStatus,
    terms: Option<OfferTerms>,
    payout_id: Option<Uuid>,
    /// The debt and what its charges follow from (from the offer on).
    course: Option<Course>,
    /// Overpayments kept for the borrower.
    held: Kopecks,
    /// `(channel, external_id)` of every payment applied: each is applied once.
    payments: BTreeSet<(PaymentChannel, String)>,
    /// Every payment in the order it arrived: `(channel, external_id, day paid, amount)`.
    history: Vec<(PaymentChannel, String, NaiveDate, Kopecks)>,
    /// When overdue reminders went out (what the law's limits count).
    reminders: Vec<DateTime<Utc>>,
    /// What the offer said the loan costs.
    cost: Option<OfferedCost>,
    /// A refund of held money under way: its id and amount.
    refund: Option<(Uuid, Kopecks)>,
    /// Held money paid back to the borrower so far.
    refunded: Kopecks,
    signed_at: Option<DateTime<Utc>>,
    /// Why the approved terms could not be offered, or signed, if they could not.
    refusal: Option<law::Unlawful>,
}

/// A contract's number: `911-YYMMDD-NNNNNN`, the contract's date and the lender's serial.
/// A loan contract's number: `911-YYMMDD-NNNNNN`, the contract's Moscow date and a serial.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContractNumber(String);

impl ContractNumber {
    pub fn new(contract_date: NaiveDate, serial: i64) -> Self {
        Self(format!(
            "911-{}-{serial:06}",
            contract_date.format("%y%m%d")
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What a payer quoting this number is matched by.
    pub fn digits(&self) -> String {
        contract_digits(&self.0)
    }
}

impl std::fmt::Display for ContractNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Digits only: how a contract number is found however a payer typed it.
pub fn contract_digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// Whole days an issued loan is past its due date on `today` (0 on the due date and before).
pub fn days_overdue(due_on: NaiveDate, today: NaiveDate) -> i64 {
    (today - due_on).num_days().max(0)
}

impl LoanStatus {
    /// Offered or under way, and not repaid: what the borrower still has to act on.
    pub fn in_force(self) -> bool {
        matches!(
            self,
            Self::Offered | Self::Signed | Self::PayoutRequested | Self::Active
        )
    }
}

/// The figures of the offer, as its event recorded them: what the contract document shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferedCost {
    pub interest_for_term: Kopecks,
    pub total_to_repay: Kopecks,
    pub psk_percent: rust_decimal::Decimal,
}

impl Loan {
    pub fn status(&self) -> LoanStatus {
        self.status
    }

    pub fn terms(&self) -> Option<&OfferTerms> {
        self.terms.as_ref()
    }

    /// What is owed as of the last day charged (`None` before the offer).
    pub fn course(&self) -> Option<&Course> {
        self.course.as_ref()
    }

    fn debt(&self) -> Debt {
        self.course.as_ref().map(|c| c.debt).unwrap_or_default()
    }

    pub fn cost(&self) -> Option<OfferedCost> {
        self.cost
    }

    pub fn held(&self) -> Kopecks {
        self.held
    }

    pub fn signed_at(&self) -> Option<DateTime<Utc>> {
        self.signed_at
    }

    /// The refund under way, if one is: its id and amount.
    pub fn pending_refund(&self) -> Option<(Uuid, Kopecks)> {
        self.refund
    }

    /// The borrower's local time zone (the quiet hours of reminders are counted in it).
    pub fn time_zone(&self) -> LocalTimeZone {
        self.terms.as_ref().map(|t| t.time_zone).unwrap_or_default()
    }

    /// Why the approved terms could not be offered or signed, if they could not.
    pub fn refusal(&self) -> Option<law::Unlawful> {
        self.refusal.clone()
    }

    pub fn due_on(&self) -> Option<NaiveDate> {
        self.course.as_ref().and_then(|c| c.due_on)
    }

    fn accrued_through(&self) -> Option<NaiveDate> {
        self.course.as_ref().and_then(|c| c.accrued_through)
    }

    /// Whether the loan can take a payment made on `paid_on`: issued, and not before its issue.
    pub fn takes_payment_on(&self, paid_on: NaiveDate) -> Result<(), LoanError> {
        if !matches!(self.status, LoanStatus::Active | LoanStatus::Closed) {
            return Err(LoanError::NotIssued);
        }
        match self.course.as_ref().and_then(|c| c.issued_on) {
            Some(issued_on) if paid_on < issued_on => Err(LoanError::PaidBeforeIssue(issued_on)),
            _ => Ok(()),
        }
    }

    pub fn has_payment(&self, channel: PaymentChannel, external_id: &str) -> bool {
        self.payments.contains(&(channel, external_id.to_string()))
    }

    /// The ledger from issue through `through` with every payment on its own day (in the order
    /// they arrived within a day): what it all comes to had each payment arrived in time.
    fn replay(
        &self,
        payments: &[(PaymentChannel, String, NaiveDate, Kopecks)],
        through: NaiveDate,
    ) -> Replay {
        let Some((mut course, Some(issued_on))) =
            self.course.as_ref().map(|c| (c.at_issue(), c.issued_on))
        else {
            return Replay::default();
        };
        let mut sorted: Vec<&(PaymentChannel, String, NaiveDate, Kopecks)> =
            payments.iter().collect();
        sorted.sort_by_key(|(_, _, day, _)| *day);
        let mut replay = Replay::default();
        let mut next = sorted.iter().peekable();
        let mut day = issued_on;
        while day <= through || next.peek().is_some() {
            if day > issued_on {
                course.charge_day(day);
            }
            while let Some((channel, external_id, _, amount)) =
                next.next_if(|(_, _, paid_on, _)| *paid_on <= day)
            {
                let allocation = allocate(&course.debt, *amount, course.rules.allocation);
                course.debt = course.debt.less(&allocation.applied);
                replay.held += allocation.held;
                if course.debt.total() == Kopecks::ZERO && replay.closed_on.is_none() {
                    replay.closed_on = Some(day);
                }
                replay
                    .allocations
                    .push((*channel, external_id.clone(), allocation));
            }
            day = day + Days::new(1);
        }
        replay.course = Some(course);
        replay
    }

    /// The charges for every day after the last one charged up to `through`.
    fn accruals(&self, through: NaiveDate) -> Vec<LoanEvent> {
        self.course
            .as_ref()
            .map_or_else(Vec::new, |course| course.accruals(through))
    }
}

impl Aggregate for Loan {
    const TYPE: &'static str = "Loan";
    type Command = LoanCommand;
    type Event = LoanEvent;
    type Error = LoanError;
    /// The law's editions: a contract follows the one of the day it is signed.
    type Services = LawEditions;

    async fn handle(
        &mut self,
        command: Self::Command,
        law: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        use LoanError as E;
        match command {
            LoanCommand::Offer { terms, at } => {
                let terms = *terms;
                if self.status != LoanStatus::None {
                    return Err(E::AlreadyOffered);
                }
                // A refusal is recorded, not returned: the process manager that offers must be
                // able to move on, and the application goes back to the underwriters.
                let event = match terms.rules.lawful_cost(
                    terms.principal,
                    terms.term_days,
                    terms.daily_rate,
                ) {
                    Ok(cost) => LoanEvent::LoanOffered {
                        terms,
                        interest_for_term: cost.interest,
                        total_to_repay: cost.total,
                        psk_percent: cost.psk_percent,
                        offered_at: at,
                    },
                    Err(reason) => LoanEvent::OfferRefused {
                        terms,
                        reason,
                        refused_at: at,
                    },
                };
                sink.write(event, self).await;
            }
            LoanCommand::Sign { at } => {
                let terms = self.terms.as_ref().ok_or(E::NotOffered)?;
                if self.status != LoanStatus::Offered {
                    return Err(E::NotSignable);
                }
                if at >= terms.expires_at {
                    return Err(E::OfferExpired);
                }
                // The contract is concluded when the borrower signs (353-FZ art. 7 part 6): the
                // edition of that day governs it, and its terms must be lawful under it.
                let contract_date = moscow_date(at);
                let rules = law.for_contract(contract_date).clone();
                let event =
                    match rules.lawful_cost(terms.principal, terms.term_days, terms.daily_rate) {
                        Ok(_) => LoanEvent::ContractSigned {
                            signed_at: at,
                            contract_date: Some(contract_date),
                            rules: Some(rules),
                        },
                        Err(reason) => LoanEvent::SigningRefused {
                            reason,
                            refused_at: at,
                        },
                    };
                sink.write(event, self).await;
            }
            LoanCommand::Expire { at } => {
                let lapsed = self.status == LoanStatus::Offered
                    && self.terms.as_ref().is_some_and(|t| at >= t.expires_at);
                if lapsed {
                    sink.write(LoanEvent::OfferExpired { expired_at: at }, self)
                        .await;
                }
            }
            LoanCommand::RequestPayout { payout_id, at } => match self.status {
                LoanStatus::Signed => {
                    let requested = LoanEvent::PayoutRequested {
                        payout_id,
                        requested_at: at,
                    };
                    sink.write(requested, self).await;
                }
                // Asked again (a retry): it was asked once, and that is enough.
                LoanStatus::PayoutRequested
                | LoanStatus::Active
                | LoanStatus::Closed
                | LoanStatus::PayoutFailed => {}
                _ => return Err(E::NotSigned),
            },
            LoanCommand::ConfirmPayout { payout_id, on, at } => {
                if self.payout_id != Some(payout_id) {
                    return Err(E::UnknownPayout(payout_id));
                }
                if self.status == LoanStatus::PayoutRequested {
                    let term = self.terms.as_ref().map_or(0, |t| t.term_days);
                    let issued = LoanEvent::LoanIssued {
                        payout_id,
                        issued_on: on,
                        due_on: on + Days::new(u64::from(term)),
                        issued_at: at,
                    };
                    sink.write(issued, self).await;
                }
            }
            LoanCommand::FailPayout {
                payout_id,
                reason,
                at,
            } => {
                if self.payout_id != Some(payout_id) {
                    return Err(E::UnknownPayout(payout_id));
                }
                if self.status == LoanStatus::PayoutRequested {
                    let failed = LoanEvent::PayoutFailed {
                        payout_id,
                        reason,
                        failed_at: at,
                    };
                    sink.write(failed, self).await;
                }
            }
            LoanCommand::Accrue { through } => {
                if self.status == LoanStatus::Active {
                    for event in self.accruals(through) {
                        sink.write(event, self).await;
                    }
                }
            }
            LoanCommand::Remind { at, rules } => {
                // What is owed tonight, the days not recorded yet charged too.
                let Some(course) = self.course.as_ref().map(|c| c.on(moscow_date(at))) else {
                    return Ok(());
                };
                let (Some(due_on), true) = (course.due_on, course.overdue) else {
                    return Ok(());
                };
                let owed = course.debt.total();
                let due = self.status == LoanStatus::Active && owed > Kopecks::ZERO;
                let zone = self.time_zone();
                if due && rules.may_send(at, &self.reminders, zone) {
                    let today = rules.local_date(at, zone);
                    let reminded = LoanEvent::OverdueReminderSent {
                        days_overdue: (today - due_on).num_days(),
                        owed,
                        sent_at: at,
                    };
                    sink.write(reminded, self).await;
                }
            }
            LoanCommand::ChangeTimeZone { time_zone, at } => {
                if self.status.in_force() && self.time_zone() != time_zone {
                    let changed = LoanEvent::TimeZoneChanged {
                        time_zone,
                        changed_at: at,
                    };
                    sink.write(changed, self).await;
                }
            }
            LoanCommand::RequestRefund { refund_id, at } => {
                match self.refund {
                    Some((pending, _)) if pending == refund_id => return Ok(()),
                    Some(_) => return Err(E::RefundPending),
                    None => {}
                }
                if self.held == Kopecks::ZERO {
                    return Err(E::NothingToRefund);
                }
                let requested = LoanEvent::RefundRequested {
                    refund_id,
                    amount: self.held,
                    requested_at: at,
                };
                sink.write(requested, self).await;
            }
            LoanCommand::SettleRefund {
                refund_id,
                failure,
                at,
            } => {
                if self.refund.map(|(id, _)| id) != Some(refund_id) {
                    // Settled already (or never asked): nothing to do.
                    return Ok(());
                }
                let settled = match failure {
                    None => LoanEvent::OverpaymentRefunded {
                        refund_id,
                        refunded_at: at,
                    },
                    Some(reason) => LoanEvent::RefundFailed {
                        refund_id,
                        reason,
                        failed_at: at,
                    },
                };
                sink.write(settled, self).await;
            }
            LoanCommand::ApplyPayment {
                channel,
                external_id,
                amount,
                paid_at,
                paid_on,
            } => {
                if self.has_payment(channel, &external_id) {
                    return Ok(());
                }
                self.takes_payment_on(paid_on)?;
                let order = self
                    .terms
                    .as_ref()
                    .map(|t| t.rules.allocation)
                    .ok_or(E::NotOffered)?;
                let (allocation, correction, closed_on) =
                    match self.accrued_through().filter(|through| paid_on < *through) {
                        // Reported after later days were charged, on a debt it would have lowered:
                        // the ledger is replayed with the payment on its own day.
                        Some(charged_through) => {
                            let mut payments = self.history.clone();
                            payments.push((channel, external_id.clone(), paid_on, amount));
                            let replay = self.replay(&payments, charged_through);
                            let course = replay.course.ok_or(E::NotOffered)?;
                            let allocation = replay
                                .allocations
                                .iter()
                                .find(|(c, e, _)| *c == channel && *e == external_id)
                                .map(|(_, _, a)| *a)
                                .unwrap_or_default();
                            let closed_on = replay.closed_on.unwrap_or(paid_on);
                            let corrected = LoanEvent::LedgerCorrected {
                                debt: course.debt,
                                charged: course.charged,
                                held: replay.held,
                                overdue: course.overdue,
                                allocations: replay.allocations,
                                corrected_at: paid_at,
                            };
                            (allocation, Some(corrected), closed_on)
                        }
                        None => {
                            // Interest is owed for every day the money was used, the day of payment
                            // too.
                            if self.status == LoanStatus::Active {
                                for event in self.accruals(paid_on) {
                                    sink.write(event, self).await;
                                }
                            }
                            (allocate(&self.debt(), amount, order), None, paid_on)
                        }
                    };
                let received = LoanEvent::PaymentReceived {
                    channel,
                    external_id,
                    amount,
                    paid_at,
                    paid_on,
                    allocation,
                };
                sink.write(received, self).await;
                if let Some(corrected) = correction {
                    sink.write(corrected, self).await;
                }
                if self.status == LoanStatus::Active && self.debt().total() == Kopecks::ZERO {
                    sink.write(LoanEvent::LoanRepaid { closed_on }, self).await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        // The money first: the course follows every event that moves it.
        if let Some(course) = self.course.as_mut() {
            course.apply(&event);
        }
        match event {
            LoanEvent::LoanOffered {
                terms,
                interest_for_term,
                total_to_repay,
                psk_percent,
                ..
            } => {
                self.cost = Some(OfferedCost {
                    interest_for_term,
                    total_to_repay,
                    psk_percent,
                });
                self.status = LoanStatus::Offered;
                self.course = Some(Course::offered(&terms));
                self.terms = Some(terms);
            }
            LoanEvent::OfferRefused { terms, reason, .. } => {
                self.status = LoanStatus::Refused;
                self.terms = Some(terms);
                self.refusal = Some(reason);
            }
            LoanEvent::ContractSigned {
                signed_at,
                contract_date,
                rules,
            } => {
                self.status = LoanStatus::Signed;
                self.signed_at = Some(signed_at);
                if let Some(terms) = self.terms.as_mut() {
                    terms.contract_date = contract_date.unwrap_or(terms.contract_date);
                    terms.rules = rules.unwrap_or_else(|| terms.rules.clone());
                }
            }
            LoanEvent::SigningRefused { reason, .. } => {
                self.status = LoanStatus::Expired;
                self.refusal = Some(reason);
            }
            LoanEvent::OfferExpired { .. } => self.status = LoanStatus::Expired,
            LoanEvent::PayoutRequested { payout_id, .. } => {
                self.status = LoanStatus::PayoutRequested;
                self.payout_id = Some(payout_id);
            }
            LoanEvent::LoanIssued { .. } => self.status = LoanStatus::Active,
            LoanEvent::PayoutFailed { .. } => self.status = LoanStatus::PayoutFailed,
            LoanEvent::InterestAccrued { .. } | LoanEvent::LoanFellOverdue { .. } => {}
            LoanEvent::PaymentReceived {
                channel,
                external_id,
                allocation,
                amount,
                paid_on,
                ..
            } => {
                self.held += allocation.held;
                self.payments.insert((channel, external_id.clone()));
                self.history.push((channel, external_id, paid_on, amount));
            }
            LoanEvent::LedgerCorrected { held, .. } => {
                // Money refunded or under way stays out of what is held.
                let out = self.refunded + self.refund.map_or(Kopecks::ZERO, |(_, a)| a);
                self.held = held.saturating_sub(out);
            }
            LoanEvent::OverdueReminderSent { sent_at, .. } => self.reminders.push(sent_at),
            LoanEvent::TimeZoneChanged { time_zone, .. } => {
                if let Some(terms) = self.terms.as_mut() {
                    terms.time_zone = time_zone;
                }
            }
            LoanEvent::RefundRequested {
                refund_id, amount, ..
            } => {
                self.held = self.held.saturating_sub(amount);
                self.refund = Some((refund_id, amount));
            }
            LoanEvent::OverpaymentRefunded { .. } => {
                if let Some((_, amount)) = self.refund.take() {
                    self.refunded += amount;
                }
            }
            LoanEvent::RefundFailed { .. } => {
                if let Some((_, amount)) = self.refund.take() {
                    self.held += amount;
                }
            }
            LoanEvent::LoanRepaid { .. } => self.status = LoanStatus::Closed,
        }
    }
}
