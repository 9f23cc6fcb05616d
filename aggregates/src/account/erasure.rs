//! A customer's request to have their personal data erased, decided on their account (issue #16).
//!
//! A deletion request withdraws the consent to processing: the data is destroyed within 30 days
//! of it (152-FZ art. 21 part 5). What may stop it is what the account knows of the customer's
//! loans: an application being decided or a loan in force needs their data, and once the last
//! loan has ended the anti-money-laundering law keeps the records for five years after the
//! relationship ended (115-FZ art. 7 part 4). A refusal is recorded with its reason and, where
//! known, the first day erasure is possible; a loan's close decides again at once.

use chrono::{DateTime, Days, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::calendar::moscow_date;

/// The legal periods of an erasure (configuration: `K911_ERASURE_DEADLINE_DAYS`,
/// `K911_AML_RETENTION_YEARS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRules {
    /// Days from the request to its legal deadline (152-FZ art. 21 part 5: 30).
    pub deadline_days: u32,
    /// Years the records are kept after the last loan ended (115-FZ art. 7 part 4: 5).
    pub retention_years: u32,
}

impl Default for ErasureRules {
    fn default() -> Self {
        Self {
            deadline_days: 30,
            retention_years: 5,
        }
    }
}

impl ErasureRules {
    /// The last day (Moscow) a request made at `at` may be carried out on.
    pub fn deadline(&self, at: DateTime<Utc>) -> NaiveDate {
        moscow_date(at) + Days::new(u64::from(self.deadline_days))
    }
}

/// What the account cannot see of itself but an erasure must wait for, as the caller found it
/// on the write side: the latest application back in the underwriters' queue (its approval was
/// given back), and reports still owed to the credit bureau.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureFacts {
    pub application_waiting: bool,
    pub reports_pending: bool,
}

/// What stops an erasure for now.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErasureBlock {
    /// An application is being decided: its decision comes first.
    ApplicationPending,
    /// A loan is in force: its records serve it until it is repaid.
    LoanInForce,
    /// The anti-money-laundering retention period after the last loan ended.
    RetentionPeriod,
    /// Reports about the customer are still owed to the credit bureau (218-FZ): sent first.
    ReportsPending,
}

impl ErasureBlock {
    /// How the customer is told why, in their language.
    pub fn explained(&self) -> &'static str {
        match self {
            Self::ApplicationPending => "ваша заявка на заём ещё рассматривается",
            Self::LoanInForce => "у вас есть непогашенный заём",
            Self::RetentionPeriod => {
                "закон о противодействии легализации доходов (115-ФЗ) требует хранить сведения \
                 после окончания отношений"
            }
            Self::ReportsPending => "сведения ещё не переданы в бюро кредитных историй",
        }
    }
}

/// Why an erasure cannot happen yet, and from when it can, where that is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRefusal {
    pub reason: ErasureBlock,
    /// The first day (Moscow) erasure is possible; `None` while it waits for an event (a
    /// decision, a repayment).
    pub possible_from: Option<NaiveDate>,
}

/// A deletion request as the account holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureCase {
    /// The support ticket it came with (`None`: received otherwise, carried out by compliance).
    pub ticket_id: Option<Uuid>,
    pub requested_at: DateTime<Utc>,
    pub deadline: NaiveDate,
    /// The latest refusal, while not erased.
    pub refused: Option<ErasureRefusal>,
    /// The retention the latest refusal was decided under: a loan's close decides again with it.
    pub retention_years: u32,
    pub erased_at: Option<DateTime<Utc>>,
}

