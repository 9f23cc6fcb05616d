//! What a lender reports to a credit bureau (218-FZ "On credit histories", art. 4 and 5): the
//! events of an application and a loan that become part of the borrower's credit history, each
//! with the Bank of Russia's event number (regulation 758-П, appendix 1) and the legal deadline.
//!
//! 218-FZ art. 5 part 5 has the lender report "not later than the end of the second working day
//! following the day of the event" (the wording we rely on; configurable, as the number of
//! working days, with `K911_BUREAU_DEADLINE_WORKING_DAYS`).

use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Kopecks;
use crate::working_days::ProductionCalendar;

/// The reporting rules: how many working days after the event's day, by which calendar (the one
/// the reminders' quiet hours also follow, shared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportingRules {
    pub working_days: u32,
    pub calendar: Arc<ProductionCalendar>,
}

impl Default for ReportingRules {
    fn default() -> Self {
        Self {
            working_days: 2,
            calendar: Arc::default(),
        }
    }
}

impl ReportingRules {
    /// The last day a report of an event on `occurred_on` may reach the bureau.
    pub fn deadline(&self, occurred_on: NaiveDate) -> NaiveDate {
        self.calendar
            .working_days_after(occurred_on, self.working_days)
    }
}

/// An event of the borrower's credit history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CreditEvent {
    /// The application was approved for `amount` (758-П event 1.2).
    ApplicationApproved { amount: Kopecks },
    /// The application was refused (event 1.3).
    ApplicationRejected,
    /// The contract was concluded and the money paid out (events 1.4 and 2.2, reported as 2.2).
    LoanIssued {
        loan_id: Uuid,
        contract_number: String,
        principal: Kopecks,
        psk_percent: Decimal,
        due_on: NaiveDate,
    },
    /// A payment was received (event 2.3: the performance of the obligation changed).
    Payment {
        loan_id: Uuid,
        contract_number: String,
        amount: Kopecks,
    },
    /// The due date passed unpaid (event 2.3, with the arrears).
    Overdue {
        loan_id: Uuid,
        contract_number: String,
    },
    /// Nothing is owed: the obligation ended by its performance (event 2.5).
    Closed {
        loan_id: Uuid,
        contract_number: String,
    },
}

impl CreditEvent {
    /// The Bank of Russia's number of the event (758-П).
    pub fn code(&self) -> &'static str {
        match self {
            Self::ApplicationApproved { .. } => "1.2",
            Self::ApplicationRejected => "1.3",
            Self::LoanIssued { .. } => "2.2",
            Self::Payment { .. } | Self::Overdue { .. } => "2.3",
            Self::Closed { .. } => "2.5",
        }
    }
}

/// One report owed to the bureau: whose, about what, and by when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditReport {
    pub customer_id: Uuid,
    /// The application the history's deal started with (its applicant data is the subject's
    /// title part).
    pub application_id: Uuid,
    pub event: CreditEvent,
    /// The day (Moscow) of the event.
    pub occurred_on: NaiveDate,
    /// The event's position in the log: reports go in the order their events happened.
    pub position: i64,
    pub deadline: NaiveDate,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap()
    }

    #[test]
    fn a_report_is_due_by_the_end_of_the_second_working_day_after_the_event() {
        let rules = ReportingRules::default();
        // Friday 27 November: Monday 30, Tuesday 1 December.
        assert_eq!(rules.deadline(day(11, 27)), day(12, 1));
        // Tuesday 3 November: the 4th is a holiday, so Thursday 5 and Friday 6.
        assert_eq!(rules.deadline(day(11, 3)), day(11, 6));
    }

    #[test]
    fn each_event_carries_its_number_in_the_regulation() {
        let loan_id = Uuid::nil();
        let number = "911-000001-000001".to_string();
        let codes: Vec<&str> = [
            CreditEvent::ApplicationApproved {
                amount: Kopecks::from_roubles(15_000),
            },
            CreditEvent::ApplicationRejected,
            CreditEvent::Payment {
                loan_id,
                contract_number: number.clone(),
                amount: Kopecks::from_roubles(100),
            },
            CreditEvent::Closed {
                loan_id,
                contract_number: number,
            },
        ]
        .iter()
        .map(CreditEvent::code)
        .collect();
        assert_eq!(codes, ["1.2", "1.3", "2.3", "2.5"]);
    }
}
