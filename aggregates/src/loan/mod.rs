//! A loan, from the offer an approval makes to the last kopeck repaid: the contract's money rules
//! (353-FZ limits, the full cost of credit, the debt and how a payment is applied) and the Loan
//! aggregate that keeps them.

mod commands;
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
use law::LawEditions;
use ledger::{allocate, charges_for_day, DayCharges, Debt};

/// Closes one day of a loan in its running figures: on the first day past `due_on` what is owed
/// falls due, then the day's interest and penalty are charged. Returns the day's charges.
fn charge_day(
    terms: &OfferTerms,
    due_on: NaiveDate,
    day: NaiveDate,
    debt: &mut Debt,
    charged: &mut Kopecks,
    overdue: &mut bool,
) -> DayCharges {
    if day > due_on && !*overdue {
        *debt = debt.fall_due();
        *overdue = true;
    }
    let charges = charges_for_day(
        terms.principal,
        debt,
        *charged,
        terms.daily_rate,
        *overdue,
        &terms.rules,
    );
    *charged += charges.interest + charges.penalty;
    *debt = debt.charge(charges, *overdue);
    charges
}

/// A loan's ledger replayed from issue (see [`Loan::replay`]).
#[derive(Debug, Default)]
struct Replay {
    debt: Debt,
    charged: Kopecks,
    held: Kopecks,
    overdue: bool,
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
    issued_on: Option<NaiveDate>,
    due_on: Option<NaiveDate>,
    /// The last day charged.
    accrued_through: Option<NaiveDate>,
    overdue: bool,
    debt: Debt,
    /// Interest and penalties charged so far (what the total cost cap counts).
    charged: Kopecks,
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

    pub fn debt(&self) -> &Debt {
        &self.debt
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
        self.due_on
    }

