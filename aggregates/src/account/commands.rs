use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use uuid::Uuid;

use super::{ApplicationOutcome, ErasureFacts, ErasureRules};
use crate::loan::law::{CreditRecord, LawRules};
use crate::loan_application::applicant::ProfileChanges;
use crate::loan_application::consents::TextVersion;
use crate::money::Kopecks;
use crate::values::{CredentialId, Email, Phone, Role};
use crate::Sealed;

/// What an approved loan weighs, as the law's limits count it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditTerms {
    /// The loan's full cost of credit, % a year.
    pub psk_percent: Decimal,
    /// What it weighs a month (all of it: loans here run a month at most).
    pub monthly_payment: Kopecks,
    /// The edition of the law of the approval's day.
    pub rules: Box<LawRules>,
}

/// What can be asked of an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccountCommand {
    /// The customer asked to have their data erased (a support ticket of kind `deletion`):
    /// a case for compliance, with its legal deadline.
    RequestErasure {
        ticket_id: Option<Uuid>,
        rules: ErasureRules,
        at: DateTime<Utc>,
    },
    /// Compliance carries out a deletion request (or the scheduler, on the day a refusal said
    /// it becomes possible): erased if nothing stops it, else the refusal recorded.
    Erase {
        rules: ErasureRules,
        facts: ErasureFacts,
        at: DateTime<Utc>,
    },
    /// An administrator creates a staff member's account (`k911 staff add`). The password was
    /// hashed (argon2id) and stored as a credential before: the domain sees only its id.
    CreateStaff {
        login: Email,
        role: Role,
        password: CredentialId,
        at: DateTime<Utc>,
    },
    /// A first loan application registers its applicant: the account exists from then on, but
    /// no credential works until the application is approved.
    RegisterCustomer {
        application_id: Uuid,
        phone: Sealed<Phone>,
        email: Option<Sealed<Email>>,
        at: DateTime<Utc>,
    },
    /// The first application was approved: the cabinet opens, with a generated password when
    /// the customer gave an e-mail (the login), or for SMS codes only. Asked again for the same
    /// application (its SMS was never sent), a new password replaces the lost one.
    OpenCustomer {
        application_id: Uuid,
        password: Option<CredentialId>,
        at: DateTime<Utc>,
    },
    /// A returning customer applies again from the cabinet, possibly changing their profile.
    /// One application at a time: the next waits for the decision on the last.
    StartApplication {
        application_id: Uuid,
        /// The changes, sealed, and the names of the changed fields.
        changes: Option<(Sealed<ProfileChanges>, Vec<String>)>,
        /// The text of the consent to request the credit history, if the customer gave it anew.
        credit_history_consent: Option<TextVersion>,
        at: DateTime<Utc>,
    },
    /// The customer withdraws their consent to request their credit history.
    WithdrawCreditHistoryConsent {
        at: DateTime<Utc>,
    },
    /// A credit bureau is about to be asked for the customer's history, for an application:
    /// recorded with the consent it relies on, or refused without a live one.
    RequestCreditHistory {
        application_id: Uuid,
        at: DateTime<Utc>,
    },
    /// The application was decided (or could not be submitted): the customer may apply again.
    CloseApplication {
        application_id: Uuid,
        outcome: ApplicationOutcome,
        at: DateTime<Utc>,
    },
    /// The holder changed their password (the current one was checked before).
    ChangePassword {
        password: CredentialId,
        at: DateTime<Utc>,
    },
    /// The customer proved (through the provider) that they hold this OpenID Connect account.
    LinkSocial {
        provider: String,
        /// The provider's subject identifier, sealed: it identifies a person.
        subject: Sealed<String>,
        at: DateTime<Utc>,
    },
    UnlinkSocial {
        provider: String,
        at: DateTime<Utc>,
    },
    /// An underwriter is about to approve an application: its loan is counted from now on for
    /// the law's limits on high-cost loans and for the debt-to-income ratio, before the approval
    /// is written. Refused (and the refusal recorded) when the edition of the day forbids one
    /// more such loan. A reservation no approval confirms stops counting after
    /// [`RESERVATION_LAPSES_AFTER`](super::RESERVATION_LAPSES_AFTER).
    ReserveCredit {
        application_id: Uuid,
        credit: CreditTerms,
        /// The loans at other lenders a bureau reported.
        elsewhere: Vec<CreditRecord>,
        at: DateTime<Utc>,
    },
    /// The approval was written and is about to become an offer: the loan counts until it ends.
    /// A live reservation becomes the commitment; without one (its request died, or it lapsed)
    /// the limits are checked again, and a refusal recorded.
    CommitCredit {
        application_id: Uuid,
        credit: CreditTerms,
        at: DateTime<Utc>,
    },
    /// The loan of an approved application ended: repaid on a day (still counted for the waiting
    /// days after a repayment), or never issued (no longer counted at all).
    EndCredit {
        application_id: Uuid,
        repaid_on: Option<NaiveDate>,
        at: DateTime<Utc>,
    },
}
