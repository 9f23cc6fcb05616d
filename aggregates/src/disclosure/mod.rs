//! A lawful disclosure of a person's data (issue #16). Beyond what the law requires of a lender
//! by itself (credit bureaus), personal data leaves k911 only on a request with a lawful basis
//! (152-FZ art. 6 part 1): a court's, in a case it hears, or the regulator's. Compliance registers
//! the request with what it asks, then answers it once with a file of exactly that scope. Both
//! steps are events of one `Disclosure`, on the person's trail; the register is their list.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{MessageText, Title};
use crate::{Sealed, EVENT_VERSION_1};

/// Who asks, and under what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LawfulBasis {
    /// A court's request in a case it hears.
    Court {
        court: Title,
        case_number: Title,
        /// The date the request bears.
        dated: NaiveDate,
    },
    /// The Bank of Russia's request, as the regulator of microfinance organisations.
    Regulator {
        request_number: Title,
        dated: NaiveDate,
    },
}

/// The parts of a person's data a request can ask for; each is the events of one kind of
/// aggregate that concerns them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum DataCategory {
    /// The account: contacts, profile changes, logins linked.
    Profile,
    /// Loan applications: the applicant's data, the decisions.
    Applications,
    /// Loans: offers, contracts, charges, what each payment paid.
    Loans,
    /// Payments received.
    Payments,
    /// Questions to support and their answers.
    Support,
}

impl DataCategory {
    /// The aggregate whose events make up this part.
    pub fn aggregate_type(self) -> &'static str {
        use crate::*;
        match self {
            Self::Profile => account::Account::TYPE,
            Self::Applications => loan_application::LoanApplication::TYPE,
            Self::Loans => loan::Loan::TYPE,
            Self::Payments => incoming_payment::IncomingPayment::TYPE,
            Self::Support => support_ticket::SupportTicket::TYPE,
        }
    }
}

/// Exactly what is disclosed: some parts, over some days (Europe/Moscow, both ends included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureScope {
    pub categories: BTreeSet<DataCategory>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl DisclosureScope {
    /// Whether an event of `aggregate_type` recorded on `day` (Moscow) is within the scope.
    pub fn covers(&self, aggregate_type: &str, day: NaiveDate) -> bool {
        self.categories
            .iter()
            .any(|c| c.aggregate_type() == aggregate_type)
            && self.from.is_none_or(|from| day >= from)
            && self.to.is_none_or(|to| day <= to)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DisclosureCommand {
    Register {
        /// Whose data is asked for.
        subject_id: Uuid,
        basis: LawfulBasis,
        /// What the request asks, in its own words (it may name the person: sealed with their
        /// key).
        asked: Sealed<MessageText>,
        scope: DisclosureScope,
        at: DateTime<Utc>,
    },
    /// The file answering the request was made: its SHA-256 and how many events it holds.
    RecordDisclosed {
        file_sha256: String,
        events: u64,
        at: DateTime<Utc>,
    },
}

#[derive(
    Debug,
    Clone,
    PartialEq,
    Serialize,
    Deserialize,
    strum::VariantNames,
    strum::IntoStaticStr,
    strum::EnumDiscriminants,
)]
/// `DisclosureEventType` names each event type, for followers of the log.
#[strum_discriminants(name(DisclosureEventType), derive(strum::IntoStaticStr))]
pub enum DisclosureEvent {
    DisclosureRequested {
        subject_id: Uuid,
        basis: LawfulBasis,
        asked: Sealed<MessageText>,
        scope: DisclosureScope,
        registered_at: DateTime<Utc>,
    },
    DataDisclosed {
        file_sha256: String,
        events: u64,
        disclosed_at: DateTime<Utc>,
    },
}

impl DomainEvent for DisclosureEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION_1.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisclosureError {
    #[error("this request is already registered")]
    AlreadyRegistered,
    #[error("no such disclosure request")]
    NotFound,
    #[error("this request has been answered already")]
    AlreadyDisclosed,
    #[error("a request must ask for at least one part of the data")]
    EmptyScope,
    #[error("the period ends before it starts")]
    BackwardsPeriod,
}

/// A registered request: whose data, on what basis, and the scope the answer keeps to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisclosureRequest {
    pub subject_id: Uuid,
    pub basis: LawfulBasis,
    pub asked: Sealed<MessageText>,
    pub scope: DisclosureScope,
    pub registered_at: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Disclosure {
    request: Option<DisclosureRequest>,
    disclosed: bool,
}

impl Disclosure {
    /// The request, once registered.
    pub fn request(&self) -> Option<&DisclosureRequest> {
        self.request.as_ref()
    }
}

