//! The course of a loan's debt: what its daily charges follow from (the contract's principal and
//! rate, the law's edition, the due date) and where they stand as of the last day recorded.
//!
//! The Loan aggregate keeps one and so does the loans read model (`read.loans.course`), both fed
//! the same events through [`Course::apply`]. Charges are recorded only where their course
//! changes (a payment, the fall overdue); the figures for any later day are derived by
//! [`Course::on`] with the same rules the aggregate records them by — one implementation.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::events::LoanEvent;
use super::law::LawRules;
use super::ledger::{charges_for_day, DayCharges, Debt};
use super::OfferTerms;
use crate::money::{DailyRate, Kopecks};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Course {
    pub principal: Kopecks,
    pub daily_rate: DailyRate,
    /// The edition of 353-FZ the contract follows.
    pub rules: LawRules,
    pub issued_on: Option<NaiveDate>,
    pub due_on: Option<NaiveDate>,
    /// The last day charged: the figures below are as of its end.
    pub accrued_through: Option<NaiveDate>,
    pub debt: Debt,
    /// Interest and penalties charged so far (what the total cost cap counts).
    pub charged: Kopecks,
    pub overdue: bool,
}

impl Course {
    /// An offered loan: nothing owed until it is issued.
    pub fn offered(terms: &OfferTerms) -> Self {
        Self {
            principal: terms.principal,
            daily_rate: terms.daily_rate,
            rules: terms.rules.clone(),
            issued_on: None,
            due_on: None,
            accrued_through: None,
            debt: Debt::issued(terms.principal),
            charged: Kopecks::ZERO,
            overdue: false,
        }
    }

    /// The same course back at its issue: nothing charged, nothing paid.
    pub(super) fn at_issue(&self) -> Self {
        Self {
            accrued_through: None,
            debt: Debt::issued(self.principal),
            charged: Kopecks::ZERO,
            overdue: false,
            ..self.clone()
        }
    }

    /// Follows a recorded event of the loan (the offer itself makes the course: [`Self::offered`]).
    pub fn apply(&mut self, event: &LoanEvent) {
        match event {
            LoanEvent::ContractSigned {
                rules: Some(rules), ..
            } => self.rules = rules.clone(),
            LoanEvent::LoanIssued {
                issued_on, due_on, ..
            } => {
                self.issued_on = Some(*issued_on);
                self.due_on = Some(*due_on);
            }
            LoanEvent::InterestAccrued {
                through,
                interest,
                penalty,
                overdue,
                ..
            } => {
                let charges = DayCharges {
                    interest: *interest,
                    penalty: *penalty,
                };
                self.debt = self.debt.charge(charges, *overdue);
                self.charged += *interest + *penalty;
                self.accrued_through = Some(*through);
            }
            LoanEvent::LoanFellOverdue { on } => {
                self.debt = self.debt.fall_due();
                self.overdue = true;
                // The day it fell overdue may have charged nothing (the cap): it still counts.
                self.accrued_through = self.accrued_through.max(on.pred_opt());
            }
            LoanEvent::PaymentReceived { allocation, .. } => {
                self.debt = self.debt.less(&allocation.applied);
            }
            LoanEvent::LedgerCorrected {
                debt,
                charged,
                overdue,
                ..
            } => {
                self.debt = *debt;
                self.charged = *charged;
                self.overdue = *overdue;
            }
            _ => {}
        }
    }

    /// Closes one day in the running figures: on the first day past the due date what is owed
    /// falls due, then the day's interest and penalty are charged. Returns the day's charges.
    pub(super) fn charge_day(&mut self, day: NaiveDate) -> DayCharges {
        if self.due_on.is_some_and(|due_on| day > due_on) && !self.overdue {
            self.debt = self.debt.fall_due();
            self.overdue = true;
        }
        let charges = charges_for_day(
            self.principal,
            &self.debt,
            self.charged,
            self.daily_rate,
            self.overdue,
            &self.rules,
        );
        self.charged += charges.interest + charges.penalty;
        self.debt = self.debt.charge(charges, self.overdue);
        charges
    }

    /// The charges for every day after the last one charged up to `through`: one event per run
    /// of term days and of overdue days, and the turn to overdue between them. None before the
    /// loan is issued or once nothing is owed.
    pub(super) fn accruals(&self, through: NaiveDate) -> Vec<LoanEvent> {
        let Some(issued_on) = self.issued_on else {
            return vec![];
        };
        if self.debt.total() == Kopecks::ZERO {
            return vec![];
        }
        let mut course = self.clone();
        let mut events = vec![];
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
            let was_overdue = course.overdue;
            let charges = course.charge_day(day);
            if course.overdue && !was_overdue {
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
        flush(&mut run, &mut events, course.overdue);
        events
    }

    /// Where the course stands at the end of `day` (Europe/Moscow): the recorded figures with
    /// every day since charged by the same rules. A day already charged changes nothing.
    pub fn on(&self, day: NaiveDate) -> Self {
        let mut course = self.clone();
        for event in self.accruals(day) {
            course.apply(&event);
        }
        course
    }

    /// Whether the loan falls overdue by the end of `day` without that being recorded yet: the
    /// one turn of its charges a daily close must record.
    pub fn falls_overdue_by(&self, day: NaiveDate) -> bool {
        !self.overdue
            && self.debt.total() > Kopecks::ZERO
            && self.due_on.is_some_and(|due_on| due_on < day)
    }
}
