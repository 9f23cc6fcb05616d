use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::DomainEvent;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use uuid::Uuid;

use super::{ApplicationOutcome, ErasureBlock, NoLiveConsent};
use crate::loan::law::{CreditRecord, Unlawful};
use crate::loan_application::applicant::ProfileChanges;
use crate::loan_application::consents::TextVersion;
use crate::money::Kopecks;
use crate::upcast::EVENT_VERSION_2;
use crate::values::{CredentialId, Email, Phone, Role};
use crate::{Sealed, EVENT_VERSION_1};

/// What happened to an account. Released shapes are never edited.
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
/// `AccountEventType` names each event type, for followers of the log (`AccountEventType::X.into()`).
#[strum_discriminants(name(AccountEventType), derive(strum::IntoStaticStr))]
pub enum AccountEvent {
    /// A staff member's work login is not a customer's personal data, so it is stored plainly.
    StaffAccountCreated {
        login: Email,
        role: Role,
        password: CredentialId,
        created_at: DateTime<Utc>,
    },
    CustomerRegistered {
        application_id: Uuid,
        phone: Sealed<Phone>,
        email: Option<Sealed<Email>>,
        registered_at: DateTime<Utc>,
    },
    CustomerAccountOpened {
        application_id: Uuid,
        password: Option<CredentialId>,
        opened_at: DateTime<Utc>,
    },
    PasswordIssued {
        password: CredentialId,
        issued_at: DateTime<Utc>,
    },
    /// A repeat application from the cabinet. 1.1: with the text of the consent to request the
    /// credit history, if the customer gave it anew (absent before 1.1: not given).
    ApplicationStarted {
        application_id: Uuid,
        #[serde(default)]
        credit_history_consent: Option<TextVersion>,
        started_at: DateTime<Utc>,
    },
    /// The customer changed their profile with a repeat application. `fields` names what
    /// changed (in clear, for the audit trail); the values are sealed.
    ProfileChanged {
        application_id: Uuid,
        changes: Sealed<ProfileChanges>,
        fields: Vec<String>,
        changed_at: DateTime<Utc>,
    },
    ApplicationClosed {
        application_id: Uuid,
        outcome: ApplicationOutcome,
        closed_at: DateTime<Utc>,
    },
    PasswordChanged {
        password: CredentialId,
        changed_at: DateTime<Utc>,
    },
    SocialAccountLinked {
        provider: String,
        subject: Sealed<String>,
        linked_at: DateTime<Utc>,
    },
    SocialAccountUnlinked {
        provider: String,
        unlinked_at: DateTime<Utc>,
    },
    /// An application about to be approved: its loan counts for the customer's limits (until
    /// it lapses unconfirmed).
    CreditReserved {
        application_id: Uuid,
        psk_percent: Decimal,
        monthly_payment: Kopecks,
        /// The loans at other lenders the bureau reported then: a confirmation after the
        /// reservation lapsed checks the limits against them again.
        #[serde(default)]
        elsewhere: Vec<CreditRecord>,
        reserved_at: DateTime<Utc>,
    },
    /// An approved application's loan counts for the customer's limits until it ends.
    CreditCommitted {
        application_id: Uuid,
        psk_percent: Decimal,
        monthly_payment: Kopecks,
        committed_at: DateTime<Utc>,
    },
    /// The law forbade one more such loan: the approval cannot become a loan.
    CreditRefused {
        application_id: Uuid,
        reason: Unlawful,
        refused_at: DateTime<Utc>,
    },
    /// The loan was repaid in full on `repaid_on` (it still counts for the waiting days).
    CreditRepaid {
        application_id: Uuid,
        repaid_on: NaiveDate,
    },
    /// The approval never became a loan (the offer lapsed or was refused, the payout failed).
    CreditReleased {
        application_id: Uuid,
        released_at: DateTime<Utc>,
    },
    /// The customer withdrew their consent to request their credit history.
    CreditHistoryConsentWithdrawn { withdrawn_at: DateTime<Utc> },
    /// A credit bureau was asked for the customer's history for an application, under the
    /// consent given at `consent_given_at`.
    CreditHistoryRequested {
        application_id: Uuid,
        consent_given_at: DateTime<Utc>,
        requested_at: DateTime<Utc>,
    },
    /// No bureau was asked: no live consent.
    CreditHistoryRequestRefused {
        application_id: Uuid,
        reason: NoLiveConsent,
        refused_at: DateTime<Utc>,
    },
    /// The customer asked to have their personal data erased, to be done by `deadline`.
    ErasureRequested {
        ticket_id: Option<Uuid>,
        deadline: NaiveDate,
        requested_at: DateTime<Utc>,
    },
    /// The erasure cannot happen yet: why, and from which day it can where that is known.
    ErasureRefused {
        reason: ErasureBlock,
        possible_from: Option<NaiveDate>,
        /// The retention period (years) it was decided under.
        retention_years: u32,
        refused_at: DateTime<Utc>,
    },
    /// The customer's personal data is erased: their key is destroyed, so every sealed value of
    /// theirs reads as erased, and nothing logs them in.
    CustomerErased { erased_at: DateTime<Utc> },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> String {
        <&'static str>::from(self).to_string()
    }

    fn event_version(&self) -> String {
        match self {
            // 2.0: a credential id instead of the password hash (see `upcast`).
            Self::StaffAccountCreated { .. }
            | Self::CustomerAccountOpened { .. }
            | Self::PasswordIssued { .. }
            | Self::PasswordChanged { .. } => EVENT_VERSION_2,
            // 1.1: the consent given anew with a repeat application.
            Self::ApplicationStarted { .. } => crate::EVENT_VERSION_1_1,
            _ => EVENT_VERSION_1,
        }
        .to_string()
    }
}
