//! The customer's consent to request their credit history (218-FZ art. 6 part 9), as the account
//! holds it: given with the first application (and again with a later one, if the customer
//! chose to), withdrawn in the cabinet. A credit bureau is asked only while a consent is live:
//! for six months from the day it was given, and not after its withdrawal. The law keeps a
//! consent in force for the term of a loan concluded within those months; for a new application
//! that is not relied on here (a consent asked again is the safe side).

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::moscow_date;

/// How long a consent to request the credit history is live (218-FZ art. 6 part 9).
pub const CREDIT_HISTORY_CONSENT_MONTHS: u32 = 6;

/// The consent in force, or the last one given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditHistoryConsent {
    pub given_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl CreditHistoryConsent {
    /// The first day (Moscow) it is no longer live by its age.
    pub fn lapses_on(&self) -> NaiveDate {
        moscow_date(self.given_at)
            .checked_add_months(Months::new(CREDIT_HISTORY_CONSENT_MONTHS))
            .unwrap_or(NaiveDate::MAX)
    }

    /// Why it cannot serve a request at `at`, if it cannot.
    pub fn refusal_at(&self, at: DateTime<Utc>) -> Option<NoLiveConsent> {
        if self.withdrawn_at.is_some() {
            Some(NoLiveConsent::Withdrawn)
        } else if moscow_date(at) >= self.lapses_on() {
            Some(NoLiveConsent::Expired)
        } else {
            None
        }
    }
}

/// Why a credit bureau may not be asked.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum NoLiveConsent {
    /// No consent was ever given.
    Missing,
    /// Given more than six months ago.
    Expired,
    /// The customer withdrew it.
    Withdrawn,
}

impl NoLiveConsent {
    /// What the underwriter is told.
    pub fn explained(&self) -> &'static str {
        match self {
            Self::Missing => "the customer never consented to a credit history request",
            Self::Expired => {
                "the customer's consent to a credit history request is more than six months old \
                 (218-FZ art. 6 part 9): they must consent again with a new application"
            }
            Self::Withdrawn => {
                "the customer withdrew their consent to a credit history request: they must \
                 consent again with a new application"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;
    use uuid::Uuid;

    use super::*;
    use crate::account::{Account, AccountCommand, AccountError, AccountEvent};
    use crate::loan_application::consents::TextVersion;
    use crate::Sealed;

    const APPLICATION: Uuid = Uuid::from_u128(7);
    const REPEAT: Uuid = Uuid::from_u128(8);

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).unwrap()
    }

    fn registered() -> AccountEvent {
        AccountEvent::CustomerRegistered {
            application_id: APPLICATION,
            phone: Sealed::new(Uuid::from_u128(9), "n".into(), "c".into()),
            email: None,
            registered_at: at(2026, 6, 1),
        }
    }

    fn request(at: DateTime<Utc>) -> AccountCommand {
        AccountCommand::RequestCreditHistory {
            application_id: REPEAT,
            at,
        }
    }

    fn refused(reason: NoLiveConsent, at: DateTime<Utc>) -> AccountEvent {
        AccountEvent::CreditHistoryRequestRefused {
            application_id: REPEAT,
            reason,
            refused_at: at,
        }
    }

    #[test]
    fn the_first_applications_consent_serves_a_request_for_six_months() {
        let last_day = at(2026, 11, 30);
        TestFramework::<Account>::with(())
            .given(vec![registered()])
            .when(request(last_day))
            .then_expect_events(vec![AccountEvent::CreditHistoryRequested {
                application_id: REPEAT,
                consent_given_at: at(2026, 6, 1),
                requested_at: last_day,
            }]);
        let lapsed = at(2026, 12, 1);
        TestFramework::<Account>::with(())
            .given(vec![registered()])
            .when(request(lapsed))
            .then_expect_events(vec![refused(NoLiveConsent::Expired, lapsed)]);
    }

    #[test]
    fn a_withdrawn_consent_serves_no_request_until_given_anew() {
        let withdrawn = AccountEvent::CreditHistoryConsentWithdrawn {
            withdrawn_at: at(2026, 7, 1),
        };
        let now = at(2026, 7, 2);
        TestFramework::<Account>::with(())
            .given(vec![registered(), withdrawn.clone()])
            .when(request(now))
            .then_expect_events(vec![refused(NoLiveConsent::Withdrawn, now)]);
        let anew = AccountEvent::ApplicationStarted {
            application_id: REPEAT,
            credit_history_consent: Some(TextVersion {
                document_id: Uuid::from_u128(3),
                sha256: "ab".into(),
            }),
            started_at: at(2026, 7, 3),
        };
        TestFramework::<Account>::with(())
            .given(vec![registered(), withdrawn, anew])
            .when(request(at(2026, 7, 4)))
            .then_expect_events(vec![AccountEvent::CreditHistoryRequested {
                application_id: REPEAT,
                consent_given_at: at(2026, 7, 3),
                requested_at: at(2026, 7, 4),
            }]);
    }

    #[test]
    fn a_consent_is_withdrawn_once() {
        let withdrawn = AccountEvent::CreditHistoryConsentWithdrawn {
            withdrawn_at: at(2026, 7, 1),
        };
        TestFramework::<Account>::with(())
            .given(vec![registered()])
            .when(AccountCommand::WithdrawCreditHistoryConsent { at: at(2026, 7, 1) })
            .then_expect_events(vec![withdrawn.clone()]);
        TestFramework::<Account>::with(())
            .given(vec![registered(), withdrawn])
            .when(AccountCommand::WithdrawCreditHistoryConsent { at: at(2026, 7, 2) })
            .then_expect_error(AccountError::NoConsent);
    }

    #[test]
    fn a_repeat_application_without_a_new_consent_keeps_the_old_one() {
        let repeat = AccountEvent::ApplicationStarted {
            application_id: REPEAT,
            credit_history_consent: None,
            started_at: at(2026, 9, 1),
        };
        let last_day = at(2026, 11, 30);
        TestFramework::<Account>::with(())
            .given(vec![registered(), repeat])
            .when(request(last_day))
            .then_expect_events(vec![AccountEvent::CreditHistoryRequested {
                application_id: REPEAT,
                consent_given_at: at(2026, 6, 1),
                requested_at: last_day,
            }]);
    }
}
