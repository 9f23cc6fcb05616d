use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use uuid::Uuid;

use super::ApplicationOutcome;
use crate::loan_application::applicant::ProfileChanges;
use crate::values::{Email, Phone, Role};
use crate::Sealed;

/// What can be asked of an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccountCommand {
    /// An administrator creates a staff member's account (`k911 staff add`). The password is
    /// hashed (argon2id) before it reaches the domain.
    CreateStaff {
        login: Email,
        role: Role,
        password_hash: String,
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
        password_hash: Option<String>,
        at: DateTime<Utc>,
    },
    /// A returning customer applies again from the cabinet, possibly changing their profile.
    /// One application at a time: the next waits for the decision on the last.
    StartApplication {
        application_id: Uuid,
        /// The changes, sealed, and the names of the changed fields.
        changes: Option<(Sealed<ProfileChanges>, Vec<String>)>,
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
        password_hash: String,
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
}