/// The first day erasure is possible after the last loan was repaid on `last_repaid_on`: a
/// period of years from a day runs through the same date of its last year (Civil Code arts. 191
/// and 192), so the day after that.
pub fn erasable_from(last_repaid_on: NaiveDate, retention_years: u32) -> NaiveDate {
    last_repaid_on
        .checked_add_months(Months::new(retention_years.saturating_mul(12)))
        .and_then(|last_day| last_day.succ_opt())
        .unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;
    use rust_decimal::Decimal;

    use super::*;
    use crate::account::{Account, AccountCommand, AccountError, AccountEvent};
    use crate::money::Kopecks;
    use crate::values::CredentialId;
    use crate::Sealed;

    const APPLICATION: Uuid = Uuid::from_u128(7);
    const RULES: ErasureRules = ErasureRules {
        deadline_days: 30,
        retention_years: 5,
    };

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A customer whose first application was approved: the cabinet is open.
    fn customer() -> Vec<AccountEvent> {
        vec![
            AccountEvent::CustomerRegistered {
                application_id: APPLICATION,
                phone: Sealed::new(Uuid::from_u128(9), "n".into(), "c".into()),
                email: None,
                registered_at: at(2026, 11, 27),
            },
            AccountEvent::CustomerAccountOpened {
                application_id: APPLICATION,
                password: Some(CredentialId(Uuid::from_u128(1))),
                opened_at: at(2026, 11, 27),
            },
        ]
    }

    fn with_loan(mut events: Vec<AccountEvent>) -> Vec<AccountEvent> {
        events.push(AccountEvent::CreditCommitted {
            application_id: APPLICATION,
            psk_percent: Decimal::new(29200, 2),
            monthly_payment: Kopecks::new(1_800_000).unwrap(),
            committed_at: at(2026, 11, 27),
        });
        events
    }

    fn repaid(mut events: Vec<AccountEvent>, on: NaiveDate) -> Vec<AccountEvent> {
        events.push(AccountEvent::CreditRepaid {
            application_id: APPLICATION,
            repaid_on: on,
        });
        events
    }

    fn requested(at: DateTime<Utc>) -> AccountEvent {
        AccountEvent::ErasureRequested {
            ticket_id: None,
            deadline: RULES.deadline(at),
            requested_at: at,
        }
    }

    fn erase(at: DateTime<Utc>) -> AccountCommand {
        AccountCommand::Erase {
            rules: RULES,
            facts: ErasureFacts::default(),
            at,
        }
    }

    #[test]
    fn a_customer_who_never_borrowed_is_erased_at_once() {
        let now = at(2026, 12, 7);
        TestFramework::<Account>::with(())
            .given(customer())
            .when(erase(now))
            .then_expect_events(vec![
                requested(now),
                AccountEvent::CustomerErased { erased_at: now },
            ]);
    }

    #[test]
    fn the_deadline_is_thirty_moscow_days_after_the_request() {
        // 23:30 UTC on 6 December is already 7 December in Moscow.
        let late = Utc.with_ymd_and_hms(2026, 12, 6, 23, 30, 0).unwrap();
        assert_eq!(RULES.deadline(late), day(2027, 1, 6));
    }

    #[test]
    fn a_loan_in_force_stops_the_erasure_without_a_date() {
        let now = at(2026, 12, 7);
        TestFramework::<Account>::with(())
            .given(with_loan(customer()))
            .when(erase(now))
            .then_expect_events(vec![
                requested(now),
                AccountEvent::ErasureRefused {
                    reason: ErasureBlock::LoanInForce,
                    possible_from: None,
                    retention_years: 5,
                    refused_at: now,
                },
            ]);
    }

    /// A customer with a loan in force who asked for erasure at `first` and was refused.
    fn refused_during_the_loan(first: DateTime<Utc>) -> Vec<AccountEvent> {
        let mut given = with_loan(customer());
        given.push(requested(first));
        given.push(AccountEvent::ErasureRefused {
            reason: ErasureBlock::LoanInForce,
            possible_from: None,
            retention_years: 5,
            refused_at: first,
        });
        given
    }

    #[test]
    fn asking_again_with_nothing_changed_records_nothing() {
        let first = at(2026, 12, 7);
        let given = refused_during_the_loan(first);
        TestFramework::<Account>::with(())
            .given(given)
            .when(erase(at(2026, 12, 8)))
            .then_expect_events(vec![]);
    }

    #[test]
    fn the_loans_close_decides_again_the_retention_period_from_its_repayment() {
        let first = at(2026, 12, 7);
        let given = refused_during_the_loan(first);
        let closed = at(2026, 12, 10);
        TestFramework::<Account>::with(())
            .given(given)
            .when(AccountCommand::EndCredit {
                application_id: APPLICATION,
                repaid_on: Some(day(2026, 12, 10)),
                at: closed,
            })
            .then_expect_events(vec![
                AccountEvent::CreditRepaid {
                    application_id: APPLICATION,
                    repaid_on: day(2026, 12, 10),
                },
                AccountEvent::ErasureRefused {
                    reason: ErasureBlock::RetentionPeriod,
                    possible_from: Some(day(2031, 12, 11)),
                    retention_years: 5,
                    refused_at: closed,
                },
            ]);
    }

    #[test]
    fn a_close_that_leaves_nothing_in_the_way_leaves_the_erasure_to_the_scheduler() {
        // Released unissued: nothing is retained, but reports may still be owed, which only
        // the scheduler's erase (with the facts) knows.
        let first = at(2026, 12, 7);
        let given = refused_during_the_loan(first);
        TestFramework::<Account>::with(())
            .given(given)
            .when(AccountCommand::EndCredit {
                application_id: APPLICATION,
                repaid_on: None,
                at: at(2026, 12, 8),
            })
            .then_expect_events(vec![AccountEvent::CreditReleased {
                application_id: APPLICATION,
                released_at: at(2026, 12, 8),
            }]);
    }

    #[test]
    fn erasure_is_possible_the_day_after_the_retention_period_ends() {
        let given = || repaid(with_loan(customer()), day(2026, 12, 10));
        let last_day = at(2031, 12, 10);
        TestFramework::<Account>::with(())
            .given(given())
            .when(erase(last_day))
            .then_expect_events(vec![
                requested(last_day),
                AccountEvent::ErasureRefused {
                    reason: ErasureBlock::RetentionPeriod,
                    possible_from: Some(day(2031, 12, 11)),
                    retention_years: 5,
                    refused_at: last_day,
                },
            ]);
        let day_after = at(2031, 12, 11);
        TestFramework::<Account>::with(())
            .given(given())
            .when(erase(day_after))
            .then_expect_events(vec![
                requested(day_after),
                AccountEvent::CustomerErased {
                    erased_at: day_after,
                },
            ]);
    }

    #[test]
    fn an_application_back_in_the_queue_or_reports_owed_stop_the_erasure() {
        let now = at(2026, 12, 7);
        for (facts, reason) in [
            (
                ErasureFacts {
                    application_waiting: true,
                    reports_pending: true,
                },
                ErasureBlock::ApplicationPending,
            ),
            (
                ErasureFacts {
                    application_waiting: false,
                    reports_pending: true,
                },
                ErasureBlock::ReportsPending,
            ),
        ] {
            TestFramework::<Account>::with(())
                .given(customer())
                .when(AccountCommand::Erase {
                    rules: RULES,
                    facts,
                    at: now,
                })
                .then_expect_events(vec![
                    requested(now),
                    AccountEvent::ErasureRefused {
                        reason,
                        possible_from: None,
                        retention_years: 5,
                        refused_at: now,
                    },
                ]);
        }
    }

    #[test]
    fn an_application_being_decided_stops_the_erasure() {
        let mut given = customer();
        given.push(AccountEvent::ApplicationStarted {
            application_id: Uuid::from_u128(8),
            credit_history_consent: None,
            started_at: at(2026, 12, 6),
        });
        let now = at(2026, 12, 7);
        TestFramework::<Account>::with(())
            .given(given)
            .when(erase(now))
            .then_expect_events(vec![
                requested(now),
                AccountEvent::ErasureRefused {
                    reason: ErasureBlock::ApplicationPending,
                    possible_from: None,
                    retention_years: 5,
                    refused_at: now,
                },
            ]);
    }

    #[test]
    fn an_erased_customer_neither_logs_in_again_nor_is_erased_twice() {
        let now = at(2026, 12, 7);
        let mut given = customer();
        given.push(requested(now));
        given.push(AccountEvent::CustomerErased { erased_at: now });
        TestFramework::<Account>::with(())
            .given(given.clone())
            .when(erase(at(2026, 12, 8)))
            .then_expect_events(vec![]);
        TestFramework::<Account>::with(())
            .given(given)
            .when(AccountCommand::ChangePassword {
                password: CredentialId(Uuid::from_u128(2)),
                at: at(2026, 12, 8),
            })
            .then_expect_error(AccountError::Erased);
    }

    #[test]
    fn a_second_request_while_one_stands_keeps_the_first_deadline() {
        let first = at(2026, 12, 7);
        let mut given = customer();
        given.push(requested(first));
        TestFramework::<Account>::with(())
            .given(given)
            .when(AccountCommand::RequestErasure {
                ticket_id: Some(Uuid::from_u128(5)),
                rules: RULES,
                at: at(2026, 12, 20),
            })
            .then_expect_events(vec![]);
    }
}