    /// Whether the loan can take a payment made on `paid_on`: issued, and not before its issue.
    pub fn takes_payment_on(&self, paid_on: NaiveDate) -> Result<(), LoanError> {
        if !matches!(self.status, LoanStatus::Active | LoanStatus::Closed) {
            return Err(LoanError::NotIssued);
        }
        match self.issued_on {
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
        let (Some(terms), Some(issued_on), Some(due_on)) =
            (&self.terms, self.issued_on, self.due_on)
        else {
            return Replay::default();
        };
        let mut sorted: Vec<&(PaymentChannel, String, NaiveDate, Kopecks)> =
            payments.iter().collect();
        sorted.sort_by_key(|(_, _, day, _)| *day);
        let mut replay = Replay {
            debt: Debt::issued(terms.principal),
            ..Replay::default()
        };
        let mut next = sorted.iter().peekable();
        let mut day = issued_on;
        while day <= through || next.peek().is_some() {
            if day > issued_on {
                charge_day(
                    terms,
                    due_on,
                    day,
                    &mut replay.debt,
                    &mut replay.charged,
                    &mut replay.overdue,
                );
            }
            while let Some((channel, external_id, _, amount)) =
                next.next_if(|(_, _, paid_on, _)| *paid_on <= day)
            {
                let allocation = allocate(&replay.debt, *amount, terms.rules.allocation);
                replay.debt = replay.debt.less(&allocation.applied);
                replay.held += allocation.held;
                if replay.debt.total() == Kopecks::ZERO && replay.closed_on.is_none() {
                    replay.closed_on = Some(day);
                }
                replay
                    .allocations
                    .push((*channel, external_id.clone(), allocation));
            }
            day = day + Days::new(1);
        }
        replay
    }

    /// The charges for every day after the last one charged up to `through`: one event per run
    /// of term days and of overdue days, and the turn to overdue between them.
    fn accruals(&self, through: NaiveDate) -> Vec<LoanEvent> {
        let (Some(terms), Some(issued_on), Some(due_on)) =
            (&self.terms, self.issued_on, self.due_on)
        else {
            return vec![];
        };
        let mut events = vec![];
        let mut debt = self.debt;
        let mut charged = self.charged;
        let mut overdue = self.overdue;
        // Interest runs from the day after issue.
        let mut day = self.accrued_through.unwrap_or(issued_on) + Days::new(1);
        let mut run: Option<(NaiveDate, NaiveDate, DayCharges)> = None;
        let flush = |run: &mut Option<(NaiveDate, NaiveDate, DayCharges)>,
                     events: &mut Vec<LoanEvent>,
                     overdue: bool| {
            if let Some((from, through, charges)) = run.take() {
                if charges != DayCharges::default() {
                    events.push(LoanEvent::InterestAccrued {
                        from,
                        through,
                        interest: charges.interest,
                        penalty: charges.penalty,
                        overdue,
                    });
                }
            }
        };
        while day <= through {
            let was_overdue = overdue;
            let charges = charge_day(terms, due_on, day, &mut debt, &mut charged, &mut overdue);
            if overdue && !was_overdue {
                // The term's charges are a run of their own, before the turn.
                flush(&mut run, &mut events, was_overdue);
                events.push(LoanEvent::LoanFellOverdue { on: day });
            }
            run = Some(match run {
                Some((from, _, sum)) => (
                    from,
                    day,
                    DayCharges {
                        interest: sum.interest + charges.interest,
                        penalty: sum.penalty + charges.penalty,
                    },
                ),
                None => (day, day, charges),
            });
            day = day + Days::new(1);
        }
        flush(&mut run, &mut events, overdue);
        events
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
                let (Some(due_on), true) = (self.due_on, self.overdue) else {
                    return Ok(());
                };
                let owed = self.debt.total();
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
                    match self.accrued_through.filter(|through| paid_on < *through) {
                        // Reported after later days were charged, on a debt it would have lowered:
                        // the ledger is replayed with the payment on its own day.
                        Some(charged_through) => {
                            let mut payments = self.history.clone();
                            payments.push((channel, external_id.clone(), paid_on, amount));
                            let replay = self.replay(&payments, charged_through);
                            let allocation = replay
                                .allocations
                                .iter()
                                .find(|(c, e, _)| *c == channel && *e == external_id)
                                .map(|(_, _, a)| *a)
                                .unwrap_or_default();
                            let closed_on = replay.closed_on.unwrap_or(paid_on);
                            let corrected = LoanEvent::LedgerCorrected {
                                debt: replay.debt,
                                charged: replay.charged,
                                held: replay.held,
                                overdue: replay.overdue,
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
                            (allocate(&self.debt, amount, order), None, paid_on)
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
                if self.status == LoanStatus::Active && self.debt.total() == Kopecks::ZERO {
                    sink.write(LoanEvent::LoanRepaid { closed_on }, self).await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
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
                self.debt = Debt::issued(terms.principal);
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
            LoanEvent::LoanIssued {
                issued_on, due_on, ..
            } => {
                self.status = LoanStatus::Active;
                self.issued_on = Some(issued_on);
                self.due_on = Some(due_on);
            }
            LoanEvent::PayoutFailed { .. } => self.status = LoanStatus::PayoutFailed,
            LoanEvent::InterestAccrued {
                through,
                interest,
                penalty,
                overdue,
                ..
            } => {
                self.debt = self.debt.charge(DayCharges { interest, penalty }, overdue);
                self.charged += interest + penalty;
                self.accrued_through = Some(through);
            }
            LoanEvent::LoanFellOverdue { on } => {
                self.debt = self.debt.fall_due();
                self.overdue = true;
                // The day it fell overdue may have charged nothing (the cap): it still counts.
                self.accrued_through = self.accrued_through.max(on.pred_opt());
            }
            LoanEvent::PaymentReceived {
                channel,
                external_id,
                allocation,
                amount,
                paid_on,
                ..
            } => {
                self.debt = self.debt.less(&allocation.applied);
                self.held += allocation.held;
                self.payments.insert((channel, external_id.clone()));
                self.history.push((channel, external_id, paid_on, amount));
            }
            LoanEvent::LedgerCorrected {
                debt,
                charged,
                held,
                overdue,
                ..
            } => {
                self.debt = debt;
                self.charged = charged;
                // Money refunded or under way stays out of what is held.
                let out = self.refunded + self.refund.map_or(Kopecks::ZERO, |(_, a)| a);
                self.held = held.saturating_sub(out);
                self.overdue = overdue;
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
