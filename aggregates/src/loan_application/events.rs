use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::applicant::{Applicant, PayoutMethod};
use super::consents::ConsentTexts;
use super::{DeclaredFinances, LoanRequest};
use crate::money::{DailyRate, Kopecks};
use crate::upcast::EVENT_VERSION_2;
use crate::values::MessageText;
use crate::{Sealed, EVENT_VERSION_1, EVENT_VERSION_1_1};

/// What happened to a loan application. Released shapes are never edited.
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
/// `LoanApplicationEventType` names each event type, for followers of the log (`LoanApplicationEventType::X.into()`).
#[strum_discriminants(name(LoanApplicationEventType), derive(strum::IntoStaticStr))]
pub enum LoanApplicationEvent {
    ApplicationSubmitted {
        customer_id: Uuid,
        applicant: Sealed<Applicant>,
        loan: LoanRequest,
        payout: Sealed<PayoutMethod>,
        /// The three consents (personal data, credit history check, terms) were all given.
        consents_given_at: DateTime<Utc>,
        /// 1.1: the version of each consent's text (absent before 1.1, and for a repeat
        /// application, consented to before).
        #[serde(default)]
        consents: Option<Box<ConsentTexts>>,
        referral_code: Option<String>,
        repeat: bool,
        submitted_at: DateTime<Utc>,
    },
    ApplicationApproved {
        underwriter_id: Uuid,
        amount: Kopecks,
        term_days: u16,
        daily_rate: DailyRate,
        approved_at: DateTime<Utc>,
    },
    /// 2.0: the reason is sealed with the customer's key (it may say why about a person); `None`
    /// for a 1.0 event, whose clear reason is no longer read.
    ApplicationRejected {
        underwriter_id: Uuid,
        reason: Option<Sealed<MessageText>>,
        rejected_at: DateTime<Utc>,
    },
    /// The approved terms could not become a lawful contract (the offer or the signing was
    /// refused under the law's edition of its day): the application waits for a new decision.
    ApplicationReturned {
        reason: String,
        returned_at: DateTime<Utc>,
    },
    /// The debt-to-income ratio (ПДН, 353-FZ art. 5.1) with the approved loan, recorded before
    /// the approval: the ratio (`None` when no income was declared) counts the approved loan's
    /// monthly payment besides the declared figures. 2.0: the figures are sealed with the
    /// customer's key; `None` for a 1.0 event, whose clear figures are no longer read.
    DebtToIncomeAssessed {
        declared: Option<Sealed<DeclaredFinances>>,
        pdn_percent: Option<Decimal>,
        assessed_at: DateTime<Utc>,
    },
}

impl DomainEvent for LoanApplicationEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }

    fn event_version(&self) -> String {
        match self {
            // 2.0: personal figures and reasons sealed (see `upcast`).
            Self::ApplicationRejected { .. } | Self::DebtToIncomeAssessed { .. } => EVENT_VERSION_2,
            // 1.1: the consents' text versions added (1.0 reads them as not recorded).
            Self::ApplicationSubmitted { .. } => EVENT_VERSION_1_1,
            _ => EVENT_VERSION_1,
        }
        .to_string()
    }
}