impl Aggregate for Disclosure {
    const TYPE: &'static str = "Disclosure";
    type Command = DisclosureCommand;
    type Event = DisclosureEvent;
    type Error = DisclosureError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            DisclosureCommand::Register {
                subject_id,
                basis,
                asked,
                scope,
                at,
            } => {
                if self.request.is_some() {
                    return Err(DisclosureError::AlreadyRegistered);
                }
                if scope.categories.is_empty() {
                    return Err(DisclosureError::EmptyScope);
                }
                if let (Some(from), Some(to)) = (scope.from, scope.to) {
                    if to < from {
                        return Err(DisclosureError::BackwardsPeriod);
                    }
                }
                DisclosureEvent::DisclosureRequested {
                    subject_id,
                    basis,
                    asked,
                    scope,
                    registered_at: at,
                }
            }
            DisclosureCommand::RecordDisclosed {
                file_sha256,
                events,
                at,
            } => {
                if self.request.is_none() {
                    return Err(DisclosureError::NotFound);
                }
                if self.disclosed {
                    return Err(DisclosureError::AlreadyDisclosed);
                }
                DisclosureEvent::DataDisclosed {
                    file_sha256,
                    events,
                    disclosed_at: at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            DisclosureEvent::DisclosureRequested {
                subject_id,
                basis,
                asked,
                scope,
                registered_at,
            } => {
                self.request = Some(DisclosureRequest {
                    subject_id,
                    basis,
                    asked,
                    scope,
                    registered_at,
                })
            }
            DisclosureEvent::DataDisclosed { .. } => self.disclosed = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    fn scope() -> DisclosureScope {
        DisclosureScope {
            categories: [DataCategory::Loans, DataCategory::Payments].into(),
            from: Some(day(1)),
            to: Some(day(5)),
        }
    }

    fn court() -> LawfulBasis {
        LawfulBasis::Court {
            court: Title::parse("Тверской районный суд г. Москвы").unwrap(),
            case_number: Title::parse("2-15/2026").unwrap(),
            dated: day(3),
        }
    }

    fn asked() -> Sealed<MessageText> {
        Sealed::new(Uuid::from_u128(7), "nonce".into(), "ciphertext".into())
    }

    fn requested() -> DisclosureEvent {
        DisclosureEvent::DisclosureRequested {
            subject_id: Uuid::from_u128(7),
            basis: court(),
            asked: asked(),
            scope: scope(),
            registered_at: at(),
        }
    }

    fn register(scope: DisclosureScope) -> DisclosureCommand {
        DisclosureCommand::Register {
            subject_id: Uuid::from_u128(7),
            basis: court(),
            asked: asked(),
            scope,
            at: at(),
        }
    }

    fn disclose() -> DisclosureCommand {
        DisclosureCommand::RecordDisclosed {
            file_sha256: "ab".repeat(32),
            events: 12,
            at: at(),
        }
    }

    #[test]
    fn a_court_request_is_registered_then_answered_once() {
        TestFramework::<Disclosure>::with(())
            .given_no_previous_events()
            .when(register(scope()))
            .then_expect_events(vec![requested()]);
        let disclosed = DisclosureEvent::DataDisclosed {
            file_sha256: "ab".repeat(32),
            events: 12,
            disclosed_at: at(),
        };
        TestFramework::<Disclosure>::with(())
            .given(vec![requested()])
            .when(disclose())
            .then_expect_events(vec![disclosed.clone()]);
        TestFramework::<Disclosure>::with(())
            .given(vec![requested(), disclosed])
            .when(disclose())
            .then_expect_error(DisclosureError::AlreadyDisclosed);
    }

    #[test]
    fn nothing_is_disclosed_without_a_registered_request_with_a_scope() {
        TestFramework::<Disclosure>::with(())
            .given_no_previous_events()
            .when(disclose())
            .then_expect_error(DisclosureError::NotFound);
        TestFramework::<Disclosure>::with(())
            .given_no_previous_events()
            .when(register(DisclosureScope {
                categories: BTreeSet::new(),
                from: None,
                to: None,
            }))
            .then_expect_error(DisclosureError::EmptyScope);
        TestFramework::<Disclosure>::with(())
            .given_no_previous_events()
            .when(register(DisclosureScope {
                from: Some(day(5)),
                to: Some(day(1)),
                ..scope()
            }))
            .then_expect_error(DisclosureError::BackwardsPeriod);
    }

    #[test]
    fn the_scope_covers_its_parts_over_its_days_only() {
        let scope = scope();
        assert!(scope.covers("Loan", day(1)) && scope.covers("IncomingPayment", day(5)));
        assert!(!scope.covers("Loan", day(6)) && !scope.covers("Loan", day(1).pred_opt().unwrap()));
        assert!(!scope.covers("LoanApplication", day(3)) && !scope.covers("Account", day(3)));
    }

    #[test]
    fn the_request_names_the_person_so_it_is_on_their_trail() {
        assert_eq!(
            crate::replay::named_subject(&serde_json::to_value(requested()).unwrap()),
            Some(Uuid::from_u128(7))
        );
    }
}
